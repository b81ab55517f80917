-- 009_rooms.sql: evidence rooms (reports/evidence_rooms.c).
--
-- * rooms: what is shared, with whom (audience, allowed auditor
--   domains — private, projected only as digests), until when, and how
--   (download permission, MFA). Status is active or revoked; "expired" is
--   derived from expires_at at every request. (Not named evidence_*: a room
--   changes state; only its access events are append-only.)
-- * room_items: the room's contents, one row per item. item_kind says what the
--   item is: 'artifact' (artifact_id set) today; 'package' (export packages,
--   item_ref = package ref) is reserved so packages can be added without a
--   schema change.
-- * room_auditors: membership of an auditor account (role auditor) in a room,
--   with its opaque auditor ref; the invited address is private (never
--   projected, logged or put into evidence). Revocation is per membership.
-- * auditor_invitations: one-time, expiring set-password links (SHA-256 of
--   the token only).
-- * auditor_mfa / auditor_mfa_sessions: the TOTP secret of an auditor (private
--   column, never logged or projected), the last accepted time step (a code is
--   accepted once), and the sessions that passed the MFA check.
-- * evidence_room_access_events: the immutable access log. One chain per room:
--   digest_n = SHA-256(body_n || "\n" || digest_(n-1)), digest_0 = 64 x "0"
--   (the rule of the evidence chain); (room_id, seq) is unique, so the chain
--   cannot fork. Named evidence_*: the application user may only SELECT and
--   INSERT, and triggers refuse UPDATE and DELETE for everyone.

CREATE TABLE rooms (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  ref CHAR(40) NOT NULL UNIQUE,               -- evidence-room:ULID
  tenant_id BIGINT UNSIGNED NOT NULL,
  title VARCHAR(200) NOT NULL,
  purpose VARCHAR(1000) NOT NULL,
  audience VARCHAR(32) NOT NULL,
  allowed_domains VARCHAR(2048) NOT NULL,     -- private: comma list, lower case
  download_allowed TINYINT(1) NOT NULL,
  mfa_required TINYINT(1) NOT NULL,
  expires_at DATETIME(6) NOT NULL,
  status ENUM('active','revoked') NOT NULL DEFAULT 'active',
  revoked_at DATETIME(6) NULL,
  expiry_logged TINYINT(1) NOT NULL DEFAULT 0,
  created_by BIGINT UNSIGNED NOT NULL,        -- users.id
  created_by_ref VARCHAR(40) NOT NULL,
  evidence_ref VARCHAR(96) NOT NULL,          -- evidence_room.created
  created_at DATETIME(6) NOT NULL,
  KEY (tenant_id, id),
  CONSTRAINT fk_rooms_tenant FOREIGN KEY (tenant_id) REFERENCES tenants(id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

CREATE TABLE room_items (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  tenant_id BIGINT UNSIGNED NOT NULL,
  room_id BIGINT UNSIGNED NOT NULL,
  position INT NOT NULL,
  item_kind ENUM('artifact','package') NOT NULL,
  item_ref VARCHAR(64) NOT NULL,
  artifact_id BIGINT UNSIGNED NULL,
  UNIQUE KEY uq_room_item (room_id, item_ref),
  KEY (tenant_id, room_id),
  CONSTRAINT fk_room_items_room FOREIGN KEY (room_id) REFERENCES rooms(id),
  CONSTRAINT fk_room_items_artifact FOREIGN KEY (artifact_id) REFERENCES artifacts(id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

CREATE TABLE room_auditors (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  ref CHAR(34) NOT NULL UNIQUE,               -- auditor:ULID
  tenant_id BIGINT UNSIGNED NOT NULL,
  room_id BIGINT UNSIGNED NOT NULL,
  user_id BIGINT UNSIGNED NOT NULL,
  email VARCHAR(254) NOT NULL,                -- private: never projected
  invited_by BIGINT UNSIGNED NOT NULL,
  invited_at DATETIME(6) NOT NULL,
  revoked_at DATETIME(6) NULL,
  UNIQUE KEY uq_room_user (room_id, user_id),
  KEY (tenant_id, user_id),
  CONSTRAINT fk_room_auditors_room FOREIGN KEY (room_id) REFERENCES rooms(id),
  CONSTRAINT fk_room_auditors_user FOREIGN KEY (user_id) REFERENCES users(id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

CREATE TABLE auditor_invitations (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  tenant_id BIGINT UNSIGNED NOT NULL,
  user_id BIGINT UNSIGNED NOT NULL,
  room_auditor_id BIGINT UNSIGNED NOT NULL,
  token_hash CHAR(64) NOT NULL UNIQUE,        -- SHA-256 of the link's token
  expires_at DATETIME(6) NOT NULL,
  used_at DATETIME(6) NULL,
  created_at DATETIME(6) NOT NULL,
  CONSTRAINT fk_invitations_user FOREIGN KEY (user_id) REFERENCES users(id)
) ENGINE=InnoDB;

CREATE TABLE auditor_mfa (
  user_id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
  tenant_id BIGINT UNSIGNED NOT NULL,
  secret VARCHAR(64) NOT NULL,                -- private: base32 TOTP secret
  enabled_at DATETIME(6) NULL,                -- NULL until a first code confirmed it
  last_step BIGINT NOT NULL DEFAULT 0,        -- newest accepted time step
  created_at DATETIME(6) NOT NULL,
  CONSTRAINT fk_mfa_user FOREIGN KEY (user_id) REFERENCES users(id)
) ENGINE=InnoDB;

CREATE TABLE auditor_mfa_sessions (
  session_id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
  user_id BIGINT UNSIGNED NOT NULL,
  verified_at DATETIME(6) NOT NULL,
  KEY (user_id)
) ENGINE=InnoDB;

CREATE TABLE evidence_room_access_events (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  tenant_id BIGINT UNSIGNED NOT NULL,
  room_id BIGINT UNSIGNED NOT NULL,
  seq BIGINT UNSIGNED NOT NULL,
  ref CHAR(44) NOT NULL UNIQUE,               -- room-access-event:ULID
  event_type VARCHAR(16) NOT NULL,
  outcome VARCHAR(16) NOT NULL,
  download_id VARCHAR(40) NULL,
  created_at DATETIME(6) NOT NULL,
  body MEDIUMTEXT NOT NULL,                   -- RFC 8785 canonical JSON (no private values)
  prev_digest CHAR(64) NOT NULL,
  digest CHAR(64) NOT NULL,
  UNIQUE KEY uq_room_seq (room_id, seq),
  KEY (tenant_id, room_id, seq)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

CREATE TRIGGER evidence_room_access_events_no_update BEFORE UPDATE ON evidence_room_access_events FOR EACH ROW
  SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'evidence_room_access_events is append-only';
CREATE TRIGGER evidence_room_access_events_no_delete BEFORE DELETE ON evidence_room_access_events FOR EACH ROW
  SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'evidence_room_access_events is append-only';

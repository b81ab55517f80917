-- 001_platform.sql: tenants, users, sessions, API tokens, settings, jobs and
-- the evidence store.
--
-- Conventions (enforced by `aispm admin migrate`):
--  * every tenant-owned table has tenant_id and every query filters by it;
--  * public identifiers are refs (`kind:ULID`), internal joins use BIGINT ids;
--  * tables named evidence_* are append-only: the application user is granted
--    SELECT and INSERT only, and triggers refuse UPDATE and DELETE for anyone.

CREATE TABLE tenants (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  ref CHAR(33) NOT NULL UNIQUE,             -- tenant:ULID
  slug VARCHAR(63) NOT NULL UNIQUE,
  name VARCHAR(200) NOT NULL,
  status ENUM('active','suspended') NOT NULL DEFAULT 'active',
  licence ENUM('enterprise','trial') NOT NULL DEFAULT 'enterprise',
  licence_expires_at DATETIME(6) NULL,
  licence_revoked_at DATETIME(6) NULL,
  reports_disabled VARCHAR(2048) NOT NULL DEFAULT '',  -- comma list of disabled report ids
  created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
) ENGINE=InnoDB;

CREATE TABLE users (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  ref CHAR(31) NOT NULL UNIQUE,             -- user:ULID
  tenant_id BIGINT UNSIGNED NOT NULL,
  email VARCHAR(254) NOT NULL UNIQUE,       -- private: never projected
  display_name VARCHAR(200) NOT NULL,
  role VARCHAR(32) NOT NULL,
  password_hash VARCHAR(255) NOT NULL,
  disabled TINYINT(1) NOT NULL DEFAULT 0,
  created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  KEY (tenant_id),
  CONSTRAINT fk_users_tenant FOREIGN KEY (tenant_id) REFERENCES tenants(id)
) ENGINE=InnoDB;

CREATE TABLE sessions (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  token_hash CHAR(64) NOT NULL UNIQUE,      -- SHA-256 of the cookie value
  tenant_id BIGINT UNSIGNED NOT NULL,
  user_id BIGINT UNSIGNED NOT NULL,
  csrf_token CHAR(43) NOT NULL,
  created_at DATETIME(6) NOT NULL,
  last_seen_at DATETIME(6) NOT NULL,
  expires_at DATETIME(6) NOT NULL,          -- absolute timeout
  ended_at DATETIME(6) NULL,
  KEY (user_id),
  CONSTRAINT fk_sessions_user FOREIGN KEY (user_id) REFERENCES users(id)
) ENGINE=InnoDB;

CREATE TABLE api_tokens (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  ref CHAR(32) NOT NULL UNIQUE,             -- token:ULID (public id, shown in lists)
  tenant_id BIGINT UNSIGNED NOT NULL,
  user_id BIGINT UNSIGNED NOT NULL,
  name VARCHAR(100) NOT NULL,
  token_hash CHAR(64) NOT NULL UNIQUE,      -- SHA-256 of the secret part
  scopes VARCHAR(255) NOT NULL,
  created_at DATETIME(6) NOT NULL,
  expires_at DATETIME(6) NOT NULL,
  revoked_at DATETIME(6) NULL,
  last_used_at DATETIME(6) NULL,
  KEY (tenant_id, user_id),
  CONSTRAINT fk_tokens_user FOREIGN KEY (user_id) REFERENCES users(id)
) ENGINE=InnoDB;

CREATE TABLE login_attempts (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  account_key CHAR(64) NOT NULL,            -- SHA-256 of the lower-cased login name
  client_key CHAR(64) NOT NULL,             -- SHA-256 of the client address
  succeeded TINYINT(1) NOT NULL,
  created_at DATETIME(6) NOT NULL,
  KEY (account_key, created_at),
  KEY (client_key, created_at)
) ENGINE=InnoDB;

CREATE TABLE settings (
  tenant_id BIGINT UNSIGNED NOT NULL,
  name VARCHAR(64) NOT NULL,                -- CAVRA_REPORT_*
  value VARCHAR(2048) NOT NULL,
  updated_at DATETIME(6) NOT NULL,
  updated_by BIGINT UNSIGNED NULL,
  PRIMARY KEY (tenant_id, name),
  CONSTRAINT fk_settings_tenant FOREIGN KEY (tenant_id) REFERENCES tenants(id)
) ENGINE=InnoDB;

CREATE TABLE setup_steps (
  tenant_id BIGINT UNSIGNED NOT NULL,
  step_id VARCHAR(32) NOT NULL,
  completed_at DATETIME(6) NOT NULL,
  completed_by BIGINT UNSIGNED NULL,
  PRIMARY KEY (tenant_id, step_id),
  CONSTRAINT fk_setup_tenant FOREIGN KEY (tenant_id) REFERENCES tenants(id)
) ENGINE=InnoDB;

CREATE TABLE jobs (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  tenant_id BIGINT UNSIGNED NULL,
  kind VARCHAR(48) NOT NULL,
  payload JSON NOT NULL,
  state ENUM('queued','running','done','failed','dead') NOT NULL DEFAULT 'queued',
  attempts INT NOT NULL DEFAULT 0,
  max_attempts INT NOT NULL DEFAULT 5,
  run_at DATETIME(6) NOT NULL,
  locked_by VARCHAR(64) NULL,
  locked_until DATETIME(6) NULL,
  idempotency_key VARCHAR(128) NULL,
  last_error VARCHAR(512) NULL,
  created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  UNIQUE KEY uq_jobs_idem (tenant_id, kind, idempotency_key),
  KEY (state, run_at)
) ENGINE=InnoDB;

-- Evidence: one row per event, written in the transaction of the change it
-- records. `body` is the RFC 8785 canonical JSON that the chain digests.
CREATE TABLE evidence_events (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  tenant_id BIGINT UNSIGNED NOT NULL,
  ulid CHAR(26) NOT NULL UNIQUE,
  action VARCHAR(64) NOT NULL,
  created_at DATETIME(6) NOT NULL,
  body MEDIUMTEXT NOT NULL,
  KEY (tenant_id, id),
  KEY (tenant_id, action, created_at)
) ENGINE=InnoDB;

-- Events not yet linked into their chain (written with the event, removed by
-- the sequencer when it links it). Not evidence itself: verification finds
-- unlinked events by anti-join, so tampering with this queue is detected.
CREATE TABLE chain_pending (
  event_id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
  tenant_id BIGINT UNSIGNED NOT NULL,
  created_at DATETIME(6) NOT NULL,
  KEY (tenant_id, event_id)
) ENGINE=InnoDB;

-- The chain: link n of a tenant binds event e with
--   digest_n = SHA-256( body(e) || "\n" || digest_(n-1) ),  digest_0 = 64 x "0".
-- The sequencer appends links in batches; (tenant_id, seq) and event_id are
-- unique, so two sequencers can never fork a chain.
CREATE TABLE evidence_links (
  tenant_id BIGINT UNSIGNED NOT NULL,
  seq BIGINT UNSIGNED NOT NULL,
  event_id BIGINT UNSIGNED NOT NULL,
  prev_digest CHAR(64) NOT NULL,
  digest CHAR(64) NOT NULL,
  linked_at DATETIME(6) NOT NULL,
  PRIMARY KEY (tenant_id, seq),
  UNIQUE KEY uq_links_event (event_id)
) ENGINE=InnoDB;

-- Signed checkpoints of chain heads (Ed25519 over the canonical JSON of
-- {tenant, seq, digest, signed_at, kid}).
CREATE TABLE evidence_checkpoints (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  tenant_id BIGINT UNSIGNED NOT NULL,
  seq BIGINT UNSIGNED NOT NULL,
  digest CHAR(64) NOT NULL,
  signed_at DATETIME(6) NOT NULL,
  kid CHAR(16) NOT NULL,
  alg VARCHAR(16) NOT NULL,
  signature VARCHAR(1024) NOT NULL,         -- base64url
  UNIQUE KEY (tenant_id, seq)
) ENGINE=InnoDB;

-- Public verification keys (never private material).
CREATE TABLE signing_keys (
  kid CHAR(16) NOT NULL PRIMARY KEY,
  alg VARCHAR(16) NOT NULL,
  purpose VARCHAR(32) NOT NULL,
  public_jwk VARCHAR(2048) NOT NULL,
  created_at DATETIME(6) NOT NULL,
  retired_at DATETIME(6) NULL
) ENGINE=InnoDB;

CREATE TRIGGER evidence_events_no_update BEFORE UPDATE ON evidence_events FOR EACH ROW
  SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'evidence_events is append-only';
CREATE TRIGGER evidence_events_no_delete BEFORE DELETE ON evidence_events FOR EACH ROW
  SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'evidence_events is append-only';
CREATE TRIGGER evidence_links_no_update BEFORE UPDATE ON evidence_links FOR EACH ROW
  SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'evidence_links is append-only';
CREATE TRIGGER evidence_links_no_delete BEFORE DELETE ON evidence_links FOR EACH ROW
  SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'evidence_links is append-only';
CREATE TRIGGER evidence_checkpoints_no_update BEFORE UPDATE ON evidence_checkpoints FOR EACH ROW
  SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'evidence_checkpoints is append-only';
CREATE TRIGGER evidence_checkpoints_no_delete BEFORE DELETE ON evidence_checkpoints FOR EACH ROW
  SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'evidence_checkpoints is append-only';

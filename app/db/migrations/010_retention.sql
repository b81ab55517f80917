-- 010_retention.sql: retention lifecycle, legal hold, tombstones, search and
-- single-use download refs (reports/retention.c, reports/retrieval.c).
--
-- * retention_classes: a tenant's explicit retention class per object kind
--   (artifact, export_package, delivery_audit_export). Without a row the
--   class follows the tenant's settings (CAVRA_REPORT_RETENTION_DAYS,
--   CAVRA_REPORT_DELIVERY_AUDIT_RETENTION_DAYS).
-- * retention_items: one row per retained object (artifacts, export packages,
--   delivery audit exports), whatever module created it. The lifecycle state
--   shown to users is derived: deleted > legal_hold > pending_approval >
--   archived > expired (expires_at passed, not yet swept) > retained.
--   search_text is the lower-cased text the search matches (title, report id,
--   format, period, tags).
-- * retention_requests: legal hold placement / release and deletion wait for
--   an approval; at most one open request per item (pending_request_ref).
-- * retention_tombstones: what remains of a deleted object: digest, size,
--   reason, the approved request and the evidence refs. Never updated.
-- * download_refs: short-lived, single-use retrieval refs; only the SHA-256
--   of the secret part is stored.
-- No foreign keys to tables of other areas (packages, delivery exports) on
-- purpose: items of those kinds reference their objects by ref only.

CREATE TABLE retention_classes (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  tenant_id BIGINT UNSIGNED NOT NULL,
  object_kind VARCHAR(32) NOT NULL,
  name VARCHAR(32) NOT NULL,
  days INT UNSIGNED NOT NULL,
  updated_at DATETIME(6) NOT NULL,
  UNIQUE KEY uq_retention_class (tenant_id, object_kind),
  CONSTRAINT fk_retention_classes_tenant FOREIGN KEY (tenant_id) REFERENCES tenants(id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

CREATE TABLE retention_items (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  tenant_id BIGINT UNSIGNED NOT NULL,
  object_kind VARCHAR(32) NOT NULL,
  object_ref VARCHAR(64) NOT NULL,
  report_id VARCHAR(64) NOT NULL,
  format VARCHAR(16) NOT NULL,
  title VARCHAR(200) NOT NULL DEFAULT '',
  tags VARCHAR(500) NOT NULL DEFAULT '',          -- comma list
  period_start DATETIME(6) NULL,
  period_end DATETIME(6) NULL,
  digest CHAR(64) NOT NULL,
  size BIGINT UNSIGNED NOT NULL,
  storage_path VARCHAR(1024) NULL,                -- relative to artifacts_dir; NULL once deleted
  retention_class VARCHAR(32) NOT NULL,
  created_at DATETIME(6) NOT NULL,
  expires_at DATETIME(6) NOT NULL,
  state ENUM('retained','archived','deleted') NOT NULL DEFAULT 'retained',
  archived_at DATETIME(6) NULL,
  deleted_at DATETIME(6) NULL,
  legal_hold_ref VARCHAR(48) NULL,
  pending_request_ref VARCHAR(48) NULL,
  revoked_at DATETIME(6) NULL,
  evidence_ref VARCHAR(96) NULL,                  -- creation evidence
  search_text VARCHAR(2000) NOT NULL DEFAULT '',
  UNIQUE KEY uq_retention_object (tenant_id, object_ref),
  KEY (tenant_id, id),
  KEY (state, expires_at),
  CONSTRAINT fk_retention_items_tenant FOREIGN KEY (tenant_id) REFERENCES tenants(id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

CREATE TABLE retention_requests (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  ref VARCHAR(48) NOT NULL UNIQUE,                -- retention-request:ULID
  tenant_id BIGINT UNSIGNED NOT NULL,
  item_id BIGINT UNSIGNED NOT NULL,
  action ENUM('legal_hold_place','legal_hold_release','delete') NOT NULL,
  reason VARCHAR(500) NOT NULL,
  state ENUM('pending','approved','rejected','expired') NOT NULL DEFAULT 'pending',
  requested_by_ref VARCHAR(48) NOT NULL,
  decided_by_ref VARCHAR(48) NULL,
  decided_at DATETIME(6) NULL,
  expires_at DATETIME(6) NOT NULL,
  created_at DATETIME(6) NOT NULL,
  evidence_refs JSON NOT NULL,
  approval_ref CHAR(35) NULL,                     -- approval:ULID (approval_requests, reports/approvals.c)
  KEY (tenant_id, id),
  KEY (state, expires_at),
  CONSTRAINT fk_retention_requests_tenant FOREIGN KEY (tenant_id) REFERENCES tenants(id),
  CONSTRAINT fk_retention_requests_item FOREIGN KEY (item_id) REFERENCES retention_items(id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

CREATE TABLE retention_tombstones (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  ref VARCHAR(48) NOT NULL UNIQUE,                -- tombstone:ULID
  tenant_id BIGINT UNSIGNED NOT NULL,
  item_id BIGINT UNSIGNED NOT NULL UNIQUE,
  object_kind VARCHAR(32) NOT NULL,
  object_ref VARCHAR(64) NOT NULL,
  report_id VARCHAR(64) NOT NULL,
  format VARCHAR(16) NOT NULL,
  digest CHAR(64) NOT NULL,
  size BIGINT UNSIGNED NOT NULL,
  reason VARCHAR(500) NOT NULL,
  request_ref VARCHAR(48) NOT NULL,
  evidence_refs JSON NOT NULL,
  deleted_at DATETIME(6) NOT NULL,
  KEY (tenant_id, id),
  CONSTRAINT fk_retention_tombstones_tenant FOREIGN KEY (tenant_id) REFERENCES tenants(id),
  CONSTRAINT fk_retention_tombstones_item FOREIGN KEY (item_id) REFERENCES retention_items(id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

CREATE TABLE download_refs (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  ref VARCHAR(48) NOT NULL UNIQUE,                -- retrieval:ULID
  tenant_id BIGINT UNSIGNED NOT NULL,
  item_id BIGINT UNSIGNED NOT NULL,
  token_hash CHAR(64) NOT NULL UNIQUE,            -- SHA-256 of the secret part
  issued_to_ref VARCHAR(48) NOT NULL,
  issued_at DATETIME(6) NOT NULL,
  expires_at DATETIME(6) NOT NULL,
  used_at DATETIME(6) NULL,
  evidence_ref VARCHAR(96) NULL,
  KEY (tenant_id, id),
  CONSTRAINT fk_download_refs_tenant FOREIGN KEY (tenant_id) REFERENCES tenants(id),
  CONSTRAINT fk_download_refs_item FOREIGN KEY (item_id) REFERENCES retention_items(id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

-- artifacts rendered before this migration become retention items
INSERT INTO retention_items (tenant_id, object_kind, object_ref, report_id, format, period_start, period_end,
                             digest, size, storage_path, retention_class, created_at, expires_at, evidence_ref,
                             search_text)
SELECT tenant_id, 'artifact', ref, report_id, format, period_start, period_end, digest, size, storage_path,
       retention_class, created_at, expires_at, evidence_ref,
       LOWER(CONCAT_WS(' ', ref, report_id, REPLACE(report_id, '_', ' '), format,
                       DATE_FORMAT(period_start, '%Y-%m-%d'), DATE_FORMAT(period_end, '%Y-%m-%d')))
FROM artifacts;

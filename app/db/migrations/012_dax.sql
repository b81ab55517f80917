-- 012_dax.sql: delivery audit exports (reports/delivery_audit_export.c).
-- One row per export of the delivery audit events' public projections over
-- a time range, as JSONL or CSV. The bytes are stored content-addressed and
-- immutable like artifacts (<artifacts_dir>/<tenant ulid>/<digest>) and the
-- export is a retention item of kind delivery_audit_export (retention_items,
-- by ref only). Rows are never updated.
CREATE TABLE delivery_audit_exports (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  ref VARCHAR(48) NOT NULL UNIQUE,                 -- audit-export:ULID
  tenant_id BIGINT UNSIGNED NOT NULL,
  format ENUM('jsonl','csv') NOT NULL,
  action VARCHAR(24) NULL,                         -- filter; NULL = every action
  since_at DATETIME(6) NOT NULL,
  until_at DATETIME(6) NOT NULL,
  event_count INT NOT NULL,
  digest CHAR(64) NOT NULL,
  size BIGINT UNSIGNED NOT NULL,
  filename VARCHAR(120) NOT NULL,
  storage_path VARCHAR(200) NOT NULL,              -- relative to artifacts_dir
  requested_by_ref VARCHAR(80) NOT NULL,
  idempotency_key VARCHAR(200) NULL,
  request_digest CHAR(64) NOT NULL,
  retention_class VARCHAR(32) NOT NULL,
  evidence_ref VARCHAR(96) NOT NULL,
  created_at DATETIME(6) NOT NULL,
  UNIQUE KEY uq_audit_export_idem (tenant_id, idempotency_key),
  KEY (tenant_id, id),
  CONSTRAINT fk_audit_exports_tenant FOREIGN KEY (tenant_id) REFERENCES tenants(id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

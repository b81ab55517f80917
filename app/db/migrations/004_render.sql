-- 004_render.sql: report rendering (reports/renderer.c).
--
-- * render_requests: one row per accepted POST .../reports/render. The
--   Idempotency-Key header is unique per tenant, so a repeat (or a race of
--   repeats) answers with the same render ref. The work itself is a row of
--   `jobs` (kind 'report.render', payload {"render_id": N}) claimed by job
--   workers with SELECT ... FOR UPDATE SKIP LOCKED; a job whose lock expired
--   (crashed worker) is claimed again.
-- * artifacts: rendered bytes are stored content-addressed and immutable under
--   config `artifacts_dir` as <tenant-ulid>/<sha256>; the row keeps digest,
--   size and metadata. Rendering is deterministic for the same data (as_of),
--   so a repeated render finds the same artifact row
--   (unique tenant, digest, report, format).

CREATE TABLE render_requests (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  ref CHAR(33) NOT NULL UNIQUE,               -- render:ULID
  tenant_id BIGINT UNSIGNED NOT NULL,
  report_id VARCHAR(64) NOT NULL,
  format VARCHAR(16) NOT NULL,
  period_start DATETIME(6) NOT NULL,
  period_end DATETIME(6) NOT NULL,            -- exclusive
  filters JSON NOT NULL,
  state ENUM('queued','running','succeeded','failed') NOT NULL DEFAULT 'queued',
  progress TINYINT UNSIGNED NOT NULL DEFAULT 0,
  artifact_id BIGINT UNSIGNED NULL,
  error_code VARCHAR(64) NULL,
  idempotency_key VARCHAR(200) NULL,
  requested_by BIGINT UNSIGNED NULL,          -- users.id
  created_at DATETIME(6) NOT NULL,
  updated_at DATETIME(6) NOT NULL,
  finished_at DATETIME(6) NULL,
  UNIQUE KEY uq_render_idem (tenant_id, idempotency_key),
  KEY (tenant_id, id),
  CONSTRAINT fk_render_tenant FOREIGN KEY (tenant_id) REFERENCES tenants(id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

CREATE TABLE artifacts (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  ref CHAR(35) NOT NULL UNIQUE,               -- artifact:ULID
  tenant_id BIGINT UNSIGNED NOT NULL,
  report_id VARCHAR(64) NOT NULL,
  format VARCHAR(16) NOT NULL,
  period_start DATETIME(6) NOT NULL,
  period_end DATETIME(6) NOT NULL,
  digest CHAR(64) NOT NULL,                   -- SHA-256 of the bytes (lower-case hex)
  size BIGINT UNSIGNED NOT NULL,
  content_type VARCHAR(100) NOT NULL,
  filename VARCHAR(200) NOT NULL,             -- safe download name
  retention_class VARCHAR(32) NOT NULL,
  expires_at DATETIME(6) NOT NULL,
  as_of DATETIME(6) NULL,                     -- newest ingested event the data reflects
  evidence_ref VARCHAR(96) NULL,              -- report.rendered evidence
  storage_path VARCHAR(1024) NOT NULL,        -- relative to artifacts_dir
  created_at DATETIME(6) NOT NULL,
  UNIQUE KEY uq_artifact_content (tenant_id, digest, report_id, format),
  KEY (tenant_id, id),
  CONSTRAINT fk_artifacts_tenant FOREIGN KEY (tenant_id) REFERENCES tenants(id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

-- 008_packages.sql: signed export packages (reports/export_packages.c).
--
-- * export_packages: one row per built package — a ZIP of chosen artifacts
--   with manifest.json (+ manifest.json.jws), manifest.xml (enveloped
--   XML-DSig), the evidence-chain excerpt, OSCAL documents (grc_upload) and
--   SHA256SUMS. The ZIP is stored content-addressed beside the artifacts
--   (<artifacts_dir>/<tenant-ulid>/<sha256>, immutable). manifest_json is the
--   canonical manifest.json: refs, digests and sizes only, never recipient
--   addresses, URLs or content. The Idempotency-Key header is unique per
--   tenant; request_digest tells a repeat from a reuse with other parameters.
-- * export_package_artifacts: the artifacts of a package, in manifest order.
-- * signing_certificates: the self-signed X.509 certificate of every package
--   signing key ever used (public material, kept after rotation so old
--   packages stay verifiable by kid); append-only like signing_keys.

CREATE TABLE export_packages (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  ref CHAR(34) NOT NULL UNIQUE,               -- package:ULID
  tenant_id BIGINT UNSIGNED NOT NULL,
  package_type VARCHAR(32) NOT NULL,          -- board_pack|grc_upload|siem_export|evidence_room|incident_review
  retention_class VARCHAR(32) NOT NULL,
  watermark_required TINYINT(1) NOT NULL,
  requested_by BIGINT UNSIGNED NULL,          -- users.id
  requester_role VARCHAR(32) NOT NULL,
  idempotency_key VARCHAR(200) NULL,
  request_digest CHAR(64) NOT NULL,           -- SHA-256 of the canonical request
  delivery_targets JSON NOT NULL,             -- opaque target refs and kinds only
  digest CHAR(64) NOT NULL,                   -- SHA-256 of the ZIP
  size BIGINT UNSIGNED NOT NULL,
  filename VARCHAR(200) NOT NULL,
  storage_path VARCHAR(1024) NOT NULL,        -- relative to artifacts_dir
  manifest_json MEDIUMTEXT NOT NULL,
  manifest_digest CHAR(64) NOT NULL,
  kid CHAR(16) NOT NULL,                      -- package signing key
  checkpoint_seq BIGINT UNSIGNED NOT NULL,    -- evidence checkpoint covering the package's events
  request_evidence_ref VARCHAR(96) NOT NULL,  -- package.requested
  evidence_ref VARCHAR(96) NULL,              -- package.built
  created_at DATETIME(6) NOT NULL,
  UNIQUE KEY uq_package_idem (tenant_id, idempotency_key),
  KEY (tenant_id, id),
  CONSTRAINT fk_packages_tenant FOREIGN KEY (tenant_id) REFERENCES tenants(id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

CREATE TABLE export_package_artifacts (
  package_id BIGINT UNSIGNED NOT NULL,
  position INT UNSIGNED NOT NULL,
  tenant_id BIGINT UNSIGNED NOT NULL,
  artifact_id BIGINT UNSIGNED NOT NULL,
  PRIMARY KEY (package_id, position),
  KEY (tenant_id, artifact_id),
  CONSTRAINT fk_pkg_art_package FOREIGN KEY (package_id) REFERENCES export_packages(id),
  CONSTRAINT fk_pkg_art_artifact FOREIGN KEY (artifact_id) REFERENCES artifacts(id)
) ENGINE=InnoDB;

CREATE TABLE signing_certificates (
  kid CHAR(16) NOT NULL PRIMARY KEY,
  cert_pem TEXT NOT NULL,
  created_at DATETIME(6) NOT NULL
) ENGINE=InnoDB;

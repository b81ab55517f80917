-- 006_delivery.sql: recipient policy, approvals and governed delivery
-- (reports/recipients.c, reports/approvals.c, reports/delivery.c).
--
-- Private columns (never selected by a projection, never logged, never put in
-- evidence): recipient_group_members.address, delivery_recipients.address,
-- approval_requests.payload and decision_reason. Everything public is a ref,
-- a code or a digest. Deliveries are worked by `jobs` rows (kind
-- 'report.deliver', payload {"delivery_id": N}); the delivery row carries its
-- own status, attempts and stable message id.

CREATE TABLE recipient_policies (
  tenant_id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
  ref CHAR(43) NOT NULL UNIQUE,                    -- recipient-policy:ULID
  name VARCHAR(200) NOT NULL,
  status ENUM('draft','active','disabled','requires_review') NOT NULL DEFAULT 'active',
  owner_role VARCHAR(32) NOT NULL,
  default_action ENUM('allow','deny','require_approval') NOT NULL,
  external_default ENUM('deny','require_approval','allow_with_audit') NOT NULL,
  external_approval TINYINT(1) NOT NULL,
  new_domain_approval TINYINT(1) NOT NULL,
  group_change_approval TINYINT(1) NOT NULL,
  approver_role VARCHAR(32) NOT NULL,
  channels JSON NOT NULL,                          -- [{channel, allowed, requires_verified_sender, requires_encryption}]
  attachment_encryption TINYINT(1) NOT NULL,
  minimum_transport ENUM('tls_1_2','tls_1_3','private_network') NOT NULL,
  kms_key_ref_required TINYINT(1) NOT NULL,
  version INT UNSIGNED NOT NULL DEFAULT 1,
  change_evidence_ref VARCHAR(96) NULL,
  reviewed_at DATETIME(6) NOT NULL,
  updated_at DATETIME(6) NOT NULL,
  CONSTRAINT fk_rpol_tenant FOREIGN KEY (tenant_id) REFERENCES tenants(id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

CREATE TABLE recipient_domain_rules (
  tenant_id BIGINT UNSIGNED NOT NULL,
  domain VARCHAR(253) NOT NULL,                    -- lower case
  classification ENUM('internal','external_auditor','external_partner','blocked','unknown') NOT NULL,
  allowed TINYINT(1) NOT NULL,
  approval_required TINYINT(1) NOT NULL,
  encryption_required TINYINT(1) NOT NULL,
  PRIMARY KEY (tenant_id, domain),
  CONSTRAINT fk_rdom_tenant FOREIGN KEY (tenant_id) REFERENCES tenants(id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

CREATE TABLE recipient_groups (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  ref CHAR(32) NOT NULL UNIQUE,                    -- group:ULID
  tenant_id BIGINT UNSIGNED NOT NULL,
  display_name VARCHAR(200) NOT NULL,
  role_scope VARCHAR(64) NOT NULL,
  source ENUM('idp_group','manual_group','grc_system','static_ref') NOT NULL,
  KEY (tenant_id, id),
  CONSTRAINT fk_rgrp_tenant FOREIGN KEY (tenant_id) REFERENCES tenants(id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

CREATE TABLE recipient_group_members (
  group_id BIGINT UNSIGNED NOT NULL,
  tenant_id BIGINT UNSIGNED NOT NULL,
  address VARCHAR(254) NOT NULL,                   -- PRIVATE
  PRIMARY KEY (group_id, address),
  KEY (tenant_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

CREATE TABLE approval_requests (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  ref CHAR(35) NOT NULL UNIQUE,                    -- approval:ULID
  tenant_id BIGINT UNSIGNED NOT NULL,
  type VARCHAR(48) NOT NULL,
  subject_kind VARCHAR(32) NOT NULL,
  subject_ref VARCHAR(80) NOT NULL,
  approver_role VARCHAR(32) NOT NULL,
  requested_by VARCHAR(80) NOT NULL,               -- user:ULID or an automatic origin ref
  requested_by_user BIGINT UNSIGNED NULL,          -- users.id (four eyes)
  requested_by_role VARCHAR(32) NULL,
  requested_at DATETIME(6) NOT NULL,
  due_at DATETIME(6) NOT NULL,
  risk_level ENUM('low','medium','high','critical') NOT NULL,
  reason_code VARCHAR(64) NOT NULL,
  public_subject JSON NOT NULL,
  policy_ref VARCHAR(80) NULL,
  schedule_ref VARCHAR(80) NULL,
  payload JSON NOT NULL,                           -- PRIVATE: what the owning module needs
  request_digest CHAR(64) NOT NULL,
  request_evidence_ref VARCHAR(96) NOT NULL,
  state ENUM('pending','approved','rejected','expired') NOT NULL DEFAULT 'pending',
  decision_ref CHAR(44) NULL,                      -- approval-decision:ULID
  decided_by VARCHAR(80) NULL,                     -- user:ULID or "system"
  decided_by_role VARCHAR(32) NULL,
  decided_at DATETIME(6) NULL,
  decision_expires_at DATETIME(6) NULL,
  conditions JSON NULL,
  decision_reason VARCHAR(1000) NULL,              -- PRIVATE
  decision_digest CHAR(64) NULL,
  decision_evidence_ref VARCHAR(96) NULL,
  KEY (tenant_id, id),
  KEY (tenant_id, state, due_at),
  KEY (state, due_at),
  CONSTRAINT fk_appr_tenant FOREIGN KEY (tenant_id) REFERENCES tenants(id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

CREATE TABLE deliveries (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  ref CHAR(35) NOT NULL UNIQUE,                    -- delivery:ULID
  send_ref CHAR(31) NOT NULL,                      -- send:ULID (one per submit)
  tenant_id BIGINT UNSIGNED NOT NULL,
  origin ENUM('user','schedule','test') NOT NULL,
  origin_ref VARCHAR(80) NULL,                     -- schedule / occurrence ref
  requested_by BIGINT UNSIGNED NULL,               -- users.id
  actor_ref VARCHAR(80) NOT NULL,                  -- user:ULID or schedule ref
  actor_role VARCHAR(32) NULL,
  artifact_id BIGINT UNSIGNED NULL,
  report_id VARCHAR(64) NOT NULL,
  format VARCHAR(16) NOT NULL,
  artifact_digest CHAR(64) NULL,
  channel ENUM('smtp','portal','webhook','grc_upload') NOT NULL,
  status ENUM('blocked','held','queued','sending','retry_scheduled','delivered','failed','dead','dropped') NOT NULL,
  reasons JSON NOT NULL,                           -- reason codes
  approval_id BIGINT UNSIGNED NULL,
  message_id VARCHAR(120) NOT NULL,                -- stable per delivery
  idempotency_key VARCHAR(200) NULL,
  request_digest CHAR(64) NOT NULL,
  attempts INT NOT NULL DEFAULT 0,
  max_attempts INT NOT NULL DEFAULT 5,
  next_attempt_at DATETIME(6) NULL,
  last_error VARCHAR(64) NULL,
  recipient_count INT NOT NULL DEFAULT 0,
  domains JSON NOT NULL,                           -- distinct recipient domains
  external_count INT NOT NULL DEFAULT 0,
  link_instead_of_attachment TINYINT(1) NOT NULL DEFAULT 0,
  created_at DATETIME(6) NOT NULL,
  updated_at DATETIME(6) NOT NULL,
  delivered_at DATETIME(6) NULL,
  UNIQUE KEY uq_delivery_idem (tenant_id, idempotency_key, channel),
  KEY (tenant_id, id),
  KEY (tenant_id, send_ref),
  KEY (tenant_id, status, id),
  CONSTRAINT fk_deliv_tenant FOREIGN KEY (tenant_id) REFERENCES tenants(id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

CREATE TABLE delivery_recipients (
  delivery_id BIGINT UNSIGNED NOT NULL,
  tenant_id BIGINT UNSIGNED NOT NULL,
  recipient_ref CHAR(37) NOT NULL,                 -- rcpt:<32 hex>
  address VARCHAR(254) NOT NULL,                   -- PRIVATE
  domain VARCHAR(253) NOT NULL,
  group_ref VARCHAR(40) NULL,
  decision ENUM('allow','needs_approval','block') NOT NULL,
  reason VARCHAR(48) NOT NULL,
  PRIMARY KEY (delivery_id, recipient_ref),
  KEY (tenant_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

-- one row per delivery audit event (projection
-- aispm-report-delivery-audit-event); each has an evidence event
CREATE TABLE delivery_audit (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  ref CHAR(38) NOT NULL UNIQUE,                    -- audit-event:ULID
  tenant_id BIGINT UNSIGNED NOT NULL,
  delivery_id BIGINT UNSIGNED NULL,
  object_ref VARCHAR(80) NULL,
  action ENUM('catalog','render','send','schedule','test_delivery') NOT NULL,
  status VARCHAR(32) NOT NULL,
  actor_ref VARCHAR(80) NOT NULL,
  report_id VARCHAR(64) NOT NULL,
  format VARCHAR(16) NOT NULL,
  delivery_mode VARCHAR(24) NOT NULL,
  attempt INT NOT NULL DEFAULT 0,
  max_attempts INT NOT NULL DEFAULT 0,
  next_retry_at DATETIME(6) NULL,
  terminal TINYINT(1) NOT NULL DEFAULT 0,
  approval_decision VARCHAR(16) NOT NULL DEFAULT 'not_required',
  evidence_ref VARCHAR(96) NOT NULL,
  created_at DATETIME(6) NOT NULL,
  KEY (tenant_id, delivery_id, id),
  KEY (tenant_id, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

-- Job claims read one kind and one state in run_at order (db/jobs.c): with
-- this index a claim reads the first due row instead of sorting all of them
-- (thousands while a send burst drains).
CREATE INDEX ix_jobs_kind_state_run ON jobs (kind, state, run_at);

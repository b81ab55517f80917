-- 003_ingestion.sql: live AISPM event ingestion (reports/ingestion.c) and the
-- per-tenant posture projection it maintains.
--
-- * ingestion_events holds each accepted envelope once per tenant: the client's
--   event_id and transport.idempotency_key are both unique per tenant, so a
--   repeat (or a race of repeats) can never store an event twice. `public_json`
--   is the RFC 8785 canonical JSON of the envelope without its private members;
--   `payload_ref` and `actor_ref` are private columns no projection selects.
-- * ingestion_counters / ingestion_connectors feed GET .../ingestion/health.
-- * posture_* are counters updated with INSERT ... ON DUPLICATE KEY UPDATE in
--   the transaction that accepts the events, so the projection always agrees
--   with the stored events. Keys missing from an event are stored as
--   'unassigned' / 'unclassified'.
-- * identifiers compare byte for byte (utf8mb4_nopad_bin): "EVT-1", "evt-1" and
--   "evt-1 " are three different events, agents or keys.

CREATE TABLE ingestion_events (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  tenant_id BIGINT UNSIGNED NOT NULL,
  ref CHAR(38) NOT NULL UNIQUE,               -- aispm-event:ULID
  event_id VARCHAR(128) NOT NULL,             -- the client's event.event_id
  idempotency_key VARCHAR(200) NULL,          -- transport.idempotency_key
  batch_ref CHAR(38) NULL,                    -- aispm-batch:ULID (batch endpoint)
  event_type VARCHAR(32) NOT NULL,
  occurred_at DATETIME(6) NOT NULL,
  accepted_at DATETIME(6) NOT NULL,
  agent_id VARCHAR(128) NOT NULL,
  connector_type VARCHAR(32) NOT NULL,
  connector_id VARCHAR(128) NOT NULL,
  public_json MEDIUMTEXT NOT NULL,            -- canonical public view
  public_digest CHAR(64) NOT NULL,            -- SHA-256 of public_json
  evidence_ref VARCHAR(96) NULL,              -- event or batch evidence
  payload_ref VARCHAR(1000) NULL,             -- private: opaque, never dereferenced or projected
  actor_ref VARCHAR(200) NULL,                -- private: never projected
  UNIQUE KEY uq_ingestion_event (tenant_id, event_id),
  UNIQUE KEY uq_ingestion_idem (tenant_id, idempotency_key),
  KEY (tenant_id, batch_ref),
  KEY (tenant_id, occurred_at),
  CONSTRAINT fk_ingestion_events_tenant FOREIGN KEY (tenant_id) REFERENCES tenants(id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

-- accepted | duplicate | rejected.<reason code>
CREATE TABLE ingestion_counters (
  tenant_id BIGINT UNSIGNED NOT NULL,
  name VARCHAR(48) NOT NULL,
  count BIGINT UNSIGNED NOT NULL DEFAULT 0,
  last_at DATETIME(6) NOT NULL,
  PRIMARY KEY (tenant_id, name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

CREATE TABLE ingestion_connectors (
  tenant_id BIGINT UNSIGNED NOT NULL,
  connector_type VARCHAR(32) NOT NULL,
  connector_id VARCHAR(128) NOT NULL,
  accepted BIGINT UNSIGNED NOT NULL DEFAULT 0,
  last_occurred_at DATETIME(6) NOT NULL,      -- newest event.occurred_at
  last_accepted_at DATETIME(6) NOT NULL,      -- when the newest envelope arrived
  PRIMARY KEY (tenant_id, connector_type, connector_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

-- severities: 0 none/absent, 1 low, 2 medium, 3 high, 4 critical
CREATE TABLE posture_agents (
  tenant_id BIGINT UNSIGNED NOT NULL,
  agent_id VARCHAR(128) NOT NULL,
  first_seen_at DATETIME(6) NOT NULL,
  last_seen_at DATETIME(6) NOT NULL,
  events BIGINT UNSIGNED NOT NULL DEFAULT 0,
  max_severity TINYINT UNSIGNED NOT NULL DEFAULT 0,
  d_allow BIGINT UNSIGNED NOT NULL DEFAULT 0,
  d_warn BIGINT UNSIGNED NOT NULL DEFAULT 0,
  d_block BIGINT UNSIGNED NOT NULL DEFAULT 0,
  d_require_approval BIGINT UNSIGNED NOT NULL DEFAULT 0,
  d_allow_with_attestation BIGINT UNSIGNED NOT NULL DEFAULT 0,
  d_audit_only BIGINT UNSIGNED NOT NULL DEFAULT 0,
  d_not_applicable BIGINT UNSIGNED NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant_id, agent_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

CREATE TABLE posture_agent_connectors (
  tenant_id BIGINT UNSIGNED NOT NULL,
  agent_id VARCHAR(128) NOT NULL,
  connector_type VARCHAR(32) NOT NULL,
  connector_id VARCHAR(128) NOT NULL,
  events BIGINT UNSIGNED NOT NULL DEFAULT 0,
  last_seen_at DATETIME(6) NOT NULL,
  PRIMARY KEY (tenant_id, agent_id, connector_type, connector_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

CREATE TABLE posture_sessions (
  tenant_id BIGINT UNSIGNED NOT NULL,
  agent_id VARCHAR(128) NOT NULL,
  session_id VARCHAR(128) NOT NULL,
  events BIGINT UNSIGNED NOT NULL DEFAULT 0,
  first_seen_at DATETIME(6) NOT NULL,
  last_seen_at DATETIME(6) NOT NULL,
  PRIMARY KEY (tenant_id, agent_id, session_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

-- dim: decision | event_type | connector_type | environment
CREATE TABLE posture_counts (
  tenant_id BIGINT UNSIGNED NOT NULL,
  dim VARCHAR(16) NOT NULL,
  name VARCHAR(32) NOT NULL,
  events BIGINT UNSIGNED NOT NULL DEFAULT 0,
  last_at DATETIME(6) NOT NULL,
  PRIMARY KEY (tenant_id, dim, name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

-- a finding is an event with severity low, medium, high or critical
CREATE TABLE posture_findings (
  tenant_id BIGINT UNSIGNED NOT NULL,
  risk_classification VARCHAR(128) NOT NULL,
  severity VARCHAR(8) NOT NULL,
  findings BIGINT UNSIGNED NOT NULL DEFAULT 0,
  last_at DATETIME(6) NOT NULL,
  PRIMARY KEY (tenant_id, risk_classification, severity)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

CREATE TABLE posture_controls (
  tenant_id BIGINT UNSIGNED NOT NULL,
  policy_pack VARCHAR(128) NOT NULL,
  events BIGINT UNSIGNED NOT NULL DEFAULT 0,
  blocked BIGINT UNSIGNED NOT NULL DEFAULT 0,
  approval_required BIGINT UNSIGNED NOT NULL DEFAULT 0,
  warned BIGINT UNSIGNED NOT NULL DEFAULT 0,
  evidence_refs BIGINT UNSIGNED NOT NULL DEFAULT 0,
  last_event_at DATETIME(6) NOT NULL,
  last_evidence_at DATETIME(6) NULL,          -- newest event carrying evidence_refs
  PRIMARY KEY (tenant_id, policy_pack)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

CREATE TABLE posture_freshness (
  tenant_id BIGINT UNSIGNED NOT NULL,
  policy_pack VARCHAR(128) NOT NULL,
  risk_classification VARCHAR(128) NOT NULL,
  events BIGINT UNSIGNED NOT NULL DEFAULT 0,
  newest_event_at DATETIME(6) NOT NULL,
  PRIMARY KEY (tenant_id, policy_pack, risk_classification)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

CREATE TABLE posture_daily (
  tenant_id BIGINT UNSIGNED NOT NULL,
  day DATE NOT NULL,                          -- UTC day of event.occurred_at
  events BIGINT UNSIGNED NOT NULL DEFAULT 0,
  blocked BIGINT UNSIGNED NOT NULL DEFAULT 0,
  high_critical BIGINT UNSIGNED NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant_id, day)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

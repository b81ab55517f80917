-- 007_schedules.sql: report schedules and their runs (reports/scheduler.c).
--
-- * schedules: one row per schedule. The cadence is always stored as an
--   RRULE (presets are expanded to one), anchored at dtstart_local (wall
--   clock in `timezone`). next_run_at is the scheduler's cursor: the next
--   occurrence (UTC) not yet claimed; it only moves forward, by
--   compare-and-set. Recipients and groups are private columns that no
--   projection selects; projections show target_ref (an opaque ref that
--   changes with the recipient set) instead.
-- * schedule_runs: one row per occurrence, claimed by INSERT: the unique key
--   (schedule_id, occurrence_at) makes each occurrence run exactly once,
--   whatever the number of job workers, processes or hosts. The claim and
--   its evidence commit together; a process that loses the race rolls back
--   and writes nothing.
-- * schedule_run_renders: the render requests (render_requests.id) a run
--   started; the run delivers once all of them have succeeded.

CREATE TABLE schedules (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  ref CHAR(35) NOT NULL UNIQUE,                -- schedule:ULID
  tenant_id BIGINT UNSIGNED NOT NULL,
  name VARCHAR(200) NOT NULL,
  status ENUM('active','paused','requires_approval','disabled') NOT NULL DEFAULT 'active',
  report_ids JSON NOT NULL,
  formats JSON NOT NULL,
  cadence VARCHAR(16) NOT NULL,                -- daily|weekly|monthly|quarterly|custom
  rrule VARCHAR(256) NOT NULL,
  time_of_day CHAR(5) NULL,                    -- HH:MM of a preset
  timezone VARCHAR(128) NOT NULL,
  dtstart_local CHAR(16) NOT NULL,             -- YYYY-MM-DDTHH:MM in timezone
  next_run_at DATETIME(6) NULL,                -- NULL: the rule has ended
  delivery_mode VARCHAR(32) NOT NULL,
  channels JSON NOT NULL,
  target_ref VARCHAR(64) NOT NULL,             -- delivery-target:ULID
  recipients_private JSON NOT NULL,            -- addresses: never projected, logged or evidenced
  groups_private JSON NOT NULL,
  recipient_scope VARCHAR(32) NOT NULL,        -- approved_internal_domain | approved_external_domain | system_connector
  delivery_options JSON NOT NULL,              -- watermark / manifest / encryption flags
  approval_policy JSON NOT NULL,
  approval_policy_ref VARCHAR(64) NOT NULL,    -- approval-policy:ULID
  approval_ref VARCHAR(64) NULL,               -- pending or granted change approval
  blackouts JSON NOT NULL,
  retry_policy JSON NOT NULL,
  missed_policy ENUM('latest','all','none') NOT NULL DEFAULT 'latest',
  created_by_role VARCHAR(32) NOT NULL,
  created_by BIGINT UNSIGNED NULL,             -- users.id
  evidence_ref VARCHAR(96) NOT NULL,           -- latest schedule.* evidence
  version INT UNSIGNED NOT NULL DEFAULT 1,
  created_at DATETIME(6) NOT NULL,
  updated_at DATETIME(6) NOT NULL,
  deleted_at DATETIME(6) NULL,
  KEY (tenant_id, id),
  KEY (status, next_run_at),
  CONSTRAINT fk_schedules_tenant FOREIGN KEY (tenant_id) REFERENCES tenants(id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

CREATE TABLE schedule_runs (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  ref CHAR(37) NOT NULL UNIQUE,                -- schedule-run:ULID
  tenant_id BIGINT UNSIGNED NOT NULL,
  schedule_id BIGINT UNSIGNED NOT NULL,
  occurrence_at DATETIME(6) NOT NULL,          -- the rule's instant (UTC)
  state ENUM('rendering','delivering','retry_wait','delivered','failed','skipped','deferred',
             'pending_approval') NOT NULL,
  reason VARCHAR(64) NULL,                     -- blackout | missed | report_disabled | render_error ...
  window_ref VARCHAR(64) NULL,                 -- the blackout window that acted
  due_at DATETIME(6) NULL,                     -- deferred / retry: when to go on
  attempts INT NOT NULL DEFAULT 0,
  locked_until DATETIME(6) NULL,               -- delivering: claim expiry (crash re-claim)
  evidence_ref VARCHAR(96) NULL,               -- latest run evidence
  created_at DATETIME(6) NOT NULL,
  updated_at DATETIME(6) NOT NULL,
  UNIQUE KEY uq_schedule_occurrence (schedule_id, occurrence_at),
  KEY (tenant_id, schedule_id, id),
  KEY (state, due_at),
  CONSTRAINT fk_runs_tenant FOREIGN KEY (tenant_id) REFERENCES tenants(id),
  CONSTRAINT fk_runs_schedule FOREIGN KEY (schedule_id) REFERENCES schedules(id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;

CREATE TABLE schedule_run_renders (
  run_id BIGINT UNSIGNED NOT NULL,
  tenant_id BIGINT UNSIGNED NOT NULL,
  render_id BIGINT UNSIGNED NOT NULL,
  PRIMARY KEY (run_id, render_id),
  CONSTRAINT fk_run_renders_run FOREIGN KEY (run_id) REFERENCES schedule_runs(id),
  CONSTRAINT fk_run_renders_render FOREIGN KEY (render_id) REFERENCES render_requests(id)
) ENGINE=InnoDB;

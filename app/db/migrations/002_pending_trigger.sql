-- 002_pending_trigger.sql: queue every new evidence event for the sequencer
-- inside the INSERT itself. evidence_append is then a single statement, so an
-- append outside an explicit transaction is one round trip and atomic, and a
-- writer can never store an event without its pending row.
CREATE TRIGGER evidence_events_pending AFTER INSERT ON evidence_events FOR EACH ROW
  INSERT INTO chain_pending (event_id, tenant_id, created_at) VALUES (NEW.id, NEW.tenant_id, NEW.created_at);

-- 011_rooms2.sql: messages other than reports through the one delivery path
-- (reports/delivery.c), first used for auditor invitations by e-mail
-- (reports/evidence_rooms.c).
--
-- * deliveries.message_kind: 'report' (an artifact or the wizard's test
--   message, as before) or a registered message kind such as
--   'auditor_invitation', whose text a module builds at send time
--   (delivery_register_message). The same rows, states, retries, stable
--   Message-ID, delivery audit and evidence apply to every kind.
-- * deliveries.subject_ref: the opaque ref the message is about (for an
--   invitation the auditor membership ref, auditor:ULID); never an address.
ALTER TABLE deliveries
  ADD COLUMN message_kind VARCHAR(32) NOT NULL DEFAULT 'report',
  ADD COLUMN subject_ref VARCHAR(80) NULL,
  ADD KEY ix_deliveries_subject (tenant_id, subject_ref);

-- Revision 0008: the outbox's per-row ordering key (migrations/versions/0008_outbox_ordering_key.py).
-- `ordering_key`: 16 bytes naming one row of one table (ordering_key.sql), written by the
-- triggers that keep a row's events in order; NULL for events written before (and by
-- triggers that do not set it): unordered, as before. For one (target_function,
-- ordering_key) the relay claims only the oldest waiting event (claim_due_ordered.sql).
-- `outbox_key_pending` finds a key's earlier waiting events: waiting rows (delivered_at and
-- parked_at NULL) come first, so the lookup is a short range among the waiting rows, never
-- among the delivered rows the outbox keeps for the retention; and a new row's entry
-- lands among the waiting rows (a small, hot part of the index), not at a random place
-- in a week of kept rows (an index led by a random value is what halved the trigger's
-- throughput for event_id: create_outbox_table.sql).
-- The column goes last (no AFTER): MySQL 8 adds a last nullable column instantly.
ALTER TABLE `aurora_events_outbox`
  ADD COLUMN `ordering_key` BINARY(16) NULL,
  ADD KEY `outbox_key_pending` (`delivered_at`, `parked_at`, `ordering_key`, `sequence`);

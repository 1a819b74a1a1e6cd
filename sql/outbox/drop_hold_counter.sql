-- Revision 0010's downgrade: no hold counter; relays promote on every record again
-- (promote.sql), as at revision 0009.
DROP TABLE `aurora_events_outbox_holds`;

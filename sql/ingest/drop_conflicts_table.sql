-- Undo create_conflicts_table.sql (migration 0007's downgrade): recorded conflicts go
-- with it; list them first (`aurora-events conflicts`).
DROP TABLE IF EXISTS `ingest_conflicts`;

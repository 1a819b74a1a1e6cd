-- The transactional outbox: one row per event and target function, written by an
-- outbox trigger in the inserting transaction (sql/triggers/outbox_after_insert.sql),
-- so the event commits or rolls back with its row. The relay delivers due rows in
-- `sequence` order, marks them delivered, retries failures with backoff, parks an event
-- after too many attempts, and purges delivered rows after a retention.
-- InnoDB: transactional, and row locks for the relay's FOR UPDATE SKIP LOCKED.
CREATE TABLE `aurora_events_outbox` (
  `sequence` BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  `event_id` CHAR(36) NOT NULL,
  `target_function` VARCHAR(512) NOT NULL,
  `payload` LONGTEXT NOT NULL,
  `created_at` DATETIME(6) NOT NULL,
  `attempts` INT UNSIGNED NOT NULL DEFAULT 0,
  `next_attempt_at` DATETIME(6) NOT NULL,
  `delivered_at` DATETIME(6) NULL,
  `parked_at` DATETIME(6) NULL,
  `last_error` TEXT NULL,
  PRIMARY KEY (`sequence`),
  -- No index on event_id: the ids are the server's UUIDs (unique by construction), an
  -- index on them would be written in random order by every INSERT (it halved the
  -- outbox trigger's throughput in make bench), and only `outbox replay --id` looks
  -- rows up by it, an operator's rare scan.
  -- The relay's claim: pending rows (neither delivered nor parked) in sequence order;
  -- its prefix also serves the purge of delivered rows, oldest first.
  KEY `outbox_pending` (`delivered_at`, `parked_at`, `sequence`)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

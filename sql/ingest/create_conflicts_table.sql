-- Idempotency conflicts the drain found: a queued request whose stored key (the client's
-- key in the resource's scope) already holds a row made from another body. The row stays
-- the first request's; this table is where the other one stays visible, for an operator
-- (`aurora-events conflicts`). One row per queue message: a redelivered message finds
-- its message_id here and records nothing twice. `data` is the refused request's values
-- (canonical JSON), so it can be resent under a new key.
CREATE TABLE `ingest_conflicts` (
  `id` BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  `recorded_at` DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  `resource` VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  `idempotency_key` VARCHAR(128) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  `client_key` VARCHAR(128) CHARACTER SET ascii COLLATE ascii_bin NULL,
  -- The authenticated caller, once the API has one (NULL until then).
  `principal` VARCHAR(2048) NULL,
  `stored_body_hash` CHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  `body_hash` CHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  `message_id` VARCHAR(128) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  `request_id` VARCHAR(128) NOT NULL,
  `data` MEDIUMTEXT NOT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `uq_ingest_conflicts_message_id` (`message_id`),
  KEY `ingest_conflicts_recorded_at` (`recorded_at`)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

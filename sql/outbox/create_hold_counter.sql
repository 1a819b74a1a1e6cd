-- Revision 0010: the outbox's hold counter (migrations/versions/0010_outbox_hold_counter.py).
-- One row: how many claims have held events behind an earlier event of their row
-- (hold.sql), and the greatest sequence any of them held. A claim that may hold adds one
-- before its second look (and takes it back if it held nothing); a relay that records its
-- last events of some rows makes the held events due (promote_held.sql) only if the count
-- moved since its claim (holds_settled.sql), and looks for them only up to that sequence
-- (a busy row's later events past it were never held: not read again at every record). Without it, every record of a relay on an ordered outbox looked for
-- held events (promote.sql), which a lone relay never has: some 8% of its throughput
-- (make bench). A table of its own: the outbox's rows and indexes stay as they were, so
-- the triggers' INSERTs pay nothing.
CREATE TABLE `aurora_events_outbox_holds` (
  `id` TINYINT UNSIGNED NOT NULL,
  `holds` BIGINT NOT NULL,
  `held_up_to` BIGINT UNSIGNED NOT NULL,
  PRIMARY KEY (`id`)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
INSERT INTO `aurora_events_outbox_holds` (`id`, `holds`, `held_up_to`) VALUES (1, 0, 0);

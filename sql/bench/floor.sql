-- make bench's floor (infra/bench/inserts.py): what each part of the outbox trigger costs
-- on its own, on tables shaped like the bench's (floor_<step>, created by the bench).
-- ${payload} is the row event's JSON_OBJECT expression for floor_payload.
-- Where the constant rows go: a table with a primary key only, and a copy of the outbox
-- (the same columns and indexes).
CREATE TABLE `floor_pk_only` (
  `id` BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY
) ENGINE = InnoDB;
CREATE TABLE `floor_outbox_copy` LIKE `aurora_events_outbox`;
-- A trigger that does nothing but run.
CREATE TRIGGER `floor_empty_ai` AFTER INSERT ON `floor_empty`
FOR EACH ROW SET @aurora_events_floor = 1;
-- ... and inserts a second row for each row, as small as can be.
CREATE TRIGGER `floor_pk_row_ai` AFTER INSERT ON `floor_pk_row`
FOR EACH ROW INSERT INTO `floor_pk_only` () VALUES ();
-- ... the same into the outbox's shape, nothing computed.
CREATE TRIGGER `floor_outbox_row_ai` AFTER INSERT ON `floor_outbox_row`
FOR EACH ROW INSERT INTO `floor_outbox_copy`
  (`event_id`, `target_function`, `payload`, `created_at`, `next_attempt_at`)
VALUES ('00000000-0000-0000-0000-000000000000', 'floor', '{}',
        '2000-01-01 00:00:00', '2000-01-01 00:00:00');
-- ... builds the event's JSON, writes nothing.
CREATE TRIGGER `floor_payload_ai` AFTER INSERT ON `floor_payload`
FOR EACH ROW SET @aurora_events_floor = ${payload};

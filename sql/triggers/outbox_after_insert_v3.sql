-- Delivery "outbox", text version 3: text 2 (outbox_after_insert_v2.sql: the same outbox
-- row and event), with a doorbell shared by every connection to the database. Text 2
-- rang at most once per connection per interval: 50 connections committing a row a
-- second each rang 50 times a second. Here a connection still looks at most once per
-- ${doorbell_interval_us} microseconds (its session variable, the fast path), and when
-- it looks, it rings only if no connection has rung in the same interval of the clock:
-- at most one ring per database per interval (so at most two in any interval-long
-- window), whatever the number of connections.
--
-- The shared state is a user-level lock, one name per database and interval (CRC32 of
-- the schema and the interval's number since 2000-01-01 UTC, under MySQL's 64-character
-- limit): GET_LOCK(name, 0) answers 1 to the first connection of the interval, which
-- rings and keeps the name until its own next look (then releases it: at most one such
-- lock a connection), and 0 at once to every other. It never waits, takes no table or
-- row lock, needs no privilege and no table, and is gone after a restart (the first
-- connection then rings). Not a table: a MEMORY or MyISAM table named in a trigger body
-- is locked for the whole of every INSERT statement into the watched table, branch taken
-- or not (measured on MariaDB 10.11: a 2 s INSERT held a concurrent one-row INSERT into
-- another watched table for 1.5 s), and an InnoDB row written in the user's
-- transaction stays locked until it commits.
-- Any failure of the check is swallowed like the ring's, and rings (fails open): the
-- per-connection bound of text 2 still holds. A failed ring counts as a ring: the
-- relay's schedule is the backstop.
-- Aurora MySQL v3 (MySQL 8.0) and MariaDB 10.11 alike: GET_LOCK/RELEASE_LOCK in a
-- trigger, DO, CRC32, TIMESTAMPDIFF(MICROSECOND ...); only a name held is released
-- (MySQL 8 refuses a NULL name, error 3057; MariaDB answers NULL). Binary log: no table
-- is written, so nothing more is logged; GET_LOCK, like UUID() and lambda_async already,
-- makes the statement unsafe for statement-based logging (MIXED logs it as rows).
-- Aurora's zero-downtime patching drops rather than keeps a connection holding a
-- user-level lock: here, the last connection to ring in each interval, until its next look.
-- ${payload} is the row event's JSON_OBJECT expression (row_event_payload.sql) rendered
-- with ${event_id} = new_event_id; ${function_arn} and ${relay_arn} are string
-- literals; ${trigger} and ${table} quoted identifiers; ${doorbell_interval_us} a whole
-- number.
DELIMITER $$
CREATE DEFINER = CURRENT_USER TRIGGER ${trigger} AFTER INSERT ON ${table}
FOR EACH ROW
BEGIN
  DECLARE new_event_id CHAR(36) DEFAULT UUID();
  INSERT INTO `aurora_events_outbox`
    (`event_id`, `target_function`, `payload`, `created_at`, `next_attempt_at`)
  VALUES (new_event_id, ${function_arn}, ${payload}, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6));
  IF @aurora_events_doorbell_at IS NULL
     OR @aurora_events_doorbell_at
        < UTC_TIMESTAMP(6) - INTERVAL ${doorbell_interval_us} MICROSECOND THEN
    SET @aurora_events_doorbell_at = UTC_TIMESTAMP(6);
    BEGIN
      DECLARE bell VARCHAR(64) DEFAULT NULL;
      DECLARE won INT DEFAULT NULL;
      DECLARE CONTINUE HANDLER FOR SQLEXCEPTION BEGIN END;
      IF @aurora_events_doorbell_lock IS NOT NULL THEN
        DO RELEASE_LOCK(@aurora_events_doorbell_lock);
        SET @aurora_events_doorbell_lock = NULL;
      END IF;
      SET bell = CONCAT('aurora_events_doorbell:', CRC32(DATABASE()), ':',
        TIMESTAMPDIFF(MICROSECOND, '2000-01-01', UTC_TIMESTAMP(6)) DIV ${doorbell_interval_us});
      SET won = GET_LOCK(bell, 0);
      IF won = 1 THEN
        SET @aurora_events_doorbell_lock = bell;
      END IF;
      IF won IS NULL OR won = 1 THEN
        SELECT lambda_async(${relay_arn}, JSON_OBJECT('doorbell', DATABASE()))
          INTO @aurora_events_doorbell_result;
      END IF;
    END;
  END IF;
END $$
DELIMITER ;

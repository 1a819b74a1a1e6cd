-- Delivery "outbox", text version 2: what outbox_after_insert.sql does (the event goes
-- into the outbox table in the row's transaction; the doorbell at most once per
-- connection per ${doorbell_interval_us} microseconds, its failure swallowed), for less
-- per row. Version 1 copied each event into a LONGTEXT variable and parsed it again
-- (JSON_EXTRACT) for its id; here the id is made once, goes into the event and the
-- outbox row from the same variable, and the event goes straight into the INSERT. Same
-- rows, same event; about a fifth less time per row at 1,000-row statements (make
-- bench's floor; the README, "Two delivery modes, side by side").
-- ${payload} is the row event's JSON_OBJECT expression (row_event_payload.sql) rendered
-- with ${event_id} = new_event_id; ${function_arn} and ${relay_arn} are string
-- literals; ${trigger} and ${table} quoted identifiers; ${doorbell_interval_us} a whole
-- number. The same text runs on Aurora MySQL v3 (MySQL 8.0) and on MariaDB 10.11.
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
      DECLARE CONTINUE HANDLER FOR SQLEXCEPTION BEGIN END;
      SELECT lambda_async(${relay_arn}, JSON_OBJECT('doorbell', DATABASE()))
        INTO @aurora_events_doorbell_result;
    END;
  END IF;
END $$
DELIMITER ;

-- Delivery "outbox": the row's event goes into the outbox table in the same
-- transaction, so a rolled-back row sends nothing and a committed one is never lost;
-- the relay delivers it. Nothing here can fail the INSERT because of Lambda: the only
-- Lambda call is the doorbell, which asks the relay to run now rather than at its next
-- schedule, at most once per connection per ${doorbell_interval_us} microseconds (a
-- session variable remembers the last ring, so a bulk insert rings a few times, not once
-- a row), and whose failure the CONTINUE HANDLER swallows (the schedule then finds the
-- event). The same text runs on Aurora MySQL v3 (MySQL 8.0) and on MariaDB 10.11.
-- ${payload} is the row event's JSON_OBJECT expression (row_event_payload.sql);
-- ${function_arn} and ${relay_arn} are string literals; ${trigger} and ${table}
-- quoted identifiers; ${doorbell_interval_us} a whole number.
DELIMITER $$
CREATE DEFINER = CURRENT_USER TRIGGER ${trigger} AFTER INSERT ON ${table}
FOR EACH ROW
BEGIN
  DECLARE event LONGTEXT;
  SET event = ${payload};
  INSERT INTO `aurora_events_outbox`
    (`event_id`, `target_function`, `payload`, `created_at`, `next_attempt_at`)
  VALUES (JSON_UNQUOTE(JSON_EXTRACT(event, '$.event_id')), ${function_arn}, event,
          UTC_TIMESTAMP(6), UTC_TIMESTAMP(6));
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

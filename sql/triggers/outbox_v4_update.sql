-- Delivery "outbox", text version 4, AFTER UPDATE: the UPDATE event (schema version 2,
-- row_update_payload.sql: before, after, changed) under the row's ordering key, when the
-- condition holds: by default some carried column changed (a no-op UPDATE sends
-- nothing), or one of the declaration's columns_changed, and its ``when``.
-- An UPDATE that changes the primary key is sent, whatever the condition, as two events
-- in one statement: a DELETE of the old key (under the old key's ordering key: after
-- every earlier event of the old key) and an INSERT of the new key (under the new key's:
-- before every later event of the new key); ${same_key} is true when the key did not
-- change (NEW <=> OLD for each key column).
-- ${payload}/${...}_payload are row event JSON_OBJECT expressions rendered with their
-- ${event_id}; ${ordering_key}/${old_ordering_key} the row's key expressions
-- (sql/outbox/ordering_key.sql, of NEW's or OLD's primary key); ${condition} the
-- declaration's condition (migrations/row_event_sql.py: condition_expression), evaluated
-- under a handler: a condition that fails at run time sends the event (fails open) and
-- never fails the user's statement; NULL means no. ${function_arn} and ${relay_arn}
-- string literals; ${trigger} and ${table} quoted identifiers; ${doorbell_interval_us}
-- a whole number. The doorbell is text 3's (outbox_after_insert_v3.sql), rung only when
-- an event was written. The same text runs on Aurora MySQL v3 and MariaDB 10.11.
DELIMITER $$
CREATE DEFINER = CURRENT_USER TRIGGER ${trigger} AFTER UPDATE ON ${table}
FOR EACH ROW
BEGIN
  DECLARE new_event_id CHAR(36) DEFAULT UUID();
  DECLARE aurora_events_fire INT DEFAULT 1;
  IF ${same_key} THEN
    BEGIN
      DECLARE CONTINUE HANDLER FOR SQLEXCEPTION SET aurora_events_fire = 1;
      SET aurora_events_fire = ${condition};
    END;
    IF aurora_events_fire THEN
      INSERT INTO `aurora_events_outbox`
        (`event_id`, `target_function`, `payload`, `created_at`, `next_attempt_at`,
         `ordering_key`)
      VALUES (new_event_id, ${function_arn}, ${payload}, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6),
              ${ordering_key});
    END IF;
  ELSE
    BEGIN
      DECLARE moved_event_id CHAR(36) DEFAULT UUID();
      INSERT INTO `aurora_events_outbox`
        (`event_id`, `target_function`, `payload`, `created_at`, `next_attempt_at`,
         `ordering_key`)
      VALUES (new_event_id, ${function_arn}, ${delete_payload}, UTC_TIMESTAMP(6),
              UTC_TIMESTAMP(6), ${old_ordering_key}),
             (moved_event_id, ${function_arn}, ${insert_payload}, UTC_TIMESTAMP(6),
              UTC_TIMESTAMP(6), ${ordering_key});
    END;
  END IF;
  IF aurora_events_fire AND (@aurora_events_doorbell_at IS NULL
     OR @aurora_events_doorbell_at
        < UTC_TIMESTAMP(6) - INTERVAL ${doorbell_interval_us} MICROSECOND) THEN
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

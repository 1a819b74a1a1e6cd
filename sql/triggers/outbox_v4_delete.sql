-- Delivery "outbox", text version 4, AFTER DELETE: the DELETE event (schema version 2,
-- row_delete_payload.sql: the row's image before) under the row's ordering key (of OLD's
-- primary key), if the declaration's condition (``when``) holds.
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
CREATE DEFINER = CURRENT_USER TRIGGER ${trigger} AFTER DELETE ON ${table}
FOR EACH ROW
BEGIN
  DECLARE new_event_id CHAR(36) DEFAULT UUID();
  DECLARE aurora_events_fire INT DEFAULT 1;
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

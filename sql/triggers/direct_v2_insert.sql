-- Delivery "direct", text version 2, AFTER INSERT: text 1's call and event (schema version 1),
-- if the declaration's condition (``when``) holds.
-- ${payload}/${...}_payload are row event JSON_OBJECT expressions (each rendered with
-- ${event_id} = UUID()); ${condition} the declaration's condition
-- (migrations/row_event_sql.py: condition_expression), evaluated under a handler: a
-- condition that fails at run time sends the event (fails open) and never fails the
-- user's statement; NULL means no. ${function_arn} a string literal; ${trigger} and
-- ${table} quoted identifiers. As in text 1, a failed lambda_async fails the statement
-- (direct delivery), and asynchronous invocations race: two events of one row may run
-- in either order (the README, "Per-row order").
DELIMITER $$
CREATE DEFINER = CURRENT_USER TRIGGER ${trigger} AFTER INSERT ON ${table}
FOR EACH ROW
BEGIN
  DECLARE aurora_events_fire INT DEFAULT 1;
  BEGIN
    DECLARE CONTINUE HANDLER FOR SQLEXCEPTION SET aurora_events_fire = 1;
    SET aurora_events_fire = ${condition};
  END;
  IF aurora_events_fire THEN
    SELECT lambda_async(${function_arn}, ${payload}) INTO @aurora_events_lambda_result;
  END IF;
END $$
DELIMITER ;

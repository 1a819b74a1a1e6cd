-- aurora_emulation.invoke_sync, what lambda_sync calls (installed after native_lambda.sql,
-- whose helpers it uses). The runtime's half of the handshake is in
-- infra/local/emulation.py (answer_sync_request); the lock names' prefixes come from there
-- too: ${wait_lock_prefix} and ${done_lock_prefix} are quoted string literals.
--
DELIMITER $$

-- lambda_sync waits for the runtime's answer inside one statement. MyISAM would not
-- do: a statement locks every table its functions use until it ends. So the request
-- goes to an InnoDB row the runtime reads with READ UNCOMMITTED; user-level locks
-- signal "waiting" and "answered"; and the answer, committed by the runtime, is read
-- with a locking read, which sees the newest committed row whatever the caller's
-- snapshot. The runtime itself logs the call in `invocations`, outside this statement.
CREATE OR REPLACE DEFINER = CURRENT_USER
FUNCTION aurora_emulation.invoke_sync(
  entry_token TEXT, caller VARCHAR(300), active_role VARCHAR(128), function_arn TEXT,
  payload LONGTEXT, database_name VARCHAR(64)
) RETURNS LONGTEXT
SQL SECURITY DEFINER
MODIFIES SQL DATA
BEGIN
  DECLARE name VARCHAR(140);
  DECLARE request_id CHAR(36);
  DECLARE answer LONGTEXT;
  DECLARE timeout_seconds DOUBLE DEFAULT 30;
  DECLARE waited DOUBLE DEFAULT 0;
  DECLARE ignored INT;

  CALL aurora_emulation.check_entry_token(entry_token);
  SET name = aurora_emulation.checked_function_name(
    caller, active_role, function_arn, payload, 'RequestResponse');
  SELECT CAST(value AS DOUBLE) INTO timeout_seconds FROM aurora_emulation.settings
    WHERE settings.name = 'sync_timeout_seconds';
  SET request_id = UUID();
  SET ignored = GET_LOCK(CONCAT(${wait_lock_prefix}, request_id), 0);
  INSERT INTO aurora_emulation.sync_requests
    (request_id, function_arn, function_name, payload, caller, database_name, requested_at)
  VALUES (request_id, function_arn, name, payload, caller, database_name, UTC_TIMESTAMP(6));

  WHILE IS_USED_LOCK(CONCAT(${done_lock_prefix}, request_id)) IS NULL
        AND waited < timeout_seconds DO
    SET ignored = SLEEP(0.005);
    SET waited = waited + 0.005;
  END WHILE;

  DELETE FROM aurora_emulation.sync_requests WHERE sync_requests.request_id = request_id;
  IF IS_USED_LOCK(CONCAT(${done_lock_prefix}, request_id)) IS NULL THEN
    SET ignored = RELEASE_LOCK(CONCAT(${wait_lock_prefix}, request_id));
    SIGNAL SQLSTATE 'HY000' SET MYSQL_ERRNO = 1873,
      MESSAGE_TEXT = 'Lambda API returned error: Network Connection. Unable to connect to endpoint';
  END IF;
  SELECT r.response INTO answer FROM aurora_emulation.sync_responses r
    WHERE r.request_id = request_id LOCK IN SHARE MODE;
  SET ignored = RELEASE_LOCK(CONCAT(${wait_lock_prefix}, request_id));
  RETURN answer;
END $$

DELIMITER ;

-- Every account may reach it (through lambda_sync); the token and the role check decide.
GRANT EXECUTE ON FUNCTION aurora_emulation.invoke_sync TO PUBLIC;

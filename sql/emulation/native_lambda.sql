-- Aurora MySQL's native functions lambda_async / lambda_sync, emulated on a MariaDB
-- server (10.4 or later) for the local stack and the tests. Never installed on Aurora:
-- infra/local/emulation.py refuses a server that has @@aurora_version.
--
-- What it imitates (shared/reference/aurora-native-lambda.md):
--   * the call is made when the statement runs, not when it commits: the record goes
--     to a MyISAM table, which a ROLLBACK does not undo;
--   * the caller (inside a trigger: the trigger's DEFINER) needs the AWS_LAMBDA_ACCESS
--     role as a default role (or active in its session), else error 1227; with the
--     setting emulated_aurora_version = '2' it needs Aurora v2's INVOKE LAMBDA privilege
--     instead (a row in invoke_lambda_grants), else the same error;
--   * a payload over Lambda's limit for the call's invocation type fails the statement
--     with Lambda's refusal (HTTP 413 RequestEntityTooLargeException) in Aurora's words
--     for a Lambda API error; ${event_payload_bytes} and ${request_response_payload_bytes}
--     are the limits in bytes (functions/common/lambda_limits.py, via emulation.py);
--   * a payload that is not valid JSON fails with "Invalid Request Content.";
--   * a function that is not deployed fails the statement, like Lambda's 404.
--
-- Only lambda_async / lambda_sync (sql/emulation/lambda_functions.sql) may call in, and
-- the caller is established by the server: those entry points run with the caller's
-- rights (SQL SECURITY INVOKER), so CURRENT_USER() there is the caller (inside a trigger:
-- its definer), and they pass the emulation's entry token, a random secret compiled into
-- their bodies at install time. A routine's body is hidden from every account but its
-- definer (root), so an account calling invoke_async directly with a forged caller lacks
-- the token and is refused.
-- The local Lambda runtime (infra/local/lambda_runtime.py) reads the records, through
-- infra/local/emulation.py (every statement against this schema), and delivers them to
-- the Python handlers. lambda_sync's half of the emulation is invoke_sync.sql.

CREATE DATABASE IF NOT EXISTS aurora_emulation CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;

CREATE ROLE IF NOT EXISTS AWS_LAMBDA_ACCESS;

-- Every accepted call. MyISAM on purpose: not transactional, so a call made inside a
-- transaction that rolls back stays recorded, as on Aurora where it was already sent.
CREATE TABLE IF NOT EXISTS aurora_emulation.invocations (
  id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  invocation_type ENUM('Event', 'RequestResponse') NOT NULL,
  function_arn VARCHAR(512) NOT NULL,
  function_name VARCHAR(140) NOT NULL,
  payload LONGTEXT NOT NULL,
  caller VARCHAR(300) NOT NULL,
  database_name VARCHAR(64) NULL,
  invoked_at DATETIME(6) NOT NULL,
  status ENUM('pending', 'running', 'succeeded', 'failed') NOT NULL DEFAULT 'pending',
  attempts INT NOT NULL DEFAULT 0,
  next_attempt_at DATETIME(6) NOT NULL,
  last_error MEDIUMTEXT NULL,
  response LONGTEXT NULL,
  completed_at DATETIME(6) NULL,
  KEY invocations_due (status, next_attempt_at)
) ENGINE = MyISAM DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- The functions "deployed" locally (the runtime registers the catalog's functions).
CREATE TABLE IF NOT EXISTS aurora_emulation.functions (
  function_name VARCHAR(140) PRIMARY KEY,
  function_arn VARCHAR(512) NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- lambda_sync's mailbox. InnoDB: the runtime sees a request with a dirty read while the
-- calling statement is still running, and the answer with a locking read (see lambda_sync).
CREATE TABLE IF NOT EXISTS aurora_emulation.sync_requests (
  request_id CHAR(36) PRIMARY KEY,
  function_arn VARCHAR(512) NOT NULL,
  function_name VARCHAR(140) NOT NULL,
  payload LONGTEXT NOT NULL,
  caller VARCHAR(300) NOT NULL,
  database_name VARCHAR(64) NULL,
  requested_at DATETIME(6) NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS aurora_emulation.sync_responses (
  request_id CHAR(36) PRIMARY KEY,
  response LONGTEXT NULL,
  answered_at DATETIME(6) NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS aurora_emulation.settings (
  name VARCHAR(64) PRIMARY KEY,
  value VARCHAR(255) NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

INSERT IGNORE INTO aurora_emulation.settings (name, value) VALUES ('sync_timeout_seconds', '30');
-- The entry token (see the header): made once per server, kept across re-installs so the
-- entry points already installed in other databases stay valid.
INSERT IGNORE INTO aurora_emulation.settings (name, value)
  VALUES ('entry_token', HEX(RANDOM_BYTES(32)));
-- Which Aurora MySQL major version the privilege check imitates: '3' (MySQL 8: the
-- AWS_LAMBDA_ACCESS role) or '2' (MySQL 5.7: the INVOKE LAMBDA privilege).
INSERT IGNORE INTO aurora_emulation.settings (name, value) VALUES ('emulated_aurora_version', '3');

-- Aurora v2's `GRANT INVOKE LAMBDA ON *.* TO user@host`: MariaDB has no such privilege,
-- so each account holding it is a row here (sql/grants/mariadb_v2_invoke_lambda.sql).
CREATE TABLE IF NOT EXISTS aurora_emulation.invoke_lambda_grants (
  User VARCHAR(128) NOT NULL,
  Host VARCHAR(255) NOT NULL,
  PRIMARY KEY (User, Host)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

DELIMITER $$

-- Refuses a call that did not come through lambda_async / lambda_sync (see the header).
CREATE OR REPLACE DEFINER = CURRENT_USER
PROCEDURE aurora_emulation.check_entry_token(token TEXT)
SQL SECURITY DEFINER
READS SQL DATA
BEGIN
  IF token IS NULL OR NOT EXISTS (
      SELECT 1 FROM aurora_emulation.settings s
      WHERE s.name = 'entry_token' AND s.value = token) THEN
    SIGNAL SQLSTATE '42000' SET MYSQL_ERRNO = 1227,
      MESSAGE_TEXT = 'Access denied; call lambda_async or lambda_sync, not the emulation''s internals';
  END IF;
END $$

-- Checks a call as Aurora would and returns the function's name; SIGNALs otherwise.
-- caller is CURRENT_USER() of the caller, which inside a trigger is the trigger's definer.
CREATE OR REPLACE DEFINER = CURRENT_USER
FUNCTION aurora_emulation.checked_function_name(
  caller VARCHAR(300), active_role VARCHAR(128), function_arn TEXT, payload LONGTEXT,
  invocation_type VARCHAR(16)
) RETURNS VARCHAR(140)
SQL SECURITY DEFINER
READS SQL DATA
BEGIN
  DECLARE caller_user VARCHAR(128);
  DECLARE caller_host VARCHAR(255);
  DECLARE granted INT DEFAULT 0;
  DECLARE is_default INT DEFAULT 0;
  DECLARE allowed INT DEFAULT 0;
  DECLARE emulated_version VARCHAR(8);
  DECLARE name VARCHAR(140);
  DECLARE message VARCHAR(512);
  DECLARE payload_bytes BIGINT;

  SET caller_user = SUBSTRING_INDEX(caller, '@', 1);
  SET caller_host = SUBSTRING(caller, CHAR_LENGTH(caller_user) + 2);
  -- (the local variable `name` hides the settings column, hence the alias)
  SET emulated_version = COALESCE(
    (SELECT s.value FROM aurora_emulation.settings s WHERE s.name = 'emulated_aurora_version'),
    '3');
  IF emulated_version = '2' THEN
    -- MySQL 5.7 has no roles: the INVOKE LAMBDA privilege alone decides.
    SELECT COUNT(*) INTO allowed FROM aurora_emulation.invoke_lambda_grants g
      WHERE g.User = caller_user AND g.Host = caller_host;
  ELSE
    SELECT COUNT(*) INTO granted FROM mysql.roles_mapping
      WHERE User = caller_user AND Host = caller_host AND Role = 'AWS_LAMBDA_ACCESS';
    SELECT COUNT(*) INTO is_default FROM mysql.global_priv
      WHERE User = caller_user AND Host = caller_host
        AND JSON_VALUE(Priv, '$.default_role') = 'AWS_LAMBDA_ACCESS';
    SET allowed = granted > 0
      AND (is_default > 0 OR COALESCE(active_role, '') = 'AWS_LAMBDA_ACCESS');
  END IF;
  IF allowed = 0 THEN
    SIGNAL SQLSTATE '42000' SET MYSQL_ERRNO = 1227,
      MESSAGE_TEXT = 'Access denied; you need (at least one of) the Invoke Lambda privilege(s) for this operation';
  END IF;

  -- Lambda counts the request body's bytes (the JSON as sent, UTF-8). Checked before the
  -- JSON and the function, as the local Invoke API does (Lambda's order is not documented).
  -- The text after "Lambda API returned error: " is inferred: Aurora's words for this
  -- refusal are not documented; Lambda's own message follows the title.
  SET payload_bytes = OCTET_LENGTH(CONVERT(payload USING utf8mb4));
  IF invocation_type = 'Event' AND payload_bytes > ${event_payload_bytes} THEN
    SET message = CONCAT('Lambda API returned error: Request Entity Too Large. ', payload_bytes,
      ' byte payload is too large for the Event invocation type (limit ',
      ${event_payload_bytes}, ' bytes)');
    SIGNAL SQLSTATE 'HY000' SET MYSQL_ERRNO = 1873, MESSAGE_TEXT = message;
  ELSEIF invocation_type <> 'Event' AND payload_bytes > ${request_response_payload_bytes} THEN
    SET message = CONCAT('Lambda API returned error: Request Entity Too Large. ',
      'Request must be smaller than ', ${request_response_payload_bytes},
      ' bytes for the InvokeFunction operation');
    SIGNAL SQLSTATE 'HY000' SET MYSQL_ERRNO = 1873, MESSAGE_TEXT = message;
  END IF;

  IF payload IS NULL OR NOT JSON_VALID(payload) THEN
    SIGNAL SQLSTATE 'HY000' SET MYSQL_ERRNO = 1873,
      MESSAGE_TEXT = 'Lambda API returned error: Invalid Request Content.';
  END IF;

  IF function_arn IS NULL OR function_arn = '' THEN
    SET name = NULL;
  ELSEIF function_arn LIKE 'arn:%' THEN
    IF function_arn NOT LIKE 'arn:aws%:lambda:%:%:function:%' THEN
      SET name = NULL;
    ELSE
      SET name = SUBSTRING_INDEX(SUBSTRING_INDEX(function_arn, ':function:', -1), ':', 1);
    END IF;
  ELSE
    SET name = SUBSTRING_INDEX(function_arn, ':', 1);
  END IF;
  IF name IS NULL OR name = '' THEN
    SET message = CONCAT('Lambda API returned error: Invalid function name or ARN: ',
                         LEFT(COALESCE(function_arn, 'NULL'), 200));
    SIGNAL SQLSTATE 'HY000' SET MYSQL_ERRNO = 1873, MESSAGE_TEXT = message;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM aurora_emulation.functions f WHERE f.function_name = name) THEN
    SET message = CONCAT('Lambda API returned error: Function not found: ', LEFT(function_arn, 200));
    SIGNAL SQLSTATE 'HY000' SET MYSQL_ERRNO = 1873, MESSAGE_TEXT = message;
  END IF;
  RETURN name;
END $$

CREATE OR REPLACE DEFINER = CURRENT_USER
FUNCTION aurora_emulation.invoke_async(
  entry_token TEXT, caller VARCHAR(300), active_role VARCHAR(128), function_arn TEXT,
  payload LONGTEXT, database_name VARCHAR(64)
) RETURNS LONGTEXT
SQL SECURITY DEFINER
MODIFIES SQL DATA
BEGIN
  DECLARE name VARCHAR(140);
  CALL aurora_emulation.check_entry_token(entry_token);
  SET name = aurora_emulation.checked_function_name(
    caller, active_role, function_arn, payload, 'Event');
  INSERT INTO aurora_emulation.invocations
    (invocation_type, function_arn, function_name, payload, caller, database_name, invoked_at,
     next_attempt_at)
  VALUES ('Event', function_arn, name, payload, caller, database_name, UTC_TIMESTAMP(6),
          UTC_TIMESTAMP(6));
  -- Lambda's Invoke with type Event answers 202 and an empty body.
  RETURN NULL;
END $$

DELIMITER ;

-- Every account may reach the entry functions (lambda_async / lambda_sync run with the
-- caller's rights; invoke_sync is granted in invoke_sync.sql); the token and the role
-- check inside decide, as Aurora does. Nothing else in this schema is callable or
-- readable by anyone but root.
GRANT EXECUTE ON FUNCTION aurora_emulation.invoke_async TO PUBLIC;

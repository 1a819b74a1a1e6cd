-- The record of one answered lambda_sync call (invoke_sync.sql leaves it to the runtime):
-- function ARN, name, payload, caller, database (%s each), status (%s: succeeded or
-- failed), the result (%s, JSON or NULL) and the error (%s, JSON or NULL).
INSERT INTO aurora_emulation.invocations
  (invocation_type, function_arn, function_name, payload, caller, database_name, invoked_at,
   status, attempts, next_attempt_at, response, last_error, completed_at)
VALUES
  ('RequestResponse', %s, %s, %s, %s, %s, UTC_TIMESTAMP(6),
   %s, 1, UTC_TIMESTAMP(6), %s, %s, UTC_TIMESTAMP(6));

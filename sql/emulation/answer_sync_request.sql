-- The answer to one lambda_sync call: its request id (%s) and the function's result or
-- error object (%s, JSON), read by invoke_sync.sql with a locking read.
INSERT INTO aurora_emulation.sync_responses (request_id, response, answered_at)
VALUES (%s, %s, UTC_TIMESTAMP(6));

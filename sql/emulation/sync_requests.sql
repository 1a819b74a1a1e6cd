-- lambda_sync calls waiting for an answer. Read with READ UNCOMMITTED: the request row is
-- not committed while its statement waits (see invoke_sync.sql).
SELECT request_id, function_name, function_arn, payload, caller, database_name
FROM aurora_emulation.sync_requests;

-- Calls a Lambda function once for each inserted row, the way Aurora's guide does it:
-- SELECT lambda_async(...) INTO @variable inside an AFTER INSERT trigger. The same
-- text runs on Aurora MySQL v3 (MySQL 8.0) and on the local MariaDB 10.11.
-- The trigger runs with its DEFINER's privileges: that account needs AWS_LAMBDA_ACCESS.
CREATE DEFINER = CURRENT_USER TRIGGER ${trigger} AFTER INSERT ON ${table}
FOR EACH ROW
  SELECT lambda_async(${function_arn}, ${payload}) INTO @aurora_events_lambda_result;

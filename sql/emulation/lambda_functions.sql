-- lambda_async / lambda_sync in one application database, so that a trigger calls
-- them unqualified exactly as it does on Aurora (where they are built in).
-- SQL SECURITY INVOKER: CURRENT_USER() is then the caller, which inside a trigger is
-- the trigger's definer, the account Aurora checks for AWS_LAMBDA_ACCESS.
-- They pass the emulation's entry token (see native_lambda.sql): the body of a routine is
-- hidden from every account but its definer (root), so only these two can call in.
-- ${database} is a quoted identifier; ${entry_token} a quoted string literal.

DELIMITER $$

CREATE OR REPLACE DEFINER = CURRENT_USER
FUNCTION ${database}.lambda_async(function_arn TEXT, payload LONGTEXT) RETURNS LONGTEXT
SQL SECURITY INVOKER
MODIFIES SQL DATA
BEGIN
  RETURN aurora_emulation.invoke_async(
    ${entry_token}, CURRENT_USER(), CURRENT_ROLE(), function_arn, payload, DATABASE());
END $$

CREATE OR REPLACE DEFINER = CURRENT_USER
FUNCTION ${database}.lambda_sync(function_arn TEXT, payload LONGTEXT) RETURNS LONGTEXT
SQL SECURITY INVOKER
MODIFIES SQL DATA
BEGIN
  RETURN aurora_emulation.invoke_sync(
    ${entry_token}, CURRENT_USER(), CURRENT_ROLE(), function_arn, payload, DATABASE());
END $$

DELIMITER ;

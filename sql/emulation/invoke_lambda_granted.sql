-- Whether the account %s@%s holds the emulated Aurora v2 INVOKE LAMBDA privilege
-- (grant_invoke_lambda.sql).
SELECT COUNT(*) FROM aurora_emulation.invoke_lambda_grants WHERE User = %s AND Host = %s;

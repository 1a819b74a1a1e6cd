-- Mark a function as deployed locally: its name (%s) and ARN (%s). Calls to any other
-- function fail like Lambda's "function not found".
REPLACE INTO aurora_emulation.functions (function_name, function_arn) VALUES (%s, %s);

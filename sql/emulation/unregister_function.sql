-- Mark a function (%s) as not deployed: calls to it fail like Lambda's "function not found".
DELETE FROM aurora_emulation.functions WHERE function_name = %s;

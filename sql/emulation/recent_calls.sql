-- The latest recorded calls, newest first, at most %s: what `aurora-events invocations`
-- prints (payload and error shortened).
SELECT id, invocation_type, function_name, status, attempts, invoked_at,
       LEFT(payload, 80), LEFT(COALESCE(last_error, ''), 120)
FROM aurora_emulation.invocations
ORDER BY id DESC
LIMIT %s;

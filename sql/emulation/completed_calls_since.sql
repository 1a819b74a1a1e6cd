-- When each Event call to one function (%s) after call id %s finished ('succeeded' or
-- 'failed'), oldest call first: the local pipeline's delivery times (make bench).
SELECT status, completed_at
FROM aurora_emulation.invocations
WHERE function_name = %s AND id > %s AND invocation_type = 'Event'
  AND status IN ('succeeded', 'failed')
ORDER BY id;

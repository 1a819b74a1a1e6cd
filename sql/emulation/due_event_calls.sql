-- The Event calls of the runtime's functions (%s, a tuple) that are due: pending ones
-- whose time has come, and running ones whose lease ran out (their delivery died before
-- recording the outcome). Oldest first, at most 100.
SELECT id, function_name, payload, attempts, status
FROM aurora_emulation.invocations
WHERE invocation_type = 'Event' AND status IN ('pending', 'running')
  AND next_attempt_at <= UTC_TIMESTAMP(6) AND function_name IN %s
ORDER BY id
LIMIT 100;

-- Lease one due Event call for %s microseconds: call id %s, still in the status (%s) it
-- was read with and still due, so that two pollers cannot both claim it.
UPDATE aurora_emulation.invocations
SET status = 'running', next_attempt_at = UTC_TIMESTAMP(6) + INTERVAL %s MICROSECOND
WHERE id = %s AND status = %s AND next_attempt_at <= UTC_TIMESTAMP(6);

-- A failed attempt with retries left: the attempts so far (%s), the delay before the next
-- one in microseconds (%s), the error (%s, Lambda's error object as JSON); call id %s.
UPDATE aurora_emulation.invocations
SET status = 'pending', attempts = %s,
    next_attempt_at = UTC_TIMESTAMP(6) + INTERVAL %s MICROSECOND, last_error = %s
WHERE id = %s;

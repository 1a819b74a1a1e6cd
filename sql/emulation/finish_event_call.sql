-- A delivered Event call: its final status (%s: succeeded or failed), attempts (%s), the
-- function's result (%s, JSON or NULL) and error (%s, JSON or NULL); call id %s.
UPDATE aurora_emulation.invocations
SET status = %s, attempts = %s, response = %s, last_error = %s,
    completed_at = UTC_TIMESTAMP(6)
WHERE id = %s;

-- At a runtime's start: the Event calls of its functions (%s, a tuple) that a runtime
-- was running when it stopped are due again.
UPDATE aurora_emulation.invocations SET status = 'pending'
WHERE status = 'running' AND function_name IN %s;

-- Claimed rows that wait behind an earlier event of their key the claim does not hold
-- (held_behind.sql) are not leased but held: not due until that event is next tried (a
-- lease's end, a backoff's end). So they stop filling the claim's LIMIT (a failing head
-- starves no other row behind its followers), and nothing waits forever: a relay that
-- delivers the blocker makes them due at once (promote.sql); else they come back due
-- when the blocker is tried again, and are looked at again then. With the hold counter
-- (revision 0010) the claim counted itself first (count_holds.sql), and the relay that
-- records the blocker makes them due after its record (promote_held.sql). The claim's
-- scan locked these rows and they were due, so no other relay holds them.
-- ${sequences} is "%s, %s, ..."; parameters: the time, the sequences.
UPDATE `aurora_events_outbox`
SET `next_attempt_at` = %s
WHERE `sequence` IN (${sequences});

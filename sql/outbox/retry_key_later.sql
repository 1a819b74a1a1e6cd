-- retry_later.sql for failed events that head claimed events of their key (an ordered
-- outbox): the failed events are due again after the backoff, with the error, and the
-- key's later events this lease holds (not sent: they go after their head) at the very
-- same time, their attempts and error unchanged. One statement, one UTC_TIMESTAMP(6):
-- neither is due before the other, so one claim takes the head and its followers again.
-- ${failed} and ${sequences} are "%s, %s, ..."; parameters: the delay in microseconds,
-- the failed events' sequences, the error, the lease's token, the failed events' and the
-- followers' sequences.
UPDATE `aurora_events_outbox`
SET `next_attempt_at` = UTC_TIMESTAMP(6) + INTERVAL %s MICROSECOND,
    `last_error` = CASE WHEN `sequence` IN (${failed}) THEN %s ELSE `last_error` END
WHERE `next_attempt_at` = %s AND `sequence` IN (${sequences}) AND `delivered_at` IS NULL;

-- Claimed rows stay out of every claim for the lease: a relay that dies mid-delivery
-- leaves them due again when it runs out. The lease's end (the server's clock at the claim
-- plus the lease) is also the lease's token: every later update of these rows by this
-- relay requires `next_attempt_at` to still hold it, so a relay whose lease ran out and
-- was re-claimed by another changes nothing. A re-claim always writes a later end (it
-- happens after this one has passed), so two claims never share a token. The claim counts
-- no attempt: start_attempt.sql does, when an event is sent.
-- ${sequences} is "%s, %s, ..."; parameters: the lease's end, the sequences.
UPDATE `aurora_events_outbox`
SET `next_attempt_at` = %s
WHERE `sequence` IN (${sequences});

-- The claim's quick look (claim_due_ordered.sql), in its transaction, before the second
-- look (held_behind.sql): how many events wait (neither delivered nor parked) with a
-- sequence up to the claim's last. When that is the number of rows the claim found,
-- every waiting event up to there is the claim's own: no claimed row has an earlier
-- waiting event outside the claim, and the second look is not needed. That is every
-- claim of a lone relay whose targets take what it sends; with relays side by side or
-- events backing off, the counts differ and the second look runs. The snapshot argument
-- is held_behind.sql's: a later statement, so every earlier event of a claimed row is in
-- this snapshot (and the claimed rows, locked by the claim, are all counted).
-- An index-only range of `outbox_pending`: the waiting rows up to the claim's last, which
-- the claim's scan read already. Parameters: the claim's highest sequence.
SELECT COUNT(*)
FROM `aurora_events_outbox` FORCE INDEX (`outbox_pending`)
WHERE `delivered_at` IS NULL AND `parked_at` IS NULL AND `sequence` <= %s;

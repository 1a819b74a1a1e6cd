-- promote.sql's candidates, in the transaction that records this relay's last claimed
-- events of some keys delivered or parked: the waiting events of those keys (any target:
-- the index alone answers, `outbox_key_pending` holds the key and the sequence, so no row
-- is read), not locked. The relay keeps those after its own last event of each key (an
-- earlier one it released may be another relay's lease by now), and promote.sql picks
-- among them by primary key.
-- ${keys} is "%s, %s, ..."; parameters: the keys.
SELECT `sequence`, `ordering_key`
FROM `aurora_events_outbox`
WHERE `delivered_at` IS NULL AND `parked_at` IS NULL AND `ordering_key` IN (${keys});

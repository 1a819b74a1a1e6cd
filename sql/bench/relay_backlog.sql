-- make bench's relay throughput (infra/bench/relay_throughput.py): the outbox events after
-- sequence %s, how many of them are delivered, how many were delivered at their first
-- attempt (each sent once), and their payloads' mean size in bytes.
SELECT COUNT(*),
       COALESCE(SUM(`delivered_at` IS NOT NULL), 0),
       COALESCE(SUM(`delivered_at` IS NOT NULL AND `attempts` = 1), 0),
       COALESCE(AVG(LENGTH(`payload`)), 0)
FROM `aurora_events_outbox`
WHERE `sequence` > %s;

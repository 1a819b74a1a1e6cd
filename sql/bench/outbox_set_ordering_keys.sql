-- make bench's ordered relay (infra/bench/relay_throughput.py): give the backlog written
-- after sequence %s ordering keys, as the change triggers will write them. ${key} is the
-- key's expression (migrations/ordering_key.py) over the event's own order id (each
-- event its own row: the INSERT shape) or over `sequence` MOD a number (that many hot
-- rows, each with many events waiting).
UPDATE `aurora_events_outbox`
SET `ordering_key` = ${key}
WHERE `sequence` > %s;

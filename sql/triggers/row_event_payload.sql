-- The row event, schema version 1 (fields documented in functions/common/events.py and
-- the README), built with JSON_OBJECT so that every value is escaped and NULL stays
-- JSON null. Never CONCAT: one quote or backslash in a value makes invalid JSON.
-- ${table_name} and ${delivery} are string literals; ${primary_key} and ${row} are
-- JSON_OBJECT argument lists ('column', <value expression>, ...); ${event_id} is the
-- event's id: UUID() (the landed triggers), or a variable the trigger set from UUID()
-- once, to write the same id into the outbox row without reading it back from the JSON.
JSON_OBJECT(
  'version', 1,
  'event_id', ${event_id},
  'occurred_at', DATE_FORMAT(UTC_TIMESTAMP(6), '%Y-%m-%dT%H:%i:%s.%fZ'),
  'database', DATABASE(),
  'table', ${table_name},
  'operation', 'INSERT',
  'delivery', ${delivery},
  'primary_key', JSON_OBJECT(${primary_key}),
  'row', JSON_OBJECT(${row})
)

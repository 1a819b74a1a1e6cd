-- The DELETE row event, schema version 2 (functions/common/events.py): the row as it was
-- (OLD). Built like row_event_payload.sql; ${primary_key} and ${before} are JSON_OBJECT
-- argument lists of OLD's values; ${table_name} and ${delivery} string literals;
-- ${event_id} the SQL of the event's id.
JSON_OBJECT(
  'version', 2,
  'event_id', ${event_id},
  'occurred_at', DATE_FORMAT(UTC_TIMESTAMP(6), '%Y-%m-%dT%H:%i:%s.%fZ'),
  'database', DATABASE(),
  'table', ${table_name},
  'operation', 'DELETE',
  'delivery', ${delivery},
  'primary_key', JSON_OBJECT(${primary_key}),
  'before', JSON_OBJECT(${before})
)

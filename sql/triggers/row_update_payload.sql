-- The UPDATE row event, schema version 2 (functions/common/events.py): the row's images
-- before and after the statement, and which of the carried columns changed. Built with
-- JSON_OBJECT like row_event_payload.sql (every value escaped, NULL as JSON null), values
-- in the same formats. ${table_name} and ${delivery} are string literals; ${primary_key},
-- ${before} and ${after} JSON_OBJECT argument lists (${primary_key} of NEW: the row's key
-- after the statement, which is also its key before: an UPDATE that changes the key is
-- sent as a DELETE and an INSERT, see outbox_v4_update.sql); ${changed} the JSON array
-- of the names of the carried columns whose values differ NULL-safe (<=>), from
-- row_event_changed.sql; ${event_id} the SQL of the event's id.
JSON_OBJECT(
  'version', 2,
  'event_id', ${event_id},
  'occurred_at', DATE_FORMAT(UTC_TIMESTAMP(6), '%Y-%m-%dT%H:%i:%s.%fZ'),
  'database', DATABASE(),
  'table', ${table_name},
  'operation', 'UPDATE',
  'delivery', ${delivery},
  'primary_key', JSON_OBJECT(${primary_key}),
  'before', JSON_OBJECT(${before}),
  'after', JSON_OBJECT(${after}),
  'changed', ${changed}
)

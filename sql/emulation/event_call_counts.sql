-- How many recorded Event calls are in each status, from every database (%s NULL) or
-- from one (%s, its name, given twice).
SELECT status, COUNT(*) FROM aurora_emulation.invocations
WHERE invocation_type = 'Event' AND (%s IS NULL OR database_name = %s)
GROUP BY status;

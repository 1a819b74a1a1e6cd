-- Every recorded Event call made from one database (%s), oldest first, all columns.
SELECT * FROM aurora_emulation.invocations
WHERE database_name = %s AND invocation_type = 'Event'
ORDER BY id;

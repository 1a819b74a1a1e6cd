-- The revision schema %s is migrated to (Alembic's alembic_version table), for the doctor's
-- triggers link: no row when the schema has no such table (not migrated by Alembic).
SELECT `TABLE_NAME` FROM information_schema.TABLES
WHERE `TABLE_SCHEMA` = %s AND `TABLE_NAME` = 'alembic_version';

-- The revision a schema is at (its alembic_version table exists: alembic_version.sql).
SELECT `version_num` FROM ${schema}.`alembic_version`;

-- The tables of schema %s (before the drain's grant: its tables must exist).
SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s;

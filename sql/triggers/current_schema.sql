-- The connection's current database.
SELECT DATABASE();

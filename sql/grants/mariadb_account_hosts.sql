-- The hosts of every account named %s on MariaDB. Its mysql.user is a view over
-- mysql.global_priv, which also holds roles: those are left out.
SELECT Host FROM mysql.global_priv
WHERE User = %s AND COALESCE(JSON_VALUE(Priv, '$.is_role'), 'false') <> 'true';

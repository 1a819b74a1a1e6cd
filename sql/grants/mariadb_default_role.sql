-- Whether the account %s@%s has the role %s as its default role (MariaDB keeps it in
-- mysql.global_priv).
SELECT COUNT(*) FROM mysql.global_priv
WHERE User = %s AND Host = %s AND JSON_VALUE(Priv, '$.default_role') = %s;

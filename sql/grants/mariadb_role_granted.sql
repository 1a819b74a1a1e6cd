-- Whether the account %s@%s holds the role %s (MariaDB: mysql.roles_mapping).
SELECT COUNT(*) FROM mysql.roles_mapping WHERE User = %s AND Host = %s AND Role = %s;

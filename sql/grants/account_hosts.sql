-- The hosts of every account named %s (MySQL 5.7 and 8.0, so Aurora v2 and v3).
SELECT Host FROM mysql.user WHERE User = %s;

-- Whether the account %s@%s has the role %s as a default role (MySQL 8.0).
SELECT COUNT(*) FROM mysql.default_roles
WHERE USER = %s AND HOST = %s AND DEFAULT_ROLE_USER = %s;

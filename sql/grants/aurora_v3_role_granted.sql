-- Whether a role (%s) is granted to the account %s@%s (MySQL 8.0: mysql.role_edges).
SELECT COUNT(*) FROM mysql.role_edges WHERE FROM_USER = %s AND TO_USER = %s AND TO_HOST = %s;

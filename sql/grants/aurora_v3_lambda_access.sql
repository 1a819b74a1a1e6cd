-- The Aurora MySQL v3 (MySQL 8.0) grant: the account that defines the triggers gets the
-- AWS_LAMBDA_ACCESS role, made a default role so that it is active in every session and
-- in the stored programs (triggers) it defines. MySQL 8 spells the default role "TO user"
-- (MariaDB: "FOR user", see mariadb_lambda_access.sql).
-- ${account} is a quoted 'user'@'host'.
GRANT AWS_LAMBDA_ACCESS TO ${account};
SET DEFAULT ROLE AWS_LAMBDA_ACCESS TO ${account};

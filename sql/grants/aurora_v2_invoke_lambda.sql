-- The Aurora MySQL v2 (MySQL 5.7) grant: a global privilege (5.7 has no roles), held by
-- the account that defines the triggers.
-- ${account} is a quoted 'user'@'host'.
GRANT INVOKE LAMBDA ON *.* TO ${account};

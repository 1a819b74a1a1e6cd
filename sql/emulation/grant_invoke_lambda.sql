-- The emulated Aurora v2 grant on the local MariaDB server. Aurora v2 (MySQL 5.7) spells
-- it `GRANT INVOKE LAMBDA ON *.* TO 'user'@'host'`; MariaDB has no such privilege, so the
-- emulation keeps the accounts holding it in a table its lambda_async/lambda_sync check
-- when the setting emulated_aurora_version is '2'.
-- ${user} and ${host} are quoted string literals.
INSERT IGNORE INTO aurora_emulation.invoke_lambda_grants (User, Host) VALUES (${user}, ${host});

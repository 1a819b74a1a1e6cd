-- The emulated Aurora v3 grant on the local MariaDB server: the account that defines
-- the triggers gets AWS_LAMBDA_ACCESS as its default role. (MariaDB spells the default
-- role "FOR user"; MySQL 8 / Aurora v3 spells it "TO user".)
-- ${account} is a quoted 'user'@'host'.
GRANT AWS_LAMBDA_ACCESS TO ${account};
SET DEFAULT ROLE AWS_LAMBDA_ACCESS FOR ${account};

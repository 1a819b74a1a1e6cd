-- MySQL 8.0: when on, every granted role is active at login, default or not.
SELECT @@activate_all_roles_on_login;

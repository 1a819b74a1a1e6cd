-- The grants of the account %s@%s, as GRANT lines (Aurora v2 has INVOKE LAMBDA there).
SHOW GRANTS FOR %s@%s;

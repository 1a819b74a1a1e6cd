-- Installs before the entry token granted EXECUTE on the whole schema to PUBLIC, which let
-- any account call the internals with a forged caller: take that grant back (error 1141,
-- "There is no such grant", is the usual answer).
REVOKE EXECUTE ON aurora_emulation.* FROM PUBLIC;

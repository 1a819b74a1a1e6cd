-- The runtime's side of the lambda_sync handshake: hold the "answered" lock (%s), waiting
-- at most 5 seconds for it.
SELECT GET_LOCK(%s, 5);

-- The runtime's session that polls lambda_sync's requests: they are not committed while
-- the calling statement waits, so only a dirty read sees them.
SET SESSION TRANSACTION ISOLATION LEVEL READ UNCOMMITTED;

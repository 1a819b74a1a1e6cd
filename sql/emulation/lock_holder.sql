-- Who holds a user-level lock (%s): NULL once the caller released "waiting".
SELECT IS_USED_LOCK(%s);

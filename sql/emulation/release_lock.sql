-- Release a user-level lock (%s) this session holds.
SELECT RELEASE_LOCK(%s);

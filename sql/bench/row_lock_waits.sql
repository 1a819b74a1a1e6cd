-- The server's row lock waits so far, and the milliseconds spent in them (server-wide
-- counters): make bench's relay throughput reads them around each run.
SHOW GLOBAL STATUS WHERE `Variable_name` IN ('Innodb_row_lock_waits', 'Innodb_row_lock_time');

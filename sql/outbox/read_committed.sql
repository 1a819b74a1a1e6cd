-- The relay's session: READ COMMITTED, so its locking reads and updates lock the rows they
-- touch and no gap between them. Under REPEATABLE READ, the claim's scan and the updates
-- by primary key took next-key locks up to the end of the table, where every user's
-- transaction inserts its outbox rows: a user's INSERT and the relay deadlocked (measured
-- with innodb_print_all_deadlocks). Where binary logging is on, READ COMMITTED needs
-- binlog_format ROW or MIXED (Aurora's choices; STATEMENT refuses the relay's writes).
SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED;

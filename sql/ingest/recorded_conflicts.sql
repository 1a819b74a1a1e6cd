-- Which of a batch's conflicting messages are recorded already (a redelivered batch, or a
-- run repeated after a lost connection): they are not recorded twice.
-- ${ids} is "%s, %s, ..." (the SQS message ids are parameters).
SELECT `message_id` FROM `ingest_conflicts` WHERE `message_id` IN (${ids});

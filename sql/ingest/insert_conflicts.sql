-- The drain records idempotency conflicts (see create_conflicts_table.sql), in the same
-- transaction as the batch's rows. ${rows} is "(%s, ...), (%s, ...)": one placeholder per
-- value of resource, idempotency_key, client_key, principal, stored_body_hash, body_hash,
-- message_id, request_id, data.
INSERT INTO `ingest_conflicts` (`resource`, `idempotency_key`, `client_key`, `principal`,
  `stored_body_hash`, `body_hash`, `message_id`, `request_id`, `data`)
VALUES ${rows};

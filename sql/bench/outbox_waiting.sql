-- How many outbox events wait for delivery (neither delivered nor parked).
SELECT COUNT(*) FROM `aurora_events_outbox` WHERE `delivered_at` IS NULL AND `parked_at` IS NULL;

-- make bench's sustained rate and latency: orders (an outbox table after revision 0004) in
-- one multi-row INSERT; ${rows} is "(%s, %s, %s), ..." (customer_id, amount, currency).
INSERT INTO `orders` (`customer_id`, `amount`, `currency`) VALUES ${rows};

-- make bench's sustained rate and latency: customer_feedback (direct triggers: notify and
-- email) in one multi-row INSERT; ${rows} is "(%s, %s), ..." (customer_name, feedback).
INSERT INTO `customer_feedback` (`customer_name`, `feedback`) VALUES ${rows};

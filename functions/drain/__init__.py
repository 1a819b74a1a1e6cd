"""drain: SQS FIFO batches -> Aurora, in one transaction per batch, idempotently."""

"""drain: SQS FIFO batches -> Aurora, each batch all or none, idempotently."""

"""ingest: API Gateway request -> validated message on the SQS FIFO queue; no database."""

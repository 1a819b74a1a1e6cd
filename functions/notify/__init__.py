"""notify: publishes row events to an SNS topic."""

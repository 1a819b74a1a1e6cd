"""email: sends row events as emails through SES."""

"""Code shared by every function: the event schema, configuration, database access."""

"""Running the project: the catalog, AWS provisioning, the local stack, the CLI."""

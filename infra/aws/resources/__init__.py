"""One module per kind of AWS resource of a deployment, each a
:class:`~infra.aws.resources.base.Resource` (desired, read, the difference as changes,
destroy), and the declared order they are planned in."""

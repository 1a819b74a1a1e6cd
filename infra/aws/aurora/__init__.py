"""Aurora's access to Lambda (the chain ``lambda_async`` needs) as resources, in the style
of :mod:`infra.aws.resources`: one class per link with ``plan()`` and ``plan_destroy()``,
walked in the declared order of :mod:`infra.aws.aurora.order`."""

"""The Alembic environment, its revisions, and the Lambda-trigger operations for revisions.

Import :mod:`migrations.lambda_trigger` (env.py does) to get ``op.create_lambda_trigger``,
``op.replace_lambda_trigger`` and ``op.drop_lambda_trigger``.
"""

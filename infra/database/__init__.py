"""The database side of Aurora's Lambda access: who may call ``lambda_async``, and the
drain's account; and what an operator asks of the outbox (``outbox_admin.py``). It never
imports the local stack, which supplies its emulated dialects by registering them
(:func:`infra.database.grants.register_server_detector`)."""

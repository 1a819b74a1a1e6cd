"""Alembic environment: the database URL comes from the environment (or the caller).

``config.attributes["database_settings"]`` (a ``DatabaseSettings``) or
``config.attributes["database_url"]`` (set by code that runs Alembic in-process, such as
the local stack, the demo and the tests) wins over ``DATABASE_URL`` /
``DATABASE_SECRET_ID``. TLS is decided where every connection's is
(``functions.common.database``): ``DATABASE_TLS`` / ``DATABASE_TLS_CA`` apply to a URL
too, and the migration account, the most privileged one, never talks in plaintext when
TLS is asked for.

What the schema is to be (``alembic check``, ``alembic revision --autogenerate``) is
declared in :mod:`migrations.declared`: its tables are ``target_metadata``, its triggers are
registered with the trigger comparator (:mod:`migrations.trigger_compare`). Code that runs
Alembic in-process may declare others: ``config.attributes["target_metadata"]`` and
``config.attributes["lambda_triggers"]``.

The session's ``sql_mode`` is pinned to ``SESSION_SQL_MODE`` (offline: the script's first
statement sets it), as in every connection the project opens: the rendered SQL means the
same whatever the server's global mode, and the triggers created here keep that mode.
"""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlalchemy import create_engine, pool

import migrations.lambda_trigger  # noqa: F401  registers op.create_lambda_trigger & co.
import sql
from functions.common.database import (
    SESSION_SQL_MODE,
    DatabaseSettings,
    settings_from_env,
    settings_from_url,
    tls_options,
)
from migrations import declared
from migrations.trigger_compare import register_triggers
from sql import quote_string

config = context.config
if config.config_file_name is not None and not config.attributes.get("skip_logging_config"):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def database_settings() -> DatabaseSettings:
    given = config.attributes.get("database_settings")
    if given is not None:
        return given
    explicit = config.attributes.get("database_url")
    return settings_from_url(explicit) if explicit else settings_from_env()


target_metadata = config.attributes.get("target_metadata", declared.metadata)
register_triggers(config.attributes.get("lambda_triggers", declared.triggers))


def run_migrations_offline() -> None:
    """``--sql``: the script a DBA reviews, then runs (triggers: :mod:`migrations.offline`)."""
    context.configure(url=database_settings().url(), literal_binds=True)
    (set_mode,) = sql.render("triggers/set_sql_mode.sql", sql_mode=quote_string(SESSION_SQL_MODE))
    context.execute(set_mode)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    settings = database_settings()
    engine = create_engine(
        settings.url(),
        poolclass=pool.NullPool,
        connect_args={"sql_mode": SESSION_SQL_MODE, **tls_options(settings)},
    )
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()

"""DATABASE_TLS: a client told to use TLS (the drain behind an RDS Proxy) never talks to the
database in plaintext, and a server that cannot give TLS counts as unavailable (the batch
waits in the queue), not as bad data. Against the test session's real MariaDB server,
which offers no TLS."""

from __future__ import annotations

import json
from dataclasses import replace

import boto3
import pymysql
import pytest

from functions.common.database import (
    connect,
    is_retryable_later,
    parse_database_url,
    settings_from_env,
)


def test_database_tls_in_the_environment_requires_tls(stack, database):
    url = parse_database_url(database.url)
    name = f"tls-test-{database.name}"
    boto3.client("secretsmanager").create_secret(
        Name=name,
        SecretString=json.dumps(
            {"username": url.user, "password": url.password, "host": "db.invalid", "port": url.port}
        ),
    )
    environ = {"DATABASE_SECRET_ID": name, "DATABASE_HOST": url.host, "DATABASE_TLS": "true"}
    settings = settings_from_env(environ)
    assert (settings.host, settings.port, settings.tls) == (url.host, url.port, True)
    assert settings_from_env({**environ, "DATABASE_TLS": ""}).tls is False

    with connect(replace(settings, tls=False), database=database.name).cursor() as cursor:
        cursor.execute("SELECT @@have_ssl")
        assert cursor.fetchone()[0] != "YES"  # so the refusal below is about TLS
    with pytest.raises(pymysql.err.OperationalError) as refused:
        connect(settings, database=database.name)
    assert refused.value.args[0] == 2026
    assert "SSL is required" in refused.value.args[1]
    assert is_retryable_later(refused.value)

"""The local stack's secrets stay with the user who started it: a private directory, a
root password, and passwords masked in what is printed for reading."""

import stat

import pymysql
import pytest

from infra.cli import masked


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_stack_directory_and_its_secrets_are_private(stack):
    assert mode(stack.base_dir) == 0o700
    assert mode(stack.db.base_dir) == 0o700
    assert mode(stack.env_file) == 0o600
    assert mode(stack.db.root_password_file) == 0o600


@pytest.mark.parametrize(
    "how",
    [{"host": "127.0.0.1"}, {"host": "::1"}, {"unix_socket": None}],
    ids=["tcp-127.0.0.1", "tcp-::1", "socket"],
)
def test_root_needs_its_password_on_every_way_in(stack, how):
    options = dict(how)
    if "unix_socket" in options:
        options["unix_socket"] = str(stack.db.socket_path)
    else:
        options["port"] = stack.db.port
    for password in ("", "wrong"):
        with pytest.raises(pymysql.err.OperationalError) as refused:
            pymysql.connect(user="root", password=password, connect_timeout=5, **options)
        # 1045 access denied (2003 only for ::1: a machine without IPv6 loopback)
        allowed = (1045, 2003) if options.get("host") == "::1" else (1045,)
        assert refused.value.args[0] in allowed, refused.value
    stack.db.connect_root().close()  # with the password, it works


def test_urls_are_masked_for_reading():
    text = (
        "export DATABASE_URL='mysql://app:s3cr%40t@127.0.0.1:3306/aurora_events'\n"
        "export AWS_ENDPOINT_URL='http://127.0.0.1:5000'\n"
    )
    assert masked(text) == (
        "export DATABASE_URL='mysql://app:****@127.0.0.1:3306/aurora_events'\n"
        "export AWS_ENDPOINT_URL='http://127.0.0.1:5000'\n"
    )

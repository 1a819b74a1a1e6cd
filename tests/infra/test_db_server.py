import pytest

from infra.local import db_server
from infra.local.db_server import DatabaseServerError, MariaDBServer


def test_missing_server_binary_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(db_server, "find_program", lambda names: None)
    with pytest.raises(DatabaseServerError, match="apt-get install mariadb-server"):
        MariaDBServer(tmp_path / "db").start()


def test_a_stopped_server_starts_again_with_its_data(tmp_path):
    server = MariaDBServer(tmp_path / "db")
    server.start()
    try:
        with server.connect_root().cursor() as cursor:
            cursor.execute("CREATE DATABASE kept")
            # Temporary files go to the server's own directory, never the shared /tmp.
            cursor.execute("SELECT @@tmpdir")
            assert cursor.fetchone()[0] == str(tmp_path / "db" / "tmp")
        server.stop()
        assert not server.is_running()
        server.start()
        with server.connect_root().cursor() as cursor:
            cursor.execute("SHOW DATABASES LIKE 'kept'")
            assert cursor.fetchall() == (("kept",),)
    finally:
        server.remove()
    assert not (tmp_path / "db").exists()

"""A private, throwaway MariaDB server: its own data directory, loopback port and socket.

It never touches a server somebody else runs: the data directory is created here,
``--no-defaults`` keeps every system option file out, and it listens on 127.0.0.1
only. Root logs in through the socket without a password.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pymysql

from functions.common.database import DatabaseSettings

SEARCH_DIRS = ("/usr/sbin", "/usr/local/sbin", "/usr/local/mysql/bin", "/usr/bin")
SERVER_NAMES = ("mariadbd", "mysqld")
INSTALL_DB_NAMES = ("mariadb-install-db", "mysql_install_db")


class DatabaseServerError(RuntimeError):
    """The server binary is missing, or the server did not start or stop."""


def find_program(names: tuple[str, ...]) -> str | None:
    """Return the first of ``names`` found on PATH or in the usual sbin directories."""
    for name in names:
        found = shutil.which(name) or next(
            (str(Path(d) / name) for d in SEARCH_DIRS if (Path(d) / name).is_file()), None
        )
        if found:
            return found
    return None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class MariaDBServer:
    """One server process over one data directory.

    ``start()`` creates the data directory when it is new, and is safe to call again
    after ``stop()`` (the data is kept until ``remove()``): that is how tests take the
    database down and bring it back.
    """

    base_dir: Path
    port: int = 0

    def __post_init__(self) -> None:
        self.base_dir = Path(self.base_dir)
        self.data_dir = self.base_dir / "data"
        self.socket_path = self.base_dir / "mysqld.sock"
        self.pid_file = self.base_dir / "mysqld.pid"
        self.log_file = self.base_dir / "mysqld.log"
        self.process: subprocess.Popen | None = None
        if not self.port:
            self.port = free_port()

    # -- lifecycle -------------------------------------------------------------------

    def start(self, timeout: float = 60.0) -> None:
        """Start the server (initialising the data directory first if needed); wait until ready."""
        server = find_program(SERVER_NAMES)
        if server is None:
            raise DatabaseServerError(
                "no MySQL-compatible server binary (mariadbd or mysqld) found; "
                "install Debian's mariadb-server package (apt-get install mariadb-server)"
            )
        self.base_dir.mkdir(parents=True, exist_ok=True)
        if not (self.data_dir / "mysql").is_dir():
            self._install_data_dir()
        user = ["--user=root"] if os.geteuid() == 0 else []
        command = [
            server,
            "--no-defaults",
            f"--datadir={self.data_dir}",
            f"--socket={self.socket_path}",
            f"--port={self.port}",
            "--bind-address=127.0.0.1",
            f"--pid-file={self.pid_file}",
            f"--log-error={self.log_file}",
            "--skip-name-resolve",
            "--character-set-server=utf8mb4",
            "--collation-server=utf8mb4_unicode_ci",
            "--innodb-buffer-pool-size=64M",
            "--innodb-flush-log-at-trx-commit=2",
            "--max-allowed-packet=64M",
            "--skip-log-bin",
            *user,
        ]
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C in the terminal is ours to pass on, not its
        )
        self._wait_until_ready(timeout)

    def stop(self, timeout: float = 30.0) -> None:
        """Shut the server down (SIGTERM, then SIGKILL after ``timeout``); keep its data."""
        pid = self._pid()
        if pid is None:
            return
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                break
            if self.process is None and not _alive(pid):
                break
            time.sleep(0.05)
        else:
            os.kill(pid, signal.SIGKILL)
            if self.process is not None:
                self.process.wait(5)
        self.process = None

    def kill(self) -> None:
        """Kill the server at once, as a crash or a failover would."""
        pid = self._pid()
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
            if self.process is not None:
                self.process.wait(10)
            self.process = None

    def remove(self) -> None:
        """Stop the server and delete its whole base directory."""
        self.stop()
        shutil.rmtree(self.base_dir, ignore_errors=True)

    def is_running(self) -> bool:
        pid = self._pid()
        return pid is not None and _alive(pid)

    # -- connections -----------------------------------------------------------------

    def root_settings(self) -> DatabaseSettings:
        """Settings for root over the unix socket."""
        return DatabaseSettings(
            host="localhost", port=self.port, user="root", unix_socket=str(self.socket_path)
        )

    def connect_root(self, database: str | None = None) -> pymysql.connections.Connection:
        return pymysql.connect(
            unix_socket=str(self.socket_path),
            user="root",
            database=database,
            charset="utf8mb4",
            autocommit=True,
            connect_timeout=5,
        )

    # -- internals -------------------------------------------------------------------

    def _install_data_dir(self) -> None:
        install = find_program(INSTALL_DB_NAMES)
        if install is None:
            raise DatabaseServerError("mariadb-install-db not found next to the server binary")
        user = "root" if os.geteuid() == 0 else os.environ.get("USER", "nobody")
        result = subprocess.run(
            [
                install,
                "--no-defaults",
                f"--datadir={self.data_dir}",
                f"--user={user}",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise DatabaseServerError(
                f"{install} failed ({result.returncode}): {result.stderr.strip()[-2000:]}"
            )

    def _wait_until_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise DatabaseServerError(
                    f"database server exited with {self.process.returncode}; "
                    f"its log says:\n{self._log_tail()}"
                )
            try:
                self.connect_root().close()
                return
            except pymysql.err.OperationalError:
                time.sleep(0.1)
        self.stop()
        raise DatabaseServerError(
            f"database server not ready after {timeout}s:\n{self._log_tail()}"
        )

    def _pid(self) -> int | None:
        if self.process is not None and self.process.poll() is None:
            return self.process.pid
        try:
            return int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None

    def _log_tail(self) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-20:])
        except OSError:
            return "(no log)"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True

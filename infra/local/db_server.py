"""A private, throwaway MariaDB server: its own data directory, loopback port and socket.

It never touches a server somebody else runs: the data directory is created here,
``--no-defaults`` keeps every system option file out, and it listens on 127.0.0.1
only. The base directory is private to its owner (0700), and root has a random password,
kept in ``root.password`` there (0600): any local account can reach 127.0.0.1, so a root
without a password would be everyone's.

With ``tls=True`` it serves TLS with a certificate from a CA of its own, made on its first
start (:mod:`infra.local.tls`; the CA's certificate is :attr:`MariaDBServer.tls_ca`), and
refuses plaintext over TCP (``require_secure_transport``, as Aurora's parameter of that
name does); its socket, local only, stays plaintext.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pymysql

from functions.common.database import SESSION_SQL_MODE, DatabaseSettings
from sql import quote_string

SEARCH_DIRS = ("/usr/sbin", "/usr/local/sbin", "/usr/local/mysql/bin", "/usr/bin")
SERVER_NAMES = ("mariadbd", "mysqld")
INSTALL_DB_NAMES = ("mariadb-install-db", "mysql_install_db")
ROOT_PASSWORD_FILE = "root.password"


def make_private_dir(path: Path) -> None:
    """Create ``path`` (and parents) and make it readable by its owner only."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)


def write_private_file(path: Path, text: str) -> None:
    """Write ``text`` to ``path``, readable by its owner only (from the first byte on)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
    path.chmod(0o600)  # the file may have existed with wider permissions


def read_root_password(base_dir: Path) -> str:
    """The root password of the server whose base directory is ``base_dir``."""
    try:
        return (Path(base_dir) / ROOT_PASSWORD_FILE).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise DatabaseServerError(
            f"no {ROOT_PASSWORD_FILE} in {base_dir}: not a server made by this project"
        ) from None


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
    tls: bool = False

    def __post_init__(self) -> None:
        self.base_dir = Path(self.base_dir)
        self.tls_dir = self.base_dir / "tls"
        self.data_dir = self.base_dir / "data"
        self.socket_path = self.base_dir / "mysqld.sock"
        self.pid_file = self.base_dir / "mysqld.pid"
        self.log_file = self.base_dir / "mysqld.log"
        # Its own temporary directory: temporary tables' files are named by process id, and
        # servers started side by side (in other process namespaces sharing /tmp) have
        # removed each other's mid-query ("Could not remove temporary table '/tmp/#sql…'").
        self.tmp_dir = self.base_dir / "tmp"
        self.root_password_file = self.base_dir / ROOT_PASSWORD_FILE
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
        make_private_dir(self.base_dir)
        make_private_dir(self.tmp_dir)
        fresh = not (self.data_dir / "mysql").is_dir()
        if fresh:
            self._install_data_dir()
        user = ["--user=root"] if os.geteuid() == 0 else []
        command = [
            server,
            "--no-defaults",
            f"--datadir={self.data_dir}",
            f"--socket={self.socket_path}",
            f"--tmpdir={self.tmp_dir}",
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
            *self._tls_arguments(),
            *user,
        ]
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C in the terminal is ours to pass on, not its
        )
        # A new data directory's root has no password yet: set it before anything else.
        self._wait_until_ready(timeout, password="" if fresh else None)
        if fresh:
            self._set_root_password()

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
            if self.process is None and not process_running(pid):
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
        return pid is not None and process_running(pid)

    @property
    def tls_ca(self) -> str | None:
        """The CA certificate a client checks this server against (None without TLS)."""
        if not self.tls:
            return None
        from infra.local.tls import tls_files

        return str(tls_files(self.tls_dir).ca)

    def _tls_arguments(self) -> list[str]:
        """The server's TLS options; its certificates made on the first start."""
        if not self.tls:
            return []
        from infra.local.tls import make_tls_files, tls_files  # cryptography: only for TLS

        files = tls_files(self.tls_dir)
        if not all(path.is_file() for path in (files.ca, files.cert, files.key)):
            files = make_tls_files(self.tls_dir)
        return [
            f"--ssl-ca={files.ca}",
            f"--ssl-cert={files.cert}",
            f"--ssl-key={files.key}",
            "--require-secure-transport=ON",
        ]

    # -- connections -----------------------------------------------------------------

    @property
    def root_password(self) -> str:
        return read_root_password(self.base_dir)

    def root_settings(self) -> DatabaseSettings:
        """Settings for root over the unix socket."""
        return DatabaseSettings(
            host="localhost",
            port=self.port,
            user="root",
            password=self.root_password,
            unix_socket=str(self.socket_path),
        )

    def connect_root(
        self, database: str | None = None, password: str | None = None
    ) -> pymysql.connections.Connection:
        """Root over the socket (``password``: only to reach a brand-new server's root)."""
        return pymysql.connect(
            unix_socket=str(self.socket_path),
            user="root",
            password=self.root_password if password is None else password,
            database=database,
            charset="utf8mb4",
            autocommit=True,
            connect_timeout=5,
            sql_mode=SESSION_SQL_MODE,  # root runs rendered SQL: pin its meaning
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
                f"--tmpdir={self.tmp_dir}",  # passed on to the bootstrap server
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
        write_private_file(self.root_password_file, secrets.token_urlsafe(24))

    def _set_root_password(self) -> None:
        """Give root (socket and loopback) the password in ``root.password``; drop the
        root account named after the machine (unreachable with --skip-name-resolve)."""
        connection = self.connect_root(password="")
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT Host FROM mysql.global_priv WHERE User = 'root'")
                for (host,) in cursor.fetchall():
                    account = f"'root'@{quote_string(host)}"
                    if host in ("localhost", "127.0.0.1", "::1"):
                        cursor.execute(
                            f"ALTER USER {account} IDENTIFIED BY {quote_string(self.root_password)}"
                        )
                    else:
                        cursor.execute(f"DROP USER IF EXISTS {account}")
        finally:
            connection.close()

    def _wait_until_ready(self, timeout: float, password: str | None = None) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise DatabaseServerError(
                    f"database server exited with {self.process.returncode}; "
                    f"its log says:\n{self._log_tail()}"
                )
            try:
                self.connect_root(password=password).close()
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


def process_running(pid: int) -> bool:
    """True while process ``pid`` runs: it exists and is not a zombie (exited, not yet
    reaped: a process that is no child of ours, under a container's init that may not
    reap)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if not Path("/proc/self").exists():  # no procfs: existing is all that can be told
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"

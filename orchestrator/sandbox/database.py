"""The sandbox's PostgreSQL: a cluster of its own (initdb, pg_ctl), data under the sandbox directory.

It listens on 127.0.<net>.200:5432 only (no Unix socket), with a password (scram-sha-256) kept
in files beside it, never in orchestrator.toml: ``db.env`` holds libpq's settings for the
migration commands (PGPASSFILE names a .pgpass), and the nodes' Tomcats read the password from
a file named on their command line. PostgreSQL refuses to run as root, so as root the cluster
runs as the ``postgres`` user that Debian's package creates.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import signal
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ansible_collections.orchestrator.fleet.plugins.module_utils.fsutil import write_atomic
from ansible_collections.orchestrator.fleet.plugins.module_utils.processes import owned_pid, terminate
from orchestrator.errors import SandboxError

BIN = Path("/usr/lib/postgresql/15/bin")
PORT = 5432
HOST_OCTET = 200
NAME = USER = "app"
JDBC_DRIVER = Path("/usr/share/java/postgresql.jar")
SERVER_USER = "postgres"
# A sandbox trades durability for speed: it is rebuilt, never restored.
SETTINGS = (
    "-c port={port} -c listen_addresses={address} -c unix_socket_directories='' "
    "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
)


@dataclass(frozen=True)
class Database:
    """Where a sandbox's cluster lives and how it is reached."""

    directory: Path  # the sandbox's directory
    net: int

    @property
    def address(self) -> str:
        return f"127.0.{self.net}.{HOST_OCTET}"

    @property
    def home(self) -> Path:
        """The server's own files (data, log), owned by the user it runs as."""
        return self.directory / "postgres"

    @property
    def data(self) -> Path:
        return self.home / "data"

    @property
    def password_file(self) -> Path:
        return self.directory / "db-password"

    @property
    def pgpass(self) -> Path:
        return self.directory / "db.pgpass"

    @property
    def env_file(self) -> Path:
        """libpq's settings for the migration commands ([migrate] environment)."""
        return self.directory / "db.env"

    @property
    def jdbc_url(self) -> str:
        return f"jdbc:postgresql://{self.address}:{PORT}/{NAME}"

    def environment(self, database: str = NAME) -> dict[str, str]:
        return {
            "PGHOST": self.address,
            "PGPORT": str(PORT),
            "PGUSER": USER,
            "PGDATABASE": database,
            "PGPASSFILE": str(self.pgpass),
            "PGCONNECT_TIMEOUT": "5",
        }

    def pid(self) -> int | None:
        return owned_pid(self.data / "postmaster.pid", f"-D {self.data}")

    def psql(self, sql: str, *, database: str = NAME, timeout: float = 30) -> str:
        """Run ``sql`` (tests and benchmarks read the table and the version table with it)."""
        done = subprocess.run(
            ["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql],
            env={**os.environ, **self.environment(database)},
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode != 0:
            raise SandboxError(f"psql on the sandbox database failed: {done.stderr.strip()}")
        return done.stdout.strip()


def check_prerequisites() -> None:
    missing = [
        package
        for package, path in (
            ("postgresql", BIN / "initdb"),
            ("postgresql-client", Path("/usr/bin/psql")),
            ("libpostgresql-jdbc-java", JDBC_DRIVER),
        )
        if not path.exists()
    ]
    if missing:
        raise SandboxError(
            f"the sandbox's database needs {', '.join(missing)}: install with "
            f"'apt-get install {' '.join(missing)}' (or run ./scripts/setup)"
        )


def _server_user() -> pwd.struct_passwd | None:
    """Who the server runs as: None for the current user, the postgres user for root."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SERVER_USER)
    except KeyError:
        raise SandboxError(
            f"PostgreSQL does not run as root and there is no '{SERVER_USER}' user to run it as: "
            "install the postgresql package (it creates the user)"
        ) from None


def _reachable(path: Path, user: pwd.struct_passwd) -> Path | None:
    """The first directory above ``path`` that ``user`` cannot pass through, or None."""
    groups = {user.pw_gid, *(g for g in os.getgrouplist(user.pw_name, user.pw_gid))}
    for parent in reversed(path.parents):
        st = parent.stat()
        bit = stat.S_IXUSR if st.st_uid == user.pw_uid else stat.S_IXGRP if st.st_gid in groups else stat.S_IXOTH
        if not st.st_mode & bit:
            return parent
    return None


def _run(args: list[str], user: pwd.struct_passwd | None, what: str) -> None:
    done = subprocess.run(
        args,
        user=user.pw_uid if user else None,
        group=user.pw_gid if user else None,
        extra_groups=[] if user else None,
        cwd="/",
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode != 0:
        raise SandboxError(f"{what} failed: {(done.stderr or done.stdout).strip()[-800:]}")


def up(db: Database) -> Database:
    """Make the cluster (once) and start it (if it is not running); safe to run again."""
    check_prerequisites()
    user = _server_user()
    if user is not None:
        blocked = _reachable(db.home, user)
        if blocked is not None:
            raise SandboxError(
                f"PostgreSQL runs as '{user.pw_name}' (it refuses root) and cannot reach {db.home}: "
                f"{blocked} is not searchable for it; chmod o+x {blocked}, or put the sandbox elsewhere (--dir)"
            )
    if not db.password_file.exists():
        write_atomic(db.password_file, secrets.token_urlsafe(24) + "\n", mode=0o600)
    password = db.password_file.read_text().strip()
    # libpq ignores a .pgpass that others can read
    write_atomic(db.pgpass, f"{db.address}:{PORT}:*:{USER}:{password}\n", mode=0o600)
    write_atomic(
        db.env_file,
        "# The sandbox database, for the migration commands ([migrate] environment).\n"
        + "".join(f"{k}={v}\n" for k, v in db.environment().items()),
        mode=0o600,
    )
    if not (db.data / "PG_VERSION").exists():
        shutil.rmtree(db.home, ignore_errors=True)  # a cluster half made by an interrupted initdb
        db.home.mkdir(mode=0o700, parents=True)
        pwfile = db.home / "initdb-password"
        write_atomic(pwfile, password + "\n", mode=0o600)
        if user is not None:
            os.chown(db.home, user.pw_uid, user.pw_gid)
            os.chown(pwfile, user.pw_uid, user.pw_gid)
        try:
            _run(
                [
                    str(BIN / "initdb"),
                    "-D",
                    str(db.data),
                    "-U",
                    USER,
                    "--auth=scram-sha-256",
                    f"--pwfile={pwfile}",
                    "-E",
                    "UTF8",
                    "--no-instructions",
                    "--no-sync",
                ],
                user,
                "initdb of the sandbox database",
            )
        finally:
            pwfile.unlink(missing_ok=True)
    if db.pid() is None:
        _run(
            [
                str(BIN / "pg_ctl"),
                "-D",
                str(db.data),
                "-l",
                str(db.home / "server.log"),
                "-w",
                "-t",
                "30",
                "-o",
                SETTINGS.format(port=PORT, address=db.address),
                "start",
            ],
            user,
            f"starting the sandbox database (log: {db.home / 'server.log'})",
        )
    if db.psql(f"SELECT count(*) FROM pg_database WHERE datname = '{NAME}'", database="postgres") == "0":
        done = subprocess.run(
            ["createdb", NAME],
            env={**os.environ, **db.environment("postgres")},
            capture_output=True,
            text=True,
            timeout=60,
        )
        if done.returncode != 0:
            raise SandboxError(f"createdb {NAME} failed: {done.stderr.strip()}")
    return db


def down(db: Database) -> int | None:
    """Stop the cluster by PID (fast shutdown: open sessions are ended); returns the PID it stopped."""
    pid = db.pid()
    if pid is not None:
        terminate(pid, timeout=30, first=signal.SIGINT)
    return pid

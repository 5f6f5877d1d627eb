"""Schema migrations: numbered SQL files, each marked expand or contract by its name.

    db/migrations/001-create-visits.expand.sql
    db/migrations/002-add-version.expand.sql
    db/migrations/003-drop-node.contract.sql

During a rolling deploy the old release and the new one serve side by side, so a schema change
is split in two. Expand migrations only add (a table, a nullable column, an index): the old
release keeps working on the expanded schema, so they run once per deploy, under the deploy
lock, before any node is touched. Contract migrations take away what the old release still
uses: they run once, after every node is on the new release and has passed its bake.

The orchestrator reads the files to check them before anything runs and to know, for the
ledger, which contract migration ran with which release (a rollback to a release from before a
contract would serve a schema it no longer fits). The configured commands apply them: the
sample's db/migrate, or a team's Flyway or Liquibase.
"""

from __future__ import annotations

import re
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path

from orchestrator.config import Migrate
from orchestrator.errors import InputError

PHASES = ("expand", "contract")
FILE_NAME = re.compile(r"^(?P<number>[0-9]{1,9})-[A-Za-z0-9_.-]*?\.(?P<phase>[A-Za-z]+)\.sql$")
NAMING = "NNN-what-it-does.expand.sql or NNN-what-it-does.contract.sql"


@dataclass(frozen=True)
class Migration:
    number: int
    file: str  # the file's name: what the ledger and the messages call it
    phase: str  # expand or contract


@dataclass(frozen=True)
class Schema:
    """The migrations of one release's source tree, in the order they apply."""

    directory: Path
    migrations: tuple[Migration, ...]

    def of(self, phase: str) -> tuple[Migration, ...]:
        return tuple(m for m in self.migrations if m.phase == phase)

    @property
    def expand_version(self) -> int:
        """The schema version the release runs with once its expand migrations are in (0: none)."""
        return max((m.number for m in self.of("expand")), default=0)

    @property
    def version(self) -> int:
        """The schema version once its contract migrations are in too."""
        return max((m.number for m in self.migrations), default=0)

    @property
    def files(self) -> list[str]:
        return [m.file for m in self.migrations]


def read(directory: Path) -> Schema:
    """The migrations in ``directory``; InputError naming the file and the fix for a bad one.

    Every ``*.sql`` file must say its number and its phase in its name: a file the commands
    would apply but the orchestrator cannot place would run at the wrong moment.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise InputError(
            f"{directory} is not a directory of migrations: create it (it may be empty), "
            "or fix [migrate] directory in orchestrator.toml"
        )
    found: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = FILE_NAME.match(path.name)
        if not match or match["phase"] not in PHASES:
            raise InputError(
                f"{path}: a migration's name says its number and its phase ({NAMING}); "
                f"rename it to one of those (expand only adds, contract takes away what the old release uses)"
            )
        migration = Migration(int(match["number"]), path.name, match["phase"])
        if migration.number in found:
            raise InputError(
                f"{path}: migration number {migration.number} is also {found[migration.number].file}; "
                "give each migration a number of its own"
            )
        found[migration.number] = migration
    return Schema(directory, tuple(found[n] for n in sorted(found)))


def check_command(command: str, cwd: Path, *, field: str) -> None:
    """InputError unless the program ``command`` starts with exists, run from ``cwd``.

    A relative path (db/migrate) is looked up in ``cwd``, a bare name on PATH; a command that
    is not there would otherwise fail only once the deploy lock is held.
    """
    try:
        words = shlex.split(command)
    except ValueError as exc:
        raise InputError(f"{field} = {command!r} cannot be split into words ({exc}): fix its quoting") from None
    while words and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0]):
        words.pop(0)  # VAR=value before the program
    if not words:
        raise InputError(f"{field} is empty: give the command that applies the pending migrations of the phase")
    program = words[0]
    if "/" in program:
        path = Path(program) if Path(program).is_absolute() else cwd / program
        if not path.is_file():
            raise InputError(
                f"{field} = {command!r}: {path} does not exist; fix the command, or add the script to "
                "the application's repository"
            )
        if not path.stat().st_mode & 0o111:
            raise InputError(f"{field} = {command!r}: {path} is not executable; chmod +x it in the repository")
    elif shutil.which(program) is None:
        raise InputError(f"{field} = {command!r}: {program} is not on PATH; install it or give its full path")


def read_environment(path: Path) -> dict[str, str]:
    """KEY=VALUE lines (blank lines and # comments skipped): how the commands reach the database.

    Kept in a file of its own, outside orchestrator.toml, so that a password (PGPASSWORD, or
    PGPASSFILE naming a .pgpass) lives where its permissions can protect it.
    """
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise InputError(
            f"[migrate] environment = {path} cannot be read ({exc.strerror}): create it with the "
            "database settings as KEY=VALUE lines (PGHOST, PGPORT, PGUSER, PGDATABASE, PGPASSFILE)"
        ) from None
    found = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        key = key.strip().removeprefix("export ").strip()
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise InputError(f"{path}, line {number}: not a KEY=VALUE line; write e.g. PGHOST=db.example.com")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        found[key] = value
    return found


@dataclass(frozen=True)
class Plan:
    """A release's migrations, checked, and how to run each phase: in its source tree."""

    settings: Migrate
    tree: Path  # the release's source tree: the commands run there
    schema: Schema
    environment: dict[str, str]  # from [migrate] environment

    def command_env(self, base: dict[str, str], phase: str) -> dict[str, str]:
        return {
            **base,
            **self.environment,
            "ORCHESTRATOR_MIGRATIONS": str(self.schema.directory),
            "ORCHESTRATOR_MIGRATE_PHASE": phase,
        }


def plan(settings: Migrate, tree: Path) -> Plan:
    """Check a release's migrations and both commands before anything runs (InputError if not)."""
    tree = Path(tree).resolve()
    if not tree.is_dir():
        raise InputError(
            f"--migrations {tree} is not a directory: give the release's source tree "
            f"(the one holding {settings.directory} and the migration commands)"
        )
    schema = read(tree / settings.directory)
    for phase in PHASES:
        check_command(settings.command(phase).command, tree, field=f"[migrate] {phase}")
    environment = read_environment(settings.environment) if settings.environment else {}
    return Plan(settings, tree, schema, environment)

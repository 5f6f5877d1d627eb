"""orchestrator.toml: how to get a WAR and when. Read once, validated, frozen.

[source]
repository = "/srv/hg/app"        # the central repository (hg or git, found out from it)
branch = "default"                # only pushes to this branch deploy

[spool]
directory = "/var/spool/orchestrator"   # the hooks write flags into <directory>/incoming

[build]
command = "./build.sh"            # run in the exported revision (sh -c); ORCHESTRATOR_REVISION is set
timeout = 600                     # seconds
artifact = "build/*.war"          # exactly one file must match

[test]
command = "./test.sh"
timeout = 600

[deploy]
inventory = "inventory/production"   # relative paths are relative to this file
state_directory = "/var/lib/orchestrator"
rescan_seconds = 5                   # the watcher also scans the spool this often

[migrate]                            # optional: schema changes (orchestrator/pipeline/migrations.py)
directory = "db/migrations"          # in the revision: NNN-name.expand.sql, NNN-name.contract.sql
expand = "db/migrate expand"         # run in the revision, once per deploy, before any node is touched
contract = "db/migrate contract"     # run once every node is on the release and has passed its bake
timeout = 300                        # seconds, for each phase
environment = "/etc/orchestrator/db.env"   # KEY=VALUE lines for the commands (PGHOST, PGPASSFILE...):
                                           # how they reach the database; never a password in this file

[notify]                             # optional: webhooks (orchestrator/notify.py, docs/notifications.md)
urls = ["https://chat.example.com/hooks/abc"]   # one or more, http or https; each gets every event
events = ["deploy_finished", "release_rejected"]   # default: all of notify.EVENTS
secret_file = "/etc/orchestrator/webhook.secret"   # optional: HMAC-SHA256 signature header; mode 600
timeout = 5                          # seconds per try
retries = 3                          # tries after the first, each after twice the pause before

[dashboard]                          # optional: orchestrator dashboard (docs/dashboard.md)
listen = "127.0.0.1:8088"            # ADDRESS:PORT (--listen overrides)
token_file = "/etc/orchestrator/dashboard.token"   # actions (pause, abort, rollback...) need this
                                     # token; mode 600 or refused. Without it the pages are read-only
refresh_seconds = 5                  # how often HAProxy and the nodes are read while a page is open
"""

from __future__ import annotations

import stat
import tomllib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from orchestrator import notify as notify_lib
from orchestrator.dashboard import settings as dashboard_lib
from orchestrator.errors import InputError
from orchestrator.flags import BRANCH

CONFIG_NAME = "orchestrator.toml"


@dataclass(frozen=True)
class Stage:
    command: str
    timeout: float


@dataclass(frozen=True)
class Migrate:
    """How the schema changes: the migrations' directory in a release's tree, and a command per phase."""

    directory: str
    expand: str
    contract: str
    timeout: float
    environment: Path | None  # a file of KEY=VALUE lines added to the commands' environment

    def command(self, phase: str) -> Stage:
        return Stage(self.expand if phase == "expand" else self.contract, self.timeout)


MIGRATE_KEYS = ("directory", "expand", "contract", "timeout", "environment")
MAX_MIGRATE_SECONDS = 86400


@dataclass(frozen=True)
class Config:
    path: Path
    repository: Path
    branch: str
    spool: Path
    build: Stage
    artifact: str
    test: Stage
    inventory: Path
    state_dir: Path
    rescan_seconds: float
    migrate: Migrate | None = None
    notify: notify_lib.Settings | None = None
    dashboard: dashboard_lib.Settings = dashboard_lib.Settings()

    @property
    def vcs(self) -> str:
        return "git" if not (self.repository / ".hg").is_dir() else "hg"


class _Reader:
    """Typed access to one TOML table, with errors that name file, field and fix."""

    def __init__(self, path: Path, data: dict):
        self.path, self.data = path, data

    def _fail(self, field: str, problem: str, fix: str) -> InputError:
        return InputError(f"{self.path}: [{field.replace('.', '] ', 1)} {problem}; {fix}")

    def get(self, field: str, kind: type, *, default=None, fix: str = ""):
        table, _, key = field.partition(".")
        section = self.data.get(table, {})
        if not isinstance(section, dict):
            raise self._fail(field, f"'{table}' is not a table", f"write it as [{table}]")
        if key not in section:
            if default is not None:
                return default
            raise self._fail(field, "is missing", fix or f"add {key} = ... under [{table}]")
        value = section[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
            raise self._fail(
                field, f"is {value!r} ({type(value).__name__}), not a {kind.__name__}", fix or "fix its type"
            )
        return value

    def optional_table(self, name: str, keys: tuple[str, ...], hint: str = "") -> dict | None:
        """The table [name], or None when absent; a key not in ``keys`` is refused, naming them."""
        table = self.data.get(name)
        if table is None:
            return None
        if not isinstance(table, dict):
            raise InputError(f"{self.path}: {name} is not a table; write it as [{name}]")
        unknown = sorted(set(table) - set(keys))
        if unknown:
            raise self._fail(
                f"{name}.{unknown[0]}",
                f"is not a setting of [{name}]",
                f"use {', '.join(keys)}" + (f"; {hint}" if hint else ""),
            )
        return table

    def path_of(self, field: str, **kw) -> Path:
        value = Path(self.get(field, str, **kw)).expanduser()
        return value if value.is_absolute() else (self.path.parent / value).resolve()

    def seconds(self, field: str, default: float) -> float:
        value = self.get(field, float, default=default, fix="give a number of seconds above 0")
        if value <= 0:
            raise self._fail(field, f"is {value}", "give a number of seconds above 0")
        return value


def load(path: Path) -> Config:
    path = Path(path).resolve()
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(
            f"{path} does not exist: pass --config with the orchestrator.toml to use "
            "(orchestrator sandbox up writes one for the sandbox)"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path} is not valid TOML: {exc}") from None
    r = _Reader(path, data)
    repository = r.path_of("source.repository", fix="set it to the central repository's path")
    if not (repository / ".hg").is_dir() and not (repository / "HEAD").is_file() and not (repository / ".git").exists():
        raise InputError(
            f"{path}: [source] repository = {repository} is not a Mercurial or git repository; "
            "point it at the central repository the hooks are installed in"
        )
    branch = r.get("source.branch", str, fix='name the branch to deploy, e.g. branch = "default"')
    if not BRANCH.match(branch):
        raise r._fail("source.branch", f"is {branch!r}", "use a plain branch name")
    artifact = r.get("build.artifact", str, fix='give a glob relative to the revision, e.g. artifact = "build/*.war"')
    if artifact.startswith("/") or ".." in Path(artifact).parts:
        raise r._fail("build.artifact", f"is {artifact!r}", "give a glob inside the exported revision")
    return Config(
        path=path,
        repository=repository,
        branch=branch,
        spool=r.path_of("spool.directory", fix="name the spool directory the hooks write to"),
        build=Stage(
            r.get("build.command", str, fix='add command = "./build.sh" under [build]'), r.seconds("build.timeout", 600)
        ),
        artifact=artifact,
        test=Stage(
            r.get("test.command", str, fix='add command = "./test.sh" under [test]'), r.seconds("test.timeout", 600)
        ),
        inventory=r.path_of("deploy.inventory", fix="name the inventory to deploy to"),
        state_dir=r.path_of("deploy.state_directory", fix="name a directory for history and artifacts"),
        rescan_seconds=r.seconds("deploy.rescan_seconds", 5),
        migrate=_migrate(r),
        notify=_notify(r),
        dashboard=_dashboard(r),
    )


def _migrate(r: _Reader) -> Migrate | None:
    """[migrate], checked: a table without it means the application has no schema to change."""
    table = r.optional_table(
        "migrate",
        MIGRATE_KEYS,
        "database passwords go in the file named by environment "
        "(or one it points to, like PGPASSFILE), never in orchestrator.toml",
    )
    if table is None:
        return None
    directory = r.get(
        "migrate.directory", str, fix='give the migrations\' directory in the revision, e.g. "db/migrations"'
    )
    if directory.startswith("/") or ".." in Path(directory).parts:
        raise r._fail(
            "migrate.directory", f"is {directory!r}", 'give a directory inside the revision, e.g. "db/migrations"'
        )
    timeout = r.seconds("migrate.timeout", 300)
    if timeout > MAX_MIGRATE_SECONDS:
        raise r._fail("migrate.timeout", f"is {timeout:g}", f"give at most {MAX_MIGRATE_SECONDS} seconds (a day)")
    environment = r.path_of("migrate.environment") if "environment" in table else None
    if environment is not None and not environment.is_file():
        raise r._fail(
            "migrate.environment",
            f"is {environment}, which does not exist",
            "create it with the database settings as KEY=VALUE lines, or remove the setting",
        )
    return Migrate(
        directory=directory,
        expand=r.get("migrate.expand", str, fix='add expand = "db/migrate expand" under [migrate]'),
        contract=r.get("migrate.contract", str, fix='add contract = "db/migrate contract" under [migrate]'),
        timeout=timeout,
        environment=environment,
    )


NOTIFY_KEYS = ("urls", "events", "secret_file", "timeout", "retries")


def _notify(r: _Reader) -> notify_lib.Settings | None:
    """[notify], checked: webhook URLs, the events they get, how a body is signed, how hard to try."""
    table = r.optional_table("notify", NOTIFY_KEYS)
    if table is None:
        return None
    urls = r.get(
        "notify.urls", list, fix='give a list of webhook URLs, e.g. urls = ["https://chat.example.com/hooks/abc"]'
    )
    if not urls:
        raise r._fail("notify.urls", "is empty", "give at least one URL, or remove [notify]")
    for url in urls:
        parts = urlsplit(url) if isinstance(url, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise r._fail(
                "notify.urls",
                f"has {url!r}, which is not an http(s) URL",
                "give URLs like https://chat.example.com/hooks/abc",
            )
    events = r.get("notify.events", list, default=list(notify_lib.EVENTS))
    wrong = [e for e in events if e not in notify_lib.EVENTS]
    if wrong or not events:
        raise r._fail(
            "notify.events",
            f"has {', '.join(map(repr, wrong)) or 'no event'}",
            f"choose from {', '.join(notify_lib.EVENTS)}",
        )
    secret = r.path_of("notify.secret_file") if "secret_file" in table else None
    if secret is not None:
        try:
            mode = secret.stat().st_mode
        except OSError as exc:
            raise r._fail(
                "notify.secret_file",
                f"is {secret}, which cannot be read ({exc.strerror})",
                "create it with the shared secret on one line, mode 600",
            ) from None
        if mode & 0o007:
            raise r._fail(
                "notify.secret_file",
                f"is {secret}, which every user of this machine can read (mode {stat.S_IMODE(mode):o})",
                f"chmod 600 {secret} (or 640 for the orchestrator's group)",
            )
        try:
            if not secret.read_bytes().strip():
                raise r._fail("notify.secret_file", f"is {secret}, which is empty", "write the shared secret into it")
        except OSError as exc:
            raise r._fail(
                "notify.secret_file",
                f"is {secret}, which cannot be read ({exc.strerror})",
                "make it readable by the orchestrator's user",
            ) from None
    timeout = r.seconds("notify.timeout", 5)
    if timeout > 60:
        raise r._fail(
            "notify.timeout", f"is {timeout:g}", "give at most 60 seconds: a receiver slower than that is down"
        )
    retries = r.get("notify.retries", int, default=3, fix="give a whole number of retries, 0 to 10")
    if not 0 <= retries <= 10:
        raise r._fail("notify.retries", f"is {retries}", "give a whole number of retries, 0 to 10")
    return notify_lib.Settings(tuple(urls), tuple(events), secret, timeout, retries)


DASHBOARD_KEYS = ("listen", "token_file", "refresh_seconds")


def _dashboard(r: _Reader) -> dashboard_lib.Settings:
    """[dashboard], checked: a token file others can read is refused here, before anything listens."""
    table = r.optional_table("dashboard", DASHBOARD_KEYS)
    if table is None:
        return dashboard_lib.Settings()
    listen = r.get("dashboard.listen", str, default=dashboard_lib.DEFAULT_LISTEN, fix='e.g. listen = "127.0.0.1:8088"')
    dashboard_lib.parse_listen(listen, f"{r.path}: [dashboard] listen")
    token_file = r.path_of("dashboard.token_file") if "token_file" in table else None
    if token_file is not None:
        dashboard_lib.read_token(token_file, f"{r.path}: [dashboard] token_file")
    refresh = r.seconds("dashboard.refresh_seconds", dashboard_lib.DEFAULT_REFRESH_SECONDS)
    if refresh < 1:
        raise r._fail("dashboard.refresh_seconds", f"is {refresh:g}", "give at least 1 second: each read runs Ansible")
    return dashboard_lib.Settings(listen, token_file, refresh)

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
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from orchestrator.errors import InputError
from orchestrator.flags import BRANCH

CONFIG_NAME = "orchestrator.toml"


@dataclass(frozen=True)
class Stage:
    command: str
    timeout: float


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
            raise self._fail(field, f"is {value!r} ({type(value).__name__}), not a {kind.__name__}", fix or "fix its type")
        return value

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
        raise InputError(f"{path} does not exist: pass --config with the orchestrator.toml to use "
                         "(orchestrator sandbox up writes one for the sandbox)") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path} is not valid TOML: {exc}") from None
    r = _Reader(path, data)
    repository = r.path_of("source.repository", fix="set it to the central repository's path")
    if not (repository / ".hg").is_dir() and not (repository / "HEAD").is_file() and not (repository / ".git").exists():
        raise InputError(f"{path}: [source] repository = {repository} is not a Mercurial or git repository; "
                         "point it at the central repository the hooks are installed in")
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
        build=Stage(r.get("build.command", str, fix='add command = "./build.sh" under [build]'), r.seconds("build.timeout", 600)),
        artifact=artifact,
        test=Stage(r.get("test.command", str, fix='add command = "./test.sh" under [test]'), r.seconds("test.timeout", 600)),
        inventory=r.path_of("deploy.inventory", fix="name the inventory to deploy to"),
        state_dir=r.path_of("deploy.state_directory", fix="name a directory for history and artifacts"),
        rescan_seconds=r.seconds("deploy.rescan_seconds", 5),
    )

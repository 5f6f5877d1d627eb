"""Deploy history in SQLite: every deploy, each stage's time, the outcome, each node's result."""

from __future__ import annotations

import errno
import getpass
import json
import os
import sqlite3
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from ansible_collections.orchestrator.fleet.plugins.module_utils.processes import identity, still_running
from orchestrator.errors import InputError

SCHEMA_VERSION = 7
# When each stage was reached. With [migrate]: expand runs from expand_started to expanded (under
# the lock, before any node is touched), the roll ends at rolled (every node done and baked),
# contract runs from contract_started to contracted.
STAGES = (
    "pushed",
    "claimed",
    "built",
    "tested",
    "expand_started",
    "expanded",
    "deploy_started",
    "rolled",
    "contract_started",
    "contracted",
    "finished",
)
# A release's standing: deployed (rolled out, no bake), verified (passed its bake on every node),
# rejected (failed its health check or bake: the rule and numbers are kept), rolled_back (the
# fleet was taken back from it). The last known-good release is the newest deployed or verified.
RELEASE_STATUSES = ("deployed", "verified", "rejected", "rolled_back")
GOOD = ("verified", "deployed")

SCHEMA = """
CREATE TABLE deploys (
    id             INTEGER PRIMARY KEY,
    trigger        TEXT NOT NULL,      -- hg, git, manual, watcher-recovery
    revision       TEXT,
    branch         TEXT,
    release_id     TEXT,
    sha256         TEXT,
    pushed         REAL, claimed REAL, built REAL, tested REAL, deploy_started REAL, finished REAL,
    outcome        TEXT NOT NULL,      -- running, deployed, failed, rejected, interrupted, unchanged
    stage          TEXT,               -- where it ended: export, build, test, artifact, deploy
    message        TEXT,
    output_tail    TEXT,
    flags          INTEGER NOT NULL DEFAULT 0,
    artifacts      TEXT
);
CREATE TABLE node_results (
    deploy_id      INTEGER NOT NULL REFERENCES deploys(id),
    node           TEXT NOT NULL,
    old_release    TEXT,
    new_release    TEXT,
    outcome        TEXT NOT NULL,      -- done, failed, untouched
    phases         TEXT,               -- JSON: phase -> seconds
    PRIMARY KEY (deploy_id, node)
);
"""

# Version 2: the release ledger.
LEDGER = """
CREATE TABLE releases (
    release_id     TEXT PRIMARY KEY,
    version        TEXT,
    sha256         TEXT,
    status         TEXT NOT NULL,      -- deployed, verified, rejected, rolled_back
    changed        REAL NOT NULL,      -- when the status last changed
    deployed       REAL,               -- when it last went live on the whole fleet
    deploy_id      INTEGER,
    reason         TEXT                -- the rule and numbers of a rejection, or why it was rolled back
);
"""


# Version 3: the judge's verdict on each node of each deploy, with every number (the report of
# the haproxy_bake module: each metric's values on both sides, sample sizes, p-values, thresholds).
VERDICTS = """
CREATE TABLE verdicts (
    deploy_id      INTEGER NOT NULL REFERENCES deploys(id),
    node           TEXT NOT NULL,
    release_id     TEXT NOT NULL,
    verdict        TEXT NOT NULL,      -- pass, marginal, fail, inconclusive
    seconds        REAL,               -- bake time at the verdict
    summary        TEXT,               -- one line: the verdict and each metric's numbers
    report         TEXT NOT NULL,      -- JSON
    PRIMARY KEY (deploy_id, node)
);
"""


# Version 4: blue/green - the Tomcat slot each node's new release went into (the other slot kept
# the old release); empty for the rolling strategy.
SLOT_COLUMN = """
ALTER TABLE node_results ADD COLUMN slot TEXT;
"""


# Version 5: schema migrations - the migration stages' times, the schema each release runs with,
# and every contract migration that has run (a rollback to a release from before one is refused).
MIGRATIONS = """
ALTER TABLE deploys ADD COLUMN expand_started REAL;
ALTER TABLE deploys ADD COLUMN expanded REAL;
ALTER TABLE deploys ADD COLUMN rolled REAL;
ALTER TABLE deploys ADD COLUMN contract_started REAL;
ALTER TABLE deploys ADD COLUMN contracted REAL;
ALTER TABLE releases ADD COLUMN schema_expand INTEGER;    -- schema version once its expand ran
ALTER TABLE releases ADD COLUMN schema_contract INTEGER;  -- once its contract ran too
ALTER TABLE releases ADD COLUMN migrations TEXT;          -- JSON: the migration files of its revision
CREATE TABLE contracts (
    migration      TEXT PRIMARY KEY,   -- a contract migration's file name
    release_id     TEXT NOT NULL,      -- the release whose deploy ran it
    deploy_id      INTEGER NOT NULL,
    ran            REAL NOT NULL
);
"""


# Version 6: webhook notifications - each delivery's outcome (the URL without its path: it may
# hold a token).
DELIVERIES = """
CREATE TABLE deliveries (
    id             INTEGER PRIMARY KEY,
    deploy_id      INTEGER,
    event          TEXT NOT NULL,
    url            TEXT NOT NULL,
    outcome        TEXT NOT NULL,      -- delivered, failed, dropped
    attempts       INTEGER NOT NULL,
    status         INTEGER,            -- the receiver's last HTTP status
    error          TEXT,
    queued         REAL NOT NULL,
    finished       REAL NOT NULL
);
CREATE INDEX deliveries_by_deploy ON deliveries (deploy_id);
"""


# Version 7: what the dashboard draws and counts - each node's phases as spans of time (the
# rescue's steps as rescue/<phase>), written as the roll goes so a deploy in progress shows where
# each node is; the strategy of each deploy; and the operators' actions from the dashboard.
DASHBOARD = """
ALTER TABLE node_results ADD COLUMN spans TEXT;       -- JSON: phase -> [start, end], epoch seconds
ALTER TABLE deploys ADD COLUMN strategy TEXT;         -- rolling, bluegreen (empty: before version 7)
ALTER TABLE deploys ADD COLUMN owner TEXT;            -- the process running it, '<pid>:<start time>': a
                                                      -- 'running' deploy whose owner is gone was cut short
CREATE INDEX deploys_by_outcome ON deploys (outcome);
ALTER TABLE verdicts ADD COLUMN results TEXT;         -- 'errors=pass latency=pass tail=fail': each metric's
UPDATE verdicts SET results = (                       -- verdict against the old release, counted by /metrics
    SELECT group_concat(json_extract(m.value, '$.name') || '=' || json_extract(m.value, '$.verdict'), ' ')
    FROM json_each(verdicts.report, '$.metrics') m
    WHERE COALESCE(json_extract(m.value, '$.against'), 'old') = 'old');
CREATE INDEX verdicts_results ON verdicts (results, verdict);  -- counted without reading the reports
CREATE TABLE actions (
    id             INTEGER PRIMARY KEY,
    at             REAL NOT NULL,
    verb           TEXT NOT NULL,      -- pause, resume, abort, promote, rollback, maintenance-on, maintenance-off
    who            TEXT NOT NULL,      -- the name given with the token, and the client's address
    outcome        TEXT NOT NULL,      -- done, refused
    message        TEXT                -- what the orchestrator answered
);
"""


@dataclass(frozen=True)
class Contract:
    migration: str
    release_id: str
    deploy_id: int
    ran: float


@dataclass
class Verdict:
    deploy_id: int
    node: str
    release_id: str
    verdict: str
    seconds: float | None
    summary: str | None
    report: dict

    def as_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class Release:
    release_id: str
    version: str | None
    sha256: str | None
    status: str
    changed: float
    deployed: float | None
    deploy_id: int | None
    reason: str | None
    schema_expand: int | None = None
    schema_contract: int | None = None
    migrations: list[str] | None = None  # the migration files of its revision (None: not known)

    def as_dict(self) -> dict:
        return dict(self.__dict__)

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Release:
        data = dict(row)
        data["migrations"] = json.loads(data["migrations"]) if data.get("migrations") else None
        return cls(**data)


@dataclass(frozen=True)
class Action:
    """What an operator asked for from the dashboard, and the answer."""

    id: int
    at: float
    verb: str
    who: str
    outcome: str
    message: str | None


@dataclass
class DeployRecord:
    id: int
    trigger: str
    revision: str | None
    branch: str | None
    release_id: str | None
    sha256: str | None
    outcome: str
    stage: str | None
    message: str | None
    output_tail: str | None
    flags: int
    artifacts: str | None
    times: dict[str, float | None]
    nodes: list[dict]
    verdicts: list[dict]
    deliveries: list[dict] = field(default_factory=list)  # its webhook notifications' outcomes
    strategy: str | None = None  # rolling or bluegreen (None: recorded before the history kept it)

    def as_dict(self) -> dict:
        return dict(self.__dict__)


class History:
    def __init__(self, state_dir: Path, *, writable: bool = True):
        """Open (and make, or bring up to date) the history in ``state_dir``.

        ``writable``: the caller will record deploys, so the directory must take writes; checked
        here, before anything else is done, so that a deploy never starts and then cannot say
        how it ended. Either way a directory that cannot be used is an InputError naming it.
        """
        state_dir = Path(state_dir)
        self.path = state_dir / "history.sqlite"
        try:
            if writable:
                require_writable(state_dir)
            self.db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            self.db.row_factory = sqlite3.Row
            self.db.execute("PRAGMA journal_mode=WAL")
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
            # each version adds to the one before; one transaction: a crash leaves no half-made schema
            steps = [SCHEMA, LEDGER, VERDICTS, SLOT_COLUMN, MIGRATIONS, DELIVERIES, DASHBOARD]
            missing = "".join(steps[version:]) if version < SCHEMA_VERSION else None
            if missing is not None:
                self.db.executescript(f"BEGIN; {missing} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;")
        except (OSError, sqlite3.Error) as exc:
            raise InputError(unusable(state_dir, exc, writable=writable)) from None
        if missing is None and version != SCHEMA_VERSION:
            raise InputError(
                f"{self.path} has schema {version}; this orchestrator reads {SCHEMA_VERSION}: "
                "it was written by a newer orchestrator; upgrade this one"
            )

    def close(self) -> None:
        self.db.close()

    def start(
        self,
        trigger: str,
        *,
        revision: str | None = None,
        branch: str | None = None,
        pushed: float | None = None,
        claimed: float | None = None,
        flags: int = 0,
    ) -> int:
        cur = self.db.execute(
            "INSERT INTO deploys (trigger, revision, branch, pushed, claimed, outcome, flags, owner)"
            " VALUES (?, ?, ?, ?, ?, 'running', ?, ?)",
            (trigger, revision, branch, pushed, claimed, flags, identity(os.getpid())),
        )
        return int(cur.lastrowid)

    def update(self, deploy_id: int, **fields) -> None:
        allowed = {
            "revision",
            "branch",
            "release_id",
            "sha256",
            "outcome",
            "stage",
            "message",
            "output_tail",
            "artifacts",
            "strategy",
            *STAGES,
        }
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"unknown history fields {unknown}")
        if not fields:
            return
        cols = ", ".join(f"{k} = ?" for k in fields)
        self.db.execute(f"UPDATE deploys SET {cols} WHERE id = ?", (*fields.values(), deploy_id))

    def stage_reached(self, deploy_id: int) -> str:
        """Where a deploy that ended without saying so (its process died) was: from its stage times."""
        record = self.get(deploy_id)
        reached = [s for s in STAGES if record is not None and record.times.get(s)]
        last = reached[-1] if reached else "claimed"
        return {
            "pushed": "export",
            "claimed": "export",
            "built": "test",
            "tested": "lock",
            "expand_started": "expand",
            "expanded": "deploy",
            "deploy_started": "deploy",
            "rolled": "deploy",
            "contract_started": "contract",
            "contracted": "finish",
            "finished": "finish",
        }[last]

    def mark(self, deploy_id: int, stage: str) -> None:
        """Record that ``stage`` was reached now."""
        if stage not in STAGES:
            raise ValueError(stage)
        self.update(deploy_id, **{stage: time.time()})

    def record_nodes(self, deploy_id: int, nodes: list[dict]) -> None:
        """Each node's result: releases, outcome (done, failed, untouched; while the roll runs, the
        phase it is in), phases (phase -> seconds), spans (phase -> [start, end]), slot."""
        self.db.execute("BEGIN")
        try:
            for n in nodes:
                self.db.execute(
                    "INSERT OR REPLACE INTO node_results"
                    " (deploy_id, node, old_release, new_release, outcome, phases, slot, spans)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        deploy_id,
                        n["node"],
                        n.get("old"),
                        n.get("new"),
                        n["outcome"],
                        json.dumps(n.get("phases") or {}),
                        n.get("slot") or None,
                        json.dumps(n.get("spans") or {}),
                    ),
                )
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def last_deployed(self) -> DeployRecord | None:
        """The newest deploy (or rollback) that went live on the whole fleet: what the fleet runs."""
        row = self.db.execute("SELECT * FROM deploys WHERE outcome = 'deployed' ORDER BY id DESC LIMIT 1").fetchone()
        return self._record(row) if row else None

    def last_attempt(self, revision: str, *, besides: int) -> DeployRecord | None:
        """The newest deploy of ``revision`` (other than ``besides``) that ran to an outcome."""
        row = self.db.execute(
            "SELECT * FROM deploys WHERE revision = ? AND id != ? AND outcome NOT IN "
            "('running', 'interrupted', 'unchanged') ORDER BY id DESC LIMIT 1",
            (revision, besides),
        ).fetchone()
        return self._record(row) if row else None

    def running(self) -> list[int]:
        return [r[0] for r in self.db.execute("SELECT id FROM deploys WHERE outcome = 'running' ORDER BY id")]

    def cut_short(self) -> list[int]:
        """Deploys recorded as running whose process is gone (killed, or the machine restarted):
        nobody will record how they ended. (One from before owners were recorded counts too.)"""
        rows = self.db.execute("SELECT id, owner FROM deploys WHERE outcome = 'running' ORDER BY id")
        return [r[0] for r in rows if not still_running(r[1] or "")]

    def record_interrupted(self, deploy_id: int, why: str) -> str:
        """Close a deploy that was cut short: outcome interrupted, at the stage it had reached; returns that stage."""
        stage = self.stage_reached(deploy_id)
        self.update(deploy_id, outcome="interrupted", stage=stage, message=why)
        self.mark(deploy_id, "finished")
        return stage

    def list(self, limit: int = 20) -> list[DeployRecord]:
        rows = self.db.execute("SELECT * FROM deploys ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        return [self._record(r) for r in rows]

    def count(self, *, outcome: str | None = None) -> int:
        if outcome is None:
            return int(self.db.execute("SELECT count(*) FROM deploys").fetchone()[0])
        return int(self.db.execute("SELECT count(*) FROM deploys WHERE outcome = ?", (outcome,)).fetchone()[0])

    def get(self, deploy_id: int) -> DeployRecord | None:
        row = self.db.execute("SELECT * FROM deploys WHERE id = ?", (deploy_id,)).fetchone()
        return self._record(row) if row else None

    def _record(self, row: sqlite3.Row) -> DeployRecord:
        nodes = [
            dict(
                node=n["node"],
                old=n["old_release"],
                new=n["new_release"],
                outcome=n["outcome"],
                phases=json.loads(n["phases"] or "{}"),
                slot=n["slot"],
                spans=json.loads(n["spans"] or "{}"),
            )
            for n in self.db.execute("SELECT * FROM node_results WHERE deploy_id = ? ORDER BY node", (row["id"],))
        ]
        return DeployRecord(
            id=row["id"],
            trigger=row["trigger"],
            revision=row["revision"],
            branch=row["branch"],
            release_id=row["release_id"],
            sha256=row["sha256"],
            outcome=row["outcome"],
            stage=row["stage"],
            message=row["message"],
            output_tail=row["output_tail"],
            flags=row["flags"],
            artifacts=row["artifacts"],
            strategy=row["strategy"],
            times={s: row[s] for s in STAGES},
            nodes=nodes,
            verdicts=[
                dict(node=v.node, release_id=v.release_id, verdict=v.verdict, seconds=v.seconds, summary=v.summary)
                for v in self.verdicts(deploy_id=row["id"])
            ],
            deliveries=[
                {k: d[k] for k in d.keys() if k not in ("id", "deploy_id")}  # noqa: SIM118 - a Row iterates its values
                for d in self.db.execute("SELECT * FROM deliveries WHERE deploy_id = ? ORDER BY id", (row["id"],))
            ],
        )

    def record_delivery(self, delivery) -> None:
        """One webhook delivery's outcome (a notify.Delivery)."""
        self.db.execute(
            "INSERT INTO deliveries (deploy_id, event, url, outcome, attempts, status, error, queued, finished)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                delivery.deploy_id,
                delivery.event,
                delivery.url,
                delivery.outcome,
                delivery.attempts,
                delivery.status,
                delivery.error,
                delivery.queued,
                delivery.finished,
            ),
        )

    # --- the operators' actions ---

    def record_action(self, verb: str, who: str, outcome: str, message: str | None) -> None:
        self.db.execute(
            "INSERT INTO actions (at, verb, who, outcome, message) VALUES (?, ?, ?, ?, ?)",
            (time.time(), verb, who, outcome, message),
        )

    def actions(self, limit: int = 20) -> list[Action]:
        rows = self.db.execute("SELECT * FROM actions ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        return [Action(**dict(r)) for r in rows]

    # --- the judge's verdicts ---

    def record_verdicts(self, deploy_id: int, release_id: str, verdicts: dict[str, dict]) -> None:
        """Keep each node's last report from the bake (node -> haproxy_bake's report)."""
        for node, report in verdicts.items():
            results = " ".join(
                f"{m.get('name')}={m.get('verdict')}"
                for m in report.get("metrics") or []
                if isinstance(m, dict) and m.get("against", "old") == "old"
            )
            self.db.execute(
                "INSERT OR REPLACE INTO verdicts"
                " (deploy_id, node, release_id, verdict, seconds, summary, report, results)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    deploy_id,
                    node,
                    release_id,
                    str(report.get("verdict", "")),
                    report.get("seconds"),
                    report.get("summary"),
                    json.dumps(report, sort_keys=True),
                    results,
                ),
            )

    def verdicts(self, *, release_id: str | None = None, deploy_id: int | None = None) -> list[Verdict]:
        """Verdicts of a release (every deploy of it) or of one deploy, oldest first."""
        where, args = ("release_id = ?", (release_id,)) if release_id is not None else ("deploy_id = ?", (deploy_id,))
        rows = self.db.execute(f"SELECT * FROM verdicts WHERE {where} ORDER BY deploy_id, node", args).fetchall()
        return [
            Verdict(
                r["deploy_id"],
                r["node"],
                r["release_id"],
                r["verdict"],
                r["seconds"],
                r["summary"],
                json.loads(r["report"]),
            )
            for r in rows
        ]

    # --- the release ledger ---

    def set_release(
        self,
        release_id: str,
        status: str,
        *,
        version: str | None = None,
        sha256: str | None = None,
        deploy_id: int | None = None,
        reason: str | None = None,
    ) -> None:
        if status not in RELEASE_STATUSES:
            raise ValueError(status)
        now = time.time()
        deployed = now if status in GOOD else None
        self.db.execute(
            """INSERT INTO releases (release_id, version, sha256, status, changed, deployed, deploy_id, reason)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT(release_id) DO UPDATE SET status = excluded.status, changed = excluded.changed,
                   deployed = COALESCE(excluded.deployed, releases.deployed),
                   deploy_id = COALESCE(excluded.deploy_id, releases.deploy_id), reason = excluded.reason,
                   version = COALESCE(excluded.version, releases.version),
                   sha256 = COALESCE(excluded.sha256, releases.sha256)""",
            (release_id, version, sha256, status, now, deployed, deploy_id, reason),
        )

    def releases(self, *, status: str | None = None, offset: int = 0, limit: int = -1) -> list[Release]:
        """The ledger, newest first; only ``status``, ``limit`` of them from ``offset`` (-1: all)."""
        where, args = ("WHERE status = ?", (status,)) if status else ("", ())
        rows = self.db.execute(
            f"SELECT * FROM releases {where} ORDER BY COALESCE(deployed, changed) DESC LIMIT ? OFFSET ?",
            (*args, limit, offset),
        ).fetchall()
        return [Release.from_row(r) for r in rows]

    def release(self, release_id: str) -> Release | None:
        row = self.db.execute("SELECT * FROM releases WHERE release_id = ?", (release_id,)).fetchone()
        return Release.from_row(row) if row else None

    # --- the schema ---

    def set_schema(
        self, release_id: str, *, files: list[str], expand: int | None = None, contract: int | None = None
    ) -> None:
        """What the release's revision holds, and the schema version it runs with after each phase."""
        self.db.execute(
            """UPDATE releases SET migrations = ?, schema_expand = COALESCE(?, schema_expand),
                               schema_contract = COALESCE(?, schema_contract) WHERE release_id = ?""",
            (json.dumps(files), expand, contract, release_id),
        )

    def record_contracts(self, deploy_id: int, release_id: str, migrations: list[str]) -> None:
        """Contract migrations now applied; the first deploy that ran each one keeps it."""
        now = time.time()
        for migration in migrations:
            self.db.execute(
                "INSERT OR IGNORE INTO contracts VALUES (?, ?, ?, ?)", (migration, release_id, deploy_id, now)
            )

    def contracts(self) -> list[Contract]:
        return [Contract(**dict(r)) for r in self.db.execute("SELECT * FROM contracts ORDER BY ran")]

    def known_good(self) -> list[Release]:
        """Releases that went live and were not rejected or rolled back since, newest first."""
        return [r for r in self.releases() if r.status in GOOD]

    def last_known_good(self, *, besides: str | None = None) -> Release | None:
        return next((r for r in self.known_good() if r.release_id != besides), None)


# A deploy writes its WAR into the store, the run's artifacts (a few MB) and the history: with
# less than this free it would fail half-way, so it is refused before any node is touched.
MIN_FREE_BYTES = 16 << 20


def require_writable(state_dir: Path) -> None:
    """Make ``state_dir`` if needed and prove a file can be written in it, with room to spare
    (OSError if not: ENOSPC when its file system has less than MIN_FREE_BYTES free).

    A real write, not os.access: that says yes to root on a read-only file system.
    """
    state_dir.mkdir(parents=True, exist_ok=True)
    try:
        with tempfile.TemporaryFile(dir=state_dir, prefix=".writable-") as probe:
            probe.write(b"\0" * 65536)  # a block of data, not only an inode: a full disk refuses it
            probe.flush()
            os.fsync(probe.fileno())
        space = os.statvfs(state_dir)
        if space.f_bavail * space.f_frsize < MIN_FREE_BYTES:
            raise OSError(errno.ENOSPC, f"No space left on device ({space.f_bavail * space.f_frsize >> 20} MB free)")
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, str(state_dir)) from None
    history = state_dir / "history.sqlite"
    if history.exists() and not os.access(history, os.W_OK):
        raise PermissionError(13, "Permission denied", str(history))


def out_of_space(exc: BaseException) -> bool:
    """A write that failed because a file system (or a quota) is full, said by the OS or by SQLite."""
    if isinstance(exc, OSError):
        return exc.errno in (errno.ENOSPC, errno.EDQUOT)
    return isinstance(exc, sqlite3.Error) and "full" in str(exc)


def unusable(state_dir: Path, exc: BaseException, *, writable: bool) -> str:
    """What to say about a state directory that cannot be used, with the fix."""
    reason = f"{exc.strerror}: {exc.filename}" if isinstance(exc, OSError) and exc.strerror else str(exc)
    if out_of_space(exc):
        return (
            f"the state directory {state_dir} cannot be written ({reason}): its file system is full. Free some "
            f"space there (old deploys' artifacts under {state_dir / 'deploys'} can go), or choose another "
            "directory with --state-dir or [deploy] state_directory in orchestrator.toml"
        )
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = f"uid {os.getuid()}"
    return (
        f"the state directory {state_dir} cannot be {'written' if writable else 'read'} ({reason}): the "
        f"orchestrator keeps its history, deploy lock and WARs there. Make it writable for {user} "
        f"(chown -R {user} {state_dir}, or a read-write mount), or choose another with --state-dir or "
        "[deploy] state_directory in orchestrator.toml"
    )

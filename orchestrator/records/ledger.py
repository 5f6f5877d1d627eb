"""The release ledger: each release's standing (deployed, verified, rejected, rolled back) and the
schema it runs with; the contract migrations that have run."""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass

# A release's standing: deployed (rolled out, no bake), verified (passed its bake on every node),
# rejected (failed its health check or bake: the rule and numbers are kept), rolled_back (the
# fleet was taken back from it). The last known-good release is the newest deployed or verified.
RELEASE_STATUSES = ("deployed", "verified", "rejected", "rolled_back")
GOOD = ("verified", "deployed")


@dataclass(frozen=True)
class Contract:
    migration: str
    release_id: str
    deploy_id: int
    ran: float


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


class ReleaseLedger:
    db: sqlite3.Connection

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

    def standings(self) -> dict[str, str]:
        """Each release's status in the ledger, by release id."""
        return dict(self.db.execute("SELECT release_id, status FROM releases").fetchall())

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

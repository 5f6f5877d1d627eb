"""Maintenance mode: every load balancer answers 503 with Retry-After and a page, until turned off.

playbooks/maintenance.yml does the work on each load balancer (the admin socket at once, the
map file for reloads); the state directory keeps who turned it on and when, for `status` and
for the deploys that run meanwhile (allowed: they say so).
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path

from ansible_collections.orchestrator.fleet.plugins.module_utils import gate
from ansible_collections.orchestrator.fleet.plugins.module_utils.fsutil import write_atomic
from orchestrator.errors import DeployFailed, InputError
from orchestrator.fleet.runner import run_playbook
from orchestrator.project import playbook

RECORD = "maintenance.json"
MAX_MESSAGE = 2000


def turn(
    inventory: Path,
    state_dir: Path,
    *,
    on: bool,
    message: str = "Down for maintenance. Back soon.",
    retry_after: int = 300,
    by: str | None = None,
) -> dict[str, dict | None]:
    """Turn maintenance on or off on every load balancer; returns each one's state after it.
    ``by``: who asked, for the record (default: this process's user and host).

    Raises InputError for a message or Retry-After out of bounds, DeployFailed naming the load
    balancer that refused (the others keep what they were given: run it again).
    """
    if on and not message.strip():
        raise InputError("--message is empty: say what users should read (e.g. 'Back at 10:30 UTC')")
    if len(message) > MAX_MESSAGE:
        raise InputError(f"--message is {len(message)} characters; keep it under {MAX_MESSAGE}")
    if not 0 <= retry_after <= 86400:
        raise InputError(f"--retry-after is {retry_after}; give seconds from 0 to 86400")
    state_dir.mkdir(parents=True, exist_ok=True)
    run = run_playbook(
        playbook("maintenance.yml"),
        inventory=inventory,
        run_dir=state_dir / "maintenance" / datetime.now().strftime("%Y%m%dT%H%M%S%f"),
        extravars={
            "maintenance_state": "on" if on else "off",
            "maintenance_message": message,
            "maintenance_retry_after": retry_after,
        },
    )
    if not run.ok:
        failed = run.failures[0] if run.failures else None
        where = f"{failed.host}: {failed.message}" if failed else f"ansible-playbook ended {run.status}"
        raise DeployFailed(f"maintenance {'on' if on else 'off'} failed: {where}; see {run.artifacts}")
    record = {
        "on": on,
        "message": message if on else None,
        "retry_after": retry_after if on else None,
        "by": by or gate.who(),
        "since": time.time(),
    }
    write_atomic(state_dir / RECORD, json.dumps(record, sort_keys=True) + "\n", mode=0o664)
    return run.stats.get("maintenance", {})


def recorded(state_dir: Path) -> dict | None:
    """Who turned maintenance on, when and with what, if it is on (as the orchestrator last set it)."""
    try:
        record = json.loads((state_dir / RECORD).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and record.get("on") else None


def describe(record: dict) -> str:
    since = datetime.fromtimestamp(record.get("since") or 0).strftime("%Y-%m-%d %H:%M:%S")
    return (
        f"maintenance mode is on since {since}, by {record.get('by', '?')}: every request gets a 503 "
        f"(Retry-After {record.get('retry_after')}) with {record.get('message')!r}"
    )

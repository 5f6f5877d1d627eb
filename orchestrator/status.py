"""What `orchestrator status` reports: the deploy in progress, the last one, each node as it is now.

Read-only: the nodes and load balancers are read by playbooks/status.yml, the rest from the
state directory. `as_dict()` is what `status --json` prints for a CI job or a dashboard.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from orchestrator.control import gatekeeper as control
from orchestrator.control import maintenance
from orchestrator.errors import InputError, OrchestratorError
from orchestrator.fleet.inventory import load_fleet
from orchestrator.fleet.live import LiveState
from orchestrator.fleet.runner import run_playbook
from orchestrator.project import playbook
from orchestrator.records.deploys import DeployRecord
from orchestrator.records.history import History
from orchestrator.records.lock import DeployLock
from orchestrator.records.storage import require_writable, unusable


@dataclass
class Node:
    name: str  # an app server, or with blue/green one of its slots (node1-blue)
    release: str | None
    slot: str  # blue/green: live or idle; '' for the rolling strategy
    haproxy: dict[str, str]  # load balancer -> the server's status there
    weights: dict[str, str] = field(default_factory=dict)  # load balancer -> the server's weight there


@dataclass
class FleetStatus:
    deploy_in_progress: str | None  # who holds the deploy lock
    last_deploy: DeployRecord | None
    nodes: list[Node]
    mixed: str  # '' when every app server runs the same release
    release: str | None  # the one release, when not mixed
    old_slots_until: float | None  # blue/green: when the old slots' window closes
    problems: list[str] = field(default_factory=list)  # load balancers that do not answer, hosts unreachable
    # load balancer -> what it answers with in maintenance mode ({'message', 'retry_after'}), None: serving
    maintenance: dict[str, dict | None] = field(default_factory=dict)
    maintenance_by: dict | None = None  # who turned it on and when (the state directory's record)
    gate: dict | None = None  # the roll in progress stopped between batches: paused, or awaiting promotion
    cut_short: list[int] = field(default_factory=list)  # deploys recorded running whose process is gone

    def as_dict(self) -> dict:
        return {
            "deploy_in_progress": self.deploy_in_progress,
            "last_deploy": self.last_deploy.as_dict() if self.last_deploy else None,
            "nodes": [n.__dict__ for n in self.nodes],
            "mixed": self.mixed or None,
            "release": self.release,
            "old_slots_until": self.old_slots_until,
            "problems": self.problems,
            "maintenance": self.maintenance,
            "maintenance_by": self.maintenance_by,
            "gate": self.gate,
            "cut_short": self.cut_short,
        }

    @property
    def in_maintenance(self) -> list[str]:
        return sorted(lb for lb, state in self.maintenance.items() if state)


def read(inventory: Path, state_dir: Path, *, run_dir: Path | None = None) -> FleetStatus:
    """Everything `status` shows; ``run_dir``: where the Ansible run keeps its artifacts
    (default: a new directory under <state dir>/status)."""
    try:
        require_writable(state_dir)  # the status run keeps its artifacts there
    except OSError as exc:
        raise InputError(unusable(state_dir, exc, writable=True)) from None
    holder = DeployLock(state_dir).held_by()
    gate = control.current(state_dir)
    gate = gate if gate and gate.get("waiting") else None
    store = History(state_dir, writable=False)
    try:
        last = store.list(1)
        cut = store.cut_short()
    finally:
        store.close()
    run = run_playbook(
        playbook("status.yml"),
        inventory=inventory,
        run_dir=run_dir or state_dir / "status" / datetime.now().strftime("%Y%m%dT%H%M%S%f"),
    )
    if not run.stats and not run.failures:
        # the run ended without reading anything (stopped from outside, Ansible failed to start):
        # an empty table would read as "no nodes"
        raise OrchestratorError(
            f"could not read the fleet: ansible-playbook status.yml ended {run.status} (rc {run.rc}) without an "
            f"answer; its output is in {run.artifacts}"
        )
    releases = run.stats.get("releases", {})
    haproxy = run.stats.get("haproxy", {})
    weights = run.stats.get("haproxy_weights", {})
    slots = run.stats.get("slots", {})
    # blue/green: a row per slot (node1-blue), its release and whether it is the live one
    held = {
        f"{node}-{slot}": (release, "live" if slot == info["live"] else "idle")
        for node, info in slots.items()
        for slot, release in info["held"].items()
    }
    rows = {node: (release, "") for node, release in releases.items() if node not in slots} | held
    nodes = [
        Node(
            name,
            rows.get(name, (None, ""))[0] or None,
            rows.get(name, (None, ""))[1],
            {lb: states.get(name, "-") for lb, states in haproxy.items()},
            {lb: str(w[name]) for lb, w in weights.items() if name in w},
        )
        for name in sorted(set(rows) | {n for states in haproxy.values() for n in states})
    ]
    until = None
    if slots:
        until = max(info["since"] for info in slots.values()) + load_fleet(inventory).keep_seconds
    mixed = LiveState(releases, haproxy).mixed()
    problems = [
        f"{lb}: HAProxy does not answer: {message}"
        for lb, message in sorted(run.stats.get("haproxy_errors", {}).items())
    ]
    problems += [f"{f.host}: unreachable: {f.message}" for f in run.failures if f.kind == "runner_on_unreachable"]
    return FleetStatus(
        holder,
        last[0] if last else None,
        nodes,
        mixed,
        None if mixed or not releases else (next(iter(releases.values())) or None),
        until,
        problems,
        run.stats.get("maintenance", {}),
        maintenance.recorded(state_dir),
        gate,
        cut,
    )


def window_open(status: FleetStatus) -> bool:
    return status.old_slots_until is not None and status.old_slots_until > time.time()

"""Crash recovery, in one place: record what was cut short, bring every node back to a release
it can serve, in rotation, and the fleet to one release.

A deploy cut short (the watcher or `orchestrator deploy` killed, the machine rebooted) leaves
a history record that says 'running' with nobody to finish it, maybe its ansible-playbook
running on (it runs in a session of its own), a node drained or in maint, a Tomcat stopped, a
blue/green node with two slots or none in rotation, and a fleet on two releases. ``recover``:

1. under the deploy lock, stops the runs left behind (runner.stop_orphaned_runs), records each
   deploy whose process is gone as interrupted at the stage it reached, and runs
   playbooks/reconcile.yml (each node on its current release, else its previous one, in
   rotation, one at a time);
2. then settles the fleet on one release: by default the last known-good one (the nodes that
   had switched roll back, not judged: the ledger trusts it), ``to`` another known release, or
   with ``finish`` the interrupted release again, deployed and judged like any deploy.

Step 1 is here (``settle``, and ``reconcile`` which takes the lock for it), below the pipeline:
the watcher runs it when it starts after a crash, then deploys the interrupted revision again
itself (watcher.Watcher._recover), and a deploy with --recover runs it under its own lock. Step 2
rolls or deploys, so it lives with the rollback: rollback.recover, `orchestrator recover`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from orchestrator.errors import DeployFailed
from orchestrator.fleet import live
from orchestrator.fleet.inventory import load_fleet
from orchestrator.fleet.runner import run_playbook, stop_orphaned_runs
from orchestrator.project import playbook
from orchestrator.records.history import History
from orchestrator.records.lock import DeployLock


@dataclass
class Found:
    """What recovery found and did."""

    interrupted: list[tuple[int, str | None, str]] = field(default_factory=list)  # (deploy #, release, stage)
    orphans: list[int] = field(default_factory=list)
    releases: dict[str, str] = field(default_factory=dict)  # node -> release after the reconcile
    settled: str = ""  # what was done to bring the fleet to one release


def reconcile(
    inventory: Path,
    state_dir: Path,
    history: History,
    *,
    why: str,
    say: Callable[[str], None],
    strategy: str | None = None,
    lock_wait: bool = True,
) -> Found:
    """Step 1 under the deploy lock: see ``settle``."""
    with DeployLock(state_dir).acquire("recover", wait=lock_wait, on_wait=lambda who: say(f"waiting for {who}")):
        return settle(inventory, state_dir, history, why=why, say=say, strategy=strategy)


def settle(
    inventory: Path,
    state_dir: Path,
    history: History,
    *,
    why: str,
    say: Callable[[str], None],
    strategy: str | None = None,
) -> Found:
    """Orphans stopped, cut-short deploys recorded as interrupted (``why``), every node serving
    and in rotation, each node's release read. The caller holds the deploy lock."""
    found = Found()
    fleet = load_fleet(inventory).with_strategy(strategy)
    found.orphans = stop_orphaned_runs(state_dir)
    if found.orphans:
        say(f"stopped {len(found.orphans)} deploy run(s) left behind (pids {', '.join(map(str, found.orphans))})")
    for deploy_id in history.cut_short():
        record = history.get(deploy_id)
        stage = history.record_interrupted(deploy_id, why)
        release = record.release_id if record else None
        found.interrupted.append((deploy_id, release, stage))
        what = release or ((record.revision or "?")[:12] if record else "?")
        say(f"deploy #{deploy_id} of {what}: cut short at {stage}; recorded as interrupted")
    say("reconciling: every node on a release it can serve, and in rotation")
    result = run_playbook(
        playbook("reconcile.yml"),
        inventory=inventory,
        run_dir=state_dir / "reconcile" / f"{datetime.now():%Y%m%dT%H%M%S}",
        extravars={"deploy_strategy": strategy} if strategy else None,
    )
    if not result.ok:
        detail = "; ".join(f"{e.host}: {e.message}" for e in result.failures) or result.status
        raise DeployFailed(f"reconcile failed: {detail} (artifacts in {result.artifacts})")
    state = live.read(fleet, run_dir=state_dir / "reconcile" / f"{datetime.now():%Y%m%dT%H%M%S}-after")
    found.releases = dict(state.releases)
    for node, release in sorted(found.releases.items()):
        say(f"{node}: on {release or '(no release)'}, in rotation")
    say("reconciled")
    return found

"""Crash recovery, in one place: bring every node back to a release it can serve, in rotation.

A deploy cut short (the watcher or `orchestrator deploy` killed, the machine rebooted) can
leave its ansible-playbook running on (it runs in a session of its own), a node drained or in
maint, a Tomcat stopped, a blue/green node with two slots or none in rotation. ``recover``,
under the deploy lock, stops the runs left behind (runner.stop_orphaned_runs) and runs
playbooks/reconcile.yml: each node on its current release, else its previous one, and in
rotation, one node at a time. The watcher calls it when it starts after a crash (and first
records its interrupted deploys, then deploys their revision again: watcher.Watcher._recover);
operators run it as `orchestrator recover`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from orchestrator.errors import DeployFailed
from orchestrator.lock import DeployLock
from orchestrator.project import playbook
from orchestrator.runner import run_playbook, stop_orphaned_runs


def recover(
    inventory: Path,
    state_dir: Path,
    *,
    say: Callable[[str], None] = print,
    strategy: str | None = None,
    lock_wait: bool = True,
) -> None:
    """``strategy`` overrides the inventory's deploy_strategy, as ``watch --strategy`` does for its deploys."""
    with DeployLock(state_dir).acquire("recover", wait=lock_wait, on_wait=lambda who: say(f"waiting for {who}")):
        orphans = stop_orphaned_runs(state_dir)
        if orphans:
            say(f"stopped {len(orphans)} deploy run(s) left behind (pids {', '.join(map(str, orphans))})")
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
    say("reconciled")

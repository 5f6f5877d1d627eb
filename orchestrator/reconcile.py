"""Bring every node back to a known state (playbooks/reconcile.yml), under the deploy lock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from orchestrator.config import Config
from orchestrator.errors import DeployFailed
from orchestrator.lock import DeployLock
from orchestrator.project import playbook
from orchestrator.runner import run_playbook, stop_orphaned_runs


def run(config: Config, *, say: Callable[[str], None] = print, strategy: str | None = None) -> None:
    """``strategy`` overrides the inventory's deploy_strategy, as ``watch --strategy`` does for its deploys."""
    with DeployLock(config.state_dir).acquire("reconcile", on_wait=lambda who: say(f"waiting for {who}")):
        orphans = stop_orphaned_runs(config.state_dir)
        if orphans:
            say(f"stopped {len(orphans)} deploy run(s) left behind (pids {', '.join(map(str, orphans))})")
        say("reconciling: every node on a release it can serve, and in rotation")
        result = run_playbook(
            playbook("reconcile.yml"),
            inventory=config.inventory,
            run_dir=config.state_dir / "reconcile" / f"{datetime.now():%Y%m%dT%H%M%S}",
            extravars={"deploy_strategy": strategy} if strategy else None,
        )
    if not result.ok:
        detail = "; ".join(f"{e.host}: {e.message}" for e in result.failures) or result.status
        raise DeployFailed(f"reconcile failed: {detail} (artifacts in {result.artifacts})")
    say("reconciled")

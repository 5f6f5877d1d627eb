"""Blue/green beyond the roll itself: the instant switch back, and the end of the keep window.

A blue/green deploy (roles/webapp/tasks/bluegreen.yml) leaves each node's old slot running, in
maint, for ``bluegreen_keep_seconds``. Inside that window going back is one HAProxy switch per
node (playbooks/switch.yml), no JVM started; once it is over the old slots are stopped
(playbooks/promote.yml): by a process the deploy leaves waiting for that moment, by the next
deploy (it stops the idle slot before it installs), or by ``orchestrator promote --old-slots``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import orchestrator
from ansible_collections.orchestrator.fleet.plugins.module_utils.processes import owned_pid, terminate
from orchestrator.errors import DeployFailed
from orchestrator.fleet.inventory import Fleet
from orchestrator.fleet.runner import Event, RunResult, run_playbook
from orchestrator.project import playbook
from orchestrator.records.lock import DeployLock

# The waiting promote process, for the next deploy (or `sandbox down`) to find and replace.
PROMOTE_PID = "promote.pid"
PROMOTE_MARKER = "promote --after"
# The directory holding the orchestrator package: the waiting promote process imports it from there.
PACKAGE_PARENT = Path(orchestrator.__file__).resolve().parent.parent


class SwitchRefused(DeployFailed):
    """A node's idle slot cannot take traffic back (stopped, another release): nothing was switched."""


def switch_back(
    fleet: Fleet,
    release_id: str,
    version: str | None,
    *,
    state_dir: Path,
    limit: list[str] | None = None,
    on_event: Callable[[Event], None] | None = None,
) -> RunResult:
    """Put every node (or those in ``limit``) back on its idle slot, which must run ``release_id``.

    Raises SwitchRefused (before any switch) when a node's idle slot does not hold the release or
    does not answer healthy, DeployFailed when the switch itself failed.
    """
    extravars = {"release": release_id, "deploy_strategy": "bluegreen"}
    if version:
        extravars["release_version"] = version
    hosts = [*limit, *fleet.loadbalancers] if limit else None
    run = run_playbook(
        playbook("switch.yml"),
        inventory=fleet.inventory,
        extravars=extravars,
        on_event=on_event,
        run_dir=state_dir / "switches" / f"{datetime.now():%Y%m%dT%H%M%S}-{release_id}",
        limit=hosts,
    )
    if run.ok:
        return run
    said = (
        "; ".join(e.message if e.message.startswith(f"{e.host}:") else f"{e.host}: {e.message}" for e in run.failures)
        or f"ansible-playbook ended {run.status} (rc {run.rc})"
    )
    if any(e.phase == "preflight" for e in run.failures):
        raise SwitchRefused(said)
    raise DeployFailed(f"switching back to {release_id} failed: {said} (artifacts in {run.artifacts})")


def promote(fleet: Fleet, *, state_dir: Path, now: bool = True) -> list[str]:
    """Stop the old slots: all of them (``now``), or those whose keep window is over. Returns the
    nodes whose old slot was stopped. A slot still in rotation is never stopped: the run fails
    naming it.
    """
    stopped: list[str] = []

    def heard(event: Event) -> None:
        if event.kind == "runner_on_ok" and event.phase == "stop" and event.result.get("changed"):
            stopped.append(event.host)

    run = run_playbook(
        playbook("promote.yml"),
        inventory=fleet.inventory,
        run_dir=state_dir / "promotions" / f"{datetime.now():%Y%m%dT%H%M%S}",
        on_event=heard,
        extravars={"bluegreen_promote_now": now, "deploy_strategy": "bluegreen"},
    )
    if not run.ok:
        said = "; ".join(f"{e.host}: {e.message}" for e in run.failures) or f"ended {run.status} (rc {run.rc})"
        raise DeployFailed(f"stopping the old slots failed: {said} (artifacts in {run.artifacts})")
    return sorted(stopped)


def schedule_promote(inventory: Path, state_dir: Path, seconds: float) -> int:
    """Leave a process that stops the old slots once ``seconds`` have passed; returns its PID.

    It replaces the one an earlier deploy left (that window is over: this deploy stopped the
    idle slots before it used them). The process takes the deploy lock, so it never runs
    during a deploy, and stops only slots whose own window is over (see promote.yml).
    """
    cancel_promote(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    log = open(state_dir / "promote.log", "ab")
    try:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "orchestrator",
                *PROMOTE_MARKER.split(),
                f"{seconds:g}",
                "--inventory",
                str(inventory),
                "--state-dir",
                str(state_dir),
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=dict(os.environ, PYTHONPATH=str(PACKAGE_PARENT)),
        )
    finally:
        log.close()
    (state_dir / PROMOTE_PID).write_text(f"{proc.pid}\n")
    return proc.pid


def cancel_promote(state_dir: Path) -> int | None:
    """Stop the waiting promote process, if any; returns its PID."""
    pid = owned_pid(state_dir / PROMOTE_PID, PROMOTE_MARKER)
    if pid is not None:
        terminate(pid, timeout=5)
    return pid


def promote_now(inventory: Path, state_dir: Path, *, wait: bool, on_wait: Callable[[str], None]) -> list[str]:
    """`promote --old-slots`: under the deploy lock, stop every old slot now (the waiting promote
    process is cancelled: nothing is left for it). Returns the nodes whose old slot was stopped."""
    from orchestrator.fleet.inventory import load_fleet

    fleet = load_fleet(inventory)
    with DeployLock(state_dir).acquire("orchestrator promote --old-slots", wait=wait, on_wait=on_wait):
        cancel_promote(state_dir)
        return promote(fleet, state_dir=state_dir, now=True)


def promote_when_due(inventory: Path, state_dir: Path, seconds: float, *, say: Callable[[str], None]) -> None:
    """Wait ``seconds``, then, under the deploy lock, stop the old slots whose window is over."""
    from orchestrator.fleet.inventory import load_fleet

    time.sleep(max(0.0, seconds))
    with DeployLock(state_dir).acquire("stopping the old blue/green slots"):
        stopped = promote(load_fleet(inventory), state_dir=state_dir, now=False)
    say(f"{datetime.now():%Y-%m-%d %H:%M:%S} old slots stopped on {', '.join(stopped) or 'no node'}")

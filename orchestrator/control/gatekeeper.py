"""What operators ask of a running roll: pause, resume, abort, promote (the CLI's library side).

The roll reads these between batches (plugins/modules/deploy_gate.py); see plugins/module_utils/gate.py for the
files. Each request needs a roll to act on: asked of nothing, it is an InputError (exit 2) that
says what is going on instead, so a script never believes it paused or promoted something.
"""

from __future__ import annotations

from pathlib import Path

from ansible_collections.orchestrator.fleet.plugins.module_utils import gate
from orchestrator.errors import InputError
from orchestrator.records.lock import DeployLock


def current(state_dir: Path) -> dict | None:
    """The gate of the roll in progress ({'waiting': ..., ...}), or None when nothing rolls."""
    control = gate.read(str(state_dir / gate.CONTROL))
    if not control.get("deploy") or DeployLock(state_dir).held_by() is None:
        return None  # the last roll's files, or one that died: nothing is rolling
    state = gate.read(str(state_dir / gate.GATE))
    return state if state.get("deploy") == control["deploy"] else {"deploy": control["deploy"], "waiting": None}


def _rolling(state_dir: Path, what: str) -> dict:
    state = current(state_dir)
    if state is None:
        holder = DeployLock(state_dir).held_by()
        doing = (
            f"{holder} holds the deploy lock but is not rolling yet (it builds, tests or migrates)"
            if holder
            else "no deploy is running"
        )
        raise InputError(f"nothing to {what}: {doing}; a roll takes {what} requests between its batches")
    return state


def pause(state_dir: Path, by: str | None = None) -> str:
    state = _rolling(state_dir, "pause")
    if state.get("waiting") == "paused":
        return f"already {gate.describe(state)}"
    gate.request(str(state_dir / gate.CONTROL), "paused", by)
    return (
        f"pausing deploy {state['deploy']}: the batch in progress finishes, the next one waits; "
        "'orchestrator resume' goes on, 'orchestrator abort' stops it"
    )


def resume(state_dir: Path, by: str | None = None) -> str:
    _rolling(state_dir, "resume")
    control = gate.read(str(state_dir / gate.CONTROL))
    if not control.get("paused"):
        raise InputError("nothing to resume: the deploy in progress is not paused ('orchestrator status' shows it)")
    gate.request(str(state_dir / gate.CONTROL), "resumed", by)
    return "resumed: the roll goes on with the next batch"


def abort(state_dir: Path, by: str | None = None) -> str:
    state = _rolling(state_dir, "abort")
    gate.request(str(state_dir / gate.CONTROL), "aborted", by)
    return (
        f"aborting deploy {state['deploy']}: it stops after the batch in progress and applies "
        "deploy_failure_policy (rollback: the nodes already on the release go back)"
    )


def promote(state_dir: Path, by: str | None = None) -> str:
    state = current(state_dir)
    if state is None or state.get("waiting") != "promotion":
        doing = (
            "no deploy is running"
            if state is None
            else (
                "the deploy in progress is paused, not waiting for promotion ('orchestrator resume')"
                if state.get("waiting") == "paused"
                else "the deploy in progress is not at its promotion gate"
            )
        )
        raise InputError(
            f"nothing is waiting for promotion: {doing}. (To stop blue/green's old slots now: "
            "'orchestrator promote --old-slots'.)"
        )
    gate.request(str(state_dir / gate.CONTROL), "promoted", by)
    return f"promoted: the roll goes on with {', '.join(state.get('next') or []) or 'the next batch'}"

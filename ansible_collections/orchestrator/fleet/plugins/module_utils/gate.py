"""Pause, resume, abort and promote a running deploy: files in the state directory.

Standard library only: the deploy_gate module (run on the controller before each batch of
playbooks/deploy.yml) imports this same file as ansible.module_utils.gate.

- ``control.json`` holds what operators asked of the running deploy: paused, aborted, promoted
  (each with who and when). The deploy writes a fresh one as it starts; `orchestrator pause`,
  `resume`, `abort` and `promote` change it, from any shell of any user who may write the state
  directory (written atomically, group-writable).
- ``gate.json`` is what the gate is doing now: waiting (paused, or for promotion after the
  canary), for which batch, since when, until when; or ``watch``: the release judged after the
  roll (webapp_bake_inconclusive watch). `status` shows it; the deploy tells it.

The gate sits between batches: a pause or an abort takes effect after the node (the batch) in
progress, never in the middle of one; HAProxy's states are left as they are.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import time

from ansible_collections.orchestrator.fleet.plugins.module_utils.fsutil import write_atomic

CONTROL = "control.json"
GATE = "gate.json"
PAUSE_AFTER = ("", "canary")
ON_TIMEOUT = ("abort", "promote")


def who() -> str:
    try:
        return f"{getpass.getuser()}@{socket.gethostname()}"
    except (KeyError, OSError):
        return f"uid {os.getuid()}"


def read(path: str) -> dict:
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write(path: str, data: dict) -> None:
    """Atomically, readable and writable by the state directory's group (another operator)."""
    write_atomic(path, json.dumps(data, sort_keys=True) + "\n", mode=0o664)


def request(control_path: str, what: str, by: str | None = None) -> dict:
    """Record an operator's request (paused, resumed, aborted, promoted) on the running deploy's
    control; ``by``: who asked (default: this process's user and host)."""
    control = read(control_path)
    stamp = {"by": by or who(), "at": time.time()}
    if what == "resumed":
        control.pop("paused", None)
        control["resumed"] = stamp
    else:
        control[what] = stamp
    write(control_path, control)
    return control


def waiting(control: dict, *, canary_done: bool, pause_after: str) -> str | None:
    """What the gate waits for now: 'aborted' (stop), 'paused', 'promotion', or None (go on)."""
    if control.get("aborted"):
        return "aborted"
    if control.get("paused"):
        return "paused"
    if pause_after == "canary" and canary_done and not control.get("promoted"):
        return "promotion"
    return None


def describe(gate: dict) -> str:
    """One line for `status` and the deploy's output."""
    since = time.strftime("%H:%M:%S", time.localtime(gate.get("since") or 0))
    batch = ", ".join(gate.get("next") or []) or "the next batch"
    if gate.get("waiting") == "paused":
        return (
            f"PAUSED by {gate.get('by') or '?'} since {since}, before {batch}: 'orchestrator resume' goes on, "
            "'orchestrator abort' stops it"
        )
    if gate.get("waiting") == "watch":
        until = time.strftime("%H:%M:%S", time.localtime(gate.get("until") or 0))
        return (
            f"WATCHING {gate.get('release') or 'the release'} after the roll since {since}, until {until}: its verdict "
            "was open (webapp_bake_inconclusive watch); a fail rolls the fleet back, a pass makes it verified"
        )
    until = time.strftime("%H:%M:%S", time.localtime(gate["timeout_at"])) if gate.get("timeout_at") else "forever"
    why = f" (the judge gave no verdict: {gate['reason']})" if gate.get("reason") else ""
    return (
        f"WAITING FOR PROMOTION since {since}, after the canary{why}, before {batch}: 'orchestrator promote' goes on, "
        f"'orchestrator abort' rolls the canary back; until {until}, then {gate.get('on_timeout', 'abort')}"
    )

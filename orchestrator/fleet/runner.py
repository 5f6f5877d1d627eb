"""Run a playbook through ansible-runner and hand its events on as typed objects.

ansible-runner's private-data-dir layout is kept (one directory per run, artifacts inside),
the same layout AWX executes jobs through.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ansible_runner

from ansible_collections.orchestrator.fleet.plugins.module_utils.processes import identity, still_running
from orchestrator.project import project_dir

# Every run's environment carries its run directory, so a run left behind by a killed
# orchestrator can be found again (ansible-runner starts ansible-playbook in a session of its
# own with SIGHUP ignored: it outlives its parent).
RUN_MARKER = "ORCHESTRATOR_RUN_DIR"
# ... and the orchestrator process that started it (PID and start time: a PID alone may have
# been reused), so that only runs whose owner is gone count as left behind: a `status`, a `plan`
# or a dashboard reading the fleet while a deploy starts is never stopped by it.
RUN_OWNER = "ORCHESTRATOR_RUN_OWNER"

# Task names are "<phase> | what it does"; these are the phases a node goes through.
DEPLOY_PHASES = (
    "ship",
    "reach",
    "capacity",
    "drain",
    "stop",
    "install",
    "start",
    "verify",
    "enable",
    "bake",
    "watch",
    "rescue",
    "add",
    "remove",
)
# The phases of the other tasks: checks, the load balancers' and the other playbooks' own work.
# A node makes no step of its roll in them; the progress view passes them by.
OTHER_PHASES = (
    "preflight",
    "baseline",
    "gate",
    "haproxy",
    "tomcat",
    "webapp",
    "migrate",
    "provision",
    "reconcile",
    "status",
    "switch",
    "promote",
    "join",
    "maintenance",
)


@dataclass(frozen=True)
class Event:
    """One ansible-runner event, with the fields the orchestrator reads."""

    kind: str  # runner_on_ok, runner_on_failed, playbook_on_stats, ...
    created: datetime
    host: str
    task: str
    play: str
    ignore_errors: bool
    result: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_runner(cls, data: dict[str, Any]) -> Event:
        event_data = data.get("event_data") or {}
        created = data.get("created")
        return cls(
            kind=data.get("event", ""),
            created=datetime.fromisoformat(created)
            if created
            else datetime.now(UTC).replace(tzinfo=None),  # as runner's: naive UTC
            host=event_data.get("host") or "",
            task=event_data.get("task") or "",
            play=event_data.get("play") or "",
            ignore_errors=bool(event_data.get("ignore_errors")),
            result=event_data.get("res") or {},
            raw=data,
        )

    @property
    def phase(self) -> str:
        """The part of the task name before ' | ', e.g. 'drain'."""
        head, sep, _ = self.task.partition(" | ")
        return head.strip() if sep else ""

    @property
    def is_failure(self) -> bool:
        return (self.kind == "runner_on_failed" and not self.ignore_errors) or self.kind == "runner_on_unreachable"

    @property
    def message(self) -> str:
        """The failure message of a failed task; for a loop, the first failed item's own."""
        for item in self.result.get("results") or []:
            if isinstance(item, dict) and item.get("failed") and item.get("msg"):
                return str(item["msg"])
        msg = self.result.get("msg")
        if not msg and self.result.get("assertion"):
            msg = f"assertion failed: {self.result['assertion']}"
        return str(msg or self.result.get("stderr") or "no message")


@dataclass(frozen=True)
class RunResult:
    status: str  # successful, failed, canceled, timeout
    rc: int
    artifacts: Path
    stats: dict[str, Any]
    failures: tuple[Event, ...]

    @property
    def ok(self) -> bool:
        return self.status == "successful" and self.rc == 0


def run_playbook(
    playbook: Path,
    *,
    inventory: Path | list[Path],
    run_dir: Path,
    extravars: dict[str, Any] | None = None,
    on_event: Callable[[Event], None] | None = None,
    stop: threading.Event | None = None,
    limit: list[str] | None = None,
) -> RunResult:
    """Run ``playbook`` against ``inventory`` (one source or several); ``run_dir`` keeps the runner's artifacts.

    ``stop`` is polled as runner's cancel_callback: passing our own keeps runner from installing
    signal handlers of its own. Setting it kills ansible-playbook's process group (no rescue
    runs), so it is for emergencies only.
    """
    failures: list[Event] = []
    stats: dict[str, Any] = {}
    observer_failed: list[str] = []

    def handle(data: dict[str, Any]) -> bool:
        event = Event.from_runner(data)
        if event.is_failure:
            failures.append(event)
        if event.kind == "playbook_on_stats":
            stats.update(data.get("event_data", {}).get("artifact_data") or {})
        if on_event is not None:
            try:
                on_event(event)
            except Exception:
                # An exception here would end ansible-runner's run in the middle of a node, with
                # it drained. What watches the run must never stop it: said once, and the run goes on.
                if not observer_failed:
                    observer_failed.append(event.task)
                    print(
                        f"orchestrator: reading the deploy's events failed at task '{event.task}' (the deploy "
                        f"goes on; its report may be incomplete):\n{traceback.format_exc()}",
                        file=sys.stderr,
                    )
        return True  # keep the event in the artifacts

    project = project_dir()
    bin_dir = os.path.dirname(sys.executable)
    envvars = {
        "ANSIBLE_CONFIG": str(project / "ansible.cfg"),
        # ansible-playbook from the same environment as this orchestrator
        "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
        "ANSIBLE_NOCOLOR": "1",
        RUN_MARKER: str(run_dir.resolve()),
        RUN_OWNER: identity(os.getpid()),
    }
    run_dir.mkdir(parents=True, exist_ok=True)
    runner = ansible_runner.run(
        private_data_dir=str(run_dir),
        project_dir=str(project),
        playbook=str(playbook),
        inventory=[str(i) for i in inventory] if isinstance(inventory, list) else str(inventory),
        extravars=extravars or {},
        envvars=envvars,
        suppress_env_files=True,
        event_handler=handle,
        cancel_callback=(lambda: stop.is_set()) if stop is not None else (lambda: False),
        quiet=True,
        ident="run",
        limit=",".join(limit) if limit else None,
    )
    return RunResult(
        status=runner.status,
        rc=runner.rc if runner.rc is not None else -1,
        artifacts=run_dir / "artifacts" / "run",
        stats=stats,
        failures=tuple(failures),
    )


def _owner_alive(environ: list[bytes]) -> bool:
    marker = (RUN_OWNER + "=").encode()
    owner = next((var[len(marker) :].decode() for var in environ if var.startswith(marker)), "")
    # (a run from before owners were recorded has none: its owner is not known to live)
    return still_running(owner)


def orphaned_runs(state_dir: Path) -> list[int]:
    """PIDs of ansible-playbook session leaders started by a run under ``state_dir`` whose
    orchestrator process is gone.

    Call it while holding the deploy lock: then no deploy run of a live orchestrator exists,
    and the runs of live readers (status, plan, the dashboard) are left alone.
    """
    prefix = (RUN_MARKER + "=" + str(Path(state_dir).resolve()) + os.sep).encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        try:
            if os.getsid(pid) != pid:
                continue
            environ = Path(f"/proc/{pid}/environ").read_bytes()
        except (OSError, ProcessLookupError):
            continue
        variables = environ.split(b"\0")
        if any(var.startswith(prefix) for var in variables) and not _owner_alive(variables):
            found.append(pid)
    return found


def stop_orphaned_runs(state_dir: Path, *, timeout: float = 10.0) -> list[int]:
    """Stop every orphaned run's process group (SIGTERM, then SIGKILL); returns their PIDs."""
    pids = orphaned_runs(state_dir)
    for pid in pids:
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    for pid in pids:
        while _group_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _group_alive(pid):
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    return pids


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True

"""Roll a WAR across the fleet: playbooks/deploy.yml through ansible-runner, followed event by
event (each node's phases, the judge's verdicts, faults the roll did not cause, the gate).

``prepare`` checks the WAR and the inventory (nothing runs); ``roll_out`` runs the playbook.
The pipeline (pipeline.deploy_war) wraps this in the lock, the ledger and the history.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from ansible_collections.orchestrator.fleet.plugins.module_utils import gate as gate_lib
from ansible_collections.orchestrator.fleet.plugins.module_utils import warfile
from orchestrator.errors import DeployFailed, InputError, OrchestratorError
from orchestrator.fleet.inventory import SLOTS, Fleet, load_fleet
from orchestrator.fleet.runner import Event, RunResult, run_playbook
from orchestrator.project import playbook
from orchestrator.rollout.progress import DeployProgress, NodeProgress

# Verdicts of the judge (plugins/module_utils/judge.py) with which a node counts as verified.
PASSING = ("pass", "marginal")
# Phases in which the deploy itself holds a node out of rotation: HAProxy's checks failing on
# it then are the deploy's doing. Anywhere else a server DOWN is a fault of its own, to be named.
HELD_PHASES = ("drain", "stop", "install", "start", "verify")


@dataclass(frozen=True)
class War:
    path: Path
    sha256: str
    version: str
    release_id: str

    @classmethod
    def inspect(cls, path: Path, *, require_version: bool = True) -> War:
        try:
            facts = warfile.inspect(str(path), require_version=require_version)
        except ValueError as exc:
            raise InputError(f"{exc}; pass --war with the path of a built .war file") from None
        return cls(Path(path).resolve(), facts["war_sha256"], facts["war_version"], facts["war_release_id"])


@dataclass(frozen=True)
class RolloutResult:
    """What a deploy did; ``updated`` are the nodes that completed the switch to the new release."""

    run_name: str  # the run's directory under <state dir>/deploys/ (not the history's deploy #)
    war: War
    fleet: Fleet
    nodes: dict[str, NodeProgress]
    releases: dict[str, dict[str, str]]  # node -> {"old": ..., "new": ...}
    run: RunResult
    seconds: float
    # node -> the judge's last report on it (haproxy_bake's `report`, plus its one-line `message`)
    verdicts: dict[str, dict] = field(default_factory=dict)
    # what happened to the fleet that the deploy did not do: a server gone DOWN, a node put
    # back in rotation behind its back (see Incidents)
    incidents: tuple[str, ...] = ()

    @property
    def updated(self) -> list[str]:
        return [
            n
            for n in self.fleet.appservers
            if self.nodes.get(n)
            and _switched(self.nodes[n])
            and self.releases.get(n, {}).get("old") != self.war.release_id
        ]

    @property
    def verified(self) -> bool:
        """Every judged node passed its bake with a verdict (pass or marginal), and one was judged."""
        return bool(self.verdicts) and all(v.get("verdict") in PASSING for v in self.verdicts.values())

    def unverified(self) -> str:
        """Why a deploy that went through is not verified ('' when it is)."""
        if not self.verdicts:
            return "no node was judged (no bake, or no old release to compare with)"
        return "; ".join(
            f"{node} passed without a verdict: {v.get('reasons') or v.get('summary')}"
            for node, v in self.verdicts.items()
            if v.get("verdict") not in PASSING
        )

    def rejection(self) -> str | None:
        """The judge's reasons and numbers for a failed bake (or watch), or a failed health check, for the ledger."""
        for event in self.run.failures:
            if event.phase in ("bake", "watch", "verify"):
                said = event.message
                return said if said.startswith(f"{event.host}") else f"{event.host}: {said}"
        return None


def _switched(node: NodeProgress) -> bool:
    """The node finished its switch to the new release: done, or failed only after it (the
    release's watch after the roll, webapp_bake_inconclusive watch), with no rescue to undo it."""
    return node.phase == "done" or (node.phase == "failed" and not node.rescued and "watch" in node.spans)


def failure_message(run: RunResult) -> tuple[str, bool]:
    """(message, before_any_node_was_touched) from a failed run's events."""
    if not run.failures:
        return f"ansible-playbook ended {run.status} (rc {run.rc}); see {run.artifacts}", False
    # The rescue's final fail says everything; otherwise the first failure is the cause.
    final = [e for e in run.failures if e.phase == "rescue"]
    event = final[-1] if final else run.failures[0]
    if event.phase in ("rescue", "gate"):
        return event.message, False
    where = event.host or "ansible"
    if event.play.startswith("Preflight"):
        message = event.message if event.message.startswith(f"{where}:") else f"{where}: {event.message}"
        return f"preflight failed, nothing was changed: {message}", True
    if event.kind == "runner_on_unreachable":
        return f"{where} is unreachable in task '{event.task}': {event.message}", False
    return f"{where}: task '{event.task}' failed: {event.message}", False


class Incidents:
    """Faults the deploy did not cause, from the HAProxy modules' replies, each said once.

    Every ``haproxy_server`` task returns the status of every server in the backend, read live
    on the load balancer: a server DOWN there, or failing its checks, while the deploy is not
    holding it out of rotation, crashed or was stopped by someone else. ``expect_maint`` tasks
    return an ``incident`` when a node the deploy held in maint was found back in rotation. And a
    stop that found no Tomcat running (outside a rescue) means it had died before its turn.
    """

    def __init__(self, progress: DeployProgress, say: Callable[[str], None] | None = None, *, bluegreen: bool = False):
        self.progress, self.say, self.bluegreen = progress, say, bluegreen
        self.found: list[str] = []
        self._seen: set[tuple[str, str]] = set()
        # node -> the release it ran before the deploy ('' for none: nothing there to crash)
        self._before: dict[str, str] = {}

    def feed(self, event: Event) -> None:
        if event.kind not in ("runner_on_ok", "runner_on_failed"):
            return
        if event.phase == "ship" and isinstance(event.result.get("current"), str):
            self._before[event.host] = event.result["current"]
        node = self.progress.nodes.get(event.host)
        # (blue/green stops a node's idle slot, which is rightly not running as a rule; a restart
        # in one call, webapp_install's, reports its stop apart)
        stopped = event.result.get("stop", event.result)
        if (
            event.phase == "stop"
            and event.kind == "runner_on_ok"
            and isinstance(stopped, dict)
            and stopped.get("changed") is False
            and node is not None
            and not node.rescued
            and not self.bluegreen
        ):
            self._add(
                ("down", event.host),
                f"{event.host}: Tomcat was not running when the deploy came to stop it: "
                "it had crashed or been stopped by something else",
            )
        results = event.result.get("results")
        for reply in [event.result, *(results if isinstance(results, list) else [])]:
            if not isinstance(reply, dict):
                continue
            item = reply.get("item")
            lb = item if isinstance(item, str) else ""  # the loop is over the load balancers
            if isinstance(reply.get("incident"), str) and reply["incident"]:
                self._add(
                    ("put back", event.host), f"{event.host}: {reply['incident']}" + (f" (on {lb})" if lb else "")
                )
            statuses = reply.get("backend_status")
            for name, row in statuses.items() if isinstance(statuses, dict) else ():
                if isinstance(row, dict):
                    self._server(name, row, lb)

    def release_before(self, host: str) -> str | None:
        """The release ``host`` ran before the deploy, as its ship step read it ('' for none; None: not shipped)."""
        return self._before.get(host)

    def _server(self, name: str, row: dict, lb: str) -> None:
        status, check = str(row.get("status", "")), str(row.get("check", ""))
        host = self._host(name)
        if self._before.get(host) == "":
            return  # a node without a release yet fails its checks as it should
        node = self.progress.nodes.get(host)
        phase = node.phase if node else ""
        # blue/green holds only the idle slot out of rotation, and in maint (never DOWN), so a slot
        # DOWN is a fault in any phase but the rescue's
        if (phase in HELD_PHASES and not self.bluegreen) or phase.startswith("rescue"):
            return
        # a failed check on a server still UP is the first sign (DOWN comes after haproxy_check_fall
        # of them); a node the deploy has just put back is judged by its status alone
        failing = (
            status.startswith("UP")
            and not row.get("check_passed")
            and not row.get("never_checked")
            and bool(check)
            and phase not in ("enable", "bake")
        )
        if status.startswith("DOWN") or failing:
            self._add(
                ("down", name),
                f"{name} is {status} in HAProxy{' on ' + lb if lb else ''} (last check: "
                f"{check or 'none'}), and the deploy had not taken it out: it crashed or was "
                "stopped by something else",
            )

    def _host(self, server: str) -> str:
        """The app server an HAProxy server runs on: itself, or with blue/green <host>-<slot>'s host."""
        host, _, slot = server.rpartition("-")
        return host if self.bluegreen and slot in SLOTS and host else server

    def _add(self, key: tuple[str, str], message: str) -> None:
        if key in self._seen:
            return
        self._seen.add(key)
        self.found.append(message)
        if self.say is not None:
            self.say(message)


class GateWatch:
    """The gate's files for one run: a fresh control file before it, a watch on the gate file
    during it (``on_gate`` hears each change of what it waits for), both cleared after it."""

    def __init__(self, state_dir: Path, run_name: str, on_gate: Callable[[dict], None] | None, *, poll: float = 0.2):
        self.control, self.gate = str(state_dir / gate_lib.CONTROL), str(state_dir / gate_lib.GATE)
        self.run_name, self.on_gate, self.poll = run_name, on_gate, poll
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> GateWatch:
        Path(self.control).parent.mkdir(parents=True, exist_ok=True)
        gate_lib.write(self.control, {"deploy": self.run_name})
        gate_lib.write(self.gate, {"deploy": self.run_name, "waiting": None})
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()
        self._thread.join(timeout=5)
        gate_lib.write(self.gate, {"deploy": None, "waiting": None})
        gate_lib.write(self.control, {"deploy": None})

    def _watch(self) -> None:
        told = None
        while not self._done.wait(self.poll):
            state = gate_lib.read(self.gate)
            if state.get("deploy") != self.run_name or state.get("waiting") == told:
                continue
            told = state.get("waiting")
            if self.on_gate is not None:
                self.on_gate(state)


@dataclass(frozen=True)
class Rollout:
    """What a roll-out will do, checked before anything runs."""

    war: War
    fleet: Fleet
    serial: str | None


def prepare(war_path: Path, *, inventory: Path, serial: str | None = None, strategy: str | None = None) -> Rollout:
    """Check the WAR and the inventory; raises InputError naming what is wrong. ``strategy``
    (rolling or bluegreen) overrides the inventory's deploy_strategy."""
    fleet = load_fleet(inventory).with_strategy(strategy)
    return Rollout(War.inspect(war_path, require_version=not fleet.allow_unversioned), fleet, serial)


class RollListener:
    """What a roll tells as it goes. Each method does nothing here: a listener overrides those it
    wants to hear. Called from the runner's event thread (``gate`` from the gate watch's)."""

    def phase(self, node: NodeProgress, phase: str) -> None:
        """``node`` entered ``phase`` (drain, stop, install, ..., bake, done, failed)."""

    def event(self, event: Event) -> None:
        """Every event of the run, as ansible-runner reports it."""

    def verdict(self, node: str, report: dict) -> None:
        """The judge's last word on ``node``: the bake module's report."""

    def incident(self, message: str) -> None:
        """A fault the deploy did not cause (a server gone DOWN, a node put back by a reload)."""

    def gate(self, state: dict) -> None:
        """The gate between batches started or stopped waiting (state['waiting']: 'paused',
        'promotion', 'watch' or None)."""

    def switched(self, node: str, old: str, new: str) -> None:
        """``node`` is back in rotation on the release ``new`` (it ran ``old``; '' for none)."""


class PhaseListener(RollListener):
    """Hears only each node's phase."""

    def __init__(self, on_phase: Callable[[NodeProgress, str], None] | None):
        self.on_phase = on_phase

    def phase(self, node: NodeProgress, phase: str) -> None:
        if self.on_phase is not None:
            self.on_phase(node, phase)


def roll_out(
    rollout: Rollout,
    *,
    state_dir: Path,
    listener: RollListener | None = None,
    stop: threading.Event | None = None,
    limit: list[str] | None = None,
    keep_releases: list[str] | None = None,
    known_good: str | None = None,
    bake: bool = True,
) -> RolloutResult:
    """Run a prepared roll-out; raises InputError (nothing touched) or DeployFailed.

    The playbook's preflight checks what only Ansible can see (settings, every load balancer's
    admin socket) before any node is drained. ``known_good`` (why the release is trusted, e.g.
    "verified by deploy #4") skips the bake: a rollback to a release the ledger knows as good
    is not vetoed by the judge that just failed the release it replaces. ``bake=False`` rolls
    without the judge (maintenance mode: no user traffic reaches a node). ``limit``: these app
    servers only. Between batches the roll passes a gate (plugins/module_utils/gate.py) that
    `orchestrator pause`, `resume`, `abort` and `promote` work through. ``listener`` hears
    phases, verdicts, incidents, the gate and each node switched (RollListener).
    """
    listener = listener or RollListener()
    war, fleet, serial = rollout.war, rollout.fleet, rollout.serial
    began = datetime.now()
    # the run's name, for its directory of artifacts and the gate files (not the history's deploy #)
    run_name = f"{began:%Y%m%dT%H%M%S}-{war.release_id}"
    progress = DeployProgress(on_phase=listener.phase)
    incidents = Incidents(progress, listener.incident, bluegreen=fleet.strategy == "bluegreen")
    verdicts: dict[str, dict] = {}

    switched: set[str] = set()

    def handle(event: Event) -> None:
        progress.feed(event)
        incidents.feed(event)
        node = progress.nodes.get(event.host)
        before = incidents.release_before(event.host)
        if (
            event.kind == "runner_on_ok"
            and event.phase == "enable"
            and node is not None
            and not node.rescued
            and event.host not in switched
            and before != war.release_id
        ):
            switched.add(event.host)
            listener.switched(event.host, before or "", war.release_id)
        report = event.result.get("report") if event.phase in ("bake", "watch") else None
        if isinstance(report, dict) and event.kind in ("runner_on_ok", "runner_on_failed"):
            verdicts[event.host] = dict(
                report, message=event.message if event.is_failure else event.result.get("msg", "")
            )
            # an open verdict goes on in the next step: only the bake's last word is told
            if not (report.get("verdict") == "inconclusive" and not event.result.get("final")):
                listener.verdict(event.host, verdicts[event.host])
        listener.event(event)

    extravars: dict = {"war": str(war.path), "deploy_strategy": fleet.strategy}
    if serial is not None:
        extravars["deploy_serial"] = serial
    if keep_releases:
        extravars["deploy_keep_releases"] = list(keep_releases)
    if known_good:
        extravars["webapp_bake_known_good"] = known_good
    if not bake:
        extravars["webapp_bake_seconds"] = 0
    if known_good:
        extravars["deploy_pause_after"] = ""  # a rollback does not wait for a promotion
    extravars.update(deploy_control_dir=str(state_dir), deploy_control_id=run_name)
    # a limit names app servers; the load balancers always take part (they drain and enable them)
    hosts = [*limit, *fleet.loadbalancers] if limit else None
    with GateWatch(state_dir, run_name, listener.gate):
        run = run_playbook(
            playbook("deploy.yml"),
            inventory=fleet.inventory,
            run_dir=state_dir / "deploys" / run_name,
            extravars=extravars,
            on_event=handle,
            stop=stop,
            limit=hosts,
        )
    failed_hosts = {e.host for e in run.failures}
    progress.finish(failed_hosts)
    if limit:
        fleet = replace(fleet, appservers=tuple(n for n in fleet.appservers if n in limit))
    result = RolloutResult(
        run_name,
        war,
        fleet,
        progress.nodes,
        run.stats.get("releases", {}),
        run,
        (datetime.now() - began).total_seconds(),
        verdicts,
        tuple(incidents.found),
    )
    if not run.ok:
        message, before_any_node = failure_message(run)
        error: OrchestratorError = (
            InputError(message) if before_any_node else DeployFailed(f"deploy {run_name} failed: {message}")
        )
        error.result = result
        raise error
    return result

"""`orchestrator apply`: make the fleet match the inventory (playbooks/apply.yml).

The inventory says which app servers there should be; HAProxy's live backends say which there
are. A host in the inventory but not behind every load balancer joins: Tomcat provisioned, the
last known-good release installed from the orchestrator's store, health-checked on the node,
then added to every load balancer by a seamless reload. A server behind a load balancer but
gone from the inventory retires: drained, stopped, dropped from the configuration. Both under
the deploy lock, so a deploy never sees the fleet half-changed.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from orchestrator.errors import DeployFailed, InputError
from orchestrator.fleet import live, roster
from orchestrator.fleet.inventory import Fleet, fingerprint, load_fleet
from orchestrator.fleet.runner import Event, run_playbook, stop_orphaned_runs
from orchestrator.project import playbook, stored_war
from orchestrator.records.history import History
from orchestrator.records.lock import DeployLock
from orchestrator.rollout.progress import DeployProgress, NodeProgress
from orchestrator.rollout.roll import War, failure_message


@dataclass(frozen=True)
class FleetChanges:
    """What apply would do (or did)."""

    fleet: Fleet
    add: tuple[str, ...]  # in the inventory, missing from some load balancer's backend
    remove: tuple[str, ...]  # in a backend, gone from the inventory
    kept_running: dict[str, str]  # of those removed, the ones whose Tomcat is not stopped, and why
    war: War | None  # the release new nodes get (None when nothing is added)

    @property
    def empty(self) -> bool:
        return not self.add and not self.remove

    def describe(self) -> list[str]:
        if self.empty:
            return [f"the fleet matches the inventory: {', '.join(self.fleet.appservers)}"]
        lines = []
        for node in self.add:
            assert self.war is not None  # a node to add gets the last known-good release (found() says)
            lines.append(
                f"add {node}: provision Tomcat, install {self.war.release_id} (sha256 {self.war.sha256[:16]}…), "
                "health-check it, then put it behind " + ", ".join(self.fleet.loadbalancers)
            )
        for node in self.remove:
            how = (
                f"drain it; its Tomcat is left running: {self.kept_running[node]}"
                if node in self.kept_running
                else "drain it, stop its Tomcat"
            )
            lines.append(f"remove {node}: {how}, then drop it from " + ", ".join(self.fleet.loadbalancers))
        return lines


def changes(fleet: Fleet, state: live.LiveState, *, history: History, state_dir: Path) -> FleetChanges:
    """Compare the inventory with the live backends; InputError when a new node has no release to get."""
    add = tuple(n for n in fleet.appservers if state.missing(n))
    remove = tuple(sorted(state.backend_servers() - set(fleet.appservers)))
    war = _release_for_new_nodes(add, fleet, history, state_dir) if add else None
    return FleetChanges(fleet, add, remove, roster.kept_running(list(remove), fleet.inventory, state_dir), war)


def _release_for_new_nodes(add: tuple[str, ...], fleet: Fleet, history: History, state_dir: Path) -> War:
    good = history.last_known_good()
    if good is None:
        raise InputError(
            f"{', '.join(add)} cannot join yet: no release has gone live, so there is no known-good "
            "release to give it; deploy one first (orchestrator deploy --war FILE), then run apply"
        )
    store = stored_war(state_dir, good.release_id)
    if not store.is_file():
        raise InputError(
            f"{', '.join(add)} cannot join: the last known-good release {good.release_id} is not in "
            f"{store.parent}; deploy it again (orchestrator deploy --war FILE) to put it back"
        )
    return War.inspect(store, require_version=not fleet.allow_unversioned)


@dataclass(frozen=True)
class ApplyResult:
    changes: FleetChanges
    nodes: dict[str, NodeProgress]
    warnings: dict[str, str]  # retired node -> why its Tomcat was left running
    seconds: float
    artifacts: Path | None


def apply(
    inventory: Path,
    *,
    state_dir: Path,
    history: History,
    check: bool = False,
    say: Callable[[str], None] = lambda message: None,
    on_phase: Callable[[NodeProgress, str], None] | None = None,
    on_event: Callable[[Event], None] | None = None,
    lock_wait: bool = True,
    should_stop: Callable[[], bool] = lambda: False,
    strategy: str | None = None,
) -> ApplyResult:
    """Bring the fleet in line with ``inventory``; with ``check``, only say what that takes.

    ``strategy`` overrides the inventory's deploy_strategy (``--strategy``): a joining node gets
    the slots of the strategy its fleet is deployed with.
    Raises InputError (nothing touched) or DeployFailed (naming the node and the step).
    """
    began = datetime.now()
    read_as = fingerprint(inventory)  # before reading it: an edit made meanwhile is seen as a change
    fleet = load_fleet(inventory).with_strategy(strategy)
    run_dir = Path(state_dir) / "apply" / began.strftime("%Y%m%dT%H%M%S%f")
    # a dry run only reads, like `plan`: it neither waits for a deploy nor holds one up
    lock = (
        nullcontext()
        if check
        else DeployLock(state_dir).acquire(
            "apply",
            wait=lock_wait,
            on_wait=lambda who: say(f"waiting for the deploy lock, held by {who}"),
            should_stop=should_stop,
        )
    )
    with lock:
        if not check:
            orphans = stop_orphaned_runs(state_dir)
            if orphans:
                say(f"stopped {len(orphans)} deploy run(s) left behind (pids {', '.join(map(str, orphans))})")
        found = changes(fleet, live.read(fleet, run_dir=run_dir / "status"), history=history, state_dir=state_dir)
        for line in found.describe():
            say(line)
        if check or found.empty:
            if not check:
                roster.remember(fleet.inventory, state_dir, applied=read_as)
            return ApplyResult(found, {}, {}, (datetime.now() - began).total_seconds(), None)
        return _run(found, run_dir, state_dir, began, on_phase, on_event, read_as, strategy)


def _run(
    found: FleetChanges,
    run_dir: Path,
    state_dir: Path,
    began: datetime,
    on_phase,
    on_event,
    read_as: str,
    strategy: str | None,
) -> ApplyResult:
    progress = DeployProgress(on_phase=on_phase)

    def handle(event: Event) -> None:
        progress.feed(event)
        if on_event is not None:
            on_event(event)

    sources = [found.fleet.inventory]
    if found.remove:
        sources.append(
            roster.write_retiring_inventory(
                list(found.remove), state_dir, run_dir / "retiring.json", found.kept_running
            )
        )
    extravars: dict[str, object] = {"apply_join": list(found.add)}
    if strategy is not None:
        extravars["deploy_strategy"] = strategy
    if found.war is not None:
        extravars["war"] = str(found.war.path)
    run = run_playbook(playbook("apply.yml"), inventory=sources, run_dir=run_dir, extravars=extravars, on_event=handle)
    progress.finish({e.host for e in run.failures})
    if not run.ok:
        message, before_any_node = failure_message(run)
        raise (InputError if before_any_node else DeployFailed)(f"apply failed: {message}")
    roster.remember(found.fleet.inventory, state_dir, applied=read_as)
    return ApplyResult(
        found,
        progress.nodes,
        run.stats.get("retire_warnings", {}),
        (datetime.now() - began).total_seconds(),
        run.artifacts,
    )

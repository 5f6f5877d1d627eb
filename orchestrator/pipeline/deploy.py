"""The deploy of one WAR: checked, stored, rolled out under the deploy lock with its migrations
around the roll, and every outcome recorded in the history and the release ledger.

A deploy is a DeployRequest (what to deploy, where, how) run as named steps by Deploy, in this
order: store the WAR, take the lock, settle a deploy cut short, run the expand migrations, roll,
record the roll, run the contract migrations, record the outcome and the release's standing. A
failed roll is answered by ``answer_failed_roll``. What the deploy tells goes to its Reporter;
what the roll tells comes to DeployListener.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from ansible_collections.orchestrator.fleet.plugins.module_utils import gate as gate_lib
from orchestrator.control import maintenance
from orchestrator.errors import DeployFailed, FleetShort, InputError, MixedFleet, OrchestratorError
from orchestrator.fleet import roster
from orchestrator.fleet.runner import stop_orphaned_runs
from orchestrator.pipeline import migrations as migrations_lib
from orchestrator.pipeline.outcome import ContractFailed, Stage, StageFailed, recorded
from orchestrator.pipeline.report import Reporter
from orchestrator.pipeline.stages import run_stage
from orchestrator.project import stored_war
from orchestrator.records.history import History
from orchestrator.records.lock import DeployLock
from orchestrator.rollout import bluegreen as bluegreen_lib
from orchestrator.rollout import roll as rollout
from orchestrator.rollout import undo
from orchestrator.rollout.progress import NodeProgress


@dataclass(frozen=True)
class DeployRequest:
    """One WAR to deploy, recorded as ``deploy_id``, and how.

    ``known_good`` (why the release is trusted) skips the judge: see ``rollout.roll_out``; a
    rollback sets it, and always settles a deploy cut short. ``strategy`` (rolling or bluegreen)
    overrides the inventory's deploy_strategy. ``migrations``: the release's expand migrations
    run before any node is touched (a failure deploys nothing), its contract migrations once
    every node is on it and has passed its bake (a failure leaves the fleet on it and raises
    ContractFailed once all is recorded). ``recover``: settle an earlier deploy found cut short
    (recorded running, its process gone) first, as `recover` does; without it such a deploy is
    refused (InputError naming `orchestrator recover`).
    """

    war: Path
    inventory: Path
    state_dir: Path
    deploy_id: int
    serial: str | None = None
    strategy: str | None = None
    known_good: str | None = None
    migrations: migrations_lib.Plan | None = None
    recover: bool = False
    lock_wait: bool = True
    should_stop: Callable[[], bool] = field(default=lambda: False)


def deploy_given_war(war: Path, *, history: History, report: Reporter, **options) -> rollout.RolloutResult:
    """``orchestrator deploy --war``: one WAR as it is, recorded as a manual deploy (see deploy_war)."""
    deploy_id = history.start("manual")
    with recorded(history, deploy_id, report) as where:
        return deploy_war(war, history=history, deploy_id=deploy_id, report=report, where=where, **options)


def deploy_war(
    war: Path,
    *,
    history: History,
    deploy_id: int,
    report: Reporter | None = None,
    where: Stage | None = None,
    **options,
) -> rollout.RolloutResult:
    """Check, store and roll out one WAR under the deploy lock, recording the result in
    ``deploy_id``; ``options`` are the rest of its DeployRequest (inventory and state_dir at least).
    ``where`` hears the stage reached (``recorded`` gives it)."""
    request = DeployRequest(war, deploy_id=deploy_id, **options)
    return Deploy(request, history, report or Reporter(), where or Stage()).run()


class Deploy:
    """One DeployRequest, run as its steps."""

    def __init__(self, request: DeployRequest, history: History, report: Reporter, stage: Stage):
        self.request, self.history, self.report, self.stage = request, history, report, stage
        self.id = request.deploy_id

    def run(self) -> rollout.RolloutResult:
        plan = self.store_war()
        with self.take_lock(plan):
            self.settle_earlier_deploys()
            behind_the_page = self.note_maintenance()
            self.migrate("expand")
            self.announce(plan)
            result = self.roll(plan, bake=not behind_the_page)
            self.record_roll(plan, result)
            contract_failed = self.contract(plan, result)
            self.record_outcome(plan, result, contract_failed)
        if contract_failed is not None:
            raise contract_failed
        return result

    # --- the steps, in order ---

    def store_war(self) -> rollout.Rollout:
        """The WAR checked and kept in the store (rollbacks and new nodes are served from it)."""
        request = self.request
        self.stage.reach("artifact")
        try:
            plan = rollout.prepare(
                request.war, inventory=request.inventory, serial=request.serial, strategy=request.strategy
            )
        except InputError as exc:
            raise StageFailed("artifact", str(exc)) from None
        store = stored_war(request.state_dir, plan.war.release_id)
        if not store.exists():
            store.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(plan.war.path, store.with_suffix(".tmp"))
            os.replace(store.with_suffix(".tmp"), store)
        war = rollout.War(store, plan.war.sha256, plan.war.version, plan.war.release_id)
        self.history.update(self.id, release_id=war.release_id, sha256=war.sha256, strategy=plan.fleet.strategy)
        return rollout.Rollout(war, plan.fleet, plan.serial)

    def take_lock(self, plan: rollout.Rollout) -> DeployLock:
        self.stage.reach("lock")
        return DeployLock(self.request.state_dir).acquire(
            f"deploy #{self.id} of {plan.war.release_id}",
            wait=self.request.lock_wait,
            on_wait=lambda who: self.report.say(f"waiting for the deploy lock, held by {who}"),
            should_stop=self.request.should_stop,
        )

    def settle_earlier_deploys(self) -> None:
        """Runs an orchestrator that died left behind are stopped; a deploy cut short is settled
        (with ``recover`` or a rollback) or refuses this one."""
        request = self.request
        orphans = stop_orphaned_runs(request.state_dir)
        if orphans:
            self.report.say(
                f"stopped {len(orphans)} deploy run(s) left behind by an orchestrator that died "
                f"(pids {', '.join(map(str, orphans))}); this deploy puts every node right"
            )
        cut = self.history.cut_short()
        if not cut:
            return
        if not (request.recover or request.known_good is not None):
            raise InputError(
                f"deploy #{cut[-1]} was cut short (its process is gone) and nothing settled it: the fleet may be on "
                "two releases, a node out of rotation. Run 'orchestrator recover' first (it says what it finds "
                "and brings the fleet to one release), or deploy --recover to settle it and deploy in one go"
            )
        from orchestrator.rollout import recovery  # only needed after a crash

        recovery.settle(
            request.inventory,
            request.state_dir,
            self.history,
            why=f"cut short; settled by deploy #{self.id}",
            say=self.report.say,
        )

    def note_maintenance(self) -> bool:
        """True when the load balancers show the maintenance page: the roll then goes unjudged."""
        in_maintenance = maintenance.recorded(self.request.state_dir)
        if in_maintenance:
            self.report.say(
                f"note: {maintenance.describe(in_maintenance)}. The deploy goes ahead behind the page: each "
                "node is health-checked on the node itself, and not baked (no user traffic reaches it to judge)"
            )
        return bool(in_maintenance)

    def migrate(self, phase: str) -> None:
        """Run one phase's command in the release's tree: its output kept like the build's, its times recorded."""
        migrations = self.request.migrations
        if migrations is None:
            return
        self.stage.reach(phase)
        pending = migrations.schema.of(phase)
        self.history.mark(self.id, f"{phase}_started")
        self.report.say(
            f"deploy #{self.id}: {phase}: {migrations.settings.command(phase).command} "
            f"({len(pending)} {phase} migration(s) in {migrations.schema.directory.name}/; the command applies the pending ones)"
        )
        work = self.request.state_dir / "work" / str(self.id)
        work.mkdir(parents=True, exist_ok=True)
        began = time.monotonic()
        run_stage(
            phase,
            migrations.settings.command(phase),
            migrations.tree,
            work / f"{phase}.log",
            migrations.command_env(dict(os.environ), phase),
        )
        self.history.mark(self.id, "expanded" if phase == "expand" else "contracted")
        self.report.say(f"deploy #{self.id}: {phase} done in {time.monotonic() - began:.1f}s")

    def announce(self, plan: rollout.Rollout) -> None:
        self.stage.reach("deploy")
        self.history.mark(self.id, "deploy_started")
        self.report.say(f"deploy #{self.id}: rolling out {plan.war.release_id} (sha256 {plan.war.sha256[:16]}…)")
        self.report.notify(
            "deploy_started",
            self.history,
            self.id,
            f"deploy #{self.id}: rolling out {plan.war.release_id} to {', '.join(plan.fleet.appservers)} "
            f"({plan.fleet.strategy})",
            release=plan.war.release_id,
            sha256=plan.war.sha256,
            nodes=list(plan.fleet.appservers),
            strategy=plan.fleet.strategy,
            rollback_of=self.request.known_good,
        )
        if not plan.war.version:
            self.report.say(
                f"warning: {self.request.war.name} has no Implementation-Version and deploy_allow_unversioned is set: "
                "the health gate asks each node for a 200 only, not for this release"
            )

    def roll(self, plan: rollout.Rollout, *, bake: bool) -> rollout.RolloutResult:
        """The roll itself; a failed one is answered (recorded, rolled back) and raised."""
        last_good = self.history.last_known_good(besides=plan.war.release_id)
        keep = [last_good.release_id] if last_good else []
        if plan.fleet.strategy == "bluegreen":
            # this deploy stops the idle slots itself before it uses them
            bluegreen_lib.cancel_promote(self.request.state_dir)
        try:
            return rollout.roll_out(
                plan,
                state_dir=self.request.state_dir,
                listener=DeployListener(self.report, self.history, self.id, plan.war.release_id),
                keep_releases=keep,
                known_good=self.request.known_good,
                bake=bake,
            )
        except DeployFailed as exc:
            raise self.answer_failed_roll(plan, exc, keep) from None

    def answer_failed_roll(self, plan: rollout.Rollout, exc: DeployFailed, keep: list[str]) -> DeployFailed:
        """Record a failed roll, reject its release (unless it was trusted), and put back the nodes
        it switched (deploy_failure_policy rollback); the error to raise, saying how the fleet stands."""
        partial, history, report = exc.result, self.history, self.report
        _record_nodes(history, self.id, partial)
        history.record_verdicts(self.id, plan.war.release_id, partial.verdicts)
        history.update(self.id, artifacts=str(partial.run.artifacts))
        if self.request.known_good is None:
            # a trusted release that fails (a rollback) keeps its standing: the fault may be the node's
            reason = partial.rejection() or str(exc)
            history.set_release(
                plan.war.release_id,
                "rejected",
                version=plan.war.version,
                sha256=plan.war.sha256,
                deploy_id=self.id,
                reason=reason,
            )
            report.notify(
                "release_rejected",
                history,
                self.id,
                f"release {plan.war.release_id} rejected: {reason}",
                release=plan.war.release_id,
                reason=reason,
                verdicts=partial.verdicts,
            )
        if not partial.updated:
            return _said_if_mixed(exc, partial, self.request.state_dir)
        if plan.fleet.failure_policy == "rollback":
            outcome = undo.roll_back_updated(
                partial, self.request.state_dir, keep, say=report.say, on_phase=report.on_phase
            )
            report.notify(
                "rolled_back",
                history,
                self.id,
                f"deploy #{self.id}: {outcome}",
                release=plan.war.release_id,
                nodes=partial.updated,
                to={n: partial.releases.get(n, {}).get("old") for n in partial.updated},
                outcome=outcome,
            )
            if plan.fleet.strategy == "bluegreen" and plan.fleet.keep_seconds > 0:
                # the slots it switched back from run the rejected release: out of the way soon
                bluegreen_lib.schedule_promote(plan.fleet.inventory, self.request.state_dir, plan.fleet.keep_seconds)
        else:
            outcome = f"deploy_failure_policy is 'stop': {', '.join(partial.updated)} stay on {plan.war.release_id}"
        return _said_if_mixed(DeployFailed(f"{exc}; {outcome}"), partial, self.request.state_dir)

    def record_roll(self, plan: rollout.Rollout, result: rollout.RolloutResult) -> None:
        """Recorded before the lock goes: the next deploy reads this one's outcome and the ledger."""
        self.history.mark(self.id, "rolled")
        _record_nodes(self.history, self.id, result)
        self.history.record_verdicts(self.id, plan.war.release_id, result.verdicts)
        # how to reach each node, for the day it leaves the inventory (orchestrator apply retires it)
        roster.remember(self.request.inventory, self.request.state_dir)

    def contract(self, plan: rollout.Rollout, result: rollout.RolloutResult) -> ContractFailed | None:
        """The contract migrations, once every node is on the release; a failure is returned, to
        be raised once all is recorded (the release is live either way)."""
        migrations = self.request.migrations
        if migrations is None:
            return None
        try:
            self.migrate("contract")
        except StageFailed as exc:
            failed = ContractFailed(
                f"{exc}. {plan.war.release_id} is live on every node; the schema still holds what the old "
                "release used. The next deploy runs the contract phase again"
            )
            failed.tail, failed.result = exc.tail, result
            return failed
        self.history.record_contracts(self.id, plan.war.release_id, [m.file for m in migrations.schema.of("contract")])
        return None

    def record_outcome(
        self, plan: rollout.Rollout, result: rollout.RolloutResult, contract_failed: ContractFailed | None
    ) -> None:
        """The deploy's outcome, the old blue/green slots' window, the release's standing and schema."""
        history, request = self.history, self.request
        said = [*result.incidents, *([str(contract_failed)] if contract_failed else [])]
        history.update(
            self.id,
            artifacts=str(result.run.artifacts),
            outcome="deployed",
            stage="contract" if contract_failed else "done",
            message="; ".join(said) or None,
            output_tail=contract_failed.tail if contract_failed else None,
        )
        history.mark(self.id, "finished")
        if plan.fleet.strategy == "bluegreen" and result.updated and plan.fleet.keep_seconds > 0:
            bluegreen_lib.schedule_promote(plan.fleet.inventory, request.state_dir, plan.fleet.keep_seconds)
            until = datetime.fromtimestamp(time.time() + plan.fleet.keep_seconds)
            self.report.say(
                f"the old slots keep running until {until:%H:%M:%S} (bluegreen_keep_seconds "
                f"{plan.fleet.keep_seconds:g}): 'orchestrator rollback' before then only switches HAProxy back; "
                "'orchestrator promote --old-slots' stops them now"
            )
        # a rollback to a release the ledger knows as good keeps its standing (verified stays verified)
        standing = history.release(plan.war.release_id) if request.known_good is not None else None
        if standing is None:
            history.set_release(
                plan.war.release_id,
                "verified" if result.verified else "deployed",
                version=plan.war.version,
                sha256=plan.war.sha256,
                deploy_id=self.id,
                reason=None if result.verified or not result.verdicts else result.unverified(),
            )
        else:
            history.set_release(plan.war.release_id, standing.status, deploy_id=self.id, reason=standing.reason)
        if request.migrations is not None:
            schema = request.migrations.schema
            history.set_schema(
                plan.war.release_id,
                files=schema.files,
                expand=schema.expand_version,
                contract=None if contract_failed else schema.version,
            )


class DeployListener(rollout.RollListener):
    """What the roll tells, as the deploy hears it: said through the Reporter, each node's phase
    and spans kept in the history as it goes (the dashboard, another process, shows where each
    node is), the webhooks told when the roll waits and when a node switches."""

    def __init__(self, report: Reporter, history: History, deploy_id: int, release_id: str):
        self.report, self.history, self.id, self.release_id = report, history, deploy_id, release_id

    def phase(self, node: NodeProgress, phase: str) -> None:
        if self.report.on_phase is not None:
            self.report.on_phase(node, phase)
        try:
            self.history.record_nodes(
                self.id,
                [{"node": node.name, "new": self.release_id, "outcome": phase, "spans": node.timeline()}],
            )
        except Exception as exc:  # the record of a phase is never worth a deploy; the end records all
            self.report.say(f"warning: {node.name}'s phase was not recorded: {type(exc).__name__}: {exc}")

    def verdict(self, node: str, report: dict) -> None:
        self.report.verdict(node, report)

    def incident(self, message: str) -> None:
        self.report.incident(message)

    def gate(self, state: dict) -> None:
        """The roll stopped between batches, or went on: said, and told when it stops."""
        self.report.gate(state)
        if state.get("waiting") in ("paused", "promotion"):
            self.report.notify(
                "paused",
                self.history,
                self.id,
                f"deploy #{self.id}: {gate_lib.describe(state)}",
                waiting=state["waiting"],
                by=state.get("by"),
                before=state.get("next"),
                since=state.get("since"),
                timeout_at=state.get("timeout_at"),
                on_timeout=state.get("on_timeout"),
            )

    def switched(self, node: str, old: str, new: str) -> None:
        self.report.notify(
            "node_switched",
            self.history,
            self.id,
            f"deploy #{self.id}: {node} serves {new} (was {old or 'empty'})",
            node=node,
            old=old or None,
            new=new,
        )


def _said_if_mixed(error: DeployFailed, partial: rollout.RolloutResult, state_dir: Path) -> DeployFailed:
    """The same error, or a MixedFleet naming which node runs what when the fleet is left on more
    than one release, or a FleetShort naming the nodes the rescue could not bring back."""
    from orchestrator.fleet import live

    lost = sorted(n for n, progress in partial.nodes.items() if progress.phase == "lost")
    if lost:
        short = FleetShort(
            f"{error}. THE FLEET IS SHORT: {', '.join(lost)} out of rotation with no release serving "
            "('orchestrator status' shows it; 'orchestrator recover' once the cause is fixed)"
        )
        short.result = partial
        return short

    try:
        state = live.read(partial.fleet, run_dir=state_dir / "status" / f"{partial.run_name}-after")
    except OrchestratorError as exc:
        mixed = f"what each node runs could not be read ({exc}): check 'orchestrator status'"
    else:
        mixed = state.mixed()
    if mixed:
        error = MixedFleet(f"{error}. THE FLEET IS MIXED: {mixed}")
    error.result = partial
    return error


def _record_nodes(history: History, deploy_id: int, result: rollout.RolloutResult) -> None:
    nodes = []
    for name in result.fleet.appservers:
        progress = result.nodes.get(name)
        change = result.releases.get(name, {})
        nodes.append(
            {
                "node": name,
                "old": change.get("old"),
                "new": change.get("new"),
                "slot": change.get("slot"),
                "outcome": progress.phase if progress else "untouched",
                "phases": {p: progress.seconds(p) for p in progress.spans} if progress else {},
                "spans": progress.timeline() if progress else {},
            }
        )
    history.record_nodes(deploy_id, nodes)

"""The deploy of one WAR: checked, stored, rolled out under the deploy lock with its migrations
around the roll, and every outcome recorded in the history and the release ledger.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from ansible_collections.orchestrator.fleet.plugins.module_utils import gate as gate_lib
from orchestrator.control import maintenance
from orchestrator.errors import DeployFailed, FleetShort, InputError, MixedFleet, OrchestratorError
from orchestrator.fleet import roster
from orchestrator.fleet.runner import stop_orphaned_runs
from orchestrator.pipeline import migrations as migrations_lib
from orchestrator.pipeline.outcome import ContractFailed, StageFailed, recorded
from orchestrator.pipeline.report import Reporter
from orchestrator.pipeline.stages import run_stage
from orchestrator.project import stored_war
from orchestrator.records.history import History
from orchestrator.records.lock import DeployLock
from orchestrator.rollout import bluegreen as bluegreen_lib
from orchestrator.rollout import roll as rollout
from orchestrator.rollout import undo


def deploy_given_war(war: Path, *, history: History, report: Reporter, **options) -> rollout.RolloutResult:
    """``orchestrator deploy --war``: one WAR as it is, recorded as a manual deploy (see deploy_war)."""
    deploy_id = history.start("manual")
    with recorded(history, deploy_id, report) as where:
        return deploy_war(war, history=history, deploy_id=deploy_id, report=report, where=where, **options)


def deploy_war(
    war: Path,
    *,
    inventory: Path,
    state_dir: Path,
    history: History,
    deploy_id: int,
    serial: str | None = None,
    report: Reporter | None = None,
    lock_wait: bool = True,
    should_stop: Callable[[], bool] = lambda: False,
    where: dict | None = None,
    known_good: str | None = None,
    strategy: str | None = None,
    migrations: migrations_lib.Plan | None = None,
    recover: bool = False,
) -> rollout.RolloutResult:
    """Check, store and roll out one WAR under the deploy lock, recording the result in ``deploy_id``.

    An earlier deploy found cut short (recorded running, its process gone) is refused (InputError,
    naming `orchestrator recover`) unless ``recover``: then it is settled first, as `recover` does
    (recorded interrupted, every node back in rotation); a rollback (``known_good``) always settles.

    ``known_good`` (why the release is trusted) skips the judge: see ``rollout.roll_out``.
    ``strategy`` (rolling or bluegreen) overrides the inventory's deploy_strategy.
    ``migrations``: the release's expand migrations run before any node is touched (a failure
    deploys nothing), its contract migrations once every node is on it and has passed its bake
    (a failure leaves the fleet on it and raises ContractFailed once all is recorded).
    """
    report = report or Reporter()
    where = where if where is not None else {}
    where["stage"] = "artifact"
    try:
        plan = rollout.prepare(war, inventory=inventory, serial=serial, strategy=strategy)
    except InputError as exc:
        raise StageFailed("artifact", str(exc)) from None
    # Every deployed WAR is kept: rollbacks and new nodes are served from this store.
    store = stored_war(state_dir, plan.war.release_id)
    if not store.exists():
        store.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(plan.war.path, store.with_suffix(".tmp"))
        os.replace(store.with_suffix(".tmp"), store)
    plan = rollout.Rollout(
        rollout.War(store, plan.war.sha256, plan.war.version, plan.war.release_id), plan.fleet, plan.serial
    )
    history.update(deploy_id, release_id=plan.war.release_id, sha256=plan.war.sha256, strategy=plan.fleet.strategy)
    where["stage"] = "lock"
    lock = DeployLock(state_dir).acquire(
        f"deploy #{deploy_id} of {plan.war.release_id}",
        wait=lock_wait,
        on_wait=lambda who: report.say(f"waiting for the deploy lock, held by {who}"),
        should_stop=should_stop,
    )
    with lock:
        orphans = stop_orphaned_runs(state_dir)
        if orphans:
            report.say(
                f"stopped {len(orphans)} deploy run(s) left behind by an orchestrator that died "
                f"(pids {', '.join(map(str, orphans))}); this deploy puts every node right"
            )
        cut = history.cut_short()
        if cut and not (recover or known_good is not None):
            raise InputError(
                f"deploy #{cut[-1]} was cut short (its process is gone) and nothing settled it: the fleet may be on "
                "two releases, a node out of rotation. Run 'orchestrator recover' first (it says what it finds "
                "and brings the fleet to one release), or deploy --recover to settle it and deploy in one go"
            )
        if cut:
            from orchestrator.rollout import recovery  # only needed after a crash

            recovery.settle(
                inventory, state_dir, history, why=f"cut short; settled by deploy #{deploy_id}", say=report.say
            )
        in_maintenance = maintenance.recorded(state_dir)
        if in_maintenance:
            report.say(
                f"note: {maintenance.describe(in_maintenance)}. The deploy goes ahead behind the page: each "
                "node is health-checked on the node itself, and not baked (no user traffic reaches it to judge)"
            )
        if migrations is not None:
            _migrate(migrations, "expand", history, deploy_id, state_dir, report, where)
        where["stage"] = "deploy"
        history.mark(deploy_id, "deploy_started")
        report.say(f"deploy #{deploy_id}: rolling out {plan.war.release_id} (sha256 {plan.war.sha256[:16]}…)")
        report.notify(
            "deploy_started",
            history,
            deploy_id,
            f"deploy #{deploy_id}: rolling out {plan.war.release_id} to {', '.join(plan.fleet.appservers)} "
            f"({plan.fleet.strategy})",
            release=plan.war.release_id,
            sha256=plan.war.sha256,
            nodes=list(plan.fleet.appservers),
            strategy=plan.fleet.strategy,
            rollback_of=known_good,
        )
        if not plan.war.version:
            report.say(
                f"warning: {war.name} has no Implementation-Version and deploy_allow_unversioned is set: "
                "the health gate asks each node for a 200 only, not for this release"
            )
        last_good = history.last_known_good(besides=plan.war.release_id)
        keep = [last_good.release_id] if last_good else []
        bluegreen = plan.fleet.strategy == "bluegreen"
        if bluegreen:
            # this deploy stops the idle slots itself before it uses them
            bluegreen_lib.cancel_promote(state_dir)
        try:
            result = rollout.roll_out(
                plan,
                state_dir=state_dir,
                on_phase=_recording_phases(report, history, deploy_id, plan.war.release_id),
                on_verdict=report.verdict,
                on_incident=report.incident,
                keep_releases=keep,
                known_good=known_good,
                bake=not in_maintenance,
                on_gate=lambda state: _gate(report, history, deploy_id, state),
                on_switched=lambda node, old, new: report.notify(
                    "node_switched",
                    history,
                    deploy_id,
                    f"deploy #{deploy_id}: {node} serves {new} (was {old or 'empty'})",
                    node=node,
                    old=old or None,
                    new=new,
                ),
            )
        except DeployFailed as exc:
            partial = exc.result
            _record_nodes(history, deploy_id, partial)
            history.record_verdicts(deploy_id, plan.war.release_id, partial.verdicts)
            history.update(deploy_id, artifacts=str(partial.run.artifacts))
            if known_good is None:
                # a trusted release that fails (a rollback) keeps its standing: the fault may be the node's
                reason = partial.rejection() or str(exc)
                history.set_release(
                    plan.war.release_id,
                    "rejected",
                    version=plan.war.version,
                    sha256=plan.war.sha256,
                    deploy_id=deploy_id,
                    reason=reason,
                )
                report.notify(
                    "release_rejected",
                    history,
                    deploy_id,
                    f"release {plan.war.release_id} rejected: {reason}",
                    release=plan.war.release_id,
                    reason=reason,
                    verdicts=partial.verdicts,
                )
            if not partial.updated:
                raise _said_if_mixed(exc, partial, state_dir) from None
            if plan.fleet.failure_policy == "rollback":
                outcome = undo.roll_back_updated(partial, state_dir, keep, say=report.say, on_phase=report.on_phase)
                report.notify(
                    "rolled_back",
                    history,
                    deploy_id,
                    f"deploy #{deploy_id}: {outcome}",
                    release=plan.war.release_id,
                    nodes=partial.updated,
                    to={n: partial.releases.get(n, {}).get("old") for n in partial.updated},
                    outcome=outcome,
                )
                if bluegreen and plan.fleet.keep_seconds > 0:
                    # the slots it switched back from run the rejected release: out of the way soon
                    bluegreen_lib.schedule_promote(plan.fleet.inventory, state_dir, plan.fleet.keep_seconds)
            else:
                outcome = f"deploy_failure_policy is 'stop': {', '.join(partial.updated)} stay on {plan.war.release_id}"
            raise _said_if_mixed(DeployFailed(f"{exc}; {outcome}"), partial, state_dir) from None
        history.mark(deploy_id, "rolled")
        # recorded before the lock goes: the next deploy reads this one's outcome and the ledger
        _record_nodes(history, deploy_id, result)
        history.record_verdicts(deploy_id, plan.war.release_id, result.verdicts)
        # how to reach each node, for the day it leaves the inventory (orchestrator apply retires it)
        roster.remember(inventory, state_dir)
        contract_failed = None
        if migrations is not None:
            try:
                _migrate(migrations, "contract", history, deploy_id, state_dir, report, where)
            except StageFailed as exc:
                contract_failed = ContractFailed(
                    f"{exc}. {plan.war.release_id} is live on every node; the schema still holds what the old "
                    "release used. The next deploy runs the contract phase again"
                )
                contract_failed.tail, contract_failed.result = exc.tail, result
            else:
                history.record_contracts(
                    deploy_id, plan.war.release_id, [m.file for m in migrations.schema.of("contract")]
                )
        said = [*result.incidents, *([str(contract_failed)] if contract_failed else [])]
        history.update(
            deploy_id,
            artifacts=str(result.run.artifacts),
            outcome="deployed",
            stage="contract" if contract_failed else "done",
            message="; ".join(said) or None,
            output_tail=contract_failed.tail if contract_failed else None,
        )
        history.mark(deploy_id, "finished")
        if bluegreen and result.updated and plan.fleet.keep_seconds > 0:
            bluegreen_lib.schedule_promote(plan.fleet.inventory, state_dir, plan.fleet.keep_seconds)
            until = datetime.fromtimestamp(time.time() + plan.fleet.keep_seconds)
            report.say(
                f"the old slots keep running until {until:%H:%M:%S} (bluegreen_keep_seconds "
                f"{plan.fleet.keep_seconds:g}): 'orchestrator rollback' before then only switches HAProxy back; "
                "'orchestrator promote --old-slots' stops them now"
            )
        # a rollback to a release the ledger knows as good keeps its standing (verified stays verified)
        standing = history.release(plan.war.release_id) if known_good is not None else None
        if standing is None:
            history.set_release(
                plan.war.release_id,
                "verified" if result.verified else "deployed",
                version=plan.war.version,
                sha256=plan.war.sha256,
                deploy_id=deploy_id,
                reason=None if result.verified or not result.verdicts else result.unverified(),
            )
        else:
            history.set_release(plan.war.release_id, standing.status, deploy_id=deploy_id, reason=standing.reason)
        if migrations is not None:
            history.set_schema(
                plan.war.release_id,
                files=migrations.schema.files,
                expand=migrations.schema.expand_version,
                contract=None if contract_failed else migrations.schema.version,
            )
    if contract_failed is not None:
        raise contract_failed
    return result


def _gate(report: Reporter, history: History, deploy_id: int, state: dict) -> None:
    """The roll stopped between batches, or went on: said, and told when it stops."""
    report.gate(state)
    if state.get("waiting") in ("paused", "promotion"):
        report.notify(
            "paused",
            history,
            deploy_id,
            f"deploy #{deploy_id}: {gate_lib.describe(state)}",
            waiting=state["waiting"],
            by=state.get("by"),
            before=state.get("next"),
            since=state.get("since"),
            timeout_at=state.get("timeout_at"),
            on_timeout=state.get("on_timeout"),
        )


def _migrate(
    migrations: migrations_lib.Plan,
    phase: str,
    history: History,
    deploy_id: int,
    state_dir: Path,
    report: Reporter,
    where: dict,
) -> None:
    """Run one phase's command in the release's tree: its output kept like the build's, its times recorded."""
    where["stage"] = phase
    pending = migrations.schema.of(phase)
    history.mark(deploy_id, f"{phase}_started")
    report.say(
        f"deploy #{deploy_id}: {phase}: {migrations.settings.command(phase).command} "
        f"({len(pending)} {phase} migration(s) in {migrations.schema.directory.name}/; the command applies the pending ones)"
    )
    work = state_dir / "work" / str(deploy_id)
    work.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    run_stage(
        phase,
        migrations.settings.command(phase),
        migrations.tree,
        work / f"{phase}.log",
        migrations.command_env(dict(os.environ), phase),
    )
    history.mark(deploy_id, "expanded" if phase == "expand" else "contracted")
    report.say(f"deploy #{deploy_id}: {phase} done in {time.monotonic() - began:.1f}s")


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


def _recording_phases(report: Reporter, history: History, deploy_id: int, release_id: str):
    """on_phase for a roll: told as before, and each node's phase and spans so far kept in the
    history, so that the dashboard (another process) shows where each node is."""

    def on_phase(node, phase: str) -> None:
        if report.on_phase is not None:
            report.on_phase(node, phase)
        try:
            history.record_nodes(
                deploy_id,
                [{"node": node.name, "new": release_id, "outcome": phase, "spans": node.timeline()}],
            )
        except Exception as exc:  # the record of a phase is never worth a deploy; the end records all
            report.say(f"warning: {node.name}'s phase was not recorded: {type(exc).__name__}: {exc}")

    return on_phase


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

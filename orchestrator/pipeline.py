"""From a revision to a deploy: export, build, test, find the WAR, deploy; each stage recorded.

A failure at any stage deploys nothing and records the stage and the tail of its output. The
deploy itself runs under the deploy lock, so the watcher and a manual deploy take turns.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ansible_collections.orchestrator.fleet.plugins.module_utils import gate as gate_lib
from orchestrator import bluegreen as bluegreen_lib
from orchestrator import maintenance, rollout, roster, vcs
from orchestrator import migrations as migrations_lib
from orchestrator import notify as notify_lib
from orchestrator.config import Config, Stage
from orchestrator.errors import DeployFailed, FleetShort, InputError, MixedFleet, OrchestratorError
from orchestrator.history import History
from orchestrator.lock import DeployLock, LockBusy
from orchestrator.project import stored_war
from orchestrator.runner import stop_orphaned_runs

TAIL_BYTES = 4000


class StageFailed(OrchestratorError):
    """A pipeline stage failed; nothing was deployed."""

    def __init__(self, stage: str, message: str, tail: str = "", *, exit_code: int = 1):
        super().__init__(f"{stage} failed: {message}")
        self.stage, self.tail, self.exit_code = stage, tail, exit_code


class ContractFailed(OrchestratorError):
    """The release is live on every node, but its contract migrations failed (recorded; exit 1).

    The next deploy runs the contract phase again: the migrations still pending are applied then.
    """


@dataclass(frozen=True)
class Trigger:
    """Why a pipeline runs: a batch of flags, or a person."""

    source: str  # hg, git, manual, recovery
    revision: str | None = None  # a revision to build (manual --rev); None: newest on the branch
    pushed: float | None = None
    claimed: float | None = None
    flags: int = 0
    last_pushed: float | None = None  # when the newest flag of the batch was written


@dataclass
class Reporter:
    """Where a pipeline tells what it does."""

    say: Callable[[str], None] = lambda message: None
    on_phase: Callable | None = None
    notifier: notify_lib.Notifier | None = None
    _waiting: str | None = None  # what the gate waited for when it last changed

    def notify(self, event: str, history: History, deploy_id: int, text: str, **fields) -> None:
        """Queue a webhook event about ``deploy_id`` (never blocks, never fails the deploy: see
        orchestrator/notify.py). Called from the runner's events and the gate watch's thread alike."""
        if self.notifier is None:
            return
        try:
            record = history.get(deploy_id)
            about = {
                "id": deploy_id,
                "trigger": record.trigger if record else None,
                "revision": record.revision if record else None,
                "release": record.release_id if record else None,
            }
            self.notifier.send(event, about, text, **fields)
        except Exception as exc:  # a notification is never worth a deploy
            self.say(f"warning: the {event} notification was not sent: {type(exc).__name__}: {exc}")

    def tell_finished(self, history: History, deploy_id: int) -> None:
        """deploy_finished, once the deploy's outcome is recorded."""
        if self.notifier is None:
            return
        try:
            record = history.get(deploy_id)
        except Exception as exc:
            self.say(f"warning: the deploy_finished notification was not sent: {type(exc).__name__}: {exc}")
            return
        if record is None or record.outcome == "running":
            return
        where = f" at {record.stage}" if record.outcome not in ("deployed", "unchanged") else ""
        text = (
            f"deploy #{record.id} of {record.release_id or (record.revision or '')[:12] or '?'}: "
            f"{record.outcome}{where}" + (f": {record.message}" if record.message else "")
        )
        self.notify(
            "deploy_finished",
            history,
            record.id,
            text[:3000],
            outcome=record.outcome,
            stage=record.stage,
            message=record.message,
            nodes=record.nodes,
            times=record.times,
            verdicts=record.verdicts,
        )

    def verdict(self, node: str, report: dict) -> None:
        """One line per judged node, as its bake ends: the bake module's own summary."""
        self.say(report.get("message") or f"{node}: {report.get('summary', report.get('verdict'))}")

    def incident(self, message: str) -> None:
        """A fault the deploy did not cause, as it is seen."""
        self.say(f"warning: {message}")

    def gate(self, state: dict) -> None:
        """The roll stopped between batches (paused, or waiting for promotion), or went on again;
        or the release's watch after the roll began or ended."""
        if state.get("waiting"):
            self.say(gate_lib.describe(state))
        else:
            self.say("the watch after the roll is over" if self._waiting == "watch" else "the roll goes on")
        self._waiting = state.get("waiting")


def notifier_for(config: Config | None, state_dir: Path) -> notify_lib.Notifier | None:
    """The config's webhooks, their deliveries recorded in the history (a connection of their own)."""
    if config is None or config.notify is None:
        return None
    log = History(state_dir)
    lock = threading.Lock()  # one connection, several sender threads

    def record(delivery: notify_lib.Delivery) -> None:
        with lock:
            log.record_delivery(delivery)

    return notify_lib.Notifier(config.notify, record=record)


@contextmanager
def reporting(
    config: Config | None, state_dir: Path, *, say: Callable[[str], None], on_phase=None
) -> Iterator[tuple[History, Reporter]]:
    """The history and a Reporter (with the config's webhooks) for one command; both closed after it,
    the webhooks given up to their timeout to deliver what is queued."""
    history = History(state_dir)
    notifier = notifier_for(config, state_dir)
    try:
        yield history, Reporter(say, on_phase, notifier)
    finally:
        if notifier is not None:
            notifier.close()
        history.close()


def tail(path: Path) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(max(0, os.path.getsize(path) - TAIL_BYTES))
            return f.read().decode(errors="replace")
    except OSError:
        return ""


def run_stage(name: str, stage: Stage, cwd: Path, log: Path, env: dict[str, str]) -> None:
    """Run a configured command (trusted: it comes from orchestrator.toml) with a timeout.

    It runs in a process group of its own so that a timeout stops everything it started.
    """
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            ["sh", "-c", stage.command],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            rc = proc.wait(timeout=stage.timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise StageFailed(name, f"'{stage.command}' did not finish in {stage.timeout:g}s", tail(log)) from None
    if rc != 0:
        raise StageFailed(name, f"'{stage.command}' exited {rc}; output in {log}", tail(log))


def find_artifact(workspace: Path, pattern: str) -> Path:
    matches = sorted(Path(p) for p in glob.glob(str(workspace / pattern)) if Path(p).is_file())
    if not matches:
        raise StageFailed(
            "artifact",
            f"the build produced no file matching {pattern!r}; fix [build] artifact in orchestrator.toml or the build",
        )
    if len(matches) > 1:
        names = ", ".join(str(m.relative_to(workspace)) for m in matches)
        raise StageFailed(
            "artifact",
            f"the build produced {len(matches)} files matching {pattern!r} ({names}); "
            "make the glob match exactly one WAR",
        )
    return matches[0]


@contextmanager
def recorded(history: History, deploy_id: int, report: Reporter | None = None) -> Iterator[dict]:
    """Record how the work inside ends: rejected at a stage, refused, failed, or deployed; then tell
    it (``report``'s deploy_finished notification)."""
    where = {"stage": "start"}
    try:
        yield where
    except StageFailed as exc:
        _finish(history, deploy_id, "rejected", exc.stage, str(exc), exc.tail)
        raise
    except LockBusy as exc:
        _finish(history, deploy_id, "refused", "lock", str(exc), "")
        raise
    except ContractFailed:
        raise  # the deploy went through and said so
    except OrchestratorError as exc:
        _finish(history, deploy_id, "failed", where["stage"], str(exc), "")
        raise
    except BaseException as exc:
        _finish(history, deploy_id, "failed", where["stage"], f"{type(exc).__name__}: {exc}", "")
        raise
    finally:
        if report is not None:
            report.tell_finished(history, deploy_id)


def run(
    config: Config,
    trigger: Trigger,
    *,
    history: History,
    report: Reporter | None = None,
    lock_wait: bool = True,
    should_stop: Callable[[], bool] = lambda: False,
    serial: str | None = None,
    strategy: str | None = None,
    recover: bool = False,
) -> int:
    """Build, test and deploy one revision; returns the history id. Raises after recording.
    ``recover``: settle a deploy found cut short first (the watcher's deploys always do)."""
    report = report or Reporter()
    deploy_id = history.start(trigger.source, pushed=trigger.pushed, claimed=trigger.claimed, flags=trigger.flags)
    work = config.state_dir / "work" / str(deploy_id)
    with recorded(history, deploy_id, report) as where:
        where["stage"] = "export"
        revision = vcs.resolve(config.repository, branch=config.branch, rev=trigger.revision)
        history.update(deploy_id, revision=revision, branch=config.branch if trigger.revision is None else None)
        if trigger.revision is None and (
            _already_live(history, revision, deploy_id, report)
            or _already_answered(history, revision, deploy_id, trigger, report)
        ):
            return deploy_id
        report.say(f"deploy #{deploy_id}: revision {revision[:12]}, exporting")
        src = work / "src"
        vcs.export(config.repository, revision, src)
        # the commit's time stamps the build's files: the same revision builds the same WAR
        # (reproducible-builds.org's convention; a build that ignores it still deploys)
        env = dict(os.environ, ORCHESTRATOR_REVISION=revision)
        env.setdefault("SOURCE_DATE_EPOCH", str(vcs.commit_time(config.repository, revision)))
        migrations = None
        if config.migrate is not None:
            # a revision whose migrations the orchestrator cannot place is refused before its build
            where["stage"] = "migrate"
            try:
                migrations = migrations_lib.plan(config.migrate, src)
            except InputError as exc:
                raise StageFailed("migrate", str(exc), exit_code=2) from None
        where["stage"] = "build"
        report.say(f"deploy #{deploy_id}: building")
        run_stage("build", config.build, src, work / "build.log", env)
        history.mark(deploy_id, "built")
        where["stage"] = "test"
        report.say(f"deploy #{deploy_id}: testing")
        run_stage("test", config.test, src, work / "test.log", env)
        history.mark(deploy_id, "tested")
        where["stage"] = "artifact"
        war = find_artifact(src, config.artifact)
        deploy_war(
            war,
            inventory=config.inventory,
            state_dir=config.state_dir,
            history=history,
            deploy_id=deploy_id,
            serial=serial,
            report=report,
            recover=recover or trigger.source != "manual",
            lock_wait=lock_wait,
            should_stop=should_stop,
            where=where,
            strategy=strategy,
            migrations=migrations,
        )
        shutil.rmtree(src, ignore_errors=True)
    return deploy_id


def _already_live(history: History, revision: str, deploy_id: int, report: Reporter) -> bool:
    """Pushes of a revision the fleet already runs deploy nothing (recorded as unchanged).

    Only the watcher's deploys ask: flags are hints, and a second batch of flags for the same
    revision (many pushers, a hook run twice) must not roll the fleet again. A deploy asked for
    by name (``--rev``) goes ahead.
    """
    live = history.last_deployed()
    if live is None or live.revision != revision:
        return False
    message = (
        f"revision {revision[:12]} is already live (deploy #{live.id}, release {live.release_id}): nothing to deploy"
    )
    report.say(f"deploy #{deploy_id}: {message}")
    _finish(history, deploy_id, "unchanged", "export", message, "")
    return True


def _already_answered(history: History, revision: str, deploy_id: int, trigger: Trigger, report: Reporter) -> bool:
    """Flags written while a deploy of the same revision ran ask for nothing that deploy did not
    try: they are answered by its outcome (recorded as unchanged), not by a second roll.

    A CI job's ``trigger`` after its push writes a second flag for the revision the push's
    deploy is rolling out; rolling it again would judge a rejected build twice. A flag written
    after that deploy finished is a new request (a retry) and deploys.
    """
    last = history.last_attempt(revision, besides=deploy_id)
    finished = last.times.get("finished") if last is not None else None
    if finished is None or trigger.last_pushed is None or trigger.last_pushed > finished:
        return False
    message = (
        f"revision {revision[:12]} was asked for while deploy #{last.id} rolled it out ({last.outcome}): "
        f"nothing new to deploy; push a fix, or 'orchestrator deploy --rev {revision[:12]}' to try it again"
    )
    report.say(f"deploy #{deploy_id}: {message}")
    _finish(history, deploy_id, "unchanged", "export", message, "")
    return True


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
            from orchestrator import recovery  # only needed after a crash

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
                from orchestrator import rollback  # rollback.py builds on this module

                outcome = rollback.roll_back_updated(partial, state_dir, report, keep)
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
    from orchestrator import live

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


def _finish(history: History, deploy_id: int, outcome: str, stage: str, message: str, output_tail: str) -> None:
    history.update(deploy_id, outcome=outcome, stage=stage, message=message, output_tail=output_tail)
    history.mark(deploy_id, "finished")


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

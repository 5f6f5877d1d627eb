"""From a revision to a deploy: export, build, test, find the WAR, then deploy it (deploy.py).

A failure at any stage deploys nothing and records the stage and the tail of its output. Pushes of a
revision already live, or already answered by a deploy that was running, deploy nothing.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass

from orchestrator import vcs
from orchestrator.config import Config
from orchestrator.errors import InputError
from orchestrator.pipeline import migrations as migrations_lib
from orchestrator.pipeline.deploy import deploy_war
from orchestrator.pipeline.outcome import StageFailed, finish, recorded
from orchestrator.pipeline.report import Reporter
from orchestrator.pipeline.stages import find_artifact, run_stage
from orchestrator.records.history import History


@dataclass(frozen=True)
class Trigger:
    """Why a pipeline runs: a batch of flags, or a person."""

    source: str  # hg, git, manual, recovery
    revision: str | None = None  # a revision to build (manual --rev); None: newest on the branch
    pushed: float | None = None
    claimed: float | None = None
    flags: int = 0
    last_pushed: float | None = None  # when the newest flag of the batch was written


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
        where.reach("export")
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
            where.reach("migrate")
            try:
                migrations = migrations_lib.plan(config.migrate, src)
            except InputError as exc:
                raise StageFailed("migrate", str(exc), exit_code=2) from None
        where.reach("build")
        report.say(f"deploy #{deploy_id}: building")
        run_stage("build", config.build, src, work / "build.log", env)
        history.mark(deploy_id, "built")
        where.reach("test")
        report.say(f"deploy #{deploy_id}: testing")
        run_stage("test", config.test, src, work / "test.log", env)
        history.mark(deploy_id, "tested")
        where.reach("artifact")
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
    finish(history, deploy_id, "unchanged", "export", message, "")
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
    if last is None or finished is None or trigger.last_pushed is None or trigger.last_pushed > finished:
        return False
    message = (
        f"revision {revision[:12]} was asked for while deploy #{last.id} rolled it out ({last.outcome}): "
        f"nothing new to deploy; push a fix, or 'orchestrator deploy --rev {revision[:12]}' to try it again"
    )
    report.say(f"deploy #{deploy_id}: {message}")
    finish(history, deploy_id, "unchanged", "export", message, "")
    return True

"""Going back to an earlier release, in one place (besides the rescue of roles/webapp, which puts
one node back on its previous release when the new one fails on it).

- ``rollback``: `orchestrator rollback` - the whole fleet to the last known-good release before
  the current one, or to a named one; rolled like a deploy (drain, health gate, enable) without
  judging a release the ledger knows as good, or, with blue/green inside the window, one HAProxy
  switch per node (``_switched_back``). playbooks/rollback.yml is the same by hand.
- ``refuse_if_schema_moved_on``: no rollback to a release from before a contract migration.
- ``recover``: `orchestrator recover` - after a deploy was cut short, the fleet settled
  (recovery.reconcile) and brought to one release: back to the last known-good one, to a named
  one, or forward to the interrupted one (``finish``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from orchestrator.errors import InputError
from orchestrator.fleet.inventory import load_fleet
from orchestrator.pipeline.deploy import deploy_war
from orchestrator.pipeline.outcome import Stage, recorded
from orchestrator.pipeline.report import Reporter
from orchestrator.project import stored_war
from orchestrator.records.history import History
from orchestrator.records.ledger import GOOD
from orchestrator.records.lock import DeployLock
from orchestrator.rollout import bluegreen as bluegreen_lib
from orchestrator.rollout import recovery


class SchemaMovedOn(InputError):
    """A rollback to a release the schema no longer fits: a contract migration ran since (exit 2)."""


def rollback(
    *,
    inventory: Path,
    state_dir: Path,
    history: History,
    to: str | None = None,
    report: Reporter | None = None,
    lock_wait: bool = True,
    strategy: str | None = None,
    force: bool = False,
) -> tuple[int, str]:
    """Roll the fleet to ``to``, or to the last known-good release before the current one.

    Rolls like a deploy (drain, health gate, enable; a node missing the release gets it from
    the orchestrator's store of WARs), without judging a release the ledger knows as good.
    With blue/green, inside the window in which the old slots still run the release, it is one
    HAProxy switch per node instead (no JVM started). Returns (history id, release id).
    Refuses (SchemaMovedOn) a release from before a contract migration that has run since,
    unless ``force``.
    """
    report = report or Reporter()
    current = history.last_known_good()
    if to is None:
        target = history.last_known_good(besides=current.release_id if current else None)
        if target is None:
            raise InputError(
                "no earlier release to roll back to: the release ledger knows "
                + (f"only {current.release_id}" if current else "no deployed release")
                + " (orchestrator releases lists it)"
            )
    else:
        target = history.release(to)
        if target is None:
            known = ", ".join(r.release_id for r in history.releases()[:10]) or "none"
            raise InputError(f"unknown release {to!r}; known releases: {known} (orchestrator releases)")
    if not force:
        refuse_if_schema_moved_on(history, target)
    store = stored_war(state_dir, target.release_id)
    if not store.is_file():
        raise InputError(f"the WAR of {target.release_id} is not in {store.parent}: it cannot be sent to the nodes")
    deploy_id = history.start("rollback")
    with recorded(history, deploy_id, report) as where:
        report.say(f"rolling back to {target.release_id}" + (f" from {current.release_id}" if current else ""))
        trusted = f"{target.status} in the ledger (deploy #{target.deploy_id})" if target.status in GOOD else None
        fleet = load_fleet(inventory).with_strategy(strategy)
        if not (
            fleet.strategy == "bluegreen"
            and _switched_back(fleet, target, history, deploy_id, state_dir, report, lock_wait, where)
        ):
            deploy_war(
                store,
                inventory=inventory,
                state_dir=state_dir,
                history=history,
                deploy_id=deploy_id,
                report=report,
                lock_wait=lock_wait,
                where=where,
                known_good=trusted,
                strategy=fleet.strategy,
            )
        if current is not None and current.release_id != target.release_id:
            history.set_release(
                current.release_id, "rolled_back", reason=f"rolled back to {target.release_id} (deploy #{deploy_id})"
            )
        report.notify(
            "rolled_back",
            history,
            deploy_id,
            f"rollback #{deploy_id}: the fleet is on {target.release_id}"
            + (f" again, from {current.release_id}" if current else ""),
            release=current.release_id if current else None,
            to=target.release_id,
            nodes=list(fleet.appservers),
            outcome="the whole fleet is on it",
        )
    return deploy_id, target.release_id


def refuse_if_schema_moved_on(history: History, target) -> None:
    """SchemaMovedOn when a contract migration has run that ``target``'s revision did not have.

    Such a migration took away something the releases before it used: ``target`` would fail on
    today's schema. A release whose migrations the ledger does not know predates them all.
    """
    known = set(target.migrations or ())
    standing = [c for c in history.contracts() if c.migration not in known]
    if not standing:
        return
    first = standing[0]
    others = f" (and {', '.join(c.migration for c in standing[1:])})" if standing[1:] else ""
    raise SchemaMovedOn(
        f"rollback to {target.release_id} refused: contract migration {first.migration}{others} ran with "
        f"{first.release_id} (deploy #{first.deploy_id}) after {target.release_id} was built, and took away what "
        f"{target.release_id} uses. Roll forward instead (a release that reverts the change in code, with an expand "
        "migration that brings back what it needs), or pass --force if you know it runs on today's schema"
    )


def _switched_back(
    fleet, target, history: History, deploy_id: int, state_dir: Path, report: Reporter, lock_wait: bool, where: Stage
) -> bool:
    """Roll back by switching every node to its idle slot, if they all still run ``target``.

    False (nothing switched) when a node's idle slot cannot take it: the window is over, or the
    slot holds another release; the caller then rolls the release out like a deploy.
    """
    where.reach("lock")
    with DeployLock(state_dir).acquire(
        f"rollback #{deploy_id} to {target.release_id}",
        wait=lock_wait,
        on_wait=lambda who: report.say(f"waiting for the deploy lock, held by {who}"),
    ):
        where.reach("deploy")
        history.update(deploy_id, release_id=target.release_id, sha256=target.sha256)
        history.mark(deploy_id, "deploy_started")
        began = time.monotonic()
        switch_seconds: dict[str, float] = {}

        def timed(event) -> None:
            if event.kind == "runner_on_ok" and event.phase == "enable" and event.task.startswith("enable | Switch"):
                switch_seconds[event.host] = max(
                    float(r.get("up_seconds", 0)) + float(r.get("drain_seconds", 0))
                    for r in (event.result.get("results") or [event.result])
                )

        try:
            bluegreen_lib.switch_back(fleet, target.release_id, target.version, state_dir=state_dir, on_event=timed)
        except bluegreen_lib.SwitchRefused as exc:
            report.say(f"cannot switch back to the old slots ({exc}): rolling {target.release_id} out instead")
            return False
        seconds = time.monotonic() - began
    history.record_nodes(
        deploy_id,
        [
            {
                "node": n,
                "old": None,
                "new": target.release_id,
                "outcome": "done",
                "phases": {"enable": switch_seconds.get(n)},
            }
            for n in fleet.appservers
        ],
    )
    message = (
        f"switched back to the old slots, still running {target.release_id}: no JVM started "
        f"(HAProxy switch {max(switch_seconds.values(), default=0):.2f}s, {seconds:.1f}s in all)"
    )
    history.update(deploy_id, outcome="deployed", stage="done", message=message)
    history.mark(deploy_id, "finished")
    history.set_release(target.release_id, target.status, deploy_id=deploy_id, reason=target.reason)
    report.say(message)
    if fleet.keep_seconds > 0:
        # the slots switched away from keep the release rolled back from, for a window of their own
        bluegreen_lib.schedule_promote(fleet.inventory, state_dir, fleet.keep_seconds)
    return True


def recover(
    inventory: Path,
    state_dir: Path,
    history: History,
    *,
    say: Callable[[str], None],
    strategy: str | None = None,
    lock_wait: bool = True,
    to: str | None = None,
    finish: bool = False,
    report=None,
) -> recovery.Found:
    """`orchestrator recover`: settle a deploy cut short (recovery.reconcile: recorded interrupted,
    every node serving), then bring the fleet to one release: the last known-good one (a rollback,
    not judged), ``to``, or with ``finish`` the interrupted release deployed again and judged."""
    if to is not None and finish:
        raise InputError("give --to RELEASE or --finish, not both")
    found = recovery.reconcile(
        inventory,
        state_dir,
        history,
        why="cut short: the process running it was gone; recorded by orchestrator recover",
        say=say,
        strategy=strategy,
        lock_wait=lock_wait,
    )
    report = report or Reporter(say)
    releases = set(found.releases.values())
    cut = next((release for _, release, _ in reversed(found.interrupted) if release), None)
    if finish:
        if cut is None:
            raise InputError(
                "--finish: no deploy of a release was cut short; 'orchestrator history' shows the last ones"
            )
        war = stored_war(state_dir, cut)
        if not war.is_file():
            raise InputError(f"--finish: the WAR of {cut} is not in {war.parent}; deploy it again with --war")
        say(f"finishing: deploying {cut} again, judged like any deploy")
        deploy_id = history.start("recovery")
        with recorded(history, deploy_id, report) as where:
            deploy_war(
                war,
                inventory=inventory,
                state_dir=state_dir,
                history=history,
                deploy_id=deploy_id,
                report=report,
                lock_wait=lock_wait,
                where=where,
                strategy=strategy,
            )
        found.settled = f"deploy #{deploy_id} finished {cut}: every node on it"
    elif to is not None or len(releases) > 1:
        target = to
        if target is None:
            good = history.last_known_good(besides=cut)
            if good is None:
                raise InputError(
                    f"the fleet is on {', '.join(sorted(releases))} and the ledger knows no good release to go back "
                    "to: 'orchestrator recover --finish' deploys the interrupted one again, --to RELEASE another"
                )
            target = good.release_id
        say(f"rolling back to {target}: the nodes on another release go back, not judged")
        deploy_id, release = rollback(
            inventory=inventory,
            state_dir=state_dir,
            history=history,
            to=target,
            report=report,
            lock_wait=lock_wait,
            strategy=strategy,
        )
        found.settled = f"rollback #{deploy_id}: every node on {release}"
    else:
        found.settled = f"every node on {next(iter(releases), '(no release)')}: nothing to roll"
    say(found.settled)
    return found

"""The orchestrator command line: thin commands over the library, one error boundary.

Library modules are imported inside the commands: `orchestrator trigger` runs in a push hook
and must not pay for loading Ansible.
"""

from __future__ import annotations

import errno
import functools
import json
import os
import signal
import sqlite3
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from orchestrator.errors import InputError, OrchestratorError
from orchestrator.project import default_state_dir, project_dir

if TYPE_CHECKING:
    from orchestrator.config import Config

SUMMARY_PHASES = ("ship", "drain", "stop", "install", "start", "verify", "enable", "bake")


NO_CONFIG = (
    "no orchestrator.toml: pass --config, set ORCHESTRATOR_CONFIG, or run "
    "'orchestrator sandbox up', which writes one for the sandbox"
)


def _default_sandbox_dir() -> Path:
    return project_dir() / ".sandbox"


def _default_inventory() -> Path:
    return project_dir() / "inventory" / "sandbox"


def _config_path(option: Path | None) -> Path | None:
    """--config, else $ORCHESTRATOR_CONFIG, else ./orchestrator.toml, else the sandbox's."""
    if option is not None:
        return option
    if os.environ.get("ORCHESTRATOR_CONFIG"):
        return Path(os.environ["ORCHESTRATOR_CONFIG"])
    for candidate in (Path.cwd() / "orchestrator.toml", _default_sandbox_dir() / "orchestrator.toml"):
        if candidate.is_file():
            return candidate
    return None


def _load_config(option: Path | None, *, required: bool):
    from orchestrator import config as config_lib

    path = _config_path(option)
    if path is None:
        if required:
            raise InputError(NO_CONFIG)
        return None
    return config_lib.load(path)


_config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    default=None,
    help="orchestrator.toml [default: $ORCHESTRATOR_CONFIG, ./orchestrator.toml, the sandbox's].",
)
_inventory_option = click.option(
    "--inventory",
    "-i",
    type=click.Path(path_type=Path),
    default=None,
    help="Inventory [default: the config's, else inventory/sandbox].",
)
_state_dir_option = click.option(
    "--state-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="History, lock, WAR store, gate files [default: the config's, else .orchestrator/].",
)


@dataclass(frozen=True)
class Where:
    """What a command acts on. Each comes from its option, else from the config, else is the
    sandbox's: the same fallback for every command."""

    config: Config | None  # None without an orchestrator.toml
    inventory: Path
    state_dir: Path

    def required_config(self) -> Config:
        if self.config is None:
            raise InputError(NO_CONFIG)
        return self.config


def resolve_where(config_path: Path | None, inventory: Path | None, state_dir: Path | None) -> Where:
    config = _load_config(config_path, required=False)
    return Where(
        config,
        inventory or (config.inventory if config else _default_inventory()),
        state_dir or (config.state_dir if config else default_state_dir()),
    )


def fleet_options(command=None, *, inventory: bool = True):
    """Declare --config, --inventory/-i (unless inventory=False) and --state-dir once, as
    sqlite-utils shares its options; the command receives them resolved as ``where``."""

    def decorate(command):
        @functools.wraps(command)
        def with_where(*args, config_path: Path | None = None, state_dir: Path | None = None, **kwargs):
            where = resolve_where(config_path, kwargs.pop("inventory", None), state_dir)
            return command(*args, where=where, **kwargs)

        options = [_config_option, *([_inventory_option] if inventory else []), _state_dir_option]
        for option in reversed(options):
            with_where = option(with_where)
        return with_where

    return decorate(command) if command is not None else decorate


_strategy_option = click.option(
    "--strategy",
    type=click.Choice(["rolling", "bluegreen"]),
    default=None,
    help="rolling: each node restarts on the release out of rotation; bluegreen: the release starts in each "
    "node's idle Tomcat slot and HAProxy switches to it [default: the inventory's deploy_strategy, else rolling].",
)


@click.group()
@click.version_option(package_name="orchestrator")
def cli() -> None:
    """Continuous deployment of a Java web application to Tomcat behind HAProxy.

    Example:

        orchestrator sandbox up --nodes 2

        orchestrator deploy --war app.war
    """


# --- deploy ----------------------------------------------------------------------------------


def _phase_printer(*, clock: bool = False):
    """Print each node's phase changes: seconds since start, or (for the watcher) the time of day."""
    began = time.monotonic()

    def show(node, phase: str) -> None:
        when = datetime.now().strftime("%H:%M:%S.%f")[:10] if clock else f"[{time.monotonic() - began:6.1f}s]"
        click.echo(f"{when} {node.name:<12} {phase}")

    return show


def _fmt(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.2f}"


def _print_summary(result) -> None:
    click.echo("")
    click.echo(
        f"{'node':<12} {'release (old -> new)':<52} " + " ".join(f"{p:>7}" for p in SUMMARY_PHASES) + f" {'total':>7}"
    )
    for name in result.fleet.appservers:
        node = result.nodes.get(name)
        change = result.releases.get(name, {})
        old, new = change.get("old") or "(none)", change.get("new") or "-"
        release = f"{old} -> {new}" if change else "-"
        if node is not None and node.phase == "untouched":
            release = f"{old} (untouched)"
        elif node is not None and node.phase == "lost":
            release = f"{new} failed, {old} did not come back: out of rotation"
        elif node is not None and node.phase == "failed" and node.rescued:
            release = f"{old} (restored; {new} failed)" if change.get("old") else f"{new} failed, out of rotation"
        if node is None:
            click.echo(f"{name:<12} {release:<52}")
            continue
        times = " ".join(f"{_fmt(node.seconds(p)):>7}" for p in SUMMARY_PHASES)
        click.echo(f"{name:<12} {release:<52} {times} {_fmt(node.total):>7}  {node.phase}")
    click.echo(f"\nseconds per phase; the roll took {result.seconds:.1f}s; artifacts in {result.run.artifacts}")
    if result.incidents:
        click.echo("not done by the deploy:")
        for incident in result.incidents:
            click.echo(f"  {incident}")


@cli.command()
@click.option("--war", "war", type=click.Path(path_type=Path), default=None, help="Deploy this WAR as it is.")
@click.option("--rev", "rev", default=None, help="Build, test and deploy this revision of the configured repository.")
@fleet_options
@click.option("--serial", default=None, help="Batch size: a number or a percentage ('25%'); overrides deploy_serial.")
@click.option("--no-wait", is_flag=True, help="Refuse (exit 3) instead of waiting when another deploy runs.")
@click.option("--check", is_flag=True, help="Dry run: show the plan (as `orchestrator plan`), change nothing.")
@click.option(
    "--recover",
    is_flag=True,
    help="If an earlier deploy was cut short (its process killed), settle it first, as `orchestrator recover` "
    "does, instead of refusing.",
)
@click.option(
    "--migrations",
    "migrations_tree",
    type=click.Path(path_type=Path),
    default=None,
    help="With --war: the release's source tree; the config's [migrate] commands run there, expand "
    "before the roll and contract after it, as for the watcher's deploys.",
)
@_strategy_option
def deploy(
    war: Path | None,
    rev: str | None,
    where: Where,
    serial: str | None,
    no_wait: bool,
    check: bool,
    recover: bool,
    migrations_tree: Path | None,
    strategy: str | None,
) -> None:
    """Roll a WAR (--war) or a built and tested revision (--rev) across the app servers.

    Each node is drained in HAProxy, stopped, given the release, started, health-checked on
    the node itself and put back in rotation. A node that fails gets its previous release
    back and the roll stops there. One deploy runs at a time: this waits for a running one
    (the watcher's, say) unless --no-wait. Exit codes: 2 bad input, nothing touched; 1 the
    deploy failed (or its release was rejected); 5 it failed and the fleet is left on more than
    one release (the message says which node runs what); 3 another deploy is running (--no-wait).
    A failed contract migration exits 1 too, with the release live on every node. An earlier
    deploy cut short (killed) and not yet settled is refused with exit 2 unless --recover.

    Example:

        orchestrator deploy --war build/app.war --inventory inventory/production

        orchestrator deploy --war build/app.war --migrations .   # run [migrate] from this checkout

        orchestrator deploy --rev 3f2a9c1d0b7e
    """
    from orchestrator import pipeline
    from orchestrator.pipeline import migrations as migrations_lib
    from orchestrator.rollout import roll as rollout

    if (war is None) == (rev is None):
        raise InputError("give exactly one of --war FILE (deploy it as it is) or --rev REV (build, test, deploy)")
    if check:
        if war is None:
            raise InputError("--check shows the plan for a WAR: give --war FILE")
        _show_plan(war, where, serial, strategy)
        return
    config = where.required_config() if rev is not None else where.config
    inventory, state_dir = where.inventory, where.state_dir

    migrations = None
    if migrations_tree is not None:
        if war is None:
            raise InputError("--migrations goes with --war; a --rev deploy runs the revision's own migrations")
        if config is None or config.migrate is None:
            raise InputError(
                "--migrations needs [migrate] in orchestrator.toml (the commands and the migrations' "
                "directory): add it, or pass --config with the file that has it"
            )
        migrations = migrations_lib.plan(config.migrate, migrations_tree)
    if war is not None:
        # bad input: exit 2 before any record
        plan = rollout.prepare(war, inventory=inventory, serial=serial, strategy=strategy)
        if migrations is None and config is not None and config.migrate is not None:
            click.echo(
                "warning: [migrate] is configured but no --migrations DIR was given: no migration runs; "
                "the release needs its expand migrations in already"
            )
        click.echo(f"deploying release {plan.war.release_id} (sha256 {plan.war.sha256})")
        click.echo(
            f"  to {', '.join(plan.fleet.appservers)} behind {', '.join(plan.fleet.loadbalancers)}, "
            f"{plan.fleet.strategy}, batch size {serial or 'from the inventory (default 1)'}"
        )
    with pipeline.reporting(config, state_dir, say=click.echo, on_phase=_phase_printer()) as (history, report):
        if rev is not None:
            trigger = pipeline.Trigger("manual", revision=rev)
            deploy_id = pipeline.run(
                where.required_config(),
                trigger,
                history=history,
                report=report,
                lock_wait=not no_wait,
                serial=serial,
                strategy=strategy,
                recover=recover,
            )
            click.echo(f"deploy #{deploy_id} of {rev} is live")
            return
        assert war is not None  # exactly one of --war and --rev (checked first)
        try:
            result = pipeline.deploy_given_war(
                war,
                inventory=inventory,
                state_dir=state_dir,
                history=history,
                report=report,
                serial=serial,
                lock_wait=not no_wait,
                strategy=strategy,
                migrations=migrations,
                recover=recover,
            )
        except OrchestratorError as exc:
            partial = getattr(exc, "result", None)
            if partial is not None and partial.nodes:
                _print_summary(partial)
            raise
    _print_summary(result)
    click.echo(
        f"release {result.war.release_id} (sha256 {result.war.sha256}) is live on {', '.join(result.fleet.appservers)}"
    )


@cli.command()
@click.option(
    "--to", "to", default=None, help="Release id to go to [default: the last known-good before the current one]."
)
@fleet_options
@click.option("--no-wait", is_flag=True, help="Refuse (exit 3) instead of waiting when another deploy runs.")
@click.option(
    "--force", is_flag=True, help="Roll back even to a release from before a contract migration that has run since."
)
@_strategy_option
def rollback(to: str | None, where: Where, no_wait: bool, force: bool, strategy: str | None) -> None:
    """Roll the fleet back to the previous known-good release, or to --to RELEASE.

    Rolls like a deploy: each node drained, switched, health-checked and put back. A node
    that no longer has the release gets it again from the orchestrator's store of WARs.
    With bluegreen, while the old slots still run the release (bluegreen_keep_seconds after
    the deploy), it only switches HAProxy back to them: no JVM starts. A release from before a
    contract migration that has run since is refused (exit 2, naming the migration) unless --force:
    the schema no longer has what it uses.

    Example:

        orchestrator rollback

        orchestrator rollback --to 2-4bae3fd96280
    """
    from orchestrator import pipeline
    from orchestrator.pipeline import rollback as rollback_lib

    with pipeline.reporting(where.config, where.state_dir, say=click.echo, on_phase=_phase_printer()) as (
        history,
        report,
    ):
        deploy_id, release = rollback_lib.rollback(
            inventory=where.inventory,
            state_dir=where.state_dir,
            history=history,
            to=to,
            report=report,
            lock_wait=not no_wait,
            strategy=strategy,
            force=force,
        )
    click.echo(f"rollback #{deploy_id}: the fleet is on {release}")


@cli.command()
@fleet_options
@click.option(
    "--old-slots", is_flag=True, help="Blue/green: stop the old slots now, ending the rollback-by-switch window."
)
@click.option(
    "--no-wait", is_flag=True, help="With --old-slots: refuse (exit 3) instead of waiting when a deploy runs."
)
@click.option(
    "--after",
    "after",
    type=float,
    default=None,
    hidden=True,
    help="Wait this many seconds, then stop only the slots whose window is over (what a deploy leaves running).",
)
def promote(where: Where, old_slots: bool, no_wait: bool, after: float | None) -> None:
    """Let a deploy waiting after its canary go on (deploy_pause_after: canary).

    Exit 2 when no deploy waits for promotion. With --old-slots (blue/green): stop the old
    slots now instead, ending the window in which a rollback is only a switch (a slot still
    in rotation is never stopped; without this they stop bluegreen_keep_seconds after the
    deploy, or at the next deploy).

    Example:

        orchestrator promote

        orchestrator promote --old-slots
    """
    from orchestrator.control import gatekeeper as control
    from orchestrator.fleet.inventory import load_fleet
    from orchestrator.records.lock import DeployLock
    from orchestrator.rollout import bluegreen

    inventory, state_dir = where.inventory, where.state_dir
    if after is not None:
        bluegreen.promote_when_due(inventory, state_dir, after, say=click.echo)
        return
    if not old_slots:
        click.echo(control.promote(state_dir))
        return
    fleet = load_fleet(inventory)
    with DeployLock(state_dir).acquire(
        "orchestrator promote --old-slots",
        wait=not no_wait,
        on_wait=lambda who: click.echo(f"waiting for the deploy lock, held by {who}"),
    ):
        bluegreen.cancel_promote(state_dir)
        stopped = bluegreen.promote(fleet, state_dir=state_dir, now=True)
    click.echo(f"old slots stopped on {', '.join(stopped)}" if stopped else "no old slot was running")


def _control_command(name: str, summary: str, example: str):
    """pause, resume, abort: one request to the roll in progress, from any shell that may write the state directory."""

    def command(where: Where) -> None:
        from orchestrator.control import gatekeeper as control

        click.echo(getattr(control, name)(where.state_dir))

    command.__doc__ = f"{summary}\n\n    Example:\n\n        {example}\n    "
    command.__name__ = name
    return cli.command(name)(fleet_options(command, inventory=False))


_control_command(
    "pause",
    "Hold the deploy in progress after the node (batch) it is on; HAProxy's states stay as they are.",
    "orchestrator pause",
)
_control_command("resume", "Let a paused deploy go on with its next batch.", "orchestrator resume")
_control_command(
    "abort",
    "Stop the deploy in progress after the node (batch) it is on, and apply deploy_failure_policy "
    "(rollback: the nodes already switched go back).",
    "orchestrator abort",
)


@cli.group(invoke_without_command=True)
@fleet_options(inventory=False)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def releases(ctx: click.Context, where: Where, as_json: bool) -> None:
    """The release ledger: each release deployed, verified, rejected (why) or rolled back.

    `orchestrator releases show ID` prints the judge's verdicts on a release, with every number.

    Example:

        orchestrator releases

        orchestrator releases show 2-4bae3fd96280
    """
    from orchestrator.records.history import History

    ctx.obj = where.state_dir
    if ctx.invoked_subcommand is not None:
        return
    store = History(ctx.obj, writable=False)
    try:
        ledger = store.releases()
        good = store.last_known_good()
    finally:
        store.close()
    if as_json:
        for r in ledger:
            click.echo(json.dumps(r.as_dict(), sort_keys=True))
        return
    click.echo(f"{'release':<28} {'version':<10} {'status':<12} {'since':<19} {'schema':<8} reason")
    for r in ledger:
        mark = "  <- last known-good" if good and r.release_id == good.release_id else ""
        since = datetime.fromtimestamp(r.changed).strftime("%Y-%m-%d %H:%M:%S")
        click.echo(
            f"{r.release_id:<28} {(r.version or '-'):<10} {r.status:<12} {since:<19} {_schema(r):<8} "
            f"{(r.reason or '')[:200]}{mark}"
        )
    if any(r.migrations is not None for r in ledger):
        click.echo(
            "schema: the version each release runs with after its expand -> after its contract "
            "('?': its contract has not run)"
        )


def _schema(release) -> str:
    """'2 -> 3' (after expand, after contract), '2 -> ?' (contract pending), '-' (no migrations known)."""
    if release.migrations is None:
        return "-"
    contract = "?" if release.schema_contract is None else str(release.schema_contract)
    return (
        str(release.schema_expand or 0)
        if contract == str(release.schema_expand or 0)
        else f"{release.schema_expand or 0} -> {contract}"
    )


@releases.command("show")
@click.argument("release_id")
@_config_option
@_state_dir_option
@click.option("--json", "as_json", is_flag=True, help="The ledger entry and every verdict's full report.")
@click.pass_obj
def releases_show(
    group_state_dir: Path, release_id: str, config_path: Path | None, state_dir: Path | None, as_json: bool
) -> None:
    """Show one release: its standing, and the judge's verdict on each node it was baked on.

    The first batch's nodes carry the release's verdict, pooled from the requests of every node
    on it; later nodes, a watch (against the old release and their peers) once it had passed.
    Each lists, per metric (5xx share, median response time, p95), the new side's and the old
    release's values, the sample sizes, the anytime-valid p-values against their thresholds and
    the effect, and which servers (or which traffic from before the deploy) were the old release.

    Example:

        orchestrator releases show 2-4bae3fd96280
    """
    from orchestrator.records.history import History

    # its own --config/--state-dir, else the group's (orchestrator releases --state-dir X show ID)
    if config_path is not None or state_dir is not None:
        group_state_dir = resolve_where(config_path, None, state_dir).state_dir
    store = History(group_state_dir, writable=False)
    try:
        release = store.release(release_id)
        verdicts = store.verdicts(release_id=release_id)
        known = [r.release_id for r in store.releases()[:10]]
    finally:
        store.close()
    if release is None and not verdicts:
        raise InputError(
            f"unknown release {release_id!r}; known releases: {', '.join(known) or 'none'} (orchestrator releases)"
        )
    if as_json:
        click.echo(
            json.dumps(
                {"release": release.as_dict() if release else None, "verdicts": [v.as_dict() for v in verdicts]},
                sort_keys=True,
                indent=2,
            )
        )
        return
    if release is not None:
        click.echo(
            f"release {release.release_id} (version {release.version or '-'}): {release.status}"
            + (f" after deploy #{release.deploy_id}" if release.deploy_id else "")
        )
        if release.reason:
            click.echo(f"  {release.reason}")
    if not verdicts:
        click.echo("no verdict: it was never baked (bake off, a fleet's first release, or a trusted rollback)")
    for v in verdicts:
        r = v.report
        servers = ", ".join(r.get("baseline_servers") or []) or "none in rotation"
        if r.get("mode") == "watch":
            peers = ", ".join(r.get("peers") or []) or "none"
            what = f"watched {v.seconds or 0:.1f}s once the release had passed; peers on the new release: {peers}"
        else:
            pooled = ", ".join(r.get("servers") or [v.node])
            what = f"the release's verdict after {v.seconds or 0:.1f}s of bake, from the requests of {pooled}"
        click.echo(f"\ndeploy #{v.deploy_id}, {v.node}: {v.verdict}: {what}")
        click.echo(
            f"  old release: {r.get('baseline_source', 'live')}; servers: {servers}; "
            f"{r.get('history_requests', 0)} requests from before the deploy"
        )
        probes = r.get("probe_requests") or {}
        if any(probes.values()):
            click.echo(
                f"  the bake's probe: {probes.get('new', 0)} requests to the new release, "
                f"{probes.get('base', 0)} to the old one, {probes.get('peers', 0)} to peers (judged apart from users')"
            )
        if r.get("reasons"):
            click.echo(f"  why: {r['reasons']}")
        for m in r.get("metrics", []):
            name = m["name"] if m.get("against", "old") == "old" else f"{m['name']}/peers"
            click.echo(f"  {name:<14} {m['verdict']:<13} {m['effect']}")
            click.echo(f"  {'':<14} {'':<13} new {json.dumps(m['new'])}; old {json.dumps(m['baseline'])}")
            click.echo(
                f"  {'':<14} {'':<13} worse: p={m['p_value']:.3g} (alpha {m['alpha']:.2g}); "
                f"ruled out a regression: p={m['p_ok']:.3g} (beta {m['beta']:.2g}); {m['threshold']}"
            )


def _show_plan(war: Path, where: Where, serial: str | None, strategy: str | None = None) -> None:
    from orchestrator.rollout import plan as dry_run
    from orchestrator.rollout import roll as rollout

    prepared = rollout.prepare(war, inventory=where.inventory, serial=serial, strategy=strategy)
    p = dry_run.plan(prepared, state_dir=where.state_dir)
    fleet, release = p.rollout.fleet, p.rollout.war
    click.echo(f"release {release.release_id} (version {release.version or '-'}, sha256 {release.sha256})")
    if p.slots:
        click.echo(
            f"{len(fleet.appservers)} app servers behind {', '.join(fleet.loadbalancers)}; batch size {p.serial}; "
            f"bluegreen: each node's live slot serves while the release starts in its idle one"
        )
    else:
        click.echo(
            f"{len(fleet.appservers)} app servers behind {', '.join(fleet.loadbalancers)}; batch size {p.serial}; "
            f"at least {p.min_up} other server(s) must stay UP (deploy_min_healthy {fleet.min_healthy})"
        )
    click.echo(f"\n{'node':<14} {'runs now':<28} {'HAProxy':<10} then")
    for node in fleet.appservers:
        live_slot = f"{node}-{p.slots[node][0]}" if p.slots else node
        states = "/".join(str(s.get(live_slot, "-")) for s in p.haproxy.values()) or "-"
        if node in p.joining:
            then = "to add: not behind every load balancer yet (orchestrator apply)"
        else:
            then = "(already on it: checked, not switched)" if node in p.skipped else release.release_id
        click.echo(f"{node:<14} {(p.current.get(node) or '(none)'):<28} {states:<10} {then}")
    for node in p.leaving:
        states = "/".join(str(s.get(node, "-")) for s in p.haproxy.values())
        click.echo(
            f"{node:<14} {'(not in the inventory)':<28} {states:<10} to remove (orchestrator apply); a deploy leaves it alone"
        )
    click.echo("")
    for step in p.steps:
        serving = f"{', '.join(step.in_rotation) or 'none'} ({len(step.in_rotation)} of {len(fleet.appservers)})"
        if p.slots:
            starts = (
                ", ".join(f"{n} ({p.slots[n][1]}, beside {p.slots[n][0]})" for n in step.batch) or "(nothing to switch)"
            )
            click.echo(
                f"step {step.number}: starts in the idle slot, then switches: {starts}; serving throughout: {serving}"
            )
            continue
        out = ", ".join(step.batch) or "(nothing to switch)"
        line = f"step {step.number}: out of rotation: {out:<24} in rotation: {serving}"
        click.echo(line + ("   <- the capacity guard would refuse here" if step.refused else ""))
    if p.joining:
        click.echo(f"\na deploy refuses until 'orchestrator apply' has added {', '.join(p.joining)}")
    click.echo("\nnothing was changed")


@cli.command()
@click.option("--war", "war", type=click.Path(path_type=Path), required=True, help="The WAR a deploy would roll out.")
@fleet_options
@click.option("--serial", default=None, help="Batch size to plan with; overrides deploy_serial.")
@_strategy_option
def plan(war: Path, where: Where, serial: str | None, strategy: str | None) -> None:
    """Dry run: the batches in order, who is in rotation at each step, which release goes where.

    Reads the inventory and the live fleet (each node's release, HAProxy's states); changes
    nothing on any node or load balancer.

    Example:

        orchestrator plan --war build/app.war --serial 2
    """
    _show_plan(war, where, serial, strategy)


@cli.command()
@fleet_options
@click.option("--check", is_flag=True, help="Dry run: say which nodes would be added or removed, change nothing.")
@click.option("--no-wait", is_flag=True, help="Refuse (exit 3) instead of waiting when a deploy runs.")
@_strategy_option
def apply(where: Where, check: bool, no_wait: bool, strategy: str | None) -> None:
    """Make the fleet match the inventory: add new app servers, retire removed ones.

    A host added under 'appservers' gets Tomcat, the last known-good release and a health
    check on the node, and only then joins every load balancer (a seamless reload). A host
    removed from the inventory is drained, stopped and dropped from the load balancers. No
    request is lost either way. `orchestrator watch` runs this when the inventory changes.
    Exit codes: 2 bad input, nothing touched; 1 a step failed (named); 3 a deploy is running
    (--no-wait).

    Example:

        orchestrator apply --inventory inventory/production

        orchestrator apply --check
    """
    from orchestrator.records.history import History
    from orchestrator.rollout import apply as apply_lib

    history = History(where.state_dir)
    try:
        result = apply_lib.apply(
            where.inventory,
            state_dir=where.state_dir,
            history=history,
            check=check,
            say=click.echo,
            on_phase=_phase_printer(),
            lock_wait=not no_wait,
            strategy=strategy,
        )
    finally:
        history.close()
    changes = result.changes
    for node, why in sorted(result.warnings.items()):
        click.echo(f"warning: {node} is out of the load balancers, but its Tomcat was not stopped: {why}")
    if check:
        click.echo("nothing was changed")
    elif not changes.empty:
        joined_on = changes.war.release_id if changes.war is not None else "?"
        done = [f"{n} joined on {joined_on}" for n in changes.add] + [f"{n} retired" for n in changes.remove]
        click.echo(f"{'; '.join(done)} in {result.seconds:.1f}s; artifacts in {result.artifacts}")


@cli.command()
@fleet_options
@click.option("--no-wait", is_flag=True, help="Refuse (exit 3) instead of waiting when a deploy runs.")
@click.option("--to", "to", default=None, help="Bring the fleet to this release instead of the last known-good one.")
@click.option("--finish", is_flag=True, help="Deploy the interrupted release again (judged) instead of rolling back.")
@_strategy_option
def recover(where: Where, no_wait: bool, to: str | None, finish: bool, strategy: str | None) -> None:
    """Settle the fleet after a deploy was cut short: one release, every node in rotation.

    Stops the ansible-playbook runs a killed deploy left behind, records each deploy whose
    process is gone as interrupted (at the stage it reached), puts each node, one at a time,
    on its current release (else its previous one) and back in rotation on every load
    balancer (a blue/green node ends with exactly one live slot), then brings the fleet to one
    release: the last known-good one (the nodes that had switched roll back, not judged), or
    --to RELEASE, or with --finish the interrupted release, deployed again and judged. Says
    what it found and what it did, node by node. Waits for a deploy in progress (the lock)
    unless --no-wait. The watcher does the first part itself when it starts after a crash,
    then deploys the interrupted revision again. See docs/operations.md.

    Example:

        orchestrator recover --inventory inventory/production

        orchestrator recover --finish
    """
    from orchestrator import pipeline
    from orchestrator.pipeline import rollback as rollback_lib

    with pipeline.reporting(where.config, where.state_dir, say=click.echo, on_phase=_phase_printer()) as (
        history,
        report,
    ):
        rollback_lib.recover(
            where.inventory,
            where.state_dir,
            history,
            say=click.echo,
            strategy=strategy,
            lock_wait=not no_wait,
            to=to,
            finish=finish,
            report=report,
        )


# --- push to live ----------------------------------------------------------------------------


def _dashboard_site(where: Where):
    """The dashboard of ``where``, its token read (and checked) now: a bad token file stops the start."""
    from orchestrator.dashboard.app import Site
    from orchestrator.dashboard.settings import Settings, read_token

    settings = where.config.dashboard if where.config else Settings()
    token = read_token(settings.token_file) if settings.token_file else None
    return (
        Site(
            where.inventory,
            where.state_dir,
            where.config.path if where.config else None,
            token,
            settings.refresh_seconds,
        ),
        settings,
    )


@cli.command()
@fleet_options
@click.option("--listen", default=None, help="ADDRESS:PORT [default: [dashboard] listen, else 127.0.0.1:8088].")
def dashboard(where: Where, listen: str | None) -> None:
    """Serve the web dashboard and /metrics: the fleet live, the deploys, the judge's evidence.

    Pages: / (the fleet), /deploys, /deploys/<id>, /releases; /metrics in Prometheus' format.
    The actions (pause, resume, abort, promote, rollback, maintenance) need the token of
    [dashboard] token_file (mode 600); without it the pages are read-only. It reads the
    history without taking the deploy lock: it runs beside deploys and the watcher.

    Example:

        orchestrator dashboard --listen 127.0.0.1:8088
    """
    from orchestrator.dashboard import server
    from orchestrator.dashboard.settings import parse_listen

    site, settings = _dashboard_site(where)
    address = parse_listen(listen) if listen else parse_listen(settings.listen, "[dashboard] listen")
    sock = server.bind(address)  # an address in use is exit 2 before anything starts
    click.echo(
        f"dashboard on http://{address}/ ({'actions with the token' if site.token else 'read-only: no token_file'}); "
        "Ctrl-C stops it"
    )
    server.serve(site, sock)


@cli.command()
@_config_option
@_strategy_option
@click.option(
    "--dashboard",
    "dashboard_listen",
    default=None,
    metavar="ADDRESS:PORT",
    help="Also serve the dashboard and /metrics there, beside the watcher.",
)
def watch(config_path: Path | None, strategy: str | None, dashboard_listen: str | None) -> None:
    """Deploy every push: watch the spool for flags, build, test and roll out the newest revision.

    Pushes that arrive during a deploy are coalesced: only the newest revision goes next.
    SIGTERM or Ctrl-C stop it after the deploy in progress (never in the middle of a node):
    exit 0 on SIGTERM, 130 on Ctrl-C. After a crash it records the interrupted deploy,
    brings every node back into rotation on a release it can serve, and deploys again.

    Example:

        orchestrator watch --config /etc/orchestrator/orchestrator.toml
    """
    from orchestrator.push.watcher import Watcher
    from orchestrator.records.history import History

    config = _load_config(config_path, required=True)
    history = History(config.state_dir)
    if strategy is not None:
        from orchestrator.fleet.inventory import check_strategy

        check_strategy(strategy, "--strategy")
    web = None
    if dashboard_listen is not None:
        from orchestrator.dashboard import server
        from orchestrator.dashboard.settings import parse_listen

        site, _ = _dashboard_site(Where(config, config.inventory, config.state_dir))
        address = parse_listen(dashboard_listen, "--dashboard")
        web = server.Background(site, address).start()
        click.echo(f"{datetime.now():%H:%M:%S} dashboard on http://{address}/")
    watcher = Watcher(
        config,
        history=history,
        say=lambda m: click.echo(f"{datetime.now():%H:%M:%S} {m}"),
        on_phase=_phase_printer(clock=True),
        strategy=strategy,
    )
    got = {}

    def on_signal(signum, frame):
        got["signal"] = signum
        click.echo(f"{datetime.now():%H:%M:%S} {signal.Signals(signum).name}: stopping after the deploy in progress")
        watcher.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        watcher.run()
    finally:
        if web is not None:
            web.stop()
        history.close()
    if got.get("signal") == signal.SIGINT:
        sys.exit(130)


def _keep_record(path: Path | None, config, record) -> None:
    if path is None:
        return
    from ansible_collections.orchestrator.fleet.plugins.module_utils.fsutil import write_atomic
    from orchestrator.push import handoff

    write_atomic(path, json.dumps(handoff.document(config, record), sort_keys=True) + "\n")


@cli.command()
@click.option(
    "--rev",
    "rev",
    default=None,
    help="Deploy this revision of the config's repository (with the newest of its branch), as a push would.",
)
@click.option(
    "--wait", is_flag=True, help="With --rev: follow the deploy that contains it; exit 0 live, 1 not, 4 timeout."
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=1800,
    show_default=True,
    help="With --wait: seconds to wait for the outcome (the deploy goes on after it).",
)
@click.option(
    "--record",
    "record_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="With --wait: write the deploy it followed to this file, as `history --json` prints it (also when it failed).",
)
@_config_option
@click.option("--spool", type=click.Path(path_type=Path), default=None, help="The spool directory (without --rev).")
@click.option("--repository", default=None, help="The repository that was pushed to, for the record (without --rev).")
@click.option("--git", "git_hook", is_flag=True, help="Read git post-receive lines (<old> <new> <ref>) from stdin.")
@click.option("--branch", default=None, help="Branch pushed to (without --git).")
@click.option("--revision", default=None, help="Revision pushed (without --git).")
def trigger(
    rev: str | None,
    wait: bool,
    timeout: float,
    record_file: Path | None,
    config_path: Path | None,
    spool: Path | None,
    repository: str | None,
    git_hook: bool,
    branch: str | None,
    revision: str | None,
) -> None:
    """Write a flag that asks the watcher to deploy (what the push hooks do); with --wait, follow it.

    Only writes a file into <spool>/incoming; never deploys, needs no privileges beyond that.
    A CI job hands a pushed revision over with --rev R --wait: the watcher builds, tests and
    rolls out its branch's newest revision, and this prints that deploy's progress and exits 0
    once R is live, 1 if the deploy failed or its release was rejected (the reason is printed),
    4 if --timeout ran out first (the deploy goes on), 2 if R is not on the watcher's branch.
    --record FILE keeps that very deploy as JSON for the job's archive (`history --limit 1` may
    already show a newer one).

    Example:

        orchestrator trigger --rev 3f2a9c1d0b7e --wait --timeout 900 --record deploy.json

        orchestrator trigger --spool /var/spool/orchestrator --repository /srv/hg/app --branch default --revision 3f2a9c1d0b7e
    """
    from orchestrator import flags as flag_lib

    if record_file is not None and not (rev and wait):
        raise InputError("--record keeps the deploy that --wait followed: give --rev REV --wait --record FILE")
    if rev is not None:
        if spool or repository or git_hook or branch or revision:
            raise InputError(
                "--rev takes the spool, repository and branch from orchestrator.toml: "
                "drop --spool/--repository/--branch/--revision/--git"
            )
        from orchestrator.push import handoff

        config = _load_config(config_path, required=True)
        asked = handoff.request(config, rev)
        click.echo(f"deploy of {asked.revision[:12]} ({config.branch}) queued: {asked.flag.name}")
        if wait:
            try:
                record = handoff.follow(config, asked, timeout=timeout, say=click.echo)
            except handoff.NotLive as exc:
                _keep_record(record_file, config, exc.record)
                raise
            _keep_record(record_file, config, record)
            said = "was already live" if record.outcome == "unchanged" else f"is live: {record.release_id}"
            click.echo(f"revision {asked.revision[:12]} {said} (deploy #{record.id})")
            if record.message and record.outcome == "deployed":
                click.echo(f"during it: {record.message}")
        return
    if wait:
        raise InputError("--wait follows a --rev: give --rev REV")
    if spool is None or repository is None:
        raise InputError("give --rev REV (with orchestrator.toml), or --spool and --repository as the hooks do")
    if git_hook:
        from orchestrator.push.hooks import git_post_receive

        for path in git_post_receive(sys.stdin.read().splitlines(), spool=spool, repository=repository):
            click.echo(f"orchestrator: deploy queued: {Path(path).name}")
        return
    if not branch or not revision:
        raise InputError("give --branch and --revision (or --git to read post-receive lines from stdin)")
    try:
        flag = flag_lib.make("manual", repository, branch, revision)
        path = flag_lib.write(str(spool), flag)
    except flag_lib.FlagError as exc:
        raise InputError(f"not a valid flag: {exc}") from None
    except FileNotFoundError:
        raise InputError(f"{spool}/incoming does not exist: is --spool the watcher's spool directory?") from None
    click.echo(f"deploy queued: {Path(path).name}")


@cli.group()
def hook() -> None:
    """Set up the push hooks of the central repositories.

    Example:

        orchestrator hook install --hg /srv/hg/app --spool /var/spool/orchestrator
    """


@hook.command("install")
@click.option("--hg", "hg_repo", type=click.Path(path_type=Path), default=None, help="A Mercurial repository.")
@click.option(
    "--git", "git_repo", type=click.Path(path_type=Path), default=None, help="A git repository (bare or not)."
)
@click.option("--spool", type=click.Path(path_type=Path), required=True, help="The watcher's spool directory.")
def hook_install(hg_repo: Path | None, git_repo: Path | None, spool: Path) -> None:
    """Install the push hook (idempotent): Mercurial changegroup or git post-receive.

    Example:

        orchestrator hook install --git /srv/git/app.git --spool /var/spool/orchestrator
    """
    from orchestrator.push import hooks

    if (hg_repo is None) == (git_repo is None):
        raise InputError("give exactly one of --hg REPO or --git REPO")
    if hg_repo is not None:
        path = hooks.install_hg(hg_repo, spool)
    else:
        assert git_repo is not None  # exactly one of them (checked above)
        path = hooks.install_git(git_repo, spool)
    click.echo(f"hook installed: {path}")


@cli.command()
@fleet_options(inventory=False)
@click.option("--limit", default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per deploy, every field.")
def history(where: Where, limit: int, as_json: bool) -> None:
    """List recent deploys: trigger, revision, release, outcome, stage times, nodes.

    Example:

        orchestrator history --limit 5 --json
    """
    from orchestrator.records.deploys import STAGES
    from orchestrator.records.history import History

    store = History(where.state_dir, writable=False)
    try:
        records = store.list(limit)
        ledger = {r.release_id: r.status for r in store.releases()}
    finally:
        store.close()
    if as_json:
        for record in records:
            click.echo(
                json.dumps({**record.as_dict(), "release_status": ledger.get(record.release_id or "")}, sort_keys=True)
            )
        return
    # the migration phases' starts are in --json; the table shows when each stage was reached
    shown = [s for s in STAGES[1:] if s not in ("expand_started", "contract_started")]
    click.echo(
        f"{'#':>4} {'when':<19} {'trigger':<10} {'revision':<12} {'release (ledger)':<40} {'outcome':<11} "
        f"{'stage':<8} " + " ".join(f"{s[:8]:>8}" for s in shown)
    )
    for r in records:
        base = r.times.get("pushed") or r.times.get("claimed") or next((t for t in r.times.values() if t), None)
        when = datetime.fromtimestamp(base).strftime("%Y-%m-%d %H:%M:%S") if base else "-"
        offsets = " ".join(f"{(t - base):8.1f}" if t and base else f"{'-':>8}" for t in (r.times[s] for s in shown))
        release = f"{r.release_id} ({ledger[r.release_id]})" if r.release_id in ledger else (r.release_id or "-")
        click.echo(
            f"{r.id:>4} {when:<19} {r.trigger:<10} {(r.revision or '-')[:12]:<12} {release[:40]:<40} "
            f"{r.outcome:<11} {(r.stage or '-'):<8} {offsets}"
        )
        if r.message:
            click.echo(f"     {'during it: ' if r.outcome == 'deployed' else ''}{r.message[:300]}")
        slotted = [n for n in r.nodes if n.get("slot") and n.get("outcome") == "done"]
        if slotted:
            click.echo("     slots: " + ", ".join(f"{n['node']} {n['slot']} ({n['new']})" for n in slotted))
        if r.verdicts:
            judged = ", ".join(f"{v['node']} {v['verdict']}" for v in r.verdicts)
            click.echo(f"     judged: {judged} (orchestrator releases show {r.verdicts[0]['release_id']})")
        if r.deliveries:
            outcomes = Counter(d["outcome"] for d in r.deliveries)
            click.echo(
                "     notified: "
                + ", ".join(f"{n} {outcome}" for outcome, n in sorted(outcomes.items()))
                + " (history --json: each delivery)"
            )
    click.echo("stage columns: seconds after the push (or the claim)")


@cli.command()
@fleet_options
@click.option("--json", "as_json", is_flag=True, help="One JSON object: everything shown, for a CI job or a dashboard.")
def status(where: Where, as_json: bool) -> None:
    """Show the deploy in progress, the last deploy, and each node's release and HAProxy state.

    Example:

        orchestrator status

        orchestrator status --json
    """
    from orchestrator import status as fleet_status

    now = fleet_status.read(where.inventory, where.state_dir)
    if as_json:
        click.echo(json.dumps(now.as_dict(), sort_keys=True))
        return
    click.echo(f"deploy in progress: {now.deploy_in_progress or 'none'}")
    if now.gate:
        from ansible_collections.orchestrator.fleet.plugins.module_utils.gate import describe

        click.echo(f"  {describe(now.gate)}")
    r = now.last_deploy
    if r is not None:
        outcome = "CUT SHORT (recorded running; no process runs it)" if r.id in now.cut_short else r.outcome
        click.echo(
            f"last deploy: #{r.id} {r.trigger} {r.release_id or r.revision or '-'}: {outcome}"
            + (f" at {r.stage}" if r.outcome not in ("deployed", "running", "unchanged") else "")
        )
    if now.cut_short:
        click.echo(
            f"deploy(s) #{', #'.join(map(str, now.cut_short))} cut short: 'orchestrator recover' records them and "
            "brings the fleet to one release (a deploy refuses until then)"
        )
    lbs = sorted({lb for n in now.nodes for lb in n.haproxy})
    click.echo(f"{'node':<14} {'release':<28} {'slot':<5} " + " ".join(f"{lb:<12}" for lb in lbs))
    for n in now.nodes:
        click.echo(
            f"{n.name:<14} {n.release or '-':<28} {n.slot:<5} "
            + " ".join(f"{n.haproxy.get(lb, '-'):<12}" for lb in lbs)
        )
    if now.old_slots_until is not None:
        keep = _keep_seconds(where.inventory)
        click.echo(
            f"old slots: their window is open until {datetime.fromtimestamp(now.old_slots_until):%H:%M:%S} "
            "(unless promoted): a rollback until then only switches HAProxy back"
            if fleet_status.window_open(now)
            else f"old slots: their window is over (bluegreen_keep_seconds {keep:g}); a rollback rolls the release out again"
        )
    out = sorted(
        n.name for n in now.nodes if n.haproxy and not any(str(v).startswith("UP") for v in n.haproxy.values())
    )
    if out and not now.deploy_in_progress:
        click.echo(
            f"capacity: {len(now.nodes) - len(out)} of {len(now.nodes)} serving; OUT OF ROTATION: {', '.join(out)} "
            "(no load balancer sends them requests)"
        )
    if now.mixed:
        click.echo(f"fleet: MIXED, more than one release: {now.mixed}")
    elif now.nodes:
        click.echo(f"fleet: every node on {now.release or '(no release)'}")
    if now.in_maintenance:
        state = now.maintenance[now.in_maintenance[0]] or {}
        by = (
            f" (turned on by {now.maintenance_by['by']} at {datetime.fromtimestamp(now.maintenance_by['since']):%Y-%m-%d %H:%M:%S})"
            if now.maintenance_by
            else ""
        )
        click.echo(
            f"maintenance: ON at {', '.join(now.in_maintenance)}{by}: every request gets a 503, Retry-After "
            f"{state['retry_after']}, {state['message']!r}; 'orchestrator maintenance off' serves again"
        )
    for problem in now.problems:
        click.echo(problem)


def _keep_seconds(inventory: Path) -> float:
    from orchestrator.fleet.inventory import load_fleet

    return load_fleet(inventory).keep_seconds


@cli.group()
def maintenance() -> None:
    """Answer every request with a 503 maintenance page, or serve again.

    Every load balancer answers at once (through its admin socket: no reload, no Tomcat
    stopped), with a Retry-After header and the message on a small HTML page; it lasts across
    HAProxy reloads and `orchestrator apply` until `maintenance off`. Deploys meanwhile are
    allowed (and say so).

    Example:

        orchestrator maintenance on --message "Upgrading the database; back at 10:30 UTC." --retry-after 600

        orchestrator maintenance off
    """


@maintenance.command("on")
@click.option(
    "--message", default="Down for maintenance. Back soon.", show_default=True, help="What the page says (plain text)."
)
@click.option("--retry-after", type=int, default=300, show_default=True, help="Seconds, for the Retry-After header.")
@fleet_options
def maintenance_on(message: str, retry_after: int, where: Where) -> None:
    """Every load balancer answers 503 with the page, from now until `maintenance off`.

    Example:

        orchestrator maintenance on --message "Back at 10:30 UTC" --retry-after 600
    """
    from orchestrator.control import maintenance as maintenance_lib

    states = maintenance_lib.turn(where.inventory, where.state_dir, on=True, message=message, retry_after=retry_after)
    click.echo(
        f"maintenance on at {', '.join(sorted(states)) or 'no load balancer'}: every request gets a 503 "
        f"with Retry-After {retry_after}; 'orchestrator maintenance off' serves again"
    )


@maintenance.command("off")
@fleet_options
def maintenance_off(where: Where) -> None:
    """Every load balancer serves the application again.

    Example:

        orchestrator maintenance off
    """
    from orchestrator.control import maintenance as maintenance_lib

    states = maintenance_lib.turn(where.inventory, where.state_dir, on=False)
    click.echo(f"maintenance off at {', '.join(sorted(states)) or 'no load balancer'}: serving again")


# --- sandbox ---------------------------------------------------------------------------------


@cli.group()
def sandbox() -> None:
    """A local cluster on this machine: HAProxy and Tomcat nodes on loopback addresses.

    Example:

        orchestrator sandbox up --nodes 2 && orchestrator sandbox status
    """


_dir_option = click.option(
    "--dir",
    "directory",
    type=click.Path(path_type=Path),
    default=None,
    help="Sandbox directory [default: .sandbox in the project].",
)


@sandbox.command("up")
@click.option("--nodes", default=2, show_default=True, help="How many Tomcat nodes.")
@click.option("--net", default=1, show_default=True, help="Nodes get 127.0.NET.1-N, HAProxy 127.0.NET.100.")
@click.option(
    "--bake-seconds",
    default=5.0,
    show_default=True,
    help="Seconds each new node is watched under real traffic before the roll goes on (0: off).",
)
@click.option("--ssh", is_flag=True, help="Reach the nodes over SSH: an sshd per node on its address, port 2222.")
@click.option(
    "--strategy",
    type=click.Choice(["rolling", "bluegreen"]),
    default="rolling",
    show_default=True,
    help="How deploys switch releases: rolling restarts each node; bluegreen gives each node two "
    "Tomcat slots (ports 8080 and 8081) and switches HAProxy between them.",
)
@click.option(
    "--database",
    is_flag=True,
    help="A PostgreSQL of the sandbox's own on 127.0.NET.200: the sample application writes a table on "
    "every page, and each deploy runs its schema migrations (expand before, contract after).",
)
@_dir_option
@click.option(
    "--inventory",
    "-i",
    type=click.Path(path_type=Path),
    default=None,
    help="Where to write the inventory [default: inventory/sandbox].",
)
def sandbox_up(
    nodes: int,
    net: int,
    bake_seconds: float,
    ssh: bool,
    strategy: str,
    database: bool,
    directory: Path | None,
    inventory: Path | None,
) -> None:
    """Provision HAProxy, NODES Tomcat instances and a central hg repository (idempotent).

    The repository (DIR/central) has the push hook installed; DIR/clone is a working clone of
    the sample application to edit, commit and push; DIR/orchestrator.toml configures
    `orchestrator watch` for it.

    Example:

        orchestrator sandbox up --nodes 3
    """
    from orchestrator.sandbox import cluster as sandbox_lib

    box = sandbox_lib.Sandbox(
        directory=(directory or _default_sandbox_dir()).resolve(),
        inventory=(inventory or _default_inventory()).resolve(),
        nodes=nodes,
        net=net,
        bake_seconds=bake_seconds,
        ssh=ssh,
        strategy=strategy,
        database=database,
    )
    click.echo(
        f"provisioning {nodes} node(s) ({strategy}) and HAProxy{' and PostgreSQL' if database else ''} "
        f"in {box.directory} ..."
    )
    sandbox_lib.up(box)
    click.echo(f"sandbox up: {box.url} (inventory {box.inventory})")
    if box.db is not None:
        click.echo(f"  database {box.db.address}:{sandbox_lib.sandbox_db.PORT} (settings for psql: {box.db.env_file})")
    click.echo(f"  repository {box.central}, working clone {box.clone}, config {box.config}")


@sandbox.command("down")
@_dir_option
def sandbox_down(directory: Path | None) -> None:
    """Stop every process the sandbox started, by PID (files are kept).

    Example:

        orchestrator sandbox down
    """
    from orchestrator.sandbox import cluster as sandbox_lib

    box = sandbox_lib.Sandbox.load(directory or _default_sandbox_dir())
    stopped = sandbox_lib.down(box)
    click.echo("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))


@sandbox.command("status")
@_dir_option
def sandbox_status(directory: Path | None) -> None:
    """Show HAProxy and each node: process, release, health, HAProxy state.

    Example:

        orchestrator sandbox status
    """
    from orchestrator.sandbox import cluster as sandbox_lib

    box = sandbox_lib.Sandbox.load(directory or _default_sandbox_dir())
    lb_pid, nodes = sandbox_lib.status(box)
    click.echo(f"haproxy  {box.url}  " + (f"pid {lb_pid}" if lb_pid else "stopped"))
    width = 19 if box.strategy == "bluegreen" else 8  # node1-green (idle)
    click.echo(f"{'node':<{width}} {'address':<14} {'pid':>7}  {'haproxy':<10} {'release':<28} health")
    for n in nodes:
        name = n.name if n.live else f"{n.name} (idle)"
        click.echo(f"{name:<{width}} {n.address:<14} {n.pid or '-':>7}  {n.haproxy:<10} {n.release:<28} {n.health}")


STORAGE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS)


def _storage_fault(exc: BaseException) -> str | None:
    """What to say about a write the machine refused in the middle of a command (a full disk, a
    failing one, a file system gone read-only); None for any other error. The commands check
    their state directory before they start (exit 2); this is for what happens after."""
    from orchestrator.records.storage import out_of_space

    if isinstance(exc, sqlite3.Error) and not any(
        words in str(exc) for words in ("full", "disk I/O", "readonly", "unable to open")
    ):
        return None
    if isinstance(exc, OSError) and exc.errno not in STORAGE_ERRNOS:
        return None
    where = f"{exc.strerror}: {exc.filename}" if isinstance(exc, OSError) else f"the history: {exc}"
    fix = (
        "free some space on that file system (or choose another state directory with --state-dir)"
        if out_of_space(exc)
        else "check that file system (dmesg, mount)"
    )
    return f"a write failed ({where}); {fix}. Run 'orchestrator status' to see where the fleet is"


def main() -> None:
    """Entry point: the one place that turns errors into messages and exit codes."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.exceptions.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except OrchestratorError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except (OSError, sqlite3.Error) as exc:
        said = _storage_fault(exc)
        if said is None:
            raise
        click.echo(f"error: {said}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)

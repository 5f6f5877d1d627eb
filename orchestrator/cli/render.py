"""How the commands show things: each node's phase as it goes, the summary table of a roll, a plan."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

import click

from orchestrator.cli.base import Where

SUMMARY_PHASES = ("ship", "drain", "stop", "install", "start", "verify", "enable", "bake")


def phase_printer(*, clock: bool = False):
    """Print each node's phase changes: seconds since start, or (for the watcher) the time of day."""
    began = time.monotonic()

    def show(node, phase: str) -> None:
        when = datetime.now().strftime("%H:%M:%S.%f")[:10] if clock else f"[{time.monotonic() - began:6.1f}s]"
        click.echo(f"{when} {node.name:<12} {phase}")

    return show


def fmt(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.2f}"


def print_summary(result) -> None:
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
        times = " ".join(f"{fmt(node.seconds(p)):>7}" for p in SUMMARY_PHASES)
        click.echo(f"{name:<12} {release:<52} {times} {fmt(node.total):>7}  {node.phase}")
    click.echo(f"\nseconds per phase; the roll took {result.seconds:.1f}s; artifacts in {result.run.artifacts}")
    if result.incidents:
        click.echo("not done by the deploy:")
        for incident in result.incidents:
            click.echo(f"  {incident}")


def show_plan(war: Path, where: Where, serial: str | None, strategy: str | None = None) -> None:
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


def schema(release) -> str:
    """'2 -> 3' (after expand, after contract), '2 -> ?' (contract pending), '-' (no migrations known)."""
    if release.migrations is None:
        return "-"
    contract = "?" if release.schema_contract is None else str(release.schema_contract)
    return (
        str(release.schema_expand or 0)
        if contract == str(release.schema_expand or 0)
        else f"{release.schema_expand or 0} -> {contract}"
    )

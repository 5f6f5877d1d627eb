"""How the commands show things: each node's phase as it goes, the summary table of a roll, a plan,
the ledger, a release's verdicts, the history and the fleet's status."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
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


def show_releases(ledger, good) -> None:
    """The release ledger, newest first; ``good``: the last known-good release (marked)."""
    click.echo(f"{'release':<28} {'version':<10} {'status':<12} {'since':<19} {'schema':<8} reason")
    for r in ledger:
        mark = "  <- last known-good" if good and r.release_id == good.release_id else ""
        since = datetime.fromtimestamp(r.changed).strftime("%Y-%m-%d %H:%M:%S")
        click.echo(
            f"{r.release_id:<28} {(r.version or '-'):<10} {r.status:<12} {since:<19} {schema(r):<8} "
            f"{(r.reason or '')[:200]}{mark}"
        )
    if any(r.migrations is not None for r in ledger):
        click.echo(
            "schema: the version each release runs with after its expand -> after its contract "
            "('?': its contract has not run)"
        )


def show_release(release, verdicts) -> None:
    """One release's standing and the judge's verdict on each node, with every number."""
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


def show_history(records, ledger: dict[str, str]) -> None:
    """Recent deploys with each stage's seconds after the push; ``ledger``: release -> its standing."""
    from orchestrator.records.deploys import STAGES

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


def show_status(now, keep_seconds: Callable[[], float]) -> None:
    """The fleet now (status.read): the deploy in progress, the last one, each node, what is wrong.
    ``keep_seconds``: bluegreen_keep_seconds, read only when the old slots' window is shown."""
    from orchestrator import status as fleet_status

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
        keep = keep_seconds()
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

"""The commands that read the history: history, releases, releases show."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from pathlib import Path

import click

from orchestrator.cli.base import Where, cli, config_option, fleet_options, resolve_where, state_dir_option
from orchestrator.cli.render import schema
from orchestrator.errors import InputError


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
            f"{r.release_id:<28} {(r.version or '-'):<10} {r.status:<12} {since:<19} {schema(r):<8} "
            f"{(r.reason or '')[:200]}{mark}"
        )
    if any(r.migrations is not None for r in ledger):
        click.echo(
            "schema: the version each release runs with after its expand -> after its contract "
            "('?': its contract has not run)"
        )


@releases.command("show")
@click.argument("release_id")
@config_option
@state_dir_option
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

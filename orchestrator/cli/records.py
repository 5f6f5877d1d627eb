"""The commands that read the history: history, releases, releases show."""

from __future__ import annotations

import json
from pathlib import Path

import click

from orchestrator.cli.base import Where, cli, config_option, fleet_options, resolve_where, state_dir_option
from orchestrator.cli.render import show_history, show_release, show_releases
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
    show_releases(ledger, good)


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
    show_release(release, verdicts)


@cli.command()
@fleet_options(inventory=False)
@click.option("--limit", default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per deploy, every field.")
def history(where: Where, limit: int, as_json: bool) -> None:
    """List recent deploys: trigger, revision, release, outcome, stage times, nodes.

    Example:

        orchestrator history --limit 5 --json
    """
    from orchestrator.records.history import History

    store = History(where.state_dir, writable=False)
    try:
        records = store.list(limit)
        if as_json:
            for document in store.documents(records):
                click.echo(json.dumps(document, sort_keys=True))
            return
        ledger = store.standings()
    finally:
        store.close()
    show_history(records, ledger)

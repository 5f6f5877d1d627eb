"""The commands about the fleet itself: status, plan, apply, hook install, dashboard."""

from __future__ import annotations

import json
from pathlib import Path

import click

from orchestrator.cli.base import Where, cli, fleet_options, strategy_option
from orchestrator.cli.render import phase_printer, show_plan, show_status
from orchestrator.errors import InputError


@cli.command()
@click.option("--war", "war", type=click.Path(path_type=Path), required=True, help="The WAR a deploy would roll out.")
@fleet_options
@click.option("--serial", default=None, help="Batch size to plan with; overrides deploy_serial.")
@strategy_option
def plan(war: Path, where: Where, serial: str | None, strategy: str | None) -> None:
    """Dry run: the batches in order, who is in rotation at each step, which release goes where.

    Reads the inventory and the live fleet (each node's release, HAProxy's states); changes
    nothing on any node or load balancer.

    Example:

        orchestrator plan --war build/app.war --serial 2
    """
    show_plan(war, where, serial, strategy)


@cli.command()
@fleet_options
@click.option("--check", is_flag=True, help="Dry run: say which nodes would be added or removed, change nothing.")
@click.option("--no-wait", is_flag=True, help="Refuse (exit 3) instead of waiting when a deploy runs.")
@strategy_option
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
            on_phase=phase_printer(),
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
    show_status(now, lambda: keep_seconds(where.inventory))


def keep_seconds(inventory: Path) -> float:
    from orchestrator.fleet.inventory import load_fleet

    return load_fleet(inventory).keep_seconds


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


def dashboard_site(where: Where):
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

    site, settings = dashboard_site(where)
    address = parse_listen(listen) if listen else parse_listen(settings.listen, "[dashboard] listen")
    sock = server.bind(address)  # an address in use is exit 2 before anything starts
    click.echo(
        f"dashboard on http://{address}/ ({'actions with the token' if site.token else 'read-only: no token_file'}); "
        "Ctrl-C stops it"
    )
    server.serve(site, sock)

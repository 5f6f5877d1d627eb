"""The commands that deploy: deploy, rollback, recover, trigger (a CI job's hand-off) and watch."""

from __future__ import annotations

import json
import signal
import sys
from datetime import datetime
from pathlib import Path

import click

from orchestrator.cli.base import Where, cli, config_option, fleet_options, load_config, strategy_option
from orchestrator.cli.fleet import dashboard_site
from orchestrator.cli.render import phase_printer, print_summary, show_plan
from orchestrator.errors import InputError, OrchestratorError


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
@strategy_option
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
        show_plan(war, where, serial, strategy)
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
    with pipeline.reporting(config, state_dir, say=click.echo, on_phase=phase_printer()) as (history, report):
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
                print_summary(partial)
            raise
    print_summary(result)
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
@strategy_option
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

    with pipeline.reporting(where.config, where.state_dir, say=click.echo, on_phase=phase_printer()) as (
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
@click.option("--no-wait", is_flag=True, help="Refuse (exit 3) instead of waiting when a deploy runs.")
@click.option("--to", "to", default=None, help="Bring the fleet to this release instead of the last known-good one.")
@click.option("--finish", is_flag=True, help="Deploy the interrupted release again (judged) instead of rolling back.")
@strategy_option
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

    with pipeline.reporting(where.config, where.state_dir, say=click.echo, on_phase=phase_printer()) as (
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


def keep_record(path: Path | None, config, record) -> None:
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
@config_option
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

        config = load_config(config_path, required=True)
        asked = handoff.request(config, rev)
        click.echo(f"deploy of {asked.revision[:12]} ({config.branch}) queued: {asked.flag.name}")
        if wait:
            try:
                record = handoff.follow(config, asked, timeout=timeout, say=click.echo)
            except handoff.NotLive as exc:
                keep_record(record_file, config, exc.record)
                raise
            keep_record(record_file, config, record)
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


@cli.command()
@config_option
@strategy_option
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

    config = load_config(config_path, required=True)
    history = History(config.state_dir)
    if strategy is not None:
        from orchestrator.fleet.inventory import check_strategy

        check_strategy(strategy, "--strategy")
    web = None
    if dashboard_listen is not None:
        from orchestrator.dashboard import server
        from orchestrator.dashboard.settings import parse_listen

        site, _ = dashboard_site(Where(config, config.inventory, config.state_dir))
        address = parse_listen(dashboard_listen, "--dashboard")
        web = server.Background(site, address).start()
        click.echo(f"{datetime.now():%H:%M:%S} dashboard on http://{address}/")
    watcher = Watcher(
        config,
        history=history,
        say=lambda m: click.echo(f"{datetime.now():%H:%M:%S} {m}"),
        on_phase=phase_printer(clock=True),
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

"""The commands that steer a roll or the fleet's front door: pause, resume, abort, promote, maintenance."""

from __future__ import annotations

import click

from orchestrator.cli.base import Where, cli, fleet_options


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
    from orchestrator.rollout import bluegreen

    inventory, state_dir = where.inventory, where.state_dir
    if after is not None:
        bluegreen.promote_when_due(inventory, state_dir, after, say=click.echo)
        return
    if not old_slots:
        click.echo(control.promote(state_dir))
        return
    stopped = bluegreen.promote_now(
        inventory,
        state_dir,
        wait=not no_wait,
        on_wait=lambda who: click.echo(f"waiting for the deploy lock, held by {who}"),
    )
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

"""The orchestrator command line: thin commands over the library, one error boundary."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from orchestrator import sandbox as sandbox_lib
from orchestrator import deploy as deploy_lib
from orchestrator.deploy import DeployResult
from orchestrator.errors import OrchestratorError
from orchestrator.progress import NodeProgress
from orchestrator.project import default_state_dir, project_dir
from orchestrator.runner import DEPLOY_PHASES

SUMMARY_PHASES = [p for p in DEPLOY_PHASES if p != "rescue"]


def _default_sandbox_dir() -> Path:
    return project_dir() / ".sandbox"


def _default_inventory() -> Path:
    return project_dir() / "inventory" / "sandbox"


@click.group()
@click.version_option(package_name="orchestrator")
def cli() -> None:
    """Continuous deployment of a Java web application to Tomcat behind HAProxy.

    Example:

        orchestrator sandbox up --nodes 2

        orchestrator deploy --war app.war
    """


# --- deploy ----------------------------------------------------------------------------------

def _phase_printer():
    began = time.monotonic()

    def show(node: NodeProgress, phase: str) -> None:
        click.echo(f"[{time.monotonic() - began:6.1f}s] {node.name:<12} {phase}")

    return show


def _fmt(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.2f}"


def _print_summary(result: DeployResult) -> None:
    click.echo("")
    header = f"{'node':<12} {'release (old -> new)':<52} " + " ".join(f"{p:>7}" for p in SUMMARY_PHASES) + f" {'total':>7}"
    click.echo(header)
    for name in result.fleet.appservers:
        node = result.nodes.get(name)
        change = result.releases.get(name, {})
        old, new = change.get("old") or "(none)", change.get("new") or "-"
        release = f"{old} -> {new}" if change else "-"
        if node is not None and node.phase == "untouched":
            release = f"{old} (untouched)"
        elif node is not None and node.phase == "failed" and node.rescued:
            release = f"{old} (restored; {new} failed)" if change.get("old") else f"{new} failed, out of rotation"
        if node is None:
            click.echo(f"{name:<12} {release:<52}")
            continue
        times = " ".join(f"{_fmt(node.seconds(p)):>7}" for p in SUMMARY_PHASES)
        click.echo(f"{name:<12} {release:<52} {times} {_fmt(node.total):>7}  {node.phase}")
    click.echo(f"\nseconds per phase; deploy {result.deploy_id} took {result.seconds:.1f}s; "
               f"artifacts in {result.run.artifacts}")


@cli.command()
@click.option("--war", "war", type=click.Path(path_type=Path), required=True, help="The WAR file to deploy.")
@click.option("--inventory", "-i", type=click.Path(path_type=Path), default=None,
              help="Inventory file or directory [default: inventory/sandbox].")
@click.option("--serial", default=None, help="Batch size: a number, a percentage ('25%'); overrides deploy_serial.")
@click.option("--state-dir", type=click.Path(path_type=Path), default=None,
              help="Where deploy records and runner artifacts go [default: .orchestrator/].")
def deploy(war: Path, inventory: Path | None, serial: str | None, state_dir: Path | None) -> None:
    """Roll WAR across the app servers, batch by batch, behind HAProxy.

    Each node is drained, stopped, given the release, started, health-checked on the node
    itself and put back in rotation. A node that fails gets its previous release back and the
    roll stops there. Exit code 2: bad input, nothing touched; 1: the deploy failed.

    Example:

        orchestrator deploy --war build/app.war --inventory inventory/production
    """
    plan = deploy_lib.plan(war, inventory=inventory or _default_inventory(), serial=serial)
    click.echo(f"deploying release {plan.war.release_id} (sha256 {plan.war.sha256})")
    click.echo(f"  to {', '.join(plan.fleet.appservers)} behind {', '.join(plan.fleet.loadbalancers)}, "
               f"batch size {serial or 'from the inventory (default 1)'}")
    try:
        result = deploy_lib.deploy(plan, state_dir=state_dir or default_state_dir(), on_phase=_phase_printer())
    except OrchestratorError as exc:
        partial = getattr(exc, "result", None)
        if partial is not None and partial.nodes:
            _print_summary(partial)
        raise
    _print_summary(result)
    click.echo(f"release {result.war.release_id} (sha256 {result.war.sha256}) is live on "
               f"{', '.join(result.fleet.appservers)}")


# --- sandbox ---------------------------------------------------------------------------------

@cli.group()
def sandbox() -> None:
    """A local cluster on this machine: HAProxy and Tomcat nodes on loopback addresses.

    Example:

        orchestrator sandbox up --nodes 2 && orchestrator sandbox status
    """


_dir_option = click.option("--dir", "directory", type=click.Path(path_type=Path), default=None,
                           help="Sandbox directory [default: .sandbox in the project].")


@sandbox.command("up")
@click.option("--nodes", default=2, show_default=True, help="How many Tomcat nodes.")
@click.option("--net", default=1, show_default=True, help="Nodes get 127.0.NET.1-N, HAProxy 127.0.NET.100.")
@_dir_option
@click.option("--inventory", "-i", type=click.Path(path_type=Path), default=None,
              help="Where to write the inventory [default: inventory/sandbox].")
def sandbox_up(nodes: int, net: int, directory: Path | None, inventory: Path | None) -> None:
    """Provision HAProxy and NODES Tomcat instances with the project's roles (idempotent).

    Example:

        orchestrator sandbox up --nodes 3
    """
    box = sandbox_lib.Sandbox(directory=(directory or _default_sandbox_dir()).resolve(),
                              inventory=(inventory or _default_inventory()).resolve(), nodes=nodes, net=net)
    click.echo(f"provisioning {nodes} node(s) and HAProxy in {box.directory} ...")
    sandbox_lib.up(box)
    click.echo(f"sandbox up: {box.url} (inventory {box.inventory})")
    click.echo(f"next: orchestrator deploy --war app.war{'' if inventory is None else f' --inventory {box.inventory}'}")


@sandbox.command("down")
@_dir_option
def sandbox_down(directory: Path | None) -> None:
    """Stop every process the sandbox started, by PID (files are kept).

    Example:

        orchestrator sandbox down
    """
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
    box = sandbox_lib.Sandbox.load(directory or _default_sandbox_dir())
    lb_pid, nodes = sandbox_lib.status(box)
    click.echo(f"haproxy  {box.url}  " + (f"pid {lb_pid}" if lb_pid else "stopped"))
    click.echo(f"{'node':<8} {'address':<14} {'pid':>7}  {'haproxy':<10} {'release':<28} health")
    for n in nodes:
        click.echo(f"{n.name:<8} {n.address:<14} {n.pid or '-':>7}  {n.haproxy:<10} {n.release:<28} {n.health}")


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
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)

"""`orchestrator sandbox`: the local cluster on loopback addresses."""

from __future__ import annotations

from pathlib import Path

import click

from orchestrator.cli.base import _default_inventory, _default_sandbox_dir, cli


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

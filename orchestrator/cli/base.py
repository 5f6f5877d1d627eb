"""What every command shares: the group, the options, and where the config, the inventory and the
state directory are found."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

from orchestrator.errors import InputError
from orchestrator.project import default_state_dir, project_dir

if TYPE_CHECKING:
    from orchestrator.config import Config


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


def load_config(option: Path | None, *, required: bool):
    from orchestrator import config as config_lib

    path = _config_path(option)
    if path is None:
        if required:
            raise InputError(NO_CONFIG)
        return None
    return config_lib.load(path)


config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    default=None,
    help="orchestrator.toml [default: $ORCHESTRATOR_CONFIG, ./orchestrator.toml, the sandbox's].",
)


inventory_option = click.option(
    "--inventory",
    "-i",
    type=click.Path(path_type=Path),
    default=None,
    help="Inventory [default: the config's, else inventory/sandbox].",
)


state_dir_option = click.option(
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
    config = load_config(config_path, required=False)
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

        options = [config_option, *([inventory_option] if inventory else []), state_dir_option]
        for option in reversed(options):
            with_where = option(with_where)
        return with_where

    return decorate(command) if command is not None else decorate


strategy_option = click.option(
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

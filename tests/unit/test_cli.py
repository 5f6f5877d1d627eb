import click
from click.testing import CliRunner

from orchestrator.cli import cli


def all_commands(group: click.Group, prefix=()):
    for name, command in group.commands.items():
        yield prefix + (name,), command
        if isinstance(command, click.Group):
            yield from all_commands(command, prefix + (name,))


def test_every_command_has_help_with_an_example():
    runner = CliRunner()
    for path, _ in all_commands(cli):
        result = runner.invoke(cli, [*path, "--help"])
        assert result.exit_code == 0, path
        assert "Example:" in result.output, f"'orchestrator {' '.join(path)} --help' has no example"


def test_deploy_requires_a_war():
    result = CliRunner().invoke(cli, ["deploy"])
    assert result.exit_code == 2
    assert "--war" in result.output

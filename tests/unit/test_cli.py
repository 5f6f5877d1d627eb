import click
from click.testing import CliRunner

from orchestrator.cli import cli
from orchestrator.errors import InputError
from tests.conftest import run_cli


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


def test_deploy_needs_a_war_or_a_revision():
    result = run_cli("deploy")
    assert result.returncode == 2
    assert "give exactly one of --war FILE" in result.stderr
    assert "Traceback" not in result.stderr


def test_trigger_rejects_a_revision_that_is_not_hex(tmp_path):
    (tmp_path / "incoming").mkdir()
    result = run_cli(
        "trigger", "--spool", tmp_path, "--repository", "r", "--branch", "main", "--revision", "HEAD; rm -rf /"
    )
    assert result.returncode == 2
    assert "field 'revision'" in result.stderr
    assert list((tmp_path / "incoming").iterdir()) == []


def test_trigger_record_without_wait_is_exit_2_and_queues_nothing(tmp_path):
    (tmp_path / "incoming").mkdir()
    result = run_cli(
        "trigger", "--spool", tmp_path, "--repository", "r", "--branch", "main", "--revision", "ab12",
        "--record", tmp_path / "deploy.json",
    )  # fmt: skip
    assert result.returncode == 2
    assert "--record keeps the deploy that --wait followed" in result.stderr
    assert list((tmp_path / "incoming").iterdir()) == [] and not (tmp_path / "deploy.json").exists()


def test_a_state_directory_that_cannot_be_made_is_exit_2_naming_it(tmp_path):
    # Given a state directory whose parent is a file
    (tmp_path / "file").write_text("x")
    state = tmp_path / "file" / "state"
    for args in (["rollback", "-i", tmp_path], ["history"]):
        result = run_cli(*args, "--state-dir", state)
        assert result.returncode == 2, result.stdout + result.stderr
        assert f"the state directory {state} cannot be" in result.stderr
        assert "Traceback" not in result.stderr


def test_a_command_that_needs_the_config_and_finds_none_says_where_it_looked(tmp_path, monkeypatch):
    # Given no --config, no ORCHESTRATOR_CONFIG, no ./orchestrator.toml and no sandbox
    from orchestrator.cli import base as cli_module

    monkeypatch.delenv("ORCHESTRATOR_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cli_module, "_default_sandbox_dir", lambda: tmp_path / "no-sandbox")
    # When `watch` (which needs it) and `status` (which does without) run
    needs = CliRunner().invoke(cli, ["watch"])
    # Then watch refuses, saying where to put one (an InputError: exit 2 at the CLI's one error
    # boundary, cli.main, which CliRunner does not go through); the shared options resolve without one
    assert isinstance(needs.exception, InputError), needs.output
    assert "no orchestrator.toml: pass --config, set ORCHESTRATOR_CONFIG" in str(needs.exception)
    assert InputError.exit_code == 2
    where = cli_module.resolve_where(None, tmp_path / "inv", None)
    assert where.config is None and where.inventory == tmp_path / "inv"

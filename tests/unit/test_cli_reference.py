"""docs/cli.md is what the commands' --help says today."""

from __future__ import annotations

from pathlib import Path

from orchestrator import cli_reference

PAGE = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def test_the_cli_reference_is_current():
    assert PAGE.read_text() == cli_reference.render(), (
        "docs/cli.md is out of date: .venv/bin/python -m orchestrator.cli_reference > docs/cli.md"
    )


def test_it_has_every_command_and_no_hidden_option():
    page = PAGE.read_text()
    for path, _ in cli_reference.commands(cli_reference.cli):
        assert f"## orchestrator {' '.join(path)}\n" in page
    assert "## orchestrator deploy\n" in page and "## orchestrator maintenance on\n" in page
    assert "--after" not in page  # promote's hidden option, for the deploy's own use

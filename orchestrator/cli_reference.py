"""docs/cli.md: every command's --help, in one page, made from the commands themselves.

Regenerate after changing a command, an option or a docstring (tests/unit/test_cli_reference.py
fails until you do):

    .venv/bin/python -m orchestrator.cli_reference > docs/cli.md
"""

from __future__ import annotations

import click

from orchestrator.cli import cli

# Help is wrapped at a fixed width, so the page does not depend on the terminal that made it.
WIDTH = 100

HEADER = """# Command reference

Every command's `--help`, generated from the commands themselves by
`.venv/bin/python -m orchestrator.cli_reference > docs/cli.md` (a test fails when this page is
out of date). Exit codes shared by all commands: 0 done, 2 bad input (nothing was touched),
3 another deploy holds the lock (`--no-wait`), 1 the work failed (the message says where),
5 a deploy failed and left the fleet on more than one release, 4 `trigger --wait` timed out.
"""


def commands(group: click.Group, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], click.Command]]:
    """Every visible command under ``group``, depth first, in alphabetical order."""
    found = []
    for name in sorted(group.list_commands(click.Context(group))):
        command = group.get_command(click.Context(group), name)
        if command is None or command.hidden:
            continue
        found.append(((*path, name), command))
        if isinstance(command, click.Group):
            found += commands(command, (*path, name))
    return found


def help_text(path: tuple[str, ...], command: click.Command) -> str:
    parent = click.Context(cli, info_name="orchestrator", terminal_width=WIDTH, max_content_width=WIDTH)
    for name in path[:-1]:
        group = parent.command
        assert isinstance(group, click.Group)
        sub = group.get_command(parent, name)
        assert sub is not None, name
        parent = click.Context(sub, parent=parent, info_name=name)
    ctx = click.Context(command, parent=parent, info_name=path[-1], terminal_width=WIDTH, max_content_width=WIDTH)
    return command.get_help(ctx)


def render() -> str:
    parts = [HEADER]
    top = click.Context(cli, info_name="orchestrator", terminal_width=WIDTH, max_content_width=WIDTH)
    parts.append(f"## orchestrator\n\n```text\n{cli.get_help(top)}\n```\n")
    for path, command in commands(cli):
        parts.append(f"## orchestrator {' '.join(path)}\n\n```text\n{help_text(path, command)}\n```\n")
    return "\n".join(parts)


if __name__ == "__main__":
    print(render(), end="")

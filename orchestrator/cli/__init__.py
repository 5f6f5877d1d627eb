"""The orchestrator command line: thin commands over the library, one error boundary (``main``).

base.py holds the group, the options the commands share and where they find the config,
inventory and state directory; the commands live beside it by what they do (deploying, steering,
records, fleet, sandbox) and show things through render.py. Library modules are imported inside
the commands: `orchestrator trigger` runs in a push hook and must not pay for loading Ansible.
"""

from __future__ import annotations

import errno
import sqlite3
import sys

import click

from orchestrator.cli.base import cli
from orchestrator.errors import OrchestratorError

STORAGE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS)


def _storage_fault(exc: BaseException) -> str | None:
    """What to say about a write the machine refused in the middle of a command (a full disk, a
    failing one, a file system gone read-only); None for any other error. The commands check
    their state directory before they start (exit 2); this is for what happens after."""
    from orchestrator.records.storage import out_of_space

    if isinstance(exc, sqlite3.Error) and not any(
        words in str(exc) for words in ("full", "disk I/O", "readonly", "unable to open")
    ):
        return None
    if isinstance(exc, OSError) and exc.errno not in STORAGE_ERRNOS:
        return None
    where = f"{exc.strerror}: {exc.filename}" if isinstance(exc, OSError) else f"the history: {exc}"
    fix = (
        "free some space on that file system (or choose another state directory with --state-dir)"
        if out_of_space(exc)
        else "check that file system (dmesg, mount)"
    )
    return f"a write failed ({where}); {fix}. Run 'orchestrator status' to see where the fleet is"


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
    except (OSError, sqlite3.Error) as exc:
        said = _storage_fault(exc)
        if said is None:
            raise
        click.echo(f"error: {said}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)


# the commands, registered on the group as their modules load
from orchestrator.cli import deploying, fleet, records, sandbox, steering  # noqa: E402, F401

"""The orchestrator's command line as an operator runs it, in a child process."""

from __future__ import annotations

import sys


def orchestrator_command(*args: object) -> list[str]:
    """``python -m orchestrator ARGS`` with this interpreter (so this virtual environment's
    orchestrator and ansible-playbook), each argument as a string (paths may be given)."""
    return [sys.executable, "-m", "orchestrator", *map(str, args)]

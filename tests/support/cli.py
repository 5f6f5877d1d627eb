"""The orchestrator's command line, and ansible-playbook by hand, as an operator runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def orchestrator_command(*args: object) -> list[str]:
    """``python -m orchestrator ARGS`` with this interpreter (so this virtual environment's
    orchestrator and ansible-playbook), each argument as a string (paths may be given)."""
    return [sys.executable, "-m", "orchestrator", *map(str, args)]


def ansible_playbook(*args: object, timeout: float, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``ansible-playbook ARGS`` as an operator runs it by hand: from the project root (so its
    ansible.cfg), with this virtual environment's Ansible first on PATH; ``env`` adds variables."""
    path = os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]
    return subprocess.run(
        ["ansible-playbook", *map(str, args)],
        cwd=ROOT,
        env={**os.environ, "PATH": path, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )

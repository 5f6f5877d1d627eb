"""Which ansible-playbook runs the orphan sweep stops: only those whose orchestrator is gone.

Real processes stand in for the runs (a session leader with the run's environment), so that
/proc is read as it is for ansible-playbook."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from ansible_collections.orchestrator.fleet.plugins.module_utils.processes import identity
from orchestrator.fleet.runner import RUN_MARKER, RUN_OWNER, orphaned_runs


@pytest.fixture
def run_like(tmp_path):
    """Start a stand-in run under tmp_path's state directory with the given owner; stopped after."""
    started: list[subprocess.Popen] = []

    def start(owner: str | None) -> int:
        env = {RUN_MARKER: str(tmp_path / "deploys" / "run-1"), "PATH": os.environ["PATH"]}
        if owner is not None:
            env[RUN_OWNER] = owner
        proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], env=env, start_new_session=True)
        started.append(proc)
        return proc.pid

    yield start
    for proc in started:
        proc.kill()
        proc.wait(timeout=10)


def test_a_run_whose_orchestrator_lives_is_not_an_orphan(tmp_path, run_like):
    # Given a run started by this (living) process, like a `status` that reads the fleet
    pid = run_like(identity(os.getpid()))
    # Then the sweep leaves it alone
    assert pid not in orphaned_runs(tmp_path)


def test_a_run_whose_orchestrator_died_or_was_never_named_is_an_orphan(tmp_path, run_like):
    # Given a run whose owner PID now belongs to another process (another start time), and one
    # from an orchestrator that did not record its owner
    reused = run_like(f"{os.getpid()}:1")
    unnamed = run_like(None)
    # Then both are left behind
    assert {reused, unnamed} <= set(orphaned_runs(tmp_path))


def test_a_run_of_another_state_directory_is_never_touched(tmp_path, run_like):
    pid = run_like(None)
    assert pid not in orphaned_runs(tmp_path / "elsewhere")

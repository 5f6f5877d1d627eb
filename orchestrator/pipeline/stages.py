"""The commands of orchestrator.toml (build, test, migrations): run with a timeout in a process group,
their output kept; and the artifact the build made.
"""

from __future__ import annotations

import glob
import os
import signal
import subprocess
from pathlib import Path

from orchestrator.config import Stage
from orchestrator.pipeline.outcome import StageFailed

TAIL_BYTES = 4000


def tail(path: Path) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(max(0, os.path.getsize(path) - TAIL_BYTES))
            return f.read().decode(errors="replace")
    except OSError:
        return ""


def run_stage(name: str, stage: Stage, cwd: Path, log: Path, env: dict[str, str]) -> None:
    """Run a configured command (trusted: it comes from orchestrator.toml) with a timeout.

    It runs in a process group of its own so that a timeout stops everything it started.
    """
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            ["sh", "-c", stage.command],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            rc = proc.wait(timeout=stage.timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise StageFailed(name, f"'{stage.command}' did not finish in {stage.timeout:g}s", tail(log)) from None
    if rc != 0:
        raise StageFailed(name, f"'{stage.command}' exited {rc}; output in {log}", tail(log))


def find_artifact(workspace: Path, pattern: str) -> Path:
    matches = sorted(Path(p) for p in glob.glob(str(workspace / pattern)) if Path(p).is_file())
    if not matches:
        raise StageFailed(
            "artifact",
            f"the build produced no file matching {pattern!r}; fix [build] artifact in orchestrator.toml or the build",
        )
    if len(matches) > 1:
        names = ", ".join(str(m.relative_to(workspace)) for m in matches)
        raise StageFailed(
            "artifact",
            f"the build produced {len(matches)} files matching {pattern!r} ({names}); "
            "make the glob match exactly one WAR",
        )
    return matches[0]

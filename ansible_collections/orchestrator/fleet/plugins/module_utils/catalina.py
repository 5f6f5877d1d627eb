"""Start and stop one Tomcat CATALINA_BASE with catalina.sh, tracked by its PID file.

Standard library only: the Ansible modules ``catalina_instance`` and ``webapp_install`` import
it as ``catalina`` on the managed node.
"""

from __future__ import annotations

import os
import subprocess
import time

from ansible_collections.orchestrator.fleet.plugins.module_utils.processes import arguments, read_pid, terminate


class CatalinaError(Exception):
    """Tomcat did not start; the message names the base and its log."""


def running_pid(pid_file: str, base: str) -> int | None:
    """The PID in ``pid_file`` when that process is a JVM of this base, else None."""
    pid = read_pid(pid_file)
    return pid if pid is not None and f"-Dcatalina.base={base}" in arguments(pid) else None


def start(base: str, home: str, pid_file: str, timeout: float) -> dict:
    """``catalina.sh start`` in a session of its own (the JVM outlives the caller); waits for the PID file."""
    began = time.monotonic()
    env = dict(os.environ, CATALINA_BASE=base, CATALINA_HOME=home, CATALINA_PID=pid_file)
    if os.path.exists(pid_file):
        os.unlink(pid_file)  # stale: running_pid() said it is not ours
    with open(os.path.join(base, "logs", "catalina.start.log"), "ab") as log:
        rc = subprocess.call(
            [os.path.join(home, "bin", "catalina.sh"), "start"],
            env=env,
            cwd=base,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    if rc != 0:
        raise CatalinaError(f"catalina.sh start exited {rc} for {base}; see {base}/logs/catalina.start.log")
    deadline = time.monotonic() + timeout
    while (pid := running_pid(pid_file, base)) is None:
        if time.monotonic() >= deadline:
            raise CatalinaError(f"Tomcat in {base} did not come up; see {base}/logs/catalina.out")
        time.sleep(0.02)
    return {"changed": True, "pid": pid, "seconds": round(time.monotonic() - began, 3), "killed": False}


def stop(pid: int, pid_file: str, timeout: float) -> dict:
    """SIGTERM (what systemd sends Debian's tomcat10), wait on the PID; SIGKILL after ``timeout``."""
    began = time.monotonic()
    killed = terminate(pid, timeout=timeout, kill_wait=10)
    if os.path.exists(pid_file):
        os.unlink(pid_file)
    return {"changed": True, "pid": pid, "seconds": round(time.monotonic() - began, 3), "killed": killed}

"""Find and stop processes we started, by PID, and only those: a PID file and a marker on the
command line (so a recycled PID is never taken for ours), then SIGTERM, a bounded wait, SIGKILL.

Standard library only: catalina.py uses it on the nodes (to stop Tomcat), the orchestrator here
(the sandbox's servers, the blue/green promotion waiter, the tests').
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path


def read_pid(pid_file: Path) -> int | None:
    try:
        return int(Path(pid_file).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def arguments(pid: int) -> list[str]:
    """The process's command line, one argument each; empty when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return raw.decode(errors="replace").split("\0")[:-1] if raw else []


def cmdline(pid: int) -> str:
    return " ".join(arguments(pid))


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def identity(pid: int) -> str:
    """'<pid>:<start time in clock ticks since boot>', which no later process shares ('' when
    it is gone): who owns a run or a deploy record, checked later with ``still_running``."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    # the command name (field 2) may hold spaces and parentheses: count fields after its last ')'
    return f"{pid}:{stat.rpartition(')')[2].split()[19]}"


def still_running(owner: str) -> bool:
    """The process an ``identity`` names is still the one running under its PID."""
    pid = owner.partition(":")[0]
    return bool(owner) and pid.isdigit() and identity(int(pid)) == owner


def owned_pid(pid_file: Path, marker: str) -> int | None:
    """The PID in ``pid_file`` if that process is alive and its command line contains ``marker``.

    The marker (a path only our process has on its command line) keeps a recycled PID from
    being taken for ours.
    """
    pid = read_pid(pid_file)
    if pid is None or not alive(pid) or marker not in cmdline(pid):
        return None
    return pid


def wait_gone(pid: int, timeout: float) -> bool:
    """Wait until ``pid`` has exited (a zombie counts as gone), at most ``timeout`` seconds; True if it has."""
    deadline = time.monotonic() + timeout
    while alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True


def terminate(pid: int, *, timeout: float = 15.0, first: int = signal.SIGTERM, kill_wait: float = 5.0) -> bool:
    """``first`` (SIGTERM), wait until the process is gone (bounded), then SIGKILL and wait
    ``kill_wait`` more. True if it had to be killed."""
    try:
        os.kill(pid, first)
    except ProcessLookupError:
        return False
    if wait_gone(pid, timeout):
        return False
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return False
    wait_gone(pid, kill_wait)
    return True


def pids_on_tcp(address: str, port: int) -> list[int]:
    """PIDs holding a TCP socket whose local end is ``address:port`` (a listener and its sessions).

    sshd's per-connection processes are reparented to init, so they cannot be found from the
    listener's PID; the sockets they hold name them.
    """
    octets = address.split(".")
    local = "".join(f"{int(o):02X}" for o in reversed(octets)) + f":{port:04X}"
    inodes = set()
    try:
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[1] == local:
                inodes.add(fields[9])
    except OSError:
        return []
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            targets = {os.readlink(fd) for fd in (entry / "fd").iterdir()}
        except OSError:
            continue
        if any(f"socket:[{inode}]" in targets for inode in inodes):
            found.append(int(entry.name))
    return sorted(found)

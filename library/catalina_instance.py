#!/usr/bin/python
"""Ansible module: start or stop a Tomcat instance (a CATALINA_BASE) without systemd."""

from __future__ import annotations

DOCUMENTATION = r"""
module: catalina_instance
short_description: Start or stop one Tomcat CATALINA_BASE with catalina.sh, tracked by its PID file
description:
  - For hosts where Tomcat is not a systemd service (the local sandbox, containers).
  - C(started) runs C(catalina.sh start) in a session of its own, so the JVM outlives the Ansible
    run, and waits for the PID file. An instance already running from this base is left alone.
  - C(stopped) sends SIGTERM (what systemd does for Debian's tomcat10, whose shutdown port is
    disabled) and waits on the PID itself, far sooner than C(catalina.sh stop), which polls once
    a second. After I(stop_timeout) the JVM is killed and the result says so.
  - A PID file whose process is gone, or belongs to another program, counts as stopped.
  - Supports check mode.
options:
  base: {description: CATALINA_BASE, required: true, type: path}
  home: {description: CATALINA_HOME, default: /usr/share/tomcat10, type: path}
  pid_file: {description: Defaults to I(base)/temp/catalina.pid, type: path}
  state: {description: Wanted state, choices: [started, stopped], required: true, type: str}
  stop_timeout: {description: Seconds to wait after SIGTERM before SIGKILL, default: 30, type: float}
  start_timeout: {description: Seconds to wait for the PID file after start, default: 30, type: float}
"""

RETURN = r"""
pid: {description: PID of the JVM (started) or of the JVM that was stopped, type: int}
seconds: {description: Time the start or stop took, type: float}
killed: {description: True when the JVM ignored SIGTERM and was killed, type: bool}
"""

import os
import signal
import subprocess
import time

from ansible.module_utils.basic import AnsibleModule


def running_pid(pid_file: str, base: str) -> int | None:
    """The PID in ``pid_file`` when that process is a JVM of this base, else None."""
    try:
        pid = int(open(pid_file).read().strip())
        cmdline = open(f"/proc/{pid}/cmdline", "rb").read().decode(errors="replace")
    except (OSError, ValueError):
        return None
    return pid if f"-Dcatalina.base={base}" in cmdline.split("\0") else None


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True


def start(module: AnsibleModule, base: str, home: str, pid_file: str) -> dict:
    began = time.monotonic()
    env = dict(os.environ, CATALINA_BASE=base, CATALINA_HOME=home, CATALINA_PID=pid_file)
    if os.path.exists(pid_file):
        os.unlink(pid_file)  # stale: running_pid() said it is not ours
    log = open(os.path.join(base, "logs", "catalina.start.log"), "ab")
    rc = subprocess.call([os.path.join(home, "bin", "catalina.sh"), "start"], env=env, cwd=base,
                         stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
    if rc != 0:
        module.fail_json(msg=f"catalina.sh start exited {rc} for {base}; see {base}/logs/catalina.start.log")
    deadline = time.monotonic() + module.params["start_timeout"]
    while (pid := running_pid(pid_file, base)) is None:
        if time.monotonic() >= deadline:
            module.fail_json(msg=f"Tomcat in {base} did not come up; see {base}/logs/catalina.out")
        time.sleep(0.02)
    return {"changed": True, "pid": pid, "seconds": round(time.monotonic() - began, 3), "killed": False}


def stop(module: AnsibleModule, pid: int, pid_file: str) -> dict:
    began = time.monotonic()
    os.kill(pid, signal.SIGTERM)
    killed = not wait_gone(pid, module.params["stop_timeout"])
    if killed:
        os.kill(pid, signal.SIGKILL)
        wait_gone(pid, 10)
        module.warn(f"Tomcat (pid {pid}) ignored SIGTERM for {module.params['stop_timeout']}s and was killed")
    if os.path.exists(pid_file):
        os.unlink(pid_file)
    return {"changed": True, "pid": pid, "seconds": round(time.monotonic() - began, 3), "killed": killed}


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            base=dict(type="path", required=True),
            home=dict(type="path", default="/usr/share/tomcat10"),
            pid_file=dict(type="path"),
            state=dict(type="str", choices=["started", "stopped"], required=True),
            stop_timeout=dict(type="float", default=30),
            start_timeout=dict(type="float", default=30),
        ),
        supports_check_mode=True,
    )
    p = module.params
    base = p["base"].rstrip("/")
    pid_file = p["pid_file"] or os.path.join(base, "temp", "catalina.pid")
    pid = running_pid(pid_file, base)
    if p["state"] == "started":
        if pid is not None:
            module.exit_json(changed=False, pid=pid, seconds=0.0, killed=False)
        if module.check_mode:
            module.exit_json(changed=True)
        module.exit_json(**start(module, base, p["home"], pid_file))
    if pid is None:
        module.exit_json(changed=False, seconds=0.0, killed=False)
    if module.check_mode:
        module.exit_json(changed=True, pid=pid)
    module.exit_json(**stop(module, pid, pid_file))


if __name__ == "__main__":
    main()

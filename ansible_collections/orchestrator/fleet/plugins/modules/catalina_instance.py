#!/usr/bin/python
"""Ansible module: start or stop a Tomcat instance (a CATALINA_BASE) without systemd."""

from __future__ import annotations

DOCUMENTATION = r"""
module: catalina_instance
short_description: Start or stop one Tomcat CATALINA_BASE with catalina.sh, tracked by its PID file
author: orchestrator developers (!UNKNOWN)
description:
  - For hosts where Tomcat is not a systemd service (the local sandbox, containers).
  - C(started) runs C(catalina.sh start) in a session of its own, so the JVM outlives the Ansible run,
    and waits for the PID file. An instance already running from this base is left alone.
  - C(stopped) sends SIGTERM (what systemd does for Debian's tomcat10, whose shutdown port is disabled)
    and waits on the PID itself, far sooner than C(catalina.sh stop), which polls once a second. After
    I(stop_timeout) the JVM is killed and the result says so.
  - A PID file whose process is gone, or belongs to another program, counts as stopped.
  - Supports check mode.
options:
  base:
    description: CATALINA_BASE
    required: true
    type: path
  home:
    description: CATALINA_HOME
    default: /usr/share/tomcat10
    type: path
  pid_file:
    description: Defaults to I(base)/temp/catalina.pid
    type: path
  state:
    description: Wanted state
    choices:
      - started
      - stopped
    required: true
    type: str
  stop_timeout:
    description: Seconds to wait after SIGTERM before SIGKILL
    default: 30
    type: float
  start_timeout:
    description: Seconds to wait for the PID file after start
    default: 30
    type: float
"""

EXAMPLES = r"""
- name: Start one CATALINA_BASE with catalina.sh and wait for its PID file
  orchestrator.fleet.catalina_instance:
    base: /var/lib/tomcat10
    home: /usr/share/tomcat10
    state: started

- name: Stop it (SIGTERM, then SIGKILL after stop_timeout)
  orchestrator.fleet.catalina_instance:
    base: /var/lib/tomcat10
    state: stopped
    stop_timeout: 30
"""

RETURN = r"""
pid:
  description: PID of the JVM (started) or of the JVM that was stopped
  returned: when a Tomcat of this base ran or was started
  type: int
  sample: 41873
seconds:
  description: Time the start or stop took
  returned: always
  type: float
  sample: 2.314
killed:
  description: True when the JVM ignored SIGTERM and was killed
  returned: always
  type: bool
  sample: false
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.orchestrator.fleet.plugins.module_utils.catalina import CatalinaError, running_pid, start, stop


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
        try:
            module.exit_json(**start(base, p["home"], pid_file, p["start_timeout"]))
        except CatalinaError as exc:
            module.fail_json(msg=str(exc))
    if pid is None:
        module.exit_json(changed=False, seconds=0.0, killed=False)
    if module.check_mode:
        module.exit_json(changed=True, pid=pid)
    stopped = stop(pid, pid_file, p["stop_timeout"])
    if stopped["killed"]:
        module.warn(f"Tomcat (pid {pid}) ignored SIGTERM for {p['stop_timeout']}s and was killed")
    module.exit_json(**stopped)


if __name__ == "__main__":
    main()

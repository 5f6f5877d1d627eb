#!/usr/bin/python
"""Ansible module: make a shipped release the one Tomcat deploys at its next start."""

from __future__ import annotations

DOCUMENTATION = r"""
module: webapp_install
short_description: Install a release's WAR into a stopped Tomcat and point C(current) at it
author: orchestrator developers (!UNKNOWN)
description:
  - One task for what is otherwise three, because it runs while the node is out of rotation and every
    task costs time there.
  - Copies C(<root>/releases/<release>/app.war) to C(<tomcat_base>/webapps/<context>.war) through a temporary
    file and a rename; removes the unpacked application and its compiled JSPs in C(work/) (WAR timestamps
    have 2 s resolution and compiled JSPs survive restarts, so a new release could otherwise serve old
    pages); then swaps the C(current) link atomically and points C(previous) at the release it replaced.
  - With I(slot) (blue/green), the release goes into that slot's CATALINA_BASE and the link C(<root>/slots/<slot>)
    records it; C(current) is left alone until the slot goes live (module C(webapp_slot)).
  - Call it only while Tomcat is stopped; Tomcat must never see a WAR change under it. With I(restart)
    (a CATALINA_BASE run by catalina.sh, not by systemd) the module stops Tomcat itself first and starts
    it again after, so a node's whole restart is one task and one round-trip instead of three. The result
    then holds the stop's and the start's own results, and when each step began and ended (C(steps)),
    which the deploy's progress view shows as its stop, install and start phases.
options:
  root:
    description: The node's release store (webapp_root)
    required: true
    type: path
  release:
    description: Release id (a directory under root/releases)
    required: true
    type: str
  tomcat_base:
    description: CATALINA_BASE
    required: true
    type: path
  context:
    description: Context name (ROOT for /)
    default: ROOT
    type: str
  slot:
    description: The blue/green slot whose base I(tomcat_base) is
    type: str
  restart:
    description: Stop Tomcat before the install and start it after (catalina.sh bases only)
    type: bool
    default: false
  tomcat_home:
    description: CATALINA_HOME (with I(restart))
    type: path
    default: /usr/share/tomcat10
  stop_timeout:
    description: With I(restart), seconds to wait after SIGTERM before SIGKILL
    type: float
    default: 30
  start_timeout:
    description: With I(restart), seconds to wait for the PID file after the start
    type: float
    default: 30
"""

EXAMPLES = r"""
- name: Put release 3-ab12cd34ef56 into a stopped Tomcat
  orchestrator.fleet.webapp_install:
    root: /srv/app
    release: 3-ab12cd34ef56
    tomcat_base: /var/lib/tomcat10

- name: Stop Tomcat, install the release and start Tomcat again, in one call
  orchestrator.fleet.webapp_install:
    root: /srv/app
    release: 3-ab12cd34ef56
    tomcat_base: /srv/tomcat
    restart: true
"""

RETURN = r"""
war:
  description: The WAR Tomcat deploys (a path on the node)
  returned: success
  type: str
  sample: /srv/tomcat/webapps/ROOT.war
current:
  description: The release C(current) points at now
  returned: without slot
  type: str
  sample: 3-ab12cd34ef56
slot:
  description: The slot the release went into
  returned: with slot
  type: str
  sample: green
stop:
  description: The stop (changed false when no Tomcat ran)
  returned: with restart
  type: dict
  sample:
    changed: true
    pid: 4242
    seconds: 0.4
    killed: false
start:
  description: The start
  returned: with restart and success
  type: dict
  sample:
    changed: true
    pid: 4321
    seconds: 0.3
    killed: false
pid:
  description: The PID of the JVM started
  returned: with restart and success
  type: int
  sample: 4321
steps:
  description: Each step's start and end in seconds since the epoch
  returned: with restart
  type: dict
  sample:
    stop:
      - 1795830000.1
      - 1795830000.5
    install:
      - 1795830000.5
      - 1795830000.6
    start:
      - 1795830000.6
      - 1795830000.9
"""

import os
import shutil
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.orchestrator.fleet.plugins.module_utils import release_layout as layout
from ansible_collections.orchestrator.fleet.plugins.module_utils.catalina import CatalinaError, running_pid, start, stop
from ansible_collections.orchestrator.fleet.plugins.module_utils.fsutil import swap_link


def install(p: dict, war: str) -> dict:
    """Copy the release's WAR into the base, drop what Tomcat unpacked from the last one, move the links."""
    webapps = os.path.join(p["tomcat_base"], "webapps")
    target = os.path.join(webapps, p["context"] + ".war")
    tmp = os.path.join(webapps, f".{p['context']}.war.tmp")
    shutil.copyfile(war, tmp)
    os.replace(tmp, target)
    for stale in (
        os.path.join(webapps, p["context"]),
        os.path.join(p["tomcat_base"], "work", "Catalina", "localhost", p["context"]),
    ):
        shutil.rmtree(stale, ignore_errors=True)
    if p["slot"]:
        os.makedirs(os.path.join(p["root"], "slots"), exist_ok=True)
        swap_link(os.path.join(p["root"], "slots", p["slot"]), layout.link_target(p["release"], from_slots=True))
        return {"war": target, "slot": p["slot"], "release": p["release"]}
    link = os.path.join(p["root"], "current")
    old = os.readlink(link) if os.path.islink(link) else None
    new = layout.link_target(p["release"])
    if old and old != new:
        # what to go back to if this release cannot serve after a crash (reconcile.yml)
        swap_link(os.path.join(p["root"], "previous"), old)
    swap_link(link, new)
    return {"war": target, "current": p["release"]}


def restart(module: AnsibleModule, p: dict, war: str) -> None:
    """Stop, install, start; each step timed for the progress view."""
    base = p["tomcat_base"].rstrip("/")
    pid_file = os.path.join(base, "temp", "catalina.pid")
    steps = {"stop": [time.time()]}
    pid = running_pid(pid_file, base)
    stopped = stop(pid, pid_file, p["stop_timeout"]) if pid else {"changed": False, "seconds": 0.0, "killed": False}
    if stopped["killed"]:
        module.warn(f"Tomcat (pid {pid}) ignored SIGTERM for {p['stop_timeout']}s and was killed")
    steps["stop"].append(time.time())
    steps["install"] = [steps["stop"][1]]
    installed = install(p, war)
    steps["install"].append(time.time())
    steps["start"] = [steps["install"][1]]
    try:
        started = start(base, p["tomcat_home"], pid_file, p["start_timeout"])
    except CatalinaError as exc:
        steps["start"].append(time.time())
        module.fail_json(msg=str(exc), changed=True, stop=stopped, steps=steps, **installed)
    steps["start"].append(time.time())
    module.exit_json(changed=True, stop=stopped, start=started, pid=started["pid"], steps=steps, **installed)


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            root=dict(type="path", required=True),
            release=dict(type="str", required=True),
            tomcat_base=dict(type="path", required=True),
            context=dict(type="str", default="ROOT"),
            slot=dict(type="str"),
            restart=dict(type="bool", default=False),
            tomcat_home=dict(type="path", default="/usr/share/tomcat10"),
            stop_timeout=dict(type="float", default=30),
            start_timeout=dict(type="float", default=30),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if layout.bad_name(p["release"]):
        module.fail_json(msg=layout.bad_name(p["release"]))
    war = layout.war(p["root"], p["release"])
    if not os.path.isfile(war):
        module.fail_json(msg=f"release {p['release']} is not on this node: {war} is missing")
    if module.check_mode:
        module.exit_json(changed=True)
    if p["restart"]:
        restart(module, p, war)
    module.exit_json(changed=True, **install(p, war))


if __name__ == "__main__":
    main()

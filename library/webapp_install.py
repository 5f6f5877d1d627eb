#!/usr/bin/python
"""Ansible module: make a shipped release the one Tomcat deploys at its next start."""

from __future__ import annotations

DOCUMENTATION = r"""
module: webapp_install
short_description: Install a release's WAR into a stopped Tomcat and point C(current) at it
description:
  - One task for what is otherwise three, because it runs while the node is out of rotation and
    every task costs time there.
  - Copies C(<root>/releases/<release>/app.war) to C(<tomcat_base>/webapps/<context>.war) through
    a temporary file and a rename; removes the unpacked application and its compiled JSPs in
    C(work/) (WAR timestamps have 2 s resolution and compiled JSPs survive restarts, so a new
    release could otherwise serve old pages); then swaps the C(current) link atomically and
    points C(previous) at the release it replaced.
  - With I(slot) (blue/green), the release goes into that slot's CATALINA_BASE and the link
    C(<root>/slots/<slot>) records it; C(current) is left alone until the slot goes live (module
    C(webapp_slot)).
  - Call it only while Tomcat is stopped: Tomcat must never see a WAR change under it.
options:
  root: {description: The node's release store (webapp_root), required: true, type: path}
  release: {description: Release id (a directory under root/releases), required: true, type: str}
  tomcat_base: {description: CATALINA_BASE, required: true, type: path}
  context: {description: Context name (ROOT for /), default: ROOT, type: str}
  slot: {description: The blue/green slot whose base I(tomcat_base) is, type: str}
"""

import os
import shutil

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.fsutil import swap_link


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            root=dict(type="path", required=True),
            release=dict(type="str", required=True),
            tomcat_base=dict(type="path", required=True),
            context=dict(type="str", default="ROOT"),
            slot=dict(type="str"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if "/" in p["release"] or p["release"] in ("", ".", ".."):
        module.fail_json(msg=f"release id {p['release']!r} is not a plain name")
    war = os.path.join(p["root"], "releases", p["release"], "app.war")
    if not os.path.isfile(war):
        module.fail_json(msg=f"release {p['release']} is not on this node: {war} is missing")
    if module.check_mode:
        module.exit_json(changed=True)

    webapps = os.path.join(p["tomcat_base"], "webapps")
    target = os.path.join(webapps, p["context"] + ".war")
    tmp = os.path.join(webapps, f".{p['context']}.war.tmp")
    shutil.copyfile(war, tmp)
    os.replace(tmp, target)
    for stale in (os.path.join(webapps, p["context"]),
                  os.path.join(p["tomcat_base"], "work", "Catalina", "localhost", p["context"])):
        shutil.rmtree(stale, ignore_errors=True)

    if p["slot"]:
        os.makedirs(os.path.join(p["root"], "slots"), exist_ok=True)
        swap_link(os.path.join(p["root"], "slots", p["slot"]), os.path.join("..", "releases", p["release"]))
        module.exit_json(changed=True, war=target, slot=p["slot"], release=p["release"])
    link = os.path.join(p["root"], "current")
    old = os.readlink(link) if os.path.islink(link) else None
    new = os.path.join("releases", p["release"])
    if old and old != new:
        # what to go back to if this release cannot serve after a crash (reconcile.yml)
        swap_link(os.path.join(p["root"], "previous"), old)
    swap_link(link, new)
    module.exit_json(changed=True, war=target, current=p["release"])


if __name__ == "__main__":
    main()

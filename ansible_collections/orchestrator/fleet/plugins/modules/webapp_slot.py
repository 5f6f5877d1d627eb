#!/usr/bin/python
"""Ansible module: make one blue/green slot the node's live one."""

from __future__ import annotations

DOCUMENTATION = r"""
module: webapp_slot
short_description: Record which blue/green slot of a node serves, and point C(current) at its release
author: orchestrator developers (!UNKNOWN)
description:
  - Run once HAProxy has switched to the slot. Points the C(live-slot) link at the slot's name and C(current)
    at the release the slot holds (C(<root>/slots/<slot>), written by C(webapp_install)), and C(previous)
    at the release C(current) named before; each link is swapped atomically. The C(live-slot) link's time
    is when the slot went live; the other slot is kept running for C(bluegreen_keep_seconds) after it.
  - Supports check mode.
options:
  root:
    description: The node's release store (webapp_root)
    required: true
    type: path
  slot:
    description: The slot that now serves
    required: true
    type: str
"""

EXAMPLES = r"""
- name: Record that green serves now
  orchestrator.fleet.webapp_slot:
    root: /var/lib/orchestrator/webapp
    slot: green
"""

RETURN = r"""
release:
  description: The release the slot holds
  returned: always
  type: str
  sample: 2-4bae3fd96280
previous_slot:
  description: The slot that was live before
  returned: always
  type: str
  sample: blue
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.orchestrator.fleet.plugins.module_utils import release_layout as layout
from ansible_collections.orchestrator.fleet.plugins.module_utils.fsutil import swap_link


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(root=dict(type="path", required=True), slot=dict(type="str", required=True)),
        supports_check_mode=True,
    )
    root, slot = module.params["root"], module.params["slot"]
    held = os.path.join(root, "slots", slot)
    if not os.path.islink(held):
        module.fail_json(msg=f"slot {slot} holds no release on this node ({held} is missing)")
    release = os.path.basename(os.readlink(held))
    live = os.path.join(root, "live-slot")
    before = os.readlink(live) if os.path.islink(live) else ""
    current = os.path.join(root, "current")
    old = os.readlink(current) if os.path.islink(current) else None
    new = layout.link_target(release)
    if before == slot and old == new:
        module.exit_json(changed=False, release=release, previous_slot=before)
    if not module.check_mode:
        if old and old != new:
            swap_link(os.path.join(root, "previous"), old)
        swap_link(current, new)
        swap_link(live, slot)
    module.exit_json(changed=True, release=release, previous_slot=before)


if __name__ == "__main__":
    main()

#!/usr/bin/python
"""Ansible module: read a node's current release and prepare a directory for a new one."""

from __future__ import annotations

DOCUMENTATION = r"""
module: webapp_release
short_description: Report the node's current release and prepare C(<root>/releases/<release>/)
author: orchestrator developers (!UNKNOWN)
description:
  - Returns the release the C(current) link points at (empty on a node that never had one), and for blue/green
    nodes which slot is live and which release each slot holds.
  - Creates the release directory and writes C(release.json) (id, version, sha256) through a temporary
    file and a rename; the WAR itself is copied next to it by the caller.
  - With I(keep), prunes the release store in the same call - all but the newest I(keep) release directories
    go, never the one being prepared, the current or previous one (the links), one a blue/green slot holds,
    or one in I(protect) (the orchestrator names the last known-good).
  - "One task for what is otherwise six: every task costs time on every node."
options:
  root:
    description: The node's release store (webapp_root)
    required: true
    type: path
  release:
    description: Release id to prepare; without it the module only reports
    type: str
  version:
    description: The release's version
    default: ''
    type: str
  sha256:
    description: The WAR's sha256 (required with I(release))
    type: str
  keep:
    description: Release directories to keep (the newest); without it nothing is pruned
    type: int
  protect:
    description: Releases never pruned besides those named above
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
- name: Read the node's release and slots only
  orchestrator.fleet.webapp_release:
    root: /var/lib/orchestrator/webapp
  register: node

- name: Prepare release 7's directory and prune all but the newest five
  orchestrator.fleet.webapp_release:
    root: /var/lib/orchestrator/webapp
    release: 7-4bae3fd96280
    version: "7"
    sha256: 4bae3fd962801c2f9a3e6f0b4f3a1e5c2b7d9e8f0a1b2c3d4e5f60718293a4b5
    keep: 5
  register: prepared
"""

RETURN = r"""
current:
  description: Release id the node runs now, or empty
  returned: always
  type: str
  sample: 6-0f3c2a1b9e8d
current_since:
  description: When the node was switched to it (epoch seconds of the C(current) link; 0 without one)
  returned: always
  type: float
  sample: 1795850000.5
current_version:
  description: The version in the current release's C(release.json), or empty
  returned: always
  type: str
  sample: '6'
war:
  description: Where the new release's WAR goes (the copy's destination; see release_layout.py)
  returned: with I(release)
  type: str
  sample: /var/lib/orchestrator/webapp/releases/7-4bae3fd96280/app.war
live_slot:
  description: The blue/green slot that serves (the C(live-slot) link), or empty on a node without slots
  returned: always
  type: str
  sample: ''
live_since:
  description: When that slot became live (epoch seconds; 0 without one)
  returned: always
  type: float
  sample: 0.0
slots:
  description: Slot name -> the release it holds (empty for none), for the slots the node has
  returned: always
  type: dict
  sample: {}
pruned:
  description: Release directories removed (with I(keep))
  returned: with keep
  type: list
  sample:
    - 4-1a2b3c4d5e6f
"""

import json
import os
import shutil

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.orchestrator.fleet.plugins.module_utils import release_layout as layout


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            root=dict(type="path", required=True),
            release=dict(type="str"),
            version=dict(type="str", default=""),
            sha256=dict(type="str"),
            keep=dict(type="int"),
            protect=dict(type="list", elements="str", default=[]),
        ),
        supports_check_mode=True,
    )
    p = module.params
    link = os.path.join(p["root"], "current")
    current = os.path.basename(os.readlink(link)) if os.path.islink(link) else ""
    since = os.lstat(link).st_mtime if current else 0.0
    found = dict(
        current=current,
        current_since=since,
        current_version=layout.read_description(p["root"], current).get("version", "") if current else "",
        **read_slots(p["root"]),
    )
    if p["release"] is None:
        module.exit_json(changed=False, **found)
    if layout.bad_name(p["release"]):
        module.fail_json(msg=layout.bad_name(p["release"]))
    if not p["sha256"]:
        module.fail_json(msg="sha256 is required with release")
    directory = layout.release_dir(p["root"], p["release"])
    description = json.dumps({"id": p["release"], "version": p["version"], "sha256": p["sha256"]}, indent=2) + "\n"
    path = layout.description(p["root"], p["release"])
    try:
        unchanged = open(path).read() == description
    except OSError:
        unchanged = False
    if not unchanged and not module.check_mode:
        os.makedirs(directory, mode=0o755, exist_ok=True)
        tmp = path + ".tmp"
        with open(tmp, "w") as out:
            out.write(description)
        os.replace(tmp, path)
    pruned = []
    if p["keep"] is not None:
        previous = os.path.join(p["root"], "previous")
        protected = {
            p["release"],
            current,
            *found["slots"].values(),
            *p["protect"],
            os.path.basename(os.readlink(previous)) if os.path.islink(previous) else "",
        }
        pruned = prune(os.path.join(p["root"], layout.RELEASES), p["keep"], protected, dry_run=module.check_mode)
    module.exit_json(
        changed=not unchanged or bool(pruned), pruned=pruned, war=layout.war(p["root"], p["release"]), **found
    )


def prune(releases: str, keep: int, protected: set, *, dry_run: bool) -> list[str]:
    """Remove all but the newest ``keep`` release directories, never a protected one; returns the removed."""
    try:
        entries = [e for e in os.scandir(releases) if e.is_dir(follow_symlinks=False)]
    except FileNotFoundError:
        return []
    entries.sort(key=lambda e: e.stat(follow_symlinks=False).st_mtime, reverse=True)
    gone = [e.name for e in entries[max(keep, 0) :] if e.name not in protected]
    if not dry_run:
        for name in gone:
            shutil.rmtree(os.path.join(releases, name), ignore_errors=True)
    return gone


def read_slots(root: str) -> dict:
    """live_slot, live_since and slots (see RETURN) from <root>/live-slot and <root>/slots/."""
    live = os.path.join(root, "live-slot")
    slots_dir = os.path.join(root, "slots")
    slots = {}
    if os.path.isdir(slots_dir):
        for name in sorted(os.listdir(slots_dir)):
            path = os.path.join(slots_dir, name)
            if os.path.islink(path):
                slots[name] = os.path.basename(os.readlink(path))
    if not os.path.islink(live):
        return {"live_slot": "", "live_since": 0.0, "slots": slots}
    return {"live_slot": os.readlink(live), "live_since": os.lstat(live).st_mtime, "slots": slots}


if __name__ == "__main__":
    main()

#!/usr/bin/python
"""Ansible module: read a node's current release and prepare a directory for a new one."""

from __future__ import annotations

DOCUMENTATION = r"""
module: webapp_release
short_description: Report the node's current release and prepare C(<root>/releases/<release>/)
description:
  - Returns the release the C(current) link points at (empty on a node that never had one).
  - Creates the release directory and writes C(release.json) (id, version, sha256) through a
    temporary file and a rename; the WAR itself is copied next to it by the caller.
  - One task for what is otherwise four: every task costs time on every node.
options:
  root: {description: The node's release store (webapp_root), required: true, type: path}
  release: {description: Release id, required: true, type: str}
  version: {description: The release's version, default: "", type: str}
  sha256: {description: The WAR's sha256, required: true, type: str}
"""

RETURN = r"""
current: {description: Release id the node runs now, or empty, type: str}
current_since: {description: When the node was switched to it (epoch seconds of the C(current) link; 0 without one), type: float}
"""

import json
import os

from ansible.module_utils.basic import AnsibleModule


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            root=dict(type="path", required=True),
            release=dict(type="str", required=True),
            version=dict(type="str", default=""),
            sha256=dict(type="str", required=True),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if "/" in p["release"] or p["release"] in ("", ".", ".."):
        module.fail_json(msg=f"release id {p['release']!r} is not a plain name")
    link = os.path.join(p["root"], "current")
    current = os.path.basename(os.readlink(link)) if os.path.islink(link) else ""
    since = os.lstat(link).st_mtime if current else 0.0
    directory = os.path.join(p["root"], "releases", p["release"])
    description = json.dumps({"id": p["release"], "version": p["version"], "sha256": p["sha256"]}, indent=2) + "\n"
    path = os.path.join(directory, "release.json")
    try:
        unchanged = open(path).read() == description
    except OSError:
        unchanged = False
    if unchanged or module.check_mode:
        module.exit_json(changed=not unchanged, current=current, current_since=since)
    os.makedirs(directory, mode=0o755, exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as out:
        out.write(description)
    os.replace(tmp, path)
    module.exit_json(changed=True, current=current, current_since=since)


if __name__ == "__main__":
    main()

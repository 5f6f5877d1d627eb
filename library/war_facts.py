#!/usr/bin/python
"""Ansible module: check a WAR and name its release."""

from __future__ import annotations

DOCUMENTATION = r"""
module: war_facts
short_description: Validate a WAR file and return its sha256, version and release id
description:
  - Fails, naming the file, when it is missing, empty, not a zip archive, or a damaged one.
  - The version is C(Implementation-Version) from C(META-INF/MANIFEST.MF); the health check
    compares it with what the node answers. A WAR without one can still deploy; the health
    check then only asks for a 200.
  - The release id is C(<version>-<first 12 hex of sha256>): the same WAR is the same release.
options:
  path: {description: The WAR on the controller, required: true, type: path}
"""

RETURN = r"""
war_sha256: {description: sha256 of the file, type: str}
war_version: {description: Implementation-Version, or empty, type: str}
war_release_id: {description: Release id, type: str}
war_size: {description: Bytes, type: int}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.warfile import inspect


def main() -> None:
    module = AnsibleModule(argument_spec=dict(path=dict(type="path", required=True)), supports_check_mode=True)
    try:
        module.exit_json(changed=False, **inspect(module.params["path"]))
    except ValueError as exc:
        module.fail_json(msg=str(exc))


if __name__ == "__main__":
    main()

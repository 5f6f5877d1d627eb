#!/usr/bin/python
"""Ansible module: check a WAR and name its release."""

from __future__ import annotations

DOCUMENTATION = r"""
module: war_facts
short_description: Validate a WAR file and return its sha256, version and release id
author: orchestrator developers (!UNKNOWN)
description:
  - Fails, naming the file, when it is missing, empty, not a zip archive, or a damaged one.
  - Fails when it is not a web application - no C(WEB-INF/web.xml), no class annotated C(@WebServlet),
    C(@WebFilter) or C(@WebListener), no library registering one - so such a zip never reaches a node.
  - The version is C(Implementation-Version) from C(META-INF/MANIFEST.MF); the health check compares it
    with what the node answers. A WAR without one fails, unless I(require_version) is false; the health
    check then only asks for a 200.
  - "The release id is C(<version>-<first 12 hex of sha256>): the same WAR is the same release."
options:
  path:
    description: The WAR on the controller
    required: true
    type: path
  require_version:
    description: Fail when the WAR has no Implementation-Version
    default: true
    type: bool
"""

EXAMPLES = r"""
- name: Check the WAR and name its release
  orchestrator.fleet.war_facts:
    path: build/app.war
    require_version: true
  delegate_to: localhost
  register: war
"""

RETURN = r"""
war_sha256:
  description: sha256 of the file
  returned: always
  type: str
  sample: 4bae3fd962801c2f9a3e6f0b4f3a1e5c2b7d9e8f0a1b2c3d4e5f60718293a4b5
war_version:
  description: Implementation-Version, or empty
  returned: always
  type: str
  sample: '7'
war_release_id:
  description: Release id
  returned: always
  type: str
  sample: 7-4bae3fd96280
war_size:
  description: Bytes
  returned: always
  type: int
  sample: 8214
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.orchestrator.fleet.plugins.module_utils.warfile import inspect


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(path=dict(type="path", required=True), require_version=dict(type="bool", default=True)),
        supports_check_mode=True,
    )
    try:
        facts = inspect(module.params["path"], require_version=module.params["require_version"])
        if not facts["war_version"]:
            module.warn(
                f"{module.params['path']} has no Implementation-Version; deploy_allow_unversioned is set: "
                "the health check asks each node for a 200 only, not for this release"
            )
        module.exit_json(changed=False, **facts)
    except ValueError as exc:
        module.fail_json(msg=str(exc))


if __name__ == "__main__":
    main()

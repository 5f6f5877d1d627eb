#!/usr/bin/python
"""Ansible module: save HAProxy's server states so a reload keeps them."""

from __future__ import annotations

DOCUMENTATION = r"""
module: haproxy_save_state
short_description: Write C(show servers state) to the server-state-file before a reload
author: orchestrator developers (!UNKNOWN)
description:
  - States set over the runtime socket (drain, maint, weight) are lost on reload unless the new process
    loads them from C(server-state-file). Run this right before every reload.
  - "Written to a temporary file in the same directory, then renamed: a reload never reads half a file."
  - A socket that does not exist yet (first start) is not an error; nothing is written.
options:
  socket:
    description: Path of the admin socket
    required: true
    type: path
  path:
    description: The server-state-file named in haproxy.cfg
    required: true
    type: path
"""

EXAMPLES = r"""
- name: Save the servers' runtime states before a reload
  orchestrator.fleet.haproxy_save_state:
    socket: /run/haproxy/admin.sock
    path: /var/lib/haproxy/server-state
"""

RETURN = r"""
servers:
  description: Servers whose state was written to I(path)
  returned: when the states were saved
  type: int
  sample: 3
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.orchestrator.fleet.plugins.module_utils.haproxy_admin import (
    HAProxyAdminError,
    save_server_states,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(socket=dict(type="path", required=True), path=dict(type="path", required=True)),
        supports_check_mode=True,
    )
    sock, path = module.params["socket"], module.params["path"]
    if not os.path.exists(sock):
        module.exit_json(changed=False, msg=f"{sock} does not exist yet; nothing to save")
    if module.check_mode:
        module.exit_json(changed=True)
    try:
        servers = save_server_states(sock, path)
    except HAProxyAdminError as exc:
        module.exit_json(changed=False, msg=f"not saved: {exc}")
    module.exit_json(changed=True, servers=servers)


if __name__ == "__main__":
    main()

#!/usr/bin/python
"""Ansible module: read every server of an HAProxy backend. Changes nothing."""

from __future__ import annotations

DOCUMENTATION = r"""
module: haproxy_backend
short_description: List the servers an HAProxy backend has right now, with their state
author: orchestrator developers (!UNKNOWN)
description:
  - Reads C(show stat) once through the admin socket. Used by the preflights (is every app server of the
    inventory in the backend?) and by C(orchestrator apply) and C(plan) (which servers are to be added
    or removed).
  - Fails, naming the socket, when it does not answer or the backend does not exist.
  - Supports check mode (it only reads).
options:
  socket:
    description: Path of the admin socket
    required: true
    type: path
  backend:
    description: Backend name
    required: true
    type: str
"""

EXAMPLES = r"""
- name: Read every server of the backend, as the status playbook does
  orchestrator.fleet.haproxy_backend:
    socket: /run/haproxy/admin.sock
    backend: app
  register: backend
"""

RETURN = r"""
servers:
  description: Server name -> status (UP, DOWN, DRAIN, MAINT...), address, weight, last check status.
  returned: always
  type: dict
  sample:
    node1:
      status: UP
      addr: 127.0.1.1:8080
      weight: '1'
      check_status: L7OK
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.orchestrator.fleet.plugins.module_utils.haproxy_admin import HAProxyAdminError, backend_servers


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(socket=dict(type="path", required=True), backend=dict(type="str", required=True)),
        supports_check_mode=True,
    )
    try:
        rows = backend_servers(module.params["socket"], module.params["backend"])
    except HAProxyAdminError as exc:
        module.fail_json(msg=str(exc))
    servers = {
        name: {
            "status": r.get("status", ""),
            "addr": r.get("addr", ""),
            "weight": r.get("weight", ""),
            "check_status": r.get("check_status", ""),
        }
        for name, r in rows.items()
    }
    module.exit_json(changed=False, servers=servers)


if __name__ == "__main__":
    main()

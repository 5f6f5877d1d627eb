#!/usr/bin/python
"""Ansible module: turn HAProxy's maintenance page on or off, at once and for good."""

from __future__ import annotations

DOCUMENTATION = r"""
module: haproxy_maintenance
short_description: Make a load balancer answer every request with a 503 maintenance page, or serve again
author: orchestrator developers (!UNKNOWN)
description:
  - The frontend of the haproxy role's C(haproxy.cfg) answers every request itself, with a 503, a C(Retry-After)
    header and a small HTML page, while its maintenance map holds the key C(on). This module changes that
    map through the admin socket (effective at once, no reload, no Tomcat touched) and writes it to the
    map's file (so a reload or a new configuration keeps it).
  - The file is written first, atomically; then the running HAProxy is changed. A socket that does not
    exist yet (HAProxy not started) is not an error, the file is what it starts with.
  - C(state=query) changes nothing and reports what the running HAProxy answers with.
  - Supports check mode.
options:
  socket:
    description: Path of the admin socket
    required: true
    type: path
  map:
    description: The maintenance map file named in haproxy.cfg (haproxy_maintenance_map)
    required: true
    type: path
  state:
    description: on (the page), off (serve), query (report only)
    required: true
    type: str
    choices:
      - 'on'
      - 'off'
      - query
  text:
    description: The page's text (HTML-escaped by the module). (Not C(message), which Ansible keeps for itself.)
    type: str
    default: Down for maintenance. Back soon.
  retry_after:
    description: Seconds sent in the Retry-After header
    type: int
    default: 300
"""

EXAMPLES = r"""
- name: Maintenance page on every load balancer
  orchestrator.fleet.haproxy_maintenance:
    socket: /run/haproxy/admin.sock
    map: /etc/haproxy/maintenance.map
    state: "on"
    text: Upgrading the database; back at 10:30 UTC.
    retry_after: 600
"""

RETURN = r"""
maintenance:
  description: What the load balancer answers with after the module ran; null when it serves.
  returned: always
  type: dict
  sample:
    message: Upgrading the database; back at 10:30 UTC.
    retry_after: 600
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.orchestrator.fleet.plugins.module_utils.fsutil import write_atomic
from ansible_collections.orchestrator.fleet.plugins.module_utils.haproxy_admin import (
    HAProxyAdminError,
    maintenance,
    maintenance_map_text,
    parse_maintenance_map,
    set_maintenance,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            socket=dict(type="path", required=True),
            map=dict(type="path", required=True),
            state=dict(type="str", required=True, choices=["on", "off", "query"]),
            text=dict(type="str", default="Down for maintenance. Back soon."),
            retry_after=dict(type="int", default=300),
        ),
        supports_check_mode=True,
    )
    sock, path, state = module.params["socket"], module.params["map"], module.params["state"]
    running = os.path.exists(sock)
    try:
        live = maintenance(sock, path) if running else None
    except HAProxyAdminError as exc:
        module.fail_json(msg=str(exc))
    if state == "query":
        module.exit_json(changed=False, maintenance=live, running=running)
    if not 0 <= module.params["retry_after"] <= 86400:
        module.fail_json(msg=f"retry_after is {module.params['retry_after']}: give seconds from 0 to 86400")
    text = maintenance_map_text(module.params["text"], module.params["retry_after"]) if state == "on" else ""
    wanted = parse_maintenance_map(text)
    try:
        with open(path) as f:
            on_disk = f.read()
    except FileNotFoundError:
        on_disk = None
    changed = on_disk != text or (running and live != wanted)
    if module.check_mode or not changed:
        module.exit_json(changed=changed, maintenance=wanted)
    try:
        write_atomic(path, text)
        if running:
            set_maintenance(sock, path, text)
            live = maintenance(sock, path)
            if live != wanted:
                module.fail_json(msg=f"HAProxy's map {path} reads {live} after the change, not {wanted}")
    except (OSError, HAProxyAdminError) as exc:
        module.fail_json(msg=f"maintenance {state} failed: {exc}")
    module.exit_json(changed=True, maintenance=wanted)


if __name__ == "__main__":
    main()

#!/usr/bin/python
"""Ansible module: which HAProxy worker answers the admin socket; after a reload, wait for the new one."""

from __future__ import annotations

DOCUMENTATION = r"""
module: haproxy_worker
short_description: Read the PID of the worker behind the admin socket, or wait until a new worker answers
author: orchestrator developers (!UNKNOWN)
description:
  - In master-worker mode a reload starts new workers and lets the old ones finish; for a moment the admin
    socket may still be answered by an old worker, which knows only the old servers. Read the PID before
    the reload, pass it as I(not_pid) after, and the task returns once I(settle) answers in a row came
    from another worker - the new configuration is live.
  - A socket that does not exist yet (first start) reads as PID 0 without I(not_pid).
  - Supports check mode (it only reads).
options:
  socket:
    description: Path of the admin socket
    required: true
    type: path
  not_pid:
    description: Wait until a worker other than this PID answers (0 or unset - just read)
    type: int
    default: 0
  timeout:
    description: Seconds to wait for the new worker
    type: float
    default: 30
  settle:
    description: Consecutive answers from the new worker required
    type: int
    default: 3
"""

EXAMPLES = r"""
- name: Note the worker before a reload
  orchestrator.fleet.haproxy_worker:
    socket: /run/haproxy/admin.sock
  register: old_worker

- name: Wait until a new worker answers the admin socket
  orchestrator.fleet.haproxy_worker:
    socket: /run/haproxy/admin.sock
    not_pid: "{{ old_worker.pid }}"
"""

RETURN = r"""
pid:
  description: PID of the worker that answered last (0 when there is no socket yet)
  returned: always
  type: int
  sample: 23141
seconds:
  description: Time spent waiting for the new worker
  returned: always
  type: float
  sample: 0.35
"""

import os
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.orchestrator.fleet.plugins.module_utils.haproxy_admin import HAProxyAdminError, worker_pid


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            socket=dict(type="path", required=True),
            not_pid=dict(type="int", default=0),
            timeout=dict(type="float", default=30),
            settle=dict(type="int", default=3),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if not p["not_pid"]:
        if not os.path.exists(p["socket"]):
            module.exit_json(changed=False, pid=0, seconds=0.0)
        try:
            module.exit_json(changed=False, pid=worker_pid(p["socket"]), seconds=0.0)
        except HAProxyAdminError as exc:
            module.fail_json(msg=str(exc))
    started = time.monotonic()
    deadline = started + p["timeout"]
    in_a_row, pid, last_error = 0, 0, ""
    while in_a_row < p["settle"]:
        try:
            pid = worker_pid(p["socket"])
            in_a_row = in_a_row + 1 if pid != p["not_pid"] else 0
        except HAProxyAdminError as exc:  # the socket is being rebound by the new worker
            in_a_row, last_error = 0, str(exc)
        if in_a_row >= p["settle"]:
            break
        if time.monotonic() > deadline:
            module.fail_json(
                msg=f"no new HAProxy worker answered {p['socket']} within {p['timeout']:g}s after the "
                f"reload (still pid {pid or 'none'}{'; ' + last_error if last_error else ''}): "
                "check the HAProxy log; the old configuration is still serving",
                pid=pid,
            )
        time.sleep(0.02)
    module.exit_json(changed=False, pid=pid, seconds=round(time.monotonic() - started, 3))


if __name__ == "__main__":
    main()

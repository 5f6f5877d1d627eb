#!/usr/bin/python
"""Ansible module: switch traffic between HAProxy servers in one call - some in, others out."""

from __future__ import annotations

DOCUMENTATION = r"""
module: haproxy_switch
short_description: Put a list of HAProxy servers in rotation and take another list out, in one call
author: orchestrator developers (!UNKNOWN)
description:
  - The blue/green switch, one task for a whole batch instead of one per server per step.
  - First the servers in I(ready) leave maint (with I(weight) when given) and the module waits until HAProxy
    reads every one of them UP (with I(wait_check), also with a passed health check of HAProxy's own).
    Only then are the servers in I(maint) drained - new requests stop at once - waited on until their
    sessions and queues are all 0 (bounded by I(drain_timeout)), and put in maint. So capacity never drops
    - a server goes out only once its replacement serves.
  - A server of I(ready) that is not serving by I(up_timeout) fails the task before any server of I(maint)
    is touched; the failure names it with its status and last check.
  - With I(state_file), every change is saved to the config's C(server-state-file) at once, so a reload
    by anyone keeps it.
  - Returns every server's status in the backend (C(backend_status)), as C(haproxy_server) does.
  - Supports check mode.
options:
  socket:
    description: Path of the admin socket (needs C(level admin))
    required: true
    type: path
  backend:
    description: Backend name
    required: true
    type: str
  ready:
    description: Servers to put in rotation
    type: list
    elements: str
    default: []
  weight:
    description: Weight (0-256) for the servers of I(ready)
    type: int
  maint:
    description: Servers to drain and put in maint once those of I(ready) serve
    type: list
    elements: str
    default: []
  up_timeout:
    description: Seconds to wait for the servers of I(ready) to serve
    default: 30
    type: float
  wait_check:
    description: Wait for a passed health check too (a server leaving maint reads UP before HAProxy checks
      it again)
    default: false
    type: bool
  drain_timeout:
    description: Seconds to wait for the in-flight requests of the servers of I(maint)
    default: 30
    type: float
  state_file:
    description: The config's server-state-file; saved after every change
    type: path
"""

EXAMPLES = r"""
- name: Switch node1 from its blue slot to its green one
  orchestrator.fleet.haproxy_switch:
    socket: /run/haproxy/admin.sock
    backend: app
    ready: [node1-green]
    maint: [node1-blue]
    state_file: /var/lib/haproxy/server-state
"""

RETURN = r"""
up_seconds:
  description: Time until every server of I(ready) served
  returned: always
  type: float
  sample: 2.1
drain_seconds:
  description: Time spent waiting for the in-flight requests of I(maint)
  returned: always
  type: float
  sample: 0.05
drain_timed_out:
  description: Servers put in maint with requests still in flight
  returned: always
  type: list
  sample: []
backend_status:
  description: Every server of the backend after the switch, name -> status and last check
  returned: success
  type: dict
  sample:
    node1-green:
      status: UP
      check_passed: true
      never_checked: false
      check: L7OK
"""

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.orchestrator.fleet.plugins.module_utils.haproxy_admin import (
    HAProxyAdminError,
    admin_state,
    backend_servers,
    in_flight,
    is_up,
    save_or_warn,
    server_statuses,
    serving,
    set_state,
    silent_command,
)

POLL = 0.05


# C901: the switch's checks come first, each failing with its own message, before any server changes
def run(module: AnsibleModule) -> dict:  # noqa: C901
    p = module.params
    sock, backend = p["socket"], p["backend"]
    current = backend_servers(sock, backend)
    unknown = [s for s in p["ready"] + p["maint"] if s not in current]
    if unknown:
        module.fail_json(
            msg=f"{', '.join(unknown)} {'is' if len(unknown) == 1 else 'are'} not in backend {backend} "
            f"(it has {', '.join(sorted(current)) or 'no servers'})"
        )
    result = {"changed": False, "up_seconds": 0.0, "drain_seconds": 0.0, "drain_timed_out": []}
    going_in = [
        s
        for s in p["ready"]
        if admin_state(current[s]) != "ready"
        or (p["weight"] is not None and current[s].get("weight") != str(p["weight"]))
    ]
    going_out = [s for s in p["maint"] if admin_state(current[s]) != "maint"]
    result["changed"] = bool(going_in or going_out)
    if module.check_mode:
        return result

    started = time.monotonic()
    for server in p["ready"]:
        if p["weight"] is not None and current[server].get("weight") != str(p["weight"]):
            silent_command(sock, f"set server {backend}/{server} weight {p['weight']}")
        if admin_state(current[server]) != "ready":
            set_state(sock, backend, server, "ready")
    if going_in:
        saved(module)
    deadline = started + p["up_timeout"]
    while p["ready"]:
        current = backend_servers(sock, backend)
        waiting = [s for s in p["ready"] if not (serving(current[s]) if p["wait_check"] else is_up(current[s]))]
        if not waiting:
            break
        if time.monotonic() >= deadline:
            module.fail_json(
                msg="; ".join(
                    f"{backend}/{s} is in rotation but not UP"
                    + (" with a passed health check" if p["wait_check"] else "")
                    + " after "
                    f"{p['up_timeout']:g}s (status {current[s].get('status')}, last check: "
                    f"{current[s].get('check_desc') or current[s].get('check_status') or 'none'})"
                    for s in waiting
                )
                + (f"; {', '.join(p['maint'])} left in rotation" if p["maint"] else ""),
                backend_status=server_statuses(current),
                **result,
            )
        time.sleep(POLL)
    result["up_seconds"] = round(time.monotonic() - started, 3)

    if not going_out:
        return result
    # drain all at once: new requests go to the servers just put in rotation from now on
    for server in going_out:
        if admin_state(current[server]) != "drain":
            set_state(sock, backend, server, "drain")
    saved(module)
    started = time.monotonic()
    deadline = started + p["drain_timeout"]
    while True:
        current = backend_servers(sock, backend)
        busy = [s for s in going_out if in_flight(current[s]) > 0]
        if not busy or time.monotonic() >= deadline:
            break
        time.sleep(POLL)
    result["drain_seconds"] = round(time.monotonic() - started, 3)
    result["drain_timed_out"] = busy
    for server in going_out:
        set_state(sock, backend, server, "maint")
    saved(module)
    if busy:
        module.warn(
            f"{', '.join(f'{backend}/{s}' for s in busy)} still had requests in flight after "
            f"{p['drain_timeout']:g}s and went to maint with them"
        )
    return result


def saved(module: AnsibleModule) -> None:
    """Save every server's runtime state where a reloaded HAProxy reads it (with state_file)."""
    save_or_warn(module.params["socket"], module.params["state_file"], module.warn)


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            socket=dict(type="path", required=True),
            backend=dict(type="str", required=True),
            ready=dict(type="list", elements="str", default=[]),
            weight=dict(type="int"),
            maint=dict(type="list", elements="str", default=[]),
            up_timeout=dict(type="float", default=30),
            wait_check=dict(type="bool", default=False),
            drain_timeout=dict(type="float", default=30),
            state_file=dict(type="path"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if p["weight"] is not None and not 0 <= p["weight"] <= 256:
        module.fail_json(msg=f"weight must be 0-256, got {p['weight']}")
    both = sorted(set(p["ready"]) & set(p["maint"]))
    if both:
        module.fail_json(msg=f"{', '.join(both)} cannot be both put in rotation and taken out")
    try:
        result = run(module)
        result["backend_status"] = server_statuses(backend_servers(p["socket"], p["backend"]))
        module.exit_json(**result)
    except HAProxyAdminError as exc:
        module.fail_json(msg=str(exc))


if __name__ == "__main__":
    main()

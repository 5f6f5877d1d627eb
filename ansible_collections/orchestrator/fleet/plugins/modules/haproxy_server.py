#!/usr/bin/python
"""Ansible module: take one HAProxy server out of rotation gently, or put it back."""

from __future__ import annotations

DOCUMENTATION = r"""
module: haproxy_server
short_description: Drain, maint or ready one HAProxy server through the admin socket
author: orchestrator developers (!UNKNOWN)
description:
  - The project's own module, chosen over C(community.general.haproxy), which ships only in the full C(ansible)
    package and has known faults for rolling deploys - a DOWN server never reaches DRAIN (ansible-collections/community.general#8092),
    no check mode, and a silent no-op on a socket without C(level admin).
  - C(state=maint) drains first, waits until the server's current sessions and queue are both 0 (bounded
    by I(drain_timeout)), and only then sets maint, so no request in flight is cut.
  - C(state=ready) leaves maint/drain and, with I(wait_up), waits until the status reads UP. Check Tomcat's
    own health before this - HAProxy puts a server leaving maint in rotation at once.
  - Every reply is parsed; a refused command fails the task with HAProxy's own words.
  - With I(state_file), every change is saved to the config's C(server-state-file) at once, so a reload
    by anyone (C(systemctl reload), a bare C(kill -USR2) of the master) keeps it.
  - With I(expect_maint), a server found out of maint that the deploy holds in maint is an incident -
    a reload that did not load the saved states, or an operator - returned in C(incident) and warned about;
    with I(state=maint) it is drained and put back in maint.
  - Returns every server's status in the backend (C(backend_status)), so the deploy can name a server
    that went DOWN without its doing.
  - Without I(state) the module only reports the server's row.
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
  server:
    description: Server name in that backend
    required: true
    type: str
  state:
    description: Wanted admin state
    choices:
      - ready
      - drain
      - maint
    type: str
  drain_timeout:
    description: Seconds to wait for sessions and queue to reach 0 before maint
    default: 30
    type: float
  wait_up:
    description: With state=ready, wait until the status starts with UP
    default: true
    type: bool
  up_timeout:
    description: Seconds to wait for UP
    default: 30
    type: float
  wait_check:
    description: With state=ready, also wait until a health check has passed (a server new to the config
      reads UP before its first check)
    default: false
    type: bool
  weight:
    description: Set this weight (0-256) as well
    type: int
  min_healthy:
    description: Capacity guard (the rule is plugins/module_utils/capacity.py). Before any change, fail
      unless at least this many servers of the backend, other than this one and those in I(leaving), are
      serving right now - UP with a passed last check (only when the batch takes a serving server away).
      A count, or a percentage of I(fleet_size) rounded up (deploy_min_healthy).
    type: str
  fleet_size:
    description: The number of app servers a percentage in I(min_healthy) is of.
    type: int
    default: 0
  leaving:
    description: Servers about to leave rotation with this one (its batch)
    type: list
    elements: str
    default: []
  check_wait:
    description: With I(min_healthy), seconds to wait for servers HAProxy has not checked yet since it started
    type: float
    default: 10
  state_file:
    description: The config's server-state-file; saved after every change
    type: path
  expect_maint:
    description: The deploy holds this server in maint; any other admin state is an incident (see above)
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Take node1 out of rotation, waiting for its requests in flight (capacity guard first)
  orchestrator.fleet.haproxy_server:
    socket: /run/haproxy/admin.sock
    backend: app
    server: node1
    state: maint
    drain_timeout: 30
    min_healthy: "50%"
    fleet_size: 4
    state_file: /var/lib/haproxy/server-state

- name: Put it back once Tomcat answers, and wait until HAProxy reads it UP
  orchestrator.fleet.haproxy_server:
    socket: /run/haproxy/admin.sock
    backend: app
    server: node1
    state: ready
    wait_check: true
"""

RETURN = r"""
status:
  description: HAProxy status after the change (UP, DRAIN, MAINT, DOWN...)
  returned: always
  type: str
  sample: MAINT
previous_status:
  description: Status before the change
  returned: always
  type: str
  sample: UP
in_flight:
  description: Sessions plus queued requests when the module finished
  returned: always
  type: int
  sample: 0
drain_seconds:
  description: Time spent waiting for in-flight requests
  returned: always
  type: float
  sample: 0.412
drain_timed_out:
  description: True when maint was set with requests still in flight
  returned: always
  type: bool
  sample: false
incident:
  description: With expect_maint, what was found instead of maint (empty when all was as expected)
  returned: always
  type: str
  sample: ''
backend_status:
  description: Every server of the backend after the change, name -> status and last check
  returned: always
  type: dict
  sample:
    node1:
      status: MAINT
      check_passed: true
      never_checked: false
      check: L7OK HTTP status check returned code <200>
    node2:
      status: UP
      check_passed: true
      never_checked: false
      check: L7OK HTTP status check returned code <200>
"""

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.orchestrator.fleet.plugins.module_utils import capacity
from ansible_collections.orchestrator.fleet.plugins.module_utils.haproxy_admin import (
    HAProxyAdminError,
    admin_state,
    check_passed,
    in_flight,
    is_up,
    never_checked,
    save_or_warn,
    server_stat,
    server_statuses,
    serving,
    set_state,
    show_stat,
    silent_command,
    wait_for,
)


def run(module: AnsibleModule) -> dict:
    p = module.params
    sock, backend, server, wanted = p["socket"], p["backend"], p["server"], p["state"]
    if p["min_healthy"] is not None:
        needed = capacity.min_up(p["min_healthy"], p["fleet_size"])
        guard_capacity(sock, backend, server, needed, p["leaving"], module)
    before = server_stat(sock, backend, server)
    result = {
        "changed": False,
        "previous_status": before["status"],
        "status": before["status"],
        "in_flight": in_flight(before),
        "drain_seconds": 0.0,
        "drain_timed_out": False,
        "incident": "",
    }
    # (drain is not rotation: a reload between the deploy's drain and maint can leave it there)
    if p["expect_maint"] and admin_state(before) == "ready":
        result["incident"] = (
            f"{server} was back in rotation behind the deploy's back ({backend} status "
            f"{before['status']}, {in_flight(before)} in flight): an HAProxy reload that did not "
            "load the saved server states, or a change by hand"
            + ("; drained and put in maint again" if wanted == "maint" else "")
        )
        module.warn(result["incident"])

    if p["weight"] is not None and str(p["weight"]) != before.get("weight"):
        result["changed"] = True
        if not module.check_mode:
            silent_command(sock, f"set server {backend}/{server} weight {p['weight']}")
            saved(module)

    if wanted == "ready":
        return put_in_rotation(module, before, result)
    if wanted is None or admin_state(before) == wanted:
        return result
    result["changed"] = True
    if module.check_mode:
        return result

    # drain and maint both start by stopping new traffic, then wait for what is in flight.
    if admin_state(before) != "drain":
        set_state(sock, backend, server, "drain")
        saved(module)
    started = time.monotonic()
    row, drained = wait_for(lambda r: in_flight(r) == 0, sock, backend, server, timeout=p["drain_timeout"])
    result["drain_seconds"] = round(time.monotonic() - started, 3)
    result["drain_timed_out"] = not drained
    if wanted == "maint":
        set_state(sock, backend, server, "maint")
        saved(module)
        row = server_stat(sock, backend, server)
    result["status"], result["in_flight"] = row["status"], in_flight(row)
    if not drained:
        module.warn(f"{backend}/{server} still had {in_flight(row)} request(s) in flight after {p['drain_timeout']}s")
    return result


def saved(module: AnsibleModule) -> None:
    """Save every server's runtime state where a reloaded HAProxy reads it (with state_file)."""
    save_or_warn(module.params["socket"], module.params["state_file"], module.warn)


def backend_statuses(sock: str, backend: str, rows: list | None = None) -> dict:
    """name -> status, whether its last health check passed, and that check's words."""
    return server_statuses(
        {
            r["svname"]: r
            for r in (rows if rows is not None else show_stat(sock))
            if r.get("pxname") == backend and r.get("svname") not in ("FRONTEND", "BACKEND")
        }
    )


def put_in_rotation(module: AnsibleModule, before: dict, result: dict) -> dict:
    """Leave maint/drain (if in it) and, with wait_up, wait until HAProxy reports the server UP.

    A server already ready is still waited for: one just added by a reload reads UP before its
    first check (wait_check waits for that check), one whose checks fail reads DOWN.
    """
    p = module.params
    sock, backend, server = p["socket"], p["backend"], p["server"]
    if admin_state(before) != "ready":
        result["changed"] = True
        if module.check_mode:
            return result
        set_state(sock, backend, server, "ready")
        saved(module)
    if not p["wait_up"] or module.check_mode:
        return result
    wanted = (lambda r: is_up(r) and check_passed(r)) if p["wait_check"] else is_up
    row, ok = wait_for(wanted, sock, backend, server, timeout=p["up_timeout"])
    result["status"] = row["status"]
    if not ok:
        module.fail_json(
            msg=f"{backend}/{server} is in rotation but not UP{' with a passed health check' if p['wait_check'] else ''} "
            f"after {p['up_timeout']}s (status {row['status']}, last check: "
            f"{row.get('check_desc') or row.get('check_status')})",
            **result,
        )
    return result


def guard_capacity(sock: str, backend: str, server: str, needed: int, leaving: list, module: AnsibleModule) -> None:
    """Refuse to touch ``server`` when too few of the other servers are serving (read live, not
    assumed; the rule: capacity.judge). A freshly started HAProxy reads every server UP until its
    first checks: those are awaited (bounded), and what is still unchecked then counts as not serving.
    """
    deadline = time.monotonic() + module.params["check_wait"]
    while True:
        rows = [
            r for r in show_stat(sock) if r.get("pxname") == backend and r.get("svname") not in ("FRONTEND", "BACKEND")
        ]
        if not any(never_checked(r) for r in rows) or time.monotonic() >= deadline:
            break
        time.sleep(0.1)
    going = {server, *leaving}
    verdict = capacity.judge({r["svname"]: serving(r) for r in rows}, going, needed)
    if not verdict.allowed:
        down = ", ".join(
            f"{r['svname']} is {r['status']}" + _check_note(r)
            for r in rows
            if r["svname"] not in going and not serving(r)
        )
        module.fail_json(
            msg=verdict.refusal(server, down),
            up=verdict.staying_up,
            backend_status=backend_statuses(sock, backend, rows),
        )


def _check_note(row: dict) -> str:
    if not is_up(row):
        return ""
    return (
        " (not checked yet)"
        if never_checked(row)
        else f" (last check failed: {row.get('check_status', '').lstrip('* ')})"
    )


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            socket=dict(type="path", required=True),
            backend=dict(type="str", required=True),
            server=dict(type="str", required=True),
            state=dict(type="str", choices=["ready", "drain", "maint"]),
            drain_timeout=dict(type="float", default=30),
            wait_up=dict(type="bool", default=True),
            up_timeout=dict(type="float", default=30),
            wait_check=dict(type="bool", default=False),
            weight=dict(type="int"),
            min_healthy=dict(type="str"),
            fleet_size=dict(type="int", default=0),
            check_wait=dict(type="float", default=10),
            leaving=dict(type="list", elements="str", default=[]),
            state_file=dict(type="path"),
            expect_maint=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    if module.params["weight"] is not None and not 0 <= module.params["weight"] <= 256:
        module.fail_json(msg=f"weight must be 0-256, got {module.params['weight']}")
    try:
        result = run(module)
        result["backend_status"] = backend_statuses(module.params["socket"], module.params["backend"])
        module.exit_json(**result)
    except HAProxyAdminError as exc:
        module.fail_json(msg=str(exc))


if __name__ == "__main__":
    main()

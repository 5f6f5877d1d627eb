#!/usr/bin/python
"""Ansible module: the recent requests of some HAProxy servers, as one sample. Changes nothing."""

from __future__ import annotations

DOCUMENTATION = r"""
module: haproxy_requests
short_description: Sum up the requests a set of servers answered recently, from HAProxy's request ring
author: orchestrator developers (!UNKNOWN)
description:
  - Reads every request the ring still holds (C(show events <ring>); the haproxy role logs each request
    of the frontend there) and keeps those of I(servers) accepted within the last I(seconds), and not
    before each server's own I(since) time (when its current release went live, so that requests of an
    older release are left out).
  - The deploy runs it before the roll, on the servers still on the old release. The bake compares a new
    server with this when no server of the old release is left in rotation (the last batch, or a one-node
    fleet).
  - Fails, naming the socket, when it does not answer, and says how to add the ring when HAProxy has none.
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
  ring:
    description: The ring HAProxy logs requests to (haproxy_request_ring)
    required: true
    type: str
  servers:
    description: Servers whose requests count
    required: true
    type: list
    elements: str
  seconds:
    description: Only requests accepted this many seconds ago or later
    required: true
    type: float
  since:
    description: Server -> epoch seconds before which its requests do not count
    type: dict
    default: {}
"""

EXAMPLES = r"""
- name: baseline | Read the old release's requests from before the deploy
  orchestrator.fleet.haproxy_requests:
    socket: /run/haproxy/admin.sock
    backend: app
    ring: reqs
    servers: [app1, app2]
    seconds: 600
  register: history
"""

RETURN = r"""
sample:
  description: The requests together, in the judge's form (requests, 5xx count, histogram of response
    times in ms).
  returned: success
  type: dict
  sample:
    requests: 812
    errors: 3
    latency:
      '1': 640
      '2': 160
      '15': 12
servers:
  description: Server -> requests that counted.
  returned: success
  type: dict
  sample:
    app1: 405
    app2: 407
seconds:
  description: How far back the oldest request that counted goes.
  returned: success
  type: float
  sample: 341.2
"""

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.orchestrator.fleet.plugins.module_utils.haproxy_admin import HAProxyAdminError, recent_requests
from ansible_collections.orchestrator.fleet.plugins.module_utils.judge import Sample


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            socket=dict(type="path", required=True),
            backend=dict(type="str", required=True),
            ring=dict(type="str", required=True),
            servers=dict(type="list", elements="str", required=True),
            seconds=dict(type="float", required=True),
            since=dict(type="dict", default={}),
        ),
        supports_check_mode=True,
    )
    p = module.params
    now = time.time()
    try:
        requests = recent_requests(p["socket"], p["ring"])
    except HAProxyAdminError as exc:
        module.fail_json(msg=str(exc))
    sample, counted, oldest = Sample(), {name: 0 for name in p["servers"]}, now
    for r in requests:
        if r.backend != p["backend"] or r.server not in counted or r.probe:
            continue  # a probe of an earlier bake is not the users' traffic
        if r.accepted < now - p["seconds"] or r.accepted < float(p["since"].get(r.server) or 0):
            continue
        sample.add(r.status, r.response_ms)
        counted[r.server] += 1
        oldest = min(oldest, r.accepted)
    module.exit_json(changed=False, sample=sample.to_dict(), servers=counted, seconds=round(now - oldest, 1))


if __name__ == "__main__":
    main()

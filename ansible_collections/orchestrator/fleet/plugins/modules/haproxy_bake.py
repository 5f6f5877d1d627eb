#!/usr/bin/python
"""Ansible module: watch a freshly enabled server under real traffic and judge it against the old release."""

from __future__ import annotations

DOCUMENTATION = r"""
module: haproxy_bake
short_description: Judge a new release under real traffic against the old one, looking at every request
author: orchestrator developers (!UNKNOWN)
description:
  - The immune system. Follows every request the frontend logs to HAProxy's request ring (C(show events
    <ring> -w -n)) and, at each look (every I(interval) seconds), hands the look's requests to the judge
    (module_utils/judge.py), anytime-valid sequential tests of the 5xx share, of the share slower than the
    old release's median and of the share slower than its p95. They may look as often as they like and
    stop as soon as the evidence is enough, with no penalty for the looks.
  - I(mode=verdict) judges the release. The requests of I(server) and of its I(peers) (the other servers
    on the new release) are pooled, against the servers of the old release still in rotation
    (I(baseline)) in the same seconds, else against the old release's requests from before the deploy
    (I(history), read by C(haproxy_requests)). A fail ends the task as failed, with every number. A pass
    (or marginal) ends it once I(pass_after) seconds have gone by. I(evidence) carries the release's
    verdict over from an earlier batch.
  - I(mode=watch), for a node rolled after the release passed, asks only "is this node worse?", against the
    old release and against its I(peers), for I(seconds) from its entry into rotation (the warm-up
    included); a node broken on its own fails.
  - Requests of the first I(warmup) seconds are not judged (a fresh JVM is slow at first).
  - With I(ramp), a step ends early when the canary's weight should rise for more evidence (a verdict
    still open, some requests seen, nothing leaning towards a fault); the playbook raises the weight and
    goes on with I(carry). At I(seconds), a step ends with C(verdict=inconclusive) and its I(carry); when
    I(final), I(inconclusive) says whether that fails the node or ends the task with the open verdict
    (C(pass), C(pause) and C(watch) leave the decision to the playbook).
  - With I(probe), while the real traffic to the new side is below the probe's rate, the module sends
    its own requests (GET of I(probe.paths), with I(probe.headers)) through the frontend at I(frontend),
    each naming a server in C(X-Orchestrator-Probe) (the haproxy role routes it there and logs the
    header), in turn to the new release's servers and the old release's. HAProxy logs them like any
    request; the judge keeps them apart from the users' requests and the report counts them.
  - A server HAProxy's own health checks take out of UP during the bake fails it too.
options:
  socket:
    description: Admin socket
    required: true
    type: path
  backend:
    description: Backend name
    required: true
    type: str
  ring:
    description: The ring HAProxy logs requests to
    required: true
    type: str
  server:
    description: The new server this task bakes
    required: true
    type: str
  peers:
    description: The other servers on the new release (pooled with I(server) in a verdict; compared with it
      in a watch)
    type: list
    elements: str
    default: []
  baseline:
    description: Servers still on the old release
    type: list
    elements: str
    default: []
  history:
    description: The old release's requests from before the deploy (haproxy_requests' sample)
    type: dict
    default: {}
  carry:
    description: The previous step's C(carry)
    type: dict
    default: {}
  evidence:
    description: The release's verdict so far, from an earlier batch (an earlier bake's C(evidence))
    type: dict
    default: {}
  mode:
    description: Judge the release (verdict) or watch a node once the release passed (watch)
    default: verdict
    choices:
      - verdict
      - watch
    type: str
  seconds:
    description: Bake time (since the bake began) at which this step ends
    required: true
    type: float
  pass_after:
    description: The soonest bake time a pass can come at
    required: true
    type: float
  max_seconds:
    description: The longest a bake can last
    required: true
    type: float
  interval:
    description: Seconds between looks
    default: 1
    type: float
  warmup:
    description: Seconds after the server enters rotation whose requests are not judged
    default: 0
    type: float
  final:
    description: This is the last step
    default: true
    type: bool
  ramp:
    description: End the step early when more weight is what the verdict needs
    default: false
    type: bool
  inconclusive:
    description: At the end of the last step without a verdict, fail; or end with the open verdict (pass,
      pause, watch), which the playbook acts on
    default: fail
    choices:
      - fail
      - pass
      - pause
      - watch
    type: str
  probe:
    description: Requests of the bake's own for a quiet service (webapp_bake_probe), C(paths) (list of
      paths on the application), C(rate) (requests/s in all), C(headers) (dict); empty for none
    type: dict
    default: {}
  frontend:
    description: The frontend's address and port as the load balancer itself reaches it (for the probe)
    type: str
    default: ''
  watches:
    description: Nodes watched after the release's verdict (they share half of 1 - I(confidence))
    default: 1
    type: int
  confidence:
    description: 1 - the chance a release as good as the old one fails the deploy
    default: 0.99
    type: float
  power:
    description: 1 - the chance a release with a regression of the detection size passes
    default: 0.95
    type: float
  min_requests:
    description: Requests on each side before any pass
    default: 50
    type: int
  errors_tolerance:
    description: A significant excess of 5xx up to this much above the old share (0.25 is 1.25x) is no
      fault
    default: 0.25
    type: float
  errors_detect_share:
    description: The 5xx share (besides double the old one) the bake must be able to see before a pass
    default: 0.02
    type: float
  latency_tolerance:
    description: A slowdown up to this share of the old median is no fault
    default: 0.1
    type: float
  latency_floor_ms:
    description: A slowdown up to this many ms is no fault
    default: 10
    type: float
  latency_detect:
    description: The slowdown (share) the bake must be able to see before a pass
    default: 0.25
    type: float
  latency_detect_ms:
    description: '...and at least this many ms'
    default: 30
    type: float
"""

EXAMPLES = r"""
- name: bake | Judge the release on the canary against the old release
  orchestrator.fleet.haproxy_bake:
    socket: /run/haproxy/admin.sock
    backend: app
    ring: reqs
    server: app1
    baseline: [app2, app3]
    seconds: 30
    pass_after: 30
    max_seconds: 180
  register: bake

- name: bake | Watch a later node, once the release passed
  orchestrator.fleet.haproxy_bake:
    socket: /run/haproxy/admin.sock
    backend: app
    ring: reqs
    server: app3
    peers: [app1, app2]
    mode: watch
    seconds: 30
    pass_after: 30
    max_seconds: 30
"""

RETURN = r"""
verdict:
  description: pass, marginal, fail or inconclusive (skipped in check mode or with seconds 0).
  returned: always
  type: str
  sample: pass
report:
  description: The judge's answer with every metric's numbers (new and old values, sample sizes,
    anytime-valid p-values, thresholds), the servers on each side, where the old release's side came
    from, the evidence as it grew (C(trace), one row per look), both sides' response times
    (C(distributions), [upper bound ms, requests] rows) and the judge's settings (C(policy)).
  returned: when the bake ran
  type: dict
  sample:
    verdict: pass
    mode: verdict
    summary: 'pass (2210 requests vs 21877 of the old release): ...'
    servers: [app1]
    baseline_servers: [app2]
    baseline_source: live
    seconds: 12.1
final:
  description: This was the last step (an inconclusive verdict is then the bake's last word).
  returned: when the bake ran
  type: bool
  sample: true
ramp:
  description: The step ended early so that the canary's weight rises (more evidence is needed).
  returned: when the bake ran
  type: bool
  sample: false
open:
  description: The bake goes on in the next step (the verdict is still open, or the soonest pass is still
    to come).
  returned: when the bake ran
  type: bool
  sample: false
carry:
  description: State for the next step (the judgement and the bake's clock).
  returned: when the bake ran
  type: dict
  sample:
    elapsed: 3.0
    judgement: {}
evidence:
  description: The release's verdict so far, for the next batch's bake (mode verdict).
  returned: when the bake ran
  type: dict
  sample: {}
msg:
  description: One line with the verdict and the numbers.
  returned: always
  type: str
  sample: 'node1 rejected after 3.0s under real traffic: 5xx share 100.00% is above the old release''s
    0.00% ...'
"""

import http.client
import math
import threading
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.orchestrator.fleet.plugins.module_utils import judge
from ansible_collections.orchestrator.fleet.plugins.module_utils.haproxy_admin import (
    HAProxyAdminError,
    RequestStream,
    is_up,
    server_stat,
)
from ansible_collections.orchestrator.fleet.plugins.module_utils.judge import TRACE_LIMIT, Judgement, Policy, Sample

# a look due at t is taken at t; a step that ends at t ends there, not a look later
EPSILON = 0.05


class Probe:
    """Requests of the bake's own, in a thread: round-robin over ``servers`` and the probe's
    paths, at ``rate`` requests/s in all, through the frontend, while ``wanted`` is set. Their
    answers are read from the ring like any other; this only sends."""

    def __init__(self, frontend: str, probe: dict, servers: list[str]):
        host, _colon, port = frontend.rpartition(":")
        self.host, self.port = host or "127.0.0.1", int(port or 80)
        self.paths = list(probe.get("paths") or ["/"])
        self.rate = float(probe.get("rate") or 10)
        self.headers = {str(k): str(v) for k, v in (probe.get("headers") or {}).items()}
        self.servers = servers
        self.wanted = threading.Event()
        self.stopped = threading.Event()
        self.sent = 0
        self.thread = threading.Thread(target=self._run, name="probe", daemon=True)

    def __enter__(self) -> Probe:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopped.set()
        self.wanted.set()
        self.thread.join(timeout=10)

    def _run(self) -> None:
        conn, i, due = None, 0, time.monotonic()
        while not self.stopped.is_set():
            if not self.wanted.is_set():
                self.wanted.wait(1.0)
                due = time.monotonic()
                continue
            server, path = self.servers[i % len(self.servers)], self.paths[(i // len(self.servers)) % len(self.paths)]
            i += 1
            try:
                conn = conn or http.client.HTTPConnection(self.host, self.port, timeout=5)
                conn.request("GET", path, headers={**self.headers, "X-Orchestrator-Probe": server})
                conn.getresponse().read()
                self.sent += 1
            except (OSError, http.client.HTTPException):
                if conn is not None:
                    conn.close()
                conn = None  # HAProxy logs what happened; a new connection next time
            due += 1 / self.rate
            self.stopped.wait(max(0.0, due - time.monotonic()))


class _NoProbe:
    wanted = threading.Event()
    sent = 0

    def __enter__(self) -> _NoProbe:
        return self

    def __exit__(self, *exc) -> None:
        return None


# C901: the bake's one loop of looks, with its stops in the order they are told; judge.py holds the statistics
def bake(module: AnsibleModule) -> None:  # noqa: C901
    p = module.params
    carry = p["carry"] or {}
    watching = p["mode"] == "watch"
    state = carry.get("judgement") or (None if watching else p["evidence"] or None)
    judgement = Judgement(Policy.from_params(p), state, mode=p["mode"])
    reference = Sample.from_dict(p["history"])
    server = p["server"]
    peers = [s for s in p["peers"] if s != server]
    baseline = [s for s in p["baseline"] if s != server and s not in peers]
    # a verdict pools the release's servers; a watch keeps the node apart from its peers
    new_side = {server} if watching else {server, *peers}
    elapsed = float(carry.get("elapsed", 0.0))
    step_began, step_requests = elapsed, judgement.new.requests
    trace = list(carry.get("trace") or [])
    targets = sorted(new_side) + baseline + (peers if watching else [])
    probing = Probe(p["frontend"], p["probe"], targets) if p["probe"] and p["frontend"] else _NoProbe()
    with RequestStream(p["socket"], p["ring"]) as stream, probing as probe:
        probe.wanted.set()  # until the first look says how much real traffic there is
        if not carry and p["warmup"] > 0:
            stream.read(p["warmup"])  # the fresh JVM's first requests are not the release's fault
        began = time.monotonic() - elapsed
        look = (math.floor(elapsed / p["interval"] + EPSILON) + 1) * p["interval"]
        while True:
            seen = {stratum: (Sample(), Sample(), Sample()) for stratum in (False, True)}  # probe? -> new, base, peers
            for r in stream.read(max(0.0, began + min(look, p["seconds"]) - time.monotonic())):
                if r.backend != p["backend"]:
                    continue
                new, base, peer = seen[r.probe]
                if r.server in new_side:
                    new.add(r.status, r.response_ms)
                elif r.server in baseline:
                    base.add(r.status, r.response_ms)
                elif r.server in peers:
                    peer.add(r.status, r.response_ms)
            elapsed = time.monotonic() - began
            real, probed = seen[False], seen[True]
            verdict = judgement.look(real[0], real[1], peers=real[2], reference=reference)
            if any(sample.requests for sample in probed):
                verdict = judgement.look(probed[0], probed[1], peers=probed[2], probe=True, reference=reference)
            # probe while the users' requests to the new side fall short of the probe's rate
            if real[0].requests < 0.5 * float(p["probe"].get("rate") or 0) * p["interval"]:
                probe.wanted.set()
            else:
                probe.wanted.clear()
            trace = _traced(trace, elapsed, verdict)
            report = dict(
                verdict.to_dict(),
                seconds=round(elapsed, 2),
                servers=sorted(new_side),
                peers=peers,
                baseline_servers=baseline,
                baseline_source=(
                    "live + before the deploy"
                    if judgement.used_reference and judgement.base.requests
                    else "before the deploy"
                    if judgement.used_reference
                    else "live"
                ),
                history_requests=reference.requests,
                probe_requests=judgement.probes,
                trace=trace,
                # for the dashboard's charts: both sides' response times, and the settings behind its lines
                distributions={
                    "new": judgement.new.binned(),
                    "old": (judgement.base if judgement.base.requests else reference).binned(),
                },
                policy=judgement.policy.to_dict(),
            )
            result = dict(
                changed=False,
                verdict=verdict.verdict,
                report=report,
                final=p["final"],
                ramp=False,
                open=False,
                carry={"elapsed": elapsed, "judgement": judgement.state(), "trace": trace},
                evidence={} if watching else judgement.state(),
            )
            said = f"{_judged(server, report)} after {elapsed:.1f}s: {verdict.summary()}"
            row = server_stat(p["socket"], p["backend"], server)
            if not is_up(row):
                report["verdict"] = "fail"
                module.fail_json(
                    msg=f"{server} went {row.get('status')} during its bake (HAProxy's health checks); {said}",
                    **dict(result, verdict="fail", rule="health"),
                )
            if verdict.verdict == "fail":
                module.fail_json(
                    msg=f"{server} rejected after {elapsed:.1f}s under real traffic: "
                    f"{verdict.reasons()} ({_judged(server, report)}; {verdict.summary()})",
                    **result,
                )
            if watching and elapsed >= p["seconds"] - p["warmup"] - EPSILON:
                # a watch lasts its window from the node's entry into rotation, warm-up included
                module.exit_json(msg=said, **result)
            if not watching and verdict.verdict in ("pass", "marginal") and elapsed >= p["pass_after"] - EPSILON:
                module.exit_json(msg=said, **result)
            looks_in_step = math.floor((elapsed - step_began) / p["interval"] + EPSILON)
            if (
                p["ramp"]
                and not p["final"]
                and verdict.wants_weight(judgement.new.requests - step_requests, looks_in_step)
            ):
                module.exit_json(msg=f"{said} (more weight for more evidence)", **dict(result, ramp=True, open=True))
            if elapsed >= p["seconds"] - EPSILON:
                if not p["final"]:
                    module.exit_json(msg=said, **dict(result, open=True))
                no_verdict = (
                    f"{server}: no verdict after {elapsed:.1f}s under real traffic: {verdict.reasons()} "
                    f"({_judged(server, report)})"
                )
                if p["inconclusive"] == "fail":
                    module.fail_json(
                        msg=f"{no_verdict}; webapp_bake_inconclusive is 'fail': raise webapp_bake_max_seconds, "
                        "set webapp_bake_probe for a service this quiet, or webapp_bake_inconclusive: pause (decide by hand) "
                        "or watch (go live, watched after the roll)",
                        **result,
                    )
                if p["inconclusive"] == "pass":
                    module.warn(f"{no_verdict}; passed without one (webapp_bake_inconclusive is 'pass')")
                module.exit_json(msg=no_verdict, **result)
            look += p["interval"]


def _traced(trace: list, elapsed: float, verdict) -> list:
    """The trace with one more row: [seconds, new requests, new 5xx, old requests, old 5xx, and per
    metric the p-value of "worse" and of "ruled out"], thinned to every other row when full."""
    errors = next(m for m in verdict.metrics if m.name == "errors")
    row = [round(elapsed, 2), errors.new.get("requests", 0), errors.new.get("errors_5xx", 0)]
    row += [errors.baseline.get("requests", 0), errors.baseline.get("errors_5xx", 0)]
    row += [float(f"{v:.3g}") for m in verdict.metrics if m.against == "old" for v in (m.p_value, m.p_ok)]
    trace = [*trace, row]
    return trace if len(trace) <= TRACE_LIMIT else trace[::2]


def _judged(server: str, report: dict) -> str:
    """Who was judged against what, in words."""
    servers = ", ".join(report["baseline_servers"]) or "no server"
    if not report["baseline_servers"] and not report["history_requests"]:
        old = "no request of the old release (none in rotation, none recorded before the deploy)"
    elif report["baseline_source"] == "live":
        old = f"the old release on {servers}"
    elif report["baseline_source"] == "before the deploy":
        old = f"the old release's {report['history_requests']} requests from before the deploy"
    else:
        old = f"the old release on {servers} and its {report['history_requests']} requests from before the deploy"
    if report["mode"] == "watch":
        peers = f" and its peers {', '.join(report['peers'])}" if report["peers"] else ""
        return f"{server} watched against {old}{peers}"
    pooled = ", ".join(report["servers"])
    return (
        f"the release on {pooled} judged against {old}"
        if len(report["servers"]) > 1
        else f"{server} judged against {old}"
    )


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            socket=dict(type="path", required=True),
            backend=dict(type="str", required=True),
            ring=dict(type="str", required=True),
            server=dict(type="str", required=True),
            peers=dict(type="list", elements="str", default=[]),
            baseline=dict(type="list", elements="str", default=[]),
            history=dict(type="dict", default={}),
            carry=dict(type="dict", default={}),
            evidence=dict(type="dict", default={}),
            mode=dict(type="str", default="verdict", choices=["verdict", "watch"]),
            seconds=dict(type="float", required=True),
            pass_after=dict(type="float", required=True, no_log=False),  # seconds, not a secret
            max_seconds=dict(type="float", required=True),
            interval=dict(type="float", default=1.0),
            warmup=dict(type="float", default=0.0),
            final=dict(type="bool", default=True),
            ramp=dict(type="bool", default=False),
            inconclusive=dict(type="str", default="fail", choices=["fail", "pass", "pause", "watch"]),
            probe=dict(type="dict", default={}),
            frontend=dict(type="str", default=""),
            watches=dict(type="int", default=1),
            **judge.argument_spec(),  # the judge's settings (judge.SETTINGS)
        ),
        supports_check_mode=True,
    )
    if module.check_mode or module.params["seconds"] <= 0:
        module.exit_json(changed=False, verdict="skipped", msg="no bake")
    try:
        server_stat(module.params["socket"], module.params["backend"], module.params["server"])
        bake(module)
    except HAProxyAdminError as exc:
        module.fail_json(msg=str(exc), verdict="fail", rule="haproxy")


if __name__ == "__main__":
    main()

#!/usr/bin/python
"""Ansible module: watch a freshly enabled server under real traffic and judge it against the old release."""

from __future__ import annotations

DOCUMENTATION = r"""
module: haproxy_bake
short_description: Judge a new server's requests against the old release's, at planned looks
description:
  - The immune system. Follows every request the frontend logs to HAProxy's request ring (C(show events
    <ring> -w -n)) and sorts them into the new I(server)'s and the I(baseline)'s, the servers still on
    the old release, over the same window. While the live baseline has fewer than I(min_requests), the
    old release's requests from just before the deploy (I(history), read by C(haproxy_requests)) are added
    to it.
  - Requests of the first I(warmup) seconds are not judged (a fresh JVM is slow at first).
  - At each planned look (every I(interval) seconds, up to I(max_seconds)) the judge (module_utils/judge.py)
    answers pass, marginal, fail or inconclusive from the 5xx shares, a rank test of the response times
    and the p95. A fail ends the task as failed, with every number. A pass (or marginal) ends it once
    I(pass_after) seconds have gone by. At I(seconds), an undecided bake ends with C(verdict=inconclusive)
    and the state to go on from (I(carry)); when I(final), I(inconclusive) says whether that fails the
    node (the default) or lets it pass with a warning.
  - A server HAProxy's own health checks take out of UP during the bake fails it too.
  - The deploy runs it in steps, raising a canary's weight between them (webapp_canary_weight_steps);
    I(carry) hands one step's samples and clock to the next.
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
    description: The new server
    required: true
    type: str
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
  seconds:
    description: Bake time (since the bake began) at which this step ends
    required: true
    type: float
  pass_after:
    description: The soonest bake time a pass can come at
    required: true
    type: float
  max_seconds:
    description: The longest a bake can last (fixes the number of planned looks)
    required: true
    type: float
  interval:
    description: Seconds between looks
    default: 5
    type: float
  warmup:
    description: Seconds after the server enters rotation whose requests are not judged
    default: 0
    type: float
  final:
    description: This is the last step
    default: true
    type: bool
  inconclusive:
    description: At the end of the last step without a verdict, fail or pass
    default: fail
    choices:
      - fail
      - pass
    type: str
  confidence:
    description: 1 - the chance a good release fails over the whole bake
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
- name: bake | Judge the node against the old release
  haproxy_bake:
    socket: /run/haproxy/admin.sock
    backend: app
    ring: reqs
    server: app1
    baseline: [app2, app3]
    seconds: 30
    pass_after: 30
    max_seconds: 180
  register: bake
"""

RETURN = r"""
verdict:
  description: pass, marginal, fail or inconclusive (skipped in check mode or with seconds 0).
  returned: always
  type: str
  sample: pass
report:
  description: The judge's answer with every metric's numbers (new and baseline values, sample sizes,
    p-values, thresholds), the baseline servers and where the baseline came from.
  returned: when the bake ran
  type: dict
  sample:
    verdict: pass
    summary: 'pass (2210 requests vs 21877 of the old release): ...'
    baseline_servers:
      - app2
    baseline_source: live
    seconds: 30.1
final:
  description: This was the last step (an inconclusive verdict is then the bake's last word).
  returned: when the bake ran
  type: bool
  sample: true
carry:
  description: State for the next step (samples and the bake's clock).
  returned: when the bake ran
  type: dict
  sample:
    elapsed: 30.0
    new: {}
    baseline: {}
msg:
  description: One line with the verdict and the numbers.
  returned: always
  type: str
  sample: 'node1 rejected after 3.0s under real traffic: 5xx share 100.00% is above the old release''s
    0.00% ...'
"""

import math
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.haproxy_admin import HAProxyAdminError, RequestStream, is_up, server_stat
from ansible.module_utils.judge import Policy, Sample, judge

# a look due at t is taken at t; a step that ends at t ends there, not a look later
EPSILON = 0.05


def policy(p: dict) -> Policy:
    return Policy(
        looks=max(1, math.ceil(p["max_seconds"] / p["interval"] - EPSILON)),
        confidence=p["confidence"],
        power=p["power"],
        min_requests=p["min_requests"],
        errors_tolerance=p["errors_tolerance"],
        errors_detect_share=p["errors_detect_share"],
        latency_tolerance=p["latency_tolerance"],
        latency_floor_ms=p["latency_floor_ms"],
        latency_detect=p["latency_detect"],
        latency_detect_ms=p["latency_detect_ms"],
    )


def bake(module: AnsibleModule) -> None:
    p = module.params
    rules = policy(p)
    carry = p["carry"] or {}
    new, live = Sample.from_dict(carry.get("new")), Sample.from_dict(carry.get("baseline"))
    history = Sample.from_dict(p["history"])
    baseline_servers = [s for s in p["baseline"] if s != p["server"]]
    elapsed = float(carry.get("elapsed", 0.0))
    with RequestStream(p["socket"], p["ring"]) as stream:
        if not carry and p["warmup"] > 0:
            stream.read(p["warmup"])  # the fresh JVM's first requests are not the release's fault
        began = time.monotonic() - elapsed
        look = (math.floor(elapsed / p["interval"] + EPSILON) + 1) * p["interval"]
        while True:
            for r in stream.read(max(0.0, began + min(look, p["seconds"]) - time.monotonic())):
                if r.backend != p["backend"]:
                    continue
                if r.server == p["server"]:
                    new.add(r.status, r.response_ms)
                elif r.server in baseline_servers:
                    live.add(r.status, r.response_ms)
            elapsed = time.monotonic() - began
            topped_up = live.requests < rules.min_requests and history.requests > 0
            baseline = live.merge(history) if topped_up else live
            verdict = judge(new, baseline, rules)
            report = dict(
                verdict.to_dict(),
                seconds=round(elapsed, 2),
                baseline_servers=baseline_servers,
                baseline_source=(
                    "live + before the deploy"
                    if topped_up and live.requests
                    else "before the deploy"
                    if topped_up
                    else "live"
                ),
                history_requests=history.requests,
                looks=rules.looks,
            )
            result = dict(
                changed=False,
                verdict=verdict.verdict,
                report=report,
                final=p["final"],
                carry={"elapsed": elapsed, "new": new.to_dict(), "baseline": live.to_dict()},
            )
            said = f"{p['server']} judged against {_against(report)} after {elapsed:.1f}s: {verdict.summary()}"
            row = server_stat(p["socket"], p["backend"], p["server"])
            if not is_up(row):
                report["verdict"] = "fail"
                module.fail_json(
                    msg=f"{p['server']} went {row.get('status')} during its bake (HAProxy's health checks); {said}",
                    **dict(result, verdict="fail", rule="health"),
                )
            if verdict.verdict == "fail":
                module.fail_json(
                    msg=f"{p['server']} rejected after {elapsed:.1f}s under real traffic: "
                    f"{verdict.reasons()} (against {_against(report)}; {verdict.summary()})",
                    **result,
                )
            if verdict.verdict in ("pass", "marginal") and elapsed >= p["pass_after"] - EPSILON:
                module.exit_json(msg=said, **result)
            if elapsed >= p["seconds"] - EPSILON:
                if not p["final"]:
                    module.exit_json(msg=said, **result)
                no_verdict = (
                    f"{p['server']}: no verdict after {elapsed:.1f}s under real traffic: {verdict.reasons()} "
                    f"(against {_against(report)})"
                )
                if p["inconclusive"] == "fail":
                    module.fail_json(
                        msg=f"{no_verdict}; webapp_bake_inconclusive is 'fail': raise "
                        "webapp_bake_max_seconds or the canary's weight steps for a service this quiet",
                        **result,
                    )
                module.warn(f"{no_verdict}; passed without one (webapp_bake_inconclusive is 'pass')")
                module.exit_json(msg=said, **result)
            look += p["interval"]


def _against(report: dict) -> str:
    servers = ", ".join(report["baseline_servers"]) or "no server"
    if report["baseline_source"] == "live":
        return f"the old release on {servers}"
    if report["baseline_source"] == "before the deploy":
        return f"the old release's {report['history_requests']} requests from before the deploy"
    return f"the old release on {servers} and its {report['history_requests']} requests from before the deploy"


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            socket=dict(type="path", required=True),
            backend=dict(type="str", required=True),
            ring=dict(type="str", required=True),
            server=dict(type="str", required=True),
            baseline=dict(type="list", elements="str", default=[]),
            history=dict(type="dict", default={}),
            carry=dict(type="dict", default={}),
            seconds=dict(type="float", required=True),
            pass_after=dict(type="float", required=True),
            max_seconds=dict(type="float", required=True),
            interval=dict(type="float", default=5.0),
            warmup=dict(type="float", default=0.0),
            final=dict(type="bool", default=True),
            inconclusive=dict(type="str", default="fail", choices=["fail", "pass"]),
            confidence=dict(type="float", default=0.99),
            power=dict(type="float", default=0.95),
            min_requests=dict(type="int", default=50),
            errors_tolerance=dict(type="float", default=0.25),
            errors_detect_share=dict(type="float", default=0.02),
            latency_tolerance=dict(type="float", default=0.1),
            latency_floor_ms=dict(type="float", default=10.0),
            latency_detect=dict(type="float", default=0.25),
            latency_detect_ms=dict(type="float", default=30.0),
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

#!/usr/bin/python
"""Ansible module: watch a freshly enabled server under real traffic and judge it."""

from __future__ import annotations

DOCUMENTATION = r"""
module: haproxy_bake
short_description: Compare a new server's HAProxy counters with the rest of the fleet's over a bake window
description:
  - The immune system. For up to I(seconds), reads C(show stat) every I(interval) seconds and
    compares, over the same window, the new server with its I(peers) (the rest of the fleet):
    the share of its responses that are 5xx, and its average response time.
  - Rejects (fails, naming the rule and the numbers) as soon as, with at least I(min_requests)
    responses from the new server in the window, its 5xx share is above I(max_5xx_share); or
    above I(max_5xx_multiple) times the peers' share; or its response time (HAProxy's C(rtime),
    the mean of its last 1024 responses) is above I(max_rtime_multiple) times the peers' and
    more than I(rtime_floor_ms) above it. Also rejects a server HAProxy's own checks take DOWN.
  - With fewer than I(min_requests) responses by the end, no verdict can be reached: it passes
    with a warning (and C(verdict=no_traffic)).
  - Counters, not a metrics stack: C(hrsp_5xx), C(hrsp_1xx..4xx), C(hrsp_other) and C(rtime).
options:
  socket: {description: Admin socket, required: true, type: path}
  backend: {description: Backend name, required: true, type: str}
  server: {description: The new server, required: true, type: str}
  peers: {description: Servers to compare with, type: list, elements: str, default: []}
  seconds: {description: Bake window, required: true, type: float}
  interval: {description: Seconds between reads, default: 0.5, type: float}
  min_requests: {description: Responses needed for a verdict, default: 50, type: int}
  max_5xx_share: {description: Absolute ceiling of the 5xx share (0-1), default: 0.05, type: float}
  max_5xx_multiple: {description: Ceiling as a multiple of the peers' 5xx share, default: 2.0, type: float}
  max_rtime_multiple: {description: Ceiling as a multiple of the peers' response time, default: 2.0, type: float}
  rtime_floor_ms: {description: Response-time differences below this never reject, default: 50, type: float}
"""

RETURN = r"""
verdict: {description: passed, rejected or no_traffic, type: str}
rule: {description: The rule that rejected, type: str}
new: {description: The new server's numbers (requests, errors_5xx, share_5xx, rtime_ms), type: dict}
peers: {description: The peers' numbers, type: dict}
seconds: {description: Time until the verdict, type: float}
"""

import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.haproxy_admin import HAProxyAdminError, show_stat

CLASSES = ("hrsp_1xx", "hrsp_2xx", "hrsp_3xx", "hrsp_4xx", "hrsp_5xx", "hrsp_other")


def counters(rows: list[dict], backend: str, names: list[str]) -> dict[str, dict]:
    out = {}
    for row in rows:
        if row.get("pxname") == backend and row.get("svname") in names:
            out[row["svname"]] = {
                "responses": sum(int(row.get(c) or 0) for c in CLASSES),
                "errors_5xx": int(row.get("hrsp_5xx") or 0),
                "rtime_ms": float(row.get("rtime") or 0),
                "status": row.get("status", ""),
            }
    return out


def window(start: dict, now: dict, names: list[str]) -> dict:
    """Responses, 5xx and their share over the window, and the mean rtime, for ``names`` together."""
    responses = sum(now[n]["responses"] - start[n]["responses"] for n in names if n in now and n in start)
    errors = sum(now[n]["errors_5xx"] - start[n]["errors_5xx"] for n in names if n in now and n in start)
    rtimes = [now[n]["rtime_ms"] for n in names if n in now]
    return {"requests": responses, "errors_5xx": errors, "share_5xx": round(errors / responses, 4) if responses else 0.0,
            "rtime_ms": round(sum(rtimes) / len(rtimes), 1) if rtimes else 0.0}


def judge(new: dict, peers: dict | None, p: dict) -> str:
    """The rule the new server breaks, or ''."""
    if new["requests"] < p["min_requests"]:
        return ""
    if new["share_5xx"] > p["max_5xx_share"]:
        return f"5xx share {new['share_5xx']:.1%} is above the ceiling of {p['max_5xx_share']:.1%}"
    if peers and peers["requests"] >= p["min_requests"]:
        if peers["share_5xx"] > 0 and new["share_5xx"] > p["max_5xx_multiple"] * peers["share_5xx"]:
            return (f"5xx share {new['share_5xx']:.1%} is more than {p['max_5xx_multiple']:g}x the rest of the "
                    f"fleet's {peers['share_5xx']:.1%}")
        slower = new["rtime_ms"] - peers["rtime_ms"]
        if new["rtime_ms"] > p["max_rtime_multiple"] * peers["rtime_ms"] and slower > p["rtime_floor_ms"]:
            return (f"response time {new['rtime_ms']:.0f} ms is more than {p['max_rtime_multiple']:g}x the rest "
                    f"of the fleet's {peers['rtime_ms']:.0f} ms")
    return ""


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            socket=dict(type="path", required=True),
            backend=dict(type="str", required=True),
            server=dict(type="str", required=True),
            peers=dict(type="list", elements="str", default=[]),
            seconds=dict(type="float", required=True),
            interval=dict(type="float", default=0.5),
            min_requests=dict(type="int", default=50),
            max_5xx_share=dict(type="float", default=0.05),
            max_5xx_multiple=dict(type="float", default=2.0),
            max_rtime_multiple=dict(type="float", default=2.0),
            rtime_floor_ms=dict(type="float", default=50.0),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if module.check_mode or p["seconds"] <= 0:
        module.exit_json(changed=False, verdict="skipped")
    names = [p["server"], *p["peers"]]
    try:
        start = counters(show_stat(p["socket"]), p["backend"], names)
        if p["server"] not in start:
            module.fail_json(msg=f"HAProxy backend '{p['backend']}' has no server '{p['server']}'")
        began = time.monotonic()
        while True:
            time.sleep(p["interval"])
            now = counters(show_stat(p["socket"]), p["backend"], names)
            elapsed = round(time.monotonic() - began, 2)
            new = window(start, now, [p["server"]])
            peers = window(start, now, p["peers"]) if p["peers"] else None
            result = dict(changed=False, new=new, peers=peers or {}, seconds=elapsed)
            status = now.get(p["server"], {}).get("status", "")
            if not status.startswith("UP"):
                module.fail_json(msg=f"{p['server']} went {status} during its bake (HAProxy's health checks)",
                                 verdict="rejected", rule="health", **result)
            rule = judge(new, peers, p)
            if rule:
                module.fail_json(msg=f"{p['server']} rejected after {elapsed:g}s under real traffic: {rule} "
                                     f"({new['errors_5xx']} of {new['requests']} responses were 5xx)",
                                 verdict="rejected", rule=rule, **result)
            if elapsed >= p["seconds"]:
                if new["requests"] < p["min_requests"]:
                    module.warn(f"{p['server']} answered only {new['requests']} requests in its {p['seconds']:g}s bake "
                                f"(needs {p['min_requests']} for a verdict); passed without one")
                    module.exit_json(verdict="no_traffic", **result)
                module.exit_json(verdict="passed", **result)
    except HAProxyAdminError as exc:
        module.fail_json(msg=str(exc))


if __name__ == "__main__":
    main()

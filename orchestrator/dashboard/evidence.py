"""A verdict's report (plugins/modules/haproxy_bake.py) as a reader wants it: one sentence, and the data
of three charts with their threshold lines.

- response times: each side's distribution (the share of requests answered within x ms), with
  the old release's median and p95 (the latency and tail tests' thresholds) and the slowdown the
  judge promises to catch;
- 5xx share: each side's share with its 95% interval as the looks went by, with the share above
  which a fail is possible (the tolerance) and the share a pass rules out;
- evidence: each metric's anytime-valid p-value of "worse" (a fail needs it below alpha) and of
  "as bad as the regression to catch" (a pass needs it below beta), look by look.
"""

from __future__ import annotations

import math

Z95 = 1.959964
# p-values are drawn on a log scale: smaller ones sit on this floor
P_FLOOR = 1e-8


def sentence(report: dict) -> str:
    """The verdict in one sentence."""
    verdict = report.get("verdict", "")
    seconds = report.get("seconds")
    after = f" after {seconds:g}s" if isinstance(seconds, int | float) else ""
    new, old = report.get("new_requests", 0), report.get("baseline_requests", 0)
    on = f"{new:,} requests of the new release vs {old:,} of the old"
    if report.get("mode") == "watch":
        if verdict == "fail":
            return f"Rejected in its watch{after}: {report.get('reasons') or report.get('summary')}."
        return f"Watched{after} ({on}): nothing was worse than the old release or than its peers."
    if verdict == "fail":
        return f"Rejected{after} ({on}): {report.get('reasons') or report.get('summary')}."
    if verdict in ("pass", "marginal"):
        ruled = [m.get("threshold", "").partition("pass: ")[2].partition(" ruled out")[0] for m in _metrics(report)]
        ruled = [r for r in ruled if r]
        note = " (a small difference, within the tolerance)" if verdict == "marginal" else ""
        return f"Passed{after} ({on}): ruled out {', '.join(ruled) or 'a regression'}{note}."
    return f"No verdict{after} ({on}): {report.get('reasons') or 'more requests were needed'}."


def _metrics(report: dict, against: str = "old") -> list[dict]:
    return [m for m in report.get("metrics") or [] if m.get("against", "old") == against]


def charts(report: dict) -> dict:
    """{latency, errors, evidence}: each {x, series: [{label, values}], lines: [{label, axis, value}]}
    (or None where the report lacks the data: recorded before it was kept, or no request)."""
    return {"latency": _latency(report), "errors": _errors(report), "evidence": _evidence(report)}


def _latency(report: dict) -> dict | None:
    dist = report.get("distributions") or {}
    new, old = dist.get("new") or [], dist.get("old") or []
    if not new and not old:
        return None
    xs = sorted({max(1, int(ms)) for ms, _ in new + old})

    def cdf(rows: list) -> list[float | None]:
        total = sum(n for _, n in rows)
        if not total:
            return [None] * len(xs)
        out, seen, i = [], 0, 0
        rows = sorted((max(1, int(ms)), n) for ms, n in rows)
        for x in xs:
            while i < len(rows) and rows[i][0] <= x:
                seen += rows[i][1]
                i += 1
            out.append(round(seen / total, 5))
        return out

    lines = []
    latency = next((m for m in _metrics(report) if m["name"] == "latency"), None)
    tail = next((m for m in _metrics(report) if m["name"] == "tail"), None)
    policy = report.get("policy") or {}
    if latency and latency["baseline"].get("median_ms"):
        median = float(latency["baseline"]["median_ms"])
        lines.append({"label": f"old median {median:g} ms", "axis": "x", "value": median})
        if policy:
            allowed = median + max(policy["latency_tolerance"] * median, policy["latency_floor_ms"])
            caught = median + max(policy["latency_detect"] * median, policy["latency_detect_ms"])
            lines.append({"label": f"tolerated median {allowed:g} ms", "axis": "x", "value": allowed})
            lines.append({"label": f"slowdown to catch {caught:g} ms", "axis": "x", "value": caught})
    if tail and tail["baseline"].get("p95_ms"):
        p95 = float(tail["baseline"]["p95_ms"])
        lines.append({"label": f"old p95 {p95:g} ms", "axis": "x", "value": p95})
    return {
        "x": xs,
        "series": [
            {"label": "new release", "values": cdf(new)},
            {"label": "old release", "values": cdf(old)},
        ],
        "lines": lines,
        "x_label": "response time (ms, log)",
        "y_label": "share of requests answered within",
    }


def _errors(report: dict) -> dict | None:
    trace = report.get("trace") or []
    if not trace:
        return None
    xs = [row[0] for row in trace]
    new = [_wilson(row[2], row[1]) for row in trace]
    old = [_wilson(row[4], row[3]) for row in trace]
    lines = []
    errors = next((m for m in _metrics(report) if m["name"] == "errors"), None)
    policy = report.get("policy") or {}
    if errors is not None and policy:
        old_share = float(errors["baseline"].get("share") or 0.0)
        tolerated = (1 + policy["errors_tolerance"]) * old_share
        caught = max(2 * old_share, policy["errors_detect_share"])
        lines.append({"label": f"tolerated {tolerated:.2%}", "axis": "y", "value": tolerated})
        lines.append({"label": f"share to catch {caught:.2%}", "axis": "y", "value": caught})
    return {
        "x": xs,
        "series": [
            {"label": "new 5xx share", "values": [s for s, _, _ in new]},
            {"label": "new 95% interval (low)", "values": [lo for _, lo, _ in new], "band": True},
            {"label": "new 95% interval (high)", "values": [hi for _, _, hi in new], "band": True},
            {"label": "old 5xx share", "values": [s for s, _, _ in old]},
        ],
        "lines": lines,
        "x_label": "seconds of bake",
        "y_label": "5xx share",
    }


def _evidence(report: dict) -> dict | None:
    trace = report.get("trace") or []
    metrics = _metrics(report)
    if not trace or not metrics:
        return None
    xs = [row[0] for row in trace]
    series = []
    for i, m in enumerate(metrics):
        for j, what in enumerate(("worse", "ruled out")):
            column = 5 + 2 * i + j
            values = [max(float(row[column]), P_FLOOR) if len(row) > column else None for row in trace]
            series.append({"label": f"{m['name']}: p({what})", "values": values})
    alpha, beta = metrics[0].get("alpha"), metrics[0].get("beta")
    lines = [{"label": f"fail below alpha {alpha:.2g}", "axis": "y", "value": alpha}]
    if report.get("mode") != "watch":
        lines.append({"label": f"pass below beta {beta:.2g}", "axis": "y", "value": beta})
    return {"x": xs, "series": series, "lines": lines, "x_label": "seconds of bake", "y_label": "p-value (log)"}


def _wilson(errors: int, requests: int) -> tuple[float | None, float | None, float | None]:
    """The share and its 95% Wilson interval (None without a request)."""
    if not requests:
        return None, None, None
    p = errors / requests
    centre = (p + Z95**2 / (2 * requests)) / (1 + Z95**2 / requests)
    half = Z95 * math.sqrt(p * (1 - p) / requests + Z95**2 / (4 * requests**2)) / (1 + Z95**2 / requests)
    return round(p, 6), round(max(0.0, centre - half), 6), round(min(1.0, centre + half), 6)

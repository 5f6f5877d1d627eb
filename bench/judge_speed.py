"""How long the judge needs, side by side with an earlier judge: simulated canary bakes on a
two-node fleet with the sandbox's bake settings (a look a second, the soonest pass at 5 s, an
open verdict up to 120 s, the canary's weight 10, then 50, then 100), at a given request rate
through the load balancer, which ran for 30 s before the deploy (the old release's requests the
bake reads from the ring). Pure computation, no sandbox.

    .venv/bin/python bench/judge_speed.py                       # 200 bakes per row, against d4d368e
    .venv/bin/python bench/judge_speed.py --bakes 1000 --before <commit>

Per rate and release: how often the canary's verdict was a pass / a fail / none by 120 s, and
the seconds (and the canary's requests) to the verdict: median and 90th percentile.

The earlier judge (``--before``, read from git) tests at planned looks with Bonferroni and
raises the canary's weight every 5 s; this one is anytime-valid and raises the weight as soon
as some requests are in and nothing leans towards a fault.

The fixed-sample bound printed beside each good release is the number of requests one test
would need on the canary to tell its 5xx share from the regression the judge must catch
(double the old share, at least 2%) with the same error rates: a one-sided binomial test at
level 1 - power = 5% that passes a release as good as the old one 99% of the time
(1 - confidence = 1%): n = ((z_0.05 sqrt(d (1 - d)) + z_0.01 sqrt(p (1 - p))) / (d - p))^2,
p the old share, d the detection share. With no errors at all the exact bound is the smallest
n with (1 - d)^n <= 5%.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ansible_collections.orchestrator.fleet.plugins.module_utils import judge as current
from tests.support.judge_simulation import histogram

INTERVAL, PASS_AFTER, MAX_SECONDS = 1.0, 5.0, 120.0
WEIGHTS = (10, 50, 100)  # the canary's; the other node has 100
HISTORY_SECONDS = 30  # traffic before the deploy
RELEASES = {
    "good, 1% 5xx": dict(errors=(0.01, 0.01)),
    "good, no 5xx": dict(errors=(0.0, 0.0)),
    "5xx one in five": dict(errors=(0.0, 0.2)),
    "+300 ms": dict(errors=(0.0, 0.0), shift_ms=300),
}


def earlier_judge(rev: str):
    """The judge module as it was at ``rev``."""
    source = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{rev}:plugins/module_utils/judge.py"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    path = Path(tempfile.mkdtemp()) / "judge_before.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("judge_before", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["judge_before"] = module
    spec.loader.exec_module(module)
    return module


def share(weight: int) -> float:
    return weight / (weight + 100)


def bake(rng, rate: float, release: dict, *, anytime: bool, before=None) -> tuple[str, float, int]:
    """One canary bake: (verdict, seconds to it, the canary's requests then)."""
    errors, shift = release.get("errors", (0.01, 0.01)), release.get("shift_ms", 0)
    step, step_began, step_requests = 0, 0.0, 0
    # the old release's requests from before the deploy, as the playbook reads them from the ring
    reference = histogram(rng, int(rng.poisson(rate * HISTORY_SECONDS)), errors[0], 20.0, 0.6)
    if anytime:
        judgement = current.Judgement(current.Policy())
    else:
        policy = before.Policy(looks=math.ceil(MAX_SECONDS / INTERVAL))
        new_all, base_all = before.Sample(), before.Sample()
    seconds = 0.0
    while seconds < MAX_SECONDS:
        seconds += INTERVAL
        canary = share(WEIGHTS[step])
        n_new, n_base = rng.poisson(rate * canary * INTERVAL), rng.poisson(rate * (1 - canary) * INTERVAL)
        new = histogram(rng, int(n_new), errors[1], 20.0, 0.6, shift)
        base = histogram(rng, int(n_base), errors[0], 20.0, 0.6)
        if anytime:
            verdict = judgement.look(new, base, reference=reference)
            requests = judgement.new.requests
        else:
            new_all = new_all.merge(before.Sample(new.requests, new.errors, new.latency))
            base_all = base_all.merge(before.Sample(base.requests, base.errors, base.latency))
            topped_up = base_all.requests < policy.min_requests and reference.requests  # as its haproxy_bake did
            old = (
                base_all.merge(before.Sample(reference.requests, reference.errors, reference.latency))
                if topped_up
                else base_all
            )
            verdict = before.judge(new_all, old, policy)
            requests = new_all.requests
        if verdict.verdict == "fail":
            return "fail", seconds, requests
        if verdict.verdict in ("pass", "marginal") and seconds >= PASS_AFTER:
            return "pass", seconds, requests
        if step < len(WEIGHTS) - 1:
            ramp = anytime and verdict.wants_weight(requests - step_requests, int((seconds - step_began) / INTERVAL))
            if ramp or seconds >= (step + 1) * PASS_AFTER:
                step, step_began, step_requests = step + 1, seconds, requests
    return "none", MAX_SECONDS, requests


def fixed_bound(p: float, d: float = 0.02) -> int:
    """The fixed-sample bound above (module docstring)."""
    if p <= 0:
        return math.ceil(math.log(0.05) / math.log(1 - d))
    z_beta, z_alpha = statistics.NormalDist().inv_cdf(0.95), statistics.NormalDist().inv_cdf(0.99)
    return math.ceil(((z_beta * math.sqrt(d * (1 - d)) + z_alpha * math.sqrt(p * (1 - p))) / (d - p)) ** 2)


def row(runs: list[tuple[str, float, int]]) -> str:
    verdicts = [v for v, _, _ in runs]
    decided = [(s, n) for v, s, n in runs if v != "none"] or [(math.nan, 0)]
    secs = [s for s, _ in decided]
    reqs = [n for _, n in decided]
    return (
        f"{verdicts.count('pass'):>4} {verdicts.count('fail'):>4} {verdicts.count('none'):>4} "
        f"{statistics.median(secs):>6.1f} {np.percentile(secs, 90):>6.1f} {statistics.median(reqs):>7.0f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bakes", type=int, default=200, help="simulated bakes per row")
    parser.add_argument("--rates", type=float, nargs="*", default=[10, 50, 200, 1000])
    parser.add_argument("--before", default="d4d368e", help="the earlier judge's commit")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    before = earlier_judge(args.before)
    print(
        f"{'rate':>5} {'release':<16} {'judge':<8} {'pass':>4} {'fail':>4} {'none':>4} "
        f"{'s med':>6} {'s p90':>6} {'canary':>7}   fixed bound"
    )
    for rate in args.rates:
        for name, release in RELEASES.items():
            for label, anytime in (("before", False), ("now", True)):
                rng = np.random.default_rng(args.seed)
                began = time.monotonic()
                runs = [bake(rng, rate, release, anytime=anytime, before=before) for _ in range(args.bakes)]
                bound = f"{fixed_bound(release['errors'][0])} requests" if name.startswith("good") else ""
                print(
                    f"{rate:>5.0f} {name:<16} {label:<8} {row(runs)}   {bound}  ({time.monotonic() - began:.0f} s)",
                    flush=True,
                )


if __name__ == "__main__":
    main()

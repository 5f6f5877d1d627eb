"""Simulated bakes for the judge: the same looks and the same rule for stopping as a production
bake (roles/webapp/defaults/main.yml), on synthetic requests. Used by tests/unit/test_judge.py
and by the benchmarks bench/judge_false_fails.py and bench/judge_speed.py.

A simulated bake adds one look's worth of requests to each side, judges, and stops at the first
fail, or at the first pass once the soonest pass time is over (as haproxy_bake does), or at the
longest bake with an open verdict.
"""

from __future__ import annotations

import math

import numpy as np
import yaml

from ansible_collections.orchestrator.fleet.plugins.module_utils.judge import Judgement, Policy, Sample
from tests.conftest import COLLECTION

# The role's defaults (the Policy's defaults agree with them, tests/unit/test_bake_settings.py):
# the looks a production bake takes, and the first that may pass.
_ROLE = yaml.safe_load((COLLECTION / "roles/webapp/defaults/main.yml").read_text())
LOOKS = math.ceil(_ROLE["webapp_bake_max_seconds"] / _ROLE["webapp_bake_interval"])
FIRST_PASS_LOOK = math.ceil(_ROLE["webapp_bake_seconds"] / _ROLE["webapp_bake_interval"])
POLICY = Policy()


def histogram(
    rng: np.random.Generator,
    n: int,
    errors: float,
    median_ms: float,
    sigma: float,
    shift_ms: float = 0,
    scale: float = 1.0,
) -> Sample:
    """n requests, a share ``errors`` of them 5xx, log-normal response times in whole ms."""
    if n <= 0:
        return Sample()
    times = np.floor(rng.lognormal(np.log(median_ms), sigma, n) * scale + shift_ms).astype(int)
    values, counts = np.unique(times, return_counts=True)
    return Sample(n, int(rng.binomial(n, errors)), {int(v): int(c) for v, c in zip(values, counts, strict=True)})


def simulate(
    rng,
    per_bake: int,
    *,
    errors=(0.01, 0.01),
    median_ms=(20.0, 20.0),
    sigma=0.6,
    shift_ms=0.0,
    scale=1.0,
    baseline_ratio=5,
    looks=LOOKS,
    first_pass_look=FIRST_PASS_LOOK,
    until_verdict=False,
    policy=POLICY,
    poisson=False,
) -> tuple[str, int]:
    """One bake: (verdict, the new side's requests when it was reached). ``per_bake`` requests
    reach the new side over the soonest-pass time (``per_bake / first_pass_look`` a look, or a
    Poisson number with that mean), ``baseline_ratio`` times as many the old release."""
    per_look = per_bake / first_pass_look
    judgement = Judgement(policy)
    for look in range(1, looks + 1):
        n_new = int(rng.poisson(per_look)) if poisson else max(1, round(per_look))
        n_base = int(rng.poisson(per_look * baseline_ratio)) if poisson else max(1, round(per_look * baseline_ratio))
        new = histogram(rng, n_new, errors[1], median_ms[1], sigma, shift_ms, scale)
        base = histogram(rng, n_base, errors[0], median_ms[0], sigma)
        verdict = judgement.look(new, base).verdict
        if verdict == "fail":
            return "fail", judgement.new.requests
        if verdict in ("pass", "marginal") and look >= first_pass_look:
            return verdict, judgement.new.requests
        if not until_verdict and look >= first_pass_look:
            return verdict, judgement.new.requests
    return "inconclusive", judgement.new.requests


def false_fails(per_bake: int, bakes: int, seed: int | None = None) -> dict[str, int]:
    """Verdicts on ``bakes`` identical releases (1% random 5xx on both sides), run to a verdict."""
    rng = np.random.default_rng(per_bake if seed is None else seed)
    verdicts = [simulate(rng, per_bake, until_verdict=True)[0] for _ in range(bakes)]
    return {v: verdicts.count(v) for v in ("fail", "pass", "marginal", "inconclusive")}

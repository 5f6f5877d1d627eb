"""The judge: known answers from SciPy, then simulated bakes of identical and worse releases
(tests/support/judge_simulation.py: the same looks and stopping rule as a production bake).

The false-fail rate over many bakes is measured by bench/judge_false_fails.py; the suite keeps
a smaller, seeded run of it.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from orchestrator.module_utils import judge
from orchestrator.module_utils.judge import Sample
from tests.support.judge_simulation import POLICY, false_fails, histogram, simulate

# --- known answers ---------------------------------------------------------------------------


@pytest.mark.parametrize("x, n, p", [(1, 10, 0.1), (3, 50, 0.02), (700, 1000, 0.68), (40, 4000, 0.01), (0, 5, 0.5)])
def test_binomial_tail_matches_scipy(x, n, p):
    assert judge.binomial_sf(x, n, p) == pytest.approx(stats.binom.sf(x - 1, n, p), rel=1e-9, abs=1e-15)
    assert judge.binomial_cdf(x, n, p) == pytest.approx(stats.binom.cdf(x, n, p), rel=1e-9, abs=1e-15)


def test_rate_ratio_is_scipys_conditional_binomial_test():
    # Given 12 errors in 400 requests against 30 in 3,000
    x1, n1, x2, n2 = 12, 400, 30, 3000
    expected = stats.binomtest(x1, x1 + x2, n1 / (n1 + n2), alternative="greater").pvalue
    assert judge.rate_ratio_p(x1, n1, x2, n2) == pytest.approx(expected, rel=1e-9)


def test_mann_whitney_on_tied_histograms_matches_scipy():
    rng = np.random.default_rng(7)
    a = np.floor(rng.lognormal(3.0, 0.5, 120)).astype(int)
    b = np.floor(rng.lognormal(2.9, 0.5, 700)).astype(int)
    hist = lambda xs: {int(v): int(c) for v, c in zip(*np.unique(xs, return_counts=True), strict=True)}  # noqa: E731
    u, p = judge.mann_whitney_greater(hist(a), hist(b))
    expected = stats.mannwhitneyu(a, b, alternative="greater", method="asymptotic", use_continuity=True)
    assert u == pytest.approx(expected.statistic)
    assert p == pytest.approx(expected.pvalue, rel=1e-9)


def test_normal_quantile_matches_scipy():
    for p in (0.05, 1e-3, 1e-6):
        assert judge.normal_isf(p) == pytest.approx(stats.norm.isf(p), rel=1e-9)


def test_a_sample_round_trips_through_json_and_merges():
    a, b = Sample(), Sample()
    for status, ms in ((200, 3), (500, 3), (200, 7), (502, -1)):
        a.add(status, ms)
    b.add(200, 7)
    merged = Sample.from_dict(a.to_dict()).merge(b)
    assert (merged.requests, merged.errors, merged.latency) == (5, 2, {3: 2, 7: 2})
    assert merged.quantile(0.5) == 3 and merged.quantile(0.95) == 7


# --- identical releases: false fails -----------------------------------------------------------


@pytest.mark.parametrize("per_bake", [20, 200, 2000])
def test_identical_releases_with_random_1pct_errors_rarely_fail(per_bake):
    # 200 seeded bakes per traffic level (bench/judge_false_fails.py runs 1,000 and more)
    counts = false_fails(per_bake, 200)
    print(f"\n{per_bake} requests per bake: {counts} of 200")
    assert counts["fail"] <= 4  # 2%: twice the promised rate, so a seeded run has room


def test_too_few_requests_are_inconclusive_never_a_pass():
    # Given 20 requests of a release as good as the old one, over the planned bake
    rng = np.random.default_rng(1)
    verdicts = {simulate(rng, 20)[0] for _ in range(200)}
    # Then no bake passes it: there is not the evidence
    assert verdicts <= {"inconclusive", "fail"}
    assert "inconclusive" in verdicts


def test_an_inconclusive_verdict_says_how_many_requests_it_saw_and_needs():
    new, base = Sample(), Sample()
    for _ in range(30):
        new.add(200, 5)
    for _ in range(3000):
        base.add(200, 5)
    verdict = judge.judge(new, base, POLICY)
    assert verdict.verdict == "inconclusive"
    assert "30 requests seen" in verdict.reasons() and "needed" in verdict.reasons()
    assert verdict.needed > 30


# --- worse releases: power ---------------------------------------------------------------------


def test_a_doubled_error_rate_is_caught_with_95pct_power():
    rng = np.random.default_rng(2)
    runs = [simulate(rng, 6000, errors=(0.01, 0.02), until_verdict=True) for _ in range(200)]
    verdicts = [v for v, _ in runs]
    print(
        f"\n1% -> 2%: {verdicts.count('fail')} fails of 200; median requests at the verdict "
        f"{int(np.median([n for _, n in runs]))}"
    )
    assert verdicts.count("pass") + verdicts.count("marginal") <= 10  # never waved through
    assert verdicts.count("fail") >= 190


@pytest.mark.parametrize("label, shift_ms, scale", [("+300 ms", 300, 1.0), ("+25% median", 0, 1.25)])
def test_a_slower_release_is_caught_with_95pct_power(label, shift_ms, scale):
    rng = np.random.default_rng(3)
    runs = [
        simulate(
            rng,
            300,
            errors=(0.0, 0.0),
            median_ms=(200.0, 200.0),
            sigma=0.4,
            shift_ms=shift_ms,
            scale=scale,
            until_verdict=True,
        )
        for _ in range(200)
    ]
    verdicts = [v for v, _ in runs]
    print(
        f"\n{label}: {verdicts.count('fail')} fails of 200; median requests at the verdict "
        f"{int(np.median([n for _, n in runs]))}"
    )
    assert verdicts.count("fail") >= 190


def test_every_page_a_500_fails_on_a_handful_of_requests():
    base = Sample()
    for _ in range(500):
        base.add(200, 2)
    new = Sample()
    for _ in range(6):
        new.add(500, 1)
    verdict = judge.judge(new, base, POLICY)
    assert verdict.verdict == "fail"
    assert "5xx share 100.00%" in verdict.reasons()


def test_a_trivial_slowdown_at_high_traffic_is_no_fault():
    # Given 1 ms slower medians (significant with 50,000 requests a side, but within the floor)
    rng = np.random.default_rng(4)
    new = histogram(rng, 50_000, 0.0, 21.0, 0.3)
    base = histogram(rng, 50_000, 0.0, 20.0, 0.3)
    verdict = judge.judge(new, base, POLICY)
    latency = next(m for m in verdict.metrics if m.name == "latency")
    assert latency.p_value < POLICY.alpha  # significant...
    assert verdict.verdict in ("pass", "marginal")  # ...but not a fault


def test_the_report_carries_each_metrics_numbers():
    base, new = Sample(), Sample()
    for i in range(1000):
        base.add(500 if i % 100 == 0 else 200, 4)
        new.add(500 if i % 50 == 0 else 200, 4)
    report = judge.judge(new, base, POLICY).to_dict()
    errors = next(m for m in report["metrics"] if m["name"] == "errors")
    assert errors["new"] == {"requests": 1000, "errors_5xx": 20, "share": 0.02}
    assert errors["baseline"]["errors_5xx"] == 10
    assert 0 < errors["p_value"] < 1 and errors["alpha"] == POLICY.alpha and errors["threshold"]
    assert report["summary"].startswith(report["verdict"])

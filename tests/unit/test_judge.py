"""The judge: known answers from SciPy, the anytime property, then simulated bakes of identical
and worse releases (tests/support/judge_simulation.py: the same looks and stopping rule as a
production bake), and a watch.

The false-fail rate over many bakes is measured by bench/judge_false_fails.py, the time to a
verdict by bench/judge_speed.py; the suite keeps smaller, seeded runs of them.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from ansible_collections.orchestrator.fleet.plugins.module_utils import judge
from ansible_collections.orchestrator.fleet.plugins.module_utils.judge import Judgement, Policy, Sample
from tests.support.judge_simulation import POLICY, false_fails, histogram, simulate

# --- known answers ---------------------------------------------------------------------------


@pytest.mark.parametrize("x, n, p", [(1, 10, 0.1), (3, 50, 0.02), (700, 1000, 0.68), (40, 4000, 0.01), (0, 5, 0.5)])
def test_binomial_tail_matches_scipy(x, n, p):
    assert judge.binomial_sf(x, n, p) == pytest.approx(stats.binom.sf(x - 1, n, p), rel=1e-9, abs=1e-15)
    assert judge.binomial_cdf(x, n, p) == pytest.approx(stats.binom.cdf(x, n, p), rel=1e-9, abs=1e-15)


@pytest.mark.parametrize(
    "n1, x1, n2, x2, psi, null",
    [(100, 3, 500, 5, 2.0, 1.0), (40, 40, 60, 0, 1e3, 1.0), (300, 150, 900, 420, 0.8, 2.0), (7, 0, 50, 9, 5.0, 1.0)],
)
def test_the_two_sample_ratio_is_fishers_noncentral_hypergeometric(n1, x1, n2, x2, psi, null):
    # Given a look's 2x2 table, the factor is the ratio of SciPy's noncentral hypergeometric pmfs
    k = x1 + x2
    expected = stats.nchypergeom_fisher.logpmf(x1, n1 + n2, n1, k, psi) - stats.nchypergeom_fisher.logpmf(
        x1, n1 + n2, n1, k, null
    )
    (got,) = judge.fnch_log_ratios(n1, x1, n2, x2, [psi], null)
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-9)


def test_a_table_that_says_nothing_changes_no_evidence():
    assert judge.fnch_log_ratios(0, 0, 50, 3, [2.0], 1.0) == [0.0]  # no request on the new side
    assert judge.fnch_log_ratios(50, 0, 50, 0, [2.0], 1.0) == [0.0]  # no event at all


def test_the_one_sample_ratio_is_scipys_binomial_ratio():
    expected = stats.binom.logpmf(4, 300, 0.005) - stats.binom.logpmf(4, 300, 0.02)
    assert judge.bernoulli_log_ratios(300, 4, [0.005], 0.02)[0] == pytest.approx(expected, rel=1e-9)


def test_a_sample_round_trips_through_json_and_merges():
    a, b = Sample(), Sample()
    for status, ms in ((200, 3), (500, 3), (200, 7), (502, -1)):
        a.add(status, ms)
    b.add(200, 7)
    merged = Sample.from_dict(a.to_dict()).merge(b)
    assert (merged.requests, merged.errors, merged.latency) == (5, 2, {3: 2, 7: 2})
    assert merged.quantile(0.5) == 3 and merged.quantile(0.95) == 7


def test_a_judgement_goes_on_from_its_state():
    # Given a judgement fed two looks, and the same split into two steps through its state
    rng = np.random.default_rng(5)
    looks = [(histogram(rng, 40, 0.01, 20, 0.6), histogram(rng, 200, 0.01, 20, 0.6)) for _ in range(2)]
    whole = Judgement(POLICY)
    for new, base in looks:
        whole.look(new, base)
    first = Judgement(POLICY)
    first.look(*looks[0])
    resumed = Judgement(POLICY, first.state())
    resumed.look(*looks[1])
    # Then both hold the same evidence
    for name, test in whole.state()["tests"].items():
        assert resumed.state()["tests"][name]["log"] == pytest.approx(test["log"], abs=1e-5), name


# --- the anytime property: looking at every look costs nothing ---------------------------------


def test_identical_releases_looked_at_five_hundred_times_rarely_fail():
    # Given identical releases (1% 5xx, the same times), judged at every one of 500 small looks:
    # a fixed-sample test repeated that often would fail most of them (Netflix's A/A runs: ~70%)
    rng = np.random.default_rng(11)
    fails = 0
    for _ in range(50):
        judgement = Judgement(POLICY)
        for _ in range(500):
            new, base = histogram(rng, 4, 0.01, 20, 0.6), histogram(rng, 20, 0.01, 20, 0.6)
            v = judgement.look(new, base)
            fails += v.verdict == "fail"
            if v.verdict == "fail":
                break
    # Then at most the promised share fail (1 - confidence = 1%; bench/judge_false_fails.py --looks runs more)
    assert fails <= 1


# --- identical releases: false fails -----------------------------------------------------------


@pytest.mark.parametrize("per_bake", [20, 200, 2000])
def test_identical_releases_with_random_1pct_errors_rarely_fail(per_bake):
    # 200 seeded bakes per traffic level (bench/judge_false_fails.py runs 10,000)
    counts = false_fails(per_bake, 200)
    print(f"\n{per_bake} requests per bake: {counts} of 200")
    assert counts["fail"] <= 4  # 2%: twice the promised rate, so a seeded run has room


def test_too_few_requests_are_inconclusive_never_a_pass():
    # Given 20 requests of a release as good as the old one, over the soonest-pass time
    rng = np.random.default_rng(1)
    verdicts = {simulate(rng, 20)[0] for _ in range(200)}
    # Then no bake passes it then: there is not the evidence
    assert verdicts <= {"inconclusive", "fail"}
    assert "inconclusive" in verdicts


def test_an_inconclusive_verdict_says_how_many_requests_it_saw_and_needs():
    judgement = Judgement(POLICY)
    for _ in range(3):
        new, base = Sample(), Sample()
        for _ in range(30):
            new.add(200, 5)
        for _ in range(3000):
            base.add(200, 5)
        verdict = judgement.look(new, base)
    assert verdict.verdict == "inconclusive"
    assert "90 requests seen" in verdict.reasons() and "needed" in verdict.reasons()
    assert verdict.needed > 90


def test_a_good_release_passes_sooner_than_one_fixed_sample_test_could():
    # Given a release as good as the old one (1% 5xx), 200 requests a look, the old release 5x that
    rng = np.random.default_rng(6)
    runs = [simulate(rng, 1200, until_verdict=True, looks=200) for _ in range(100)]
    # Then it passes, at a median below the one-sample fixed bound (2,132 requests: 1% vs 2%,
    # alpha 1%, power 95%; bench/judge_speed.py says how it is computed)
    assert sum(v in ("pass", "marginal") for v, _ in runs) >= 99
    assert np.median([n for _, n in runs]) < 2132


# --- worse releases: power ---------------------------------------------------------------------


def test_a_doubled_error_rate_is_caught_and_never_waved_through():
    rng = np.random.default_rng(2)
    runs = [simulate(rng, 2000, errors=(0.01, 0.02), until_verdict=True, looks=200) for _ in range(200)]
    verdicts = [v for v, _ in runs]
    print(
        f"\n1% -> 2%: {verdicts.count('fail')} fails of 200; median requests at the verdict "
        f"{int(np.median([n for _, n in runs]))}"
    )
    assert verdicts.count("pass") + verdicts.count("marginal") <= 10  # 1 - power: 5%
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
    # Given 1 ms slower medians (certain with 50,000 requests a side, but within the floor)
    rng = np.random.default_rng(4)
    judgement = Judgement(POLICY)
    for _ in range(10):
        verdict = judgement.look(histogram(rng, 5_000, 0.0, 21.0, 0.3), histogram(rng, 5_000, 0.0, 20.0, 0.3))
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
    assert 0 < errors["p_value"] <= 1 and errors["alpha"] == POLICY.alpha and errors["threshold"]
    assert report["summary"].startswith(report["verdict"])


# --- with no server of the old release in rotation: its requests from before the deploy -------


def test_against_the_reference_alone_a_bad_release_fails_and_a_good_one_passes():
    rng = np.random.default_rng(8)
    reference = histogram(rng, 3000, 0.01, 20, 0.6)
    bad, good = Judgement(POLICY), Judgement(POLICY)
    for _ in range(20):
        v_bad = bad.look(histogram(rng, 50, 0.2, 20, 0.6), Sample(), reference=reference)
        v_good = good.look(histogram(rng, 100, 0.0, 20, 0.6), Sample(), reference=reference)
    assert v_bad.verdict == "fail" and bad.used_reference
    assert v_good.verdict == "pass", v_good.reasons()


# --- a watch: a later node, once the release passed --------------------------------------------


def test_a_watched_node_broken_on_its_own_fails_against_its_peers():
    # Given the release passed; node3 answers 500 to a third of its requests, its peers do not,
    # and no server of the old release is left (the reference is clean too)
    rng = np.random.default_rng(9)
    policy = Policy(watches=3)
    reference = histogram(rng, 3000, 0.0, 20, 0.6)
    watch = Judgement(policy, mode="watch")
    for _ in range(5):
        verdict = watch.look(
            histogram(rng, 30, 0.33, 20, 0.6), Sample(), peers=histogram(rng, 90, 0.0, 20, 0.6), reference=reference
        )
    # Then the watch fails it, and says against whom
    assert verdict.verdict == "fail"
    assert "its peers' on the new release" in verdict.reasons() or "old release" in verdict.reasons()


def test_a_watched_node_as_good_as_its_peers_passes_its_watch():
    rng = np.random.default_rng(10)
    watch = Judgement(Policy(watches=3), mode="watch")
    for _ in range(10):
        verdict = watch.look(
            histogram(rng, 30, 0.01, 20, 0.6),
            histogram(rng, 60, 0.01, 20, 0.6),
            peers=histogram(rng, 60, 0.01, 20, 0.6),
        )
    assert verdict.verdict == "pass" and verdict.mode == "watch"
    assert all(math.isclose(m.p_ok, 1.0) for m in verdict.metrics)  # a watch asks no pass question

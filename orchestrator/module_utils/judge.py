"""The immune system's judge: is a new release worse than the old one, from per-request samples?

Pure functions of the samples, standard library only: the ``haproxy_bake`` module imports this
same file as ``ansible.module_utils.judge`` on the load balancer host, where only Python's
standard library can be counted on. The module does the I/O; everything that decides
lives here and is unit-tested against known answers.

Three metrics, each compared with the *old release* (the baseline) over the same window:

* **errors**: the share of 5xx responses. Exact conditional test of two Poisson rates (given
  the errors of both sides together, how many fall on the new server is binomial): exact for
  small counts, it accounts for both sample sizes. A significant excess fails only beyond
  ``errors_tolerance`` (1.25x the old share by default).
* **latency**: the server's response time (HAProxy's ``Tr``) per request. Mann-Whitney U (a rank
  test, so a few huge outliers do not dominate), one-sided; a difference fails only when it is
  significant *and* the medians differ by more than ``latency_tolerance`` and
  ``latency_floor_ms`` both (Kayenta's effect tolerance), so that a trivial but "significant"
  difference at high traffic does not fail a build.
* **tail**: the share of the new server's responses slower than the old release's 95th
  percentile, tested like the errors, with the same effect tolerance on the p95 itself.

Four answers: ``fail`` (worse, significantly and beyond the tolerance), ``inconclusive`` (not
enough evidence either way), ``marginal`` (evidence enough, nothing significant, but the
estimate is beyond the tolerance), ``pass``.

Never a pass without evidence: besides "is it worse?", each metric asks "is it shown better
than a release with a regression of the detection size?" (twice the old 5xx share or a share of
``errors_detect_share``; response times slowed by ``latency_detect`` or ``latency_detect_ms``).
A metric passes only when that second test is significant at ``(1 - power) / looks``: a release
with such a regression then passes with probability at most ``1 - power`` over the whole bake.
Until then it is inconclusive, however clean its numbers look.

Repeated looks: a bake looks ``looks`` times (planned in advance), and each of the three "is it
worse?" tests at each look runs at ``(1 - confidence) / (3 * looks)`` (Bonferroni), so the
chance that a good release fails over the whole bake stays below ``1 - confidence``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

VERDICTS = ("pass", "marginal", "inconclusive", "fail")
METRICS = ("errors", "latency", "tail")
TAIL_QUANTILE = 0.95


# --- samples ---------------------------------------------------------------------------------


@dataclass
class Sample:
    """Requests seen on one side: counts and a histogram of response times (whole milliseconds,
    as HAProxy logs them). Mergeable, and small whatever the traffic."""

    requests: int = 0
    errors: int = 0
    latency: dict[int, int] = field(default_factory=dict)

    def add(self, status: int, response_ms: int) -> None:
        self.requests += 1
        if 500 <= status <= 599:
            self.errors += 1
        if response_ms >= 0:  # -1: no response from the server (it is still an answer, and maybe a 5xx)
            self.latency[response_ms] = self.latency.get(response_ms, 0) + 1

    def merge(self, other: Sample) -> Sample:
        latency = dict(self.latency)
        for ms, n in other.latency.items():
            latency[ms] = latency.get(ms, 0) + n
        return Sample(self.requests + other.requests, self.errors + other.errors, latency)

    @property
    def timed(self) -> int:
        return sum(self.latency.values())

    def quantile(self, q: float) -> float:
        """The q-quantile of the response times (nearest rank); 0 with no timed request."""
        total = self.timed
        if total == 0:
            return 0.0
        rank = max(1, math.ceil(q * total))
        seen = 0
        for ms in sorted(self.latency):
            seen += self.latency[ms]
            if seen >= rank:
                return float(ms)
        return float(max(self.latency))

    def slower_than(self, ms: float) -> int:
        return sum(n for v, n in self.latency.items() if v > ms)

    def to_dict(self) -> dict:
        return {
            "requests": self.requests,
            "errors": self.errors,
            "latency": {str(ms): n for ms, n in sorted(self.latency.items())},
        }

    @classmethod
    def from_dict(cls, data: dict | None) -> Sample:
        data = data or {}
        return cls(
            int(data.get("requests", 0)),
            int(data.get("errors", 0)),
            {int(ms): int(n) for ms, n in (data.get("latency") or {}).items()},
        )


# --- the policy ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Policy:
    """How sure the judge must be, and what it promises to catch (the webapp_bake_* settings)."""

    looks: int = 1  # planned looks over the whole bake
    confidence: float = 0.99  # over all looks and metrics: a good release fails at most 1 - this
    power: float = 0.95  # a regression of the detection size passes at most 1 - this
    min_requests: int = 50  # on each side, before any pass
    errors_tolerance: float = 0.25  # a significant excess up to 1.25x the old 5xx share is no fault
    errors_detect_share: float = 0.02  # catch double the old 5xx share, and any share of this or more
    latency_tolerance: float = 0.10  # slower by up to 10% ...
    latency_floor_ms: float = 10.0  # ... or by up to 10 ms is no fault
    latency_detect: float = 0.25  # catch a slowdown of 25% ...
    latency_detect_ms: float = 30.0  # ... and of 30 ms or more

    @property
    def alpha(self) -> float:
        """Level of one "worse than the old release" test at one look."""
        return (1 - self.confidence) / (len(METRICS) * max(1, self.looks))

    @property
    def beta(self) -> float:
        """Level of one "better than a regression of the detection size" test at one look."""
        return (1 - self.power) / max(1, self.looks)

    def slowed(self, ms: float) -> float:
        """A response time slowed by the detection size."""
        return ms + max(self.latency_detect * ms, self.latency_detect_ms)


# --- the verdict -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Metric:
    """One metric's answer, with the numbers that led to it.

    ``p_value`` tests "worse than the old release" (a fail needs it below ``alpha`` and the
    effect beyond the tolerance); ``p_ok`` tests "better than a release with a regression of
    the detection size" (a pass needs it below ``beta``: the evidence that such a regression
    would have been seen).
    """

    name: str
    verdict: str
    new: dict
    baseline: dict
    p_value: float
    alpha: float
    p_ok: float
    beta: float
    effect: str
    threshold: str
    needed: int | None = None  # an estimate of the requests of the new server a verdict needs
    reason: str = ""

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Verdict:
    verdict: str
    metrics: tuple[Metric, ...]
    new_requests: int
    baseline_requests: int

    @property
    def needed(self) -> int:
        """Requests of the new server the undecided metrics ask for (0 when none is undecided)."""
        return max((m.needed or 0 for m in self.metrics if m.verdict == "inconclusive"), default=0)

    def summary(self) -> str:
        """One line: the verdict, then each metric's numbers."""
        parts = [f"{m.name} {m.verdict}: {m.effect}, p(worse)={m.p_value:.2g}" for m in self.metrics]
        return (
            f"{self.verdict} ({self.new_requests} requests vs {self.baseline_requests} of the old release): "
            + "; ".join(parts)
        )

    def reasons(self) -> str:
        """Why it is not a pass, in words: the failing (else undecided, else marginal) metrics."""
        for wanted in ("fail", "inconclusive", "marginal"):
            said = [m.reason for m in self.metrics if m.verdict == wanted and m.reason]
            if said:
                return "; ".join(said)
        return ""

    def to_dict(self) -> dict:
        return {
            "verdict": self.verdict,
            "summary": self.summary(),
            "reasons": self.reasons(),
            "new_requests": self.new_requests,
            "baseline_requests": self.baseline_requests,
            "metrics": [m.to_dict() for m in self.metrics],
        }


def judge(new: Sample, baseline: Sample, policy: Policy) -> Verdict:
    """Compare the new server's sample with the old release's at one planned look."""
    metrics = (_errors(new, baseline, policy), _latency(new, baseline, policy), _tail(new, baseline, policy))
    verdicts = {m.verdict for m in metrics}
    overall = next(v for v in ("fail", "inconclusive", "marginal", "pass") if v in verdicts)
    return Verdict(overall, metrics, new.requests, baseline.requests)


def _settle(
    seen: int, base_seen: int, *, worse: bool, beyond: bool, p_ok: float, policy: Policy
) -> tuple[str, int | None]:
    """(verdict, requests an inconclusive one needs) from a metric's two tests and sample sizes."""
    if worse and beyond:
        return "fail", None
    enough = seen >= policy.min_requests and base_seen >= policy.min_requests
    if not (p_ok < policy.beta and enough):
        return "inconclusive", _needed(seen, p_ok, policy.beta, policy.min_requests)
    return ("marginal" if beyond else "pass"), None


def _wanting(seen: str, needed: int | None, base_seen: int, policy: Policy, goal: str = "") -> str:
    """Why a metric is inconclusive: what it saw (``seen``, e.g. "5xx: 30 requests seen"), about
    how much it needs, and whether the old release's side is short too."""
    return (
        f"{seen}, "
        + (f"about {needed} needed" if needed else "more needed")
        + goal
        + (f" (and {policy.min_requests} of the old release)" if base_seen < policy.min_requests else "")
    )


def _needed(seen: int, p: float, level: float, floor: int) -> int | None:
    """Requests a test at ``p`` now would need to reach ``level``, if the evidence keeps growing as
    it has (a z statistic grows as the square root of the sample). None: no trend to go on."""
    if p < level:
        return max(seen, floor)
    z_now, z_goal = normal_isf(p), normal_isf(level)
    if seen <= 0 or z_now <= 0.5:
        return None
    return max(floor, math.ceil(seen * (z_goal / z_now) ** 2))


def _errors(new: Sample, base: Sample, policy: Policy) -> Metric:
    alpha, beta = policy.alpha, policy.beta
    n1, x1, n2, x2 = new.requests, new.errors, base.requests, base.errors
    new_share = x1 / n1 if n1 else 0.0
    base_share = x2 / n2 if n2 else 0.0
    # worse: more 5xx than the old release at all (the tolerance gates the fail, not the test)
    p = rate_ratio_p(x1, n1, x2, n2) if n2 else 1.0
    # shown ok: a share below the floor, or fewer than double the old release's 5xx. Either
    # rules out the regression; two ways to pass, so each must hold at half the level.
    p_ok = binomial_cdf(x1, n1, policy.errors_detect_share) if n1 else 1.0
    if n2 and x1 + x2:
        p_ok = min(1.0, 2 * min(p_ok, binomial_cdf(x1, x1 + x2, 2 * n1 / (2 * n1 + n2))))
    beyond = n1 > 0 and new_share > (1 + policy.errors_tolerance) * base_share
    verdict, needed = _settle(n1, n2, worse=p < alpha, beyond=beyond, p_ok=p_ok, policy=policy)
    target = max(2 * base_share, policy.errors_detect_share)
    reason = {
        "fail": f"5xx share {new_share:.2%} is above the old release's {base_share:.2%} ({x1} of {n1} responses "
        f"vs {x2} of {n2}; p={p:.2g} < {alpha:.2g})",
        "inconclusive": _wanting(
            f"5xx: {n1} requests seen", needed, n2, policy, f" to rule out a share of {target:.1%}"
        ),
        "marginal": f"5xx share {new_share:.2%} against the old {base_share:.2%}, not significant (p={p:.2g})",
    }.get(verdict, "")
    return Metric(
        "errors",
        verdict,
        new={"requests": n1, "errors_5xx": x1, "share": round(new_share, 6)},
        baseline={"requests": n2, "errors_5xx": x2, "share": round(base_share, 6)},
        p_value=p,
        alpha=alpha,
        p_ok=p_ok,
        beta=beta,
        effect=f"5xx {x1}/{n1} ({new_share:.2%}) vs {x2}/{n2} ({base_share:.2%})",
        threshold=f"fail: p < {alpha:.2g} and above {1 + policy.errors_tolerance:g}x the old share; "
        f"pass: share below {target:.1%} shown (p < {beta:.2g})",
        needed=needed,
        reason=reason,
    )


def _latency(new: Sample, base: Sample, policy: Policy) -> Metric:
    alpha, beta = policy.alpha, policy.beta
    n1, n2 = new.timed, base.timed
    new_median, base_median = new.quantile(0.5), base.quantile(0.5)
    allowed = max(policy.latency_tolerance * base_median, policy.latency_floor_ms)
    u, p = mann_whitney_greater(new.latency, base.latency)
    slowed = {policy.slowed(ms): n for ms, n in base.latency.items()}
    _, p_ok = mann_whitney_greater(slowed, new.latency)
    beyond = n1 > 0 and new_median - base_median > allowed
    verdict, needed = _settle(n1, n2, worse=p < alpha, beyond=beyond, p_ok=p_ok, policy=policy)
    reason = {
        "fail": f"response time median {new_median:g} ms vs the old release's {base_median:g} ms "
        f"(Mann-Whitney p={p:.2g} < {alpha:.2g}; more than {allowed:g} ms slower)",
        "inconclusive": _wanting(
            f"latency: {n1} timed requests seen",
            needed,
            n2,
            policy,
            f" to rule out a slowdown of {policy.latency_detect:.0%} (at least {policy.latency_detect_ms:g} ms)",
        ),
        "marginal": f"median {new_median - base_median:+g} ms against the old release, not significant (p={p:.2g})",
    }.get(verdict, "")
    return Metric(
        "latency",
        verdict,
        new={"timed": n1, "median_ms": new_median, "p99_ms": new.quantile(0.99)},
        baseline={"timed": n2, "median_ms": base_median, "p99_ms": base.quantile(0.99)},
        p_value=p,
        alpha=alpha,
        p_ok=p_ok,
        beta=beta,
        effect=f"median {new_median:g} vs {base_median:g} ms ({_relative(new_median, base_median)})",
        threshold=f"fail: p < {alpha:.2g} and median more than {allowed:g} ms slower; "
        f"pass: faster than the old times slowed by {policy.latency_detect:.0%} "
        f"(at least {policy.latency_detect_ms:g} ms) shown (p < {beta:.2g})",
        needed=needed,
        reason=reason,
    )


def _tail(new: Sample, base: Sample, policy: Policy) -> Metric:
    alpha, beta = policy.alpha, policy.beta
    n1, n2 = new.timed, base.timed
    q, new_q = base.quantile(TAIL_QUANTILE), new.quantile(TAIL_QUANTILE)
    above_new, above_base = new.slower_than(q), base.slower_than(q)
    allowed = max(policy.latency_tolerance * q, policy.latency_floor_ms)
    p = rate_ratio_p(above_new, n1, above_base, n2) if n2 else 1.0
    # the share above the old p95 that a release slowed by the detection size would have
    slowed_share = sum(n for ms, n in base.latency.items() if policy.slowed(ms) > q) / n2 if n2 else 1.0
    p_ok = binomial_cdf(above_new, n1, slowed_share) if n1 and n2 else 1.0
    beyond = n1 > 0 and new_q - q > allowed
    verdict, needed = _settle(n1, n2, worse=p < alpha, beyond=beyond, p_ok=p_ok, policy=policy)
    reason = {
        "fail": f"p95 response time {new_q:g} ms vs the old release's {q:g} ms ({above_new} of {n1} responses "
        f"above it vs {above_base} of {n2}; p={p:.2g} < {alpha:.2g})",
        "inconclusive": _wanting(f"tail: {n1} timed requests seen", needed, n2, policy),
        "marginal": f"p95 {new_q - q:+g} ms against the old release, not significant (p={p:.2g})",
    }.get(verdict, "")
    return Metric(
        "tail",
        verdict,
        new={"timed": n1, "p95_ms": new_q, "above_old_p95": above_new},
        baseline={"timed": n2, "p95_ms": q, "above_old_p95": above_base},
        p_value=p,
        alpha=alpha,
        p_ok=p_ok,
        beta=beta,
        effect=f"p95 {new_q:g} vs {q:g} ms",
        threshold=f"fail: p < {alpha:.2g} and p95 more than {allowed:g} ms slower; "
        f"pass: fewer above the old p95 than a slowed release would have, shown (p < {beta:.2g})",
        needed=needed,
        reason=reason,
    )


def _relative(new: float, old: float) -> str:
    if old > 0:
        return f"{(new - old) / old:+.0%}"
    return f"{new - old:+g} ms"


# --- the statistics --------------------------------------------------------------------------


def rate_ratio_p(x1: int, n1: int, x2: int, n2: int, ratio: float = 1.0) -> float:
    """One-sided p-value that side 1's event rate is above ``ratio`` times side 2's.

    Conditional exact test of two Poisson rates: given k = x1 + x2 events, x1 is binomial with
    pi = ratio*n1 / (ratio*n1 + n2) when side 1's rate is ``ratio`` times side 2's.
    """
    if x1 <= 0 or n1 <= 0 or n2 <= 0:
        return 1.0
    return binomial_sf(x1, x1 + x2, ratio * n1 / (ratio * n1 + n2))


def mann_whitney_greater(a: dict, b: dict) -> tuple[float, float]:
    """(U of side a, one-sided p-value that a's values are larger than b's), from histograms
    (value -> count): mid-ranks for ties, the tie-corrected variance and a continuity
    correction (the normal approximation; a pass asks for 50 or more on each side)."""
    n1, n2 = sum(a.values()), sum(b.values())
    if n1 == 0 or n2 == 0:
        return 0.0, 1.0
    rank_sum, below, ties = 0.0, 0, 0.0
    for value in sorted(set(a) | set(b)):
        x, y = a.get(value, 0), b.get(value, 0)
        t = x + y
        rank_sum += x * (below + (t + 1) / 2)
        below += t
        ties += t**3 - t
    n = n1 + n2
    u = rank_sum - n1 * (n1 + 1) / 2
    variance = n1 * n2 / 12 * ((n + 1) - ties / (n * (n - 1))) if n > 1 else 0.0
    if variance <= 0:
        return u, 1.0  # every value the same: nothing to tell apart
    return u, normal_sf((u - n1 * n2 / 2 - 0.5) / math.sqrt(variance))


def normal_sf(z: float) -> float:
    return 0.5 * math.erfc(z / math.sqrt(2))


def normal_isf(p: float) -> float:
    """The z with normal_sf(z) == p: Acklam's rational approximation, then one Halley step."""
    if p <= 0:
        return math.inf
    if p >= 1:
        return -math.inf
    q = 1 - p  # the lower-tail probability of z
    a = (
        -3.969683028665376e01,
        2.209460984245205e02,
        -2.759285104469687e02,
        1.383577518672690e02,
        -3.066479806614716e01,
        2.506628277459239e00,
    )
    b = (
        -5.447609879822406e01,
        1.615858368580409e02,
        -1.556989798598866e02,
        6.680131188771972e01,
        -1.328068155288572e01,
    )
    c = (
        -7.784894002430293e-03,
        -3.223964580411365e-01,
        -2.400758277161838e00,
        -2.549732539343734e00,
        4.374664141464968e00,
        2.938163982698783e00,
    )
    d = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00, 3.754408661907416e00)
    if min(p, q) < 0.02425:
        t = math.sqrt(-2 * math.log(min(p, q)))
        z = (((((c[0] * t + c[1]) * t + c[2]) * t + c[3]) * t + c[4]) * t + c[5]) / (
            (((d[0] * t + d[1]) * t + d[2]) * t + d[3]) * t + 1
        )
        z = z if q < 0.5 else -z  # z above is the lower quantile of min(p, q)
    else:
        r = (q - 0.5) ** 2
        z = (
            (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5])
            * (q - 0.5)
            / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
        )
    # Halley's step on sf(z) - p = 0: full double precision
    e = normal_sf(z) - p
    u = -e * math.sqrt(2 * math.pi) * math.exp(z * z / 2)
    return z - u / (1 + z * u / 2)


def binomial_cdf(x: int, n: int, p: float) -> float:
    """P(X <= x) for X ~ Binomial(n, p)."""
    return 1.0 - binomial_sf(x + 1, n, p)


def binomial_sf(x: int, n: int, p: float) -> float:
    """P(X >= x) for X ~ Binomial(n, p): the regularized incomplete beta I_p(x, n - x + 1)."""
    if x <= 0:
        return 1.0
    if x > n:
        return 0.0
    if p <= 0:
        return 0.0
    if p >= 1:
        return 1.0
    return _betainc(x, n - x + 1, p)


def _betainc(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta I_x(a, b) by its continued fraction (Lentz)."""
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x > (a + 1) / (a + b + 2):
        return 1.0 - front * _beta_fraction(b, a, 1 - x) / b
    return front * _beta_fraction(a, b, x) / a


def _beta_fraction(a: float, b: float, x: float) -> float:
    tiny, eps = 1e-300, 1e-15
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 10_000):
        m2 = 2 * m
        for num in (
            m * (b - m) * x / ((a + m2 - 1) * (a + m2)),
            -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1)),
        ):
            d = 1 + num * d
            d = 1 / (d if abs(d) > tiny else tiny)
            c = 1 + num / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1) < eps:
            break
    return h

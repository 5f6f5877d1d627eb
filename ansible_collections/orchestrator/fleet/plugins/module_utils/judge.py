"""The immune system's judge: is a new release worse than the old one, from per-request samples?

Pure functions and one small stateful class, standard library only: the ``haproxy_bake``
module imports this same file as ``judge`` on the load balancer host,
where only Python's standard library can be counted on. The module does the I/O; everything
that decides lives here and is unit-tested against known answers.

**Anytime-valid.** The judge looks at the evidence as often as it likes (every look of the
bake, every batch of the deploy) and stops the moment it is enough, without paying for the
looks: each question is an *e-process*, a running product of likelihood ratios, one factor per
look, that under its null hypothesis is a nonnegative supermartingale starting at 1. By Ville's
inequality it ever reaches ``1/level`` with probability at most ``level``, however many looks
are taken and whenever the bake stops (Ramdas et al., "Game-theoretic statistics and safe
anytime-valid inference", 2023; for counts, Lindon & Malek, "Anytime-valid inference for
multinomial count data", 2022). The reported p-values are the anytime-valid ``1 / max E``.

Three metrics, each asked two questions:

* **errors**: the 5xx responses.
* **latency**: responses slower than the old release's median (a sign test of the centre).
* **tail**: responses slower than the old release's 95th percentile.

*Is it worse?* (the fail side). Each look's requests are a 2x2 table: new vs old release,
event (a 5xx, or slower than the threshold) or not. Given the table's margins, the new side's
events follow Fisher's noncentral hypergeometric distribution in the odds ratio ``psi``; the
factor of a look is the likelihood ratio of a mixture of ``psi`` in FAIL_ODDS against
``psi = 1``. Conditioning each look on its own margins makes the test exact whatever the traffic
does between looks (a canary's weight raised, a busy hour), and needs nothing of the old
release but its requests in the same seconds. With no server of the old release in rotation,
the old release's requests from before the deploy (the *reference*) stand in: a one-sample
test against an upper confidence bound of the reference's share. A metric fails when its
e-process reaches ``1/alpha`` *and* the estimated effect is beyond the tolerance (Kayenta's
rule, so that a trivial but certain difference at high traffic does not fail a build).

*Is a regression of the detection size ruled out?* (the pass side; never a pass without
evidence). errors: the odds ratio against the old release is below 2 (exact, as above), or the
share is below ``errors_detect_share`` (one-sample); the two e-processes are averaged, which is
valid because a release with such a regression makes both nulls true. latency and tail: the
share of new responses above a threshold is below what the old release's responses slowed by
``latency_detect`` (at least ``latency_detect_ms``) would give, a one-sample test whose null
share is estimated from the old release (a lower confidence bound, so the estimate errs on the
side of not passing). The latency threshold is the one that best tells the old release from
its slowed copy. A metric passes when its e-process reaches ``1/(1 - power)`` and each side
has ``min_requests``.

Levels: ``1 - confidence`` is the chance that a release as good as the old one fails the whole
deploy. Half of it goes to the release's verdict (a third per metric), half to the watches of
the later batches (``watches`` of them, each a share; see ``Policy``). ``1 - power`` is the
chance a release with a regression of the detection size passes.

A **watch** (a node rolled after the release passed) asks only the fail side, of that node
alone, against the old release and against its peers already on the new release: a node broken
on its own (a bad disk, a wrong setting on one host) is still rejected.

Answers: ``fail``, ``inconclusive`` (not enough evidence either way), ``marginal`` (a pass
whose estimate is beyond the tolerance though not significantly), ``pass``.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field

VERDICTS = ("pass", "marginal", "inconclusive", "fail")
METRICS = ("errors", "latency", "tail")
TAIL_QUANTILE = 0.95
# Alternatives of the "is it worse?" mixtures: odds ratios of the new side's events to the old
# release's, from a little worse to a release that fails every request.
FAIL_ODDS = (1.5, 2.0, 3.0, 5.0, 10.0, 30.0, 100.0, 1e3, 1e5)
# The pass side's alternative is the new side's own estimate from the looks before (predictable,
# so the e-process stays valid), shrunk towards "as good as the old release" by this many
# pseudo-requests while it has few.
PRIOR_REQUESTS = 20
# The old release's estimates that set a pass-side null are lower confidence bounds this many
# standard errors down.
ESTIMATE_Z = 2.0
# The old release's timed requests the "is it slower?" thresholds need.
THRESHOLD_REQUESTS = 5
# The canary's weight rises only once its side has this many requests in the step (and nothing
# leans towards a fault): a bad release is caught at the lowest weight, on these requests.
RAMP_REQUESTS = 10
# Looks kept in a judgement's trace (the report's chart of the evidence as it grew).
TRACE_LIMIT = 240
# A judgement's sides, and its strata: users' requests, and the bake's own probes.
SIDES = ("new", "base", "peers")
STRATA = ("real", "probe")


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

    @property
    def share(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

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

    def binned(self, limit: int = 48) -> list[list[int]]:
        """The response times as at most ``limit`` [upper bound in ms, requests] rows, the bounds
        spaced evenly on a log scale (the distribution a report keeps for its chart)."""
        times = sorted(self.latency)
        if len(times) <= limit:
            return [[ms, self.latency[ms]] for ms in times]
        lo, hi = max(times[0], 1), max(times[-1], 2)
        ratio = (hi / lo) ** (1 / limit)
        bounds = sorted({math.ceil(lo * ratio**i) for i in range(1, limit + 1)} | {hi})
        rows, i = [], 0
        for bound in bounds:
            n = 0
            while i < len(times) and times[i] <= bound:
                n += self.latency[times[i]]
                i += 1
            if n:
                rows.append([bound, n])
        return rows

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
class Setting:
    """One of the judge's settings: the haproxy_bake option (= the Policy field), the webapp role's
    variable, its default, and its kind, which says the range the preflight holds it to."""

    option: str
    variable: str
    default: float
    kind: str  # probability: 0.5 to below 1; share: above 0, at most 1; count: 1 or more; amount: 0 or more


# The judge's settings, each given once: Policy's defaults, the haproxy_bake module's
# argument_spec and the preflight's rules (preflight.py) are built from this table. A role
# variable left unset passes no value and the default here applies. The module's DOCUMENTATION
# is literal YAML (ansible-doc reads it without running code) and repeats the defaults;
# ansible-test's validate-modules and tests/unit/test_bake_settings.py check it does.
SETTINGS = (
    # a release as good as the old one fails the deploy at most 1 - this
    Setting("confidence", "webapp_bake_confidence", 0.99, "probability"),
    # a regression of the detection size passes at most 1 - this
    Setting("power", "webapp_bake_power", 0.95, "probability"),
    # requests on each side before any pass
    Setting("min_requests", "webapp_bake_min_requests", 50, "count"),
    # a significant excess up to 1.25x the old 5xx share is no fault
    Setting("errors_tolerance", "webapp_bake_5xx_tolerance", 0.25, "amount"),
    # catch double the old 5xx share, and any share of this or more
    Setting("errors_detect_share", "webapp_bake_5xx_detect_share", 0.02, "share"),
    # slower by up to 10% ...
    Setting("latency_tolerance", "webapp_bake_latency_tolerance", 0.10, "amount"),
    # ... or by up to 10 ms is no fault
    Setting("latency_floor_ms", "webapp_bake_latency_floor_ms", 10.0, "amount"),
    # catch a slowdown of 25% ...
    Setting("latency_detect", "webapp_bake_latency_detect", 0.25, "share"),
    # ... and of 30 ms or more
    Setting("latency_detect_ms", "webapp_bake_latency_detect_ms", 30.0, "amount"),
)
DEFAULTS = {setting.option: setting.default for setting in SETTINGS}


def argument_spec() -> dict:
    """The judge's settings as haproxy_bake options."""
    return {s.option: dict(type="int" if s.kind == "count" else "float", default=s.default) for s in SETTINGS}


@dataclass(frozen=True)
class Policy:
    """How sure the judge must be, and what it promises to catch (SETTINGS says each)."""

    confidence: float = DEFAULTS["confidence"]
    power: float = DEFAULTS["power"]
    min_requests: int = int(DEFAULTS["min_requests"])
    errors_tolerance: float = DEFAULTS["errors_tolerance"]
    errors_detect_share: float = DEFAULTS["errors_detect_share"]
    latency_tolerance: float = DEFAULTS["latency_tolerance"]
    latency_floor_ms: float = DEFAULTS["latency_floor_ms"]
    latency_detect: float = DEFAULTS["latency_detect"]
    latency_detect_ms: float = DEFAULTS["latency_detect_ms"]
    watches: int = 1  # nodes watched after the release's verdict, who share half of 1 - confidence

    @classmethod
    def from_params(cls, params: dict) -> Policy:
        """The policy a haproxy_bake call asks for (its options of the same names)."""
        return cls(watches=params["watches"], **{s.option: params[s.option] for s in SETTINGS})

    @property
    def alpha(self) -> float:
        """Level of one metric's "worse than the old release" e-process in the release's verdict."""
        return (1 - self.confidence) / 2 / len(METRICS)

    @property
    def watch_alpha(self) -> float:
        """Level of one metric's "worse" e-process against one comparison in one node's watch
        (two comparisons: the old release and the node's peers)."""
        return (1 - self.confidence) / 2 / max(1, self.watches) / len(METRICS) / 2

    @property
    def beta(self) -> float:
        """Level of one metric's "better than a regression of the detection size" e-process."""
        return 1 - self.power

    def slowed(self, ms: float) -> float:
        """A response time slowed by the detection size."""
        return ms + max(self.latency_detect * ms, self.latency_detect_ms)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


# --- the verdict -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Metric:
    """One metric's answer, with the numbers that led to it.

    ``p_value`` is the anytime-valid p-value of "worse than the old release" (a fail needs it
    below ``alpha`` and the effect beyond the tolerance); ``p_ok`` that of "as bad as a release
    with a regression of the detection size" (a pass needs it below ``beta``).
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
    needed: int | None = None  # an estimate of the new side's requests a verdict needs
    reason: str = ""
    against: str = "old"  # old (the old release) or peers (a watch: the node's new-release peers)
    leaning: bool = False  # the "is it worse?" e-process stands above 1 now, the effect beyond the tolerance

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Verdict:
    verdict: str
    metrics: tuple[Metric, ...]
    new_requests: int
    baseline_requests: int
    mode: str = "verdict"

    @property
    def needed(self) -> int:
        """Requests of the new side the undecided metrics ask for (0 when none is undecided)."""
        return max((m.needed or 0 for m in self.metrics if m.verdict == "inconclusive"), default=0)

    @property
    def leaning_worse(self) -> bool:
        """Some "is it worse?" e-process stands above 1 now and its effect is beyond the tolerance:
        the evidence leans towards a fault (the canary's weight is then not raised)."""
        return any(m.leaning for m in self.metrics)

    def wants_weight(self, requests_in_step: int, looks_in_step: int) -> bool:
        """Whether the canary's weight should rise now: the verdict is still to come, nothing leans
        towards a fault, and the step has had two looks and RAMP_REQUESTS requests."""
        return (
            self.verdict != "fail"
            and not self.leaning_worse
            and requests_in_step >= RAMP_REQUESTS
            and looks_in_step >= 2
        )

    def summary(self) -> str:
        """One line: the verdict, then each metric's numbers."""
        parts = [
            f"{m.name}{'' if m.against == 'old' else ' vs peers'} {m.verdict}: {m.effect}, p(worse)={m.p_value:.2g}"
            for m in self.metrics
        ]
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
            "mode": self.mode,
            "summary": self.summary(),
            "reasons": self.reasons(),
            "new_requests": self.new_requests,
            "baseline_requests": self.baseline_requests,
            "metrics": [m.to_dict() for m in self.metrics],
        }


# --- e-processes -----------------------------------------------------------------------------


class EProcess:
    """A mixture of likelihood-ratio martingales with equal weights: the log of each component's
    running product, and the largest mixture value seen (for the anytime-valid p-value)."""

    def __init__(self, components: int, state: dict | None = None):
        state = state or {}
        logs = state.get("log", [])
        self.log = [float(v) for v in logs] if len(logs) == components else [0.0] * components
        self.best = float(state.get("best", 0.0))  # log of the largest E so far

    def update(self, log_ratios: list[float]) -> None:
        self.log = [w + r for w, r in zip(self.log, log_ratios)]
        self.best = max(self.best, self.log_e)

    @property
    def log_e(self) -> float:
        return _logsumexp(self.log) - math.log(len(self.log))

    @property
    def p(self) -> float:
        """The anytime-valid p-value, 1 / max E."""
        return min(1.0, math.exp(-self.best))

    def to_dict(self) -> dict:
        return {"log": [round(v, 6) for v in self.log], "best": round(self.best, 6)}


def fnch_log_ratios(n1: int, x1: int, n2: int, x2: int, odds: list[float], null: float) -> list[float]:
    """log likelihood ratios, one per alternative odds ratio in ``odds``, against ``null``, of
    ``x1`` events among the ``x1 + x2`` of a 2x2 table falling on side 1 (``n1`` trials) rather
    than side 2 (``n2``): Fisher's noncentral hypergeometric distribution, the exact law of x1
    given the margins. A table that says nothing (an empty side, no event, all events) gives 0."""
    k = x1 + x2
    if n1 <= 0 or n2 <= 0 or k <= 0 or k >= n1 + n2:
        return [0.0] * len(odds)
    lo, hi = max(0, k - n2), min(n1, k)
    # log C(n1, y) C(n2, k - y), up to a constant that cancels in every ratio
    terms, t = [0.0], 0.0
    for y in range(lo, hi):
        t += math.log((n1 - y) * (k - y)) - math.log((y + 1) * (n2 - k + y + 1))
        terms.append(t)
    log_null = math.log(null)
    z_null = _log_norm(terms, lo, log_null)
    out = []
    for psi in odds:
        lp = math.log(psi)
        out.append(x1 * (lp - log_null) - (_log_norm(terms, lo, lp) - z_null))
    return out


def _log_norm(terms: list[float], lo: int, log_psi: float) -> float:
    values = [t + (lo + i) * log_psi for i, t in enumerate(terms)]
    return _logsumexp(values)


def bernoulli_log_ratios(n: int, x: int, shares: list[float], null: float) -> list[float]:
    """log likelihood ratios of ``x`` events in ``n`` trials, per alternative share, against ``null``."""
    if n <= 0:
        return [0.0] * len(shares)
    null = min(max(null, 1e-12), 1 - 1e-12)
    out = []
    for p in shares:
        p = min(max(p, 1e-12), 1 - 1e-12)
        out.append(x * math.log(p / null) + (n - x) * math.log((1 - p) / (1 - null)))
    return out


def _logsumexp(values: list[float]) -> float:
    top = max(values)
    if top == -math.inf:
        return top
    return top + math.log(sum(math.exp(v - top) for v in values))


# --- the judgement ---------------------------------------------------------------------------


class Judgement:
    """The running verdict on a release (``mode="verdict"``) or the watch of one node
    (``mode="watch"``), fed one look's requests at a time; its ``state()`` goes on in the next
    step of the bake, and a release's verdict in the next batch.

    Per look: ``new`` (the release's side: in a verdict the pooled new-release servers, in a
    watch the one node), ``base`` (servers of the old release in rotation, the same seconds),
    ``peers`` (a watch: the node's peers on the new release). ``reference``: the old release's
    requests from before the deploy, used where no server of the old release is in rotation.

    Real requests and the bake's probes are two strata: each look of either is its own factor,
    with thresholds and estimates from its own stratum, so that a probe of another page (faster
    or slower than the users' requests) never makes one side look slower than the other.
    """

    def __init__(self, policy: Policy, state: dict | None = None, *, mode: str = "verdict"):
        state = state or {}
        self.policy, self.mode = policy, mode
        self.strata = {
            stratum: {side: Sample.from_dict((state.get(stratum) or {}).get(side)) for side in SIDES}
            for stratum in STRATA
        }
        self.looks = int(state.get("looks", 0))
        self.used_reference = bool(state.get("used_reference", False))
        tests = state.get("tests") or {}
        self.tests: dict[str, EProcess] = {}
        for metric in METRICS:
            self.tests[f"{metric}.fail"] = EProcess(len(FAIL_ODDS), tests.get(f"{metric}.fail"))
            self.tests[f"{metric}.peers"] = EProcess(len(FAIL_ODDS), tests.get(f"{metric}.peers"))
            self.tests[f"{metric}.pass"] = EProcess(1, tests.get(f"{metric}.pass"))

    def state(self) -> dict:
        return {
            **{
                stratum: {side: sample.to_dict() for side, sample in sides.items()}
                for stratum, sides in self.strata.items()
            },
            "looks": self.looks,
            "used_reference": self.used_reference,
            "tests": {name: t.to_dict() for name, t in self.tests.items()},
        }

    @property
    def new(self) -> Sample:
        return self._total("new")

    @property
    def base(self) -> Sample:
        return self._total("base")

    @property
    def peers(self) -> Sample:
        return self._total("peers")

    @property
    def probes(self) -> dict[str, int]:
        """Probe requests on each side."""
        return {side: sample.requests for side, sample in self.strata["probe"].items()}

    def _total(self, side: str) -> Sample:
        return self.strata["real"][side].merge(self.strata["probe"][side])

    # --- feeding -------------------------------------------------------------------------

    def look(
        self,
        new: Sample,
        base: Sample,
        *,
        peers: Sample | None = None,
        reference: Sample | None = None,
        probe: bool = False,
    ) -> Verdict:
        """Add one look's requests (of one stratum: real, or the bake's probes) and answer."""
        peers, reference = peers or Sample(), reference or Sample()
        seen = self.strata["probe" if probe else "real"]
        # What the new side is compared with in this look: the old release in rotation in the
        # same seconds, else its requests from before the deploy (real requests: probes have no
        # reference). The choice follows from the deploy's shape (which servers are where),
        # never from the outcomes.
        against = Sample() if probe else reference
        live = base.requests > 0
        old = seen["base"] if seen["base"].requests >= min(self.policy.min_requests, against.requests or 1) else against
        if new.requests:
            if live:
                self._two_sample(new, base, old, "fail")
            elif against.requests >= self.policy.min_requests:
                self.used_reference = True
                self._against_reference(new, against)
            if self.mode == "verdict":
                self._pass_side(new, base, old, seen["new"])
            elif peers.requests:
                self._two_sample(new, peers, old if old.timed else seen["peers"], "peers")
        for side, sample in (("new", new), ("base", base), ("peers", peers)):
            seen[side] = seen[side].merge(sample)
        self.looks += 1
        return self.verdict(reference)

    def _thresholds(self, old: Sample) -> tuple[float, float] | None:
        """The latency and tail thresholds of the next look: the old release's median and p95 from
        its requests seen *before* that look (a threshold never depends on the look it judges, so
        a rough one from a few requests is still a valid test, only a less sharp one)."""
        if old.timed < THRESHOLD_REQUESTS:
            return None
        return old.quantile(0.5), old.quantile(TAIL_QUANTILE)

    def _two_sample(self, new: Sample, other: Sample, old: Sample, side: str) -> None:
        """The "is it worse?" factor of one look: new vs ``other`` in the same seconds."""
        odds = list(FAIL_ODDS)
        self.tests[f"errors.{side}"].update(
            fnch_log_ratios(new.requests, new.errors, other.requests, other.errors, odds, 1.0)
        )
        thresholds = self._thresholds(old)
        if thresholds is None:
            return
        for metric, threshold in zip(("latency", "tail"), thresholds):
            x1, x2 = new.slower_than(threshold), other.slower_than(threshold)
            self.tests[f"{metric}.{side}"].update(fnch_log_ratios(new.timed, x1, other.timed, x2, odds, 1.0))

    def _against_reference(self, new: Sample, reference: Sample) -> None:
        """The "is it worse?" factor of one look against the old release's requests from before
        the deploy: a one-sample test against an upper confidence bound of its share."""
        ucb = _upper_bound(reference.errors, reference.requests)
        self.tests["errors.fail"].update(
            bernoulli_log_ratios(new.requests, new.errors, [min(0.999, ucb * r) for r in FAIL_ODDS], ucb)
        )
        thresholds = self._thresholds(reference)
        if thresholds is None:
            return
        for metric, threshold in zip(("latency", "tail"), thresholds):
            ucb = _upper_bound(reference.slower_than(threshold), reference.timed)
            shares = [min(0.999, ucb * r) for r in FAIL_ODDS]
            self.tests[f"{metric}.fail"].update(
                bernoulli_log_ratios(new.timed, new.slower_than(threshold), shares, ucb)
            )

    def _pass_side(self, new: Sample, base: Sample, old: Sample, past: Sample) -> None:
        """The "is a regression of the detection size ruled out?" factors of one look.

        errors: the regression is a share of twice the old one, or errors_detect_share if that
        is more. Under it both "odds ratio 2 against the old release" and "a share of
        errors_detect_share" hold, so each look may test whichever of the two the looks before it
        say tells more (a predictable choice keeps the e-process valid)."""
        p = self.policy
        d = p.errors_detect_share
        if _relative_tells_more(old, new, base, d):  # exact, against the old release now
            psi = _clip(_odds(past.errors, past.requests, old.share) / _odds(old.errors, old.requests), 0.5, 1.6)
            factor = fnch_log_ratios(new.requests, new.errors, base.requests, base.errors, [psi], 2.0)
        elif not base.requests and old.requests and 2 * _lower_bound(old.errors, old.requests) > d:
            null = min(0.999, 2 * _lower_bound(old.errors, old.requests))  # twice a lower bound of the reference's
            factor = bernoulli_log_ratios(
                new.requests, new.errors, [_shrunk(past, old.share, 0.1 * null, 0.75 * null)], null
            )
        else:
            factor = bernoulli_log_ratios(
                new.requests, new.errors, [_shrunk(past, old.share or d / 4, d / 100, 0.75 * d)], d
            )
        self.tests["errors.pass"].update(factor)
        if old.timed < p.min_requests:
            return
        # latency: above the threshold that best tells the old release from its slowed copy;
        # tail: above the old p95
        times = _Times(old, p)
        for metric, threshold in (("latency", times.telling_threshold()), ("tail", old.quantile(TAIL_QUANTILE))):
            q, q_slowed = times.shares(threshold)
            if q_slowed <= q:
                continue
            seen = Sample(past.timed, past.slower_than(threshold))  # the new side's past share above it
            share = _shrunk(seen, q, 0.05 * q_slowed, 0.95 * q_slowed)
            self.tests[f"{metric}.pass"].update(
                bernoulli_log_ratios(new.timed, new.slower_than(threshold), [share], q_slowed)
            )

    # --- answering -----------------------------------------------------------------------

    def verdict(self, reference: Sample | None = None) -> Verdict:
        reference = reference or Sample()
        old = self.base if self.base.requests else reference
        if self.mode == "watch":
            metrics = tuple(
                m
                for metric in METRICS
                for m in (self._watch(metric, old, "old"), self._watch(metric, self.peers, "peers"))
            )
            verdict = "fail" if any(m.verdict == "fail" for m in metrics) else "pass"
            return Verdict(verdict, metrics, self.new.requests, old.requests, mode="watch")
        metrics = tuple(self._metric(metric, old) for metric in METRICS)
        verdicts = {m.verdict for m in metrics}
        overall = next(v for v in ("fail", "inconclusive", "marginal", "pass") if v in verdicts)
        return Verdict(overall, metrics, self.new.requests, old.requests)

    def _effect(self, metric: str, old: Sample) -> tuple[bool, dict, dict, str, str]:
        """(beyond the tolerance, new's numbers, old's numbers, the effect in words, the fail rule)."""
        p, new = self.policy, self.new
        if metric == "errors":
            beyond = new.requests > 0 and new.share > (1 + p.errors_tolerance) * old.share
            return (
                beyond,
                {"requests": new.requests, "errors_5xx": new.errors, "share": round(new.share, 6)},
                {"requests": old.requests, "errors_5xx": old.errors, "share": round(old.share, 6)},
                f"5xx {new.errors}/{new.requests} ({new.share:.2%}) vs {old.errors}/{old.requests} ({old.share:.2%})",
                f"above {1 + p.errors_tolerance:g}x the old share",
            )
        q = 0.5 if metric == "latency" else TAIL_QUANTILE
        name = "median" if metric == "latency" else "p95"
        new_q, old_q = new.quantile(q), old.quantile(q)
        allowed = max(p.latency_tolerance * old_q, p.latency_floor_ms)
        beyond = new.timed > 0 and old.timed > 0 and new_q - old_q > allowed
        return (
            beyond,
            {"timed": new.timed, f"{name}_ms": new_q, "p99_ms": new.quantile(0.99)},
            {"timed": old.timed, f"{name}_ms": old_q, "p99_ms": old.quantile(0.99)},
            f"{name} {new_q:g} vs {old_q:g} ms ({_relative(new_q, old_q)})",
            f"{name} more than {allowed:g} ms slower",
        )

    def _metric(self, metric: str, old: Sample) -> Metric:
        p = self.policy
        fail = self.tests[f"{metric}.fail"]
        passing = self.tests[f"{metric}.pass"].best
        p_ok = min(1.0, math.exp(-passing))
        beyond, new_numbers, old_numbers, effect, rule = self._effect(metric, old)
        worse = fail.p < p.alpha
        seen = self.new.requests if metric == "errors" else self.new.timed
        old_seen = old.requests if metric == "errors" else old.timed
        enough = seen >= p.min_requests and old_seen >= p.min_requests
        needed = None
        if worse and beyond:
            verdict = "fail"
        elif p_ok < p.beta and enough:
            verdict = "marginal" if beyond else "pass"
        else:
            verdict = "inconclusive"
            goal = math.log(1 / p.beta)
            needed = max(p.min_requests, math.ceil(seen * goal / passing)) if passing > 0.3 and seen else None
            if p_ok < p.beta:
                needed = p.min_requests
        target = {
            "errors": f"a 5xx share of {max(2 * old.share, p.errors_detect_share):.1%}",
            "latency": f"a slowdown of {p.latency_detect:.0%} (at least {p.latency_detect_ms:g} ms)",
            "tail": f"a p95 slowdown of {p.latency_detect:.0%} (at least {p.latency_detect_ms:g} ms)",
        }[metric]
        reason = {
            "fail": f"{_fault(metric, new_numbers, old_numbers)} (p={fail.p:.2g} < {p.alpha:.2g})",
            "inconclusive": f"{metric}: {seen} requests seen, "
            + (f"about {needed} needed" if needed else "more needed")
            + f" to rule out {target}"
            + (f" (and {p.min_requests} of the old release)" if old_seen < p.min_requests else ""),
            "marginal": f"{effect}, not significant (p={fail.p:.2g})",
        }.get(verdict, "")
        return Metric(
            metric,
            verdict,
            new=new_numbers,
            baseline=old_numbers,
            p_value=fail.p,
            alpha=p.alpha,
            p_ok=p_ok,
            beta=p.beta,
            effect=effect,
            threshold=f"fail: p < {p.alpha:.2g} and {rule}; pass: {target} ruled out (p < {p.beta:.2g})",
            needed=needed,
            reason=reason,
            leaning=fail.log_e > 0 and beyond,
        )

    def _watch(self, metric: str, other: Sample, against: str) -> Metric:
        p = self.policy
        test = self.tests[f"{metric}.{'fail' if against == 'old' else 'peers'}"]
        beyond, new_numbers, other_numbers, effect, rule = self._effect(metric, other)
        verdict = "fail" if test.p < p.watch_alpha and beyond else "pass"
        whose = "the old release's" if against == "old" else "its peers' on the new release"
        return Metric(
            metric,
            verdict,
            new=new_numbers,
            baseline=other_numbers,
            p_value=test.p,
            alpha=p.watch_alpha,
            p_ok=1.0,
            beta=p.beta,
            effect=effect,
            threshold=f"fail: p < {p.watch_alpha:.2g} and {rule} (against {whose})",
            reason=(
                f"{_fault(metric, new_numbers, other_numbers, whose)} (p={test.p:.2g} < {p.watch_alpha:.2g})"
                if verdict == "fail"
                else ""
            ),
            against=against,
            leaning=test.log_e > 0 and beyond,
        )


class _Times:
    """The old release's response times, sorted, for the pass side's shares above a threshold."""

    def __init__(self, old: Sample, policy: Policy):
        self.policy, self.n = policy, old.timed
        self.values = sorted(old.latency)
        self.above: list[int] = [0] * (len(self.values) + 1)  # above[i]: requests at values[i:]
        for i in range(len(self.values) - 1, -1, -1):
            self.above[i] = self.above[i + 1] + old.latency[self.values[i]]
        self.old = old

    def share_above(self, ms: float) -> float:
        return self.above[bisect.bisect_right(self.values, ms)] / self.n

    def shares(self, threshold: float) -> tuple[float, float]:
        """(the old release's share above ``threshold``, the share its copy slowed by the detection
        size would have: a lower bound, ESTIMATE_Z standard errors down)."""
        p = self.policy
        # slowed(ms) = max(ms * (1 + detect), ms + detect_ms) is above t iff ms is above the lesser inverse
        slowed = self.share_above(min(threshold / (1 + p.latency_detect), threshold - p.latency_detect_ms))
        bound = slowed - ESTIMATE_Z * math.sqrt(max(slowed * (1 - slowed), 1 / self.n) / self.n)
        return self.share_above(threshold), bound

    def telling_threshold(self) -> float:
        """The old release's response time (from its 5th to its 95th percentile) above which its
        share and its slowed copy's differ most, by the information one request carries."""
        lo, hi = self.old.quantile(0.05), self.old.quantile(0.95)
        best, best_gain = self.old.quantile(0.5), -1.0
        edge = 0.5 / self.n
        for threshold in self.values:
            if not lo <= threshold <= hi:
                continue
            q, slowed = self.shares(threshold)
            if slowed <= q:
                continue
            q, slowed = min(max(q, edge), 1 - edge), min(max(slowed, edge), 1 - edge)
            gain = q * math.log(q / slowed) + (1 - q) * math.log((1 - q) / (1 - slowed))
            if gain > best_gain:
                best, best_gain = float(threshold), gain
        return best


def _fault(metric: str, new: dict, old: dict, whose: str = "the old release's") -> str:
    if metric == "errors":
        return (
            f"5xx share {new['share']:.2%} is above {whose} {old['share']:.2%} "
            f"({new['errors_5xx']} of {new['requests']} responses vs {old['errors_5xx']} of {old['requests']})"
        )
    if metric == "latency":
        return f"response time median {new['median_ms']:g} ms vs {whose} {old['median_ms']:g} ms"
    return f"p95 response time {new['p95_ms']:g} ms vs {whose} {old['p95_ms']:g} ms"


def _relative_tells_more(old: Sample, new: Sample, base: Sample, d: float) -> bool:
    """Whether the odds-ratio-2 test against the old release is expected to gain more evidence
    per request than the errors_detect_share one, for a release as good as the old one: from the
    old release's share so far and this look's split of the traffic (which the routing sets,
    not the outcomes)."""
    p = old.share
    if p <= 0 or not new.requests or not base.requests:
        return False
    r = base.requests / new.requests
    good, null = 1 / (1 + r), 2 / (2 + r)  # the share of errors on the new side, as good / doubled
    relative = p * (1 + r) * _kl(good, null)
    absolute = _kl(p, d) if p < d else 0.0
    return relative > absolute


def _kl(p: float, q: float) -> float:
    """Kullback-Leibler divergence of Bernoulli(p) from Bernoulli(q), in nats."""
    p, q = _clip(p, 1e-12, 1 - 1e-12), _clip(q, 1e-12, 1 - 1e-12)
    return p * math.log(p / q) + (1 - p) * math.log((1 - p) / (1 - q))


def _shrunk(seen: Sample, prior: float, lo: float, hi: float) -> float:
    """``seen``'s share of events (``errors`` of ``requests``), shrunk towards ``prior`` by
    PRIOR_REQUESTS pseudo-requests, kept within [lo, hi]."""
    return _clip((seen.errors + prior * PRIOR_REQUESTS) / (seen.requests + PRIOR_REQUESTS), lo, hi)


def _odds(x: int, n: int, prior: float = 0.01) -> float:
    """The odds of an event, from x of n with half a pseudo-event each way (never 0 or infinite)."""
    return (x + 0.5 + prior) / (n - x + 0.5 + prior)


def _clip(v: float, lo: float, hi: float) -> float:
    return min(max(v, lo), hi)


def _upper_bound(x: int, n: int) -> float:
    """An upper confidence bound of a share (Wilson's, ESTIMATE_Z standard errors up)."""
    return _wilson(x, n)[1]


def _lower_bound(x: int, n: int) -> float:
    """A lower confidence bound of a share (Wilson's, ESTIMATE_Z standard errors down)."""
    return _wilson(x, n)[0]


def _wilson(x: int, n: int) -> tuple[float, float]:
    """Wilson's score interval of the share x/n, ESTIMATE_Z standard errors either side."""
    if n <= 0:
        return 0.0, 1.0
    z, p = ESTIMATE_Z, x / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def _relative(new: float, old: float) -> str:
    if old > 0:
        return f"{(new - old) / old:+.0%}"
    return f"{new - old:+g} ms"


def judge(new: Sample, baseline: Sample, policy: Policy) -> Verdict:
    """The verdict of one look at two whole samples (a judgement of a single look)."""
    return Judgement(policy).look(new, baseline)


# --- distributions (the unit tests check them against SciPy) ---------------------------------


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

"""One and two configurations over seeds: the mean and its interval, the paired difference, its test and verdict,
exact tests, power and equivalence, and the verdict words with their rules.

:mod:`dive.stats` (the module the notebooks call) re-exports every public name here and adds the family layer:
Holm's correction, every configuration against one reference, the tables.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import stats as _st

__all__ = [
    "ALPHA",
    "A_BETTER",
    "B_BETTER",
    "CANNOT_TELL",
    "CONFIDENCE",
    "DIFFERENT",
    "EQUIVALENT",
    "SINGLE_RUN",
    "VERDICTS",
    "WITHIN_NOISE",
    "Comparison",
    "Equivalence",
    "Summary",
    "compare",
    "equivalence",
    "min_detectable",
    "paired_p",
    "permutation_p",
    "POWER",
    "summarize",
]

CONFIDENCE = 0.95
ALPHA = 0.05  # = 1 - CONFIDENCE
POWER = 0.8
A_BETTER = "A better"
B_BETTER = "B better"
WITHIN_NOISE = "within noise"
EQUIVALENT = "equivalent within ±m"
DIFFERENT = "different"
CANNOT_TELL = "cannot tell"
SINGLE_RUN = "single run: no interval"
METHODS = ("t", "bootstrap")

#: The verdict words, defined once with their exact rules (alpha = 0.05 unless a caller says otherwise).
#: Directional verdicts come from :func:`compare` (a family of them is Holm-corrected together, :func:`holm`);
#: equivalence verdicts from :func:`equivalence` (TOST against a margin m, :data:`dive.reference.EQUIVALENCE_MARGINS`).
VERDICTS: dict[str, str] = {
    A_BETTER: (
        "the two-sided test of 'A - B = 0' rejects at alpha (after Holm over the family, where there is one) and "
        "A lies on the better side; the test is the paired t-test, or the exact sign-flip permutation test when "
        "the paired differences have no spread (Welch t / an exact permutation test when nothing is paired)"
    ),
    B_BETTER: "as 'A better', with B on the better side",
    WITHIN_NOISE: "the directional test does not reject at alpha: no direction shown (not a proof of no difference)",
    EQUIVALENT: (
        "equivalence (TOST): both one-sided tests against -m and +m reject at alpha, i.e. the "
        "(1 - 2 alpha) interval of the difference lies inside (-m, m)"
    ),
    DIFFERENT: "the (1 - 2 alpha) interval of the difference lies wholly beyond +m or -m: a difference larger than m",
    CANNOT_TELL: (
        "the data cannot support a verdict: the interval straddles the margin, or its half-width exceeds the "
        "difference the report claims, or too few seeds for the exact test to reject"
    ),
    SINGLE_RUN: "one seed (one pair): no interval, no test",
}


# ----------------------------------------------------------------------------------------------
# one configuration
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Summary:
    """Mean over seeds with its spread and confidence interval (``None`` where n = 1)."""

    n: int
    mean: float
    std: float | None
    ci_low: float | None
    ci_high: float | None
    method: str  # "t", "bootstrap" or "none" (n = 1)
    confidence: float = CONFIDENCE

    @property
    def half_width(self) -> float | None:
        if self.ci_low is None or self.ci_high is None:
            return None
        return (self.ci_high - self.ci_low) / 2

    def as_dict(self) -> dict:
        return asdict(self)

    def format(self, scale: float = 1.0, digits: int = 4) -> str:
        """``"90.12 ± 1.05 (n=3)"`` (t: symmetric), ``"90.12 [88.90, 91.20] (n=3)"`` (bootstrap) or
        ``"90.12 (n=1, single run: no interval)"``."""
        m = f"{self.mean * scale:.{digits}f}"
        if self.ci_low is None:
            return f"{m} (n={self.n}, {SINGLE_RUN})"
        if self.method == "t":
            return f"{m} ± {self.half_width * scale:.{digits}f} (n={self.n})"
        return f"{m} [{self.ci_low * scale:.{digits}f}, {self.ci_high * scale:.{digits}f}] (n={self.n})"


def _array(values, what: str) -> np.ndarray:
    if isinstance(values, Mapping):
        values = list(values.values())
    try:
        a = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{what}: values must be numbers, got {values!r}") from err
    if a.ndim != 1:
        raise ValueError(f"{what}: need a flat list of values (one per seed), got shape {a.shape}")
    if a.size == 0:
        raise ValueError(f"{what}: no values")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{what}: values must be finite numbers, got {a.tolist()}")
    return a


def _check(confidence: float, method: str) -> None:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence!r}")
    if method not in METHODS:
        raise ValueError(f"unknown interval method {method!r}; valid: {', '.join(METHODS)}")


def _t_interval(a: np.ndarray, confidence: float) -> tuple[float, float]:
    mean, sem = float(a.mean()), float(a.std(ddof=1)) / math.sqrt(a.size)
    h = float(_st.t.ppf((1 + confidence) / 2, a.size - 1)) * sem
    return mean - h, mean + h


def _bootstrap_interval(a: np.ndarray, confidence: float, n_resamples: int, seed: int) -> tuple[float, float]:
    if np.all(a == a[0]):  # every resample has the same mean: the interval is that point
        return float(a[0]), float(a[0])
    res = _st.bootstrap(
        (a,),
        np.mean,
        confidence_level=confidence,
        n_resamples=n_resamples,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def summarize(
    values, *, confidence: float = CONFIDENCE, method: str = "t", n_resamples: int = 9999, seed: int = 0
) -> Summary:
    """Mean, standard deviation (ddof 1) and ``confidence`` interval of the mean of ``values`` (one per seed).

    ``method="t"``: mean ± t_{(1+c)/2, n-1} · s / √n (``scipy.stats.t``). ``method="bootstrap"``: percentile
    bootstrap of the mean (``scipy.stats.bootstrap``, ``n_resamples``, reproducible through ``seed``); with a
    handful of seeds it is narrower than the t interval, so t is the default. n = 1: no std, no interval.
    """
    _check(confidence, method)
    a = _array(values, "summarize")
    if a.size == 1:
        return Summary(1, float(a[0]), None, None, None, "none", confidence)
    lo, hi = _t_interval(a, confidence) if method == "t" else _bootstrap_interval(a, confidence, n_resamples, seed)
    return Summary(int(a.size), float(a.mean()), float(a.std(ddof=1)), lo, hi, method, confidence)


# ----------------------------------------------------------------------------------------------
# two configurations
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Comparison:
    """A - B over seeds. ``diff`` is the mean paired difference (unpaired: difference of means)."""

    a: str
    b: str
    n: int
    seeds: tuple | None
    mean_a: float
    mean_b: float
    diff: float
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    verdict: str
    method: str  # "paired t", "paired bootstrap interval, paired t p", "exact sign-flip (paired, no spread)",
    # "Welch t (unpaired)", "exact permutation (unpaired, no spread)" or "none"
    higher_is_better: bool = True
    confidence: float = CONFIDENCE
    sd: float | None = None  # of the paired differences (None: unpaired, one pair, or no spread)

    @property
    def better(self) -> str | None:
        """The name of the better configuration, or ``None`` (within noise / single run)."""
        return {A_BETTER: self.a, B_BETTER: self.b}.get(self.verdict)

    @property
    def statement(self) -> str:
        """The verdict with names: ``"balanced better"``, ``"within noise"``, ``"single run: no interval"``."""
        return f"{self.better} better" if self.better else self.verdict

    def as_dict(self) -> dict:
        d = asdict(self)
        d["seeds"] = list(self.seeds) if self.seeds is not None else None
        return d

    def format_diff(self, scale: float = 1.0, digits: int = 4) -> str:
        d = f"{self.diff * scale:+.{digits}f}"
        if self.ci_low is None:
            return d
        return f"{d} [{self.ci_low * scale:+.{digits}f}, {self.ci_high * scale:+.{digits}f}]"


def _verdict(
    diff: float, p: float | None, lo: float | None, hi: float | None, higher_is_better: bool, alpha: float
) -> str:
    """A direction only when the test rejects (``p < alpha``) *and* the interval leaves out 0, so that the
    verdict never contradicts the row's own p or its own interval (a bootstrap interval can be narrower than
    the t-test says)."""
    if p is None or lo is None or hi is None:
        return SINGLE_RUN
    if p >= alpha or (lo <= 0 <= hi) or diff == 0:
        return WITHIN_NOISE
    return _direction(diff, higher_is_better)


def paired_p(d) -> np.ndarray | float:
    """Two-sided p-values of "mean difference = 0" for paired differences ``d`` (shape ``(..., n)``, n >= 2,
    vectorised over the leading axes): the paired t-test (``scipy.stats.ttest_1samp``) where the differences
    have spread, and the exact sign-flip permutation test where they have none (t is undefined there): with n
    identical nonzero differences only the two all-same-sign flips are as extreme, p = 2 / 2^n (0.5 at n = 2,
    0.0625 at n = 5, the same as :func:`permutation_p`), and p = 1 when they are all 0. So identical
    differences never show a direction below n = 6 seeds; the old rule "no spread: p = 0" called a
    direction from two equal values, which on small discrete validation sets happens often."""
    d = np.asarray(d, dtype=float)
    if d.shape[-1] < 2:
        raise ValueError(f"paired_p: need at least 2 differences, got {d.shape[-1]}")
    n = d.shape[-1]
    scale = np.maximum(1.0, np.abs(d).max(axis=-1))
    flat = np.ptp(d, axis=-1) <= 1e-12 * scale
    mean = d.mean(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # rows without spread: replaced below
        p_t = _st.ttest_1samp(d, 0.0, axis=-1).pvalue
    p_exact = np.where(np.abs(mean) <= 1e-12 * scale, 1.0, min(1.0, 2.0 / 2**n))
    p = np.where(flat, p_exact, p_t)
    return float(p) if p.ndim == 0 else p


def _direction(diff: float, higher_is_better: bool) -> str:
    return A_BETTER if (diff > 0) == higher_is_better else B_BETTER


def _seeded(values, what: str) -> dict:
    """``{seed: value}`` from a mapping, or ``{position: value}`` from a list."""
    if isinstance(values, pd.Series):
        values = values.to_dict()
    if isinstance(values, Mapping):
        keys = list(values)
        return dict(zip(keys, _array([values[k] for k in keys], what).tolist(), strict=True))
    return dict(enumerate(_array(values, what).tolist()))


def _pair(a, b, what: str) -> tuple[np.ndarray, np.ndarray, tuple]:
    """Two paired samples: lists of equal length (by position) or mappings with the same pair keys."""
    if isinstance(a, (Mapping, pd.Series)) != isinstance(b, (Mapping, pd.Series)):
        raise ValueError(f"{what}: give both as lists (paired by position) or both as {{pair key: value}} mappings")
    da, db = _seeded(a, f"{what}: A"), _seeded(b, f"{what}: B")
    if set(da) != set(db):
        if isinstance(a, (Mapping, pd.Series)):
            raise ValueError(
                f"{what}: paired samples need the same pair keys; only in A: {sorted(set(da) - set(db), key=str)}, "
                f"only in B: {sorted(set(db) - set(da), key=str)}"
            )
        raise ValueError(f"{what}: A has {len(da)} values and B {len(db)}; paired lists need one value per pair each")
    keys = tuple(da)
    return np.array([da[k] for k in keys]), np.array([db[k] for k in keys]), keys


def compare(
    a,
    b,
    *,
    names: tuple[str, str] = ("A", "B"),
    higher_is_better: bool = True,
    confidence: float = CONFIDENCE,
    method: str = "t",
    n_resamples: int = 9999,
    seed: int = 0,
) -> Comparison:
    """Configuration A against B over the same seeds.

    ``a`` and ``b`` are lists of equal length (paired by position) or ``{seed: value}`` mappings (paired on
    the seeds both have; when they share none and both have n >= 2, Welch's unpaired t-test, said in
    ``method``). The interval is that of the mean paired difference (t, or a percentile bootstrap with
    ``method="bootstrap"``); the p-value is the paired t-test's (:func:`paired_p`: the exact sign-flip
    permutation test when the differences have no spread, so identical differences never give a direction
    below 6 seeds). Verdict (rules in :data:`VERDICTS`): ``"A better"``/``"B better"`` when p < alpha = 1 -
    ``confidence`` and the interval leaves out 0 (higher is better unless ``higher_is_better=False``, e.g.
    for a loss), else ``"within noise"``; ``"single run: no interval"`` for one pair.
    """
    _check(confidence, method)
    alpha = 1 - confidence
    na, nb = (str(x) for x in names)
    if isinstance(a, (Mapping, pd.Series)) != isinstance(b, (Mapping, pd.Series)):
        raise ValueError("compare: give both as lists (paired by position) or both as {seed: value} mappings")
    da, db = _seeded(a, f"compare: {na}"), _seeded(b, f"compare: {nb}")
    if not isinstance(a, (Mapping, pd.Series)) and len(da) != len(db):
        raise ValueError(
            f"compare: {na} has {len(da)} values and {nb} {len(db)}; paired lists need one value per "
            "seed each (give {seed: value} mappings to pair on common seeds)"
        )
    common = [s for s in da if s in db]
    mean_a, mean_b = float(np.mean(list(da.values()))), float(np.mean(list(db.values())))
    if not common:
        if len(da) < 2 or len(db) < 2:
            return Comparison(
                na,
                nb,
                0,
                (),
                mean_a,
                mean_b,
                mean_a - mean_b,
                None,
                None,
                None,
                SINGLE_RUN,
                "none",
                higher_is_better,
                confidence,
            )
        x, y = np.array(list(da.values())), np.array(list(db.values()))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # both without spread: replaced below
            res = _st.ttest_ind(x, y, equal_var=False)
        ci = res.confidence_interval(confidence)
        diff = mean_a - mean_b
        lo, hi = float(ci.low), float(ci.high)
        p = float(res.pvalue)
        if _no_spread(x) and _no_spread(y):  # t undefined: the exact permutation test of the labels
            lo = hi = diff
            p = permutation_p(x, y, paired=False)
        return Comparison(
            na,
            nb,
            min(len(x), len(y)),
            (),
            mean_a,
            mean_b,
            diff,
            lo,
            hi,
            p,
            _verdict(diff, p, lo, hi, higher_is_better, alpha),
            "Welch t (unpaired)" if lo != hi else "exact permutation (unpaired, no spread)",
            higher_is_better,
            confidence,
        )
    x, y = np.array([da[s] for s in common]), np.array([db[s] for s in common])
    d = x - y
    diff, n = float(d.mean()), int(d.size)
    seeds = tuple(common)
    if n == 1:
        return Comparison(
            na,
            nb,
            1,
            seeds,
            float(x.mean()),
            float(y.mean()),
            diff,
            None,
            None,
            None,
            SINGLE_RUN,
            "none",
            higher_is_better,
            confidence,
        )
    p = paired_p(d)  # paired t; the exact sign-flip test where the differences have no spread
    if _no_spread(d):  # the interval is the point; the exact test alone decides
        lo = hi = diff
        how = "exact sign-flip (paired, no spread)"
    else:
        lo, hi = _t_interval(d, confidence) if method == "t" else _bootstrap_interval(d, confidence, n_resamples, seed)
        how = "paired t" if method == "t" else "paired bootstrap interval, paired t p"
    return Comparison(
        na,
        nb,
        n,
        seeds,
        float(x.mean()),
        float(y.mean()),
        diff,
        lo,
        hi,
        p,
        _verdict(diff, p, lo, hi, higher_is_better, alpha),
        how,
        higher_is_better,
        confidence,
        None if lo == hi else float(d.std(ddof=1)),
    )


# ----------------------------------------------------------------------------------------------
# exact tests, power, equivalence
# ----------------------------------------------------------------------------------------------
def permutation_p(a, b, *, paired: bool = True, alternative: str = "two-sided", shift: float = 0.0) -> float:
    """Exact permutation p-value of mean(A) - mean(B) - ``shift`` (``scipy.stats.permutation_test``).

    ``paired=True``: the sign-flip test on the paired differences (each pair's A and B swapped, all 2^n
    ways enumerated for n <= 13); ``paired=False``: every relabelling of the pooled values. Valid at any n
    without a normality assumption, which is why it replaces the t-test where the t statistic is undefined
    (the differences have no spread). The smallest two-sided p it can give with n pairs is 2 / 2^n: 0.5 at
    n = 2, 0.25 at n = 3, 0.0625 at n = 5 -- so identical differences never show a direction below n = 6.
    """
    x, y = np.asarray(a, dtype=float) - shift, np.asarray(b, dtype=float)
    if paired and x.shape != y.shape:
        raise ValueError(f"permutation_p: paired samples need equal lengths, got {x.size} and {y.size}")

    def mean_diff(u, v, axis):
        return np.mean(u, axis=axis) - np.mean(v, axis=axis)

    res = _st.permutation_test(
        (x, y),
        mean_diff,
        permutation_type="samples" if paired else "independent",
        alternative=alternative,
        vectorized=True,
        n_resamples=9999,
        rng=np.random.default_rng(0),
    )
    return float(min(1.0, res.pvalue))


def min_detectable(sd: float | None, n: int, *, alpha: float = ALPHA, power: float = POWER) -> float | None:
    """The smallest true difference a two-sided paired t-test with ``n`` pairs detects with probability
    ``power`` at level ``alpha``, from the observed spread ``sd`` of the differences:
    (t_{1-alpha/2, n-1} + t_{power, n-1}) * sd / sqrt(n). ``None`` with fewer than two pairs."""
    if sd is None or n < 2:
        return None
    df = n - 1
    return float((_st.t.ppf(1 - alpha / 2, df) + _st.t.ppf(power, df)) * sd / math.sqrt(n))


@dataclass(frozen=True)
class Equivalence:
    """Two one-sided tests (TOST) of ``|A - B| < margin``.

    ``diff`` is the mean paired difference (unpaired: difference of means); ``lo``/``hi`` its (1 - 2 alpha)
    interval (90 % at alpha 0.05); ``p`` the larger of the two one-sided p-values (``p_lower``: H0 diff <=
    -margin; ``p_upper``: H0 diff >= +margin); ``verdict`` one of :data:`EQUIVALENT`, :data:`DIFFERENT`,
    :data:`CANNOT_TELL` (rules in :data:`VERDICTS`); ``mde`` the smallest difference this n detects at 80 %
    power from the observed spread (:func:`min_detectable`); ``p_beyond`` the smaller one-sided p of
    "the difference lies beyond the margin" (``"different"`` when below alpha).
    """

    verdict: str
    diff: float
    lo: float | None
    hi: float | None
    n: int
    p: float | None
    margin: float
    p_lower: float | None = None
    p_upper: float | None = None
    sd: float | None = None
    mde: float | None = None
    p_beyond: float | None = None
    alpha: float = ALPHA
    paired: bool = True
    method: str = "paired t"

    @property
    def half_width(self) -> float | None:
        return None if self.lo is None or self.hi is None else (self.hi - self.lo) / 2

    @property
    def statement(self) -> str:
        """The verdict with the margin filled in: ``"equivalent within ±0.5"`` (in the margin's units)."""
        return f"equivalent within ±{self.margin:g}" if self.verdict == EQUIVALENT else self.verdict

    def as_dict(self) -> dict:
        return asdict(self)


def _no_spread(v: np.ndarray) -> bool:
    """All values equal up to float rounding (0.6 - 0.5 and 0.5 - 0.4 are the same difference)."""
    return bool(np.ptp(v) <= 1e-12 * max(1.0, float(np.abs(v).max())))


def _equivalence_verdict(p: float | None, p_beyond: float | None, alpha: float) -> str:
    if p is None or p_beyond is None:
        return CANNOT_TELL
    if p < alpha:
        return EQUIVALENT
    if p_beyond < alpha:
        return DIFFERENT
    return CANNOT_TELL


def equivalence(a, b, margin: float, *, paired: bool = True, alpha: float = ALPHA) -> Equivalence:
    """Is A - B within ``±margin``? Two one-sided tests (TOST, Schuirmann 1987) at level ``alpha``.

    ``a``, ``b``: lists of equal length (paired by position) or ``{pair key: value}`` mappings (paired on
    their keys, which must be the same), one value per seed. ``paired=False`` compares two independent
    samples (Welch). With spread, each one-sided test is a t-test (paired, or Welch); when the differences
    (unpaired: both samples) have no spread, the exact permutation test (:func:`permutation_p`) of the shifted
    samples. Verdict ``"equivalent within ±m"`` when both one-sided tests reject (the 1 - 2 alpha interval lies
    inside the margin), ``"different"`` when that interval lies wholly beyond the margin, else ``"cannot
    tell"`` (and with one pair). ``margin`` in the values' units, e.g.
    :data:`dive.reference.EQUIVALENCE_MARGINS`.
    """
    if not (isinstance(margin, (int, float)) and math.isfinite(margin) and margin > 0):
        raise ValueError(f"equivalence: margin must be a positive number, got {margin!r}")
    if not 0 < alpha < 0.5:
        raise ValueError(f"equivalence: alpha must lie in (0, 0.5), got {alpha!r}")
    x, y, _keys = (
        _pair(a, b, "equivalence") if paired else (_array(a, "equivalence: A"), _array(b, "equivalence: B"), None)
    )
    if paired:
        d = x - y
        n, diff = int(d.size), float(d.mean())
        if n < 2:
            return Equivalence(CANNOT_TELL, diff, None, None, n, None, float(margin), alpha=alpha, method="none")
        sd = float(d.std(ddof=1))
        se, df = sd / math.sqrt(n), n - 1
        method = "paired t (TOST)"
    else:
        n = int(min(x.size, y.size))
        diff = float(x.mean() - y.mean())
        if n < 2:
            return Equivalence(
                CANNOT_TELL, diff, None, None, n, None, float(margin), alpha=alpha, paired=False, method="none"
            )
        va, vb = float(x.var(ddof=1)) / x.size, float(y.var(ddof=1)) / y.size
        se = math.sqrt(va + vb)
        df = (va + vb) ** 2 / (va**2 / (x.size - 1) + vb**2 / (y.size - 1)) if se > 0 else float(n - 1)
        sd = None
        method = "Welch t (TOST, unpaired)"
    no_spread = _no_spread(x - y) if paired else (_no_spread(x) and _no_spread(y))
    if not no_spread:
        p_lower = float(_st.t.sf((diff + margin) / se, df))
        p_upper = float(_st.t.cdf((diff - margin) / se, df))
        p_beyond = min(float(_st.t.sf((diff - margin) / se, df)), float(_st.t.cdf((diff + margin) / se, df)))
        h = float(_st.t.ppf(1 - alpha, df)) * se
        lo, hi = diff - h, diff + h
    else:  # no spread: t is undefined; exact permutation tests of the shifted samples
        sd = 0.0 if paired else None

        def perm(alternative, shift):
            return permutation_p(x, y, paired=paired, alternative=alternative, shift=shift)

        p_lower, p_upper = perm("greater", -margin), perm("less", margin)
        p_beyond = min(perm("greater", margin), perm("less", -margin))
        lo = hi = diff
        method = ("paired" if paired else "unpaired") + " exact permutation (TOST, no spread)"
    p = max(p_lower, p_upper)
    return Equivalence(
        _equivalence_verdict(p, p_beyond, alpha),
        diff,
        lo,
        hi,
        n,
        p,
        float(margin),
        p_lower,
        p_upper,
        sd,
        min_detectable(sd, n, alpha=alpha) if paired and not no_spread else None,
        p_beyond,
        alpha,
        paired,
        method,
    )

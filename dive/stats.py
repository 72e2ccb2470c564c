"""Seeds and honest statistics: mean, spread and 95 % intervals over seeds, paired differences, verdicts.

The original report compares single runs whose differences are often a fraction of a point while
saying that identical settings "could differ by up to 2 points". Here every configuration is run
over several seeds and compared as follows (scipy does the arithmetic):

* :func:`summarize` -- mean, sample standard deviation (ddof 1) and a 95 % confidence interval of
  the mean: Student t over the seeds (``scipy.stats.t``, the default) or a percentile bootstrap
  (``scipy.stats.bootstrap``). One seed gives the mean and **no** interval (never a fake one).
* :func:`compare` -- the difference A - B of two configurations **paired by seed** (or by a recorded
  pair key), its 95 % interval and p-value (paired t-test, :func:`paired_p`; the exact sign-flip
  permutation test when the differences have no spread, so identical differences never show a
  direction below 6 seeds) and a verdict: ``"A better"``, ``"B better"`` (p < 0.05 and an interval
  without 0), ``"within noise"`` or ``"single run: no interval"`` (n = 1). When the two share no
  seed at all the comparison is unpaired (Welch's t-test) and says so in ``method``.
* :func:`equivalence` -- two one-sided tests (TOST) of ``|A - B| < margin`` (margins:
  :data:`dive.reference.EQUIVALENCE_MARGINS`): ``"equivalent within ±m"``, ``"different"`` or
  ``"cannot tell"``. :func:`min_detectable`: the smallest difference n seeds detect at 80 % power.
  The verdict words and their exact rules: :data:`VERDICTS`.
* :func:`compare_to_reference` -- several configurations each against one reference, with the
  Holm step-down correction of the paired t-tests' p-values (:func:`holm`) and the adjusted verdict.
* :func:`holm_levels` and :func:`dual_interval` -- the interval a family-corrected verdict rests on: each
  comparison's interval at its own Holm level, which leaves out 0 exactly when Holm rejects it (what the
  report's forest figure draws).
* :func:`summary_table`, :func:`comparison_table` -- the tables a notebook shows; the latter sets
  mean ± CI and n beside the original report's single value (from :mod:`dive.reference`).

Data come as plain lists, ``{seed: value}`` mappings, ``{config: [values] or {seed: value}}`` or a
long pandas frame with columns ``config``, ``seed`` and the metric, so a notebook calls each in one
line::

    stats.comparison_table(per_seed, "val_acc", reference="alexnet_unbalanced_fixed",
                           original={"alexnet_balanced_fixed": 0.8963, "alexnet_unbalanced_fixed": 0.8416})
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
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
    "compare_to_reference",
    "comparison_table",
    "dual_interval",
    "holm",
    "holm_levels",
    "per_config",
    "summarize",
    "summary_table",
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
# several configurations against one reference
# ----------------------------------------------------------------------------------------------
def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down adjusted p-values, in the input order (``None``/NaN stay ``None`` and do not count).

    Sorted ascending, p_(i) becomes max_{j <= i} min(1, (m - j + 1) p_(j)); reject where adjusted p < alpha.
    """
    idx = [i for i, p in enumerate(p_values) if p is not None and math.isfinite(p)]
    for i in idx:
        if not 0 <= p_values[i] <= 1:
            raise ValueError(f"holm: p-values must lie in [0, 1], got {p_values[i]!r}")
    order = sorted(idx, key=lambda i: p_values[i])
    m, running = len(order), 0.0
    out: list[float | None] = [None] * len(p_values)
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        out[i] = running
    return out


def holm_levels(p_values: Sequence[float | None], *, alpha: float = ALPHA) -> list[float | None]:
    """Each comparison's own level in Holm's step-down procedure, chosen so that the interval of the comparison
    at confidence ``1 - level`` (:func:`dual_interval`) leaves out 0 exactly when Holm rejects it at ``alpha``.

    With the m p-values sorted ascending (as :func:`holm` sorts them), the comparison of rank r is tested at
    Holm's level ``alpha / (m - r + 1)``, provided every smaller p was rejected. Its level here is

        level = min(alpha / (m - r + 1), alpha * p / p_holm)

    where ``p_holm`` is its Holm-adjusted p (:func:`holm`). Where the step-down reached its rank, p_holm = (m - r
    + 1) p and both terms are Holm's level at that rank; where it stopped earlier (an earlier comparison was not
    rejected), p_holm is larger and the second term lowers the level so that this comparison's interval cannot
    leave out 0 either. Hence p < level exactly when p_holm < alpha (if p_holm < alpha, level = alpha p / p_holm
    > p; otherwise level <= alpha p / p_holm <= p), and for a test whose interval is dual to its p-value (the
    t-tests, :func:`dual_interval`) "interval at 1 - level without 0" is "Holm rejects". The intervals so drawn
    are not simultaneous confidence intervals in the strict sense (those compatible with Holm's procedure give
    no upper bound for a rejected comparison; Strassburger & Bretz 2008); they are each comparison's interval
    at the level its verdict was decided at. ``None`` p-values stay ``None`` and do not count in m.
    """
    if not 0 < alpha < 1:
        raise ValueError(f"holm_levels: alpha must lie in (0, 1), got {alpha!r}")
    adjusted = holm(p_values)
    idx = [i for i, p in enumerate(p_values) if p is not None and math.isfinite(p)]
    order = sorted(idx, key=lambda i: p_values[i])  # the order holm() uses
    m = len(order)
    out: list[float | None] = [None] * len(p_values)
    for rank, i in enumerate(order):
        level = alpha / (m - rank)
        p, ph = float(p_values[i]), float(adjusted[i])
        if p > 0 and ph > 0:
            level = min(level, alpha * p / ph)
        out[i] = level
    return out


def dual_interval(a, b, *, level: float) -> tuple[float, float] | None:
    """The interval of A - B at confidence ``1 - level`` that is dual to :func:`compare`'s test: it leaves out 0
    exactly when ``compare(a, b).p_value < level``. ``a``, ``b`` as for :func:`compare` (paired by seed or pair
    key; unpaired when they share none).

    Where the test is a t-test (paired t, or Welch t when nothing is paired) this is the t interval at
    confidence ``1 - level``. Where the differences have no spread, :func:`compare` uses an exact permutation
    test, whose p-value for "A - B = delta" is 1 at delta = the observed difference and the test's smallest
    possible p everywhere else; inverting it, the interval is the observed difference alone when that smallest p
    is below ``level`` and the whole line ``(-inf, inf)`` when it is not (too few seeds for the exact test to
    reject at this level: 2 / 2^n with n pairs). ``None`` with one pair (no test).

    Used with :func:`holm_levels` (the interval each family-corrected verdict rests on), and with ``level =
    2 alpha`` for :func:`equivalence`: TOST at alpha says "equivalent" exactly when this interval lies inside
    (-margin, margin), and "different" exactly when it lies wholly beyond one end.
    """
    if not (isinstance(level, (int, float)) and 0 < level < 1):
        raise ValueError(f"dual_interval: level must lie in (0, 1), got {level!r}")
    c = compare(a, b, confidence=1 - level)
    if c.p_value is None:
        return None
    if "no spread" not in c.method:
        return float(c.ci_low), float(c.ci_high)
    if c.method.startswith("exact sign-flip"):
        smallest = min(1.0, 2.0 / 2**c.n)  # paired_p's exact test, any shift away from the observed difference
    else:  # unpaired, both without spread: every relabelling, shifted away from the observed difference
        x, y = list(_seeded(a, "dual_interval: A").values()), list(_seeded(b, "dual_interval: B").values())
        smallest = permutation_p(x, y, paired=False, shift=c.diff - max(1.0, abs(c.diff)))
    return (c.diff, c.diff) if smallest < level else (-math.inf, math.inf)


def per_config(data, metric: str | None = None, *, config: str = "config", seed: str = "seed") -> dict[str, dict]:
    """``{config: {seed: value}}`` in the order configurations first appear.

    ``data``: a long frame with columns ``config``, ``seed`` and ``metric``; or a mapping
    ``{config: [values]}`` (seeds = positions) or ``{config: {seed: value}}``.
    """
    if isinstance(data, pd.DataFrame):
        if metric is None:
            raise ValueError("per_config: name the metric column of the frame")
        missing = [c for c in (config, seed, metric) if c not in data.columns]
        if missing:
            raise ValueError(f"per_config: the frame lacks columns {missing}; it has {list(data.columns)}")
        dup = data.duplicated([config, seed])
        if dup.any():
            c, s = (x.item() if hasattr(x, "item") else x for x in data.loc[dup, [config, seed]].iloc[0])
            raise ValueError(f"per_config: configuration {c!r} has seed {s!r} more than once")
        out: dict[str, dict] = {}
        for c, s, v in zip(data[config], data[seed], data[metric], strict=True):
            out.setdefault(str(c), {})[s.item() if hasattr(s, "item") else s] = v
        return {c: _seeded(v, f"configuration {c!r}") for c, v in out.items()}
    if isinstance(data, Mapping):
        return {str(c): _seeded(v, f"configuration {c!r}") for c, v in data.items()}
    raise TypeError(f"per_config: need a DataFrame or a mapping, got {type(data).__name__}")


def compare_to_reference(
    data,
    reference: str,
    metric: str | None = None,
    *,
    config: str = "config",
    seed: str = "seed",
    higher_is_better: bool = True,
    confidence: float = CONFIDENCE,
    alpha: float | None = None,
) -> pd.DataFrame:
    """Every other configuration against ``reference`` (A = the row's configuration, B = the reference),
    paired by seed, with Holm's correction over the m comparisons.

    Columns: ``config``, ``reference``, ``n``, ``mean``, ``mean (reference)``, ``difference``, ``ci_low``,
    ``ci_high`` (the unadjusted 95 % interval of the paired difference), ``p (paired t)``,
    ``p (Holm, m=<m>)``, ``verdict`` (from the unadjusted interval) and ``verdict (Holm)`` (adjusted p <
    alpha = 1 - confidence, else within noise). The caption is in ``frame.attrs["caption"]``.
    """
    alpha = 1 - confidence if alpha is None else alpha
    groups = per_config(data, metric, config=config, seed=seed)
    if reference not in groups:
        raise ValueError(f"reference configuration {reference!r} not in the data; valid: {', '.join(groups)}")
    others = [c for c in groups if c != reference]
    if not others:
        raise ValueError(f"compare_to_reference: nothing to compare with {reference!r} (only configuration)")
    comps = [
        compare(
            groups[c], groups[reference], names=(c, reference), higher_is_better=higher_is_better, confidence=confidence
        )
        for c in others
    ]
    adjusted = holm([c.p_value for c in comps])
    m = sum(p is not None for p in adjusted)
    p_holm = f"p (Holm, m={m})"
    rows = []
    for c, ph in zip(comps, adjusted, strict=True):
        if ph is None:
            v_holm = c.verdict
        else:
            v_holm = _direction(c.diff, higher_is_better) if ph < alpha else WITHIN_NOISE
        rows.append(
            {
                "config": c.a,
                "reference": c.b,
                "n": c.n,
                "mean": c.mean_a,
                "mean (reference)": c.mean_b,
                "difference": c.diff,
                "ci_low": c.ci_low,
                "ci_high": c.ci_high,
                "p (paired t)": c.p_value,
                p_holm: ph,
                "verdict": c.verdict,
                "verdict (Holm)": v_holm,
                "method": c.method,
            }
        )
    df = pd.DataFrame(rows)
    df.attrs["caption"] = (
        f"A = the row's configuration, B = {reference}; difference A - B paired by seed with its "
        f"{confidence:.0%} interval (t); p from the paired t-test, Holm step-down correction over "
        f"the {m} comparisons (alpha {alpha:g}); " + ("higher is better" if higher_is_better else "lower is better")
    )
    return df


# ----------------------------------------------------------------------------------------------
# tables
# ----------------------------------------------------------------------------------------------
def summary_table(
    data,
    metric: str | None = None,
    *,
    config: str = "config",
    seed: str = "seed",
    confidence: float = CONFIDENCE,
    method: str = "t",
    scale: float = 1.0,
    digits: int = 4,
) -> pd.DataFrame:
    """One row per configuration: ``config``, ``n``, ``seeds``, ``mean``, ``std``, ``ci_low``, ``ci_high``
    and ``mean ± CI`` (formatted, values times ``scale``)."""
    rows = []
    for c, vals in per_config(data, metric, config=config, seed=seed).items():
        s = summarize(list(vals.values()), confidence=confidence, method=method)
        rows.append(
            {
                "config": c,
                "n": s.n,
                "seeds": ", ".join(map(str, vals)),
                "mean": s.mean,
                "std": s.std,
                "ci_low": s.ci_low,
                "ci_high": s.ci_high,
                "mean ± CI": s.format(scale, digits),
            }
        )
    df = pd.DataFrame(rows)
    df.attrs["caption"] = f"mean over seeds, std (ddof 1), {confidence:.0%} interval of the mean ({method})"
    return df


def comparison_table(
    data,
    metric: str | None = None,
    *,
    reference: str,
    original: Mapping | None = None,
    config: str = "config",
    seed: str = "seed",
    higher_is_better: bool = True,
    confidence: float = CONFIDENCE,
    scale: float = 100.0,
    digits: int = 2,
) -> pd.DataFrame:
    """The comparison table of a notebook: each configuration's original single value (``original``:
    ``{config: value}``, e.g. from :mod:`dive.reference`; fractions, shown times ``scale``), this run's mean
    ± CI and n, its difference from ``reference`` with the interval, the Holm-adjusted p and the verdict.

    The reference's own row shows "reference" as its verdict. Caption in ``frame.attrs["caption"]``.
    """
    groups = per_config(data, metric, config=config, seed=seed)
    original = dict(original or {})
    unknown = [k for k in original if k not in groups]
    if unknown:
        raise ValueError(
            f"comparison_table: original values for {unknown}, which are not configurations here; "
            f"valid: {', '.join(groups)}"
        )
    vs = compare_to_reference(groups, reference, higher_is_better=higher_is_better, confidence=confidence)
    p_holm = next(c for c in vs.columns if c.startswith("p (Holm"))
    by = vs.set_index("config")
    ci_col = f"this run: mean ± {confidence:.0%} CI (t)"
    rows = []
    for c, vals in groups.items():
        s = summarize(list(vals.values()), confidence=confidence)
        row = {
            "config": c,
            "original (single run)": (original[c] * scale if original.get(c) is not None else None),
            ci_col: s.format(scale, digits).rsplit(" (n=", 1)[0],
            "n": s.n,
        }
        if c == reference:
            row.update({f"difference vs {reference}": "", p_holm: None, "verdict": "reference"})
        else:
            r = by.loc[c]
            diff = f"{r['difference'] * scale:+.{digits}f}"
            if r["ci_low"] is not None and not pd.isna(r["ci_low"]):
                diff += f" [{r['ci_low'] * scale:+.{digits}f}, {r['ci_high'] * scale:+.{digits}f}]"
            v = r["verdict (Holm)"]
            row.update(
                {
                    f"difference vs {reference}": diff,
                    p_holm: r[p_holm],
                    "verdict": {A_BETTER: f"{c} better", B_BETTER: f"{reference} better"}.get(v, v),
                }
            )
        rows.append(row)
    df = pd.DataFrame(rows)
    df.attrs["caption"] = (
        f"{metric or 'value'} times {scale:g}; this run: mean over seeds ± half-width of the "
        f"{confidence:.0%} t interval; difference vs {reference} paired by seed with its interval; "
        f"verdict from the paired t-test with Holm's correction over the other configurations"
    )
    return df


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

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
* :func:`p_against` and :func:`side` -- one configuration against a fixed value (a published number, a bar such
  as the majority-class rate): the one-sample test over its seeds and the word for its result, ``"above"``,
  ``"below"``, ``"cannot tell"`` or ``"cannot tell (one seed)"`` (:mod:`dive.medmnist_compare`,
  :mod:`dive.learning`).

The one- and two-configuration layer (:func:`summarize`, :func:`compare`, :func:`paired_p`, :func:`equivalence`,
the verdict words) is defined in :mod:`dive.stats_core` and re-exported here; the family layer and the tables are
defined in this module. Callers use ``dive.stats`` either way.

Data come as plain lists, ``{seed: value}`` mappings, ``{config: [values] or {seed: value}}`` or a
long pandas frame with columns ``config``, ``seed`` and the metric, so a notebook calls each in one
line::

    stats.comparison_table(per_seed, "val_acc", reference="alexnet_unbalanced_fixed",
                           original={"alexnet_balanced_fixed": 0.8963, "alexnet_unbalanced_fixed": 0.8416})
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import pandas as pd

from dive.stats_core import (
    A_BETTER,
    ALPHA,
    B_BETTER,
    CANNOT_TELL,
    CONFIDENCE,
    DIFFERENT,
    EQUIVALENT,
    POWER,
    SINGLE_RUN,
    VERDICTS,
    WITHIN_NOISE,
    Comparison,
    Equivalence,
    Summary,
    _direction,
    _seeded,
    compare,
    equivalence,
    min_detectable,
    paired_p,
    permutation_p,
    summarize,
)

__all__ = [
    "ALPHA",
    "A_BETTER",
    "B_BETTER",
    "CANNOT_TELL",
    "CONFIDENCE",
    "DIFFERENT",
    "EQUIVALENT",
    "POWER",
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
    "ONE_SEED",
    "class_mix",
    "p_against",
    "per_config",
    "side",
    "summarize",
    "summary_table",
]


# ----------------------------------------------------------------------------------------------
# one configuration against a fixed value
# ----------------------------------------------------------------------------------------------
#: :func:`side`'s word where there is no test: one seed against a fixed value cannot tell a recipe from its seed.
ONE_SEED = "cannot tell (one seed)"


def p_against(values: Sequence[float], value: float) -> float | None:
    """Two-sided p of "the mean over the seeds equals ``value``": the one-sample t-test
    (``scipy.stats.ttest_1samp``, via :func:`paired_p` on ``values - value``, which falls back to the exact
    sign-flip test when every seed gives the same value). ``None`` with fewer than two seeds or an undefined value."""
    import numpy as np

    v = np.asarray(list(values), dtype=float)
    if v.size < 2 or not np.all(np.isfinite(v)):
        return None
    return float(paired_p(v - float(value)))


def side(mean: float, value: float, p: float | None, *, alpha: float = ALPHA) -> str:
    """``"above"`` / ``"below"`` ``value`` where the (family-corrected) p < alpha, ``"cannot tell"`` where not,
    and :data:`ONE_SEED` where there is no test (``p`` is ``None``)."""
    if p is None:
        return ONE_SEED
    if p >= alpha or mean == value:
        return "cannot tell"
    return "above" if mean > value else "below"


# ----------------------------------------------------------------------------------------------
# two samples' class mix
# ----------------------------------------------------------------------------------------------
def class_mix(counts_a: Sequence[int], counts_b: Sequence[int]) -> dict:
    """Do two samples (two splits of a data set) hold the classes in the same proportions? The two-sided test of
    homogeneity on the 2 x k table of their class counts: Fisher's exact test (``scipy.stats.fisher_exact``) for
    two classes where an expected count is under 5, else the chi-square test (``scipy.stats.chi2_contingency``,
    which applies Yates' correction to a 2 x 2 table; with expected counts under 5 in a table of more than two
    classes its p is a rough approximation). Classes empty in both are left out.

    Returns ``{"test", "statistic", "p"}`` (``p`` None where fewer than two classes remain or a sample is empty);
    the verdict, with its family, is the caller's (:func:`holm`, then ``p < ALPHA``: "different", else "cannot
    tell": a test that does not reject does not show two mixes equal)."""
    import numpy as np
    from scipy import stats as st

    a, b = np.asarray(counts_a, dtype=float).ravel(), np.asarray(counts_b, dtype=float).ravel()
    table = np.stack([a, b]) if a.size == b.size else np.empty((0, 0))
    if table.size == 0 or np.any(table < 0) or not np.all(np.isfinite(table)):
        raise ValueError(f"class counts must be two equally long lists of counts >= 0, got {counts_a!r}, {counts_b!r}")
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or np.any(table.sum(axis=1) == 0):
        return {"test": None, "statistic": None, "p": None}
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / table.sum()
    if table.shape[1] == 2 and expected.min() < 5:
        statistic, p = st.fisher_exact(table.astype(int))
        return {"test": "Fisher's exact", "statistic": float(statistic), "p": float(p)}
    statistic, p, _, _ = st.chi2_contingency(table)
    return {"test": "chi-square", "statistic": float(statistic), "p": float(p)}


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

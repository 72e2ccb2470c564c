"""Calibration of the Claims page's directional rule by simulation (issue 21).

Two *identical* configurations, scored on a small discrete validation set (accuracy = Binomial(n_val, p) /
n_val per seed, as in the smoke and quick profiles), compared over n = 2, 3, 5 seeds: the rate at which
the rule calls one of them "better" must not exceed the nominal 5 %. The rule is the one every row of the
page uses before Holm's correction (which can only lower the rate): :func:`dive.stats.paired_p` < 0.05 --
the paired t-test, and the exact sign-flip test where the differences have no spread.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import stats as st

from dive import stats

REPS = 20_000


def _accuracies(rng, p, n_val, n):
    return rng.binomial(n_val, p, (REPS, n)) / n_val


def _old_rule_p(d):
    """The rule before issue 21: no spread in the differences -> p = 0 (a direction) unless they are all 0."""
    flat = np.ptp(d, axis=-1) <= 1e-12
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p_t = st.ttest_1samp(d, 0.0, axis=-1).pvalue
    return np.where(flat, np.where(np.abs(d.mean(axis=-1)) > 1e-12, 0.0, 1.0), p_t)


@pytest.mark.parametrize(("p", "n_val"), [(0.95, 64), (0.98, 100)])
@pytest.mark.parametrize("n", [2, 3, 5])
def test_false_better_rate_of_two_identical_configurations_is_at_most_5_percent(p, n_val, n):
    rng = np.random.default_rng(1000 * n + n_val)
    d = _accuracies(rng, p, n_val, n) - _accuracies(rng, p, n_val, n)
    called = stats.paired_p(d) < stats.ALPHA
    k = int(called.sum())
    ci = st.binomtest(k, REPS).proportion_ci(0.99)
    assert ci.low <= 0.05, f"false 'better' rate {k / REPS:.4f} (99 % MC interval {ci.low:.4f}-{ci.high:.4f})"
    if n == 2:  # identical differences are common here (accuracy moves in steps of 1 / n_val) ...
        assert (np.ptp(d, axis=-1) == 0).mean() > 0.08
        # ... and the old "no spread: p = 0" rule called them a direction: 8.8 % / 10.1 % measured
        old = int((_old_rule_p(d) < stats.ALPHA).sum())
        assert st.binomtest(old, REPS).proportion_ci(0.99).low > 0.05
        assert k / REPS < 0.005  # the t-test at n = 2 almost never rejects on these data; the exact test never
    # the page's compare() makes the same call as the vectorised rule on a sample of the replicates
    for row in d[:200]:
        c = stats.compare(row.tolist(), [0.0] * n)
        assert (c.verdict != stats.WITHIN_NOISE) == (stats.paired_p(row) < stats.ALPHA)


def test_a_real_difference_of_the_reports_size_is_found_with_five_seeds_on_mnist_sized_validation_sets():
    # Table 5: learning rate 0.001 (98.9 %) vs 0.01 (97.2 %), 1.7 points, on 12,000 validation images
    pa, pb, n_val, n = 0.989, 0.972, 12_000, 5
    rng = np.random.default_rng(7)
    d = _accuracies(rng, pa, n_val, n) - _accuracies(rng, pb, n_val, n)
    power = float((stats.paired_p(d) < stats.ALPHA).mean())
    sd = np.sqrt(pa * (1 - pa) / n_val + pb * (1 - pb) / n_val)  # of one seed's difference (binomial noise)
    mde = stats.min_detectable(sd, n)
    assert mde < 0.005 < pa - pb  # five seeds resolve a third of a point; the claim is 1.7 points
    assert power > 0.99
    # a difference at the detectable size is found about 80 % of the time (the formula uses central t
    # quantiles, so slightly less), a third of it rarely
    for true, lo, hi in ((mde, 0.65, 0.85), (mde / 3, 0.0, 0.25)):
        z = rng.normal(true, sd, (REPS, n))
        rate = float((stats.paired_p(z) < stats.ALPHA).mean())
        assert lo <= rate <= hi, (true, rate)

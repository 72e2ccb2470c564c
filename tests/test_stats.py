"""dive.stats against values worked out by hand.

Hand arithmetic uses Student t quantiles from the tables (97.5 %: 12.706 for 1, 4.303 for 2 degrees of
freedom) and, for 2 degrees of freedom, the closed-form t distribution F(t) = 1/2 + t / (2 sqrt(2 + t^2)),
so a two-sided p-value is p = 1 - |t| / sqrt(2 + t^2).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from dive import stats

T2 = 4.302652729911275  # t(0.975, df=2); tables: 4.303
T1 = 12.706204736174703  # t(0.975, df=1); tables: 12.706


def p_df2(t):
    return 1 - abs(t) / math.sqrt(2 + t * t)


def test_summarize_t_interval_by_hand():
    s = stats.summarize([0.90, 0.92, 0.94])
    # mean 0.92; deviations -0.02, 0, 0.02 -> std sqrt(0.0008 / 2) = 0.02; sem 0.02 / sqrt(3) = 0.011547
    assert (s.n, s.mean, s.std, s.method) == (3, pytest.approx(0.92), pytest.approx(0.02), "t")
    half = T2 * 0.02 / math.sqrt(3)  # 0.049683
    assert half == pytest.approx(0.049683, abs=1e-6)
    assert (s.ci_low, s.ci_high) == pytest.approx((0.92 - half, 0.92 + half))
    assert s.format(scale=100, digits=2) == "92.00 ± 4.97 (n=3)"
    two = stats.summarize({22: 0.90, 23: 0.92})  # a {seed: value} mapping works too
    assert (two.ci_low, two.ci_high) == pytest.approx((0.91 - T1 * 0.01, 0.91 + T1 * 0.01))


def test_single_run_has_no_interval():
    s = stats.summarize([0.8963])
    assert (s.n, s.mean, s.std, s.ci_low, s.ci_high, s.method) == (1, 0.8963, None, None, None, "none")
    assert s.format(100, 2) == "89.63 (n=1, single run: no interval)"
    c = stats.compare([0.8963], [0.8416], names=("balanced", "unbalanced"))
    assert c.verdict == stats.SINGLE_RUN == "single run: no interval"
    assert c.diff == pytest.approx(0.0547) and c.ci_low is None and c.p_value is None
    assert c.statement == "single run: no interval"


def test_bootstrap_interval_is_reproducible_and_inside_the_range():
    vals = [0.90, 0.92, 0.94, 0.91, 0.95]
    a = stats.summarize(vals, method="bootstrap", seed=1)
    b = stats.summarize(vals, method="bootstrap", seed=1)
    assert a == b and a.method == "bootstrap"
    assert 0.90 <= a.ci_low < a.mean < a.ci_high <= 0.95  # a resampled mean never leaves the data's range
    assert a.format(100, 1).startswith("92.4 [")
    same = stats.summarize([0.5, 0.5, 0.5], method="bootstrap")
    assert (same.ci_low, same.ci_high) == (0.5, 0.5)


def test_paired_difference_whose_interval_excludes_zero():
    ref = [0.80, 0.81, 0.79]
    a = [0.82, 0.84, 0.83]  # differences 0.02, 0.03, 0.04: mean 0.03, std 0.01
    c = stats.compare(a, ref, names=("balanced", "unbalanced"))
    half = T2 * 0.01 / math.sqrt(3)  # 0.024841
    assert (c.n, c.method) == (3, "paired t")
    assert c.diff == pytest.approx(0.03) and (c.ci_low, c.ci_high) == pytest.approx((0.03 - half, 0.03 + half))
    t = 0.03 / (0.01 / math.sqrt(3))  # 5.196
    assert c.p_value == pytest.approx(p_df2(t)) and c.p_value == pytest.approx(0.0351, abs=1e-4)
    assert c.verdict == "A better" and c.better == "balanced" and c.statement == "balanced better"
    # the same numbers as a loss: lower is better, so B wins
    assert stats.compare(a, ref, higher_is_better=False).verdict == "B better"
    assert stats.compare(ref, a).verdict == "B better"


def test_paired_difference_whose_interval_contains_zero():
    c = stats.compare([0.82, 0.84, 0.80], [0.81, 0.81, 0.81])  # differences 0.01, 0.03, -0.01: mean 0.01, std 0.02
    half = T2 * 0.02 / math.sqrt(3)  # 0.049683 > 0.01
    assert (c.ci_low, c.ci_high) == pytest.approx((0.01 - half, 0.01 + half))
    assert c.ci_low < 0 < c.ci_high and c.verdict == "within noise" and c.better is None
    assert c.p_value == pytest.approx(p_df2(0.01 / (0.02 / math.sqrt(3))))  # 0.478


def test_pairing_is_by_seed_not_by_position():
    a = {22: 0.82, 23: 0.84, 24: 0.83}
    b = {24: 0.79, 22: 0.80, 23: 0.81, 25: 0.99}  # seed 25 has no partner and is left out
    c = stats.compare(a, b)
    assert c.seeds == (22, 23, 24) and c.n == 3 and c.diff == pytest.approx(0.03) and c.verdict == "A better"
    with pytest.raises(ValueError, match="both as lists"):
        stats.compare([0.1, 0.2], {1: 0.1, 2: 0.2})
    with pytest.raises(ValueError, match="3 values and .* 2"):
        stats.compare([0.1, 0.2, 0.3], [0.1, 0.2])


def test_no_common_seed_is_unpaired_welch():
    c = stats.compare({1: 0.80, 2: 0.82}, {3: 0.70, 4: 0.72})
    # means 0.81 and 0.71, both variances 0.0002: se sqrt(0.0001 + 0.0001) = 0.014142, Welch df = 2
    assert c.method == "Welch t (unpaired)" and c.diff == pytest.approx(0.10)
    assert (c.ci_low, c.ci_high) == pytest.approx((0.10 - T2 * 0.014142136, 0.10 + T2 * 0.014142136))
    assert c.verdict == "A better"
    assert stats.compare({1: 0.8}, {3: 0.7}).verdict == stats.SINGLE_RUN


def test_identical_differences_and_bad_input():
    # differences 0.1, 0.1 (0.6 - 0.5 and 0.5 - 0.4 differ in the last bit): no spread. The t statistic is
    # undefined; the exact sign-flip test gives p = 2 / 2^2 = 0.5, so two seeds cannot show a direction
    c = stats.compare([0.5, 0.6], [0.4, 0.5])
    assert (c.ci_low, c.ci_high, c.p_value, c.verdict) == (pytest.approx(0.1), pytest.approx(0.1), 0.5, "within noise")
    assert c.method == "exact sign-flip (paired, no spread)"
    tie = stats.compare([0.5, 0.6], [0.5, 0.6])
    assert tie.verdict == "within noise" and tie.p_value == 1.0
    with pytest.raises(ValueError, match="finite"):
        stats.summarize([0.5, float("nan")])
    with pytest.raises(ValueError, match="no values"):
        stats.summarize([])
    with pytest.raises(ValueError, match="valid: t, bootstrap"):
        stats.summarize([0.5, 0.6], method="normal")


def test_holm_by_hand_and_in_input_order():
    # sorted: 0.01 * 3 = 0.03; 0.035 * 2 = 0.07; 0.5 * 1 = 0.5
    assert stats.holm([0.035, 0.01, 0.5]) == pytest.approx([0.07, 0.03, 0.5])
    # monotone step-down: 0.02 * 3 = 0.06; 0.025 * 2 = 0.05 -> raised to 0.06; 0.04 * 1 -> 0.06
    assert stats.holm([0.04, 0.02, 0.025]) == pytest.approx([0.06, 0.06, 0.06])
    assert stats.holm([0.4, None, 0.9]) == [pytest.approx(0.8), None, pytest.approx(0.9)]  # m = 2
    assert stats.holm([0.6, 0.7]) == [1.0, 1.0]  # capped at 1


def _three_vs_reference():
    ref = [0.80, 0.81, 0.79]
    rows = {
        "reference": ref,
        "small": [0.82, 0.84, 0.83],  # +0.02 +0.03 +0.04: p = 0.0351
        "large": [0.85, 0.87, 0.86],  # +0.05 +0.06 +0.07: p = 0.0092
        "none": [0.81, 0.84, 0.78],
    }  # +0.01 +0.03 -0.01: p = 0.4778
    return pd.DataFrame(
        [{"config": c, "seed": 22 + i, "val_acc": v} for c, vals in rows.items() for i, v in enumerate(vals)]
    )


def test_compare_to_reference_holm_changes_a_verdict():
    df = _three_vs_reference()
    t = stats.compare_to_reference(df, "reference", "val_acc")
    assert list(t["config"]) == ["small", "large", "none"]
    p = [p_df2(0.03 / (0.01 / math.sqrt(3))), p_df2(0.06 / (0.01 / math.sqrt(3))), p_df2(0.01 / (0.02 / math.sqrt(3)))]
    assert t["p (paired t)"].tolist() == pytest.approx(p)
    assert p == pytest.approx([0.0351, 0.0092, 0.4778], abs=1e-4)
    # Holm by hand: large 0.0092 * 3 = 0.0275; small 0.0351 * 2 = 0.0702; none 0.4778 * 1 = 0.4778
    assert t["p (Holm, m=3)"].tolist() == pytest.approx([2 * p[0], 3 * p[1], p[2]])
    assert t["verdict"].tolist() == ["A better", "A better", "within noise"]
    assert t["verdict (Holm)"].tolist() == ["within noise", "A better", "within noise"]  # Holm changes "small"
    assert "Holm" in t.attrs["caption"] and "B = reference" in t.attrs["caption"]
    with pytest.raises(ValueError, match="valid: reference, small, large, none"):
        stats.compare_to_reference(df, "nope", "val_acc")
    with pytest.raises(ValueError, match="seed 22 more than once"):
        stats.compare_to_reference(pd.concat([df, df.iloc[:1]]), "reference", "val_acc")
    with pytest.raises(ValueError, match="lacks columns \\['loss'\\]"):
        stats.compare_to_reference(df, "reference", "loss")


def test_tables_show_mean_ci_n_beside_the_original():
    df = _three_vs_reference()
    s = stats.summary_table(df, "val_acc", scale=100, digits=2)
    assert s.loc[0, "config"] == "reference" and s.loc[0, "n"] == 3 and s.loc[0, "seeds"] == "22, 23, 24"
    assert s.loc[0, "mean ± CI"] == f"80.00 ± {100 * T2 * 0.01 / math.sqrt(3):.2f} (n=3)"
    t = stats.comparison_table(df, "val_acc", reference="reference", original={"reference": 0.8416, "large": 0.8963})
    assert list(t.columns) == [
        "config",
        "original (single run)",
        "this run: mean ± 95% CI (t)",
        "n",
        "difference vs reference",
        "p (Holm, m=3)",
        "verdict",
    ]
    orig = t["original (single run)"]
    assert orig[0] == pytest.approx(84.16) and orig[2] == pytest.approx(89.63) and orig[[1, 3]].isna().all()
    assert t.loc[2, "this run: mean ± 95% CI (t)"] == "86.00 ± 2.48" and t.loc[2, "n"] == 3
    assert t.loc[2, "difference vs reference"] == "+6.00 [+3.52, +8.48]"
    assert t["verdict"].tolist() == ["reference", "within noise", "large better", "within noise"]
    with pytest.raises(ValueError, match="not configurations here"):
        stats.comparison_table(df, "val_acc", reference="reference", original={"alexnet": 0.9})


def test_comparison_table_single_seed_says_so():
    t = stats.comparison_table({"a": [0.9], "b": [0.8]}, reference="b")
    assert t.loc[0, "this run: mean ± 95% CI (t)"] == "90.00" and t.loc[0, "n"] == 1
    assert t.loc[0, "verdict"] == "single run: no interval" and t.loc[0, "difference vs b"] == "+10.00"


# ----------------------------------------------------------------------------------------------
# equivalence (TOST), exact permutation test, power
# ----------------------------------------------------------------------------------------------
T4_95 = 2.131846786326649  # t(0.95, df=4)


def test_equivalence_tost_by_hand_and_against_scipy():
    a = [0.990, 0.985, 0.990, 0.988, 0.991]
    b = [0.989, 0.987, 0.990, 0.990, 0.990]  # differences +1, -2, 0, -2, +1 (1e-3): mean -0.0004
    e = stats.equivalence(a, b, 0.005)
    d = [x - y for x, y in zip(a, b, strict=True)]
    sd = pd.Series(d).std()
    se = sd / math.sqrt(5)
    assert (e.n, e.diff, e.sd, e.margin) == (5, pytest.approx(-0.0004), pytest.approx(sd), 0.005)
    assert (e.lo, e.hi) == pytest.approx((-0.0004 - T4_95 * se, -0.0004 + T4_95 * se))  # the 90 % interval
    from scipy import stats as st

    # the two one-sided tests are scipy's one-sided paired t-tests against the shifted differences
    lower = st.ttest_1samp(d, -0.005, alternative="greater").pvalue
    upper = st.ttest_1samp(d, 0.005, alternative="less").pvalue
    assert (e.p_lower, e.p_upper, e.p) == pytest.approx((lower, upper, max(lower, upper)))
    assert e.verdict == stats.EQUIVALENT == "equivalent within ±m" and e.statement == "equivalent within ±0.005"
    assert -0.005 < e.lo < e.hi < 0.005
    assert e.mde == pytest.approx((st.t.ppf(0.975, 4) + st.t.ppf(0.8, 4)) * sd / math.sqrt(5))
    # the same values against a margin the interval crosses: cannot tell
    assert stats.equivalence(a, b, 0.001).verdict == stats.CANNOT_TELL


def test_equivalence_says_cannot_tell_with_two_seeds_and_different_beyond_the_margin():
    wide = stats.equivalence([0.99, 0.97], [0.98, 0.99], 0.005)  # differences +0.01, -0.02 at n = 2
    assert wide.verdict == "cannot tell" and wide.half_width > 0.005 and wide.n == 2
    far = stats.equivalence({1: 0.95, 2: 0.96, 3: 0.97}, {1: 0.90, 2: 0.92, 3: 0.91}, 0.01)
    assert far.verdict == "different" and far.lo > 0.01 and far.p_beyond < 0.05
    one = stats.equivalence([0.9], [0.9], 0.01)
    assert (one.verdict, one.lo, one.p) == ("cannot tell", None, None)
    with pytest.raises(ValueError, match="3 values and B 2"):
        stats.equivalence([0.9, 0.9, 0.9], [0.9, 0.9], 0.01)
    with pytest.raises(ValueError, match="only in A: \\[3\\]"):
        stats.equivalence({1: 0.9, 2: 0.9, 3: 0.9}, {1: 0.9, 2: 0.9}, 0.01)
    with pytest.raises(ValueError, match="margin must be a positive number"):
        stats.equivalence([0.9, 0.8], [0.9, 0.8], 0)
    un = stats.equivalence([0.90, 0.91, 0.92], [0.95, 0.96, 0.94], 0.01, paired=False)
    w = math.sqrt(0.0001 / 3 + 0.0001 / 3)
    assert un.method == "Welch t (TOST, unpaired)" and un.verdict == "different"
    assert (un.lo, un.hi) == pytest.approx((-0.04 - 2.131846786326649 * w, -0.04 + 2.131846786326649 * w))


def test_equivalence_without_spread_uses_the_exact_sign_flip_test():
    # identical differences: t is undefined; the sign-flip test's one-sided p is 1 / 2^n
    two = stats.equivalence([0.5, 0.6], [0.5, 0.6], 0.01)
    assert (two.verdict, two.p, two.mde) == ("cannot tell", 0.25, None)
    five = stats.equivalence([0.5, 0.6, 0.7, 0.8, 0.9], [0.5, 0.6, 0.7, 0.8, 0.9], 0.01)
    assert (five.verdict, five.p) == (stats.EQUIVALENT, pytest.approx(1 / 32))
    shifted = stats.equivalence([0.6, 0.7, 0.8, 0.9, 1.0], [0.5, 0.6, 0.7, 0.8, 0.9], 0.01)  # 0.1 each, rounded
    assert shifted.verdict == "different" and shifted.p_beyond == pytest.approx(1 / 32)


def test_permutation_p_is_exact_and_never_gives_a_direction_below_six_identical_differences():
    for n in range(2, 7):
        assert stats.permutation_p([1.0] * n, [0.0] * n) == pytest.approx(2 / 2**n)
    assert stats.permutation_p([0.3, 0.4], [0.3, 0.4]) == 1.0
    # against an enumeration of the 2^3 sign flips by hand: differences 0.02, 0.03, -0.01, mean 0.04/3
    d = [0.02, 0.03, -0.01]
    flips = [
        [s * x for s, x in zip(signs, d, strict=True)] for signs in __import__("itertools").product((1, -1), repeat=3)
    ]
    extreme = sum(abs(sum(f)) >= abs(sum(d)) - 1e-12 for f in flips)
    assert stats.permutation_p([0.82, 0.84, 0.80], [0.80, 0.81, 0.81]) == pytest.approx(extreme / 8)


def test_min_detectable_formula():
    from scipy import stats as st

    assert stats.min_detectable(0.01, 3) == pytest.approx((T2 + st.t.ppf(0.8, 2)) * 0.01 / math.sqrt(3))
    assert stats.min_detectable(0.01, 1) is None and stats.min_detectable(None, 5) is None


def test_verdict_words_are_defined_once():
    words = {stats.A_BETTER, stats.B_BETTER, stats.WITHIN_NOISE, stats.EQUIVALENT, stats.DIFFERENT, stats.CANNOT_TELL}
    assert words | {stats.SINGLE_RUN} == set(stats.VERDICTS)
    assert all(len(rule) > 20 for rule in stats.VERDICTS.values())


def test_equivalence_margins_live_in_reference():
    from dive import reference

    assert reference.EQUIVALENCE_MARGINS == {"mnist": 0.005, "medmnist": 0.01}


def test_identical_differences_never_give_a_direction_below_six_seeds():
    for n in range(2, 6):
        a, b = [0.9 + 0.01 * i for i in range(n)], [0.85 + 0.01 * i for i in range(n)]  # +0.05 every seed
        c = stats.compare(a, b)
        assert (c.p_value, c.verdict) == (pytest.approx(2 / 2**n), "within noise"), n
        assert c.p_value == pytest.approx(stats.permutation_p(a, b))  # the closed form is scipy's exact test
        assert stats.compare(a, b, method="bootstrap").verdict == "within noise"
    six = stats.compare([0.9] * 6, [0.85] * 6)
    assert (six.p_value, six.verdict) == (pytest.approx(1 / 32), "A better")  # enough seeds for the exact test
    # unpaired, both without spread: exact permutation of the labels, 2 of C(4, 2) = 6 as extreme
    w = stats.compare({1: 0.9, 2: 0.9}, {3: 0.8, 4: 0.8})
    assert (w.p_value, w.verdict, w.method) == (
        pytest.approx(1 / 3),
        "within noise",
        "exact permutation (unpaired, no spread)",
    )


def test_paired_p_is_vectorised_and_matches_ttest_rel():
    from scipy import stats as st

    rows = [[0.02, 0.03, 0.04], [0.01, 0.03, -0.01], [0.05, 0.05, 0.05], [0.0, 0.0, 0.0]]
    p = stats.paired_p(rows)
    assert p[:2] == pytest.approx([st.ttest_1samp(r, 0).pvalue for r in rows[:2]])
    assert p[2:] == pytest.approx([0.25, 1.0])
    with pytest.raises(ValueError, match="at least 2"):
        stats.paired_p([0.1])


def test_bootstrap_verdict_agrees_with_its_own_p():
    a, b = [0.81, 0.82, 0.89], [0.80, 0.80, 0.80]  # differences 0.01, 0.02, 0.09: all positive, p = 0.25
    c = stats.compare(a, b, method="bootstrap")
    assert c.ci_low > 0 and c.p_value > 0.05  # the percentile interval of 3 values is narrower than the test
    assert c.verdict == "within noise" and c.method == "paired bootstrap interval, paired t p"
    strong = stats.compare([0.82, 0.84, 0.83, 0.85, 0.84], [0.80, 0.81, 0.79, 0.80, 0.80], method="bootstrap")
    assert strong.p_value < 0.05 and strong.ci_low > 0 and strong.verdict == "A better"


def test_holm_levels_by_hand():
    # sorted 0.01 (rank 1 of 3: 0.05 / 3), 0.035 (rank 2: 0.05 / 2), 0.5 (rank 3: 0.05)
    assert stats.holm_levels([0.035, 0.01, 0.5]) == pytest.approx([0.025, 0.05 / 3, 0.05])
    # the step-down stops at rank 1 (0.03 * 2 = 0.06): rank 2's own level (0.05) is lowered to 0.05 * 0.03 / 0.06
    # = 0.025, below its p, so its interval keeps 0 as Holm keeps its hypothesis
    assert stats.holm_levels([0.03, 0.03]) == pytest.approx([0.025, 0.025])
    assert stats.holm_levels([0.4, None]) == [pytest.approx(0.05), None]


def test_dual_interval_leaves_out_zero_exactly_when_the_test_rejects():
    rng = np.random.default_rng(3)
    for _ in range(200):
        n = int(rng.integers(2, 7))
        a = rng.normal(0.8, 0.02, n)
        b = a - rng.normal(rng.choice([0.0, 0.01, 0.03]), 0.015, n)
        level = float(rng.choice([0.05, 0.025, 0.0125, 0.1]))
        lo, hi = stats.dual_interval(list(a), list(b), level=level)
        assert (lo > 0 or hi < 0) == (stats.compare(list(a), list(b)).p_value < level)
    # no spread: the exact sign-flip test rejects at 0.05 only from 6 pairs (2 / 2^6 < 0.05): the point, else the line
    assert stats.dual_interval([0.9] * 3, [0.85] * 3, level=0.05) == (-math.inf, math.inf)
    assert stats.dual_interval([0.9] * 6, [0.85] * 6, level=0.05) == pytest.approx((0.05, 0.05))
    # unpaired without spread: 2 / C(6, 3) = 0.1 is the smallest p
    assert stats.dual_interval({1: 0.9, 2: 0.9, 3: 0.9}, {4: 0.8, 5: 0.8, 6: 0.8}, level=0.2) == pytest.approx(
        (0.1, 0.1)
    )
    assert stats.dual_interval({1: 0.9, 2: 0.9, 3: 0.9}, {4: 0.8, 5: 0.8, 6: 0.8}, level=0.05)[0] == -math.inf
    assert stats.dual_interval([0.9], [0.8], level=0.05) is None
    with pytest.raises(ValueError, match="level"):
        stats.dual_interval([0.9, 0.8], [0.8, 0.7], level=1.5)


def test_holm_level_intervals_agree_with_holm_verdicts():
    """A family of comparisons: each interval at its Holm level leaves out 0 exactly when the Holm-adjusted p is
    below alpha -- including where the step-down stops before a comparison whose own p is small."""
    rng = np.random.default_rng(7)
    agreed_rejections = 0
    for _ in range(60):
        m = int(rng.integers(2, 7))
        pairs = []
        for _ in range(m):
            n = int(rng.integers(3, 6))
            a = rng.normal(0.8, 0.02, n)
            pairs.append((list(a), list(a - rng.normal(rng.choice([0.0, 0.01, 0.02]), 0.01, n))))
        ps = [stats.compare(a, b).p_value for a, b in pairs]
        for (a, b), p_holm, level in zip(pairs, stats.holm(ps), stats.holm_levels(ps), strict=True):
            lo, hi = stats.dual_interval(a, b, level=level)
            assert (lo > 0 or hi < 0) == (p_holm < stats.ALPHA)
            agreed_rejections += p_holm < stats.ALPHA
    assert agreed_rejections > 10  # the families did reject somewhere


def test_equivalence_agrees_with_the_dual_interval_at_twice_alpha():
    rng = np.random.default_rng(11)
    for _ in range(100):
        n = int(rng.integers(2, 7))
        a = rng.normal(0.8, 0.01, n)
        b = a - rng.normal(rng.choice([0.0, 0.005, 0.02]), 0.004, n)
        e = stats.equivalence(list(a), list(b), 0.01)
        lo, hi = stats.dual_interval(list(a), list(b), level=2 * e.alpha)
        assert (e.verdict == stats.EQUIVALENT) == (-0.01 < lo and hi < 0.01)
        assert (e.verdict == stats.DIFFERENT) == (lo > 0.01 or hi < -0.01)
    two = stats.equivalence([0.9, 0.9], [0.9, 0.9], 0.01)  # no spread, n = 2: the exact TOST cannot say
    assert two.verdict == stats.CANNOT_TELL
    assert stats.dual_interval([0.9, 0.9], [0.9, 0.9], level=0.1) == (-math.inf, math.inf)


# --- two samples' class mix --------------------------------------------------------------------


def test_class_mix_fisher_by_hand_for_two_small_classes():
    # [[6, 0], [0, 6]] (expected 3 a cell): of the C(12, 6) tables with these margins only this one and its
    # mirror are as extreme
    r = stats.class_mix([6, 0], [0, 6])
    assert r["test"] == "Fisher's exact" and r["p"] == pytest.approx(2 / math.comb(12, 6))


def test_class_mix_chi_square_by_hand():
    # 3 classes, 100 and 100 images: [50, 30, 20] against [30, 30, 40]; expected [40, 30, 30] in each row,
    # statistic = 2 * (100/40 + 0 + 100/30) = 11.667 on 2 degrees of freedom, p = exp(-11.667 / 2)
    r = stats.class_mix([50, 30, 20], [30, 30, 40])
    assert r["test"] == "chi-square"
    assert r["statistic"] == pytest.approx(2 * (100 / 40 + 100 / 30))
    assert r["p"] == pytest.approx(math.exp(-r["statistic"] / 2))


def test_class_mix_same_proportions_and_degenerate_tables():
    assert stats.class_mix([300, 100], [30, 10])["p"] == pytest.approx(1.0)  # the same mix, another size
    assert stats.class_mix([5, 0, 7], [10, 0, 14])["p"] == pytest.approx(1.0)  # a class empty in both: left out
    assert stats.class_mix([5, 0], [7, 0])["p"] is None  # one class: nothing to test
    assert stats.class_mix([5, 3], [0, 0])["p"] is None  # an empty split
    with pytest.raises(ValueError, match="class counts"):
        stats.class_mix([5, -1], [3, 3])
    with pytest.raises(ValueError, match="class counts"):
        stats.class_mix([5, 1, 2], [3, 3])


def test_class_mix_table_holm_and_verdicts():
    from types import SimpleNamespace

    import torch

    def split(counts):
        labels = torch.tensor([c for c, n in enumerate(counts) for _ in range(n)])
        return SimpleNamespace(class_counts=lambda: np.bincount(labels.numpy(), minlength=len(counts)))

    bundle = SimpleNamespace(
        classes=["a", "b"], train=split([300, 100]), val=split([75, 25]), test=split([50, 50])
    )  # val: the training mix; test: a majority class at 0.5 where training holds 0.75
    from dive import tables

    mix = tables.class_mix({"toy": bundle}).set_index("split")
    assert list(mix["share_in_train"]) == [0.75, 0.75] and list(mix["share_in_split"]) == [0.75, 0.5]
    assert mix.loc["val", "verdict"] == stats.CANNOT_TELL and mix.loc["test", "verdict"] == stats.DIFFERENT
    assert mix.loc["test", "p_holm"] == pytest.approx(min(1.0, 2 * mix.loc["test", "p"]), rel=1e-2)

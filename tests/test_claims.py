"""dive.claims: the report's claims against a hand-made reports dir with two seeds per group."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import pandas as pd
import pytest

from dive import claims, reference, stats
from dive.outputs import Outputs

T1 = 12.706204736174703  # t(0.975, df=1)


@dataclass
class Fit:
    val_loss: float
    history: list = field(default_factory=list)
    epochs_run: int = 1
    best_epoch: int = 1
    restored_best: bool = True

    def __post_init__(self):
        self.history = [{"epoch": 1, "train_acc": 0.9, "val_acc": 0.9, "val_loss": self.val_loss}]


def _out(root, notebook, synthetic=False):
    return Outputs(
        root / "quick" / notebook,
        notebook=notebook,
        profile="quick",
        dataset="pathmnist",
        synthetic=synthetic,
        device="cpu",
        seed=22,
    )


def _runs(out, name, vals, key="val", **kw):
    for seed, v in zip((22, 23), vals, strict=True):
        metrics = {"accuracy": v, "auc": 0.9} if v is not None else None
        out.add_run(name, "alexnet", {"seed": seed}, **{key: metrics}, **kw)


@pytest.fixture
def reports(tmp_path):
    nb4 = _out(tmp_path, "04_alexnet_balancing")
    _runs(nb4, "alexnet_balanced_fixed", [0.90, 0.92])  # differences 0.06, 0.07: interval above 0
    _runs(nb4, "alexnet_unbalanced_fixed", [0.84, 0.85])
    _runs(nb4, "alexnet_balanced_early_stopping", [0.91, 0.89])  # differences 0.02, -0.01: contains 0
    _runs(nb4, "alexnet_unbalanced_early_stopping", [0.89, 0.90])
    nb6 = _out(tmp_path, "06_alexnet_batchnorm", synthetic=True)
    _runs(nb6, "alexnet_model2_batchnorm", [0.97, 0.96])  # differences 0.00, -0.01: within noise, as the report said
    _runs(nb6, "alexnet_model1_plain", [0.97, 0.97])
    nb7 = _out(tmp_path, "07_resnet_tuning")
    for name, losses in {
        "resnet18_optimised": (0.030, 0.032),
        "resnet18_optimizer_adam": (0.060, 0.061),
        "resnet18_optimizer_nadam": (0.031, 0.035),
        "resnet18_optimizer_sgd": (0.080, 0.083),
    }.items():
        for seed, loss in zip((22, 23), losses, strict=True):
            nb7.add_run(name, "resnet18", {"seed": seed}, fit=Fit(loss), val={"accuracy": 0.9})
    _runs(nb7, "ensemble_resnet34_x2", [0.95, 0.96], key="test")
    _runs(nb7, "resnet34_member1", [0.94, 0.95], key="test")  # member 2 never recorded
    nb1 = _out(tmp_path, "01_mnist_simplecnn")
    for study, values in (("learning_rate", (0.001, 0.01, 0.1)), ("batch_size", (16, 32, 64))):
        for v in values:
            acc = {0.001: (0.989, 0.990), 0.01: (0.972, 0.975), 0.1: (0.10, 0.11)}.get(v, (0.989, 0.990))
            nb1.add_group(claims.table5_group(study, v), values=pd.DataFrame({"seed": [22, 23], "val_accuracy": acc}))
    return tmp_path


def _row(table, claim_id):
    text = next(c.text for c in claims.CLAIMS if c.id == claim_id)
    return table.set_index("claim").loc[text]


def p_df1(t):
    """Two-sided p of a t statistic with 1 degree of freedom (Cauchy): 1 - (2 / pi) atan(|t|)."""
    return 1 - 2 / math.pi * math.atan(abs(t))


def holm_by_hand(ps):
    order = sorted(range(len(ps)), key=lambda i: ps[i])
    out, running = [0.0] * len(ps), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(ps) - rank) * ps[i]))
        out[i] = running
    return out


# The fixture's seven directional comparisons (two seeds each: paired t with 1 degree of freedom), in page order:
#   lr 0.001 vs 0.01: differences 0.017, 0.015 -> t = 16;  vs 0.1: 0.889, 0.880 -> t = 0.8845 / 0.0045 = 196.6
#   balancing fixed: 0.06, 0.07 -> t = 13;  early stopping: 0.02, -0.01 -> t = 0.005 / 0.015 = 0.333
#   optimizer (loss): vs Adam -0.030, -0.029 -> t = 59; vs NAdam -0.001, -0.003 -> t = 2; vs SGD -0.050, -0.051 -> 101
FAMILY_T = [16, 0.8845 / 0.0045, 13, 0.005 / 0.015, 59, 2, 101]


def test_one_family_per_page(reports):
    t = claims.claims_table(reports, "quick")
    # the family is every directional comparison of the claims whose groups are all in metrics.json: mnist_lr
    # (2), balancing (1 + 1), optimizer (3); augmentation / PathMNIST SimpleCNN / ensemble are not run, and the
    # claims of no difference (batch size, batch norm) are equivalence tests, not in the family
    directional = sum(
        len(c.groups) - 1 for c in claims.CLAIMS if c.expected == "A better" and _row(t, c.id)["verdict"] != "not run"
    )
    assert t.attrs["family"] == directional == 7
    adjusted = holm_by_hand([p_df1(x) for x in FAMILY_T])
    # sorted: 196.6 (x7), 101 (x6), 59 (x5: 0.054 > 0.05), 16 (x4), 13 (x3, raised), 2 (x2), 0.333 (x1)
    assert adjusted[4] == pytest.approx(5 * p_df1(59)) and adjusted[4] > 0.05 > p_df1(59)
    lr, fixed, es, opt = (_row(t, i) for i in ("mnist_lr", "balancing_fixed", "balancing_early_stopping", "optimizer"))
    assert lr["p"] == "; ".join(
        f"vs table5_learning_rate_{v}: {p:.3g}" for v, p in zip(("0.01", "0.1"), adjusted[:2], strict=True)
    )
    assert fixed["p"] == f"{adjusted[2]:.3g}" and es["p"] == f"{adjusted[3]:.3g}"
    assert opt["p"] == "; ".join(
        f"vs resnet18_optimizer_{o}: {p:.3g}" for o, p in zip(("adam", "nadam", "sgd"), adjusted[4:], strict=True)
    )
    assert all("Holm over the page's 7 directional comparisons" in r["how"] for r in (lr, fixed, es, opt))
    assert "family of 7" in t.attrs["caption"]


def test_claims_table_verdicts_from_two_seeds(reports):
    t = claims.claims_table(reports, "quick")
    assert len(t) == len(claims.CLAIMS) and t["claim"].is_unique
    fixed = _row(t, "balancing_fixed")
    assert fixed["original"] == "89.63 vs 84.16" and fixed["n"] == 2 and fixed["n (pairs)"] == "2"
    assert fixed["this run"] == (
        f"alexnet_balanced_fixed: 91.00 ± {T1 * 1:.2f} (n=2); alexnet_unbalanced_fixed: 84.50 ± {T1 * 0.5:.2f} (n=2)"
    )
    half = T1 * (0.01 / math.sqrt(2)) / math.sqrt(2) * 100  # std of (6, 7) points is 0.707; / sqrt(2); times t
    assert fixed["difference (A - B)"] == f"+6.50 [{6.5 - half:+.2f}, {6.5 + half:+.2f}]"
    assert fixed["half-width"] == f"{half:.2f}"
    mde = (T1 + 1.3763819204711734) * 0.01 / math.sqrt(2) / math.sqrt(2) * 100  # t(0.975, 1) + t(0.8, 1)
    assert fixed["detectable (80 % power)"] == f"{mde:.2f}"
    # the interval's half-width (6.35 points) exceeds the report's own +5.47: two seeds cannot tell
    assert half > 5.47
    assert (fixed["verdict"], fixed["holds"], fixed["data"]) == (
        "cannot tell",
        "cannot tell (interval wider than the claimed difference)",
        "pathmnist",
    )
    assert fixed["tested"] == "A higher than each (two-sided, 95%; Holm over the page's 7)"
    es = _row(t, "balancing_early_stopping")
    assert (es["verdict"], es["holds"]) == ("cannot tell", "cannot tell (interval wider than the claimed difference)")
    # a claim of no difference: TOST within ±1 point; two seeds' 90 % interval (t(0.95, 1) = 6.314) is wider
    bn = _row(t, "batchnorm")
    half90 = 6.313751514675 * (0.01 / math.sqrt(2)) / math.sqrt(2) * 100
    assert bn["difference (A - B)"] == f"-0.50 [{-0.5 - half90:+.2f}, {-0.5 + half90:+.2f}]"
    assert (bn["verdict"], bn["holds"], bn["data"], bn["tested"]) == (
        "cannot tell",
        "cannot tell (not shown within ±1.00)",
        "SYNTHETIC",
        "equivalence within ±1.00 (TOST, 90% interval)",
    )
    assert bn["original"] == "97.50 vs 97.29"


def test_claims_with_several_groups(reports):
    t = claims.claims_table(reports, "quick")
    opt = _row(t, "optimizer")
    assert opt["original"] == "0.035 vs 0.060 vs 0.060 vs 0.080"
    # lower loss is better; Holm over the page's 7 (see FAMILY_T): only SGD stays below 0.05. Adam and NAdam show
    # no direction, but their half-widths (0.006, 0.013) are below the report's 0.025: within noise, not cannot tell
    assert opt["verdict"] == (
        "vs resnet18_optimizer_adam: within noise; "
        "vs resnet18_optimizer_nadam: within noise; "
        "vs resnet18_optimizer_sgd: resnet18_optimised better"
    )
    assert opt["holds"] == "not supported (within noise)"
    lr = _row(t, "mnist_lr")
    assert lr["original"] == "98.90 vs 97.20 vs 10.00" and lr["n"] == 2
    # vs 0.01: 4 x p_df1(16) = 0.159 -> no direction; half-width 1.27 < the report's 1.7 points
    assert lr["verdict"] == (
        "vs table5_learning_rate_0.01: within noise; vs table5_learning_rate_0.1: table5_learning_rate_0.001 better"
    )
    assert lr["holds"] == "not supported (within noise)"
    # batch size: every seed 98.9 / 99.0 in each group -> differences 0, 0 (no spread): the exact sign-flip
    # TOST gives p = 1/4 at n = 2, so equivalence is not shown -- two equal values are not evidence of sameness
    bs = _row(t, "mnist_batch_size")
    assert bs["verdict"] == "vs table5_batch_size_16: cannot tell; vs table5_batch_size_64: cannot tell"
    assert bs["half-width"] == "vs table5_batch_size_16: no spread; vs table5_batch_size_64: no spread"
    assert bs["p"] == "vs table5_batch_size_16: 0.25; vs table5_batch_size_64: 0.25"
    assert bs["holds"] == "cannot tell (not shown within ±0.50)" and bs["tested"].startswith("equivalence within ±0.50")


def _nb1(tmp_path, batch_values):
    nb1 = _out(tmp_path, "01_mnist_simplecnn")
    for v, accs in batch_values.items():
        seeds = list(range(22, 22 + len(accs)))
        nb1.add_group(claims.table5_group("batch_size", v), values=pd.DataFrame({"seed": seeds, "val_accuracy": accs}))
    return tmp_path


def test_no_difference_needs_equivalence_within_the_margin(tmp_path):
    # n = 2, a wide interval: cannot tell (never "consistent")
    wide = _nb1(tmp_path / "wide", {32: [0.989, 0.975], 16: [0.980, 0.990], 64: [0.985, 0.984]})
    r = _row(claims.claims_table(wide, "quick"), "mnist_batch_size")
    assert r["holds"] == "cannot tell (not shown within ±0.50)" and "equivalent" not in r["verdict"]
    # n = 5, a tight interval inside ±0.5 points: equivalent
    tight = _nb1(
        tmp_path / "tight",
        {
            32: [0.9890, 0.9885, 0.9892, 0.9880, 0.9887],
            16: [0.9888, 0.9889, 0.9890, 0.9883, 0.9884],
            64: [0.9893, 0.9882, 0.9889, 0.9885, 0.9890],
        },
    )
    r = _row(claims.claims_table(tight, "quick"), "mnist_batch_size")
    assert r["holds"] == "equivalent (within ±0.50)" and r["n"] == 5
    assert (
        r["verdict"]
        == "vs table5_batch_size_16: equivalent within ±0.50; vs table5_batch_size_64: equivalent within ±0.50"
    )
    # n = 5, a clear difference of 2 points: contradicted
    far = _nb1(
        tmp_path / "far",
        {32: [0.989, 0.988, 0.990, 0.987, 0.989], 16: [0.969, 0.968, 0.971, 0.966, 0.970], 64: [0.989] * 5},
    )
    r = _row(claims.claims_table(far, "quick"), "mnist_batch_size")
    assert (
        r["holds"] == "contradicted (a difference beyond ±0.50)"
        and "vs table5_batch_size_16: different" in r["verdict"]
    )


def test_identical_differences_never_give_a_direction_on_the_page(tmp_path):
    nb4 = _out(tmp_path, "04_alexnet_balancing")
    for seeds, acc in (((22, 23, 24), (0.90, 0.92, 0.91)),):
        for s, v in zip(seeds, acc, strict=True):
            nb4.add_run("alexnet_balanced_fixed", "alexnet", {"seed": s}, val={"accuracy": v})
            nb4.add_run("alexnet_unbalanced_fixed", "alexnet", {"seed": s}, val={"accuracy": v - 0.05})
    r = _row(claims.claims_table(tmp_path, "quick"), "balancing_fixed")
    # +5 points on every seed: no spread; the exact sign-flip test's p is 2 / 2^3 = 0.25
    assert r["p"] == "0.25" and r["half-width"] == "no spread" and r["difference (A - B)"] == "+5.00"
    assert "better" not in r["verdict"] and r["holds"].startswith("cannot tell")


def test_not_run_where_groups_or_notebooks_are_missing(reports):
    t = claims.claims_table(reports, "quick")
    for claim_id in ("augmentation_fixed", "augmentation_early_stopping", "pathmnist_simplecnn_bn"):
        r = _row(t, claim_id)
        assert (r["verdict"], r["holds"], r["this run"]) == ("not run", "not run", "")
        assert r["how"].startswith("not run: no ") and r["how"].endswith("metrics.json")
    ens = _row(t, "ensemble")
    assert (ens["verdict"], ens["how"]) == ("not run", "not run: group *_member2 missing")
    act = _row(t, "mnist_activation")
    assert act["how"] == "not run: group activation_leaky_relu missing; group activation_relu missing"
    empty = claims.claims_table(reports / "nothing", "quick")
    assert (empty["verdict"] == "not run").all() and empty["n"].isna().all()


def test_pattern_must_match_one_group_and_single_seeds_say_so(tmp_path):
    nb = _out(tmp_path, "07_resnet_tuning")
    for name in ("ensemble_resnet34_x2", "resnet34_member1", "resnet50_member1", "resnet34_member2"):
        nb.add_run(name, "resnet34", {"seed": 22}, test={"accuracy": 0.9})
    t = claims.claims_table(tmp_path, "quick")
    assert _row(t, "ensemble")["how"] == "not run: group *_member1 ambiguous: resnet34_member1, resnet50_member1"
    nb4 = _out(tmp_path, "04_alexnet_balancing")
    nb4.add_run("alexnet_balanced_fixed", "alexnet", {"seed": 22}, val={"accuracy": 0.9})
    nb4.add_run("alexnet_unbalanced_fixed", "alexnet", {"seed": 22}, val={"accuracy": 0.8})
    r = _row(claims.claims_table(tmp_path, "quick"), "balancing_fixed")
    assert (r["verdict"], r["holds"], r["n"]) == ("single run: no interval", "cannot tell (single run)", 1)
    assert claims.claims_table(tmp_path, "quick").attrs["family"] == 0  # a single run has no test
    assert r["this run"].startswith("alexnet_balanced_fixed: 90.00 (n=1, single run: no interval)")


def test_claims_are_the_reports_numbers():
    by_id = {c.id: c for c in claims.CLAIMS}
    assert by_id["balancing_fixed"].original == (0.8963, 0.8416)
    assert by_id["augmentation_early_stopping"].original == (0.9288, 0.9118)
    assert by_id["optimizer"].original == (0.035, 0.06, 0.06, 0.08) and not by_id["optimizer"].higher_is_better
    assert by_id["ensemble"].original == (reference.ENSEMBLE["acc"], 0.9939, 0.9939)
    assert by_id["mnist_lr"].original == (0.989, 0.972, 0.100)
    nbs = {c.notebook for c in claims.CLAIMS}
    assert nbs == {
        "01_mnist_simplecnn",
        "02_pathmnist_simplecnn",
        "04_alexnet_balancing",
        "05_alexnet_augmentation",
        "06_alexnet_batchnorm",
        "07_resnet_tuning",
        "11_search",
    }
    with pytest.raises(ValueError, match="one original value"):
        claims.Claim("x", "04", "t", "s", ("a", "b"), "val_accuracy", (0.5,))
    with pytest.raises(ValueError, match="needs a metric with a margin"):
        claims.Claim("x", "04", "t", "s", ("a", "b"), "val_loss", (0.5, 0.5), expected=claims.NO_DIFFERENCE)
    with pytest.raises(ValueError, match="no equivalence margin for 'cifar'"):
        claims.Claim("x", "04", "t", "s", ("a", "b"), "val_accuracy", (0.5, 0.5), dataset="cifar")
    assert by_id["mnist_batch_size"].margin == 0.005 and by_id["batchnorm"].margin == 0.01
    assert by_id["optimizer"].margin is None


def test_claims_html_escapes_and_flags_synthetic(reports):
    page = claims.claims_html(reports, "quick")
    assert page.startswith('<section class="claims"><h2>Claims and evidence</h2>')
    assert "SYNTHETIC DATA" in page and "<table" in page and "Holm" in page
    assert "table5_learning_rate_0.001 better" in page and "89.63 vs 84.16" in page
    legend = page.split("</table>", 1)[1]  # the legend of the verdict words, under the table
    for word in ("A better", "within noise", "equivalent within ±m", "different", "cannot tell", "holds: supported"):
        assert f"<b>{word}</b>" in legend
    assert "detectable (80 % power)" in page and "half-width" in page
    assert "&lt;" not in page.split("<table", 1)[0]  # caption has nothing to escape
    t = claims.claims_table(reports, "quick")
    t.loc[0, "claim"] = "<b>x</b>"
    assert "&lt;b&gt;x&lt;/b&gt;" in claims.claims_html(t)
    json.dumps(t.astype(object).where(t.notna(), None).to_dict(orient="records"))  # plain values throughout


def test_originals_and_the_notebook_one_liner(reports):
    from dive import stats
    from dive.outputs import groups_frame, load_metrics

    orig = claims.originals("04_alexnet_balancing")
    assert orig == {
        "alexnet_balanced_fixed": 0.8963,
        "alexnet_unbalanced_fixed": 0.8416,
        "alexnet_balanced_early_stopping": 0.9118,
        "alexnet_unbalanced_early_stopping": 0.8894,
    }
    assert claims.originals("07_resnet_tuning", "val_loss")["resnet18_optimizer_sgd"] == 0.08
    with pytest.raises(ValueError, match="valid: 01_mnist_simplecnn"):
        claims.originals("03_resnet18_baseline")
    per_seed = groups_frame(load_metrics(reports / "quick" / "04_alexnet_balancing")["groups"])
    assert list(per_seed.columns[:2]) == ["config", "seed"] and len(per_seed) == 8
    t = stats.comparison_table(per_seed, "val_accuracy", reference="alexnet_unbalanced_fixed", original=orig)
    assert t.loc[0, "original (single run)"] == pytest.approx(89.63) and t.loc[0, "n"] == 2


def test_ensemble_pairs_with_member_two_through_the_recorded_pair_key(tmp_path):
    from scipy import stats as st

    from dive.outputs import groups_frame, load_metrics

    nb = _out(tmp_path, "07_resnet_tuning")
    ens, m1, m2 = [0.960, 0.955, 0.962], [0.950, 0.951, 0.953], [0.949, 0.946, 0.955]
    for i, s in enumerate((22, 23, 24)):
        nb.add_run("resnet34_member1", "resnet34", {"seed": s}, test={"accuracy": m1[i]})
        nb.add_run("resnet34_member2", "resnet34", {"seed": s + 3}, test={"accuracy": m2[i]})  # other seeds
        nb.add_run("ensemble_resnet34_x2", "resnet34", {"seed": s}, test={"accuracy": ens[i]})
    with pytest.raises(ValueError, match="seeds without a pair key: \\[27\\]"):
        nb.add_group("resnet34_member2", ["resnet34_member2"], pairs={25: 22, 26: 23})
    with pytest.raises(ValueError, match="appears more than once"):
        nb.add_group("resnet34_member2", ["resnet34_member2"], pairs={25: 22, 26: 22, 27: 24})
    nb.add_group("resnet34_member2", ["resnet34_member2"], pairs={25: 22, 26: 23, 27: 24})
    r = _row(claims.claims_table(tmp_path, "quick"), "ensemble")
    assert r["how"].startswith("paired t;") and "Welch" not in r["how"] and r["n (pairs)"].count(": 3") == 2
    # the page's p-values are scipy's paired t-tests on the recorded pairs, Holm over the page's 2
    p1, p2 = st.ttest_rel(ens, m1).pvalue, st.ttest_rel(ens, m2).pvalue
    assert r["p"] == "; ".join(
        f"vs {g}: {p:.3g}"
        for g, p in zip(("resnet34_member1", "resnet34_member2"), holm_by_hand([p1, p2]), strict=True)
    )
    frame = groups_frame(load_metrics(tmp_path / "quick" / "07_resnet_tuning")["groups"])
    assert frame.set_index(["config", "seed"])["pair"].to_dict() == {
        **{("resnet34_member1", s): s for s in (22, 23, 24)},
        **{("resnet34_member2", s + 3): s for s in (22, 23, 24)},
        **{("ensemble_resnet34_x2", s): s for s in (22, 23, 24)},
    }


def test_tested_intervals_are_at_each_comparisons_holm_level(reports):
    """attrs["comparisons"] (what the forest figure draws) and 'difference [tested interval]': for a direction the
    paired t interval at the comparison's Holm level (t with 1 degree of freedom here), which leaves out 0 exactly
    when the Holm-adjusted verdict gives a direction; for no difference the 90 % TOST interval."""
    from scipy import stats as st

    t = claims.claims_table(reports, "quick")
    records = t.attrs["comparisons"]
    directional = [r for r in records if "Holm" in r["interval"]]
    assert len(directional) == t.attrs["family"] == 7
    levels = stats.holm_levels([p_df1(x) for x in FAMILY_T])
    for r, level, tval in zip(directional, levels, FAMILY_T, strict=True):
        assert r["interval"] == f"{1 - level:.2%} (Holm level {level:.3g} of 7)"
        # a paired t interval with 2 seeds: diff ± t(1 - level / 2, 1) * |diff| / t  (the t statistic is diff / se)
        half = st.t.ppf(1 - level / 2, 1) * abs(r["diff"]) / tval
        assert (r["lo"], r["hi"]) == pytest.approx((r["diff"] - half, r["diff"] + half))
        assert (r["lo"] > 0 or r["hi"] < 0) == (r["verdict"] in (stats.A_BETTER, stats.B_BETTER))
    assert {r["verdict"] for r in directional} >= {stats.A_BETTER, stats.WITHIN_NOISE}
    opt = _row(t, "optimizer")
    assert opt["difference [tested interval]"].count("vs resnet18_optimizer_") == 3
    bn = [r for r in records if r["claim_id"] == "batchnorm"][0]
    assert (
        bn["interval"] == "90% (TOST)"
        and _row(t, "batchnorm")["difference [tested interval]"]
        == (
            _row(t, "batchnorm")["difference (A - B)"]  # the TOST interval the table already showed
        )
    )

"""dive.claims: the report's claims against a hand-made reports dir with two seeds per group."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import pandas as pd
import pytest

from dive import claims, reference
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


def test_claims_table_verdicts_from_two_seeds(reports):
    t = claims.claims_table(reports, "quick")
    assert len(t) == len(claims.CLAIMS) and t["claim"].is_unique
    fixed = _row(t, "balancing_fixed")
    assert fixed["original"] == "89.63 vs 84.16" and fixed["n"] == 2
    assert fixed["this run"] == (
        f"alexnet_balanced_fixed: 91.00 ± {T1 * 1:.2f} (n=2); alexnet_unbalanced_fixed: 84.50 ± {T1 * 0.5:.2f} (n=2)"
    )
    half = T1 * (0.01 / math.sqrt(2)) / math.sqrt(2) * 100  # std of (6, 7) points is 0.707; / sqrt(2); times t
    assert fixed["difference (A - B)"] == f"+6.50 [{6.5 - half:+.2f}, {6.5 + half:+.2f}]"
    assert (fixed["verdict"], fixed["holds"], fixed["data"], fixed["how"]) == (
        "alexnet_balanced_fixed better",
        "supported",
        "pathmnist",
        "paired t",
    )
    es = _row(t, "balancing_early_stopping")
    assert (es["verdict"], es["holds"]) == ("within noise", "not supported (within noise)")
    bn = _row(t, "batchnorm")
    assert (bn["verdict"], bn["holds"], bn["data"]) == (
        "within noise",
        "consistent (no difference found, n=2)",
        "SYNTHETIC",
    )
    assert bn["original"] == "97.50 vs 97.29"


def test_claims_with_several_groups_use_holm(reports):
    t = claims.claims_table(reports, "quick")
    opt = _row(t, "optimizer")
    assert opt["original"] == "0.035 vs 0.060 vs 0.060 vs 0.080"
    # lower loss is better. Paired t with 1 degree of freedom: p = 1 - (2 / pi) atan(|t|).
    # vs Adam: differences -0.030, -0.029 -> t = -0.0295 / 0.0005 = -59, p = 0.0108; Holm (rank 2): 0.0216
    # vs SGD: -0.050, -0.051 -> t = -101, p = 0.0063; Holm (rank 1): 0.0189
    # vs NAdam: -0.001, -0.003 -> t = -0.002 / 0.001 = -2, p = 0.2952; Holm: 0.2952 -> within noise
    assert opt["verdict"] == (
        "vs resnet18_optimizer_adam: resnet18_optimised better; "
        "vs resnet18_optimizer_nadam: within noise; "
        "vs resnet18_optimizer_sgd: resnet18_optimised better"
    )
    assert opt["holds"] == "not supported (within noise)" and "Holm over 3 comparisons" in opt["how"]
    lr = _row(t, "mnist_lr")
    assert lr["original"] == "98.90 vs 97.20 vs 10.00" and lr["n"] == 2
    bs = _row(t, "mnist_batch_size")
    assert (bs["verdict"], bs["holds"]) == (
        "vs table5_batch_size_16: within noise; vs table5_batch_size_64: within noise",
        "consistent (no difference found, n=2)",
    )
    # lr 0.001 vs 0.01: differences 0.017, 0.015 -> t = 0.016 / 0.001 = 16, p = 1 - (2 / pi) atan(16) = 0.0397;
    # vs 0.1: 0.889, 0.880 -> t = 196.6, p = 0.0032. Holm: 2 * 0.0032 = 0.0065, then max(0.0065, 0.0397) < 0.05
    assert (
        lr["verdict"] == "vs table5_learning_rate_0.01: table5_learning_rate_0.001 better; "
        "vs table5_learning_rate_0.1: table5_learning_rate_0.001 better"
    )
    assert lr["holds"] == "supported"


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


def test_claims_html_escapes_and_flags_synthetic(reports):
    page = claims.claims_html(reports, "quick")
    assert page.startswith('<section class="claims"><h2>Claims and evidence</h2>')
    assert "SYNTHETIC DATA" in page and "<table" in page and "Holm" in page
    assert "alexnet_balanced_fixed better" in page and "89.63 vs 84.16" in page
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

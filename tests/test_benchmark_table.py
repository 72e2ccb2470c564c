"""dive.benchmark on hand-made inputs: flag selection (missing / explicit / corrupt), the published values
joined, verdicts, the "not available" row and the heatmap."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from dive import medmnist_compare, recipes, reference
from dive.data import DatasetFileError


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    from dive.synthetic import write_synthetic_root

    return write_synthetic_root(
        tmp_path_factory.mktemp("bench"),
        datasets=("pneumoniamnist", "breastmnist"),
        sizes={"train": 40, "val": 20, "test": 30},
    )


def test_published_table_is_the_papers_table_3():
    t = reference.MEDMNIST_V2_2D
    assert len(t) == 12 * 7 and set(t["dataset"]) == set(medmnist_compare.FLAGS_2D)
    assert next(iter(reference.MEDMNIST_V2_METHODS)) == medmnist_compare.BASELINE
    assert medmnist_compare.published("pathmnist") == {"acc": 0.907, "auc": 0.983}
    assert medmnist_compare.published("chestmnist", "Google AutoML Vision") == {"acc": 0.948, "auc": 0.778}
    assert medmnist_compare.published("breastmnist", "ResNet-50 (224)") == {"acc": 0.842, "auc": 0.866}
    assert "10.1038/s41597-022-01721-8" in reference.MEDMNIST_V2_CITATION
    with pytest.raises(KeyError, match="methods"):
        medmnist_compare.published("pathmnist", "ResNet-19")


def test_flags_all_keeps_going_with_not_available_rows(root):
    statuses = medmnist_compare.select_flags("all", root)
    assert [s.flag for s in statuses] == list(medmnist_compare.FLAGS_2D) and len(statuses) == 12
    present = {s.flag for s in statuses if s.available}
    assert present == {"pneumoniamnist", "breastmnist"}
    path = root / "medmnist" / "pathmnist.npz"
    (path_status,) = [s for s in statuses if s.flag == "pathmnist"]
    assert path_status.not_available() == (
        f"not available: place pathmnist.npz at {path} (md5 a8b06965200029087d5bd730944a56c1; {path_status.url})"
    )
    table = medmnist_compare.availability_table(statuses)
    assert len(table) == 12 and (table["status"] == "present").sum() == 2
    assert medmnist_compare.select_flags(None, root) == statuses


def test_flags_given_by_name_must_be_present(root):
    assert [s.flag for s in medmnist_compare.select_flags("breastmnist, pneumoniamnist", root)] == [
        "breastmnist",
        "pneumoniamnist",
    ]
    with pytest.raises(DatasetFileError) as err:
        medmnist_compare.select_flags(["pneumoniamnist", "dermamnist"], root)
    msg = str(err.value)
    assert "before any training" in msg and str(root / "medmnist" / "dermamnist.npz") in msg
    assert "0744692d530f8e62ec473284d019b0c7" in msg  # dermamnist's official md5
    with pytest.raises(ValueError, match="valid: all, pathmnist"):
        medmnist_compare.select_flags("pneumoniamnist,derma", root)


def test_corrupt_file_is_an_error_even_with_all(tmp_path):
    from dive.synthetic import write_synthetic_root

    root = write_synthetic_root(tmp_path, datasets=("breastmnist",), sizes={"train": 10, "val": 5, "test": 5})
    path = root / "medmnist" / "breastmnist.npz"
    path.write_bytes(path.read_bytes()[:-10] + b"0123456789")
    for flags in ("all", "breastmnist"):
        with pytest.raises(DatasetFileError, match="corrupt") as err:
            medmnist_compare.select_flags(flags, root)
        assert str(path) in str(err.value)


def _rows(values):
    """Hand-made per-seed rows: {(dataset, method): [(acc, auc), ...]}."""
    return [
        {"dataset": d, "method": m, "seed": 22 + i, "test_acc": acc, "test_auc": auc}
        for (d, m), seeds in values.items()
        for i, (acc, auc) in enumerate(seeds)
    ]


def test_verdicts_by_hand():
    assert medmnist_compare.verdict("above", "above") == medmnist_compare.ABOVE == "above the published ResNet-18 (28)"
    assert medmnist_compare.verdict("below", "below") == medmnist_compare.BELOW
    assert medmnist_compare.verdict("cannot tell", "cannot tell") == medmnist_compare.CANNOT_TELL
    assert medmnist_compare.verdict(medmnist_compare.ONE_SEED, medmnist_compare.ONE_SEED) == "cannot tell (one seed)"
    assert medmnist_compare.verdict("above", "below") == "mixed: ACC above, AUC below the published ResNet-18 (28)"
    assert (
        medmnist_compare.verdict("cannot tell", "below")
        == "mixed: ACC cannot tell, AUC below the published ResNet-18 (28)"
    )
    assert "AUC undefined" in medmnist_compare.verdict("above", None)
    with pytest.raises(ValueError, match="a side is one of"):
        medmnist_compare.verdict("at or above", "above")
    # one seed: no test, whatever the value (one run against one published number cannot tell)
    assert (
        medmnist_compare.p_against_published([0.99], 0.5) is None
        and medmnist_compare.side(0.99, 0.5, None) == medmnist_compare.ONE_SEED
    )
    # several seeds: scipy's one-sample t-test against the published value
    from scipy import stats as st

    vals = [0.80, 0.84, 0.82]
    assert medmnist_compare.p_against_published(vals, 0.863) == pytest.approx(st.ttest_1samp(vals, 0.863).pvalue)
    assert (
        medmnist_compare.side(0.82, 0.863, 0.01) == "below"
        and medmnist_compare.side(0.82, 0.863, 0.06) == "cannot tell"
    )
    assert medmnist_compare.side(0.90, 0.863, 0.01) == "above"
    # seeds that agree exactly: the exact sign-flip test, 2 / 2^3 = 0.25 -> cannot tell
    assert medmnist_compare.p_against_published([0.9, 0.9, 0.9], 0.863) == pytest.approx(0.25)


def test_summary_and_tables_on_hand_made_runs(root):
    statuses = medmnist_compare.select_flags("all", root)
    methods = ["simplecnn_report", "resnet18_medmnist"]
    rows = _rows(
        {
            ("breastmnist", "simplecnn_report"): [(0.80, 0.85), (0.84, 0.87), (0.82, 0.86)],
            ("breastmnist", "resnet18_medmnist"): [(0.90, 0.95)],
            ("pneumoniamnist", "simplecnn_report"): [(0.86, 0.95)],
            ("pneumoniamnist", "resnet18_medmnist"): [(0.80, 0.96)],
        }
    )
    summary = medmnist_compare.summarise(rows)
    s = summary.set_index(["dataset", "method"])
    assert s.loc[("breastmnist", "simplecnn_report"), "n_seeds"] == 3
    assert s.loc[("breastmnist", "simplecnn_report"), "test_acc"] == pytest.approx(0.82)
    lo, hi = s.loc[("breastmnist", "simplecnn_report"), ["test_acc_ci_low", "test_acc_ci_high"]]
    # t interval of (0.80, 0.84, 0.82): mean 0.82, s = 0.02, t_{0.975, 2} = 4.3027
    assert (hi - lo) / 2 == pytest.approx(4.302653 * 0.02 / np.sqrt(3), rel=1e-5)
    assert math.isnan(s.loc[("pneumoniamnist", "simplecnn_report"), "test_acc_ci_low"])  # one seed: no interval

    comp = medmnist_compare.comparison_table(summary, statuses, methods, "shortened: quick profile")
    assert len(comp) == 12 * 2 and list(comp["metric"][:2]) == ["ACC", "AUC"]
    breast = comp[comp["dataset"] == "breastmnist"].set_index("metric")
    assert breast.loc["ACC", "SimpleCNN (report) (this run)"] == pytest.approx(0.82)
    assert breast.loc["AUC", "ResNet-18 (28), MedMNIST recipe (this run)"] == pytest.approx(0.95)
    for m in reference.MEDMNIST_V2_METHODS:  # all seven published methods beside this run
        assert breast.loc["ACC", f"{m} (published)"] == medmnist_compare.published("breastmnist", m)["acc"]
        assert breast.loc["AUC", f"{m} (published)"] == medmnist_compare.published("breastmnist", m)["auc"]
    assert breast.loc["ACC", "status"] == "this run (shortened: quick profile)"
    derma = comp[comp["dataset"] == "dermamnist"].set_index("metric")
    assert derma.loc["ACC", "status"].startswith("not available: place dermamnist.npz at ")
    assert math.isnan(derma.loc["ACC", "SimpleCNN (report) (this run)"])
    assert derma.loc["AUC", "ResNet-18 (28) (published)"] == 0.917

    v = medmnist_compare.verdict_table(summary, statuses, methods, "shortened: quick profile")
    assert len(v) == 2 * 2 + 10  # two methods on two present datasets, one row per absent dataset
    b = v[(v["dataset"] == "breastmnist")].set_index("method")
    assert b.loc["SimpleCNN (report)", "Δ ACC"] == pytest.approx(0.82 - 0.863)
    # the only tests: breastmnist SimpleCNN's three seeds against ACC 0.863 and AUC 0.901 (family of 2).
    # ACC: t = -0.043 / (0.02 / sqrt 3) = -3.72, df 2: p = 1 - |t| / sqrt(2 + t^2) = 0.0653;
    # AUC: (0.85, 0.87, 0.86): t = -0.041 / (0.01 / sqrt 3) = -7.10, p = 0.0193. Holm: 0.0386 (below), 0.0653
    assert v.attrs["family"] == 2 and "Holm over the table's 2 tests" in v.attrs["caption"]
    t_acc, t_auc = -0.043 / (0.02 / np.sqrt(3)), -0.041 / (0.01 / np.sqrt(3))
    p_acc, p_auc = (1 - abs(t) / np.sqrt(2 + t * t) for t in (t_acc, t_auc))
    assert b.loc["SimpleCNN (report)", "p AUC (Holm)"] == pytest.approx(2 * p_auc)
    assert b.loc["SimpleCNN (report)", "p ACC (Holm)"] == pytest.approx(max(p_acc, 2 * p_auc))
    assert b.loc["SimpleCNN (report)", "verdict"] == "mixed: ACC cannot tell, AUC below the published ResNet-18 (28)"
    assert b.loc["SimpleCNN (report)", "test ACC 95% CI"].startswith("[")
    # one seed: 0.90 and 0.95 lie above 0.863 and 0.901, but a single run cannot tell
    assert b.loc["ResNet-18 (28), MedMNIST recipe", "verdict"] == "cannot tell (one seed)"
    p = v[v["dataset"] == "pneumoniamnist"].set_index("method")
    assert (p["verdict"] == "cannot tell (one seed)").all()
    assert isinstance(p.loc["SimpleCNN (report)", "test ACC 95% CI"], float)  # NaN: single run, no interval
    absent = v[v["dataset"] == "octmnist"].iloc[0]
    assert absent["method"] == "—" and absent["verdict"].startswith("not available: place octmnist.npz")
    assert absent["ResNet-18 (28) ACC"] == 0.743

    fig = medmnist_compare.difference_heatmap(v)
    ax = fig.axes[0]
    texts = [t.get_text() for t in ax.texts]
    assert f"{0.82 - 0.863:+.3f}" in texts and texts.count("n/a") == 10 * 4
    assert [t.get_text() for t in ax.get_yticklabels()] == list(medmnist_compare.FLAGS_2D)


def test_verdict_table_needs_every_method_on_every_present_dataset(root):
    statuses = medmnist_compare.select_flags("pneumoniamnist", root)
    summary = medmnist_compare.summarise(_rows({("pneumoniamnist", "simplecnn_report"): [(0.9, 0.95)]}))
    with pytest.raises(ValueError, match="pneumoniamnist / resnet18_report"):
        medmnist_compare.verdict_table(summary, statuses, ["simplecnn_report", "resnet18_report"], "full recipe")


def test_recipes_follow_their_sources():
    model, s, notes = recipes.benchmark_recipe("resnet18_medmnist", "multi-class")
    assert model == "resnet18_28" and notes == []
    assert (s["optimizer"], s["lr"], s["batch_size"], s["epochs"]) == ("adam", 0.001, 128, 100)
    assert s["scheduler"] == "multistep" and s["scheduler_kwargs"] == {"milestones": [50, 75], "gamma": 0.1}
    assert s["monitor"] == "val_auc" and s["patience"] is None and s["restore_best"] is True
    assert s["precision"] == "fp32" and s["normalize"] == "dataset" and s["image_size"] == 28
    model, s, notes = recipes.benchmark_recipe("resnet18_report", "multi-class")
    assert model == "resnet18" and s["balanced"] is True and s["augment"] is True
    assert (s["optimizer"], s["lr"], s["batch_size"], s["epochs"], s["patience"], s["scheduler"], s["normalize"]) == (
        "adagrad",
        0.0005,
        64,
        200,
        20,
        "plateau",
        "dataset",
    )
    _, s, notes = recipes.benchmark_recipe("resnet18_report", "multi-label, binary-class")
    assert s["balanced"] is False and "multi-label" in notes[0]
    model, s, _ = recipes.benchmark_recipe("simplecnn_report", "binary-class")
    assert model == "simplecnn" and (s["batch_norm"], s["dropout"], s["epochs"], s["patience"]) == (True, False, 30, 5)
    budget = recipes.Budget(train_size=100, medmnist_epochs=4)
    _, s, _ = recipes.benchmark_recipe("resnet18_medmnist", "multi-class", budget)
    assert s["train_size"] == 100 and s["scheduler_kwargs"]["milestones"] == [2, 3]
    assert not budget.is_full() and recipes.Budget(pretrained=True).is_full()
    assert budget.departures() == ["train_size 100 (recipe: all)", "medmnist_epochs 4 (recipe: 100)"]
    assert recipes.Budget(report_image_size=32).departures() == ["report_image_size 32 (recipe: 224)"]
    with pytest.raises(ValueError, match="valid: simplecnn_report"):
        recipes.benchmark_recipe("resnet19", "multi-class")


def test_methods_are_checked():
    assert recipes.check_methods(None) == ["simplecnn_report", "resnet18_medmnist", "resnet18_report"]
    assert recipes.check_methods("resnet18_report, simplecnn_report") == ["resnet18_report", "simplecnn_report"]
    with pytest.raises(ValueError, match="'alexnet'.*valid: simplecnn_report, resnet18_medmnist, resnet18_report"):
        recipes.check_methods(["alexnet"])
    with pytest.raises(ValueError, match="none given"):
        recipes.check_methods([])


def test_budget_from_profile_parameters():
    b = recipes.Budget.from_params({"train_size": 200, "val_size": None, "report_image_size": 32, "flags": "all"})
    assert b == recipes.Budget(train_size=200, report_image_size=32)
    assert isinstance(pd.DataFrame([b.__dict__]), pd.DataFrame)


def _scored(seed: int, acc: float, auc: float):
    from types import SimpleNamespace

    return SimpleNamespace(seed=seed, test={"accuracy": acc, "auc": auc})


def test_against_published_is_a_test_over_the_seeds_not_two_numbers():
    """Notebooks 03 and 07 (issue 20): a configuration's test ACC/AUC over its seeds against MedMNIST v2's
    ResNet-18 (28). Clearly above on both metrics -> above; a mean above the published value whose seeds
    straddle it -> cannot tell; one seed -> cannot tell (one seed); MNIST has no published row."""
    pub = medmnist_compare.published("pneumoniamnist")
    above = [_scored(s, pub["acc"] + 0.030 + 0.001 * s, pub["auc"] + 0.020 + 0.001 * s) for s in range(4)]
    straddle = [_scored(s, pub["acc"] + d, pub["auc"] + d) for s, d in enumerate((0.04, -0.03, 0.01))]
    t = medmnist_compare.against_published(
        {"tuned": above, "straddling": straddle, "single": above[:1]}, "pneumoniamnist", "quick profile"
    )
    verdicts = dict(zip(t["method"], t["verdict"], strict=True))
    assert verdicts == {
        "tuned": medmnist_compare.ABOVE,
        "straddling": medmnist_compare.CANNOT_TELL,
        "single": medmnist_compare.ONE_SEED,
    }
    row = t[t["method"] == "tuned"].iloc[0]
    assert row["test ACC"] == pytest.approx(np.mean([r.test["accuracy"] for r in above]))
    assert row["ResNet-18 (28) AUC"] == pub["auc"]
    assert t.attrs["family"] == 4  # two metrics of the two configurations with more than one seed
    assert medmnist_compare.against_published({"tuned": above}, "mnist", "quick profile") is None


def test_against_published_refuses_a_run_not_scored_on_test():
    from types import SimpleNamespace

    with pytest.raises(ValueError, match="not scored on the test split"):
        medmnist_compare.against_published({"x": [SimpleNamespace(seed=1, test=None)]}, "breastmnist", "quick")

"""dive.learning: did every model learn? One row per configuration against its majority-class rate + 5 points and an
AUC of 0.80, a one-sample test over the seeds each, the row's two tests Holm-corrected together; and the report's
table under the Claims."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import scipy.stats as st

from dive import learning, metrics, stats
from dive.outputs import Outputs
from dive.report import assembly

KIND = {"synthetic": False, "device": "cpu", "seed": 22}  # the test's own numbers, written as a real run would be


def _val(y: np.ndarray, correct: float | None, rng) -> dict:
    """dive.metrics.evaluate on binary labels ``y`` for predictions right on a ``correct`` share of the images
    (their probabilities on the predicted side of 0.5); ``None``: always the majority class, ranked at random."""
    n = len(y)
    if correct is None:
        pred, pos = np.zeros(n, dtype=int), rng.uniform(0.05, 0.45, n)
    else:
        pred = y.copy()
        wrong = rng.choice(n, size=round((1 - correct) * n), replace=False)
        pred[wrong] = 1 - pred[wrong]
        pos = np.where(pred == 1, rng.uniform(0.55, 0.95, n), rng.uniform(0.05, 0.45, n))
    return metrics.evaluate(y, np.stack([1 - pos, pos], axis=1), task="binary-class")


def _notebook(tmp_path, stem: str, configs: dict[str, list[float | None]], y: np.ndarray) -> Outputs:
    """A notebook's outputs with one run per seed and share of right answers (:func:`_val`)."""
    out = Outputs(tmp_path / "reports" / "quick" / stem, notebook=stem, profile="quick", **KIND, dataset="breastmnist")
    rng = np.random.default_rng(0)
    for name, seeds in configs.items():
        for seed, correct in enumerate(seeds, 22):
            params = {"data": {"dataset": "breastmnist", "split": "report", "sizes": [437, 109, 156]}}
            out.add_run(name, "alexnet", params, val=_val(y, correct, rng), seed=seed)
    out.write()
    return out


@pytest.fixture
def labels() -> np.ndarray:
    return np.array([0] * 80 + [1] * 20)  # majority rate 0.80, accuracy bar 0.85


def test_a_run_records_the_majority_rate_of_its_validation_images(tmp_path, labels):
    out = _notebook(tmp_path, "04_x", {"a": [0.9]}, labels)
    run = out.runs[0]
    assert run["val_majority_rate"] == pytest.approx(0.80) and run["val_images"] == len(labels)
    out.add_run("b", "alexnet", {}, val={"accuracy": 0.9, "auc": 0.9})  # scores without them: recorded as unknown
    assert out.runs[-1]["val_majority_rate"] is None and out.runs[-1]["val_images"] is None
    with pytest.raises(ValueError, match=r"run 'c' val\['majority_rate'\]"):
        out.add_run("c", "alexnet", {}, val={"accuracy": 0.9, "auc": 0.9, "majority_rate": 80.0})
    for bad in (0.5, 0, float("nan"), float("inf"), "78"):
        with pytest.raises(ValueError, match=r"run 'd' val\['n'\] must be a positive whole number"):
            out.add_run("d", "alexnet", {}, val={"accuracy": 0.9, "auc": 0.9, "n": bad})
    assert out.add_run("e", "alexnet", {}, val={"accuracy": 0.9, "auc": 0.9, "n": 78.0})["val_images"] == 78


def test_learned_did_not_learn_cannot_tell_and_one_seed(tmp_path, labels):
    out = _notebook(
        tmp_path,
        "04_x",
        {
            "learns": [0.95, 0.96, 0.94],  # well above the bar 0.85, an AUC near 0.95
            "majority": [None] * 5,  # always the majority class: accuracy 0.80, AUC about 0.5
            "noisy": [0.97, 0.80, 0.88],  # mean above the bar, the seeds too far apart to show it
            "single": [0.97],
        },
        labels,
    )
    table = learning.learning_table({"04_x": out.as_dict()}).set_index("configuration")
    assert table.loc["learns", "verdict"] == learning.LEARNED
    # always the majority class: its accuracy sits on the majority rate in every seed (the exact sign-flip test
    # cannot show five equal values below the bar), its AUC is shown below 0.80: did not learn
    assert table.loc["majority", "verdict"] == learning.NOT_LEARNED and table.loc["majority", "AUC"] == "below"
    assert table.loc["noisy", "verdict"] == learning.CANNOT_TELL and table.loc["noisy", "means at the bars"] == "yes"
    assert table.loc["single", "verdict"] == stats.ONE_SEED and table.loc["single", "val accuracy [95 % interval]"] == (
        "0.970 (one seed)"
    )
    assert list(table["majority rate"]) == pytest.approx([0.80] * 4)
    assert list(table["accuracy bar"]) == pytest.approx([0.85] * 4)
    # the count the scores come from (evaluate's n), not the size the run's data record names
    assert (table["validation images"] == len(labels)).all()
    # the row's family: its two one-sample t-tests, Holm-corrected together
    acc = [g for g in out.groups() if g["name"] == "noisy"][0]["values"]
    raw = [st.ttest_1samp(acc["val_accuracy"], 0.85).pvalue, st.ttest_1samp(acc["val_auc"], 0.80).pvalue]
    assert [table.loc["noisy", "p accuracy (Holm)"], table.loc["noisy", "p AUC (Holm)"]] == pytest.approx(
        stats.holm(raw)
    )
    assert learning.summary(table.reset_index()) == "1 of 4 configurations learned, 1 cannot tell, 1 " + (
        f"{stats.ONE_SEED}, 1 did not learn"
    )


def test_a_configuration_without_a_recorded_majority_rate_is_left_out_not_guessed(tmp_path, labels):
    out = _notebook(tmp_path, "04_x", {"learns": [0.95, 0.96, 0.94]}, labels)
    m = out.as_dict()
    old = {**m, "runs": [{**r, "val_majority_rate": None} for r in m["runs"]]}  # a metrics.json from before
    table = learning.learning_table({"04_x": m, "05_y": {**old, "notebook": "05_y"}})
    assert list(table["notebook"]) == ["04_x"]
    assert table.attrs["left_out"] == [("05_y", "learns")] and "Left out: 1 configuration(s)" in table.attrs["caption"]
    # a run recorded before val_images existed: the validation size its data record names
    before = {**m, "runs": [{k: v for k, v in r.items() if k != "val_images"} for r in m["runs"]]}
    assert learning.learning_table({"04_x": before})["validation images"].tolist() == [109]
    unknown = {**m, "runs": [{**r, "val_images": None, "params": {}} for r in m["runs"]]}
    assert learning.learning_table({"04_x": unknown})["validation images"].isna().all()  # not guessed
    values_only = Outputs(tmp_path / "v", notebook="01_v", profile="quick", **KIND, dataset="mnist")
    values_only.add_group("table5", values=pd.DataFrame({"seed": [22, 23], "val_accuracy": [0.9, 0.91]}))
    assert learning.learning_table({"01_v": values_only.as_dict()}).empty  # no AUC, no runs: not a row
    with pytest.raises(ValueError, match="margin"):
        learning.learning_table({}, margin=5)


def test_the_report_shows_the_table_under_the_claims_and_writes_its_csv(tmp_path, labels):
    from test_report_build import write_notebook, write_sections

    nbdir = tmp_path / "notebooks"
    nbdir.mkdir()
    write_sections(nbdir)
    write_notebook(nbdir / "04_alexnet_balancing.ipynb", "AlexNet and class balancing", ['profile = "quick"'])
    _notebook(
        tmp_path,
        "04_alexnet_balancing",
        {"alexnet_balanced_fixed": [0.95, 0.96, 0.94], "alexnet_unbalanced_fixed": [None] * 3},
        labels,
    )
    page = assembly.assemble("quick", notebooks_dir=nbdir, reports_dir=tmp_path / "reports").read_text()
    page = page.replace("<wbr>", "")
    claims_part = page[page.index('id="claims"') : page.index('id="discussion"')]
    assert 'id="learning"' in claims_part and "Did every model learn?" in claims_part
    # per notebook the counts, and by name the configuration that did not learn
    assert "Did not learn: alexnet_unbalanced_fixed (04_alexnet_balancing)." in claims_part
    counts = re.search(r'id="learning".*?<tbody>(.*?)</tbody>', claims_part, flags=re.S).group(1)
    assert re.findall(r"<td[^>]*>(.*?)</td>", counts) == ["04_alexnet_balancing", "2", "1", "1"]
    details = page[page.index('id="learning-details"') : page.index('id="how-made"')]
    assert "alexnet_balanced_fixed" in details and "0.950 [" in details  # every configuration, with intervals
    # the columns' note goes with the table that has them, not with the counts under the Claims
    assert "means at the bars" in details and "means at the bars" not in claims_part
    holds = page[page.index('id="what-holds-up"') : page.index('<nav class="toc">')]
    assert "1 of 2 configurations learned, 1 did not learn" in holds
    csv = pd.read_csv(tmp_path / "reports" / "quick" / "claims" / "learning.csv")
    assert list(csv["verdict"]) == [learning.LEARNED, learning.NOT_LEARNED]

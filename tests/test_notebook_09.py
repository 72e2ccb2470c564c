"""Notebook 09 (every MedMNIST 2D dataset against MedMNIST v2's published baselines), run alone.

* smoke profile: two synthetic data sets of different task types (binary PneumoniaMNIST, multi-label
  ChestMNIST), the three recipes; the comparison table beside the published values, the verdicts, the
  heatmap, and a value that was learned;
* ``flags: all`` on a root that holds one file: the others get "not available" rows and the notebook goes on;
* a flag asked for by name whose file is absent stops the notebook before any training, naming the file;
* real data (``DIVE_DATA``): PneumoniaMNIST and BreastMNIST with tiny budgets.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from dive import medmnist_compare, reference
from dive.report.build import NotebookFailed, run_notebooks

pytestmark = pytest.mark.notebooks
NB = "09_medmnist_benchmark"


def _run(reports: Path, profile: str = "smoke", **overrides) -> Path:
    run_notebooks(profile, reports_dir=reports, only=["09"], overrides=overrides or None, log=lambda _: None)
    return reports / profile / NB


def _metrics(out: Path) -> dict:
    return json.loads((out / "metrics.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def smoke(smoke_report) -> Path:
    """The notebook as the session's smoke report ran it (run once for all the notebook tests)."""
    return smoke_report / NB


def test_smoke_comparison_table_sets_this_run_beside_the_published_values(smoke):
    comp = pd.read_csv(smoke / "tables" / "medmnist_comparison.csv")
    assert list(zip(comp["dataset"], comp["metric"], strict=True)) == [
        ("pneumoniamnist", "ACC"),
        ("pneumoniamnist", "AUC"),
        ("chestmnist", "ACC"),
        ("chestmnist", "AUC"),
    ]
    assert (comp["status"] == "this run (shortened run, smoke profile)").all()
    for label in ("SimpleCNN (report)", "ResNet-18 (28), MedMNIST recipe", "ResNet-18, report recipe"):
        values = comp[f"{label} (this run)"]
        assert values.between(0, 1).all(), (label, values.tolist())
    published = reference.MEDMNIST_V2_2D.set_index(["dataset", "method"])
    for _, row in comp.iterrows():
        for method in reference.MEDMNIST_V2_METHODS:
            assert row[f"{method} (published)"] == published.loc[(row["dataset"], method), row["metric"].lower()]
    md = (smoke / "tables" / "medmnist_comparison.md").read_text(encoding="utf-8")
    assert md.startswith("SYNTHETIC DATA") and "10.1038/s41597-022-01721-8" in md
    assert (smoke / "tables" / "medmnist_comparison.original.csv").stat().st_size > 0


def test_smoke_verdicts_runs_and_a_learned_value(smoke):
    verdicts = pd.read_csv(smoke / "tables" / "verdicts.csv")
    assert len(verdicts) == 2 * 3
    for _, v in verdicts.iterrows():
        pub = medmnist_compare.published(v["dataset"])
        assert v["Δ ACC"] == pytest.approx(v["test ACC"] - pub["acc"], abs=1e-4)
        assert v["n_seeds"] == 1 and v["verdict"] == "cannot tell (one seed)"  # one run cannot tell
    m = _metrics(smoke)
    assert m["synthetic"] is True and m["dataset"] == ["pneumoniamnist", "chestmnist"]
    runs = {r["name"]: r for r in m["runs"]}
    assert len(runs) == 6
    medmnist = runs["chestmnist_resnet18_medmnist_seed22"]["params"]
    assert (medmnist["model"], medmnist["monitor"], medmnist["scheduler"]) == ("resnet18_28", "val_auc", "multistep")
    # learned: the report's SimpleCNN separates the synthetic PneumoniaMNIST classes after one epoch on 64 images
    # (chance is an AUC of 0.5), scored on all 200 test images of the official-format file
    learned = runs["pneumoniamnist_simplecnn_report_seed22"]["test"]
    assert learned["auc"] > 0.9, learned
    table = pd.read_csv(smoke / "tables" / "runs.csv")
    assert (table["test_images"] == 200).all()
    assert any("multi-label" in n and "class balancing" in n for n in m["notes"]), m["notes"]
    assert any(n.startswith("SHORTENED RUNS (smoke profile)") for n in m["notes"]), m["notes"]
    png = smoke / "figures" / "difference_to_resnet18_28.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000


def test_flags_all_goes_on_without_absent_files(tmp_path):
    from dive.synthetic import write_synthetic_root

    root = write_synthetic_root(
        tmp_path / "data", datasets=("breastmnist",), sizes={"train": 60, "val": 30, "test": 40}
    )
    out = _run(tmp_path / "reports", flags="all", data_root=str(root), methods=["simplecnn_report"])
    verdicts = pd.read_csv(out / "tables" / "verdicts.csv")
    assert len(verdicts) == 12
    absent = verdicts[verdicts["dataset"] != "breastmnist"]
    assert (absent["verdict"].str.startswith("not available: place ")).all()
    derma = absent[absent["dataset"] == "dermamnist"]["verdict"].iloc[0]
    assert str(root / "medmnist" / "dermamnist.npz") in derma and "0744692d530f8e62ec473284d019b0c7" in derma
    breast = verdicts[verdicts["dataset"] == "breastmnist"].iloc[0]
    assert not math.isnan(breast["test ACC"]) and breast["method"] == "SimpleCNN (report)"
    assert [r["name"] for r in _metrics(out)["runs"]] == ["breastmnist_simplecnn_report_seed22"]


def test_a_missing_flag_asked_for_by_name_stops_before_training(tmp_path):
    from dive.synthetic import write_synthetic_root

    root = write_synthetic_root(
        tmp_path / "data", datasets=("breastmnist",), sizes={"train": 20, "val": 10, "test": 10}
    )
    with pytest.raises(NotebookFailed) as err:
        _run(tmp_path / "reports", flags=["breastmnist", "octmnist"], data_root=str(root))
    assert err.value.ename == "DatasetFileError"
    assert str(root / "medmnist" / "octmnist.npz") in err.value.evalue
    metrics = tmp_path / "reports" / "smoke" / NB / "metrics.json"
    assert not metrics.exists() or _metrics(metrics.parent)["runs"] == []


@pytest.mark.realdata
def test_real_pneumonia_and_breast_with_tiny_budgets(real_root, tmp_path):
    from conftest import need_real_file

    for f in ("pneumoniamnist", "breastmnist"):
        need_real_file(real_root, f"medmnist/{f}.npz")
    # the 28-px ResNet (stride-1 stem: 28x28 feature maps) costs minutes on a shared CPU even for one epoch;
    # it runs in the smoke test above. Here: the real files through the two cheaper recipes.
    out = _run(
        tmp_path / "reports",
        "quick",
        flags=["pneumoniamnist", "breastmnist"],
        data_root=str(real_root),
        methods=["simplecnn_report", "resnet18_report"],
        train_size=300,
        val_size=78,
        simplecnn_epochs=2,
        report_max_epochs=1,
        report_image_size=28,
        pretrained=False,
    )
    m = _metrics(out)
    assert m["synthetic"] is False
    verdicts = pd.read_csv(out / "tables" / "verdicts.csv")
    assert len(verdicts) == 2 * 2 and verdicts["budget"].eq("shortened run, quick profile").all()
    runs = pd.read_csv(out / "tables" / "runs.csv")
    # the complete official test splits: PneumoniaMNIST 624, BreastMNIST 156 images
    assert dict(zip(runs["dataset"], runs["test_images"], strict=True)) == {"pneumoniamnist": 624, "breastmnist": 156}
    assert runs["test_auc"].between(0, 1).all() and runs["test_acc"].between(0, 1).all()
    # PneumoniaMNIST's two classes are easy: two epochs on 300 images give a SimpleCNN a clearly useful AUC
    simple = runs[(runs["dataset"] == "pneumoniamnist") & (runs["method"] == "simplecnn_report")]
    assert simple["test_auc"].iloc[0] > 0.8

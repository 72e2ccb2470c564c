"""Notebooks 00-02 (datasets, SimpleCNN on MNIST, SimpleCNN on the medical dataset).

* Profiles: every profile resolves every parameter these notebooks declare; ``full`` holds the
  report's own settings (Table 5's grid, 30 epochs with early stopping).
* What each notebook leaves in the smoke report (``smoke_report`` fixture): the executed notebook
  without errors, its figures and tables (with the expected rows, and the original's values where
  the report has them) and a ``metrics.json`` with the schema, marked synthetic.
* Real data (``DIVE_DATA``, skipped without): ``01_mnist_simplecnn`` through the quick profile on a
  small budget reaches 97 % validation accuracy on MNIST; ``02_pathmnist_simplecnn`` on
  PneumoniaMNIST (PathMNIST's code path) beats the majority-class rate on validation.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from conftest import need_real_file
from notebook_checks import check_artifacts, executed_errors, metrics

from dive import profiles, reference
from dive.report.build import notebook_parameters, run_notebooks

pytestmark = pytest.mark.notebooks

REPO = Path(__file__).resolve().parent.parent
NB_DIR = REPO / "notebooks"

METRICS_KEYS = {"notebook", "profile", "dataset", "synthetic", "device", "seed", "git_commit", "seconds", "runs"}
RUN_KEYS = {"name", "model", "params", "epochs_run", "best_epoch", "val"}
VAL_KEYS = {"accuracy", "precision", "recall", "f1", "auc"}
SHARED = {"profile", "data_root", "seed", "device", "out_dir", "pretrained"}
# parameters whose None has a meaning (left null in the profiles): all images, the seed, a local Ray, `epochs`,
# `max_epochs`, "the study's run is the final one"
MAY_BE_NONE = {
    "train_size",
    "val_size",
    "split_seed",
    "ray_address",
    "improved_epochs",
    "improved_train_size",
    "final_train_size",
    "final_max_epochs",
    "final_patience",
}

# notebook -> ({table: expected rows}, [figures], number of runs, [tables with the original's values])
EXPECTED = {
    "00_datasets": (
        {
            "split_sizes": 2,
            "class_counts_mnist": 10,
            "class_counts_pathmnist": 9,
            "imbalance": 2,
            "class_mix": 4,
            "channel_stats": 4,
        },
        ["examples_mnist", "examples_pathmnist", "class_distribution_mnist", "class_distribution_pathmnist"],
        0,
        ["split_sizes"],
    ),
    "01_mnist_simplecnn": (
        # 5 trainings of the initial model cover the 3 + 3 + 4 settings; + ReLU + the improved model
        {
            "table5_mnist_hyperparameters": 10,
            "table5_per_seed": 10,
            "activation_relu_vs_leaky": 2,
            "activation_seeds": 2,
            "initial_vs_improved": 2,
            "improved_vs_report": 1,
        },
        ["lr_study_curves", "activation_curves", "fig6_initial_vs_improved"],
        7,
        ["table5_mnist_hyperparameters"],
    ),
    "02_pathmnist_simplecnn": (
        # the smoke profile runs each variant with 2 seeds
        {"simplecnn_variants": 3, "simplecnn_variants_seeds": 3},
        ["fig7_variants_curves"],
        6,
        [],
    ),
}
NOTEBOOKS = sorted(EXPECTED)


_metrics = metrics


def _fraction(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0.0 <= value <= 1.0


# --- profiles ------------------------------------------------------------------------------------


@pytest.mark.parametrize("profile", profiles.PROFILES)
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_profile_sets_every_parameter(profile, name, tmp_path, monkeypatch):
    monkeypatch.setattr(profiles, "_ensure_synthetic", lambda root: Path(root))  # no data written
    p = profiles.resolve(name, profile, out_dir=tmp_path)
    declared = set(notebook_parameters(NB_DIR / f"{name}.ipynb"))
    assert SHARED <= declared, f"{name}: parameters cell lacks {SHARED - declared}"
    own = declared - SHARED - {"data_flag"}
    missing = sorted(k for k in own - MAY_BE_NONE if p.get(k) is None)
    assert not missing, f"{name} ({profile}): the profile sets no value for {missing}"


def test_full_profile_holds_the_reports_settings(tmp_path):
    p = profiles.resolve("01_mnist_simplecnn", "full", out_dir=tmp_path)
    assert {k: p[k] for k in ("batch_size", "lr", "epochs")} == reference.MNIST_DEFAULTS
    grid = reference.TABLE5_MNIST.groupby("study", sort=False)["value"].apply(list).to_dict()
    assert list(p.lr_grid) == grid["learning_rate"]
    assert list(p.batch_size_grid) == grid["batch_size"]
    assert list(p.epochs_grid) == grid["epochs"]
    assert p.get("train_size") is None and p.get("val_size") is None
    q = profiles.resolve("02_pathmnist_simplecnn", "full", out_dir=tmp_path)
    assert q.epochs == reference.PATHMNIST_SIMPLECNN["epochs"] and q.patience >= 1
    assert q.data_flag == "pathmnist" and q.get("train_size") is None


def test_unknown_names_fail_at_once(tmp_path):
    with pytest.raises(ValueError, match="pathmnist"):
        profiles.resolve("02_pathmnist_simplecnn", "quick", data_flag="pathmnist3", out_dir=tmp_path)
    with pytest.raises(ValueError, match="smoke, quick, full"):
        profiles.resolve("01_mnist_simplecnn", "fast", out_dir=tmp_path)


# --- smoke report ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_smoke_notebook_ran_without_errors(smoke_report, name):
    nb, errors = executed_errors(smoke_report, name)
    assert not errors, f"{name}: error outputs {[(e['ename'], e['evalue']) for e in errors]}"
    assert nb["metadata"]["papermill"]["parameters"]["profile"] == "smoke"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_smoke_notebook_artifacts(smoke_report, name):
    tables, figures, _, with_original = EXPECTED[name]
    m = check_artifacts(smoke_report, name, tables, figures, with_original, METRICS_KEYS)
    assert m["seed"] == 22
    assert any(n.startswith("Profile smoke") for n in m.get("notes", [])), "the notebook says what its profile shrank"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_smoke_notebook_runs_have_the_schema(smoke_report, name):
    _, _, n_runs, _ = EXPECTED[name]
    runs = _metrics(smoke_report, name)["runs"]
    assert len(runs) == n_runs, [r["name"] for r in runs]
    for run in runs:
        assert RUN_KEYS <= set(run), f"{run['name']}: lacks {RUN_KEYS - set(run)}"
        assert VAL_KEYS <= set(run["val"]), run["val"]
        assert _fraction(run["val"]["accuracy"]), run["val"]
        assert all(v is None or _fraction(v) for v in run["val"].values()), run["val"]
        assert isinstance(run["epochs_run"], int) and run["epochs_run"] >= 1
        assert isinstance(run["best_epoch"], int) and 1 <= run["best_epoch"] <= run["epochs_run"]
        assert all(_fraction(h["train_acc"]) and _fraction(h["val_acc"]) for h in run["history"])


def test_smoke_table5_reuses_runs(smoke_report):
    """Settings differing only in epochs are read from one longer run, at their own epoch."""
    out = smoke_report / "01_mnist_simplecnn"
    t5 = pd.read_csv(out / "tables" / "table5_mnist_hyperparameters.csv")
    assert list(t5["study"]) == ["learning_rate"] * 3 + ["batch_size"] * 3 + ["epochs"] * 4
    assert t5[["train_acc", "val_acc"]].apply(lambda c: c.between(0, 1)).all().all()
    per_seed = pd.read_csv(out / "tables" / "table5_per_seed.csv")
    epochs_rows = per_seed[per_seed["study"] == "epochs"]
    assert epochs_rows["from_run"].nunique() == 1
    runs = {r["name"]: r for r in _metrics(smoke_report, "01_mnist_simplecnn")["runs"]}
    for row in epochs_rows.itertuples():
        assert runs[row.from_run]["history"][row.at_epoch - 1]["val_acc"] == pytest.approx(row.val_acc)


def test_smoke_variants_learn_and_have_seed_statistics(smoke_report):
    """Only a learning model beats the majority-class rate of the synthetic data (whose classes are learnable);
    two seeds per variant give groups of n = 2 and a verdict per variant."""
    import re

    m = _metrics(smoke_report, "02_pathmnist_simplecnn")
    note = next(n for n in m["notes"] if "Majority-class rate on validation" in n)
    majority = float(re.search(r"Majority-class rate on validation: ([\d.]+)%", note).group(1)) / 100
    best = max(r["val"]["accuracy"] for r in m["runs"])
    assert best > majority + 0.1, (best, majority)
    groups = {g["name"]: g for g in m["groups"]}
    assert {groups[n]["n"] for n in ("simplecnn_bn", "simplecnn_bn_dropout", "simplecnn_dropout")} == {2}
    assert sorted(r["seed"] for r in m["runs"] if r["name"] == "simplecnn_bn") == [22, 23]
    t = pd.read_csv(smoke_report / "02_pathmnist_simplecnn" / "tables" / "simplecnn_variants_seeds.csv")
    assert set(t["n"]) == {2} and t["verdict"].iloc[-1] == "reference"
    assert set(t["verdict"]) <= {
        "reference",
        "within noise",
        "BN + dropout better",
        "dropout only better",
        "BN only better",
    }


def test_smoke_table5_learns(smoke_report):
    t5 = pd.read_csv(smoke_report / "01_mnist_simplecnn" / "tables" / "table5_mnist_hyperparameters.csv")
    default = t5[(t5["study"] == "learning_rate") & (t5["value"] == 0.001)]["val_acc"].iloc[0]
    assert default > 0.5  # ten synthetic classes: chance is 0.1


def test_smoke_variants_table_has_val_and_test(smoke_report):
    t = pd.read_csv(smoke_report / "02_pathmnist_simplecnn" / "tables" / "simplecnn_variants.csv")
    assert list(t["variant"]) == ["BN + dropout", "dropout only", "BN only"]
    assert list(t["batch_norm"]) == [True, False, True] and list(t["dropout"]) == [True, True, False]
    for split in ("val", "test"):
        assert t[f"{split}_accuracy"].between(0, 1).all()
    assert (t["best_epoch"] <= t["epochs_run"]).all()


# --- real data -------------------------------------------------------------------------------------


@pytest.mark.realdata
def test_real_mnist_simplecnn_reaches_97_percent(real_root, tmp_path):
    """Notebook 01 on 8,000 real MNIST images for the quick profile's 3 epochs: every model learns.

    The thresholds sit outside one run's noise. Measured with these settings (AMD EPYC Zen 4, AVX512-BF16,
    torch 2.14.1, fp32, seeds 22-26): the improved SimpleCNN reached 0.9825-0.9855 (mean 0.9845, sd 0.0012),
    so 0.97 is about 12 sd below its mean; the initial one 0.9695-0.9795 with LeakyReLU and 0.969-0.979 with
    ReLU (sd about 0.005), so 0.96 is over 3 sd below (normal approximation: under 0.1 % chance of a failure
    per model, under 1 % for the test). With 2 epochs, as before, the improved model's mean was 0.978 with
    sd 0.004 over seeds 22-29 (lowest 0.971): 0.97 was within its noise and one fresh clone failed at 0.9695.
    """
    need_real_file(real_root, "MNIST/raw/train-images-idx3-ubyte.gz")
    overrides = {
        "data_root": str(real_root),
        "train_size": 8000,
        "val_size": 2000,
        "epochs": 3,
        "lr_grid": [0.001],
        "batch_size_grid": [32],
        "epochs_grid": [3],
        "seeds": 1,
    }
    run_notebooks("quick", reports_dir=tmp_path, overrides=overrides, only=["01"], log=lambda s: None)
    m = _metrics(tmp_path / "quick", "01_mnist_simplecnn")
    assert m["synthetic"] is False and m["dataset"] == "mnist"
    runs = {r["model"] + ("_relu" if r["params"].get("activation") == "relu" else ""): r for r in m["runs"]}
    assert set(runs) == {"simplecnn_v1", "simplecnn_v1_relu", "simplecnn"}
    accs = {k: r["val"]["accuracy"] for k, r in runs.items()}
    print("real MNIST, 8,000 images, 3 epochs:", accs)
    assert accs["simplecnn"] >= 0.97, accs  # the improved SimpleCNN
    assert min(accs.values()) >= 0.96, accs  # the initial one, LeakyReLU and ReLU
    t5 = pd.read_csv(tmp_path / "quick" / "01_mnist_simplecnn" / "tables" / "table5_mnist_hyperparameters.csv")
    assert len(t5) == 3 and (t5["val_acc"] >= 0.96).all()


@pytest.mark.realdata
def test_real_medical_simplecnn_beats_majority(real_root, tmp_path):
    from dive import data
    from dive.metrics import majority_rate

    need_real_file(real_root, "medmnist/pneumoniamnist.npz")
    overrides = {
        "data_root": str(real_root),
        "data_flag": "pneumoniamnist",
        "train_size": 2000,
        "val_size": None,
        "epochs": 2,
        "patience": 1,
        "seeds": 1,
    }
    run_notebooks("quick", reports_dir=tmp_path, overrides=overrides, only=["02"], log=lambda s: None)
    m = _metrics(tmp_path / "quick", "02_pathmnist_simplecnn")
    assert m["synthetic"] is False and m["dataset"] == "pneumoniamnist"
    assert len(m["runs"]) == 3
    majority = majority_rate(data.load("pneumoniamnist", real_root).val.labels.numpy())
    best = max(r["val"]["accuracy"] for r in m["runs"])
    assert best > majority, (best, majority)
    assert all(_fraction(r["test"]["accuracy"]) for r in m["runs"])

"""Notebooks 03-08 (AlexNet / ResNet / Xception part of the report).

* What each notebook leaves in the smoke report (``smoke_report`` fixture): the executed notebook, its
  figures and tables (with the expected rows), and a ``metrics.json`` whose runs carry the schema.
* The ImageNet-weights path of ``03_resnet18_baseline``: ``pretrained=True`` loads a locally made weights
  file from the torch hub cache (``TORCH_HOME``), and fails early, naming the cache path, without it.
* Real data (``DIVE_DATA``): ``03_resnet18_baseline`` on BreastMNIST through the quick profile records a
  test AUC.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from dive.report.build import main as report_main

pytestmark = pytest.mark.notebooks

METRICS_KEYS = {"notebook", "profile", "dataset", "synthetic", "device", "seed", "git_commit", "seconds",
                "started", "finished", "notes", "tables", "figures", "runs"}
RUN_KEYS = {"name", "model", "params", "epochs_run", "best_epoch", "seconds_per_epoch", "val", "test", "history", "extra"}

# notebook -> ({table name: expected rows}, [figure names], number of runs, tables that carry the original's values)
EXPECTED = {
    "03_resnet18_baseline": (
        {"resnet18_baseline": 2},
        ["fig08_confusion_matrix", "confusion_matrix_test", "learning_curves"],
        1, ["resnet18_baseline"]),
    "04_alexnet_balancing": (
        {"table1_balancing": 4},
        ["fig09_confusion_balancing", "confusion_balancing_early_stopping", "learning_curves_balancing"],
        4, ["table1_balancing"]),
    "05_alexnet_augmentation": (
        {"table2_augmentation": 4},
        ["fig10_confusion_augmentation_fixed", "fig11_confusion_augmentation_early_stopping",
         "learning_curves_augmentation"],
        4, ["table2_augmentation"]),
    "06_alexnet_batchnorm": (
        {"table3_batchnorm": 3},
        ["learning_curves_batchnorm"],
        3, ["table3_batchnorm"]),
    "07_resnet_tuning": (
        {"optimizers": 4, "scheduler": 2, "normalisation": 2, "table4_hyperparameters": 11, "resnet_summary": 3,
         "ensemble": 3},
        ["optimizer_curves", "fig12_resnet18_first", "fig13_resnet18_optimised", "fig14_deep_model",
         "confusion_ensemble_test"],
        10, ["optimizers", "table4_hyperparameters", "ensemble"]),
    "08_xception": (
        {"xception_results": 1, "xception_epoch_time": 4},
        ["fig15_xception_learning_curves"],
        1, ["xception_epoch_time"]),
}
NOTEBOOKS = sorted(EXPECTED)


def _fraction_or_none(value) -> bool:
    return value is None or (isinstance(value, (int, float)) and 0.0 <= value <= 1.0)


def _metrics(base: Path, name: str) -> dict:
    return json.loads((base / name / "metrics.json").read_text(encoding="utf-8"))


# --- smoke report ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", NOTEBOOKS)
def test_smoke_notebook_ran_without_errors(smoke_report, name):
    executed = smoke_report / "executed" / f"{name}.ipynb"
    assert executed.is_file() and executed.stat().st_size > 0
    nb = json.loads(executed.read_text(encoding="utf-8"))
    errors = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, f"{name}: error outputs {[(e['ename'], e['evalue']) for e in errors]}"
    # papermill injected the profile's values for this notebook
    injected = nb["metadata"]["papermill"]["parameters"]
    assert injected["profile"] == "smoke" and injected["pretrained"] is False


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_smoke_notebook_artifacts(smoke_report, name):
    tables, figures, n_runs, with_original = EXPECTED[name]
    out = smoke_report / name
    m = _metrics(smoke_report, name)
    assert METRICS_KEYS <= set(m), f"{name}: metrics.json lacks {METRICS_KEYS - set(m)}"
    assert m["notebook"] == name and m["profile"] == "smoke" and m["synthetic"] is True
    assert {t["name"] for t in m["tables"]} >= set(tables)
    assert {f["name"] for f in m["figures"]} >= set(figures)
    for table, rows in tables.items():
        csv, md = out / "tables" / f"{table}.csv", out / "tables" / f"{table}.md"
        assert csv.stat().st_size > 0 and md.stat().st_size > 0, f"{name}: {table} is empty"
        assert len(pd.read_csv(csv)) == rows, f"{name}: {table} should have {rows} rows"
        assert "SYNTHETIC DATA" in md.read_text(encoding="utf-8")
    for table in with_original:
        assert (out / "tables" / f"{table}.original.csv").stat().st_size > 0, f"{name}: {table} lacks the original's values"
    for fig in figures:
        png = out / "figures" / f"{fig}.png"
        assert png.stat().st_size > 1000 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{name}: {fig}"
    # every notebook says where its profile departs from the report's settings
    assert any("departs from the report's settings" in n for n in m["notes"]), m["notes"]


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_smoke_notebook_runs_have_the_schema(smoke_report, name):
    _, _, n_runs, _ = EXPECTED[name]
    runs = _metrics(smoke_report, name)["runs"]
    assert len(runs) == n_runs, [r["name"] for r in runs]
    for run in runs:
        assert RUN_KEYS <= set(run), f"{run['name']}: lacks {RUN_KEYS - set(run)}"
        assert isinstance(run["val"]["accuracy"], float) and 0.0 <= run["val"]["accuracy"] <= 1.0
        assert all(_fraction_or_none(v) for v in run["val"].values()), run["val"]
        if run["test"] is not None:
            assert all(_fraction_or_none(v) for v in run["test"].values()), run["test"]
        if run["extra"].get("kind") == "ensemble":
            continue
        assert isinstance(run["epochs_run"], int) and run["epochs_run"] >= 1
        assert isinstance(run["best_epoch"], int) and 1 <= run["best_epoch"] <= run["epochs_run"]
        assert isinstance(run["seconds_per_epoch"], float) and run["seconds_per_epoch"] > 0
        assert len(run["history"]) == run["epochs_run"]
        assert run["params"]["pretrained"] is False  # smoke never loads weights


def test_smoke_resnet_tuning_records_the_ensemble_and_the_substitution(smoke_report):
    m = _metrics(smoke_report, "07_resnet_tuning")
    ensembles = [r for r in m["runs"] if r["extra"].get("kind") == "ensemble"]
    assert len(ensembles) == 1
    ens = ensembles[0]
    assert isinstance(ens["test"]["accuracy"], float) and 0.0 <= ens["test"]["accuracy"] <= 1.0
    members = ens["params"]["members"]
    assert len(members) == 2 and all(any(r["name"] == n and r["test"] for r in m["runs"]) for n in members)
    # smoke substitutes the deep model, and says so loudly
    assert any(n.startswith("SUBSTITUTION") and "ResNet152" in n for n in m["notes"]), m["notes"]
    table = pd.read_csv(smoke_report / "07_resnet_tuning" / "tables" / "resnet_summary.csv")
    assert table["model (this run)"].str.contains("SUBSTITUTE").any()
    optimizers = pd.read_csv(smoke_report / "07_resnet_tuning" / "tables" / "optimizers.csv")
    assert list(optimizers["optimizer"]) == ["sgd", "nadam", "adam", "adagrad"]
    assert optimizers["avg_loss (this run)"].notna().all()


def test_smoke_tables_follow_the_reports_rows(smoke_report):
    t1 = pd.read_csv(smoke_report / "04_alexnet_balancing" / "tables" / "table1_balancing.csv")
    assert list(zip(t1["balancing"], t1["early_stopping"])) == [(False, False), (True, False), (False, True), (True, True)]
    assert list(t1["val_acc (original)"]) == [0.8416, 0.8963, 0.8894, 0.9118]
    t2 = pd.read_csv(smoke_report / "05_alexnet_augmentation" / "tables" / "table2_augmentation.csv")
    assert list(t2["val_acc (original)"]) == [0.8963, 0.86, 0.9118, 0.9288]
    t3 = pd.read_csv(smoke_report / "06_alexnet_batchnorm" / "tables" / "table3_batchnorm.csv")
    assert list(t3["batch_norm"]) == [False, True, True] and list(t3["seed"]) == [22, 22, 23]
    t = pd.read_csv(smoke_report / "08_xception" / "tables" / "xception_epoch_time.csv")
    assert t["s_per_epoch"].iloc[-1] > 0 and t["setting"].iloc[-1].startswith("this run")


# --- ImageNet weights ------------------------------------------------------------------------

def _run_03(reports: Path, *params: str) -> int:
    args = ["--profile", "smoke", "--notebooks", "03", "--no-pdf", "--reports-dir", str(reports)]
    for i in range(0, len(params), 2):
        args += ["-p", params[i], params[i + 1]]
    return report_main(args)


@pytest.fixture
def offline_torch_home(tmp_path, monkeypatch):
    """An empty torch hub cache, and downloads that fail at once (a proxy that refuses connections)."""
    home = tmp_path / "torch-home"
    home.mkdir()
    monkeypatch.setenv("TORCH_HOME", str(home))
    for var in ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY"):
        monkeypatch.setenv(var, "http://127.0.0.1:9")
    for var in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(var, raising=False)
    return home


def test_pretrained_true_loads_cached_imagenet_weights(offline_torch_home, tmp_path):
    import torch
    import torchvision

    from dive.models import weights_cache_path

    path = Path(weights_cache_path("resnet18"))
    assert path.is_relative_to(offline_torch_home)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)  # ImageNet format, random values

    reports = tmp_path / "reports"
    assert _run_03(reports, "pretrained", "true") == 0
    m = _metrics(reports / "smoke", "03_resnet18_baseline")
    (run,) = m["runs"]
    assert run["params"]["pretrained"] is True
    assert not any("from scratch" in n for n in m["notes"]), m["notes"]
    executed = (reports / "smoke" / "executed" / "03_resnet18_baseline.ipynb").read_text(encoding="utf-8")
    assert f"resnet18: ImageNet weights from {path}" in executed


def test_pretrained_true_without_weights_fails_early_naming_the_cache_path(offline_torch_home, tmp_path, capsys):
    from dive.models import weights_cache_path

    path = weights_cache_path("resnet18")
    assert not Path(path).exists()
    reports = tmp_path / "reports"
    assert _run_03(reports, "pretrained", "true") != 0
    err = capsys.readouterr().err
    # python -m dive.report's preflight names the missing weights before the notebook starts
    assert "03_resnet18_baseline" in err and "resnet18 ImageNet weights: missing" in err
    assert path in err
    # it stopped before training: no run was recorded
    metrics = reports / "smoke" / "03_resnet18_baseline" / "metrics.json"
    assert not metrics.exists() or json.loads(metrics.read_text())["runs"] == []


# --- real data -------------------------------------------------------------------------------

@pytest.mark.realdata
def test_resnet18_baseline_on_real_breastmnist_records_a_test_auc(real_root, tmp_path):
    from conftest import need_real_file

    need_real_file(real_root, "medmnist/breastmnist.npz")
    reports = tmp_path / "reports"
    rc = report_main(["--profile", "quick", "--notebooks", "03", "--no-pdf", "--reports-dir", str(reports),
                      "-p", "data_flag", "breastmnist", "-p", "data_root", str(real_root),
                      "-p", "max_epochs", "2", "-p", "train_size", "300", "-p", "val_size", "100",
                      "-p", "test_size", "156", "-p", "image_size", "32"])
    assert rc == 0
    m = _metrics(reports / "quick", "03_resnet18_baseline")
    assert m["synthetic"] is False and m["dataset"] == "breastmnist"
    (run,) = m["runs"]
    auc = run["test"]["auc"]
    assert isinstance(auc, float) and not math.isnan(auc) and 0.0 <= auc <= 1.0
    assert run["epochs_run"] <= 2

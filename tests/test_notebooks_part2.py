"""Notebooks 03-08 (AlexNet / ResNet / Xception part of the report).

* What each notebook leaves in the smoke report (``smoke_report`` fixture): the executed notebook, its
  figures and tables (with the expected rows; the report's tables from the first seed, and a table over
  the seeds for every comparison), and a ``metrics.json`` whose runs carry the schema: one run per
  configuration and seed of the profile, grouped by run name under the names ``dive.claims.GROUPS`` reads.
* Learning: where the smoke profile trains long enough, a run's training accuracy beats the majority-class
  rate of the (learnable) synthetic data, which only a learning model does.
* The ImageNet-weights path of ``03_resnet18_baseline``: ``pretrained=True`` loads a locally made weights
  file from the torch hub cache (``TORCH_HOME``), and fails early, naming the cache path, without it.
* Real data (``DIVE_DATA``): ``03_resnet18_baseline`` on BreastMNIST through the quick profile records a
  test AUC.
"""

from __future__ import annotations

import json
import math
from fnmatch import fnmatchcase
from pathlib import Path

import pandas as pd
import pytest
from notebook_checks import check_artifacts, executed_errors, metrics
from test_outputs import TOP_KEYS

from dive import profiles
from dive.claims import GROUPS
from dive.experiment import seed_list
from dive.report.build import main as report_main

pytestmark = pytest.mark.notebooks

METRICS_KEYS = TOP_KEYS  # the metrics.json schema tests/test_outputs.py checks
RUN_KEYS = {
    "name",
    "model",
    "params",
    "epochs_run",
    "best_epoch",
    "seconds_per_epoch",
    "val",
    "val_majority_rate",  # what dive.learning sets each configuration's accuracy against
    "val_images",  # how many validation images those scores come from
    "test",
    "history",
    "extra",
}

# notebook -> ({table name: expected rows}, [figure names], runs per seed, tables that carry the original's values)
EXPECTED = {
    "03_resnet18_baseline": (
        {"resnet18_baseline": 2, "resnet18_baseline_seeds": 1, "class_mix": 2},
        ["fig08_confusion_matrix", "confusion_matrix_test", "learning_curves"],
        1,
        ["resnet18_baseline"],
    ),
    "04_alexnet_balancing": (
        {"table1_balancing": 4, "table1_balancing_seeds_fixed": 2, "table1_balancing_seeds_early_stopping": 2},
        ["fig09_confusion_balancing", "confusion_balancing_early_stopping", "learning_curves_balancing"],
        4,
        ["table1_balancing"],
    ),
    "05_alexnet_augmentation": (
        {"table2_augmentation": 4, "table2_augmentation_seeds_fixed": 2, "table2_augmentation_seeds_early_stopping": 2},
        [
            "fig10_confusion_augmentation_fixed",
            "fig11_confusion_augmentation_early_stopping",
            "learning_curves_augmentation",
        ],
        4,
        ["table2_augmentation"],
    ),
    "06_alexnet_batchnorm": (
        {"table3_batchnorm": 3, "table3_batchnorm_seeds": 2},
        ["learning_curves_batchnorm"],
        2,
        ["table3_batchnorm"],
    ),
    "07_resnet_tuning": (
        # tuned + 5 one-at-a-time variants + first + deep member 1, deep member 2 (other seeds), the ensemble, the final
        # run of the tuned recipe on more images (smoke sets final_train_size)
        {
            "optimizers": 4,
            "optimizers_seeds": 4,
            "scheduler": 2,
            "scheduler_seeds": 2,
            "normalisation": 2,
            "normalisation_seeds": 2,
            "table4_hyperparameters": 11,
            "resnet_summary": 3,
            "resnet_summary_seeds": 3,
            "ensemble": 3,
            "ensemble_seeds": 3,
        },
        [
            "optimizer_curves",
            "fig12_resnet18_first",
            "fig13_resnet18_optimised",
            "fig14_deep_model",
            "confusion_ensemble_test",
        ],
        11,
        ["optimizers", "table4_hyperparameters", "ensemble"],
    ),
    "08_xception": (
        {"xception_results": 1, "xception_epoch_time": 4, "xception_results_seeds": 2},
        ["fig15_xception_learning_curves"],
        1,
        ["xception_epoch_time"],
    ),
}
NOTEBOOKS = sorted(EXPECTED)
# notebook -> the accuracy (per epoch) that shows learning in its smoke runs: validation where the runs get that far,
# else training (03: 2 epochs, 08: 1 epoch). 04-06 train AlexNet from scratch for 1-2 epochs on 128 images, which
# does not learn (measured: 6-17 % against a majority rate of 19 %), so they have no such check.
LEARNING = {"03_resnet18_baseline": "train_acc", "07_resnet_tuning": "val_acc", "08_xception": "train_acc"}


def _seeds(name: str) -> list[int]:
    p = profiles.resolve(name, "smoke")
    return seed_list(p.get("seeds") or 1, first=p["seed"])


def _fraction_or_none(value) -> bool:
    return value is None or (isinstance(value, (int, float)) and 0.0 <= value <= 1.0)


_metrics = metrics


# --- smoke report ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_smoke_notebook_ran_without_errors(smoke_report, name):
    nb, errors = executed_errors(smoke_report, name)
    assert not errors, f"{name}: error outputs {[(e['ename'], e['evalue']) for e in errors]}"
    # papermill injected the profile's values for this notebook
    injected = nb["metadata"]["papermill"]["parameters"]
    assert injected["profile"] == "smoke" and injected["pretrained"] is False


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_smoke_notebook_artifacts(smoke_report, name):
    tables, figures, _, with_original = EXPECTED[name]
    m = check_artifacts(smoke_report, name, tables, figures, with_original, METRICS_KEYS)
    # every notebook says where its profile departs from the report's settings
    assert any("departs from the report's settings" in n for n in m["notes"]), m["notes"]


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_smoke_notebook_runs_have_the_schema(smoke_report, name):
    _, _, per_seed, _ = EXPECTED[name]
    seeds = _seeds(name)
    runs = _metrics(smoke_report, name)["runs"]
    assert len(runs) == per_seed * len(seeds), [(r["name"], r["seed"]) for r in runs]
    assert not any("_seed" in r["name"] for r in runs), "the seed is in the config, not in the run name"
    for run in runs:
        assert RUN_KEYS <= set(run), f"{run['name']}: lacks {RUN_KEYS - set(run)}"
        assert isinstance(run["val"]["accuracy"], float) and 0.0 <= run["val"]["accuracy"] <= 1.0
        assert all(_fraction_or_none(v) for v in run["val"].values()), run["val"]
        assert 0.0 < run["val_majority_rate"] < 1.0, run["name"]  # scored by dive.metrics.evaluate: recorded
        assert isinstance(run["val_images"], int) and run["val_images"] >= 1, run["name"]  # the ensemble's too
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
    seeds = _seeds("07_resnet_tuning")
    ensembles = [r for r in m["runs"] if r["extra"].get("kind") == "ensemble"]
    assert [e["seed"] for e in ensembles] == seeds  # one ensemble per seed, recorded under that seed
    runs = {(r["name"], r["seed"]): r for r in m["runs"]}
    for ens in ensembles:
        assert isinstance(ens["test"]["accuracy"], float) and 0.0 <= ens["test"]["accuracy"] <= 1.0
        members = list(zip(ens["params"]["members"], ens["params"]["member_seeds"], strict=True))
        assert [n for n, _ in members] == ["resnet18_member1", "resnet18_member2"]
        # member 1 of this seed, member 2 with another seed (the same seed would repeat member 1 exactly)
        assert members[0][1] == ens["seed"] and members[1][1] not in seeds
        assert all(runs[k]["test"] for k in members)
    # smoke substitutes the deep model, and says so loudly
    assert any(n.startswith("SUBSTITUTION") and "ResNet152" in n for n in m["notes"]), m["notes"]
    table = pd.read_csv(smoke_report / "07_resnet_tuning" / "tables" / "resnet_summary.csv")
    assert table["model (this run)"].str.contains("SUBSTITUTE").any()
    optimizers = pd.read_csv(smoke_report / "07_resnet_tuning" / "tables" / "optimizers.csv")
    assert list(optimizers["optimizer"]) == ["sgd", "nadam", "adam", "adagrad"]
    assert optimizers["avg_loss (this run)"].notna().all()
    # the first seed's avg_loss is the tuned run's recorded val_loss (the loss of the kept epoch)
    tuned = runs[("resnet18_optimised", seeds[0])]
    avg_loss = optimizers.set_index("optimizer").loc["adagrad", "avg_loss (this run)"]
    assert avg_loss == pytest.approx(tuned["val_loss"], abs=1e-4)
    # a substitute has no original value beside it; the ensemble's is the report's 99.45 %
    summary = pd.read_csv(smoke_report / "07_resnet_tuning" / "tables" / "resnet_summary_seeds.csv").set_index("config")
    assert math.isnan(summary.loc["resnet18_member1", "original (single run)"])
    assert summary.loc["resnet18_optimised", "original (single run)"] == pytest.approx(99.1)
    ens = pd.read_csv(smoke_report / "07_resnet_tuning" / "tables" / "ensemble_seeds.csv").set_index("config")
    assert ens.loc["ensemble_resnet18_x2", "verdict"] == "reference"
    assert ens.loc["ensemble_resnet18_x2", "original (single run)"] == pytest.approx(99.45)


def test_smoke_tables_follow_the_reports_rows(smoke_report):
    t1 = pd.read_csv(smoke_report / "04_alexnet_balancing" / "tables" / "table1_balancing.csv")
    rows = list(zip(t1["balancing"], t1["early_stopping"], strict=True))
    assert rows == [(False, False), (True, False), (False, True), (True, True)]
    assert list(t1["val_acc (original)"]) == [0.8416, 0.8963, 0.8894, 0.9118]
    t2 = pd.read_csv(smoke_report / "05_alexnet_augmentation" / "tables" / "table2_augmentation.csv")
    assert list(t2["val_acc (original)"]) == [0.8963, 0.86, 0.9118, 0.9288]
    t3 = pd.read_csv(smoke_report / "06_alexnet_batchnorm" / "tables" / "table3_batchnorm.csv")
    assert list(t3["batch_norm"]) == [False, True, True]
    # models 1 and 2: the first seed; model 3: model 2's configuration with the second seed, if the profile has one
    seeds = _seeds("06_alexnet_batchnorm")
    assert list(t3["seed"].iloc[:2]) == [seeds[0]] * 2
    if len(seeds) > 1:
        assert t3["seed"].iloc[2] == seeds[1]
    else:
        assert math.isnan(t3["seed"].iloc[2]) and math.isnan(t3["val_acc (this run)"].iloc[2])
    t = pd.read_csv(smoke_report / "08_xception" / "tables" / "xception_epoch_time.csv")
    assert t["s_per_epoch"].iloc[-1] > 0 and t["setting"].iloc[-1].startswith("this run")


@pytest.mark.parametrize("name", sorted(set(GROUPS) & set(EXPECTED)))
def test_smoke_groups_are_the_claims_groups_with_one_run_per_seed(smoke_report, name):
    """The "Claims and evidence" page reads these groups: each name (or pattern) matches exactly one group,
    which holds every seed of the profile."""
    seeds = _seeds(name)
    # 07's second ensemble member runs with as many other seeds, those after the profile's last seed
    other_seeds = [max(seeds) + 1 + i for i in range(len(seeds))]
    groups = {g["name"]: g for g in _metrics(smoke_report, name)["groups"]}
    for pattern in GROUPS[name].values():
        hits = [g for g in groups if fnmatchcase(g, pattern)]
        assert len(hits) == 1, (pattern, sorted(groups))
        expected = other_seeds if pattern == "*_member2" else seeds
        assert groups[hits[0]]["seeds"] == expected, (hits[0], groups[hits[0]]["seeds"])


def test_smoke_balancing_seeds_tables(smoke_report):
    """Notebook 04 runs 2 seeds in smoke: each stopping rule's table pairs balanced with unbalanced over both
    seeds, beside the report's single values, with a verdict from an interval (not 'single run')."""
    seeds = _seeds("04_alexnet_balancing")
    assert len(seeds) == 2
    runs = _metrics(smoke_report, "04_alexnet_balancing")["runs"]
    for rule, original in (("fixed", (89.63, 84.16)), ("early_stopping", (91.18, 88.94))):
        t = pd.read_csv(smoke_report / "04_alexnet_balancing" / "tables" / f"table1_balancing_seeds_{rule}.csv")
        names = [f"alexnet_balanced_{rule}", f"alexnet_unbalanced_{rule}"]
        assert sorted(t["config"]) == sorted(names)
        t = t.set_index("config")
        assert list(t.loc[names, "original (single run)"]) == pytest.approx(original)
        assert list(t.loc[names, "n"]) == [2, 2]
        assert t.loc[names[1], "verdict"] == "reference"
        assert t.loc[names[0], "verdict"] in ("within noise", f"{names[0]} better", f"{names[1]} better")
        # the mean over the seeds is the mean of the two recorded runs
        acc = [r["val"]["accuracy"] for r in runs if r["name"] == names[0]]
        mean = float(t.loc[names[0], "this run: mean ± 95% CI (t)"].split(" ± ")[0])
        assert mean == pytest.approx(100 * sum(acc) / 2, abs=0.006)


@pytest.mark.parametrize("name", sorted(LEARNING))
def test_smoke_runs_learn(smoke_report, name):
    """Only a learning model gets clearly above the majority-class rate of the synthetic images (whose classes are
    learnable): the best epoch accuracy of the notebook's runs does."""
    from dive import data as ddata
    from dive.metrics import majority_rate

    metric = LEARNING[name]
    p = profiles.resolve(name, "smoke")
    data = ddata.load(p.data_flag, p.data_root, split="report", seed=p["seed"]).subsets(
        train=p.get("train_size"), val=p.get("val_size"), seed=p["seed"]
    )
    majority = majority_rate((data.train if metric == "train_acc" else data.val).labels.numpy())
    best = max(h[metric] for r in _metrics(smoke_report, name)["runs"] for h in r["history"])
    assert best > majority + 0.1, (metric, best, majority)


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
    rc = report_main(
        [
            "--profile",
            "quick",
            "--notebooks",
            "03",
            "--no-pdf",
            "--reports-dir",
            str(reports),
            "-p",
            "data_flag",
            "breastmnist",
            "-p",
            "data_root",
            str(real_root),
            "-p",
            "max_epochs",
            "2",
            "-p",
            "train_size",
            "300",
            "-p",
            "val_size",
            "100",
            "-p",
            "test_size",
            "156",
            "-p",
            "image_size",
            "32",
            "-p",
            "seeds",
            "1",  # quick trains three seeds; one real run is what this test needs
        ]
    )
    assert rc == 0
    m = _metrics(reports / "quick", "03_resnet18_baseline")
    assert m["synthetic"] is False and m["dataset"] == "breastmnist"
    (run,) = m["runs"]
    auc = run["test"]["auc"]
    assert isinstance(auc, float) and not math.isnan(auc) and 0.0 <= auc <= 1.0
    assert run["epochs_run"] <= 2

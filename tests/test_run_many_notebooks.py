"""Notebooks 09 and 10 hand their runs to experiment.run_many, so ``executor="ray"`` moves them to a cluster.

* notebook 09: :func:`dive.medmnist_compare.run_methods` gives the rows (in the order data set, recipe, seed) and
  the runs that one ``experiment.run`` call per run gave before; bad input stops it before any data is loaded;
* notebook 10: :func:`dive.explain.report_runs` / :func:`~dive.explain.shuffled_run` give the runs (same
  run-store keys, histories, scores) that ``experiment.run`` gave before, and plan exactly the configs and
  data that notebooks 02 and 07 train (so notebook 10 loads their runs from the run store).

The Ray executor itself (same results as "local") is tested in tests/test_ray.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml
from test_run_many import FakeOutputs, never_called, without_seconds

from dive import attribution_checks, experiment, explain, medmnist_compare, recipes
from dive import data as ddata

REPO = Path(__file__).resolve().parent.parent
BUDGET = recipes.Budget(
    train_size=32,
    val_size=16,
    simplecnn_epochs=1,
    simplecnn_patience=1,
    report_max_epochs=1,
    report_patience=1,
    report_image_size=32,
)
METHODS = ["simplecnn_report", "resnet18_report"]  # the 28-px ResNet (stride-1 stem) costs seconds per run


@pytest.fixture(scope="module")
def bench_root(tmp_path_factory):
    """A binary and a multi-label data set (the report recipe's multi-label note), official format."""
    from dive.synthetic import write_synthetic_root

    return write_synthetic_root(
        tmp_path_factory.mktemp("bench-data"),
        datasets=("breastmnist", "chestmnist"),
        sizes={"train": 48, "val": 24, "test": 30},
    )


def _one_at_a_time(data, method, seed, **settings):
    """The benchmark run as notebook 09 trained it before: experiment.run in its keyword style."""
    model, recipe_settings, _ = recipes.benchmark_recipe(method, data.task, BUDGET)
    return experiment.run(
        data,
        model,
        name=f"{data.name}_{method}_seed{seed}",
        seed=seed,
        device="cpu",
        evaluate_test=True,
        quiet=True,
        **recipe_settings,
        **settings,
    )


# ------------------------------------------------------------------------------ notebook 09


def _row_before(data, method, seed) -> dict:
    r = _one_at_a_time(data, method, seed, deterministic=True)
    return {
        "dataset": data.name,
        "method": method,
        "seed": seed,
        "test_acc": r.test["accuracy"],
        "test_auc": r.test["auc"],
        "val_acc": r.val["accuracy"],
        "val_auc": r.val["auc"],
        "epochs_run": r.fit.epochs_run,
        "best_epoch": r.fit.best_epoch,
        "test_images": r.test["n"],
    }


def test_run_methods_gives_the_rows_of_one_run_at_a_time_in_dataset_recipe_order(bench_root):
    statuses = medmnist_compare.select_flags(["breastmnist", "chestmnist"], bench_root)
    out = FakeOutputs()
    rows = medmnist_compare.run_methods(
        statuses, bench_root, METHODS, BUDGET, seeds=[23], device="cpu", outputs=out, deterministic=True
    )
    order = [(f, m, 23) for f in ("breastmnist", "chestmnist") for m in METHODS]
    assert [(r["dataset"], r["method"], r["seed"]) for r in rows] == order
    assert out.runs == [f"{f}_{m}_seed{s}" for f, m, s in order]  # recorded under the names they had before
    assert "chestmnist: " + recipes.benchmark_recipe("resnet18_report", "multi-label, binary-class")[2][0] in out.notes
    before = [_row_before(ddata.load(f, bench_root, split="official"), m, s) for f, m, s in order]
    pd.testing.assert_frame_equal(pd.DataFrame(rows), pd.DataFrame(before))
    assert {r["test_images"] for r in rows} == {30}  # the whole official test split


def test_run_dataset_runs_every_seed_as_experiment_run_did(bench_root, tmp_path):
    data = ddata.load("breastmnist", bench_root, split="official")
    rows, results = medmnist_compare.run_dataset(
        data, ["simplecnn_report"], BUDGET, seeds=[22, 23], device="cpu", store=tmp_path, deterministic=True
    )
    assert [(r["method"], r["seed"]) for r in rows] == [("simplecnn_report", 22), ("simplecnn_report", 23)]
    assert rows == [_row_before(data, "simplecnn_report", s) for s in (22, 23)]
    assert rows[0] != {**rows[1], "seed": 22}  # two seeds, two different runs
    ref = _one_at_a_time(data, "simplecnn_report", 23, deterministic=True)
    r = results[1]
    assert r.key == ref.key and r.config == ref.config and r.name == ref.name == "breastmnist_simplecnn_report_seed23"
    assert without_seconds(r.history) == without_seconds(ref.history) and r.test == ref.test
    assert (tmp_path / r.key / "result.pt").is_file()  # the run store under the same key
    row, one = medmnist_compare.run_method(
        data, "simplecnn_report", BUDGET, seed=23, device="cpu", store=tmp_path, deterministic=True
    )
    assert row == rows[1] and one.loaded  # run_method: the same run, now loaded from the store


def test_bad_input_stops_run_methods_before_any_data_is_loaded(bench_root, tmp_path):
    statuses = medmnist_compare.select_flags(["breastmnist"], bench_root)
    nowhere = tmp_path / "no-data-here"  # loading would fail with a file error
    kw = {"seeds": 1, "device": "cpu", "callbacks": [never_called]}
    with pytest.raises(ValueError, match="unknown executor 'dask'; valid: local, ray"):
        medmnist_compare.run_methods(statuses, nowhere, METHODS, BUDGET, executor="dask", **kw)
    with pytest.raises(ValueError, match=r"unknown method\(s\) 'alexnet'; valid: simplecnn_report, resnet18_medmnist"):
        medmnist_compare.run_methods(statuses, nowhere, ["simplecnn_report", "alexnet"], BUDGET, **kw)
    with pytest.raises(ValueError, match="ray_address applies to executor='ray' only"):
        medmnist_compare.run_methods(statuses, nowhere, METHODS, BUDGET, ray_address="auto", **kw)
    with pytest.raises(ValueError, match="seeds must be a non-empty list of distinct integers"):
        medmnist_compare.run_methods(statuses, nowhere, METHODS, BUDGET, **{**kw, "seeds": [22, 22]})
    data = ddata.load("breastmnist", bench_root, split="report")
    with pytest.raises(ValueError, match="the benchmark scores MedMNIST's official splits"):
        medmnist_compare.run_dataset(data, METHODS, BUDGET, device="cpu", callbacks=[never_called])


# ------------------------------------------------------------------------------ notebook 10


@pytest.fixture()
def tiny_profiles(tmp_path, monkeypatch):
    """The smoke profile with notebook 02's and 07's runs shrunk further (one epoch on 32 images)."""
    smoke = yaml.safe_load((REPO / "notebooks" / "profiles" / "smoke.yaml").read_text(encoding="utf-8"))
    smoke["02_pathmnist_simplecnn"].update(train_size=32, val_size=32, epochs=1)
    smoke["07_resnet_tuning"].update(train_size=32, val_size=16, test_size=16, max_epochs=1, batch_size=16)
    pdir = tmp_path / "profiles"
    pdir.mkdir()
    for name in ("smoke", "quick", "full"):
        text = yaml.safe_dump(smoke) if name == "smoke" else (REPO / f"notebooks/profiles/{name}.yaml").read_text()
        (pdir / f"{name}.yaml").write_text(text, encoding="utf-8")
    monkeypatch.setenv("DIVE_PROFILES_DIR", str(pdir))
    monkeypatch.setenv("DIVE_REPORTS_DIR", str(tmp_path / "reports"))


def test_report_runs_through_run_many_are_the_runs_of_experiment_run(tiny_profiles, synthetic_root, tmp_path):
    from dive.profiles import resolve

    out = FakeOutputs()
    got = explain.report_runs("smoke", data_root=synthetic_root, device="cpu", outputs=out, executor="local")
    shuffled = explain.shuffled_run(got["simplecnn"][0], got["simplecnn"][1], device="cpu", seed=22, outputs=out)
    assert out.runs == ["simplecnn_bn", "resnet18_optimised", "simplecnn_bn_shuffled_labels"]

    # what report_runs / shuffled_run trained before, one experiment.run call each
    p2 = resolve("02_pathmnist_simplecnn", "smoke", data_root=synthetic_root, device="cpu")
    med = ddata.load(p2.data_flag, p2.data_root, split=p2.split, seed=p2.seed)
    med = med.subsets(train=p2.train_size, val=p2.val_size, seed=p2.seed)
    simple = experiment.run(
        med,
        "simplecnn",
        name="simplecnn_bn",
        epochs=p2.epochs,
        patience=p2.patience,
        batch_size=p2.batch_size,
        lr=p2.lr,
        optimizer=p2.optimizer,
        evaluate_test=True,
        device="cpu",
        seed=p2.seed,
        batch_norm=True,
        dropout=False,
    )
    p7 = resolve("07_resnet_tuning", "smoke", data_root=synthetic_root, device="cpu")
    data7 = ddata.load(p7.data_flag, p7.data_root, split="report", seed=p7.seed)
    data7 = data7.subsets(train=p7.train_size, val=p7.val_size, test=p7.test_size, seed=p7.seed)
    resnet = experiment.run(
        data7,
        "resnet18",
        name="resnet18_optimised",
        seed=p7.seed,
        optimizer=p7.optimizer,
        scheduler=p7.scheduler,
        normalize=p7.normalize,
        lr=p7.lr,
        batch_size=p7.batch_size,
        epochs=p7.max_epochs,
        patience=p7.patience,
        balanced=True,
        augment=True,
        image_size=p7.image_size,
        pretrained=p7.pretrained,
        evaluate_test=True,
        device="cpu",
    )
    shuffled_before = experiment.run(
        attribution_checks.shuffled_labels(med, 22), simple.config, name="simplecnn_bn_shuffled_labels", device="cpu"
    )
    for (new, bundle, _), old, old_data in ((got["simplecnn"], simple, med), (got["resnet18"], resnet, data7)):
        assert new.name == old.name and new.key == old.key and new.config == old.config
        assert without_seconds(new.history) == without_seconds(old.history)
        assert new.val == old.val and new.test == old.test and (new.test_probs == old.test_probs).all()
        assert experiment.data_fingerprint(bundle) == experiment.data_fingerprint(old_data)
    assert shuffled.key == shuffled_before.key and shuffled.val == shuffled_before.val
    assert without_seconds(shuffled.history) == without_seconds(shuffled_before.history)
    assert shuffled.test is None  # validation only, as before


def test_report_runs_plans_the_data_of_notebooks_02_and_07(synthetic_root, tmp_path, monkeypatch):
    """Notebook 10 plans its runs on the data notebooks 02 and 07 train on (loaded and subset by setup), at
    their first seed; which configs it plans is checked against the executed notebooks below."""
    from dive.notebook import setup

    monkeypatch.delenv("DIVE_PROFILES_DIR", raising=False)
    monkeypatch.setenv("DIVE_REPORTS_DIR", str(tmp_path / "reports"))
    plans = explain.report_configs("smoke", data_root=synthetic_root, device="cpu", variant="best")
    fp = experiment.data_fingerprint
    for key, notebook, names in (
        ("simplecnn", "02_pathmnist_simplecnn", ["simplecnn_bn_dropout", "simplecnn_dropout", "simplecnn_bn"]),
        ("resnet18", "07_resnet_tuning", ["resnet18_optimised"]),
    ):
        nb = setup(notebook, data_root=synthetic_root, device="cpu", profile="smoke")
        assert fp(plans[key]["data"]) == fp(nb.data)
        assert [name for _, name, _ in plans[key]["runs"]] == names
        assert {config.seed for _, _, config in plans[key]["runs"]} == {nb.seeds[0]}


def _recorded_runs(report, notebook: str) -> dict:
    """``{(run name, seed): (config fingerprint, run-store key)}`` from an executed notebook's metrics.json."""
    metrics = json.loads((report / notebook / "metrics.json").read_text(encoding="utf-8"))
    trained = [r for r in metrics["runs"] if r.get("fingerprint")]  # not the ensembles: built, not trained
    return {(r["name"], r["seed"]): (r["fingerprint"], r["params"]["key"]) for r in trained}


def test_notebook_10_explains_the_very_runs_of_notebooks_02_and_07(smoke_report):
    """Read from the executed notebooks' metrics.json, not from a copy of their cells: every run notebook 10
    explains is a run of notebook 02 or 07 (same name, seed, config fingerprint and run-store key)."""
    explained = _recorded_runs(smoke_report, "10_explanations")
    explained = {k: v for k, v in explained.items() if not k[0].endswith("_shuffled_labels")}
    trained = {
        **_recorded_runs(smoke_report, "02_pathmnist_simplecnn"),
        **_recorded_runs(smoke_report, "07_resnet_tuning"),
    }
    assert {name for name, _ in explained} == {"simplecnn_bn", "resnet18_optimised"}
    for run, identity in explained.items():
        assert run in trained, f"notebook 10's run {run} is not a run of notebook 02 or 07"
        assert trained[run] == identity, f"{run}: notebook 10 {identity}, notebooks 02/07 {trained[run]}"


def test_bad_input_stops_report_runs_before_any_training(synthetic_root, tmp_path, monkeypatch):
    monkeypatch.setenv("DIVE_REPORTS_DIR", str(tmp_path / "reports"))
    with pytest.raises(ValueError, match="unknown SimpleCNN variant 'big'; valid: bn_dropout, dropout, bn, best"):
        explain.report_runs("smoke", data_root=synthetic_root, device="cpu", variant="big")
    with pytest.raises(ValueError, match="unknown executor 'dask'; valid: local, ray"):
        explain.report_runs("smoke", data_root=synthetic_root, device="cpu", executor="dask")
    with pytest.raises(ValueError, match="ray_address apply to executor='ray' only"):
        explain.report_runs("smoke", data_root=synthetic_root, device="cpu", ray_address="auto")


def test_run_options_say_where_a_notebooks_runs_execute():
    """A notebook's executor parameter decides: unset or "local" keeps its device and never passes an
    address; "ray" passes the address and lets each worker choose its device."""
    from dive.notebook import run_options

    out = object()
    cpu = torch.device("cpu")
    assert run_options({"executor": None, "ray_address": "head:6379"}, cpu, out) == {
        "device": cpu,
        "outputs": out,
        "executor": "local",
    }
    assert run_options({}, cpu, out)["executor"] == "local"  # a notebook without the parameter
    assert run_options({"executor": "ray", "ray_address": "head:6379"}, cpu, out) == {
        "device": "auto",
        "outputs": out,
        "executor": "ray",
        "ray_address": "head:6379",
    }

"""dive.search: Optuna over Table 4's space (notebook 11), locally and through Ray Tune.

Synthetic PathMNIST-format data and the SimpleCNN (one torch thread): with SGD the learning rate alone decides
whether a run learns. Measured on these data (3 epochs, 256 training images): lr 0.01 reaches 0.98 validation
accuracy and 0.1 0.95, while lr >= 1 does not learn (0.06-0.39: the loss explodes) and 1e-4 barely moves (0.13).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from dive import experiment, search
from dive.config import RunConfig

try:
    from test_ray import ray_instance  # noqa: F401  (the Ray tests' local 2-CPU instance)
except pytest.skip.Exception as err:  # Ray is not installed (it is a dev dependency)
    why = str(err)

    @pytest.fixture(scope="module")
    def ray_instance():
        pytest.skip(why)


#: only the learning rate is searched: 1e-3 .. 1e2, log-uniform (two of its five decades learn)
LR_SPACE = search.Space(
    optimizers=("sgd",), lr=(1e-3, 1e2), batch_sizes=(32,), schedulers=("none",), normalize=("dataset",)
)
GOOD = (3e-3, 0.3)  # where the runs above learned
EPOCHS = 3


def base() -> RunConfig:
    return RunConfig(
        model="simplecnn",
        dataset="pathmnist",
        epochs=EPOCHS,
        patience=None,
        batch_size=32,
        train_size=256,
        val_size=64,
        test_size=32,
        optimizer="sgd",
        deterministic=True,
    )


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def run_search(path_data, tmp_path, n_trials, **kw):
    kw.setdefault("storage", tmp_path / "search.sqlite")
    kw.setdefault("store", tmp_path / "runs")
    return search.search(path_data, base(), n_trials=n_trials, space=LR_SPACE, seed=22, n_startup_trials=3, **kw)


@pytest.fixture(scope="module")
def ten_trials(path_data, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("search")
    return run_search(path_data, tmp, 10), tmp


def test_the_best_trial_lands_where_training_learns(ten_trials):
    result, _ = ten_trials
    t = result.trials
    assert len(t) == 10 and set(t["state"]) <= {"COMPLETE", "PRUNED"}
    best_lr = result.best_params["lr"]
    assert GOOD[0] <= best_lr <= GOOD[1], t[["number", "state", "value", "lr"]]
    assert result.best_value >= 0.8
    assert result.best_config == base().replace(lr=best_lr, **LR_SPACE.fixed())
    # the search also tried the region that does not learn, and scored it low
    bad = t[t["lr"] >= 1.0]
    assert len(bad) >= 1 and (bad["value"] < 0.6).all()


def test_pruned_trials_stopped_before_their_last_epoch(ten_trials):
    import optuna

    result, _ = ten_trials
    pruned = result.study.get_trials(states=(optuna.trial.TrialState.PRUNED,))
    assert pruned, "no trial was pruned"
    for t in pruned:
        assert 1 <= len(t.intermediate_values) < EPOCHS and max(t.intermediate_values) < EPOCHS
        assert t.user_attrs["epochs_run"] < EPOCHS
    complete = result.study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    assert all(len(t.intermediate_values) == EPOCHS for t in complete if not t.user_attrs.get("loaded"))
    assert (result.trials.loc[result.trials["state"] == "PRUNED", "epochs_run"] < EPOCHS).all()


def test_the_same_seed_samples_the_same_sequence(ten_trials, path_data, tmp_path):
    first, _ = ten_trials
    again = run_search(path_data, tmp_path, 5, store=tmp_path / "other-store")  # a new file and a new run store
    assert list(again.trials["lr"]) == list(first.trials["lr"][:5])  # 3 random, then 2 from TPE
    other = search.search(
        path_data, base(), n_trials=2, space=LR_SPACE, seed=23, n_startup_trials=3,
        storage=tmp_path / "seed23.sqlite", store=tmp_path / "other-store",
    )  # fmt: skip
    assert list(other.trials["lr"]) != list(first.trials["lr"][:2])


def test_an_interrupted_search_resumes_and_does_not_retrain(path_data, tmp_path, monkeypatch):
    """The 4th trial is interrupted after its first epoch; the next call runs that trial first (its run resumes
    from the run store's checkpoint) and then only the trials still missing; finished trials are neither run
    again nor retrained."""
    real_run = experiment.run
    calls: list[dict] = []  # one per experiment.run call: its config and the epochs its callbacks saw
    interrupt_at = 4

    def run(data, config, **kw):
        call = {"config": config, "epochs": []}
        calls.append(call)
        watch = [lambda epoch, record, model: call["epochs"].append(epoch)]
        if len(calls) == interrupt_at and not getattr(run, "interrupted", False):

            def stop(epoch, record, model):
                run.interrupted = True
                raise KeyboardInterrupt("stopped by hand")

            watch.append(stop)
        kw["callbacks"] = [*watch, *kw.get("callbacks", ())]
        r = real_run(data, config, **kw)
        call["result"] = r
        return r

    monkeypatch.setattr(experiment, "run", run)
    with pytest.raises(KeyboardInterrupt):
        run_search(path_data, tmp_path, 7)
    assert len(calls) == interrupt_at and calls[-1]["epochs"] == [1]
    interrupted = calls[-1]["config"]
    before = {c["config"].lr for c in calls[:-1]}
    store = tmp_path / "runs"
    stored = {p: p.stat().st_mtime_ns for p in store.glob("*/result.pt")}
    assert len(stored) == sum("result" in c for c in calls) >= 1  # the completed trials' results are stored
    assert interrupted.lr not in before

    calls.clear()
    res = run_search(path_data, tmp_path, 7)
    assert len(calls) == 7 - (interrupt_at - 1)  # only the interrupted trial and the missing ones ran
    assert calls[0]["config"] == interrupted  # the interrupted trial's settings first...
    assert calls[0]["epochs"][0] == 2  # ...resumed from the checkpoint of its first epoch
    assert not {c["config"].lr for c in calls} & before  # no finished trial ran again
    assert all(p.stat().st_mtime_ns == t for p, t in stored.items())  # nor was a stored result rewritten
    assert len(res.trials) == 7 and res.trials["number"].is_unique
    assert set(res.trained) == set(range(4, 8))  # trial 3 (FAIL) is not a result; 4 re-ran its settings

    # the same settings again: all 7 are finished, nothing runs; a larger budget runs only the new trial
    calls.clear()
    assert len(run_search(path_data, tmp_path, 7).trials) == 7 and calls == []
    assert len(run_search(path_data, tmp_path, 8).trials) == 8 and len(calls) == 1


def test_a_search_with_other_settings_does_not_reuse_the_study(path_data, tmp_path):
    """The study's name hashes recipe, space, data, seed and pruner: another base recipe starts afresh."""
    a = run_search(path_data, tmp_path, 2)
    b = search.search(
        path_data, base().replace(patience=2), n_trials=2, space=LR_SPACE, seed=22, n_startup_trials=3,
        storage=tmp_path / "search.sqlite", store=tmp_path / "runs",
    )  # fmt: skip
    assert b.trained == [0, 1] and a.study.study_name != b.study.study_name


def test_bad_arguments_fail_before_any_training(path_data, tmp_path):
    with pytest.raises(ValueError, match="executor"):
        run_search(path_data, tmp_path, 2, executor="slurm")
    with pytest.raises(ValueError, match="n_trials"):
        run_search(path_data, tmp_path, 0)
    with pytest.raises(ValueError, match="Space.lr"):
        search.Space(optimizers=("sgd",), lr=(1.0, 0.1), batch_sizes=(32,), schedulers=("none",), normalize=("x",))
    assert not (tmp_path / "runs").exists()


def test_space_is_table4s_and_the_recipe_is_notebook_09s(path_data):
    from dive import recipes, reference

    s = search.SPACE
    assert set(s.optimizers) == set(reference.OPTIMIZER_AVG_LOSS) and s.lr == reference.RESNET_LR_RANGE
    f = reference.FINAL_HYPERPARAMETERS
    assert f["batch_size"] in s.batch_sizes and f["scheduler"] in s.schedulers and f["normalize"] in s.normalize
    config, _ = recipes.table4_config(path_data, recipes.Budget(report_max_epochs=3, report_image_size=32))
    assert (config.optimizer, config.lr, config.batch_size) == (f["optimizer"], f["lr"], f["batch_size"])
    assert config.patience == f["patience"] and config.epochs == 3 and config.balanced and config.augment


def test_verdict_says_cannot_tell_and_names_the_better(tmp_path):
    import pandas as pd

    def frame(best, table4):
        rows = [{"config": search.BEST, "seed": s, "test_accuracy": v} for s, v in zip((22, 23, 24), best, strict=True)]
        rows += [
            {"config": search.TABLE4, "seed": s, "test_accuracy": v} for s, v in zip((22, 23, 24), table4, strict=True)
        ]
        return pd.DataFrame(rows)

    assert search.verdict(frame([0.90, 0.91, 0.92], [0.80, 0.805, 0.81]))["holds"] == "yes (better)"
    assert search.verdict(frame([0.80, 0.805, 0.81], [0.90, 0.91, 0.92]))["holds"] == "no (worse)"
    v = search.verdict(frame([0.90, 0.80, 0.85], [0.85, 0.86, 0.84]))
    assert v["holds"].startswith("cannot tell") and v["comparison"].n == 3
    assert math.isfinite(v["comparison"].diff)


# --- Ray Tune ------------------------------------------------------------------------------------


@pytest.mark.ray
def test_ray_tune_search_same_store_same_format(path_data, tmp_path, ray_instance):
    """Four trials through Ray Tune (OptunaSearch + ASHA) on the local 2-CPU instance: they train through the
    same run store and come back in the local search's format."""
    res = run_search(path_data, tmp_path, 4, executor="ray")
    local = run_search(path_data, tmp_path, 2, storage=tmp_path / "local.sqlite")
    assert res.executor == "ray" and list(res.trials.columns) == list(local.trials.columns)
    assert len(res.trials) == 4 and set(res.trials["state"]) <= {"COMPLETE", "PRUNED"}
    done = res.trials[res.trials["state"] == "COMPLETE"]
    assert len(done) >= 1 and done["value"].between(0, 1).all()
    stored = {p.parent.name for p in (tmp_path / "runs").glob("*/result.pt")}
    assert set(done["run_key"]) <= stored  # the finished trials' results are in the shared run store
    config_json = json.loads((tmp_path / "runs" / done["run_key"].iloc[0] / "config.json").read_text())
    assert config_json["config"]["model"] == "simplecnn"
    assert res.best_config.lr == res.best_params["lr"]
    # the trials are in the same SQLite file, so a second call with the same settings runs nothing
    again = run_search(path_data, tmp_path, 4, executor="ray")
    assert again.trained == [] and len(again.trials) == 4
    assert Path(res.storage.removeprefix("sqlite:///")) == (tmp_path / "search.sqlite").resolve()

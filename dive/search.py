"""Notebook 11: would a proper search over Table 4's space have found the report's recipe?

The report tuned its final ResNet-18 by hand, one setting at a time (section 3.5, Table 4). This module
searches the same space with a sequential model-based search and early pruning:

* :data:`SPACE` -- Table 4's dimensions (:class:`Space`): the four optimizers the report compared, the learning
  rate log-uniform over the range it recommended (:data:`dive.reference.RESNET_LR_RANGE`), the batch size,
  the adaptive scheduler on or off and the normalisation; everything else (early-stopping patience,
  balancing, augmentation, the epochs) is the report's recipe, :func:`dive.recipes.table4_config` (notebook 09's
  ``"resnet18_report"`` recipe, shrunk by the profile's :class:`~dive.recipes.Budget`).
* :func:`search` -- ``executor="local"`` (default): an Optuna study (TPE sampler seeded from the notebook's
  seed, a median pruner fed each epoch's validation accuracy through :func:`dive.train.fit`'s per-epoch
  callback) stored in an SQLite file, so an interrupted search resumes and a re-run with the same settings
  reuses its finished trials. ``executor="ray"``: the same space and objective on Ray Tune (its
  ``OptunaSearch`` seeded the same way and the ASHA scheduler) over the Ray cluster
  :func:`dive.experiment.run_many` uses. Every trial is one :class:`~dive.config.RunConfig` trained by
  :func:`dive.experiment.run` through the run store. Both paths return a :class:`SearchResult` whose
  ``study`` is an Optuna study in the same SQLite file (for Optuna's plots).
* :func:`verdict` -- the best trial against Table 4's recipe, retrained with several seeds and paired by seed
  on the official test split (:func:`dive.stats.compare`): "search better", "Table 4 better" or "cannot tell".
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from dive import executors, experiment, ray_cluster, reference, stats
from dive.config import RunConfig
from dive.executors import _unpack
from dive.train import NonFiniteLossError
from dive.utils import DEFAULT_SEED

# optuna and Ray Tune are imported inside the functions that use them: Ray is an optional extra (local searches
# never need it), and optuna, with its storage back ends, is only needed by notebook 11's search.

__all__ = [
    "SPACE",
    "SearchResult",
    "Space",
    "search",
    "study_name",
    "verdict",
]

#: The objective: validation accuracy of the weights a run kept (the report's early-stopping monitor).
METRIC = "val_accuracy"
#: Name of the recorded groups of notebook 11 (the best trial and Table 4's recipe, retrained over seeds).
BEST, TABLE4 = "search_best", "table4_recipe"


@dataclass(frozen=True)
class Space:
    """Table 4's dimensions. A dimension with one value is held fixed (not searched)."""

    optimizers: tuple[str, ...]
    lr: tuple[float, float]  # log-uniform between these
    batch_sizes: tuple[int, ...]
    schedulers: tuple[str, ...]
    normalize: tuple[str, ...]

    def __post_init__(self):
        lo, hi = self.lr
        if not 0 < lo < hi:
            raise ValueError(f"Space.lr must be (low, high) with 0 < low < high, got {self.lr!r}")
        for name in ("optimizers", "batch_sizes", "schedulers", "normalize"):
            if not getattr(self, name):
                raise ValueError(f"Space.{name} is empty")

    def distributions(self) -> dict:
        """``{RunConfig field: optuna distribution}`` of the searched dimensions."""
        import optuna.distributions as D

        out: dict = {
            "optimizer": D.CategoricalDistribution(self.optimizers),
            "lr": D.FloatDistribution(self.lr[0], self.lr[1], log=True),
            "batch_size": D.CategoricalDistribution(self.batch_sizes),
            "scheduler": D.CategoricalDistribution(self.schedulers),
            "normalize": D.CategoricalDistribution(self.normalize),
        }
        return {k: d for k, d in out.items() if not (isinstance(d, D.CategoricalDistribution) and len(d.choices) == 1)}

    def fixed(self) -> dict:
        """The dimensions with one value: ``{RunConfig field: value}``."""
        one = {"optimizer": self.optimizers, "batch_size": self.batch_sizes, "scheduler": self.schedulers}
        one["normalize"] = self.normalize
        return {k: v[0] for k, v in one.items() if len(v) == 1}

    def suggest(self, trial) -> dict:
        """The settings of one trial (Optuna's define-by-run API): ``{RunConfig field: value}``."""
        from optuna.distributions import FloatDistribution

        out = dict(self.fixed())
        for k, d in self.distributions().items():
            if isinstance(d, FloatDistribution):
                out[k] = trial.suggest_float(k, d.low, d.high, log=d.log)
            else:
                out[k] = trial.suggest_categorical(k, d.choices)
        return out

    def table(self) -> pd.DataFrame:
        """The space as a table for the notebook."""
        rows = [
            ("optimizer", ", ".join(self.optimizers)),
            ("learning rate", f"log-uniform {self.lr[0]:g} .. {self.lr[1]:g}"),
            ("batch size", ", ".join(map(str, self.batch_sizes))),
            ("scheduler", ", ".join(self.schedulers)),
            ("normalisation", ", ".join(self.normalize)),
        ]
        return pd.DataFrame(rows, columns=["dimension", "values searched"])


_F = reference.FINAL_HYPERPARAMETERS
#: Table 4's space: the optimizers the report compared (section 3.5), the learning-rate range it recommended,
#: the batch size it chose (64) beside the one memory ruled out (100) and the SimpleCNN's 32, the adaptive
#: scheduler on/off and the two normalisations it weighed. Early-stopping patience stays the report's.
SPACE = Space(
    optimizers=tuple(reference.OPTIMIZER_AVG_LOSS),
    lr=tuple(reference.RESNET_LR_RANGE),
    batch_sizes=(32, _F["batch_size"], 100),
    schedulers=(_F["scheduler"], "none"),
    normalize=(_F["normalize"], "imagenet"),
)


# ----------------------------------------------------------------------------------------------
# the result
# ----------------------------------------------------------------------------------------------
@dataclass
class SearchResult:
    """What both executors return. ``trials``: one row per finished trial (``number``, ``state`` COMPLETE or
    PRUNED, ``value`` = validation accuracy (pruned: its last reported one), ``epochs_run``, ``diverged``, the
    searched settings, ``run_key``); ``study``: the Optuna study the trials are stored in (for its plots)."""

    study: Any
    trials: pd.DataFrame
    base: RunConfig
    space: Space
    executor: str
    storage: str
    trained: list[int] = field(default_factory=list)  # the trials trained (or resumed) by this call

    @property
    def best_params(self) -> dict:
        done = self.trials[self.trials["state"] == "COMPLETE"]
        if done.empty:
            raise ValueError("no trial of the search finished (all were pruned or diverged)")
        row = done.loc[done["value"].idxmax()]
        return {k: _py(row[k]) for k in self.space.distributions()}

    @property
    def best_value(self) -> float:
        done = self.trials[self.trials["state"] == "COMPLETE"]
        return float(done["value"].max())

    @property
    def best_config(self) -> RunConfig:
        return self.base.replace(**self.space.fixed(), **self.best_params)


def _py(v):
    return v.item() if hasattr(v, "item") else v


def study_name(base: RunConfig, space: Space, data_fp: Mapping, *, seed: int, pruner: Mapping, executor: str) -> str:
    """The study's name in the SQLite file: a hash of everything that decides its trials (the recipe, the
    space, the data, the sampler's seed, the pruner and the executor), so a re-run with the same settings
    finds (and continues) its study, and a search with other settings starts its own. The trial count is
    not in it: a larger budget continues the same study."""
    what = {
        "base": base.fingerprint(),
        "space": asdict(space),
        "data": data_fp,
        "seed": seed,
        "pruner": dict(pruner),
        "executor": executor,
    }
    digest = hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()[:12]
    return f"table4-{executor}-{digest}"


def _trials_frame(study, space: Space) -> pd.DataFrame:
    import optuna

    keep = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    rows = []
    for t in study.get_trials(deepcopy=False, states=keep):
        iv = t.intermediate_values
        value = t.value if t.value is not None else (iv[max(iv)] if iv else None)
        rows.append(
            {
                "number": t.number,
                "state": t.state.name,
                "value": value,
                "epochs_run": t.user_attrs.get("epochs_run", len(iv)),
                "diverged": bool(t.user_attrs.get("diverged", False)),
                **{k: t.params.get(k) for k in space.distributions()},
                "run_key": t.user_attrs.get("run_key"),
            }
        )
    cols = ["number", "state", "value", "epochs_run", "diverged", *space.distributions(), "run_key"]
    return pd.DataFrame(rows, columns=cols)


def _storage_url(storage: str | os.PathLike) -> str:
    path = Path(storage).expanduser().resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


# ----------------------------------------------------------------------------------------------
# the search
# ----------------------------------------------------------------------------------------------
def search(
    data,
    base: RunConfig,
    *,
    n_trials: int,
    storage: str | os.PathLike,
    store: str | os.PathLike,
    space: Space = SPACE,
    seed: int = DEFAULT_SEED,
    n_startup_trials: int = 4,
    prune_warmup: int = 1,
    executor: str = "local",
    ray_address: str | None = None,
    cpus_per_trial: int = 1,
    device="auto",
    quiet: bool | None = True,
) -> SearchResult:
    """Search ``space`` around ``base`` (Table 4's recipe, :func:`dive.recipes.table4_config`) on ``data``
    (its validation split scores each trial) until ``n_trials`` trials have finished (completed or pruned).

    ``storage``: the SQLite file of the study (created; a study with the same settings in it is continued:
    its finished trials are not run again, a trial that was interrupted is run again first, with the same
    settings, and resumes from the run store's checkpoint). ``store``: the run store every trial trains
    through. ``seed``: the TPE sampler's seed (each trial's runs keep ``base.seed``). ``n_startup_trials``:
    random trials before TPE models the space, and trials before the pruner prunes; ``prune_warmup``: epochs
    every trial runs before it can be pruned.

    ``executor="ray"``: Ray Tune with the same space, sampler seed and objective, the ASHA scheduler (grace
    period ``prune_warmup`` epochs) in place of the median pruner, ``cpus_per_trial`` CPUs per trial, on the
    Ray cluster :func:`dive.experiment.run_many` uses (``ray_address``: as there). Its trials are recorded
    in the same SQLite file (a study of their own), so the result has the same format.
    """
    import optuna

    if executor not in executors.EXECUTORS:
        raise ValueError(f"unknown executor {executor!r}; valid: {', '.join(executors.EXECUTORS)}")
    if isinstance(n_trials, bool) or not isinstance(n_trials, int) or n_trials < 1:
        raise ValueError(f"n_trials must be an integer >= 1, got {n_trials!r}")
    if not isinstance(base, RunConfig):
        raise TypeError(f"base must be a RunConfig (dive.recipes.table4_config), got {type(base).__name__}")
    experiment.check_data(base, data)
    base = base.replace(**space.fixed())
    sub = data.subsets(train=base.train_size, val=base.val_size, test=base.test_size, seed=base.split_seed)
    pruner_settings = {"n_startup_trials": n_startup_trials, "warmup": prune_warmup}
    name = study_name(
        base, space, experiment.data_fingerprint(sub), seed=seed, pruner=pruner_settings, executor=executor
    )
    url = _storage_url(storage)
    if executor == "ray":
        return _search_ray(
            data, base, space, name, url, n_trials=n_trials, seed=seed, store=store,
            n_startup_trials=n_startup_trials, grace=prune_warmup, ray_address=ray_address,
            cpus_per_trial=cpus_per_trial, device=device, quiet=quiet,
        )  # fmt: skip
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        study_name=name,
        storage=url,
        load_if_exists=True,
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=n_startup_trials),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=n_startup_trials, n_warmup_steps=prune_warmup),
    )
    _requeue_interrupted(study)
    finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    remaining = n_trials - len(study.get_trials(deepcopy=False, states=finished))
    trained: list[int] = []

    def objective(trial) -> float:

        config = base.replace(**space.suggest(trial))

        def prune(epoch: int, record: dict, model) -> None:
            trial.report(float(record["val_acc"]), epoch)
            trial.set_user_attr("epochs_run", epoch)
            if trial.should_prune():
                raise optuna.TrialPruned(f"epoch {epoch}: val accuracy {record['val_acc']:.4f}")

        try:
            r = experiment.run(
                data, config, name=f"search_trial_{trial.number}", store=store, device=device, quiet=quiet,
                callbacks=[prune],
            )  # fmt: skip
        except NonFiniteLossError as err:  # a diverging setting is a bad result, not a broken search
            trial.set_user_attr("diverged", True)
            raise optuna.TrialPruned(str(err)) from err
        finally:
            trained.append(trial.number)
        trial.set_user_attr("epochs_run", r.fit.epochs_run)
        trial.set_user_attr("run_key", r.key)
        trial.set_user_attr("loaded", bool(r.loaded))
        return float(r.val["accuracy"])

    if remaining > 0:
        study.optimize(objective, n_trials=remaining, gc_after_trial=False)
    return SearchResult(study, _trials_frame(study, space), base, space, "local", url, trained)


def _requeue_interrupted(study) -> None:
    """Trials that did not finish (an exception, or a killed process left them running) are marked failed
    and their settings queued once, so the resumed search runs them first and their runs resume from the
    run store."""
    import optuna

    S = optuna.trial.TrialState
    queued = {json.dumps(t.params, sort_keys=True) for t in study.get_trials(deepcopy=False, states=(S.WAITING,))}
    requeued = set(study.user_attrs.get("requeued", []))
    for t in study.get_trials(deepcopy=False, states=(S.RUNNING, S.FAIL)):
        if t.state == S.RUNNING:
            study._storage.set_trial_state_values(t._trial_id, state=S.FAIL)
        if t.number in requeued or not t.params:
            continue
        key = json.dumps(t.params, sort_keys=True)
        if key not in queued:
            study.enqueue_trial(t.params, skip_if_exists=False)
            queued.add(key)
        requeued.add(t.number)
    study.set_user_attr("requeued", sorted(requeued))


# ----------------------------------------------------------------------------------------------
# Ray Tune
# ----------------------------------------------------------------------------------------------
def _tune_trial(params: dict, *, packed, base: dict, store: str, device: str, threads: int) -> None:
    """One Ray Tune trial: the run of ``base`` with ``params``, each epoch's validation accuracy reported to
    the scheduler; a final report (``finished``) with the kept weights' accuracy and the run's key."""
    from ray import tune

    if threads:
        torch.set_num_threads(threads)
    data = _unpack(packed)
    config = RunConfig.from_dict(base).replace(**params)

    def report(epoch: int, record: dict, model) -> None:
        tune.report({METRIC: float(record["val_acc"]), "epoch": epoch})

    try:
        r = experiment.run(
            data, config, name="search_trial", store=store, device=device, quiet=True, callbacks=[report]
        )
    except NonFiniteLossError:
        return  # no final report: recorded as pruned (diverged)
    tune.report({METRIC: float(r.val["accuracy"]), "epoch": r.fit.epochs_run, "finished": True, "run_key": r.key})


def _search_ray(
    data, base, space, name, url, *, n_trials, seed, store, n_startup_trials, grace, ray_address,
    cpus_per_trial, device, quiet,
) -> SearchResult:  # fmt: skip
    import optuna
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search.optuna import OptunaSearch

    ray = ray_cluster.import_ray()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name=name, storage=url, load_if_exists=True, direction="maximize")
    dists = space.distributions()
    remaining = n_trials - len(_trials_frame(study, space))
    trained: list[int] = []
    if remaining > 0:
        store = Path(store).expanduser().resolve()
        store.mkdir(parents=True, exist_ok=True)
        ray_cluster.connect(ray, ray_address)
        searcher = OptunaSearch(
            space=space.suggest,
            metric=METRIC,
            mode="max",
            sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=n_startup_trials),
        )
        scheduler = ASHAScheduler(time_attr="epoch", max_t=base.epochs + 1, grace_period=grace, reduction_factor=2)
        trainable = tune.with_parameters(
            _tune_trial,
            packed=executors._pack(data),
            base=base.to_dict(),
            store=str(store),
            device="cpu" if str(device) == "auto" and not ray.cluster_resources().get("GPU") else str(device),
            threads=cpus_per_trial,
        )
        gpus = 1 if ray.cluster_resources().get("GPU") else 0
        tuner = tune.Tuner(
            tune.with_resources(trainable, {"cpu": cpus_per_trial, "gpu": gpus}),
            tune_config=tune.TuneConfig(
                search_alg=searcher, scheduler=scheduler, num_samples=remaining, metric=METRIC, mode="max"
            ),
            run_config=tune.RunConfig(
                name=name, storage_path=str(Path(url.removeprefix("sqlite:///")).parent / "ray_tune"), verbose=0
            ),
        )
        grid = tuner.fit()
        first = len(study.trials)
        for i, res in enumerate(grid):
            df = res.metrics_dataframe
            inter: dict[int, float] = {}
            if df is not None and not df.empty:
                rows = df[df["finished"].isna()] if "finished" in df.columns else df  # the per-epoch reports
                inter = {int(e): float(v) for e, v in zip(rows["epoch"], rows[METRIC], strict=True)}
            final = res.metrics or {}
            done = bool(final.get("finished"))
            params = {k: res.config[k] for k in dists}
            attrs = {"epochs_run": int(final.get("epoch") or len(inter)), "diverged": not done and not inter}
            if done:
                attrs["run_key"] = final.get("run_key")
            study.add_trial(
                optuna.trial.create_trial(
                    params=params,
                    distributions=dists,
                    value=float(final[METRIC]) if done else None,
                    intermediate_values=inter,
                    user_attrs=attrs,
                    state=optuna.trial.TrialState.COMPLETE if done else optuna.trial.TrialState.PRUNED,
                )
            )
            trained.append(first + i)
    return SearchResult(study, _trials_frame(study, space), base, space, "ray", url, trained)


# ----------------------------------------------------------------------------------------------
# the answer
# ----------------------------------------------------------------------------------------------
def verdict(per_seed: pd.DataFrame, metric: str = "test_accuracy", *, best: str = BEST, table4: str = TABLE4) -> dict:
    """The best trial's recipe (``best``) against Table 4's (``table4``), paired by seed on ``metric`` (the
    official test split's accuracy by default) with :func:`dive.stats.compare`.

    Returns ``{"comparison": Comparison, "answer": str, "holds": str}``: ``answer`` is "the search's recipe is
    better", "Table 4's recipe is better" or "cannot tell" (the interval of the paired difference contains 0,
    or one seed only); ``holds`` reads the claim "the search finds a recipe at least as good as Table 4's":
    "yes (better)", "no (worse)" or "cannot tell".
    """
    per = stats.per_config(per_seed, metric)
    missing = [n for n in (best, table4) if n not in per]
    if missing:
        raise ValueError(f"no {metric} for {', '.join(missing)} in the per-seed table")
    c = stats.compare(per[best], per[table4], names=(best, table4))
    if c.verdict == stats.A_BETTER:
        answer, holds = "the search's recipe is better", "yes (better)"
    elif c.verdict == stats.B_BETTER:
        answer, holds = "Table 4's recipe is better", "no (worse)"
    else:
        why = "one seed, no interval" if c.verdict == stats.SINGLE_RUN else "the interval contains 0"
        answer = holds = f"cannot tell ({why})"
    return {"comparison": c, "answer": answer, "holds": holds}


def compare_table(result: SearchResult, table4: RunConfig) -> pd.DataFrame:
    """The best trial's settings beside Table 4's, one row per searched dimension."""
    best = result.best_config
    rows = [
        {"setting": k, "Table 4 (report)": _shown(getattr(table4, k)), "best trial": _shown(getattr(best, k))}
        for k in result.space.distributions()
    ]
    return pd.DataFrame(rows)


def _shown(v):
    return "none" if v is None else f"{v:.3g}" if isinstance(v, float) else v


def describe_settings(settings: Mapping[str, Any] | Sequence) -> str:
    """``optimizer adagrad, lr 0.0005, ...`` for captions and notes."""
    items = settings.items() if isinstance(settings, Mapping) else settings
    return ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in items)

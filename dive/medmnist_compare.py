"""Notebook 09, MedMNIST compared: the report's recipes on every MedMNIST 2D dataset, beside MedMNIST v2's
published baselines.

* :func:`select_flags` -- which datasets run. ``"all"`` (or ``None``) means every MedMNIST 2D flag;
  a flag whose file is absent then gets a "not available" row and the benchmark goes on. Flags
  asked for by name must be present: a missing one fails at once. A corrupt file (md5 mismatch)
  always fails, before any training, naming the file.
* the three recipes compared live in :mod:`dive.recipes` (:data:`~dive.recipes.METHODS`,
  :func:`~dive.recipes.benchmark_recipe`, :class:`~dive.recipes.Budget`): the report's improved SimpleCNN
  (notebook 02's best variant), ResNet-18 with MedMNIST v2's own recipe on 28 px images, and ResNet-18 with the
  report's final recipe (Table 4); the budget shrinks the epochs and the training/validation images for the
  smoke and quick profiles; the test split is always complete.
* :func:`run_methods` -- every recipe with every seed on every available dataset -> one row of test ACC and
  AUC per run (scored as MedMNIST's evaluator does, see :mod:`dive.metrics`). Per dataset, the runs
  (:func:`plan_runs`: one :class:`~dive.config.RunConfig` per recipe and seed) go through one
  :func:`dive.experiment.run_many` call (:func:`run_dataset`): ``executor="ray"`` runs them on a Ray
  cluster. :func:`run_method` is one recipe with one seed.
* :func:`summarise`, :func:`comparison_table`, :func:`verdict_table`, :func:`difference_heatmap` --
  mean (and, over several seeds, the 95 % interval of :mod:`dive.stats`) per dataset and method,
  set beside the seven published methods of :data:`dive.reference.MEDMNIST_V2_2D`, the difference
  to the published ResNet-18 (28) and a verdict per dataset and method.
* the same one-sample verdicts for notebooks 01, 03 and 07: :func:`against_published` (03's and 07's ResNet18
  against MedMNIST v2) and :func:`improved_vs_report` (01's improved SimpleCNN against the report's 98.9 %).

A verdict is a statistical statement (issue 21): per dataset, recipe and metric, a one-sample test over the
seeds of "this run's mean = the published value" (:func:`side`: ``scipy.stats.ttest_1samp`` through
:func:`dive.stats.paired_p`, the exact sign-flip test when the seeds agree exactly), Holm-corrected over every
test of the verdict table (its family, said in the caption and the ``family`` column); "above" or "below"
only where the corrected p < 0.05, else "cannot tell", and "cannot tell (one seed)" with a single seed --
one run's value against one published value cannot tell a recipe from its seed.
"""

from __future__ import annotations

import math
import os
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dive import data as ddata
from dive import reference, stats
from dive.recipes import METHODS, Budget, benchmark_recipe, check_methods
from dive.stats import ONE_SEED  # noqa: F401  (the word "cannot tell (one seed)", re-exported)

ALL = "all"
#: The twelve MedMNIST 2D flags, in medmnist.INFO's order.
FLAGS_2D: tuple[str, ...] = tuple(f for f in ddata.DATASETS if f != "mnist")
BASELINE = "ResNet-18 (28)"
ABOVE = f"above the published {BASELINE}"
BELOW = f"below the published {BASELINE}"
CANNOT_TELL = f"cannot tell against the published {BASELINE}"
SIDES = ("above", "below", "cannot tell", ONE_SEED)
METRICS = (("ACC", "test_acc", "acc"), ("AUC", "test_auc", "auc"))  # label, this run's column, published column
DECIMALS = 3  # the published precision


# ----------------------------------------------------------------------------------------------
# which datasets
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FlagStatus:
    """One dataset's file: ``present`` or ``missing`` (corrupt files never get this far)."""

    flag: str
    status: str
    path: Path
    url: str
    md5: str

    @property
    def available(self) -> bool:
        return self.status == "present"

    def not_available(self) -> str:
        """The row text for a missing file."""
        return f"not available: place {self.path.name} at {self.path} (md5 {self.md5}; {self.url})"


def parse_flags(flags) -> tuple[list[str], bool]:
    """``(flags, explicit)``: ``None``/``"all"`` -> every 2D flag, not explicit; a list or a comma-separated
    string -> those flags (checked, duplicates dropped), explicit. Unknown names list the valid ones."""
    if flags is None or (isinstance(flags, str) and flags.strip().lower() == ALL):
        return list(FLAGS_2D), False
    names = [s.strip() for s in flags.split(",")] if isinstance(flags, str) else [str(f).strip() for f in flags]
    names = [n.lower() for n in names if n]
    if not names:
        raise ValueError(f"flags is empty; give '{ALL}' or MedMNIST 2D flags: {', '.join(FLAGS_2D)}")
    bad = [n for n in names if n not in FLAGS_2D]
    if bad:
        raise ValueError(
            f"unknown MedMNIST 2D flag(s) {', '.join(map(repr, bad))}; valid: {ALL}, {', '.join(FLAGS_2D)}"
        )
    return list(dict.fromkeys(names)), True


def select_flags(flags, root: str | os.PathLike | None, size: int = 28) -> list[FlagStatus]:
    """Check every selected dataset's file before any work (see the module docstring).

    Raises :class:`dive.data.DatasetFileError` (path, URL and md5 of each problem file) when a file is
    corrupt, or missing although its flag was asked for by name.
    """
    names, explicit = parse_flags(flags)
    out, problems = [], []
    for name in names:
        (spec,) = ddata.files_for(name, root, size)
        status = spec.status()
        if status == "corrupt" or (status == "missing" and explicit):
            try:
                ddata.ensure_files(name, root, size)
            except ddata.DatasetFileError as err:
                problems.append(str(err))
            continue
        out.append(FlagStatus(name, status, spec.path, spec.url, spec.md5))
    if problems:
        why = "asked for by name (flags=...) or corrupt" if explicit else "corrupt"
        raise ddata.DatasetFileError(f"benchmark stopped before any training: files {why}:\n" + "\n".join(problems))
    return out


def availability_table(statuses: Sequence[FlagStatus]) -> pd.DataFrame:
    rows = [
        {
            "dataset": s.flag,
            "task": ddata.task_of(s.flag),
            "file": str(s.path),
            "status": "present" if s.available else s.not_available(),
        }
        for s in statuses
    ]
    return pd.DataFrame(rows, columns=["dataset", "task", "file", "status"])


@dataclass(frozen=True)
class PlannedRun:
    """One benchmark run before it starts: its name (``<dataset>_<method>_seed<seed>``, the name the run store
    and ``metrics.json`` know it by), recipe, seed, :class:`~dive.config.RunConfig` and notes
    (:func:`~dive.recipes.benchmark_recipe`'s,
    and :func:`dive.experiment.config_for`'s when ImageNet weights were asked for with ``"auto"`` and are missing)."""

    name: str
    method: str
    seed: int
    config: Any
    recipe_notes: tuple[str, ...] = ()
    config_note: str | None = None


def plan_runs(data, methods=None, budget: Budget | None = None, *, seeds=1, **settings) -> list[PlannedRun]:
    """One :class:`PlannedRun` per recipe and seed on ``data`` (the official split, :func:`dive.data.load`),
    in that order (recipe, then seed). Everything is checked here, before any training: the split, the
    recipes (unknown names list the valid ones), the seeds, the settings, the ImageNet weights.

    ``seeds``: a count (22, 23, ...) or the seeds (:func:`dive.experiment.seed_list`); ``settings``: extra
    :class:`~dive.config.RunConfig` fields, added to (or replacing) the recipe's.
    """
    from dive import experiment

    if data.split_mode != "official":
        raise ValueError(
            f"the benchmark scores MedMNIST's official splits; {data.name} was loaded with split "
            f"{data.split_mode!r} (use dive.data.load(flag, root, split='official'))"
        )
    plans = []
    for method in check_methods(methods):
        model, recipe_settings, notes = benchmark_recipe(method, data.task, budget)
        for seed in experiment.seed_list(seeds):
            config, note = experiment.config_for(data, model, **{**recipe_settings, **settings, "seed": seed})
            plans.append(PlannedRun(f"{data.name}_{method}_seed{seed}", method, seed, config, tuple(notes), note))
    return plans


def _row(data, plan: PlannedRun, r) -> dict:
    return {
        "dataset": data.name,
        "method": plan.method,
        "seed": plan.seed,
        "test_acc": r.test["accuracy"],
        "test_auc": r.test["auc"],
        "val_acc": r.val["accuracy"],
        "val_auc": r.val["auc"],
        "epochs_run": r.fit.epochs_run,
        "best_epoch": r.fit.best_epoch,
        "test_images": r.test["n"],
    }


def _split_options(options: dict) -> tuple[dict, dict]:
    """``options`` -> (RunConfig fields, the rest: options of :func:`dive.experiment.run_many`)."""
    from dive.config import RunConfig

    fields = set(RunConfig.__dataclass_fields__)
    return {k: v for k, v in options.items() if k in fields}, {k: v for k, v in options.items() if k not in fields}


def _check_executor(executor: str, ray_address) -> None:
    from dive.executors import EXECUTORS

    if executor not in EXECUTORS:
        raise ValueError(f"unknown executor {executor!r}; valid: {', '.join(EXECUTORS)}")
    if executor == "local" and ray_address is not None:
        raise ValueError("ray_address applies to executor='ray' only")


def run_dataset(
    data,
    methods=None,
    budget: Budget | None = None,
    *,
    seeds=1,
    device="auto",
    outputs=None,
    executor: str = "local",
    ray_address: str | None = None,
    **options,
) -> tuple[list[dict], list]:
    """Every recipe with every seed on one data set, through ONE :func:`dive.experiment.run_many` call
    (``executor="local"``: one after another here; ``"ray"``: one Ray task each, ``ray_address``).

    Returns ``(rows, results)`` in the order recipe, then seed: a row holds dataset, method, seed, test and
    validation ACC/AUC, epochs run, best epoch and test images; ``results`` are the
    :class:`~dive.experiment.RunResult`. ``options``: :class:`~dive.config.RunConfig` fields go into every
    run's config (see :func:`plan_runs`), the others to ``run_many`` (``store``, ``quiet``, ``resources``, ...).
    ``outputs`` records every run, then the recipes' notes (``"<dataset>: <note>"``).
    """
    from dive import experiment

    _check_executor(executor, ray_address)
    settings, run_options = _split_options(options)
    plans = plan_runs(data, methods, budget, seeds=seeds, **settings)
    if executor == "ray":
        run_options["ray_address"] = ray_address
    if outputs is not None:  # as experiment.run records them: before the run
        for pl in plans:
            if pl.config_note:
                outputs.note(pl.config_note)
    results = experiment.run_many(
        data,
        [pl.config for pl in plans],
        names=[pl.name for pl in plans],
        evaluate_test=True,
        device=device,
        outputs=outputs,
        executor=executor,
        **run_options,
    )
    for pl, r in zip(plans, results, strict=True):
        if pl.config_note:  # the note experiment.run's keyword style would have put first
            r.notes = [pl.config_note, *(n for n in r.notes if n != pl.config_note)]
        if outputs is not None:
            for n in pl.recipe_notes:
                outputs.note(f"{data.name}: {n}")
    return [_row(data, pl, r) for pl, r in zip(plans, results, strict=True)], results


def run_methods(
    statuses: Sequence[FlagStatus],
    root: str | os.PathLike | None,
    methods=None,
    budget: Budget | None = None,
    *,
    seeds=1,
    device="auto",
    outputs=None,
    executor: str = "local",
    ray_address: str | None = None,
    **options,
) -> list[dict]:
    """The benchmark: every recipe with every seed on every available data set of ``statuses``
    (:func:`select_flags`), each loaded in turn from ``root`` with its official split and run through one
    :func:`run_dataset` (one :func:`dive.experiment.run_many` call per data set, so ``executor="ray"`` spreads
    a data set's runs over the cluster). Returns the rows in the order data set, recipe, seed.

    The recipes, the seeds and the executor are checked before any data set is loaded.
    """
    from dive import experiment

    _check_executor(executor, ray_address)
    check_methods(methods)
    experiment.seed_list(seeds)
    rows = []
    for s in statuses:
        if not s.available:
            continue
        data = ddata.load(s.flag, root, split="official")
        print(data, flush=True)
        got, _ = run_dataset(
            data,
            methods,
            budget,
            seeds=seeds,
            device=device,
            outputs=outputs,
            executor=executor,
            ray_address=ray_address,
            **options,
        )
        rows += got
    return rows


def run_method(
    data, method: str, budget: Budget | None = None, *, seed: int, device="auto", outputs=None, **options
) -> tuple[dict, Any]:
    """Train and score one recipe on ``data`` (the official split, :func:`dive.data.load`) with one seed:
    :func:`run_dataset` for one run. Returns ``(row, result)``."""
    if method not in METHODS:  # a single name: no comma-separated list here
        raise ValueError(f"unknown method {method!r}; valid: {', '.join(METHODS)}")
    rows, results = run_dataset(data, [method], budget, seeds=[seed], device=device, outputs=outputs, **options)
    return rows[0], results[0]


# ----------------------------------------------------------------------------------------------
# tables
# ----------------------------------------------------------------------------------------------
def scope_notes(profile: str, budget: Budget, seeds: Sequence[int], statuses: Sequence[FlagStatus]) -> list[str]:
    """What a reader must know before the tables: a shortened budget (``profile``), a single seed, and each data
    set that is not available."""
    notes = []
    if not budget.is_full():
        notes.append(
            f"SHORTENED RUNS ({profile} profile): "
            + "; ".join(budget.departures())
            + ". The published values come from the full recipes; these rows show that every step runs, "
            "not what the recipes reach."
        )
    if len(seeds) == 1:
        notes.append(
            f"one run per data set and recipe (seed {seeds[0]}): no confidence interval; "
            "MedMNIST v2's published values are single runs too"
        )
    return notes + [f"{s.flag}: {s.not_available()}" for s in statuses if not s.available]


def budget_label(budget: Budget, profile: str) -> str:
    return "full recipe" if budget.is_full() else f"shortened run, {profile} profile"


def verdict_counts(verdicts: pd.DataFrame) -> pd.Series:
    """Per method of :func:`verdict_table`: how many data sets are above, below, cannot tell."""
    v = verdicts[verdicts["method"] != "—"]
    return v.groupby("method")["verdict"].apply(
        lambda v: (
            f"{(v == ABOVE).sum()} of {len(v)} data sets above, {(v == BELOW).sum()} below, "
            f"{v.str.startswith('cannot tell').sum()} cannot tell"
        )
    )


def summarise(rows: Iterable[Mapping]) -> pd.DataFrame:
    """One row per dataset and method: n seeds, mean test ACC and AUC, their 95 % intervals
    (:func:`dive.stats.summarize`: Student t over the seeds; NaN for a single seed, never a made-up interval)
    and the per-seed values (``test_acc_values``: a tuple)."""
    from dive.stats import summarize

    df = pd.DataFrame(list(rows))
    cols = ["dataset", "method", "n_seeds"] + [
        c for _, m, _ in METRICS for c in (m, f"{m}_ci_low", f"{m}_ci_high", f"{m}_values")
    ]
    if df.empty:
        return pd.DataFrame(columns=cols)
    out = []
    for (dataset, method), g in df.groupby(["dataset", "method"], sort=False):
        row = {"dataset": dataset, "method": method, "n_seeds": int(g["seed"].nunique())}
        for _, m, _ in METRICS:
            values = g[m].astype(float).tolist()
            if any(math.isnan(v) for v in values):
                row.update({m: math.nan, f"{m}_ci_low": math.nan, f"{m}_ci_high": math.nan, f"{m}_values": ()})
                continue
            s = summarize(values)
            no_ci = s.ci_low is None
            row.update(
                {
                    m: s.mean,
                    f"{m}_ci_low": math.nan if no_ci else s.ci_low,
                    f"{m}_ci_high": math.nan if no_ci else s.ci_high,
                    f"{m}_values": tuple(values),  # per seed, for the test against the published value
                }
            )
        out.append(row)
    return pd.DataFrame(out, columns=cols)


def published(dataset: str, method: str = BASELINE) -> dict:
    """MedMNIST v2's published ``{"acc", "auc"}`` for one dataset and method."""
    t = reference.MEDMNIST_V2_2D
    hit = t[(t["dataset"] == dataset) & (t["method"] == method)]
    if hit.empty:
        raise KeyError(
            f"no published value for {dataset!r} / {method!r}; datasets: {sorted(set(t['dataset']))}, "
            f"methods: {list(reference.MEDMNIST_V2_METHODS)}"
        )
    return {"acc": float(hit["acc"].iloc[0]), "auc": float(hit["auc"].iloc[0])}


def p_against_published(values: Sequence[float], published_value: float) -> float | None:
    """Two-sided p of "the mean over seeds equals the published value" (:func:`dive.stats.p_against`: the
    one-sample t-test, the exact sign-flip test where every seed gives the same value); ``None`` with fewer than
    two seeds or an undefined value."""
    return stats.p_against(values, published_value)


def side(mean: float, published_value: float, p: float | None, *, alpha: float = 0.05) -> str:
    """``"above"`` / ``"below"`` where the (family-corrected) p < alpha, ``"cannot tell"`` where not, and
    ``"cannot tell (one seed)"`` where there is no test (``p`` is ``None``): :func:`dive.stats.side`."""
    return stats.side(mean, published_value, p, alpha=alpha)


def verdict(acc_side: str, auc_side: str | None) -> str:
    """The row's verdict from its two sides (:func:`side`; ``auc_side=None``: AUC undefined): :data:`ABOVE`
    or :data:`BELOW` when both agree, :data:`CANNOT_TELL` (or ``"cannot tell (one seed)"``) when neither is
    shown, otherwise ``"mixed: ACC ..., AUC ..."``."""
    for x in (acc_side, auc_side):
        if x is not None and x not in SIDES:
            raise ValueError(f"verdict: a side is one of {SIDES}, got {x!r}")
    if auc_side is None:
        return f"ACC {acc_side} the published {BASELINE}; AUC undefined (a class absent from the test images)"
    if acc_side == auc_side:
        return {"above": ABOVE, "below": BELOW, "cannot tell": CANNOT_TELL, ONE_SEED: ONE_SEED}[acc_side]
    return f"mixed: ACC {acc_side}, AUC {auc_side} the published {BASELINE}"


def _label(method: str) -> str:
    return METHODS[method].label if method in METHODS else method


def comparison_table(
    summary: pd.DataFrame, statuses: Sequence[FlagStatus], methods: Sequence[str], budget_label: str
) -> pd.DataFrame:
    """Rows: dataset x metric (ACC, AUC). Columns: this run's value per method, then MedMNIST v2's seven
    published methods. A dataset whose file is absent keeps its published values and says so in ``status``."""
    pub = reference.MEDMNIST_V2_2D
    rows = []
    for s in statuses:
        for label, mine, theirs in METRICS:
            row = {
                "dataset": s.flag,
                "metric": label,
                "status": f"this run ({budget_label})" if s.available else s.not_available(),
            }
            for m in methods:
                hit = summary[(summary["dataset"] == s.flag) & (summary["method"] == m)] if len(summary) else summary
                row[f"{_label(m)} (this run)"] = float(hit[mine].iloc[0]) if s.available and len(hit) else math.nan
            for pm in reference.MEDMNIST_V2_METHODS:
                v = pub[(pub["dataset"] == s.flag) & (pub["method"] == pm)][theirs]
                row[f"{pm} (published)"] = float(v.iloc[0]) if len(v) else math.nan
            rows.append(row)
    return pd.DataFrame(rows)


def verdict_table(
    summary: pd.DataFrame, statuses: Sequence[FlagStatus], methods: Sequence[str], budget_label: str
) -> pd.DataFrame:
    """One row per dataset and method: this run's ACC/AUC (mean; 95 % interval over seeds when n > 1), the
    published ResNet-18 (28), the differences, the p-values of the one-sample tests against the published
    values (Holm over every test of the table: its family, ``frame.attrs["family"]``) and the verdict; one
    "not available" row per absent dataset. Caption in ``frame.attrs["caption"]``."""
    from dive.stats import holm

    rows, tests = [], []  # tests: (row index, metric label, mean, published, p)
    for s in statuses:
        pub = published(s.flag)
        if not s.available:
            rows.append(
                {
                    "dataset": s.flag,
                    "method": "—",
                    "n_seeds": 0,
                    "verdict": s.not_available(),
                    f"{BASELINE} ACC": pub["acc"],
                    f"{BASELINE} AUC": pub["auc"],
                    "budget": "—",
                }
            )
            continue
        for m in methods:
            hit = summary[(summary["dataset"] == s.flag) & (summary["method"] == m)]
            if hit.empty:
                raise ValueError(f"no result for {s.flag} / {m}: every present dataset needs a run of every method")
            h = hit.iloc[0]
            row = {"dataset": s.flag, "method": _label(m), "n_seeds": int(h["n_seeds"])}
            for label, mine, theirs in METRICS:
                row[f"test {label}"] = float(h[mine])
                if h["n_seeds"] > 1 and not pd.isna(h[f"{mine}_ci_low"]):
                    row[f"test {label} 95% CI"] = f"[{h[f'{mine}_ci_low']:.3f}, {h[f'{mine}_ci_high']:.3f}]"
                row[f"{BASELINE} {label}"] = pub[theirs]
                row[f"Δ {label}"] = float(h[mine]) - pub[theirs]
                defined = not (label == "AUC" and pd.isna(h[mine]))
                values = h.get(f"{mine}_values", ()) if defined else ()
                p = p_against_published(values, pub[theirs]) if defined else None
                tests.append((len(rows), label, float(h[mine]), pub[theirs], p, defined))
            row["budget"] = budget_label
            rows.append(row)
    adjusted = holm([t[4] for t in tests])
    family = sum(p is not None for p in adjusted)
    sides: dict[int, dict] = {}
    for (i, label, mean, pub_value, _p, defined), p_adj in zip(tests, adjusted, strict=True):
        rows[i][f"p {label} (Holm)"] = p_adj
        sides.setdefault(i, {})[label] = side(mean, pub_value, p_adj) if defined else None
    for i, sd in sides.items():
        rows[i]["verdict"] = verdict(sd["ACC"], sd["AUC"])
    cols = [
        "dataset",
        "method",
        "n_seeds",
        "test ACC",
        "test ACC 95% CI",
        f"{BASELINE} ACC",
        "Δ ACC",
        "p ACC (Holm)",
        "test AUC",
        "test AUC 95% CI",
        f"{BASELINE} AUC",
        "Δ AUC",
        "p AUC (Holm)",
        "verdict",
        "budget",
    ]
    df = pd.DataFrame(rows)
    df = df[[c for c in cols if c in df.columns]]
    df.attrs["family"] = family
    df.attrs["caption"] = (
        f"one-sample t-test over the seeds of each mean against the published {BASELINE} (exact sign-flip test "
        f"where the seeds agree exactly), Holm over the table's {family} tests; above / below where the corrected "
        f"p < 0.05, else cannot tell; one seed: cannot tell"
    )
    return df


def difference_heatmap(verdicts: pd.DataFrame, *, title: str | None = None):
    """Heatmap of this run minus the published ResNet-18 (28): rows datasets, columns method x metric;
    blue = above, red = below, grey "n/a" = not available."""
    import matplotlib.pyplot as plt

    datasets = list(dict.fromkeys(verdicts["dataset"]))
    methods = [m for m in dict.fromkeys(verdicts["method"]) if m != "—"]
    cols = [(m, label) for m in methods for label, _, _ in METRICS]
    values = np.full((len(datasets), len(cols)), np.nan)
    for i, d in enumerate(datasets):
        for j, (m, label) in enumerate(cols):
            hit = verdicts[(verdicts["dataset"] == d) & (verdicts["method"] == m)]
            if len(hit) and f"Δ {label}" in hit:
                values[i, j] = hit[f"Δ {label}"].iloc[0]
    finite = values[np.isfinite(values)]
    lim = max(0.01, float(np.abs(finite).max())) if finite.size else 0.01
    fig, ax = plt.subplots(figsize=(1.5 * max(len(cols), 2) + 2.5, 0.45 * len(datasets) + 1.8))
    cmap = plt.get_cmap("RdBu").with_extremes(bad="#dddddd")
    im = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, vmin=-lim, vmax=lim, aspect="auto")
    for i in range(len(datasets)):
        for j in range(len(cols)):
            v = values[i, j]
            ax.text(
                j,
                i,
                "n/a" if np.isnan(v) else f"{v:+.3f}",
                ha="center",
                va="center",
                fontsize=8,
                color="black" if np.isnan(v) or abs(v) < 0.6 * lim else "white",
            )
    ax.set_xticks(range(len(cols)), [f"{textwrap.fill(m, 16)}\n{label}" for m, label in cols], fontsize=8)
    ax.set_yticks(range(len(datasets)), datasets, fontsize=9)
    fig.colorbar(im, ax=ax, label=f"this run − published {BASELINE}")
    ax.set_title(title or f"Test ACC and AUC minus MedMNIST v2's {BASELINE}", fontsize=10)
    fig.tight_layout()
    return fig


def against_published(runs: Mapping[str, Sequence], flag: str, budget_label: str) -> pd.DataFrame | None:
    """Notebooks 03 and 07: each configuration's test ACC and AUC over its seeds (``runs``: ``{name: [RunResult
    per seed]}``, each scored on ``flag``'s official test split) against MedMNIST v2's published
    :data:`BASELINE` for ``flag``, as :func:`verdict_table` does it (one-sample tests, Holm over the table's
    family, "cannot tell" where the seeds cannot separate the mean from the published value). ``None`` for a
    data set MedMNIST v2 publishes nothing for (MNIST)."""
    if flag not in set(reference.MEDMNIST_V2_2D["dataset"]):
        return None
    rows = []
    for name, results in runs.items():
        for r in results:
            if r.test is None:
                raise ValueError(f"{name} (seed {r.seed}) was not scored on the test split")
            rows.append(
                {
                    "dataset": flag,
                    "method": name,
                    "seed": r.seed,
                    "test_acc": r.test["accuracy"],
                    "test_auc": r.test["auc"],
                }
            )
    present = FlagStatus(flag, "present", Path(), "", "")
    return verdict_table(summarise(rows), [present], list(runs), budget_label)


#: How :func:`improved_vs_report` words each side of its test (``"cannot tell (one seed)"`` stays as it is).
_AGAINST_REPORT = {
    "above": "above the report's value",
    "below": "below the report's value",
    "cannot tell": "cannot tell against the report's value",
}


def improved_vs_report(runs, train_images: int) -> pd.DataFrame:
    """Notebook 01's improved SimpleCNN over its seeds (``runs``: one result per seed, trained on
    ``train_images`` images) against the report's MNIST validation accuracy (Table 5, its defaults' 98.9 %): each
    seed's best validation accuracy, their mean with its 95 % t interval, and the two-sided one-sample t-test of
    "mean = the report's value" (this one test is its family) -- "above" or "below" where p < 0.05, else "cannot
    tell". Caption in ``frame.attrs["caption"]``."""
    from dive.stats import summarize

    t5 = reference.TABLE5_MNIST
    report = float(
        t5[(t5["study"] == "learning_rate") & (t5["value"] == reference.MNIST_DEFAULTS["lr"])]["val_acc"].iloc[0]
    )
    best = {r.seed: max(h["val_acc"] for h in r.history) for r in runs}
    s = summarize(list(best.values()))
    p = p_against_published(list(best.values()), report)
    frame = pd.DataFrame(
        [
            {
                "training images": train_images,
                "epochs": max(len(r.history) for r in runs),
                "seeds": ", ".join(map(str, best)),
                "best val acc per seed": ", ".join(f"{v:.4f}" for v in best.values()),
                "mean": s.mean,
                "ci_low": s.ci_low,
                "ci_high": s.ci_high,
                "report (Table 5 defaults)": report,
                "difference": s.mean - report,
                "p (one-sample t)": p,
                "verdict": _AGAINST_REPORT.get(side(s.mean, report, p), side(s.mean, report, p)),
            }
        ]
    )
    frame.attrs["caption"] = (
        f"best validation accuracy of each seed, mean with its 95 % t interval over {s.n} seed(s), against the "
        f"report's {report:.1%} (Table 5, the defaults' validation accuracy); two-sided one-sample t-test of mean = "
        "that value, this one test its family (alpha 0.05): above / below where p < 0.05, else cannot tell"
    )
    return frame

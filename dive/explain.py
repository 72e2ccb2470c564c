"""Notebook 10's study: the report's two models (notebook 02's SimpleCNN and notebook 07's tuned ResNet18,
the very runs of those notebooks, planned through :mod:`dive.recipes`), explained by :mod:`dive.attribution`
and checked by :mod:`dive.attribution_checks`.

* :func:`report_configs` / :func:`report_runs`: the runs, planned then trained (or loaded from the run store);
* :func:`shuffled_run`: the SimpleCNN again on shuffled labels (the data randomisation test);
* :func:`pick_examples`, :func:`confused_pairs`, :func:`pair_examples`: which test images to show;
* :func:`study`: maps, faithfulness and sanity checks of one run (:class:`Study`, what notebook 10 shows).

This module sits above :mod:`dive.notebook` and :mod:`dive.profiles` (it resolves notebooks 02 and 07's
parameters); the methods and their checks import neither.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from dive import data as ddata
from dive import experiment, recipes
from dive.attribution import LABELS, METHODS, Explainer, NoSpatialMap, check_methods
from dive.attribution_checks import (
    Faithfulness,
    cascading_randomisation,
    data_randomisation,
    faithfulness,
    sanity_verdicts,
    shuffled_labels,
)
from dive.notebook import split_seed
from dive.profiles import resolve
from dive.utils import DEFAULT_SEED

# --------------------------------------------------------------------------- choosing images


def pick_examples(
    y_true: np.ndarray,
    probs: np.ndarray,
    per_class: int = 2,
    *,
    multilabel: bool = False,
    classes: list[str] | None = None,
) -> pd.DataFrame:
    """Per class, the ``per_class`` most confident correct and misclassified images of a split.

    Columns: ``index`` (into the split), ``class``, ``target`` (the class explained: the prediction),
    ``true``, ``pred``, ``correct``, ``prob`` (of the prediction). Multi-label: per label, images where the
    label is predicted correctly present / wrongly (present or absent), explained for that label.
    """
    y, p = np.asarray(y_true), np.asarray(probs)
    k = p.shape[1]
    names = classes or [str(c) for c in range(k)]
    rows = []
    for c in range(k):
        if multilabel:
            pred_c = p[:, c] > 0.5
            good = np.nonzero((y[:, c] == 1) & pred_c)[0]
            bad = np.nonzero((y[:, c] == 1) != pred_c)[0]
            conf = np.abs(p[:, c] - 0.5)
            picks = [(i, True, c, int(y[i, c]), int(pred_c[i])) for i in good[np.argsort(-conf[good])][:per_class]]
            picks += [(i, False, c, int(y[i, c]), int(pred_c[i])) for i in bad[np.argsort(-conf[bad])][:per_class]]
            rows += [
                {
                    "index": int(i),
                    "class": names[c],
                    "target": tgt,
                    "true": tv,
                    "pred": pv,
                    "correct": ok,
                    "prob": float(p[i, c]),
                }
                for i, ok, tgt, tv, pv in picks
            ]
            continue
        pred = p.argmax(1)
        for ok in (True, False):
            idx = np.nonzero((y == c) & ((pred == c) == ok))[0]
            idx = idx[np.argsort(-p[idx, pred[idx]])][:per_class]
            rows += [
                {
                    "index": int(i),
                    "class": names[c],
                    "target": int(pred[i]),
                    "true": names[c],
                    "pred": names[pred[i]],
                    "correct": ok,
                    "prob": float(p[i, pred[i]]),
                }
                for i in idx
            ]
    return pd.DataFrame(rows, columns=["index", "class", "target", "true", "pred", "correct", "prob"])


def confused_pairs(confusion: np.ndarray, k: int = 3) -> list[tuple[int, int, int]]:
    """The ``k`` largest off-diagonal cells of a confusion matrix (rows: true, columns: predicted) as
    ``(true, predicted, count)``, count > 0 only."""
    cm = np.asarray(confusion).copy()
    np.fill_diagonal(cm, 0)
    order = np.argsort(-cm, axis=None, kind="stable")[:k]
    rows, cols = np.unravel_index(order, cm.shape)
    return [(int(i), int(j), int(cm[i, j])) for i, j in zip(rows, cols, strict=True) if cm[i, j] > 0]


def pair_examples(y_true: np.ndarray, probs: np.ndarray, pairs) -> pd.DataFrame:
    """For each confused pair (a, b): the most confident image of class a predicted as b, beside the most
    confident correctly classified image of b (both explained for their prediction)."""
    y, p = np.asarray(y_true), np.asarray(probs)
    pred = p.argmax(1)
    rows = []
    for a, b, count in pairs:
        wrong = np.nonzero((y == a) & (pred == b))[0]
        right = np.nonzero((y == b) & (pred == b))[0]
        if not len(wrong):
            continue
        i = wrong[np.argmax(p[wrong, b])]
        rows.append(
            {"pair": f"{a}->{b}", "count": count, "role": f"{a} predicted as {b}", "index": int(i), "target": b}
        )
        if len(right):
            j = right[np.argmax(p[right, b])]
            rows.append({"pair": f"{a}->{b}", "count": count, "role": f"{b}, correct", "index": int(j), "target": b})
    return pd.DataFrame(rows, columns=["pair", "count", "role", "index", "target"])


# --------------------------------------------------------------------------- the report's models


def report_configs(
    profile: str,
    *,
    data_root=None,
    data_flag=None,
    seed=None,
    device="auto",
    pretrained=None,
    variant: str = "bn",
    out_dir=None,
) -> dict:
    """The runs of :func:`report_runs`, planned but not started: ``{"simplecnn": plan, "resnet18": plan}``,
    each ``plan`` a dict with ``data`` (the bundle, subsets drawn as :func:`dive.notebook.setup` draws them for
    notebooks 02 and 07), ``runs`` (``[(variant, name, RunConfig)]``) and ``notes`` (:func:`dive.experiment.
    config_for`'s, e.g. ImageNet weights asked for with ``"auto"`` and missing). The configs come from the
    recipes those notebooks call (:func:`dive.recipes.simplecnn_variants`, :func:`dive.recipes.table4`) with
    their parameters in the same profile, at their first seed, so their run-store keys are the same. Every
    parameter and weight file is checked here, before any training.
    """
    if variant not in (*recipes.SIMPLECNN_VARIANTS, "best"):
        raise ValueError(f"unknown SimpleCNN variant {variant!r}; valid: {', '.join(recipes.SIMPLECNN_VARIANTS)}, best")
    shared = dict(
        data_root=data_root, data_flag=data_flag, seed=seed, device=str(device), pretrained=pretrained, out_dir=out_dir
    )
    p2 = resolve("02_pathmnist_simplecnn", profile, **shared)
    p7 = resolve("07_resnet_tuning", profile, **shared)
    data2 = _notebook_data(p2)
    keys = list(recipes.SIMPLECNN_VARIANTS) if variant == "best" else [variant]
    configs = recipes.simplecnn_variants(data2, p2, keys)
    simple = [(k, name, c.replace(seed=p2.seed)) for k, (name, c) in zip(keys, configs.items(), strict=True)]
    data7 = _notebook_data(p7)
    tuned, note7 = recipes.table4(data7, p7)
    return {
        "simplecnn": {"data": data2, "runs": simple, "notes": []},
        "resnet18": {
            "data": data7,
            "runs": [("tuned", "resnet18_optimised", tuned.replace(seed=p7.seed))],
            "notes": [note7] if note7 else [],
        },
    }


def _notebook_data(p):
    """The data of a notebook with parameters ``p``, loaded and subset as :func:`dive.notebook.setup` does."""
    s = split_seed(p)
    data = ddata.load(p.data_flag, p.data_root, split=p.get("split") or "report", seed=s)
    return data.subsets(train=p.get("train_size"), val=p.get("val_size"), test=p.get("test_size"), seed=s)


def _run_planned(data, runs, notes, *, device, outputs, executor, ray_address, evaluate_test: bool = True) -> list:
    """``runs`` (``[(label, name, config)]``) on ``data`` in one :func:`dive.experiment.run_many` call; ``notes``
    recorded first and put at the head of each result's notes, as the keyword style of
    :func:`dive.experiment.run` does."""
    if outputs is not None:
        for n in notes:
            outputs.note(n)
    where = {"executor": executor, **({"ray_address": ray_address} if ray_address is not None else {})}
    results = experiment.run_many(
        data,
        [config for _, _, config in runs],
        names=[name for _, name, _ in runs],
        evaluate_test=evaluate_test,
        device=device,
        outputs=outputs,
        **where,
    )
    for r in results:
        r.notes = [*notes, *(n for n in r.notes if n not in notes)]
    return results


def report_runs(
    profile: str,
    *,
    data_root=None,
    data_flag=None,
    seed=None,
    device="auto",
    pretrained=None,
    variant: str = "bn",
    outputs=None,
    out_dir=None,
    executor: str = "local",
    ray_address: str | None = None,
) -> dict:
    """The report's two models, trained (or, with the run store, loaded) exactly as notebooks 02 and 07 do.

    * ``"simplecnn"``: the improved SimpleCNN of ``02_pathmnist_simplecnn`` with that profile's settings;
      ``variant`` "bn" (batch norm only: the report's best, 4.1), "bn_dropout", "dropout", or "best" (all three,
      the best by validation accuracy);
    * ``"resnet18"``: the tuned ResNet18 (``resnet18_optimised``) of ``07_resnet_tuning``.

    The runs are planned first (:func:`report_configs`: every check before any training), then the SimpleCNN
    variants go through one :func:`dive.experiment.run_many` call and the ResNet18 through another
    (``executor="local"``: here, one after another; ``"ray"``: one Ray task each, on ``ray_address``).
    Returns ``{key: (RunResult, DatasetBundle, description)}``. ``outputs`` records the runs.
    """
    plans = report_configs(
        profile,
        data_root=data_root,
        data_flag=data_flag,
        seed=seed,
        device=device,
        pretrained=pretrained,
        variant=variant,
        out_dir=out_dir,
    )
    where = dict(device=device, outputs=outputs, executor=executor, ray_address=ray_address)
    got = {}
    for key, plan in plans.items():
        results = _run_planned(plan["data"], plan["runs"], plan["notes"], **where)
        got[key] = {label: r for (label, _, _), r in zip(plan["runs"], results, strict=True)}
    runs = got["simplecnn"]
    best = max(runs, key=lambda k: runs[k].val["accuracy"])
    simple = (
        runs[best],
        plans["simplecnn"]["data"],
        f"SimpleCNN, {recipes.SIMPLECNN_VARIANTS[best][0]} (notebook 02"
        + (", best of three by validation accuracy)" if variant == "best" else ")"),
    )
    resnet = (got["resnet18"]["tuned"], plans["resnet18"]["data"], "ResNet18, tuned (notebook 07, Table 4)")
    return {"simplecnn": simple, "resnet18": resnet}


def models_table(models: dict) -> pd.DataFrame:
    """The models of :func:`report_runs`: description, run name, validation and test accuracy, test images."""
    return pd.DataFrame(
        [
            {
                "model": desc,
                "run": r.name,
                "val_accuracy": r.val["accuracy"],
                "test_accuracy": r.test["accuracy"],
                "test_images": len(r.y_test),
            }
            for r, _, desc in models.values()
        ]
    )


def shuffled_run(
    result,
    data,
    *,
    outputs=None,
    device="auto",
    seed: int = DEFAULT_SEED,
    executor: str = "local",
    ray_address: str | None = None,
):
    """The run of ``result`` again, same config, on :func:`shuffled_labels` of ``data`` (recorded in
    ``outputs`` as ``<name>_shuffled_labels``), through :func:`dive.experiment.run_many` (``executor``)."""
    (r,) = _run_planned(
        shuffled_labels(data, seed),
        [("shuffled", f"{result.name}_shuffled_labels", result.config)],
        [],
        device=device,
        outputs=outputs,
        executor=executor,
        ray_address=ray_address,
        evaluate_test=False,
    )
    return r


def _index(column) -> torch.Tensor:
    return torch.tensor(list(column), dtype=torch.long)


@dataclass
class Study:
    """Everything notebook 10 shows for one model."""

    name: str
    examples: pd.DataFrame  # pick_examples rows
    example_maps: dict  # method -> maps of the examples
    sample: np.ndarray  # test indices used for the faithfulness and sanity checks
    faithfulness: Faithfulness
    cascade: pd.DataFrame
    sanity: pd.DataFrame
    data_randomisation: pd.DataFrame | None
    pairs: pd.DataFrame
    pair_maps: dict
    gradcam_layer: str | None  # None: no layer has a map of GRADCAM_MIN_SIDE a side, so no Grad-CAM
    gradcam_grid: tuple | None
    notes: list = field(default_factory=list)  # what was left out, and why

    def gradcam_line(self) -> str:
        """Which layer Grad-CAM looks at (markdown), or why there is no Grad-CAM."""
        if self.gradcam_layer is None:
            return f"{self.name}: no Grad-CAM - no spatial map at this input size"
        grid = self.gradcam_grid
        return f"{self.name}: Grad-CAM looks at `{self.gradcam_layer}`, a {grid[0]}x{grid[1]} grid"

    def example_titles(self) -> list[str]:
        """A title per gallery image: its class, ok or the prediction, and the prediction's probability."""
        return [
            f"{row['class']}: {'ok' if row['correct'] else 'pred ' + str(row['pred'])} {row['prob']:.2f}"
            for _, row in self.examples.iterrows()
        ]

    def pair_titles(self, classes) -> list[str]:
        """A title per image of the confused pairs: "<true> as <predicted>" or "<class> (correct)", and the count."""
        titles = []
        for _, row in self.pairs.iterrows():
            a, b = (int(c) for c in row["pair"].split("->"))
            role = f"{classes[a]} as {classes[b]}" if row["role"].startswith(f"{a} ") else f"{classes[b]} (correct)"
            titles.append(f"{role[:28]} (n={row['count']})")
        return titles

    def tables(self) -> dict[str, pd.DataFrame]:
        f = self.faithfulness.table
        if self.gradcam_layer is not None:  # which layer Grad-CAM's row rests on, and its map's size
            where = f"{self.gradcam_layer} ({self.gradcam_grid[0]}x{self.gradcam_grid[1]})"
            f = f.assign(gradcam_layer=np.where(f["method"] == "gradcam", where, ""))
        return {
            "faithfulness": f.assign(model=self.name)[["model", *f.columns]],
            "sanity": self.sanity.assign(model=self.name)[["model", *self.sanity.columns]],
        }


def study_tables(studies: dict) -> dict[str, pd.DataFrame]:
    """Notebook 10's tables over its studies (``{key: Study}``): ``faithfulness`` and ``sanity`` (each study's
    :meth:`Study.tables`) and ``cascading_randomisation`` (each study's cascade), one row block per model."""
    return {
        "faithfulness": pd.concat([s.tables()["faithfulness"] for s in studies.values()], ignore_index=True),
        "sanity": pd.concat([s.tables()["sanity"] for s in studies.values()], ignore_index=True),
        "cascading_randomisation": pd.concat(
            [s.cascade.assign(model=s.name) for s in studies.values()], ignore_index=True
        ),
    }


def _gradcam_where(e: Explainer, images, methods: list[str], notes: list[str]):
    """Grad-CAM's layer and map size at this input size; ``(None, None)`` and Grad-CAM left out of ``methods``
    (with a note) where no layer has a spatial map. Returns ``(layer, grid, methods)``."""
    try:
        return e.gradcam_layer(images[:1])[0], e.gradcam_grid(images[:1]), methods
    except NoSpatialMap as err:
        if "gradcam" in methods:
            notes.append(f"Grad-CAM left out: {err}")
            return None, None, [m for m in methods if m != "gradcam"]
        return None, None, methods


def _drop_constant(maps: dict, ex_maps: dict, methods: list[str], notes: list[str]) -> list[str]:
    """A method none of whose ``maps`` varies is left out (nothing to draw or score), with a note; a method with
    some constant maps is noted. Returns the methods kept; ``maps`` and ``ex_maps`` lose the others."""
    n = len(next(iter(maps.values()))) if maps else 0
    flat = {m: int((v.reshape(len(v), -1).std(1) == 0).sum()) for m, v in maps.items()}
    for m in [m for m, k in flat.items() if k == n]:
        methods = [q for q in methods if q != m]
        maps.pop(m)
        ex_maps.pop(m, None)
        notes.append(f"{LABELS[m]} left out: every one of its {n} maps is constant (no spatial map)")
    notes += [f"{LABELS[m]}: {k} of {n} maps are constant" for m, k in flat.items() if 0 < k < n]
    return methods


def study(
    result,
    data,
    methods=METHODS,
    *,
    per_class: int = 1,
    n_images: int = 16,
    steps: int = 16,
    stages: int = 4,
    pairs: int = 3,
    shuffled=None,
    device="auto",
    seed: int = DEFAULT_SEED,
    name: str | None = None,
) -> Study:
    """Maps, faithfulness and sanity checks of one run on its test split (what notebook 10 shows).

    ``per_class``: correct and misclassified examples per class for the gallery; ``n_images``: a seeded
    random sample of test images for the faithfulness and sanity tables (targets: the predictions);
    ``pairs``: the most-confused class pairs (single-label only); ``shuffled``: a run on shuffled labels
    (:func:`shuffled_run`) for the data randomisation test.
    """
    methods = check_methods(methods)
    cfg = result.config
    data = data.subsets(train=cfg.train_size, val=cfg.val_size, test=cfg.test_size, seed=cfg.split_seed)
    e = Explainer.from_run(result, data, device=device)
    images = data.test.images
    notes: list[str] = []
    layer, grid, methods = _gradcam_where(e, images, methods, notes)
    multilabel = data.train.multilabel
    if result.test_probs is None:
        raise ValueError(f"{result.name}: run it with evaluate_test=True (the study explains test images)")
    probs, y = np.asarray(result.test_probs), np.asarray(result.y_test)
    ex = pick_examples(y, probs, per_class, multilabel=multilabel, classes=data.classes)
    ex_maps = e.explain(images[_index(ex["index"])], methods, ex["target"].to_numpy()) if len(ex) else {}
    rng = np.random.default_rng(seed)
    sample = np.sort(rng.choice(len(images), size=min(n_images, len(images)), replace=False))
    x = images[sample]
    t = e.predict(x)
    maps = e.explain(x, methods, t)
    methods = _drop_constant(maps, ex_maps, methods, notes)
    faith = faithfulness(e, x, maps, t, steps=steps, seed=seed)
    cascade = cascading_randomisation(e, x, t, methods, stages=stages, maps=maps, seed=seed)
    drand = None
    if shuffled is not None:
        drand = data_randomisation(
            e, Explainer.from_run(shuffled, shuffled_labels(data, seed), device=device), x, t, methods, maps=maps
        )
    pr = pd.DataFrame(columns=["pair", "count", "role", "index", "target"])
    if not multilabel and pairs:
        pr = pair_examples(y, probs, confused_pairs(result.test["confusion_matrix"], pairs))
    pr_maps = e.explain(images[_index(pr["index"])], methods, pr["target"].to_numpy(dtype=int)) if len(pr) else {}
    return Study(
        name or result.name,
        ex,
        ex_maps,
        sample,
        faith,
        cascade,
        sanity_verdicts(cascade, drand),
        drand,
        pr,
        pr_maps,
        layer,
        grid,
        notes,
    )

"""Checks of attribution maps (:mod:`dive.attribution`): are they faithful to the model, and do they
depend on what it learned?

Checks:

* :func:`faithfulness`: deletion and insertion curves (Petsiuk et al. 2018): pixels removed (set to
  the baseline) or revealed in the order of the map, in ``steps`` steps, tracking the probability of
  the target; area under each curve, beside the same curves for a random order of the same pixels. A
  method whose deletion AUC is not clearly below random (one-sided Wilcoxon signed-rank test over the
  images, p < 0.05) is flagged "not faithful for this model".
* :func:`cascading_randomisation` (Adebayo et al. 2018): the model's layers are re-initialised from the
  top (output) down, in stages; the Spearman rank correlation (scipy) between each method's absolute
  maps for the trained and the randomised model is tracked. A method whose maps still correlate above
  ``SANITY_THRESHOLD`` once every layer is random is flagged: its maps barely depend on what was learned.
* :func:`data_randomisation`: the same correlation against a model trained on shuffled labels
  (:func:`shuffled_labels`).
* :func:`mass_in_region`: the share of a map inside a known region (ground truth on synthetic images).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import torch
import torch.nn as nn
from scipy import stats

from dive.attribution import METHODS, Explainer, as_float, check_methods
from dive.utils import DEFAULT_SEED

#: A method whose maps for the fully randomised model still have this Spearman correlation with the trained
#: model's maps fails the sanity check.
SANITY_THRESHOLD = 0.5
#: The one-sided p-value below which a method's deletion AUC counts as clearly below the random order's.
FAITHFUL_P = 0.05

# --------------------------------------------------------------------------- faithfulness


def _order(maps: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Pixel ranks (N, H*W), most relevant first; ties broken at random."""
    flat = maps.reshape(len(maps), -1)
    ranks = np.empty(flat.shape, dtype=np.int64)
    for i, m in enumerate(flat):
        order = np.lexsort((rng.random(m.size), -m))
        ranks[i, order] = np.arange(m.size)
    return ranks


def perturbation_curves(
    explainer: Explainer, images, ranks: np.ndarray, targets, *, steps: int = 16, mode: str = "deletion"
) -> np.ndarray:
    """Probability of each image's target (N, steps + 1) as the pixels are removed (``deletion``: set to the
    baseline) or revealed (``insertion``: on the baseline image) in the order of ``ranks``."""
    if mode not in ("deletion", "insertion"):
        raise ValueError(f"unknown mode {mode!r}; valid: deletion, insertion")
    x = as_float(images)
    n, _, h, w = x.shape
    t = torch.as_tensor(targets, dtype=torch.long)
    r = torch.as_tensor(ranks).reshape(n, 1, h, w)
    base = torch.full_like(x, explainer.baseline)
    out = np.empty((n, steps + 1), dtype=np.float64)
    for j, frac in enumerate(np.linspace(0, 1, steps + 1)):
        chosen = r < int(round(frac * h * w))
        xj = torch.where(chosen, base, x) if mode == "deletion" else torch.where(chosen, x, base)
        probs = explainer.net.probability(explainer.scores(xj))
        out[:, j] = probs.gather(1, t[:, None])[:, 0].numpy()
    return out


def _auc(curves: np.ndarray) -> np.ndarray:
    return np.trapezoid(curves, np.linspace(0, 1, curves.shape[1]), axis=1)


@dataclass
class Faithfulness:
    """Per-method deletion/insertion results: ``table`` (one row per method) and the mean ``curves``."""

    table: pd.DataFrame
    curves: dict  # {(method or "random", "deletion" | "insertion"): mean curve}
    per_image: pd.DataFrame


def faithfulness(
    explainer: Explainer,
    images,
    maps: dict[str, np.ndarray],
    targets,
    *,
    steps: int = 16,
    n_random: int = 2,
    seed: int = DEFAULT_SEED,
) -> Faithfulness:
    """Deletion and insertion AUCs of each method's maps against ``n_random`` random pixel orders.

    Verdict per method: "faithful" when the deletion AUC is below the random order's for the images as a
    whole (mean difference < 0 and one-sided Wilcoxon signed-rank p < ``FAITHFUL_P``), else "not faithful
    for this model".
    """
    rng = np.random.default_rng(seed)
    x = as_float(images)
    t = np.asarray(targets)
    n, _, h, w = x.shape
    curves, per_image = {}, {}
    for mode in ("deletion", "insertion"):
        rand = [
            perturbation_curves(explainer, x, _order(rng.random((n, h, w)), rng), t, steps=steps, mode=mode)
            for _ in range(n_random)
        ]
        rand_curve = np.mean(rand, axis=0)
        curves[("random", mode)] = rand_curve.mean(0)
        per_image[("random", mode)] = _auc(rand_curve)
        for method, m in maps.items():
            c = perturbation_curves(explainer, x, _order(m, rng), t, steps=steps, mode=mode)
            curves[(method, mode)] = c.mean(0)
            per_image[(method, mode)] = _auc(c)
    rows = []
    for method in maps:
        d = per_image[(method, "deletion")] - per_image[("random", "deletion")]
        p = _wilcoxon_less(d)
        faithful = bool(d.mean() < 0 and p < FAITHFUL_P)
        rows.append(
            {
                "method": method,
                "images": n,
                "deletion_auc": per_image[(method, "deletion")].mean(),
                "deletion_auc_random": per_image[("random", "deletion")].mean(),
                "insertion_auc": per_image[(method, "insertion")].mean(),
                "insertion_auc_random": per_image[("random", "insertion")].mean(),
                "deletion_p": p,
                "verdict": "faithful" if faithful else "not faithful for this model",
            }
        )
    per = pd.DataFrame({f"{k[0]}_{k[1]}_auc": v for k, v in per_image.items()})
    return Faithfulness(pd.DataFrame(rows), curves, per)


def _wilcoxon_less(d: np.ndarray) -> float:
    """One-sided p-value that the differences ``d`` are centred below 0 (1.0 when they are all zero)."""
    d = np.asarray(d, dtype=float)
    if len(d) == 0 or np.allclose(d, 0):
        return 1.0
    return float(stats.wilcoxon(d, alternative="less", zero_method="zsplit").pvalue)


# --------------------------------------------------------------------------- sanity checks


def parameter_layers(model: nn.Module) -> list[str]:
    """Names of the modules that hold parameters themselves, from the output back to the input."""
    return [n for n, m in model.named_modules() if n and any(True for _ in m.parameters(recurse=False))][::-1]


def randomise(model: nn.Module, layers, seed: int = DEFAULT_SEED) -> nn.Module:
    """A copy of ``model`` whose ``layers`` (names) are re-initialised (their ``reset_parameters``, e.g.
    Kaiming-uniform convolutions, or N(0, 0.02) for modules without one), seeded."""
    twin = copy.deepcopy(model)
    mods = dict(twin.named_modules())
    with torch.random.fork_rng(devices=[]):
        for i, name in enumerate(layers):
            torch.manual_seed(seed + i)
            m = mods[name]
            if hasattr(m, "reset_parameters"):
                m.reset_parameters()
            else:
                with torch.no_grad():
                    for p in m.parameters(recurse=False):
                        p.normal_(0, 0.02)
    return twin


def _spearman(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman correlation of |a_i| and |b_i| per image (NaN where a map is constant)."""
    out = np.full(len(a), np.nan)
    for i, (u, v) in enumerate(zip(np.abs(a).reshape(len(a), -1), np.abs(b).reshape(len(b), -1), strict=True)):
        if np.ptp(u) > 0 and np.ptp(v) > 0:
            out[i] = stats.spearmanr(u, v).statistic
    return out


def _mean(v: np.ndarray) -> float:
    return float(np.nanmean(v)) if np.isfinite(v).any() else float("nan")


def cascading_randomisation(
    explainer: Explainer,
    images,
    targets,
    methods=METHODS,
    *,
    stages: int = 4,
    maps: dict | None = None,
    seed: int = DEFAULT_SEED,
) -> pd.DataFrame:
    """Adebayo et al.'s cascading randomisation: one row per (method, stage).

    Stage ``k`` re-initialises the top ``k``-th part of :func:`parameter_layers` (cumulatively, from the
    output down; the last stage randomises every layer). ``spearman``: mean over the images of the rank
    correlation between the absolute maps of the trained and of the randomised model (same targets);
    ``maps``: the trained model's maps when already computed.
    """
    methods = check_methods(methods)
    t = np.asarray(targets)
    layers = parameter_layers(explainer.model)
    cuts = np.unique(np.linspace(1, len(layers), max(1, stages)).round().astype(int))
    trained = {m: maps[m] if maps and m in maps else explainer.attribute(images, m, t) for m in methods}
    rows = []
    for k in cuts:
        rnd = explainer.with_model(randomise(explainer.model, layers[:k], seed))
        for m in methods:
            rho = _spearman(trained[m], rnd.attribute(images, m, t))
            rows.append(
                {
                    "method": m,
                    "stage": int(k),
                    "layers_randomised": int(k),
                    "of_layers": len(layers),
                    "down_to": layers[k - 1],
                    "spearman": _mean(rho),
                    "spearman_sd": float(np.nanstd(rho)) if np.isfinite(rho).any() else float("nan"),
                }
            )
    return pd.DataFrame(rows)


def sanity_verdicts(cascade: pd.DataFrame, data_rand: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per method: the correlation with the fully randomised model (and, when given, with the
    shuffled-labels model) and the verdict (``SANITY_THRESHOLD``)."""
    rows = []
    for method, g in cascade.groupby("method", sort=False):
        last = g.loc[g["layers_randomised"].idxmax()]
        row = {"method": method, "spearman_all_layers_random": last["spearman"]}
        checks = [last["spearman"]]
        if data_rand is not None and method in set(data_rand["method"]):
            row["spearman_shuffled_labels"] = float(data_rand.set_index("method").loc[method, "spearman"])
            checks.append(row["spearman_shuffled_labels"])
        if any(np.isnan(c) for c in checks):
            verdict = "undefined: constant maps"
        elif max(checks) > SANITY_THRESHOLD:
            verdict = f"fails: maps barely change (Spearman > {SANITY_THRESHOLD})"
        else:
            verdict = "passes: maps depend on the learned weights"
        rows.append({**row, "verdict": verdict})
    return pd.DataFrame(rows)


def shuffled_labels(data, seed: int = DEFAULT_SEED):
    """``data`` (a :class:`dive.data.DatasetBundle`) with its training labels randomly permuted (Adebayo's
    data randomisation test: a model trained on it can only memorise)."""
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(len(data.train), generator=g)
    return replace(data, train=replace(data.train, labels=data.train.labels[perm].clone()))


def data_randomisation(
    explainer: Explainer, shuffled: Explainer, images, targets, methods=METHODS, *, maps: dict | None = None
) -> pd.DataFrame:
    """Spearman correlation of each method's absolute maps for the trained model and for a model trained on
    shuffled labels (same images and targets)."""
    t = np.asarray(targets)
    rows = []
    for m in check_methods(methods):
        a = maps[m] if maps and m in maps else explainer.attribute(images, m, t)
        rho = _spearman(a, shuffled.attribute(images, m, t))
        rows.append({"method": m, "spearman": _mean(rho)})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- ground truth


def mass_in_region(maps: np.ndarray, regions: np.ndarray) -> np.ndarray:
    """Share of each map's absolute attribution that lies inside its boolean region (N, H, W)."""
    a = np.abs(maps).reshape(len(maps), -1)
    r = np.asarray(regions, dtype=bool).reshape(len(maps), -1)
    return (a * r).sum(1) / np.maximum(a.sum(1), 1e-12)

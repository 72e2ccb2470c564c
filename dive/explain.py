"""What the networks look at: attribution maps of a trained model, measured for faithfulness and sanity.

Four methods, all through captum 0.9:

=====================  =========================================================================
saliency               |d score / d pixel| (Simonyan et al. 2014), the largest over the channels
integrated_gradients   Sundararajan et al. 2017: baseline the black image (all zeros before the
                       preprocessing, i.e. the *normalised* black image the network sees),
                       ``ig_steps`` = 32 Gauss-Legendre steps; summed over the channels
occlusion              Zeiler & Fergus 2014: the score drop when a square patch (side ~ H/7, moved
                       by its own side: 49 patches at 28 px) is set to the baseline; summed over the channels
gradcam                Selvaraju et al. 2017 on the last convolutional block whose map is at least
                       ``GRADCAM_MIN_SIDE`` cells a side at the network's input size
                       (:func:`gradcam_layer`), ReLU'd, mapped back through the resize/crop to the
                       image's pixels; where no layer has such a map there is no Grad-CAM
                       (:class:`NoSpatialMap`), never a flat map drawn as an explanation
=====================  =========================================================================

Every map is computed **on the image the user sees** (the file's 28 px, or the file size), through
the very preprocessing the model was trained with: :class:`Explainer` puts ``dive.batches.Preprocess``
(resize, centre crop, grey -> RGB, normalisation; all differentiable) in front of the network, so
gradients flow back to the file's pixels. The score explained is the log-probability of the target
class (single-label tasks; the SimpleCNNs already return it, the other nets' logits go through
``log_softmax``) or the logit of the target label (multi-label: one label at a time). Attributions are
computed in batches on the run's device.

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

The notebook ``10_explanations`` takes the report's models (:func:`report_runs`) and calls these.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import torch
import torch.nn as nn
import torch.nn.functional as F
from scipy import stats

from dive.batches import Preprocess
from dive.utils import DEFAULT_SEED, resolve_device

METHODS = ("saliency", "integrated_gradients", "occlusion", "gradcam")
LABELS = {
    "saliency": "Saliency",
    "integrated_gradients": "Integrated Gradients",
    "occlusion": "Occlusion",
    "gradcam": "Grad-CAM",
}
IG_STEPS = 32
#: Integrated Gradients' completeness (with IG_STEPS steps):
#: |sum of attributions - (f(x) - f(baseline))| <= IG_TOLERANCE * max(1, |f(x) - f(baseline)|)
IG_TOLERANCE = 0.05
#: A method whose maps for the fully randomised model still have this Spearman correlation with the trained
#: model's maps fails the sanity check.
SANITY_THRESHOLD = 0.5
#: The one-sided p-value below which a method's deletion AUC counts as clearly below the random order's.
FAITHFUL_P = 0.05
#: Grad-CAM's layer must have a map of at least this many cells a side: a 1 x 1 map (ResNet18's layer4 at
#: 32 px) is one value upsampled to a flat image, and a 2 x 2 one only says which quadrant.
GRADCAM_MIN_SIDE = 4


class NoSpatialMap(ValueError):
    """No convolutional layer of the model has a map of at least ``GRADCAM_MIN_SIDE`` cells a side at this
    input size: Grad-CAM has nothing to localise with."""


def check_methods(methods) -> list[str]:
    """``methods`` as a list (a comma-separated string works too); unknown names list the valid ones."""
    names = [m.strip() for m in methods.split(",")] if isinstance(methods, str) else list(methods)
    bad = [m for m in names if m not in METHODS]
    if bad or not names:
        raise ValueError(f"unknown attribution method(s) {bad or names}; valid: {', '.join(METHODS)}")
    return names


# --------------------------------------------------------------------------- the last conv block


def gradcam_candidates(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The convolutional blocks of ``model`` Grad-CAM may look at, first to last.

    Found from the model's structure, not its name: ResNets (torchvision's ``ResNet``, any depth or
    stem): the residual stages ``layer1`` ... ``layer4`` (each after its ReLU); Xception (pretrainedmodels):
    its blocks ``block1`` ... ``block12`` and ``bn4`` (the last separable convolution and its batch norm; the
    ReLU follows in ``logits``); everything else (the SimpleCNNs, AlexNet with or without batch norm): its
    ``Conv2d`` layers, before their pooling.
    """
    from torchvision.models import ResNet

    if isinstance(model, ResNet):
        return [(f"layer{i}", getattr(model, f"layer{i}")) for i in range(1, 5)]
    if type(model).__name__ == "Xception" and isinstance(getattr(model, "bn4", None), nn.BatchNorm2d):
        blocks = [(n, m) for n, m in model.named_children() if n.startswith("block")]
        return [*sorted(blocks, key=lambda b: int(b[0][5:])), ("bn4", model.bn4)]
    convs = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    if not convs:
        raise ValueError(f"{type(model).__name__} has no Conv2d layer: Grad-CAM needs a convolutional network")
    return convs


def map_sides(net: nn.Module, layers: list[tuple[str, nn.Module]], x: torch.Tensor) -> dict[str, tuple[int, int]]:
    """``{name: (height, width)}`` of each layer's output when ``net`` sees ``x`` (one forward pass, no grad)."""
    seen: dict[str, tuple[int, int]] = {}

    def keep(name):
        def hook(module, args, out):  # returns None: the output is left as it is
            seen.setdefault(name, tuple(out.shape[-2:]))

        return hook

    hooks = [m.register_forward_hook(keep(n)) for n, m in layers]
    try:
        with torch.no_grad():
            net(x)
    finally:
        for h in hooks:
            h.remove()
    return seen


def gradcam_layer(
    model: nn.Module, example: torch.Tensor | None = None, *, net: nn.Module | None = None
) -> tuple[str, nn.Module]:
    """``(name, module)`` Grad-CAM looks at: the last of :func:`gradcam_candidates`.

    With ``example`` (a batch as ``net`` takes it; ``net`` defaults to ``model``): the last candidate whose
    map is at least ``GRADCAM_MIN_SIDE`` cells a side for that input, so a small input moves Grad-CAM off a
    1 x 1 stage (ResNet18 at 32 px: ``layer2``'s 4 x 4 map instead of ``layer4``'s single cell);
    :class:`NoSpatialMap` when no candidate has one.
    """
    layers = gradcam_candidates(model)
    if example is None:
        return layers[-1]
    sides = map_sides(net if net is not None else model, layers, example)
    fit = [(n, m) for n, m in layers if min(sides.get(n, (0, 0))) >= GRADCAM_MIN_SIDE]
    if not fit:
        biggest = max(sides.values(), default=(0, 0))
        raise NoSpatialMap(
            f"no spatial map at this input size: {type(model).__name__}'s largest convolutional map is "
            f"{biggest[0]}x{biggest[1]} for a {tuple(example.shape[-2:])} input, below Grad-CAM's "
            f"{GRADCAM_MIN_SIDE}x{GRADCAM_MIN_SIDE}"
        )
    return fit[-1]


# --------------------------------------------------------------------------- the explained network


class ScoreNet(nn.Module):
    """Float images in [0, 1] at the file's size -> ``preprocess`` -> ``model`` -> the explained score.

    Single-label: log-probabilities (``log_softmax``; unchanged for the SimpleCNNs, which return them);
    multi-label: the logits.
    """

    def __init__(self, model: nn.Module, preprocess: Preprocess, multilabel: bool = False):
        super().__init__()
        self.model, self.preprocess, self.multilabel = model, preprocess, multilabel

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.model(self.preprocess(x))
        return out if self.multilabel else F.log_softmax(out, dim=1)

    def probability(self, scores: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(scores) if self.multilabel else scores.exp()


def preprocess_of(result, data) -> Preprocess:
    """The preprocessing of a run at evaluation (no augmentation), rebuilt as :func:`dive.experiment.run`
    builds it: ``result`` a :class:`dive.experiment.RunResult`, ``data`` the bundle it was given (the
    config's subsets are drawn from it as ``run`` draws them; its training split gives the normalisation
    statistics when the run used the data set's own)."""
    from dive.experiment import preprocess_for

    cfg = result.config
    data = data.subsets(train=cfg.train_size, val=cfg.val_size, test=cfg.test_size, seed=cfg.split_seed)
    pre = preprocess_for(cfg, data, result.model.spec)
    pre.augment = None
    return pre


def _as_float(images) -> torch.Tensor:
    x = torch.as_tensor(images)
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4:
        raise ValueError(f"images must be (N, C, H, W) (or one (C, H, W)), got shape {tuple(x.shape)}")
    return x.float().div(255) if x.dtype == torch.uint8 else x.float()


class Explainer:
    """Attributions of one trained model, on the pixels of the images as stored in the files.

    ``model``: the trained network (put in eval mode); ``preprocess``: the preprocessing it was trained
    with (:func:`preprocess_of`); ``baseline``: the value in [0, 1] of the reference image for Integrated
    Gradients, Occlusion and the deletion/insertion curves (0: black, which the preprocessing turns
    into the normalised black image). Use :meth:`from_run` for a :class:`dive.experiment.RunResult`.
    """

    def __init__(
        self,
        model: nn.Module,
        preprocess: Preprocess,
        *,
        multilabel: bool = False,
        device="auto",
        batch_size: int = 64,
        ig_steps: int = IG_STEPS,
        baseline: float = 0.0,
        occlusion_window: int | None = None,
    ):
        if not 0.0 <= float(baseline) <= 1.0:
            raise ValueError(f"baseline is a pixel value in [0, 1], got {baseline}")
        if batch_size < 1 or ig_steps < 2:
            raise ValueError(f"batch_size must be >= 1 and ig_steps >= 2, got {batch_size}, {ig_steps}")
        self.device = resolve_device(device)
        self.model = model.to(self.device).eval()
        self.preprocess = preprocess
        self.multilabel = multilabel
        self.net = ScoreNet(self.model, preprocess, multilabel).eval()
        self.batch_size, self.ig_steps, self.baseline = batch_size, ig_steps, float(baseline)
        self.occlusion_window = occlusion_window
        self._gradcam: dict[tuple, tuple[str, nn.Module]] = {}  # image shape -> Grad-CAM's layer for it

    @classmethod
    def from_run(cls, result, data, **kwargs) -> Explainer:
        """An explainer for a :class:`dive.experiment.RunResult` trained on ``data``."""
        return cls(result.model, preprocess_of(result, data), multilabel=data.train.multilabel, **kwargs)

    def with_model(self, model: nn.Module) -> Explainer:
        """The same settings for another model (e.g. a randomised copy)."""
        return Explainer(
            model,
            self.preprocess,
            multilabel=self.multilabel,
            device=self.device,
            batch_size=self.batch_size,
            ig_steps=self.ig_steps,
            baseline=self.baseline,
            occlusion_window=self.occlusion_window,
        )

    # --- predictions --------------------------------------------------------------------------
    def _batches(self, x: torch.Tensor, *others):
        for i in range(0, len(x), self.batch_size):
            yield (
                x[i : i + self.batch_size].to(self.device),
                *(o[i : i + self.batch_size].to(self.device) for o in others),
            )

    @torch.no_grad()
    def scores(self, images) -> torch.Tensor:
        """The explained scores (N, classes) on the CPU."""
        x = _as_float(images)
        return torch.cat([self.net(xb).float().cpu() for (xb,) in self._batches(x)])

    def probabilities(self, images) -> np.ndarray:
        """Softmax (single-label) or sigmoid (multi-label) probabilities (N, classes)."""
        return self.net.probability(self.scores(images)).numpy()

    def predict(self, images) -> np.ndarray:
        """The predicted class of every image (the label with the largest logit for multi-label)."""
        return self.scores(images).argmax(1).numpy()

    def _targets(self, images, targets) -> torch.Tensor:
        n = len(_as_float(images))
        if targets is None:
            return torch.as_tensor(self.predict(images), dtype=torch.long)
        t = torch.as_tensor(targets, dtype=torch.long).reshape(-1)
        if len(t) == 1:
            t = t.expand(n)
        if len(t) != n:
            raise ValueError(f"{len(t)} targets for {n} images")
        return t.clone()

    def gradcam_layer(self, images) -> tuple[str, nn.Module]:
        """``(name, module)`` Grad-CAM uses for images of this shape (:func:`gradcam_layer`; raises
        :class:`NoSpatialMap` when no layer has a map of at least ``GRADCAM_MIN_SIDE`` a side)."""
        x = _as_float(images)[:1].to(self.device)
        key = tuple(x.shape[1:])
        if key not in self._gradcam:
            self._gradcam[key] = gradcam_layer(self.model, x, net=self.net)
        return self._gradcam[key]

    def gradcam_grid(self, images) -> tuple[int, int]:
        """The (height, width) of the Grad-CAM layer's output for these images."""
        name, layer = self.gradcam_layer(images)
        return map_sides(self.net, [(name, layer)], _as_float(images)[:1].to(self.device))[name]

    # --- attributions -------------------------------------------------------------------------
    def _window(self, h: int) -> int:
        return self.occlusion_window or max(2, round(h / 7))

    def _gradcam_to_image(self, cam: torch.Tensor, h: int, w: int) -> torch.Tensor:
        """A map over the network's input (B, 1, S, S) -> over the file's pixels (B, h, w).

        The layer's map is upsampled (bilinear) to the network input, then carried back through the
        preprocessing's resize and crop by their transpose (the vector-Jacobian product of the geometric
        part of ``Preprocess``), divided by how much each file pixel contributes: pixels the crop cuts
        away get 0.
        """
        geometry = Preprocess(resize=self.preprocess.resize, crop=self.preprocess.crop)
        probe = torch.zeros(len(cam) + 1, 1, h, w, device=cam.device, requires_grad=True)
        with torch.enable_grad():
            seen = geometry(probe)
            cam = F.interpolate(cam.float(), size=seen.shape[-2:], mode="bilinear", align_corners=False)
            (back,) = torch.autograd.grad(seen, probe, grad_outputs=torch.cat([cam, torch.ones_like(cam[:1])]))
        maps, cover = back[:-1, 0], back[-1:, 0]
        return torch.where(cover > 1e-6, maps / cover.clamp_min(1e-6), torch.zeros_like(maps))

    def _attribute_batch(self, method: str, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        from captum.attr import IntegratedGradients, LayerGradCam, Occlusion, Saliency

        x = x.clone().requires_grad_(True)
        if method == "saliency":
            a = Saliency(self.net).attribute(x, target=t, abs=True)
            return a.amax(1)
        if method == "integrated_gradients":
            a = IntegratedGradients(self.net).attribute(
                x, baselines=self.baseline, target=t, n_steps=self.ig_steps, internal_batch_size=self.batch_size
            )
            return a.sum(1)
        if method == "occlusion":
            c, h = x.shape[1], x.shape[2]
            win = self._window(h)
            stride = win
            a = Occlusion(self.net).attribute(
                x,
                sliding_window_shapes=(c, win, win),
                strides=(c, stride, stride),
                baselines=self.baseline,
                target=t,
                perturbations_per_eval=max(1, self.batch_size // len(x)),
            )
            return a.sum(1)
        if method == "gradcam":
            _, layer = self.gradcam_layer(x)
            cam = LayerGradCam(self.net, layer).attribute(x, target=t, relu_attributions=True)
            return self._gradcam_to_image(cam.detach(), x.shape[2], x.shape[3])
        raise ValueError(f"unknown attribution method {method!r}; valid: {', '.join(METHODS)}")

    def attribute(self, images, method: str, targets=None) -> np.ndarray:
        """Maps (N, H, W) float32 over the images' own pixels; ``targets``: class (or label) per image,
        one for all, or None for the predicted class."""
        check_methods([method])
        x = _as_float(images)
        t = self._targets(x, targets)
        out = [self._attribute_batch(method, xb, tb).detach().float().cpu() for xb, tb in self._batches(x, t)]
        return torch.cat(out).numpy()

    def explain(self, images, methods=METHODS, targets=None) -> dict[str, np.ndarray]:
        """``{method: maps (N, H, W)}`` for several methods, all for the same targets."""
        t = self._targets(images, targets)
        return {m: self.attribute(images, m, t) for m in check_methods(methods)}

    def integrated_gradients_delta(self, images, targets=None) -> np.ndarray:
        """Completeness error of Integrated Gradients per image: sum of attributions - (f(x) - f(baseline))."""
        x = _as_float(images)
        t = self._targets(x, targets)
        maps = self.attribute(x, "integrated_gradients", t)
        f_x = self.scores(x).gather(1, t[:, None])[:, 0].numpy()
        f_b = self.scores(torch.full_like(x, self.baseline)).gather(1, t[:, None])[:, 0].numpy()
        return maps.reshape(len(x), -1).sum(1) - (f_x - f_b)


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
    x = _as_float(images)
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
    x = _as_float(images)
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
    each ``plan`` a dict with ``data`` (the bundle, subsets drawn as notebooks 02 and 07 draw them), ``runs``
    (``[(label, name, RunConfig)]``) and ``notes`` (:func:`dive.experiment.config_for`'s, e.g. ImageNet
    weights asked for with ``"auto"`` and missing). The configs are those notebooks 02 and 07 build with the
    same profile, so their run-store keys are the same. Every parameter and weight file is checked here,
    before any training.
    """
    from dive import data as ddata
    from dive import experiment
    from dive.notebook import split_seed
    from dive.profiles import resolve

    variants = {
        "bn_dropout": {"batch_norm": True, "dropout": True},  # notebook 02's three, in its order
        "dropout": {"batch_norm": False, "dropout": True},
        "bn": {"batch_norm": True, "dropout": False},
    }
    if variant not in (*variants, "best"):
        raise ValueError(f"unknown SimpleCNN variant {variant!r}; valid: {', '.join(variants)}, best")
    shared = dict(
        data_root=data_root, data_flag=data_flag, seed=seed, device=str(device), pretrained=pretrained, out_dir=out_dir
    )
    p2 = resolve("02_pathmnist_simplecnn", profile, **shared)
    p7 = resolve("07_resnet_tuning", profile, **shared)
    s2, s7 = split_seed(p2), split_seed(p7)  # as dive.notebook.setup draws the notebooks' data
    med = ddata.load(p2.data_flag, p2.data_root, split=p2.split, seed=s2)
    med = med.subsets(train=p2.get("train_size"), val=p2.get("val_size"), seed=s2)
    simple, notes2 = [], []
    for label in variants if variant == "best" else [variant]:
        flags = variants[label]
        name = "simplecnn_" + "_".join(k for k, v in (("bn", flags["batch_norm"]), ("dropout", flags["dropout"])) if v)
        config, note = experiment.config_for(
            med,
            "simplecnn",
            epochs=p2.epochs,
            patience=p2.patience,
            batch_size=p2.batch_size,
            lr=p2.lr,
            optimizer=p2.optimizer,
            seed=p2.seed,
            **flags,
        )
        simple.append((label, name, config))
        notes2 += [note] if note and note not in notes2 else []

    data7 = ddata.load(p7.data_flag, p7.data_root, split="report", seed=s7)
    data7 = data7.subsets(train=p7.get("train_size"), val=p7.get("val_size"), test=p7.get("test_size"), seed=s7)
    tuned, note7 = experiment.config_for(
        data7,
        "resnet18",
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
        image_size=p7.get("image_size"),
        pretrained=p7.pretrained,
    )
    notes7 = [note7] if note7 else []
    return {
        "simplecnn": {"data": med, "runs": simple, "notes": notes2},
        "resnet18": {"data": data7, "runs": [("tuned", "resnet18_optimised", tuned)], "notes": notes7},
    }


def _run_planned(data, runs, notes, *, device, outputs, executor, ray_address, evaluate_test: bool = True) -> list:
    """``runs`` (``[(label, name, config)]``) on ``data`` in one :func:`dive.experiment.run_many` call; ``notes``
    recorded first and put at the head of each result's notes, as the keyword style of
    :func:`dive.experiment.run` does."""
    from dive import experiment

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
    labels = {"bn_dropout": "BN + dropout", "dropout": "dropout only", "bn": "BN only"}
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
        f"SimpleCNN, {labels[best]} (notebook 02"
        + (", best of three by validation accuracy)" if variant == "best" else ")"),
    )
    resnet = (got["resnet18"]["tuned"], plans["resnet18"]["data"], "ResNet18, tuned (notebook 07, Table 4)")
    return {"simplecnn": simple, "resnet18": resnet}


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

    def tables(self) -> dict[str, pd.DataFrame]:
        f = self.faithfulness.table
        if self.gradcam_layer is not None:  # which layer Grad-CAM's row rests on, and its map's size
            where = f"{self.gradcam_layer} ({self.gradcam_grid[0]}x{self.gradcam_grid[1]})"
            f = f.assign(gradcam_layer=np.where(f["method"] == "gradcam", where, ""))
        return {
            "faithfulness": f.assign(model=self.name)[["model", *f.columns]],
            "sanity": self.sanity.assign(model=self.name)[["model", *self.sanity.columns]],
        }


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
    layer, grid = None, None
    try:
        layer, grid = e.gradcam_layer(images[:1])[0], e.gradcam_grid(images[:1])
    except NoSpatialMap as err:
        if "gradcam" in methods:
            methods = [m for m in methods if m != "gradcam"]
            notes.append(f"Grad-CAM left out: {err}")
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
    flat = {m: int((v.reshape(len(v), -1).std(1) == 0).sum()) for m, v in maps.items()}
    for m in [m for m, k in flat.items() if k == len(x)]:  # no map varies: nothing to draw or score
        methods = [q for q in methods if q != m]
        maps.pop(m)
        ex_maps.pop(m, None)
        notes.append(f"{LABELS[m]} left out: every one of its {len(x)} maps is constant (no spatial map)")
    notes += [f"{LABELS[m]}: {k} of {len(x)} maps are constant" for m, k in flat.items() if 0 < k < len(x)]
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

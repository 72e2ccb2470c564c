"""Attribution maps of a trained model: the four methods and the explained network.

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

The checks of these maps are in :mod:`dive.attribution_checks`; notebook 10's study in :mod:`dive.explain`.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from dive.batches import Preprocess
from dive.utils import resolve_device

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


def as_float(images) -> torch.Tensor:
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
        x = as_float(images)
        return torch.cat([self.net(xb).float().cpu() for (xb,) in self._batches(x)])

    def probabilities(self, images) -> np.ndarray:
        """Softmax (single-label) or sigmoid (multi-label) probabilities (N, classes)."""
        return self.net.probability(self.scores(images)).numpy()

    def predict(self, images) -> np.ndarray:
        """The predicted class of every image (the label with the largest logit for multi-label)."""
        return self.scores(images).argmax(1).numpy()

    def _targets(self, images, targets) -> torch.Tensor:
        n = len(as_float(images))
        if targets is None:
            return torch.as_tensor(self.predict(images), dtype=torch.long)
        # a copy: targets are often a read-only array (pandas' copy-on-write .to_numpy()), which torch would share
        if isinstance(targets, torch.Tensor):
            t = targets.detach().to("cpu", torch.long).reshape(-1)
        else:
            t = torch.tensor(np.asarray(targets), dtype=torch.long).reshape(-1)
        if len(t) == 1:
            t = t.expand(n)
        if len(t) != n:
            raise ValueError(f"{len(t)} targets for {n} images")
        return t.clone()

    def gradcam_layer(self, images) -> tuple[str, nn.Module]:
        """``(name, module)`` Grad-CAM uses for images of this shape (:func:`gradcam_layer`; raises
        :class:`NoSpatialMap` when no layer has a map of at least ``GRADCAM_MIN_SIDE`` a side)."""
        x = as_float(images)[:1].to(self.device)
        key = tuple(x.shape[1:])
        if key not in self._gradcam:
            self._gradcam[key] = gradcam_layer(self.model, x, net=self.net)
        return self._gradcam[key]

    def gradcam_grid(self, images) -> tuple[int, int]:
        """The (height, width) of the Grad-CAM layer's output for these images."""
        name, layer = self.gradcam_layer(images)
        return map_sides(self.net, [(name, layer)], as_float(images)[:1].to(self.device))[name]

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
        x = as_float(images)
        t = self._targets(x, targets)
        out = [self._attribute_batch(method, xb, tb).detach().float().cpu() for xb, tb in self._batches(x, t)]
        return torch.cat(out).numpy()

    def explain(self, images, methods=METHODS, targets=None) -> dict[str, np.ndarray]:
        """``{method: maps (N, H, W)}`` for several methods, all for the same targets."""
        t = self._targets(images, targets)
        return {m: self.attribute(images, m, t) for m in check_methods(methods)}

    def integrated_gradients_delta(self, images, targets=None) -> np.ndarray:
        """Completeness error of Integrated Gradients per image: sum of attributions - (f(x) - f(baseline))."""
        x = as_float(images)
        t = self._targets(x, targets)
        maps = self.attribute(x, "integrated_gradients", t)
        f_x = self.scores(x).gather(1, t[:, None])[:, 0].numpy()
        f_b = self.scores(torch.full_like(x, self.baseline)).gather(1, t[:, None])[:, 0].numpy()
        return maps.reshape(len(x), -1).sum(1) - (f_x - f_b)

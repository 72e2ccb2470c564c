"""Training batches made on the device, a whole batch at a time.

A :class:`Batches` iterator takes index order from any ``torch`` sampler, gathers the uint8 images
of a batch (the split is copied to the GPU once, when there is one), and hands them to a
:class:`Preprocess`, which converts to float, resizes, augments and normalises the batch there, with
independent random draws per image. This replaces a ``Dataset`` with per-sample PIL transforms
behind a ``DataLoader`` (see ``benchmarks/throughput.py`` for the comparison).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch.utils.data import Sampler
from torchvision.transforms.v2.functional import adjust_hue

from dive.data import Split
from dive.samplers import make_sampler
from dive.utils import DEFAULT_SEED, resolve_device

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: How inputs are normalised (:meth:`Preprocess.for_model`): ``auto`` (the pretrained weights' statistics, else
#: the training data's), ``imagenet``, ``dataset`` (the training data's, the report's); ``"none"`` (no
#: normalisation) is for callers that pass their own ``mean``/``std``.
NORMALIZATIONS = ("auto", "imagenet", "dataset")


@dataclass(frozen=True)
class Augment:
    """Per-image random augmentations, applied to a batch on its device.

    The defaults are the report's (appendix A.2): horizontal and vertical flips with p=0.1 each,
    ``RandomRotation(30)`` applied with p=0.1 (nearest interpolation, zero fill, as torchvision's
    default), and ``ColorJitter()`` applied with p=0.1. Note that ``ColorJitter()`` with its default
    arguments (brightness = contrast = saturation = hue = 0) changes nothing; the report's setting is
    reproduced faithfully by these zero strengths. Set ``brightness``, ``contrast``, ``saturation``
    (factors drawn from [max(0, 1-s), 1+s]) or ``hue`` (shift drawn from [-h, h], h <= 0.5) to jitter
    for real; the jitter operations run in a random order per batch, as torchvision's do.
    """

    hflip: float = 0.1
    vflip: float = 0.1
    rotation_p: float = 0.1
    degrees: float = 30.0
    jitter_p: float = 0.1
    brightness: float = 0.0
    contrast: float = 0.0
    saturation: float = 0.0
    hue: float = 0.0

    def __post_init__(self):
        for name in ("hflip", "vflip", "rotation_p", "jitter_p"):
            p = getattr(self, name)
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1], got {p}")
        if not 0.0 <= self.hue <= 0.5:
            raise ValueError(f"hue must be in [0, 0.5], got {self.hue}")

    @property
    def jitters(self) -> bool:
        return any(v > 0 for v in (self.brightness, self.contrast, self.saturation, self.hue))

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Augment a float batch (N, C, H, W) with values in [0, 1].

        ``x`` itself is never modified: the result is a copy (or ``x`` unchanged when no image was
        selected for any operation).
        """
        return self._apply(x, generator, inplace=False)

    def _apply(self, x: torch.Tensor, generator: torch.Generator | None, *, inplace: bool) -> torch.Tensor:
        """Augment ``x``; ``inplace=True`` writes into ``x`` (for callers that own it), else copies once.

        The random numbers are drawn from ``generator`` on the CPU, in a fixed order (per operation: one
        uniform per image, then the operation's own draws for the selected images), and only the
        selected images are touched, so picking the images needs no device synchronisation.
        """
        n = x.shape[0]
        writable = inplace

        def draw(p):  # which images get an operation: decided per image (indices on the CPU)
            return torch.nonzero(torch.rand(n, generator=generator) < p).flatten()

        def prepare(sel):  # the selection's indices on x's device; x made writable on first use
            nonlocal x, writable
            if not writable:
                x, writable = x.clone(), True
            return sel.to(x.device, non_blocking=True)

        if self.hflip > 0:
            sel = draw(self.hflip)
            if len(sel):
                idx = prepare(sel)
                x[idx] = x[idx].flip(-1)
        if self.vflip > 0:
            sel = draw(self.vflip)
            if len(sel):
                idx = prepare(sel)
                x[idx] = x[idx].flip(-2)
        if self.rotation_p > 0 and self.degrees > 0:
            sel = draw(self.rotation_p)
            if len(sel):
                angles = (torch.rand(len(sel), generator=generator) * 2 - 1) * self.degrees
                idx = prepare(sel)
                x[idx] = rotate(x[idx], angles.to(x.device, non_blocking=True))
        if self.jitter_p > 0 and self.jitters:
            sel = draw(self.jitter_p)
            if len(sel):
                idx = prepare(sel)
                x[idx] = self._jitter(x[idx], generator)
        return x

    def _jitter(self, x: torch.Tensor, generator) -> torch.Tensor:
        n = x.shape[0]

        def factors(s):
            lo, hi = max(0.0, 1 - s), 1 + s
            return (lo + (hi - lo) * torch.rand(n, generator=generator)).to(x.device)[:, None, None, None]

        ops = torch.randperm(4, generator=generator).tolist()
        for op in ops:
            if op == 0 and self.brightness > 0:
                x = (x * factors(self.brightness)).clamp(0, 1)
            elif op == 1 and self.contrast > 0:
                mean = _grey(x).mean(dim=(1, 2, 3), keepdim=True)
                x = ((x - mean) * factors(self.contrast) + mean).clamp(0, 1)
            elif op == 2 and self.saturation > 0 and x.shape[1] == 3:
                g = _grey(x)
                x = ((x - g) * factors(self.saturation) + g).clamp(0, 1)
            elif op == 3 and self.hue > 0 and x.shape[1] == 3:
                shifts = ((torch.rand(n, generator=generator) * 2 - 1) * self.hue).tolist()
                x = torch.stack([adjust_hue(img, s) for img, s in zip(x, shifts, strict=False)])
        return x


def report_augment() -> Augment:
    """The report's augmentations (appendix A.2), ColorJitter's zero defaults included."""
    return Augment()


def _grey(x: torch.Tensor) -> torch.Tensor:
    if x.shape[1] == 1:
        return x
    w = torch.tensor([0.299, 0.587, 0.114], device=x.device, dtype=x.dtype)[None, :, None, None]
    return (x * w).sum(1, keepdim=True)


def rotate(x: torch.Tensor, degrees: torch.Tensor) -> torch.Tensor:
    """Rotate each image of a batch by its own angle about its centre (nearest, zero fill)."""
    rad = degrees.to(x.dtype) * math.pi / 180
    cos, sin = torch.cos(rad), torch.sin(rad)
    zero = torch.zeros_like(cos)
    theta = torch.stack([torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="nearest", padding_mode="zeros", align_corners=False)


def _resize_weights(n_in: int, n_out: int, antialias: bool, dtype: torch.dtype) -> torch.Tensor:
    """(n_out, n_in) matrix of bilinear resize weights along one axis (``align_corners=False``).

    Obtained as ``F.interpolate``'s own response to unit impulses, so ``Wh @ img @ Ww.T`` equals
    ``F.interpolate(img, size=(out_h, out_w), mode="bilinear", align_corners=False, antialias=...)``
    (the filter is separable) up to float rounding.
    """
    # Image k: two identical rows with a 1 at column k, resized along the width only. (Two rows, not
    # one: the antialiased kernel mishandles some images with sides of length 1.)
    impulses = torch.eye(n_in, dtype=dtype)[:, None, None, :].expand(n_in, 1, 2, n_in).contiguous()
    out = F.interpolate(impulses, size=(2, n_out), mode="bilinear", align_corners=False, antialias=antialias)
    return out[:, 0, 0, :].T


class Preprocess:
    """uint8 batch (N, C, H, W) -> float batch ready for a model, computed on the batch's device.

    Steps: scale to [0, 1]; resize the shorter side to ``resize`` (bilinear; antialiased when
    shrinking) and centre-crop to ``crop`` (the report's ``Resize(256)`` + ``CenterCrop(224)`` for
    the pretrained models); augment (training batches only); repeat a grey channel to ``channels``
    when the model takes 3; normalise with ``mean``/``std`` (ImageNet statistics for pretrained
    models, or the training split's own, report 3.5).

    The resize and the crop are computed together as two small matrix products per image and channel
    (the bilinear weights of the rows and columns the crop keeps, cached per input size), and the
    augmentation and normalisation work in place on the float batch made here.
    """

    def __init__(
        self,
        *,
        resize: int | None = None,
        crop: int | None = None,
        mean=None,
        std=None,
        channels: int | None = None,
        augment: Augment | None = None,
    ):
        self.resize, self.crop = resize, crop
        self.mean, self.std = (tuple(mean) if mean is not None else None), (tuple(std) if std is not None else None)
        self.channels = channels
        self.augment = augment
        self._cache: dict = {}

    @classmethod
    def for_model(
        cls,
        spec,
        *,
        size: int | None = None,
        mean=None,
        std=None,
        augment: Augment | None = None,
        dataset_stats: tuple | None = None,
        normalize: str = "auto",
    ) -> Preprocess:
        """Preprocessing for a model's ``spec`` (``dive.models.ModelSpec``).

        ``size``: the side the model sees (default ``spec.input_size``). Models whose spec asks for a
        centre crop (AlexNet, ResNet: the report's ``Resize(256)`` + ``CenterCrop(224)``) get
        ``Resize(size * 256/224)`` + ``CenterCrop(size)``; the others (SimpleCNNs, Xception) a plain
        resize to ``size``. ``normalize``: ``"imagenet"`` (the spec's statistics), ``"dataset"`` (``dataset_stats``,
        the training split's (mean, std)) or ``"auto"`` (the spec's when it has them, else the dataset's).
        """
        size = size or spec.input_size
        if normalize not in (*NORMALIZATIONS, "none"):
            raise ValueError(f"unknown normalize {normalize!r}; valid: {', '.join(NORMALIZATIONS)}, none")
        if mean is None and normalize != "none":
            use_spec = normalize == "imagenet" or (normalize == "auto" and spec.mean is not None)
            if use_spec:
                if spec.mean is None:
                    raise ValueError(f"{spec.name} has no ImageNet statistics; use normalize='dataset'")
                mean, std = spec.mean, spec.std
            else:
                if dataset_stats is None:
                    raise ValueError("normalize='dataset' needs dataset_stats=(mean, std) of the training split")
                mean, std = dataset_stats
        crops = getattr(spec, "center_crop", False)
        resize = int(round(size * 256 / 224)) if crops else size
        crop = size if crops else None
        return cls(resize=resize, crop=crop, mean=mean, std=std, channels=spec.in_channels, augment=augment)

    def _stats(self, device, dtype, c):
        key = (device, dtype, c)
        if key not in self._cache:
            mean = torch.tensor(self.mean, device=device, dtype=dtype)
            std = torch.tensor(self.std, device=device, dtype=dtype)
            if len(mean) != c:
                if len(mean) == 1:
                    mean, std = mean.expand(c), std.expand(c)
                else:
                    raise ValueError(f"normalisation has {len(mean)} channels, the images {c}")
            self._cache[key] = (mean[None, :, None, None], std[None, :, None, None])
        return self._cache[key]

    def _resize_crop_weights(self, h: int, w: int, device, dtype):
        """(Wh, Ww.T) for resize + centre crop of an (h, w) image, or None when there is no resize."""
        key = ("resize", h, w, device, dtype)
        if key not in self._cache:
            weights = None
            if self.resize is not None and min(h, w) != self.resize:
                scale = self.resize / min(h, w)
                oh, ow = max(self.resize, round(h * scale)), max(self.resize, round(w * scale))
                wdtype = dtype if dtype in (torch.float32, torch.float64) else torch.float32
                wh = _resize_weights(h, oh, scale < 1, wdtype)
                ww = _resize_weights(w, ow, scale < 1, wdtype)
                if self.crop is not None:  # keep the rows and columns the centre crop keeps
                    top, left = (oh - self.crop) // 2, (ow - self.crop) // 2
                    wh, ww = wh[top : top + self.crop], ww[left : left + self.crop]
                weights = (wh.contiguous().to(device), ww.T.contiguous().to(device))
            self._cache[key] = weights
        return self._cache[key]

    def __call__(
        self,
        x: torch.Tensor,
        *,
        train: bool = False,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> torch.Tensor:
        owned = x.dtype != dtype  # the conversion copies: the batch is ours to modify in place
        x = x.to(dtype).div_(255) if x.dtype == torch.uint8 else x.to(dtype)
        h, w = x.shape[-2:]
        weights = self._resize_crop_weights(h, w, x.device, dtype)
        if weights is not None:  # resize (+ crop): Wh @ x @ Ww.T, cheaper product first
            wh, wwt = weights
            xc = x if x.dtype == wh.dtype else x.to(wh.dtype)
            oh, ow = wh.shape[0], wwt.shape[1]
            if oh * w * (h + ow) <= h * ow * (w + oh):
                x = torch.matmul(torch.matmul(wh, xc), wwt)
            else:
                x = torch.matmul(wh, torch.matmul(xc, wwt))
            x, owned = x.to(dtype), True
        elif self.crop is not None:
            top, left = (h - self.crop) // 2, (w - self.crop) // 2
            x = x[..., top : top + self.crop, left : left + self.crop]
        if train and self.augment is not None:
            if isinstance(self.augment, Augment):  # returns x itself, augmented in place when owned, or its own copy
                y = self.augment._apply(x, generator, inplace=owned)
                owned = owned or y is not x
            else:  # any other callable: its result may share the caller's memory
                y, owned = self.augment(x, generator), False
            x = y
        if self.channels == 3 and x.shape[1] == 1:
            x, owned = x.expand(-1, 3, -1, -1), False
        if self.mean is not None:
            mean, std = self._stats(x.device, x.dtype, x.shape[1])
            x = x.sub_(mean).div_(std) if owned and x.is_contiguous() else (x - mean).div_(std)
        return x.contiguous()

    def __repr__(self) -> str:
        aug = asdict(self.augment) if self.augment else None
        return (
            f"Preprocess(resize={self.resize}, crop={self.crop}, channels={self.channels}, "
            f"mean={self.mean}, std={self.std}, augment={aug})"
        )


class Batches:
    """Iterate ``(x, y)`` batches of a :class:`~dive.data.Split` on ``device``.

    ``sampler``: any torch ``Sampler`` over ``range(len(split))``; by default plain shuffling
    (``shuffle=True``), the report's class balancing (``balanced=True``), or the fixed order.
    ``train=True`` applies the preprocess's augmentation. Random draws (order and augmentation)
    come from one seeded generator, whose state :meth:`state_dict` saves for exact resumption.
    """

    def __init__(
        self,
        split: Split,
        batch_size: int,
        preprocess: Preprocess,
        *,
        device="auto",
        shuffle: bool = False,
        balanced: bool = False,
        sampler: Sampler | None = None,
        train: bool = False,
        drop_last: bool = False,
        seed: int = DEFAULT_SEED,
        on_device: bool | None = None,
        channels_last: bool = False,
    ):
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.split, self.batch_size, self.preprocess = split, batch_size, preprocess
        self.device = resolve_device(device)
        self.train, self.drop_last, self.channels_last = train, drop_last, channels_last
        self.generator = torch.Generator().manual_seed(seed)
        self.sampler = (
            sampler
            if sampler is not None
            else make_sampler(split.labels, shuffle=shuffle, balanced=balanced, generator=self.generator)
        )
        if on_device is None:  # keep the whole split on the accelerator when it fits comfortably
            on_device = self.device.type != "cpu" and split.images.nbytes < 4 * 2**30
        src = split.images.to(self.device) if on_device else split.images
        self.images = src.pin_memory() if (self.device.type == "cuda" and not on_device) else src
        self.labels = split.labels.to(self.device) if on_device else split.labels

    def __len__(self) -> int:
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    @property
    def num_samples(self) -> int:
        n = len(self.sampler)
        return (n // self.batch_size) * self.batch_size if self.drop_last else n

    def __iter__(self):
        order = torch.as_tensor(list(iter(self.sampler)), dtype=torch.long)
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            if self.drop_last and len(idx) < self.batch_size:
                break
            idx_dev = idx.to(self.images.device)
            xb = self.images[idx_dev].to(self.device, non_blocking=True)
            yb = self.labels[idx_dev].to(self.device, non_blocking=True)
            xb = self.preprocess(xb, train=self.train, generator=self.generator)
            if self.channels_last:
                xb = xb.contiguous(memory_format=torch.channels_last)
            yield xb, yb

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])

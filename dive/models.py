"""Model zoo for the notebooks: the report's SimpleCNNs and the pretrained ImageNet nets.

``build_model(name, num_classes, ...)`` returns a plain ``nn.Module`` (no wrapper, so
``state_dict()`` keys are the usual torchvision / pretrainedmodels ones) with

* ``model.spec``: a :class:`ModelSpec` saying what input the net expects (side length,
  channels, the normalisation its pretrained weights were trained with);
* a forward pre-hook that turns a 1-channel batch into 3 channels (grey -> RGB by
  repetition) for 3-channel nets and bilinearly upsamples inputs smaller than
  ``spec.min_size``, so a 28 px grey MedMNIST/MNIST batch can go straight into AlexNet.

Which report section each model reproduces:

===============  ==============================================================
simplecnn_v1     2.2.1 / appendix A.1: the initial two-conv SimpleCNN (LeakyReLU)
simplecnn        2.2.1 / A.1: the improved three-conv SimpleCNN (BatchNorm, Dropout);
                 4.1 compares its ReLU / LeakyReLU and BN / Dropout variants
alexnet          2.2.2, 3.4.3 (``batch_norm=True``: BatchNorm2d after every conv)
resnet18..152    2.2.3, 3.5
xception         3.6 (via the ``pretrainedmodels`` package, as in the report)
===============  ==============================================================

Pretrained weights never come from anywhere but torch hub's cache
(``$TORCH_HOME/hub/checkpoints``), a download through the official API, or an explicit
``weights_path``; offline without the file, :class:`WeightsNotFoundError` says where to
put it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from torchvision.models import get_model_weights

from dive.batches import IMAGENET_MEAN, IMAGENET_STD  # one home for ImageNet's statistics

__all__ = [
    "MODELS",
    "ModelEntry",
    "MODEL_NAMES",
    "ACTIVATIONS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "ModelSpec",
    "WeightsNotFoundError",
    "SimpleCNNv1",
    "SimpleCNN",
    "model_spec",
    "min_image_size",
    "build_model",
    "count_parameters",
    "weights_url",
    "weights_cache_path",
]

ACTIVATIONS = ("relu", "leaky_relu")

XCEPTION_MEAN = (0.5, 0.5, 0.5)  # pretrainedmodels' settings for its Keras-ported Xception
XCEPTION_STD = (0.5, 0.5, 0.5)


@dataclass(frozen=True)
class ModelEntry:
    """One row of :data:`MODELS`: everything dive knows about a model name.

    ``family``: how it is built (``simple`` — the report's SimpleCNNs; ``torchvision``; ``torchvision28`` — a
    torchvision ResNet with MedMNIST's 28-px stem; ``pretrainedmodels``). ``native_size``: the side its
    preprocessing resizes to (None: the data's own); ``min_size``: the smallest side that runs a forward
    pass (smaller inputs are upsampled by the pre-hook). ``mean``/``std``: the normalisation of its
    pretrained weights (None: the dataset's own). ``head``: the attribute path of the classifier layer that
    is replaced for ``num_classes``. ``weights``: where ImageNet weights come from (None: there are none).
    ``center_crop``: the torchvision recipe Resize(size * 256/224) + CenterCrop(size).
    """

    name: str
    family: str
    native_size: int | None
    min_size: int
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    head: str | None = None
    weights: str | None = None
    center_crop: bool = False
    report: str = ""


# Smallest input side that runs a forward pass (measured on CPU with torch 2.14.1 / torchvision 0.29.1 /
# pretrainedmodels 0.7.4, eval mode with batch 1 and train mode with batch 2, square inputs 1..99 px).
# AlexNet's stride-4 11x11 conv and three 3x3/2 max-pools need 63 px; the ResNets' adaptive pooling runs
# down to 1 px; Xception's unpadded stem convs need 7 px; the SimpleCNNs' two / three 2x2 max-pools 4 / 8.
# Native sides: torchvision nets were trained on Resize(256)+CenterCrop(224) (report A.2); pretrainedmodels'
# Xception on 299 (the report trained it at 168, 3.6).
_IMAGENET = dict(mean=IMAGENET_MEAN, std=IMAGENET_STD)
MODELS: dict[str, ModelEntry] = {
    e.name: e
    for e in (
        ModelEntry("simplecnn_v1", "simple", None, 4, report="2.2.1 / A.1: the initial two-conv SimpleCNN (LeakyReLU)"),
        ModelEntry("simplecnn", "simple", None, 8, report="2.2.1 / A.1: the improved SimpleCNN (BatchNorm, Dropout)"),
        ModelEntry(
            "alexnet",
            "torchvision",
            224,
            63,
            head="classifier.6",
            weights="torchvision",
            center_crop=True,
            report="2.2.2, 3.4.3 (batch_norm=True: BatchNorm2d after every conv)",
            **_IMAGENET,
        ),
        *(
            ModelEntry(
                n,
                "torchvision",
                224,
                1,
                head="fc",
                weights="torchvision",
                center_crop=True,
                report="2.2.3, 3.5",
                **_IMAGENET,
            )
            for n in ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")
        ),
        *(
            ModelEntry(
                f"{n}_28",
                "torchvision28",
                28,
                1,
                head="fc",
                report="MedMNIST v2's ResNet for 28 px inputs: 3x3 stride-1 first conv, no max-pool",
            )
            for n in ("resnet18", "resnet50")
        ),
        ModelEntry(
            "xception",
            "pretrainedmodels",
            299,
            7,
            mean=XCEPTION_MEAN,
            std=XCEPTION_STD,
            head="last_linear",
            weights="pretrainedmodels",
            report="3.6 (via the pretrainedmodels package, as in the report)",
        ),
    )
}
MODEL_NAMES = tuple(MODELS)


class WeightsNotFoundError(FileNotFoundError):
    """Pretrained weights are neither in torch hub's cache nor downloadable (offline)."""

    def __init__(self, message: str, *, model: str | None = None, path: str | None = None, url: str | None = None):
        super().__init__(message)
        self.model = model
        self.path = path
        self.url = url


@dataclass(frozen=True)
class ModelSpec:
    """What a built model expects from the preprocessing."""

    name: str
    input_size: int  # side length preprocessing should resize to
    min_size: int  # smallest side that runs; smaller inputs are upsampled by the pre-hook
    in_channels: int  # channels of the first layer (3 for torchvision/pretrainedmodels nets)
    mean: tuple[float, ...] | None  # normalisation of the pretrained weights; None: dataset stats
    std: tuple[float, ...] | None
    pretrained: bool
    weights_url: str | None
    #: ``True``: the torchvision recipe, ``Resize(size * 256/224)`` + ``CenterCrop(size)`` (AlexNet,
    #: ResNet: the report's Resize(256) + CenterCrop(224)); ``False``: a plain resize to ``size``
    #: (the SimpleCNNs; Xception, whose images the report resized to 168 px).
    center_crop: bool = False


# --------------------------------------------------------------------------- names / specs


def _canonical(name: str) -> str:
    if not isinstance(name, str):
        raise TypeError(f"model name must be a string, got {type(name).__name__}")
    key = name.strip().lower().replace("-", "_")
    if key not in MODELS:
        raise ValueError(f"unknown model {name!r}; valid: {', '.join(MODEL_NAMES)}")
    return key


def _pretrainedmodels():
    """The ``pretrainedmodels`` package, imported without touching torch's random state.

    Its first import draws from torch's global generator, so a model seeded just before it would get other
    initial weights in a fresh process (a Ray worker) than in one that had imported it already (a notebook
    that built an Xception before): the same seed, two different runs. The state is restored after it.
    """
    with torch.random.fork_rng(devices=[]):
        import pretrainedmodels
    return pretrainedmodels


def weights_url(name: str) -> str | None:
    """URL of the ImageNet weights ``pretrained=True`` loads (None for models without any)."""
    entry = MODELS[_canonical(name)]
    if entry.weights is None:
        return None
    if entry.weights == "pretrainedmodels":
        return _pretrainedmodels().pretrained_settings[entry.name]["imagenet"]["url"]
    return get_model_weights(entry.name).DEFAULT.url


def weights_cache_path(name: str) -> str | None:
    """Where torch hub caches that file: ``$TORCH_HOME/hub/checkpoints/<basename of url>``."""
    url = weights_url(name)
    if url is None:
        return None
    return os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(url))


def _check_image_size(key: str, image_size: int) -> int:
    need = MODELS[key].min_size
    if not isinstance(image_size, int) or image_size < need:
        raise ValueError(f"{key} needs an integer image_size >= {need}, got {image_size!r}")
    return image_size


def min_image_size(name: str) -> int:
    """Smallest ``image_size`` that ``name`` runs on (checked by ``dive.profiles`` before any work)."""
    return MODELS[_canonical(name)].min_size


def model_spec(
    name: str, *, pretrained: bool = False, image_size: int | None = None, in_channels: int | None = None
) -> ModelSpec:
    """The :class:`ModelSpec` ``build_model`` would attach, without building the net.

    ``image_size`` (default 28) only applies to the SimpleCNNs, whose flatten size depends
    on it; the pretrained nets always report their native size (224, Xception 299, the 28-px ResNets 28).
    ``in_channels`` (default 3) likewise only matters for the SimpleCNNs.
    """
    e = MODELS[_canonical(name)]
    if pretrained and e.weights is None:
        raise ValueError(f"{e.name} has no pretrained weights; use pretrained=False")
    if e.family == "simple":
        size = _check_image_size(e.name, 28 if image_size is None else image_size)
        channels = 3 if in_channels is None else in_channels
        return ModelSpec(e.name, size, size, channels, None, None, False, None)
    return ModelSpec(
        e.name,
        e.native_size,
        e.min_size,
        3,
        e.mean,
        e.std,
        bool(pretrained),
        weights_url(e.name),
        center_crop=e.center_crop,
    )


# --------------------------------------------------------------------------- SimpleCNNs


def _activation(name: str) -> nn.Module:
    if name == "relu":
        return nn.ReLU()
    if name == "leaky_relu":
        return nn.LeakyReLU()
    raise ValueError(f"unknown activation {name!r}; valid: {', '.join(ACTIVATIONS)}")


class _SizeChecked(nn.Module):
    image_size: int

    def _check(self, x: torch.Tensor) -> None:
        s = self.image_size
        if tuple(x.shape[-2:]) != (s, s):
            raise ValueError(
                f"{type(self).__name__} was built for {s}x{s} inputs (image_size={s}), "
                f"got {tuple(x.shape[-2:])}; resize the images or rebuild with image_size=..."
            )


class SimpleCNNv1(_SizeChecked):
    """The report's first SimpleCNN (2.2.1, appendix A.1): two 'same' 3x3 convs
    (32, 64 filters), each followed by LeakyReLU and 2x2 max-pooling, then one linear
    layer. Returns log-probabilities (raw logits when ``multilabel``)."""

    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 1,
        image_size: int = 28,
        activation: str = "leaky_relu",
        multilabel: bool = False,
    ):
        super().__init__()
        self.image_size = image_size
        self.multilabel = multilabel
        self.conv1 = nn.Sequential(
            nn.Conv2d(in_channels, 32, kernel_size=3, stride=1, padding="same"),
            _activation(activation),
            nn.MaxPool2d(kernel_size=2),
        )
        self.conv2 = nn.Sequential(
            nn.Conv2d(32, 64, kernel_size=3, stride=1, padding="same"),
            _activation(activation),
            nn.MaxPool2d(kernel_size=2),
        )
        side = image_size // 4
        self.out = nn.Linear(64 * side * side, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x)
        x = self.conv2(self.conv1(x))
        logits = self.out(torch.flatten(x, 1))
        return logits if self.multilabel else F.log_softmax(logits, dim=1)


class SimpleCNN(_SizeChecked):
    """The report's improved SimpleCNN (2.2.1, appendix A.1): three 'same' 3x3 convs
    (32/64/128 filters), each -> [BatchNorm2d] -> activation -> 2x2 max-pool ->
    [Dropout 0.25], then fc1 (256) -> [BatchNorm1d] -> activation -> [Dropout 0.5] -> fc2.
    ``in_channels=1`` is the MNIST version, 3 the PathMNIST one. Returns log-probabilities
    (raw logits when ``multilabel``)."""

    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 1,
        image_size: int = 28,
        batch_norm: bool = True,
        dropout: bool = True,
        activation: str = "relu",
        multilabel: bool = False,
    ):
        super().__init__()
        self.image_size = image_size
        self.multilabel = multilabel

        def block(cin: int, cout: int) -> nn.Sequential:
            layers: list[nn.Module] = [nn.Conv2d(cin, cout, kernel_size=3, stride=1, padding="same")]
            if batch_norm:
                layers.append(nn.BatchNorm2d(cout))
            layers += [_activation(activation), nn.MaxPool2d(kernel_size=2)]
            if dropout:
                layers.append(nn.Dropout(0.25))
            return nn.Sequential(*layers)

        self.conv1 = block(in_channels, 32)
        self.conv2 = block(32, 64)
        self.conv3 = block(64, 128)
        side = image_size // 8  # 28 -> 14 -> 7 -> 3
        self.fc1 = nn.Linear(128 * side * side, 256)
        self.fc_bn = nn.BatchNorm1d(256) if batch_norm else nn.Identity()
        self.fc_act = _activation(activation)
        self.dropout_fc = nn.Dropout(0.5) if dropout else nn.Identity()
        self.fc2 = nn.Linear(256, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x)
        x = self.conv3(self.conv2(self.conv1(x)))
        x = self.fc_act(self.fc_bn(self.fc1(torch.flatten(x, 1))))
        logits = self.fc2(self.dropout_fc(x))
        return logits if self.multilabel else F.log_softmax(logits, dim=1)


# --------------------------------------------------------------------------- input adapter


class _InputAdapter:
    """Forward pre-hook: grey -> RGB for 3-channel nets, upsample too-small inputs.

    A module-level class (not a closure) so that ``torch.save(model)`` / deepcopy work.
    """

    def __init__(self, in_channels: int, min_size: int):
        self.in_channels = in_channels
        self.min_size = min_size

    def __call__(self, module: nn.Module, args: tuple):
        if not args or not torch.is_tensor(args[0]) or args[0].dim() != 4:
            return None
        x = args[0]
        changed = False
        h, w = x.shape[-2:]
        if min(h, w) < self.min_size and x.is_floating_point():
            scale = self.min_size / min(h, w)
            size = (max(self.min_size, round(h * scale)), max(self.min_size, round(w * scale)))
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
            changed = True
        if x.shape[1] == 1 and self.in_channels == 3:
            x = x.repeat(1, 3, 1, 1)
            changed = True
        return (x, *args[1:]) if changed else None

    def __repr__(self) -> str:
        return f"_InputAdapter(in_channels={self.in_channels}, min_size={self.min_size})"


# --------------------------------------------------------------------------- pretrained weights


def _download_state_dict(key: str) -> dict:
    """Load the ImageNet state dict through the official API (cache first, else download)."""
    if key == "xception":
        # pretrainedmodels.xception(pretrained="imagenet") fetches its file with
        # torch.utils.model_zoo.load_url, i.e. torch.hub.load_state_dict_from_url, but
        # without weights_only (full unpickling), builds the net twice and asserts
        # num_classes == 1000. We call the same hub function on the same URL (so the same
        # cache file, $TORCH_HOME/hub/checkpoints/xception-43020ad28.pth) with
        # weights_only=True, and do its fc -> last_linear rename in _xception_keys().
        return torch.hub.load_state_dict_from_url(
            weights_url(key), map_location="cpu", progress=True, weights_only=True
        )
    weights = get_model_weights(key).DEFAULT
    return weights.get_state_dict(progress=True, map_location="cpu", weights_only=True)


def _unwrap_state_dict(sd) -> dict:
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    if not isinstance(sd, dict):
        raise TypeError(f"expected a state dict, got {type(sd).__name__}")
    if sd and all(k.startswith("module.") for k in sd):  # saved from DataParallel
        sd = {k[len("module.") :]: v for k, v in sd.items()}
    return sd


def _pretrained_state_dict(key: str, weights_path) -> dict:
    if weights_path is not None:
        path = os.fspath(weights_path)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"weights_path for {key!r} does not exist: {path}")
        return _unwrap_state_dict(torch.load(path, map_location="cpu", weights_only=True))

    url = weights_url(key)
    cache = weights_cache_path(key)
    try:
        return _unwrap_state_dict(_download_state_dict(key))
    except (OSError, RuntimeError, ValueError) as exc:  # URLError/HTTPError/socket errors are OSErrors
        if os.path.isfile(cache):
            raise  # the file is there but unreadable: show the real error
        raise WeightsNotFoundError(
            f"pretrained ImageNet weights for {key!r} are not in the torch hub cache and could "
            f"not be downloaded ({type(exc).__name__}: {exc}); download it from {url} and place "
            f"it at {cache} (or pass weights_path=...)",
            model=key,
            path=cache,
            url=url,
        ) from exc


def _xception_keys(sd: dict) -> dict:
    # The official file was saved from a net whose head was still called ``fc``;
    # pretrainedmodels renames the module to ``last_linear`` after loading.
    if "fc.weight" in sd and "last_linear.weight" not in sd:
        sd = {("last_linear." + k[3:] if k.startswith("fc.") else k): v for k, v in sd.items()}
    return sd


def _insert_batchnorm(features: nn.Sequential) -> nn.Sequential:
    """A copy of ``features`` with a BatchNorm2d after every Conv2d (report 3.4.3)."""
    layers: list[nn.Module] = []
    for layer in features:
        layers.append(layer)
        if isinstance(layer, nn.Conv2d):
            layers.append(nn.BatchNorm2d(layer.out_channels))
    return nn.Sequential(*layers)


# --------------------------------------------------------------------------- build


def _flag(value, default: bool) -> bool:
    return default if value is None else bool(value)


def build_model(
    name: str,
    num_classes: int,
    in_channels: int = 3,
    pretrained: bool = False,
    *,
    weights_path=None,
    batch_norm: bool | None = None,
    dropout: bool | None = None,
    activation: str | None = None,
    image_size: int = 28,
    multilabel: bool = False,
) -> nn.Module:
    """Build ``name`` (see :data:`MODEL_NAMES`, case-insensitive) with ``num_classes`` outputs.

    * ``in_channels`` (1 or 3): channels of the data. The SimpleCNNs are built with that many
      input channels; the other nets always take 3 and a pre-hook repeats grey inputs.
    * ``pretrained``: load the ImageNet weights (torch hub cache, else download) before the
      head is replaced; ``weights_path`` loads an ImageNet-format state dict from a file
      instead (and implies pretrained).
    * ``batch_norm`` / ``dropout``: SimpleCNN switches (default on); ``batch_norm=True`` on
      AlexNet adds a BatchNorm2d after every conv (report 3.4.3, after loading weights).
      ResNets / Xception always have BN and no such dropout.
    * ``activation``: "relu" or "leaky_relu" for the SimpleCNNs; default is the report's
      choice (LeakyReLU for simplecnn_v1, ReLU for simplecnn).
    * ``image_size``: the side the SimpleCNNs are built for (sets their flatten size);
      ignored by the other nets, whose ``spec.input_size`` is their native 224 / 299.
    * ``multilabel``: SimpleCNNs return raw logits instead of log-probabilities (the other
      nets always return logits).

    The model gets ``model.spec`` (:class:`ModelSpec`) and the input-adapting pre-hook.
    """
    key = _canonical(name)
    entry = MODELS[key]
    if not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
    if in_channels not in (1, 3):
        raise ValueError(f"in_channels must be 1 or 3, got {in_channels!r}")
    if activation is not None and activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; valid: {', '.join(ACTIVATIONS)}")
    use_weights = bool(pretrained) or weights_path is not None

    if entry.family == "simple":
        if use_weights:
            raise ValueError(f"{key} has no pretrained weights; use pretrained=False and no weights_path")
        size = _check_image_size(key, image_size)
        if key == "simplecnn_v1":
            if batch_norm or dropout:
                raise ValueError("simplecnn_v1 has no batch norm or dropout; use 'simplecnn' for those")
            model: nn.Module = SimpleCNNv1(
                num_classes, in_channels, size, activation=activation or "leaky_relu", multilabel=multilabel
            )
        else:
            model = SimpleCNN(
                num_classes,
                in_channels,
                size,
                batch_norm=_flag(batch_norm, True),
                dropout=_flag(dropout, True),
                activation=activation or "relu",
                multilabel=multilabel,
            )
        spec = model_spec(key, image_size=size, in_channels=in_channels)
    else:
        if activation not in (None, "relu"):
            raise ValueError(f"{key} uses ReLU; activation={activation!r} is only for the SimpleCNNs")
        if dropout:
            raise ValueError(f"dropout=... is only configurable for the SimpleCNNs, not {key}")
        if use_weights and entry.weights is None:
            raise ValueError(f"{key} has no pretrained weights; use pretrained=False and no weights_path")
        if batch_norm is False and key != "alexnet":
            raise ValueError(f"{key} always has batch normalisation; batch_norm=False is not possible")
        model = _build_pretrainable(
            key, num_classes, use_weights, weights_path, batch_norm=bool(batch_norm) and key == "alexnet"
        )
        spec = model_spec(key, pretrained=use_weights)

    model.spec = spec
    model.register_forward_pre_hook(_InputAdapter(spec.in_channels, spec.min_size))
    return model


def _set_head(model: nn.Module, path: str, num_classes: int) -> None:
    """Replace the classifier layer at ``path`` (``"fc"``, ``"classifier.6"``) by one with ``num_classes`` outputs."""
    *parents, last = path.split(".")
    owner = model
    for part in parents:
        owner = owner[int(part)] if part.isdigit() else getattr(owner, part)
    old = owner[int(last)] if last.isdigit() else getattr(owner, last)
    new = nn.Linear(old.in_features, num_classes)
    if last.isdigit():
        owner[int(last)] = new
    else:
        setattr(owner, last, new)


def _build_pretrainable(key: str, num_classes: int, use_weights: bool, weights_path, batch_norm: bool) -> nn.Module:
    entry = MODELS[key]
    state = _pretrained_state_dict(key, weights_path) if use_weights else None
    if entry.family == "pretrainedmodels":
        model = getattr(_pretrainedmodels(), key)(num_classes=1000, pretrained=None)
        if state is not None:
            model.load_state_dict(_xception_keys(state))
        model.num_classes = num_classes
    else:
        arch = key[: -len("_28")] if entry.family == "torchvision28" else key
        model = torchvision.models.get_model(arch, weights=None)
        if state is not None:
            model.load_state_dict(state)
        if entry.family == "torchvision28":
            # MedMNIST v2's experiments (its models.py): for 28 px inputs the 7x7/2 stem conv becomes a
            # 3x3/1 conv and the 3x3/2 max-pool is dropped, so a 28 px image keeps 28x28 feature maps
            # into layer1 instead of 7x7.
            model.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
            model.maxpool = nn.Identity()
        if key == "alexnet" and batch_norm:  # after loading, so the convs keep their pretrained weights
            model.features = _insert_batchnorm(model.features)
    _set_head(model, entry.head, num_classes)
    return model


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (only those with ``requires_grad`` if ``trainable_only``)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)

"""A run is a value: :class:`RunConfig` holds everything that determines one training run.

Model and its options, the data (dataset, split, the size of the files, subsets and their seed),
preprocessing (network input size, normalisation, augmentation with its probabilities and
strengths), the sampler, the optimizer with all its arguments, the scheduler with its arguments,
the stopping rule, precision and memory format, the seed and deterministic mode.

* Defaults are the report's (seed 22, the report's 80/20 split, Adam 0.001, batch 64, ...), and
  they live here only: ``experiment.run`` and ``train.fit`` build a ``RunConfig`` from their
  keywords instead of keeping copies.
* A config validates itself on construction and lists every problem at once; unknown names list
  the valid ones. Each field's kind, range and meaning is declared once, in :data:`FIELDS`, whose choices are
  their owners' registries (models, data sets, optimizers, schedulers, precisions, ...); the notebooks'
  parameters of the same names are these very specs.
* ``to_json()`` / ``from_json()`` round-trip exactly; ``fingerprint()`` is a hash of the canonical
  JSON, stable across processes and machines; ``replace(**changes)`` gives a one-at-a-time variant.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dive import data, models, optim, precision
from dive.batches import NORMALIZATIONS, Augment
from dive.schema import Param
from dive.utils import DEFAULT_SEED

#: What early stopping, the plateau scheduler and ``restore_best`` watch.
MONITORS = ("val_acc", "val_auc")
FINGERPRINT_LENGTH = 16
#: Evaluation batch size when a config gives none: the training batch size, but at least this
#: (evaluation keeps no activations for a backward pass).
EVAL_BATCH_SIZE = 128

_SIZE = {"kind": "int", "min": 1, "nullable": True}

#: Each field's kind, range and meaning (checked as given, without conversion: :meth:`Param.problem`). The
#: choices are their owners' registries; the notebooks' parameters of the same name are these very specs
#: (:data:`dive.parameters.PARAMETERS`). ``augment``, ``scheduler_kwargs`` and ``file_size`` (whose sizes
#: depend on the data set) are checked in :meth:`RunConfig._problems`.
FIELDS: dict[str, Param] = {
    # --- model
    "model": Param("model", "the model (dive.models.MODELS)", many=False),
    "pretrained": Param("bool", "start from the model's ImageNet weights"),
    "batch_norm": Param("bool", "BatchNorm layers (None: the model's default)", nullable=True),
    "dropout": Param("bool", "dropout layers (None: the model's default)", nullable=True),
    "activation": Param(
        "choice", "the activation (None: the model's default)", choices=models.ACTIVATIONS, nullable=True
    ),
    # --- data
    "dataset": Param("dataset", "the dataset: mnist or a MedMNIST 2D flag (report: pathmnist)"),
    "split": Param(
        "choice",
        "official: the dataset's train/val/test; report: the report's 80/20 split of train",
        choices=data.SPLITS,
    ),
    "split_seed": Param("int", "seed of the report's 80/20 split and of the subsets"),
    "train_size": Param(help="training images (a stratified subset; None: all)", **_SIZE),
    "val_size": Param(help="validation images (a stratified subset; None: all)", **_SIZE),
    "test_size": Param(help="test images (None: all)", **_SIZE),
    # --- preprocessing and sampling
    "image_size": Param(
        help="side the network sees, at least its smallest input (None: the model's own)", model_min=True, **_SIZE
    ),
    "normalize": Param(
        "choice",
        "auto: the weights' statistics, else the data's; imagenet; dataset (the report's)",
        choices=NORMALIZATIONS,
    ),
    "balanced": Param("bool", "class balancing (WeightedRandomSampler, weight 1/class count)"),
    # --- optimisation
    "batch_size": Param("int", "batch size", min=1),
    "eval_batch_size": Param(help="batch size of evaluation (None: batch_size, at least EVAL_BATCH_SIZE)", **_SIZE),
    "optimizer": Param("choice", "the optimizer", choices=optim.OPTIMIZERS),
    "lr": Param("float", "learning rate", above=0),
    "weight_decay": Param("float", "weight decay (None: the optimizer's default)", min=0),
    "momentum": Param("float", "momentum (SGD)", min=0),
    "scheduler": Param(
        "choice",
        "learning-rate schedule (plateau: the report's adaptive one; None: constant)",
        choices=optim.SCHEDULERS,
        nullable=True,
    ),
    # --- stopping
    "epochs": Param("int", "training epochs (the most, where early stopping is on)", min=1),
    "patience": Param("int", "early-stopping patience in epochs (None: no early stopping)", min=1, nullable=True),
    "min_delta": Param("float", "the least improvement that counts for early stopping", min=0),
    "restore_best": Param("bool", "load the best epoch's weights back at the end (None: with early stopping)"),
    "monitor": Param("choice", "what early stopping, the plateau scheduler and restore_best watch", choices=MONITORS),
    # --- speed
    "precision": Param(
        "choice", "numeric precision of training (auto: what was measured faster here)", choices=precision.PRECISIONS
    ),
    "channels_last": Param("choice", "channels_last memory format", choices=precision.CHANNELS_LAST),
    "compile": Param("choice", "torch.compile the model", choices=precision.COMPILE),
    # --- randomness
    "seed": Param("int", "the seed (report: 22)", min=0),
    "deterministic": Param("bool", "deterministic algorithms only (slower, bit-reproducible)"),
}


class ConfigError(ValueError):
    """A :class:`RunConfig` with invalid values; ``problems`` lists every one of them."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("invalid run configuration: " + "; ".join(self.problems))


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines one training run (see the module docstring)."""

    # --- model
    model: str = "simplecnn"
    pretrained: bool = False
    batch_norm: bool | None = None
    dropout: bool | None = None
    activation: str | None = None
    # --- data
    dataset: str = "pathmnist"
    split: str = "report"
    split_seed: int = DEFAULT_SEED
    file_size: int = 28
    train_size: int | None = None
    val_size: int | None = None
    test_size: int | None = None
    # --- preprocessing and sampling
    image_size: int | None = None
    normalize: str = "auto"
    augment: Augment | None = None
    balanced: bool = False
    # --- optimisation
    batch_size: int = 64
    eval_batch_size: int | None = None
    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float | None = None
    momentum: float = 0.9
    scheduler: str | None = None
    scheduler_kwargs: Mapping[str, Any] = field(default_factory=dict)
    # --- stopping
    epochs: int = 15
    patience: int | None = None
    min_delta: float = 0.0
    restore_best: bool | None = None
    monitor: str = "val_acc"
    # --- speed
    precision: str = "auto"
    channels_last: bool | str = "auto"
    compile: bool | str = False
    # --- randomness
    seed: int = DEFAULT_SEED
    deterministic: bool = False

    def __post_init__(self):
        # Canonical forms first (so that equal runs have equal fingerprints), then checks.
        set_ = object.__setattr__
        if isinstance(self.model, str):
            set_(self, "model", self.model.strip().lower().replace("-", "_"))
        if isinstance(self.dataset, str):
            set_(self, "dataset", self.dataset.strip().lower())
        if isinstance(self.optimizer, str):
            set_(self, "optimizer", self.optimizer.lower())
        if self.scheduler in ("none", "None", ""):
            set_(self, "scheduler", None)
        elif isinstance(self.scheduler, str):
            set_(self, "scheduler", self.scheduler.lower())
        if isinstance(self.augment, Mapping):
            set_(self, "augment", Augment(**self.augment))
        elif self.augment is True:
            set_(self, "augment", Augment())
        elif self.augment is False:
            set_(self, "augment", None)
        set_(self, "scheduler_kwargs", _plain(dict(self.scheduler_kwargs or {})))
        if self.weight_decay is None and isinstance(self.optimizer, str):
            set_(self, "weight_decay", optim.default_weight_decay(self.optimizer))
        if self.restore_best is None:
            set_(self, "restore_best", self.patience is not None)
        for name in ("lr", "momentum", "min_delta", "weight_decay"):
            v = getattr(self, name)
            if isinstance(v, (int, float)) and not isinstance(v, bool) and type(v) is not float:
                set_(self, name, float(v))  # an int, or a float subclass such as numpy's float64
        problems = self._problems()
        if problems:
            raise ConfigError(problems)

    def _problems(self) -> list[str]:
        p = [why for name, spec in FIELDS.items() if (why := spec.problem(getattr(self, name), name))]
        sizes = data.DATASET_TABLE[self.dataset].sizes if self.dataset in data.DATASET_TABLE else data.MEDMNIST_SIZES
        if self.file_size not in sizes:
            p.append(f"file_size {self.file_size!r} does not exist for {self.dataset}; valid: {sizes}")
        if self.augment is not None and not isinstance(self.augment, Augment):
            p.append(f"augment must be None, True or a dive.batches.Augment, got {type(self.augment).__name__}")
        if self.pretrained is True and self.model in models.MODELS and models.weights_url(self.model) is None:
            p.append(f"{self.model} has no pretrained weights; use pretrained=False")
        return p

    def evaluation_batch_size(self) -> int:
        """The batch size of validation and test passes: ``eval_batch_size``, else :data:`EVAL_BATCH_SIZE` or
        ``batch_size`` if larger."""
        return self.eval_batch_size or max(self.batch_size, EVAL_BATCH_SIZE)

    # --- identity -------------------------------------------------------------------------

    def to_dict(self) -> dict:
        """Plain JSON-able values, every field (``augment`` as its own dict or None)."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        aug = self.augment
        d["augment"] = None if aug is None else {k: float(v) for k, v in dataclasses.asdict(aug).items()}
        d["scheduler_kwargs"] = dict(self.scheduler_kwargs)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RunConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ConfigError(
                [f"unknown setting {k!r}" for k in unknown] + [f"valid settings: {', '.join(sorted(names))}"]
            )
        return cls(**dict(d))

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> RunConfig:
        return cls.from_dict(json.loads(text))

    def canonical_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), allow_nan=False)

    def fingerprint(self) -> str:
        """Hash of the canonical JSON (hex, :data:`FINGERPRINT_LENGTH` characters)."""
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()[:FINGERPRINT_LENGTH]

    def __hash__(self) -> int:
        return hash(self.canonical_json())

    def replace(self, **changes: Any) -> RunConfig:
        """A copy with ``changes`` (validated again). Derived defaults follow the change: a new
        optimizer gets its own default weight decay and a new patience its ``restore_best`` unless
        those are given too."""
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - names)
        if unknown:
            raise ConfigError(
                [f"unknown setting {k!r}" for k in unknown] + [f"valid settings: {', '.join(sorted(names))}"]
            )
        d = self.to_dict()
        if (
            "optimizer" in changes
            and "weight_decay" not in changes
            and d["weight_decay"] == optim.default_weight_decay(self.optimizer)
        ):
            d["weight_decay"] = None
        if "patience" in changes and "restore_best" not in changes and d["restore_best"] == (self.patience is not None):
            d["restore_best"] = None
        d.update(changes)
        return RunConfig.from_dict(d)

    def schedule_label(self) -> str:
        """How the run trains and which epoch it keeps, for a caption: e.g. "constant learning rate, early stopping
        on val_acc (patience 5) within 100 epochs, the epoch of best val_acc restored"."""
        lr = f"{self.scheduler} learning-rate schedule" if self.scheduler else "constant learning rate"
        if self.patience is not None:
            stop = f"early stopping on {self.monitor} (patience {self.patience}) within {self.epochs} epochs"
        else:
            stop = f"{self.epochs} epochs, no early stopping"
        keep = f"the epoch of best {self.monitor} restored" if self.restore_best else "the last epoch kept"
        return f"{lr}, {stop}, {keep}"

    def describe(self) -> str:
        """One line: the settings that differ from the defaults."""
        base = _DEFAULTS_DICT()
        diff = {k: v for k, v in self.to_dict().items() if base.get(k) != v}
        return ", ".join(f"{k}={v}" for k, v in diff.items()) or "defaults"


def _DEFAULTS_DICT() -> dict:  # noqa: N802 - a cached constant, computed on first use
    global _defaults_cache
    if _defaults_cache is None:
        _defaults_cache = RunConfig().to_dict()
    return _defaults_cache


_defaults_cache: dict | None = None


def _plain(value: Any) -> Any:
    """JSON-normal form of scheduler arguments (tuples become lists, keys strings)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value

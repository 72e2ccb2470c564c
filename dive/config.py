"""A run is a value: :class:`RunConfig` holds everything that determines one training run.

Model and its options, the data (dataset, split, the size of the files, subsets and their seed),
preprocessing (network input size, normalisation, augmentation with its probabilities and
strengths), the sampler, the optimizer with all its arguments, the scheduler with its arguments,
the stopping rule, precision and memory format, the seed and deterministic mode.

* Defaults are the report's (seed 22, the report's 80/20 split, Adam 0.001, batch 64, ...), and
  they live here only: ``experiment.run`` and ``train.fit`` build a ``RunConfig`` from their
  keywords instead of keeping copies.
* A config validates itself on construction and lists every problem at once; unknown names list
  the valid ones.
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

from dive.batches import Augment
from dive.utils import DEFAULT_SEED

#: Optimizers by name (see :func:`dive.train.make_optimizer`).
OPTIMIZERS = ("sgd", "adam", "nadam", "adagrad", "adamw")
#: Learning-rate schedulers by name (see :func:`dive.train.make_scheduler`); ``None`` = constant.
SCHEDULERS = (None, "plateau", "step", "multistep", "cosine")
SPLITS = ("report", "official")
NORMALIZATIONS = ("auto", "imagenet", "dataset")
#: What early stopping, the plateau scheduler and ``restore_best`` watch.
MONITORS = ("val_acc", "val_auc")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
#: Weight decay an optimizer gets when none is given (AdamW's own default is 0.01; the others 0).
DEFAULT_WEIGHT_DECAY = {"adamw": 0.01}
FINGERPRINT_LENGTH = 16


class ConfigError(ValueError):
    """A :class:`RunConfig` with invalid values; ``problems`` lists every one of them."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("invalid run configuration: " + "; ".join(self.problems))


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _choice(problems: list, name: str, value: Any, valid) -> None:
    if value not in valid:
        shown = ", ".join("none" if v is None else str(v) for v in valid)
        problems.append(f"unknown {name} {value!r}; valid: {shown}")


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
            set_(self, "weight_decay", float(DEFAULT_WEIGHT_DECAY.get(self.optimizer, 0.0)))
        if self.restore_best is None:
            set_(self, "restore_best", self.patience is not None)
        for name in ("lr", "momentum", "min_delta", "weight_decay"):
            v = getattr(self, name)
            if _is_int(v):
                set_(self, name, float(v))
        problems = self._problems()
        if problems:
            raise ConfigError(problems)

    def _problems(self) -> list[str]:
        from dive.data import DATASET_TABLE, DATASETS, MEDMNIST_SIZES
        from dive.models import ACTIVATIONS, MODEL_NAMES

        p: list[str] = []
        _choice(p, "model", self.model, MODEL_NAMES)
        _choice(p, "dataset", self.dataset, DATASETS)
        _choice(p, "optimizer", self.optimizer, OPTIMIZERS)
        _choice(p, "scheduler", self.scheduler, SCHEDULERS)
        _choice(p, "split", self.split, SPLITS)
        _choice(p, "normalize", self.normalize, NORMALIZATIONS)
        _choice(p, "monitor", self.monitor, MONITORS)
        _choice(p, "precision", self.precision, PRECISIONS)
        if self.activation is not None:
            _choice(p, "activation", self.activation, ACTIVATIONS)
        if self.channels_last not in ("auto", True, False):
            p.append(f"channels_last must be 'auto', True or False, got {self.channels_last!r}")
        if self.compile not in ("auto", True, False):
            p.append(f"compile must be 'auto', True or False, got {self.compile!r}")
        for name in ("pretrained", "balanced", "deterministic", "restore_best"):
            if not isinstance(getattr(self, name), bool):
                p.append(f"{name} must be True or False, got {getattr(self, name)!r}")
        for name in ("batch_norm", "dropout"):
            if getattr(self, name) not in (None, True, False):
                p.append(f"{name} must be True, False or None (the model's default), got {getattr(self, name)!r}")
        for name in ("epochs", "batch_size"):
            v = getattr(self, name)
            if not _is_int(v) or v < 1:
                p.append(f"{name} must be an integer >= 1, got {v!r}")
        for name in ("patience", "eval_batch_size", "train_size", "val_size", "test_size", "image_size"):
            v = getattr(self, name)
            if v is not None and (not _is_int(v) or v < 1):
                p.append(f"{name} must be an integer >= 1 or None, got {v!r}")
        for name in ("seed", "split_seed"):
            if not _is_int(getattr(self, name)):
                p.append(f"{name} must be an integer, got {getattr(self, name)!r}")
        if not _is_number(self.lr) or not self.lr > 0:
            p.append(f"lr must be a number > 0, got {self.lr!r}")
        for name in ("weight_decay", "momentum", "min_delta"):
            v = getattr(self, name)
            if not _is_number(v) or v < 0:
                p.append(f"{name} must be a number >= 0, got {v!r}")
        sizes = DATASET_TABLE[self.dataset].sizes if self.dataset in DATASET_TABLE else MEDMNIST_SIZES
        if self.file_size not in sizes:
            p.append(f"file_size {self.file_size!r} does not exist for {self.dataset}; valid: {sizes}")
        if self.augment is not None and not isinstance(self.augment, Augment):
            p.append(f"augment must be None, True or a dive.batches.Augment, got {type(self.augment).__name__}")
        if self.pretrained is True and self.model in MODEL_NAMES:
            from dive.models import weights_url

            if weights_url(self.model) is None:
                p.append(f"{self.model} has no pretrained weights; use pretrained=False")
        return p

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
            and d["weight_decay"] == DEFAULT_WEIGHT_DECAY.get(self.optimizer, 0.0)
        ):
            d["weight_decay"] = None
        if "patience" in changes and "restore_best" not in changes and d["restore_best"] == (self.patience is not None):
            d["restore_best"] = None
        d.update(changes)
        return RunConfig.from_dict(d)

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

"""Run profiles: one YAML file per profile, resolved into the parameters of one notebook.

A profile lives in ``notebooks/profiles/<profile>.yaml`` (``DIVE_PROFILES_DIR`` points
elsewhere, e.g. in tests) and holds a ``common:`` mapping plus one mapping per notebook
stem (``01_mnist_simplecnn:``) that overrides ``common``. :func:`resolve` merges

    built-in defaults < common < the notebook's section < values given by the caller

where a given value of ``None`` means "take the profile's value" (that is how a notebook's
``parameters`` cell says "not set"). Shared keys mean the same thing in every notebook:

=============  ==============================================================================
profile        smoke | quick | full
data_flag      ``mnist`` or a MedMNIST 2D flag (default ``pathmnist``); checked against
               ``dive.data.DATASETS``
data_root      given (or set in the profile) -> used; else ``synthetic: true`` ->
               ``dive.synthetic.ensure_synthetic_root(<repo>/data/synthetic)``; else the
               environment variable ``DIVE_DATA``; else ``dive.data.default_root()``
synthetic      whether the data are the generated stand-ins (every output then says so)
seed           22, the report's seed
device         ``auto`` (CUDA, else MPS, else CPU) or a torch device string
pretrained     ImageNet weights: true (required), "auto" (when cached; default), false
out_dir        ``<reports>/<profile>/<notebook>/`` (``<reports>`` = ``DIVE_REPORTS_DIR`` or
               ``<repo>/reports``); created
model/models   checked against ``dive.models.MODEL_NAMES``
=============  ==============================================================================

Every parameter any notebook or profile uses is declared once, in :data:`PARAMETERS` (kind, range,
choices, help). :func:`validate` merges as :func:`resolve` does and checks and converts every value
without side effects, listing every bad value at once in a :class:`ParameterError`; :func:`resolve`
calls it first, so a notebook stops in its first cell, before any data are loaded.

``dive.data``, ``dive.synthetic`` and ``dive.models`` are imported only when needed (and
through the small ``_datasets``/``_model_names``/``_min_image_size``/``_ensure_synthetic``/
``_default_data_root`` helpers, which tests replace).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from dive.utils import DEFAULT_SEED

PROFILES = ("smoke", "quick", "full")
REPO_ROOT = Path(__file__).resolve().parent.parent

#: Values every notebook gets unless the profile or the caller says otherwise.
DEFAULTS: dict[str, Any] = {
    "data_flag": "pathmnist",
    "seed": DEFAULT_SEED,
    "device": "auto",
    "pretrained": "auto",
    "synthetic": False,
}
#: Shown first, in this order, by ``Params``' table.
SHARED_KEYS = ("profile", "notebook", "data_flag", "data_root", "synthetic", "seed", "device", "pretrained", "out_dir")


# --- hooks into modules other people are writing (lazy; replaced in tests) ---------------


def _datasets() -> tuple[str, ...]:
    from dive import data

    return tuple(data.DATASETS)


def _model_names() -> tuple[str, ...]:
    from dive import models

    return tuple(models.MODEL_NAMES)


def _min_image_size(model: str) -> int:
    from dive import models

    return int(models.min_image_size(model))


def _ensure_synthetic(root: Path) -> Path:
    from dive import synthetic

    return Path(synthetic.ensure_synthetic_root(root))


def _default_data_root() -> Path:
    from dive import data

    return Path(data.default_root())


# --- locations -----------------------------------------------------------------------------


def profiles_dir() -> Path:
    """``DIVE_PROFILES_DIR`` if set, else ``<repo>/notebooks/profiles``."""
    env = os.environ.get("DIVE_PROFILES_DIR")
    return Path(env) if env else REPO_ROOT / "notebooks" / "profiles"


def reports_root() -> Path:
    """``DIVE_REPORTS_DIR`` if set (``python -m dive.report --reports-dir`` sets it), else ``<repo>/reports``."""
    env = os.environ.get("DIVE_REPORTS_DIR")
    return Path(env) if env else REPO_ROOT / "reports"


def notebook_stem(notebook: str | os.PathLike) -> str:
    """``"notebooks/01_x.ipynb"`` -> ``"01_x"``; a bare stem is returned as is."""
    name = Path(notebook).name
    return name.removesuffix(".ipynb")


def default_out_dir(notebook: str, profile: str, *, create: bool = True) -> Path:
    """``<reports>/<profile>/<notebook stem>/`` (created unless ``create=False``)."""
    check_profile(profile)
    out = reports_root() / profile / notebook_stem(notebook)
    if create:
        out.mkdir(parents=True, exist_ok=True)
    return out


# --- validation ----------------------------------------------------------------------------


def check_profile(profile: str) -> str:
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; valid profiles: {', '.join(PROFILES)}")
    return profile


def check_data_flag(flag: str) -> str:
    valid = _datasets()
    if flag not in valid:
        raise ValueError(f"unknown data_flag {flag!r}; valid data flags: {', '.join(valid)}")
    return flag


def check_models(value: Any, key: str = "model") -> Any:
    """``value`` is one name, a comma-separated string or a list of names."""
    if value is None:
        return value
    names = [s.strip() for s in value.split(",")] if isinstance(value, str) else list(value)
    valid = _model_names()
    lowered = {v.lower() for v in valid}
    bad = [n for n in names if str(n).lower() not in lowered]
    if bad:
        raise ValueError(f"unknown {key} {', '.join(map(repr, bad))}; valid models: {', '.join(valid)}")
    return value


# --- the parameter schema: every parameter of every notebook, declared once ----------------------


class ParameterError(ValueError):
    """Bad parameter values. ``problems``: one line per bad value (parameter, value given, what is
    expected, the notebook), all of them at once."""

    def __init__(self, problems: Sequence[str], header: str | None = None):
        self.problems = list(problems)
        head = header or f"{len(self.problems)} bad parameter value(s); nothing was run"
        super().__init__(head + ":\n" + "\n".join(f"  - {p}" for p in self.problems))


class _Bad(Exception):
    """A value that does not fit its :class:`Param`; ``own``: the message is complete as it is."""

    def __init__(self, message: str = "", own: bool = False):
        super().__init__(message)
        self.own = own


def _medmnist_flags() -> tuple[str, ...]:
    return tuple(f for f in _datasets() if f != "mnist")


def _bound(x: float) -> str:
    return f"{x:g}"


@dataclass(frozen=True)
class Param:
    """How one parameter is checked and converted (see :data:`PARAMETERS`).

    ``kind``: ``int``, ``float``, ``bool``, ``choice``, ``list``, ``str``, ``path``, or ``dataset`` /
    ``model`` (names checked by :func:`check_data_flag` / :func:`check_models`, whose messages list
    the valid names). Values that convert without loss are converted (``"0.001"`` -> 0.001, ``"5"`` and
    ``2.0`` -> an int, ``"true"`` -> True, ``"0.1,0.01"`` -> a list); anything else is an error.
    """

    kind: str
    help: str
    min: float | None = None  # inclusive lower bound (int, float)
    above: float | None = None  # exclusive lower bound (float)
    nullable: bool = False  # None is a meaningful value (e.g. "all images")
    choices: tuple | Callable[[], Sequence] = ()  # choice: the values; a callable is asked when checking
    item: Param | None = None  # list: each item's spec
    count: bool = False  # list: a positive integer n is also accepted (kept as n)
    all: bool = False  # list: the word "all" is also accepted (kept as "all")
    scalar: bool = True  # list: one value is also accepted as a one-item list (False: where it is ambiguous)
    pattern: str | None = None  # str: a regular expression the whole string must match
    expect: str | None = None  # str: how to say what is expected (with ``pattern``)
    many: bool = True  # model: a list or comma-separated names allowed
    model_min: bool = False  # int: also >= the smallest input of the notebook's models (image sizes)

    def valid_choices(self) -> tuple:
        return tuple(self.choices() if callable(self.choices) else self.choices)

    def expected(self) -> str:
        """What a valid value looks like, in words."""
        k = self.kind
        if k in ("int", "float"):
            text = "an integer" if k == "int" else "a number"
            if self.min is not None:
                text += f" >= {_bound(self.min)}"
            if self.above is not None:
                text += f" > {_bound(self.above)}"
        elif k == "bool":
            text = "True or False"
        elif k == "choice":
            text = "one of " + ", ".join(str(c) for c in self.valid_choices())
        elif k == "list":
            text = f"a non-empty list (or comma-separated), each item {self.item.expected()}"
            if not self.scalar:
                text = f'a non-empty list such as [22, 23] (or "22,23"), each item {self.item.expected()}'
            if self.count:
                text = "a positive count or " + text
            if self.all:
                text = '"all" or ' + text
        elif k == "str":
            text = self.expect or "a string"
        elif k == "path":
            text = "a path"
        elif k == "dataset":
            text = "mnist or a MedMNIST 2D flag"
        elif k == "model":
            text = "a model name" + (" or a list of them" if self.many else "")
        else:  # pragma: no cover - a mistake in PARAMETERS
            raise AssertionError(f"unknown Param kind {k!r}")
        return text + (" or None" if self.nullable else "")

    def convert(self, value: Any, key: str = "value") -> Any:
        """``value`` checked and converted; raises :class:`_Bad` when it does not fit."""
        if value is None:
            if self.nullable:
                return None
            raise _Bad()
        k = self.kind
        if k == "int":
            return self._in_range(_to_int(value))
        if k == "float":
            return self._in_range(_to_float(value))
        if k == "bool":
            return _to_bool(value)
        if k == "choice":
            return _to_choice(value, self.valid_choices())
        if k == "list":
            return self._to_list(value, key)
        if k == "str":
            if not isinstance(value, str) or (self.pattern and not re.fullmatch(self.pattern, value)):
                raise _Bad()
            return value
        if k == "path":
            if not isinstance(value, (str, os.PathLike)) or not str(value).strip():
                raise _Bad()
            return Path(value).expanduser()
        if k == "dataset":
            if not isinstance(value, str):
                raise _Bad()
            try:
                return check_data_flag(value)
            except ValueError as err:
                raise _Bad(str(err), own=True) from None
        if k == "model":
            names = [s.strip() for s in value.split(",")] if isinstance(value, str) else value
            if isinstance(value, str) and len(names) > 1 and not self.many:
                raise _Bad()
            if not isinstance(names, (list, tuple)) or not names or not all(isinstance(n, str) for n in names):
                raise _Bad()
            try:
                return check_models(value, key)
            except ValueError as err:
                raise _Bad(str(err), own=True) from None
        raise AssertionError(f"unknown Param kind {k!r}")  # pragma: no cover

    def _in_range(self, x: float) -> Any:
        if (self.min is not None and x < self.min) or (self.above is not None and not x > self.above):
            raise _Bad()
        return x

    def _to_list(self, value: Any, key: str) -> Any:
        if self.all and isinstance(value, str) and value.strip().lower() == "all":
            return "all"
        if self.count and not isinstance(value, (list, tuple)) and not (isinstance(value, str) and "," in value):
            n = _to_int(value)
            if n < 1:
                raise _Bad()
            return n
        if not self.scalar and not isinstance(value, (list, tuple)) and not (isinstance(value, str) and "," in value):
            raise _Bad()
        if isinstance(value, str):
            items = [s.strip() for s in value.split(",")]
            if any(not s for s in items):
                raise _Bad()
        elif isinstance(value, (list, tuple)):
            items = list(value)
        else:
            items = [value]
        if not items:
            raise _Bad()
        return [self.item.convert(v, key) for v in items]


def _to_int(value: Any) -> int:
    if isinstance(value, bool):
        raise _Bad()
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            value = _to_float(value)
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    raise _Bad()


def _to_float(value: Any) -> float:
    if isinstance(value, bool):
        raise _Bad()
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise _Bad() from None
    if isinstance(value, (int, float)) and math.isfinite(value):
        return float(value)
    raise _Bad()


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise _Bad()


def _to_choice(value: Any, choices: tuple) -> Any:
    for c in choices:
        if value == c and isinstance(value, bool) == isinstance(c, bool):
            return c
    if isinstance(value, str):
        word = value.strip().lower()
        for c in choices:
            if (str(c).lower() == word) and (isinstance(c, str) or word in ("true", "false")):
                return c
    raise _Bad()


_SIZE = {"kind": "int", "min": 1, "nullable": True}
_POSITIVE = Param("int", "", min=1)

#: Every parameter a notebook or a profile may set: its kind, range and meaning. A notebook's
#: ``parameters`` cell and the profiles may only use names declared here (tests/test_parameters.py).
PARAMETERS: dict[str, Param] = {
    # --- where and how a notebook runs
    "profile": Param("choice", "notebooks/profiles/<profile>.yaml", choices=PROFILES),
    "notebook": Param("str", "the notebook's name without .ipynb (set by resolve)"),
    "data_root": Param("path", "folder with MNIST/raw/*.gz and medmnist/<flag>.npz; None: derived", nullable=True),
    "out_dir": Param(
        "path", "where figures/, tables/ and metrics.json go; None: reports/<profile>/<notebook>/", nullable=True
    ),
    "synthetic": Param("bool", "the data are generated stand-ins (every output then says so)"),
    "device": Param(
        "str",
        "where to compute",
        pattern=r"auto|(cpu|cuda|mps|xpu)(:\d+)?",
        expect="auto or a torch device (cpu, cuda, cuda:N, mps, xpu)",
    ),
    "checkpoints": Param("bool", "a resumable checkpoint per epoch under out_dir/checkpoints/<run>"),
    "executor": Param(
        "choice", "where runs execute: in the notebook's process or on a Ray cluster", choices=("local", "ray")
    ),
    "ray_address": Param("str", "the Ray cluster to join (None: start a local one)", nullable=True),
    "precision": Param(
        "choice",
        "numeric precision of training (auto: what was measured faster here)",
        choices=("auto", "fp32", "bf16", "fp16"),
    ),
    "channels_last": Param("choice", "channels_last memory format", choices=("auto", True, False)),
    "compile": Param("choice", "torch.compile the model", choices=("auto", True, False)),
    "deterministic": Param("bool", "deterministic algorithms only (slower, bit-reproducible)"),
    # --- data
    "data_flag": Param("dataset", "the dataset: mnist or a MedMNIST 2D flag (report: pathmnist)"),
    "flags": Param(
        "list",
        "MedMNIST 2D datasets to run",
        all=True,
        item=Param("choice", "a MedMNIST 2D flag", choices=_medmnist_flags),
    ),
    "split": Param(
        "choice",
        "official: the dataset's train/val/test; report: the report's 80/20 split of train",
        choices=("official", "report"),
    ),
    "split_seed": Param("int", "seed of the report's 80/20 split (None: seed)", min=0, nullable=True),
    "per_class": Param("int", "example images per class in the figures", min=1),
    "train_size": Param(help="training images (a stratified subset; None: all)", **_SIZE),
    "val_size": Param(help="validation images (a stratified subset; None: all)", **_SIZE),
    "test_size": Param(help="test images (None: all)", **_SIZE),
    "image_size": Param(
        help="side the network sees, at least its smallest input (None: the model's own)", model_min=True, **_SIZE
    ),
    "normalize": Param(
        "choice",
        "auto: the weights' statistics, else the data's; imagenet; dataset (the report's)",
        choices=("auto", "imagenet", "dataset"),
    ),
    "balanced": Param("bool", "class balancing (WeightedRandomSampler, weight 1/class count)"),
    "augment": Param("bool", "the report's augmentations"),
    # --- models
    "model": Param("model", "the model (dive.models.MODEL_NAMES)"),
    "models": Param("model", "the models (dive.models.MODEL_NAMES)"),
    "deep_model": Param("model", "the deep ResNet of Fig. 14 and the ensemble (report: resnet152)", many=False),
    "pretrained": Param(
        "choice", "ImageNet weights: True (required), auto (when cached), False", choices=(True, False, "auto")
    ),
    # --- training
    "seed": Param("int", "the seed (report: 22)", min=0),
    "seeds": Param(
        "list",
        "seeds per setting: a count (seed, seed + 1, ...) or the seeds themselves",
        count=True,
        item=Param("int", "a seed", min=0),
    ),
    "repeats": Param("int", "seeds per setting (seed, seed + 1, ...)", min=1),
    "optimizer": Param("choice", "the optimizer", choices=("sgd", "adam", "nadam", "adagrad", "adamw")),
    "scheduler": Param(
        "choice",
        "learning-rate schedule (plateau: the report's adaptive one)",
        choices=("none", "plateau", "step", "multistep", "cosine"),
    ),
    "lr": Param("float", "learning rate", above=0),
    "batch_size": Param("int", "batch size", min=1),
    "epochs": Param("int", "training epochs (the most, where early stopping is on)", min=1),
    "max_epochs": Param("int", "upper bound of the early-stopping runs", min=1),
    "first_max_epochs": Param("int", "upper bound of the first, unoptimised ResNet18", min=1),
    "patience": Param("int", "early-stopping patience in epochs (None: no early stopping)", min=1, nullable=True),
    "first_patience": Param("int", "early-stopping patience of the first ResNet18", min=1, nullable=True),
    "lr_grid": Param("list", "learning rates of the study", item=Param("float", "a learning rate", above=0)),
    "batch_size_grid": Param("list", "batch sizes of the study", item=_POSITIVE),
    "epochs_grid": Param("list", "epoch counts of the study", item=_POSITIVE),
    # --- explanations (notebook 10)
    "methods": Param(
        "list",
        "attribution methods",
        item=Param(
            "choice", "an attribution method", choices=("saliency", "integrated_gradients", "occlusion", "gradcam")
        ),
    ),
    "n_images": Param("int", "images to explain", min=1),
    "simplecnn_variant": Param(
        "choice",
        "notebook 02's SimpleCNN variant to explain (best: all three, the best by validation accuracy)",
        choices=("bn", "bn_dropout", "dropout", "best"),
    ),
    "data_randomisation": Param("bool", "also train on shuffled labels (Adebayo's data randomisation test)"),
    # --- the MedMNIST benchmark (notebook 09): the budgets of its three recipes
    "simplecnn_epochs": Param("int", "SimpleCNN recipe: most epochs", min=1),
    "simplecnn_patience": Param("int", "SimpleCNN recipe: early-stopping patience", min=1, nullable=True),
    "medmnist_epochs": Param("int", "MedMNIST recipe: epochs", min=1),
    "report_max_epochs": Param("int", "report recipe: most epochs", min=1),
    "report_patience": Param("int", "report recipe: early-stopping patience", min=1, nullable=True),
    "report_image_size": Param(help="report recipe: side the ResNet sees (None: 224)", model_min=True, **_SIZE),
    # --- the search over Table 4's space (notebook 11; dive.search)
    "search_trials": Param("int", "trials of the search that finish (completed or pruned)", min=1),
    "search_startup": Param("int", "random trials before TPE models the space and before the pruner prunes", min=1),
    "prune_warmup": Param("int", "epochs every trial runs before it may be pruned (ASHA's grace period)", min=1),
}

#: Where one notebook means something else by a name: its own spec, used instead of :data:`PARAMETERS`'.
NOTEBOOK_PARAMETERS: dict[str, dict[str, Param]] = {
    "09_medmnist_benchmark": {
        "methods": Param(
            "list",
            "benchmark recipes (None: all three)",
            item=Param("choice", "a recipe", choices=("simplecnn_report", "resnet18_medmnist", "resnet18_report")),
        ),
        "seeds": Param(
            "list",
            "seeds: a count (seed, seed + 1, ...) or the seeds; more than one: mean and 95 % CI",
            count=True,
            item=Param("int", "a seed", min=0),
            scalar=False,
        ),
    },
}

#: The models a notebook trains whatever its parameters say; its image sizes (``model_min`` parameters)
#: must be at least the smallest input of each of these and of its ``model``/``models``/``deep_model`` values.
NOTEBOOK_MODELS: dict[str, tuple[str, ...]] = {
    "03_resnet18_baseline": ("resnet18",),
    "04_alexnet_balancing": ("alexnet",),
    "05_alexnet_augmentation": ("alexnet",),
    "06_alexnet_batchnorm": ("alexnet",),
    "07_resnet_tuning": ("resnet18",),
    "08_xception": ("xception",),
    "09_medmnist_benchmark": ("resnet18",),  # report_image_size: the report recipe's ResNet-18
    "11_search": ("resnet18",),
}
_MODEL_KEYS = ("model", "models", "deep_model")


def _model_list(value: Any) -> list[str]:
    names = value.split(",") if isinstance(value, str) else list(value)
    return [str(n).strip().lower().replace("-", "_") for n in names]


def param_spec(notebook: str, name: str) -> Param | None:
    """The :class:`Param` that checks ``name`` in ``notebook`` (its own, else the shared one; None: undeclared)."""
    own = NOTEBOOK_PARAMETERS.get(notebook_stem(notebook), {})
    return own[name] if name in own else PARAMETERS.get(name)


def validate(notebook: str, profile: str, **given: Any) -> dict:
    """The parameters of ``notebook`` under ``profile``, merged as :func:`resolve` merges them
    (defaults < common < the notebook's section < ``given``; a ``None`` means "not set"), each
    checked against :func:`param_spec` (:data:`PARAMETERS`, or the notebook's own in
    :data:`NOTEBOOK_PARAMETERS`) and converted where that loses nothing; image sizes also against
    the smallest input of the notebook's models (:data:`NOTEBOOK_MODELS`, ``model``/``models``/``deep_model``).

    No side effects: no folders, no data. Undeclared names pass unchecked.
    ``data_root``/``out_dir`` stay as given (``Path``) or absent; :func:`resolve` derives them.
    Raises :class:`ParameterError` listing every bad value at once.
    """
    stem = notebook_stem(notebook)
    if profile not in PROFILES:
        raise ParameterError(
            [
                f"profile = {profile!r} for notebook {stem}: unknown profile {profile!r}; valid "
                + f"profiles: {', '.join(PROFILES)}"
            ]
        )
    raw = load_profile(profile)
    problems: list[str] = []
    given = dict(given)
    for key, fixed in (("profile", profile), ("notebook", stem)):
        value = given.pop(key, None)
        if value is not None and value != fixed:
            problems.append(
                f"{key} = {value!r} (given) in notebook {stem}: expected {fixed!r}, the {key} being resolved"
            )
    merged: dict[str, Any] = {}
    source: dict[str, str] = {}
    for where, values in (
        ("built-in default", DEFAULTS),
        (f"profile {profile}, common", raw["common"]),
        (f"profile {profile}, section {stem}", raw.get(stem, {})),
        ("given", given),
    ):
        for key, value in values.items():
            if value is not None:
                merged[key], source[key] = value, where
    ok: set[str] = set()
    for key, value in merged.items():
        spec = param_spec(stem, key)
        if spec is None:
            continue
        try:
            merged[key] = spec.convert(value, key)
            ok.add(key)
        except _Bad as bad:
            what = str(bad) if bad.own else f"expected {spec.expected()} — {key}: {spec.help}"
            problems.append(f"{key} = {value!r} ({source[key]}) in notebook {stem}: {what}")
    sizes = [k for k in ok if merged[k] is not None and param_spec(stem, k).model_min]
    if sizes:
        names = list(NOTEBOOK_MODELS.get(stem, ()))
        for key in _MODEL_KEYS:
            if key in ok:
                names += _model_list(merged[key])
        floors = {name: _min_image_size(name) for name in dict.fromkeys(names)}
        need = max(floors.values(), default=0)
        which = ", ".join(f"{n} {m} px" for n, m in floors.items() if m == need)
        problems += [
            f"{key} = {merged[key]!r} ({source[key]}) in notebook {stem}: expected an integer >= {need} "
            f"or None, the smallest input the model runs on ({which})"
            for key in sizes
            if merged[key] < need
        ]
    if problems:
        raise ParameterError(
            problems, f"notebook {stem}, profile {profile}: {len(problems)} bad parameter value(s); nothing was run"
        )
    return merged


# --- loading and merging -------------------------------------------------------------------


def load_profile(profile: str, directory: str | os.PathLike | None = None) -> dict:
    """The profile's YAML as ``{"common": {...}, "<notebook stem>": {...}, ...}``.

    Empty sections read as ``{}``; ``common`` is always present.
    """
    check_profile(profile)
    path = Path(directory) if directory is not None else profiles_dir()
    path = path / f"{profile}.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"profile file {path} is missing (profiles: {', '.join(PROFILES)})")
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(raw, Mapping):
        raise ValueError(
            f"{path}: expected a mapping with 'common' and one section per notebook, got {type(raw).__name__}"
        )
    out: dict[str, dict] = {"common": {}}
    for section, values in raw.items():
        values = {} if values is None else values
        if not isinstance(values, Mapping):
            raise ValueError(f"{path}: section {section!r} must be a mapping of parameter names to values")
        if "profile" in values:
            raise ValueError(f"{path}: section {section!r} sets 'profile'; the file name is the profile")
        out[str(section)] = dict(values)
    return out


def profile_values(notebook: str, profile: str, directory: str | os.PathLike | None = None) -> dict:
    """The profile's raw values for one notebook: ``common`` updated by the notebook's section."""
    data = load_profile(profile, directory)
    merged = dict(data["common"])
    merged.update(data.get(notebook_stem(notebook), {}))
    return merged


class Params(dict):
    """A dict with attribute access (``p.epochs``) and a readable table for notebooks."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"no parameter {name!r}; parameters: {', '.join(self)}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __delattr__(self, name: str) -> None:
        try:
            del self[name]
        except KeyError:
            raise AttributeError(name) from None

    def _rows(self) -> list[tuple[str, str]]:
        return [(k, str(v) if isinstance(v, Path) else repr(v)) for k, v in self.items()]

    def __repr__(self) -> str:
        rows = self._rows()
        width = max((len(k) for k, _ in rows), default=0)
        return "Params(\n" + "\n".join(f"  {k:<{width}} = {v}" for k, v in rows) + "\n)"

    def _repr_markdown_(self) -> str:
        lines = ["| parameter | value |", "|---|---|"]
        for k, v in self._rows():
            lines.append(f"| `{k}` | `{v.replace('|', '&#124;')}` |")
        return "\n".join(lines)


def resolve(notebook: str, profile: str = "quick", **given: Any) -> Params:
    """The parameters of ``notebook`` under ``profile``: defaults < common < section < given.

    Given values of ``None`` are ignored (the profile's value is used). First :func:`validate`
    checks and converts every value (a :class:`ParameterError` lists all bad ones, before any
    work); then ``data_root`` and ``out_dir`` are filled in (see the module docstring; the
    synthetic data and the output folder are made here) and a :class:`Params` is returned.
    """
    stem = notebook_stem(notebook)
    merged = validate(stem, profile, **given)

    if merged.get("data_root") is not None:
        merged["data_root"] = Path(merged["data_root"]).expanduser()
    elif merged["synthetic"]:
        merged["data_root"] = _ensure_synthetic(REPO_ROOT / "data" / "synthetic")
    elif os.environ.get("DIVE_DATA"):
        merged["data_root"] = Path(os.environ["DIVE_DATA"]).expanduser()
    else:
        merged["data_root"] = _default_data_root()

    if merged.get("out_dir") is not None:
        merged["out_dir"] = Path(merged["out_dir"]).expanduser()
        merged["out_dir"].mkdir(parents=True, exist_ok=True)
    else:
        merged["out_dir"] = default_out_dir(stem, profile)

    merged["profile"] = profile
    merged["notebook"] = stem
    ordered = {k: merged.pop(k) for k in SHARED_KEYS if k in merged}
    ordered.update(merged)
    return Params(ordered)


#: Keys that say *where* or *how* a notebook runs, not *what* it computes: never a departure.
_NOT_SETTINGS = ("profile", "notebook", "synthetic", "data_root", "out_dir", "device", "checkpoints")
#: How ``None`` reads for some keys in the departures table.
_NONE_MEANS = {"train_size": "all", "val_size": "all", "test_size": "all", "image_size": "the model's own"}


def departures(p: Mapping[str, Any], reference: str = "full") -> list[dict]:
    """Where the parameters ``p`` (from :func:`resolve`) depart from the ``reference`` profile's.

    The ``full`` profile holds the original report's settings, so the default answers "what did this
    run shrink or change?". One ``{"parameter", "report", "this_run"}`` row per differing key, in the
    order of ``p``; keys about place and machinery (data root, output folder, device, checkpoints) are
    left out.
    """
    raw = profile_values(p["notebook"], reference)
    ref = dict(DEFAULTS)
    ref.update({k: v for k, v in raw.items() if v is not None})
    for key, value in ref.items():  # compared as validate converts them ("0.001" is 0.001)
        if key in PARAMETERS and PARAMETERS[key].kind not in ("dataset", "model"):
            try:
                ref[key] = PARAMETERS[key].convert(value, key)
            except _Bad:
                pass

    def show(key: str, value: Any) -> str:
        return _NONE_MEANS.get(key, "default") if value is None else str(value)

    keys = [k for k in p if k not in _NOT_SETTINGS] + [k for k in raw if k not in p and k not in _NOT_SETTINGS]
    return [
        {"parameter": k, "report": show(k, ref.get(k)), "this_run": show(k, p.get(k))}
        for k in keys
        if p.get(k) != ref.get(k)
    ]


def departures_note(p: Mapping[str, Any], reference: str = "full", rows: list[dict] | None = None) -> str | None:
    """One sentence listing :func:`departures` (``None`` when there are none); ``rows``: already computed."""
    rows = departures(p, reference) if rows is None else rows
    if not rows:
        return None
    return f"profile '{p['profile']}' departs from the report's settings: " + "; ".join(
        f"{r['parameter']} {r['this_run']} (report: {r['report']})" for r in rows
    )

"""Every parameter a notebook or a profile may set, declared once: :data:`PARAMETERS`.

A parameter that is also a field of :class:`dive.config.RunConfig` (``lr``, ``optimizer``, ``precision``, ...) is
that field's own :class:`~dive.schema.Param` (:data:`dive.config.FIELDS`): one type, range and meaning for both.
Enumerations are their owners' (:mod:`dive.optim`'s optimizers and schedulers, :mod:`dive.precision`'s
precisions, :mod:`dive.executors`' executors, the attribution methods of :mod:`dive.explain`, the benchmark's
recipes, the registries of :mod:`dive.data` and :mod:`dive.models`), so a new entry there is a valid value here.

:data:`NOTEBOOK_PARAMETERS` holds the few names one notebook means differently; :data:`NOTEBOOK_MODELS` the models
a notebook trains whatever its parameters say (its image sizes are checked against them, and
:mod:`dive.report.preflight` checks their ImageNet weights); :data:`NOTEBOOK_DATASETS` the data sets a notebook
loads besides its ``data_flag``. :func:`dive.profiles.validate` checks a notebook's values against all of these.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from dive import attribution, data, executors, optim, recipes
from dive.config import FIELDS
from dive.schema import Param

PROFILES = ("smoke", "quick", "full")


def notebook_stem(notebook: str | os.PathLike) -> str:
    """``"notebooks/01_x.ipynb"`` -> ``"01_x"``; a bare stem is returned as is."""
    name = Path(notebook).name
    return name.removesuffix(".ipynb")


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
        "choice", "where runs execute: in the notebook's process or on a Ray cluster", choices=executors.EXECUTORS
    ),
    "ray_address": Param("str", "the Ray cluster to join (None: start a local one)", nullable=True),
    "precision": FIELDS["precision"],
    "channels_last": FIELDS["channels_last"],
    "compile": FIELDS["compile"],
    "deterministic": FIELDS["deterministic"],
    # --- data
    "data_flag": FIELDS["dataset"],
    "flags": Param(
        "list",
        "MedMNIST 2D datasets to run",
        all=True,
        item=Param("choice", "a MedMNIST 2D flag", choices=lambda: data.MEDMNIST_2D),
    ),
    "split": FIELDS["split"],
    "split_seed": Param("int", "seed of the report's 80/20 split (None: seed)", min=0, nullable=True),
    "per_class": Param("int", "example images per class in the figures", min=1),
    "train_size": FIELDS["train_size"],
    "val_size": FIELDS["val_size"],
    "test_size": FIELDS["test_size"],
    "image_size": FIELDS["image_size"],
    "normalize": FIELDS["normalize"],
    "balanced": FIELDS["balanced"],
    "augment": Param("bool", "the report's augmentations"),
    # --- models
    "model": Param("model", FIELDS["model"].help),
    "models": Param("model", "the models (dive.models.MODELS)"),
    "deep_model": Param("model", "the deep ResNet of Fig. 14 and the ensemble (report: resnet152)", many=False),
    "pretrained": Param(
        "choice", "ImageNet weights: True (required), auto (when cached), False", choices=(True, False, "auto")
    ),
    # --- training
    "seed": FIELDS["seed"],
    "seeds": Param(
        "list",
        "seeds per setting: a count (seed, seed + 1, ...) or the seeds themselves",
        count=True,
        item=Param("int", "a seed", min=0),
    ),
    "repeats": Param("int", "seeds per setting (seed, seed + 1, ...)", min=1),
    "optimizer": FIELDS["optimizer"],
    # a profile says "none" for a constant learning rate (None there means "not set")
    "scheduler": Param("choice", FIELDS["scheduler"].help, choices=lambda: ("none", *optim.SCHEDULERS)),
    "lr": FIELDS["lr"],
    "batch_size": FIELDS["batch_size"],
    "epochs": FIELDS["epochs"],
    "max_epochs": Param("int", "upper bound of the early-stopping runs", min=1),
    "first_max_epochs": Param("int", "upper bound of the first, unoptimised ResNet18", min=1),
    "patience": FIELDS["patience"],
    "monitor": FIELDS["monitor"],
    "first_patience": Param("int", "early-stopping patience of the first ResNet18", min=1, nullable=True),
    "final_train_size": Param(
        "int",
        "training images of notebook 07's final run of the tuned recipe (None: the study's own run is the final one)",
        min=1,
        nullable=True,
    ),
    "final_split": Param(
        "choice",
        "split of notebook 07's final run: official = MedMNIST's own train/val, the published values' protocol "
        "(None: the study's split)",
        choices=data.SPLITS,
        nullable=True,
    ),
    "final_max_epochs": Param("int", "upper bound of notebook 07's final run (None: max_epochs)", min=1, nullable=True),
    "final_patience": Param(
        "int", "early-stopping patience of notebook 07's final run (None: patience)", min=1, nullable=True
    ),
    "lr_grid": Param("list", "learning rates of the study", item=Param("float", "a learning rate", above=0)),
    "batch_size_grid": Param("list", "batch sizes of the study", item=_POSITIVE),
    "epochs_grid": Param("list", "epoch counts of the study", item=_POSITIVE),
    "improved_epochs": Param("int", "epochs of notebook 01's improved SimpleCNN (None: epochs)", min=1, nullable=True),
    "improved_train_size": Param(
        "int", "training images of notebook 01's improved SimpleCNN (None: train_size)", min=1, nullable=True
    ),
    # --- explanations (notebook 10)
    "methods": Param(
        "list",
        "attribution methods",
        item=Param("choice", "an attribution method", choices=attribution.METHODS),
    ),
    "n_images": Param("int", "images to explain", min=1),
    "simplecnn_variant": Param(
        "choice",
        "notebook 02's SimpleCNN variant to explain (best: all three, the best by validation accuracy)",
        choices=lambda: (*recipes.SIMPLECNN_VARIANTS, "best"),
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
            item=Param("choice", "a recipe", choices=recipes.METHODS),
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

#: The models a notebook trains whatever its parameters say (besides the values of its ``model``-kind parameters:
#: ``model``, ``models``, ``deep_model``). Its image sizes (``model_min`` parameters) must be at least the smallest
#: input of each, and :mod:`dive.report.preflight` checks their ImageNet weights when ``pretrained`` is True.
NOTEBOOK_MODELS: dict[str, tuple[str, ...]] = {
    "03_resnet18_baseline": ("resnet18",),
    "04_alexnet_balancing": ("alexnet",),
    "05_alexnet_augmentation": ("alexnet",),
    "06_alexnet_batchnorm": ("alexnet",),
    "07_resnet_tuning": ("resnet18",),
    "08_xception": ("xception",),
    "09_medmnist_benchmark": ("resnet18",),  # report_image_size: the report recipe's ResNet-18
    "10_explanations": ("resnet18",),  # notebook 07's ResNet18, explained
    "11_search": ("resnet18",),
}

#: The data sets a notebook loads whatever its parameters say (besides the ``data_flag`` it declares, if any).
NOTEBOOK_DATASETS: dict[str, tuple[str, ...]] = {
    "00_datasets": ("mnist",),
    "01_mnist_simplecnn": ("mnist",),
}


def param_spec(notebook: str, name: str) -> Param | None:
    """The :class:`Param` that checks ``name`` in ``notebook`` (its own, else the shared one; None: undeclared)."""
    own = NOTEBOOK_PARAMETERS.get(notebook_stem(notebook), {})
    return own[name] if name in own else PARAMETERS.get(name)


def _names(value: Any) -> list[str]:
    names = value.split(",") if isinstance(value, str) else list(value)
    return [str(n).strip().lower().replace("-", "_") for n in names if str(n).strip()]


def notebook_models(notebook: str, values: Mapping[str, Any]) -> list[str]:
    """The models ``notebook`` trains with the parameter ``values``: :data:`NOTEBOOK_MODELS` and the values of its
    ``model``-kind parameters (``model``, ``models``, ``deep_model``), each once, as :data:`dive.models.MODELS`
    spells them."""
    stem = notebook_stem(notebook)
    names = list(NOTEBOOK_MODELS.get(stem, ()))
    for key, value in values.items():
        spec = param_spec(stem, key)
        if spec is not None and spec.kind == "model" and value is not None:
            names += _names(value)
    return list(dict.fromkeys(names))


def notebook_datasets(notebook: str, values: Mapping[str, Any], declared: Iterable[str]) -> list[str]:
    """The data sets ``notebook`` loads: the ``data_flag`` of ``values`` when the notebook ``declared`` that
    parameter (a notebook that copes with absent files, like 09's ``flags``, declares none), and
    :data:`NOTEBOOK_DATASETS`; each once."""
    stem = notebook_stem(notebook)
    names = [str(values["data_flag"])] if "data_flag" in set(declared) and values.get("data_flag") else []
    names += NOTEBOOK_DATASETS.get(stem, ())
    return list(dict.fromkeys(n.lower() for n in names))

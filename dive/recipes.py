"""The report's recipes: every configuration a notebook trains, as a function of the profile's parameters.

One home per recipe. Notebooks 02-11, ``benchmarks/time_to_target.py`` and the tests call these functions;
nothing restates them, so a change here changes every notebook that trains the recipe (notebook 10 explains
the very runs of notebooks 02 and 07 because it asks for them here too).

Each function takes the data (a :class:`~dive.data.DatasetBundle`: dataset, split and split seed go into the
config) and the notebook's parameters ``p`` (:class:`dive.profiles.Params` or any mapping), and returns
:class:`~dive.config.RunConfig` objects named as the run store and ``metrics.json`` know them, with the
notes of :func:`dive.experiment.config_for` (ImageNet weights asked for with ``"auto"`` and missing).

* notebook 01: :func:`table5_study`, :func:`simplecnn_v1_relu`, :func:`simplecnn_improved`;
* notebook 02: :data:`SIMPLECNN_VARIANTS`, :func:`simplecnn_settings`, :func:`simplecnn_variants`;
* notebook 03: :func:`resnet18_baseline`;
* notebooks 04-06: :func:`alexnet_balancing`, :func:`alexnet_augmentation`, :func:`alexnet_batchnorm`;
* notebook 07: :func:`table4_settings` (Table 4), :func:`table4`, :func:`resnet_tuning` (the one-at-a-time study,
  the first ResNet18 and the deep ensemble's members);
* notebook 08: :func:`xception`;
* notebook 09: :data:`METHODS`, :class:`Budget` and :func:`benchmark_recipe` (the report's SimpleCNN, MedMNIST
  v2's own ResNet-18 recipe and Table 4 on every MedMNIST 2D data set), :data:`TIME_TO_TARGET_RECIPE`;
* notebook 11: :func:`table4_config` (Table 4 as notebook 09 trains it, the search's baseline).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from dive import data as ddata
from dive import experiment, reference
from dive.batches import report_augment
from dive.config import RunConfig


# ----------------------------------------------------------------------------------------------
# notebook 01: the SimpleCNN on MNIST (Table 5, the activation, the improved network)
# ----------------------------------------------------------------------------------------------
@dataclass
class Table5Study:
    """Notebook 01's study (report 3.3, Table 5): one setting varied at a time around ``defaults``. ``settings``:
    :func:`dive.experiment.one_at_a_time`'s triples; ``longest``: one training per (lr, batch size), as long as
    its longest epochs setting (shorter ones are read at their epoch); ``configs``: those trainings by run name,
    in the order of ``longest``; ``base``: the initial SimpleCNN (v1)."""

    defaults: dict
    grid: dict
    settings: list
    longest: dict
    configs: dict[str, RunConfig]
    base: RunConfig


def table5_study(data, p: Mapping) -> Table5Study:
    """Notebook 01's Table 5 trainings with ``p``'s defaults (lr, batch size, epochs), grids and optimizer."""
    defaults = {"lr": p["lr"], "batch_size": p["batch_size"], "epochs": p["epochs"]}
    grid = {"lr": list(p["lr_grid"]), "batch_size": list(p["batch_size_grid"]), "epochs": list(p["epochs_grid"])}
    settings = experiment.one_at_a_time(defaults, grid)
    every = settings + [("default", None, defaults)]
    longest = experiment.longest_runs([{k: s[k] for k in ("lr", "batch_size", "epochs")} for _, _, s in every])
    base = experiment.config_for(data, "simplecnn_v1", optimizer=p["optimizer"])[0]
    configs = {
        f"v1_lr{lr:g}_bs{bs}_ep{ep}": base.replace(lr=lr, batch_size=bs, epochs=ep) for (lr, bs), ep in longest.items()
    }
    return Table5Study(defaults, grid, settings, longest, configs, base)


def simplecnn_v1_relu(data, p: Mapping) -> dict[str, RunConfig]:
    """Notebook 01's initial SimpleCNN with ReLU instead of LeakyReLU, at ``p``'s defaults."""
    base = experiment.config_for(data, "simplecnn_v1", optimizer=p["optimizer"])[0]
    config = base.replace(activation="relu", lr=p["lr"], batch_size=p["batch_size"], epochs=p["epochs"])
    return {f"v1_relu_lr{p['lr']:g}_bs{p['batch_size']}_ep{p['epochs']}": config}


def simplecnn_improved(data, p: Mapping) -> dict[str, RunConfig]:
    """Notebook 01's improved SimpleCNN (Fig. 6) at ``p``'s defaults, for ``improved_epochs`` epochs when the
    profile sets them (quick: longer than the study's networks, see its ``why``), else ``epochs``."""
    epochs = p.get("improved_epochs") or p["epochs"]
    config = experiment.config_for(
        data, "simplecnn", epochs=epochs, batch_size=p["batch_size"], lr=p["lr"], optimizer=p["optimizer"]
    )[0]
    return {f"v2_lr{p['lr']:g}_bs{p['batch_size']}_ep{epochs}": config}


def larger_training_set(data, full_data, train_size: int | None, p: Mapping):
    """``train_size`` stratified training images of ``full_data`` with the very validation and test images of
    ``data`` (the notebook's subsets ``val_size`` and ``test_size``, drawn again with the same seed), or ``data``
    itself when ``train_size`` is None or what ``data`` has. For a run that needs more images than a notebook's
    study (notebook 01's improved SimpleCNN, notebook 07's final run)."""
    if train_size is None or train_size == len(data.train):
        return data
    return full_data.subsets(train=train_size, val=p.get("val_size"), test=p.get("test_size"), seed=data.seed)


def simplecnn_improved_data(data, full_data, p: Mapping):
    """The images notebook 01's improved SimpleCNN trains on: ``improved_train_size`` training images (quick: more
    than the study's, see its ``why``) with the study's validation images; the study's ``data`` when unset."""
    return larger_training_set(data, full_data, p.get("improved_train_size"), p)


# ----------------------------------------------------------------------------------------------
# notebook 02: the SimpleCNN variants
# ----------------------------------------------------------------------------------------------
#: Notebook 02's three SimpleCNN variants, in its order: key (notebook 10's ``simplecnn_variant``) ->
#: (the label of its tables, the settings that make the variant).
SIMPLECNN_VARIANTS: dict[str, tuple[str, dict]] = {
    "bn_dropout": ("BN + dropout", {"batch_norm": True, "dropout": True}),
    "dropout": ("dropout only", {"batch_norm": False, "dropout": True}),
    "bn": ("BN only", {"batch_norm": True, "dropout": False}),
}
#: The report's best variant (4.1): batch normalisation without dropout.
SIMPLECNN_BEST = reference.PATHMNIST_SIMPLECNN["best"]


def simplecnn_name(variant: str) -> str:
    """The run name of a SimpleCNN variant (``simplecnn_bn_dropout``, ``simplecnn_dropout``, ``simplecnn_bn``)."""
    check_variant(variant)
    return f"simplecnn_{variant}"


def check_variant(variant: str) -> str:
    if variant not in SIMPLECNN_VARIANTS:
        raise ValueError(f"unknown SimpleCNN variant {variant!r}; valid: {', '.join(SIMPLECNN_VARIANTS)}")
    return variant


def simplecnn_settings(p: Mapping, variant: str = SIMPLECNN_BEST) -> dict:
    """Notebook 02's settings of one variant: ``p``'s epochs, patience, batch size, lr and optimizer."""
    keys = ("epochs", "patience", "batch_size", "lr", "optimizer")
    return {**{k: p[k] for k in keys}, **SIMPLECNN_VARIANTS[check_variant(variant)][1]}


def simplecnn_variants(data, p: Mapping, variants=None) -> dict[str, RunConfig]:
    """Notebook 02's runs: ``{run name: config}`` of ``variants`` (default: all three, in notebook 02's order)."""
    keys = list(SIMPLECNN_VARIANTS) if variants is None else [check_variant(v) for v in variants]
    return {simplecnn_name(k): experiment.config_for(data, "simplecnn", **simplecnn_settings(p, k))[0] for k in keys}


# ----------------------------------------------------------------------------------------------
# notebook 03: the first ResNet18
# ----------------------------------------------------------------------------------------------
def _net(data, model: str, p: Mapping, **settings) -> tuple[RunConfig, str | None]:
    """``model`` with ``p``'s optimizer, lr, batch size, image size and weights, and ``settings``."""
    return experiment.config_for(
        data,
        model,
        optimizer=p["optimizer"],
        lr=p["lr"],
        batch_size=p["batch_size"],
        image_size=p.get("image_size"),
        pretrained=p["pretrained"],
        **settings,
    )


def baseline_model(p: Mapping) -> str:
    """Notebook 03's network: ``p``'s ``model``, the report's torchvision ResNet18 when unset."""
    return p.get("model") or "resnet18"


def resnet18_baseline(data, p: Mapping) -> tuple[RunConfig, str | None]:
    """Notebook 03's pretrained ResNet18 (report 3.4): :func:`baseline_model` with ``p``'s optimizer, lr, batch
    size, learning-rate ``scheduler`` (the report's constant rate when unset or ``"none"``), at most ``max_epochs``
    with early stopping after ``patience`` epochs (None: every epoch runs, as in MedMNIST v2's recipe), and the
    epoch of the best ``monitor`` (the report's validation accuracy when unset) restored at the end, with or
    without early stopping."""
    monitor = {"monitor": p["monitor"]} if p.get("monitor") else {}
    return _net(
        data,
        baseline_model(p),
        p,
        epochs=p["max_epochs"],
        patience=p.get("patience"),
        scheduler=p.get("scheduler"),
        restore_best=True,
        **monitor,
    )


# ----------------------------------------------------------------------------------------------
# notebooks 04-06: the AlexNet studies
# ----------------------------------------------------------------------------------------------
def _stopping(p: Mapping, early_stopping: bool) -> dict:
    """Fixed ``p.epochs``, or early stopping (``p.patience``) within ``p.max_epochs``."""
    return {
        "epochs": p["max_epochs"] if early_stopping else p["epochs"],
        "patience": p["patience"] if early_stopping else None,
    }


def _alexnet(data, p: Mapping, **settings) -> tuple[RunConfig, str | None]:
    """AlexNet with ``p``'s optimizer, lr, batch size, image size, weights and learning-rate ``scheduler`` (none in
    the report; the quick profile's BreastMNIST section says why it sets one), and ``settings``."""
    return _net(data, "alexnet", p, scheduler=p.get("scheduler"), **settings)


def alexnet_balancing_names() -> dict[tuple[bool, bool], str]:
    """Notebook 04's runs, ``{(balanced, early_stopping): name}`` in Table 1's order (the names the "Claims and
    evidence" page reads)."""
    return {
        (balanced, es): f"alexnet_{'balanced' if balanced else 'unbalanced'}_{'early_stopping' if es else 'fixed'}"
        for es in (False, True)
        for balanced in (False, True)
    }


def alexnet_balancing(data, p: Mapping) -> tuple[dict[str, RunConfig], str | None]:
    """Notebook 04 (Table 1): AlexNet without and with class balancing, fixed epochs and early stopping."""
    base, note = _alexnet(data, p)
    names = alexnet_balancing_names()
    return {name: base.replace(balanced=b, **_stopping(p, es)) for (b, es), name in names.items()}, note


def alexnet_augmentation_names() -> dict[tuple[bool, bool], str]:
    """Notebook 05's runs, ``{(augmented, early_stopping): name}`` in Table 2's order."""
    return {
        (aug, es): f"alexnet_{'augmented' if aug else 'plain'}_{'early_stopping' if es else 'fixed'}"
        for es in (False, True)
        for aug in (False, True)
    }


def alexnet_augmentation(data, p: Mapping, augment=None) -> tuple[dict[str, RunConfig], str | None]:
    """Notebook 05 (Table 2): balanced AlexNet without and with the report's augmentation (``augment``, default
    :func:`dive.batches.report_augment`), fixed epochs and early stopping."""
    augment = report_augment() if augment is None else augment
    base, note = _alexnet(data, p, balanced=True)
    names = alexnet_augmentation_names()
    return {
        name: base.replace(augment=augment if aug else False, **_stopping(p, es)) for (aug, es), name in names.items()
    }, note


def alexnet_batchnorm(data, p: Mapping) -> tuple[dict[str, RunConfig], str | None]:
    """Notebook 06 (Table 3): balanced, augmented AlexNet with early stopping, without and with batch norm."""
    base, note = _alexnet(data, p, balanced=True, augment=True, epochs=p["max_epochs"], patience=p["patience"])
    return {
        "alexnet_model1_plain": base.replace(batch_norm=False),
        "alexnet_model2_batchnorm": base.replace(batch_norm=True),
    }, note


# ----------------------------------------------------------------------------------------------
# notebook 07: Table 4, the one-at-a-time study and the deep ensemble
# ----------------------------------------------------------------------------------------------
#: The four optimizers the report compared (3.3), in the order notebook 07 runs them.
OPTIMIZERS = tuple(sorted(reference.OPTIMIZER_AVG_LOSS))


def table4_settings(p: Mapping, *, balanced: bool = True) -> dict:
    """Table 4's recipe with ``p``'s values: lr, batch size, optimizer, scheduler, normalisation, at most
    ``max_epochs`` with early stopping (``patience``), class balancing and the report's augmentation."""
    return dict(
        lr=p["lr"],
        batch_size=p["batch_size"],
        epochs=p["max_epochs"],
        patience=p["patience"],
        balanced=balanced,
        augment=True,
        image_size=p.get("image_size"),
        pretrained=p["pretrained"],
        optimizer=p["optimizer"],
        scheduler=p["scheduler"],
        normalize=p["normalize"],
    )


def table4(data, p: Mapping, model: str = "resnet18") -> tuple[RunConfig, str | None]:
    """Notebook 07's tuned network (``resnet18_optimised``; with ``model``, the deep model's members)."""
    return experiment.config_for(data, model, **table4_settings(p))


def table4_alternatives(p: Mapping) -> dict[str, list]:
    """What notebook 07 varies one at a time around Table 4: the other optimizers, the scheduler on/off, the
    other normalisation."""
    return {
        "optimizer": [o for o in OPTIMIZERS if o != p["optimizer"]],
        "scheduler": ["none" if p["scheduler"] not in (None, "none") else "plateau"],
        "normalize": ["imagenet" if p["normalize"] == "dataset" else "dataset"],
    }


def resnet18_first(data, p: Mapping) -> RunConfig:
    """Notebook 07's untuned ResNet18 (Fig. 12): the report's first optimizer and lr, ``first_max_epochs`` and
    ``first_patience``."""
    first = {**p, "optimizer": reference.RESNET18_FIRST["optimizer"], "lr": reference.RESNET18_FIRST["lr"]}
    return _net(data, "resnet18", first, epochs=p["first_max_epochs"], patience=p["first_patience"])[0]


@dataclass
class ResnetTuning:
    """Notebook 07's runs. ``configs``: the tuned ResNet18, each one-at-a-time variant
    (``resnet18_<parameter>_<value>``), the first ResNet18 and the deep model's first ensemble member, run with
    the notebook's seeds; ``member2``: the second member, run with other seeds (:func:`member2_seeds`)."""

    configs: dict[str, RunConfig]
    member1: str
    member2: str
    deep: RunConfig
    alternatives: dict[str, list]
    plan: list[tuple[str, object, dict]]
    notes: list[str] = field(default_factory=list)
    #: The final run of the tuned recipe, ``{name: config}``: ``resnet18_final`` (at most ``final_max_epochs``,
    #: patience ``final_patience``, split ``final_split``) to train on :func:`final_training_data` when
    #: ``final_train_size`` or a ``final_split`` other than the study's is set, else the study's own tuned run.
    final: dict[str, RunConfig] = field(default_factory=dict)

    @property
    def optimizer_runs(self) -> dict[str, str]:
        """``{optimizer: run name}``: the tuned run's optimizer first."""
        tuned = self.configs["resnet18_optimised"].optimizer
        return {tuned: "resnet18_optimised", **{v: f"resnet18_optimizer_{v}" for v in self.alternatives["optimizer"]}}

    def pair(self, parameter: str) -> list[str]:
        """The tuned run and its variants in ``parameter`` (scheduler, normalize)."""
        return ["resnet18_optimised", *(f"resnet18_{parameter}_{v}" for v in self.alternatives[parameter])]


def resnet_tuning(data, p: Mapping) -> ResnetTuning:
    """Every configuration of notebook 07 (see :class:`ResnetTuning`)."""
    final = dict(optimizer=p["optimizer"], scheduler=p["scheduler"], normalize=p["normalize"])
    alternatives = table4_alternatives(p)
    plan = experiment.one_at_a_time(final, alternatives)
    tuned, note = table4(data, p)
    deep, deep_note = table4(data, p, p["deep_model"])
    member1, member2 = f"{p['deep_model']}_member1", f"{p['deep_model']}_member2"
    configs = {
        "resnet18_optimised": tuned,
        **{f"resnet18_{parameter}_{value}": tuned.replace(**settings) for parameter, value, settings in plan},
        "resnet18_first": resnet18_first(data, p),
        member1: deep,
    }
    notes = [n for n in dict.fromkeys([note, deep_note]) if n]
    split = _final_split(data, p)
    if p.get("final_train_size") is None and split is None:
        final_run = {"resnet18_optimised": tuned}
    else:
        final = tuned.replace(
            epochs=p.get("final_max_epochs") or p["max_epochs"], patience=p.get("final_patience") or p["patience"]
        )
        final_run = {"resnet18_final": final.replace(split=split) if split else final}
    return ResnetTuning(configs, member1, member2, deep, alternatives, plan, notes, final_run)


def _final_split(data, p: Mapping) -> str | None:
    """``final_split`` where it differs from the split of the study's ``data``, else None."""
    split = p.get("final_split")
    return split if split is not None and split != data.split else None


def final_training_data(data, full_data, p: Mapping):
    """The images of notebook 07's final run: ``final_train_size`` training images (quick: all the tuning study's
    subset left out) with the study's validation and test images; the study's ``data`` when both
    ``final_train_size`` and ``final_split`` are unset.

    ``final_split`` other than the study's (quick: ``official``, the protocol of MedMNIST v2's published values:
    the data set's own training and validation images, not the report's 80/20 split of its training images): the
    data set loaded again with that split, and ``final_train_size`` (unset: ``train_size``) training images,
    ``val_size`` validation images and ``test_size`` test images of it, drawn with the study's seed (the official
    test split is the same in both, so are its images)."""
    split = _final_split(data, p)
    if split is None:
        return larger_training_set(data, full_data, p.get("final_train_size"), p)
    other = ddata.load(data.name, data.root, size=data.size, split=split, seed=data.seed)
    train = p.get("final_train_size") or p.get("train_size")
    return other.subsets(train=train, val=p.get("val_size"), test=p.get("test_size"), seed=data.seed)


def member2_seeds(seeds) -> list[int]:
    """The second ensemble member's seeds: as many as member 1's, after them (so the members differ)."""
    return [max(seeds) + 1 + i for i in range(len(seeds))]


# ----------------------------------------------------------------------------------------------
# notebook 08: Xception
# ----------------------------------------------------------------------------------------------
def xception(data, p: Mapping) -> tuple[RunConfig, str | None]:
    """Notebook 08's Xception: ``p``'s optimizer, lr, batch size, epochs, patience, image size, balancing,
    augmentation and weights."""
    keys = ("optimizer", "lr", "batch_size", "patience", "image_size", "balanced", "augment", "pretrained")
    return experiment.config_for(data, "xception", epochs=p["max_epochs"], **{k: p[k] for k in keys})


# ----------------------------------------------------------------------------------------------
# notebook 09: the three recipes on every MedMNIST 2D data set
# ----------------------------------------------------------------------------------------------
#: Arithmetic of every benchmark run: fp32 throughout, as the published baselines were trained (bf16 autocast
#: is slower than fp32 on CPUs without AMX; see benchmarks/results.md).
PRECISION = "fp32"


@dataclass(frozen=True)
class Method:
    key: str
    label: str
    model: str
    about: str


METHODS: dict[str, Method] = {
    m.key: m
    for m in (
        Method(
            "simplecnn_report",
            "SimpleCNN (report)",
            "simplecnn",
            "the report's improved SimpleCNN as notebook 02 kept it (batch normalisation, no dropout): Adam lr 0.001, "
            "batch 32, at most 30 epochs, early stopping on validation accuracy (patience 5), the data set's own "
            "normalisation, 28 px",
        ),
        Method(
            "resnet18_medmnist",
            "ResNet-18 (28), MedMNIST recipe",
            "resnet18_28",
            "MedMNIST v2's ResNet-18 for 28 px images (3x3 stride-1 first convolution, no max-pool) with MedMNIST's "
            "recipe: Adam lr 0.001, batch 128, 100 epochs, learning rate x0.1 at epochs 50 and 75, no augmentation, "
            "the weights of the epoch with the best validation AUC kept; normalised with the training split's mean "
            "and std where MedMNIST uses 0.5/0.5 (the batch normalisation after the first convolution removes the "
            "difference but for the zero-padded border and per-colour weight scales)",
        ),
        Method(
            "resnet18_report",
            "ResNet-18, report recipe",
            "resnet18",
            "torchvision's ResNet-18 with the report's final recipe (Table 4): Adagrad lr 0.0005, batch 64, class "
            "balancing, the report's augmentations, adaptive learning rate (plateau), early stopping on validation "
            "accuracy with patience 20 within 200 epochs, the data set's own normalisation, 224 px",
        ),
    )
}


def check_methods(methods) -> list[str]:
    """``None`` -> all three recipes; a list or a comma-separated string -> those (unknown names list the
    valid ones)."""
    if methods is None:
        return list(METHODS)
    names = [s.strip() for s in methods.split(",")] if isinstance(methods, str) else [str(m).strip() for m in methods]
    names = [n for n in names if n]
    bad = [n for n in names if n not in METHODS]
    if bad or not names:
        shown = ", ".join(map(repr, bad)) or "(none given)"
        raise ValueError(f"unknown method(s) {shown}; valid: {', '.join(METHODS)}")
    return list(dict.fromkeys(names))


@dataclass(frozen=True)
class Budget:
    """What a profile may shrink. ``None`` sizes mean all images; the defaults are the recipes' own."""

    train_size: int | None = None
    val_size: int | None = None
    simplecnn_epochs: int = reference.PATHMNIST_SIMPLECNN["epochs"]
    simplecnn_patience: int = 5
    medmnist_epochs: int = reference.MEDMNIST_V2_RECIPE["epochs"]
    report_max_epochs: int = reference.FINAL_HYPERPARAMETERS["max_epochs"]
    report_patience: int = reference.FINAL_HYPERPARAMETERS["patience"]
    report_image_size: int | None = None  # None: 224 (the report's Resize 256 + CenterCrop 224)
    pretrained: Any = False  # the report's ResNet-18 started from ImageNet weights (full profile: True)

    @classmethod
    def from_params(cls, p: Mapping) -> Budget:
        """The fields that ``p`` (a profile's parameters) sets; the others keep their defaults."""
        return cls(**{k: p[k] for k in cls.__dataclass_fields__ if p.get(k) is not None})

    def is_full(self) -> bool:
        """True when nothing is shrunk (the published recipes' own budgets)."""
        return replace(self, pretrained=False) == Budget()

    def departures(self) -> list[str]:
        """``"<field> <value> (recipe: <value>)"`` for every field that differs from the recipes' own."""
        full = Budget()
        none_means = {"train_size": "all", "val_size": "all", "report_image_size": 224}

        def show(k, v):
            return none_means.get(k, v) if v is None else v

        return [
            f"{k} {show(k, getattr(self, k))} (recipe: {show(k, getattr(full, k))})"
            for k in self.__dataclass_fields__
            if k != "pretrained" and getattr(self, k) != getattr(full, k)
        ]


def medmnist_milestones(epochs: int) -> list[int]:
    """MedMNIST's milestones at half and three quarters of the epochs (50 and 75 of 100)."""
    return sorted({max(1, int(0.5 * epochs)), max(1, int(0.75 * epochs))})


def _medmnist_settings(b: Budget) -> dict:
    r = reference.MEDMNIST_V2_RECIPE
    return {
        "optimizer": r["optimizer"],
        "lr": r["lr"],
        "batch_size": r["batch_size"],
        "epochs": b.medmnist_epochs,
        "scheduler": "multistep",
        "scheduler_kwargs": {"milestones": medmnist_milestones(b.medmnist_epochs), "gamma": r["gamma"]},
        "monitor": "val_auc",
        "patience": None,
        "restore_best": True,
        "image_size": 28,
        "normalize": "dataset",
        "pretrained": False,
    }


#: The report's SimpleCNN settings that notebook 09 trains (the full profile's of notebook 02).
SIMPLECNN_REPORT = {"optimizer": "adam", "lr": 0.001, "batch_size": 32}


def benchmark_recipe(method: str, task: str, budget: Budget | None = None) -> tuple[str, dict, list[str]]:
    """``(model, settings, notes)`` of one of notebook 09's :data:`METHODS` for
    :func:`dive.experiment.config_for`: notebook 02's best SimpleCNN, MedMNIST v2's ResNet-18 recipe, or
    Table 4 (:func:`table4_settings` with the report's values), each under ``budget``, in fp32.

    ``notes`` say where the recipe cannot apply as written (class balancing needs one class per image,
    so multi-label ChestMNIST is trained without it).
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; valid: {', '.join(METHODS)}")
    b = budget or Budget()
    notes: list[str] = []
    if method == "simplecnn_report":
        p = {**SIMPLECNN_REPORT, "epochs": b.simplecnn_epochs, "patience": b.simplecnn_patience}
        settings = {**simplecnn_settings(p, SIMPLECNN_BEST), "normalize": "dataset", "image_size": 28}
    elif method == "resnet18_medmnist":
        settings = _medmnist_settings(b)
    else:
        balanced = task != "multi-label, binary-class"
        if not balanced:
            notes.append(
                "report recipe on a multi-label dataset: class balancing needs one class per image, "
                "so this run draws the images uniformly"
            )
        f = reference.FINAL_HYPERPARAMETERS
        p = {k: f[k] for k in ("optimizer", "lr", "batch_size", "scheduler", "normalize")}
        p.update(max_epochs=b.report_max_epochs, patience=b.report_patience)
        p.update(image_size=b.report_image_size, pretrained=b.pretrained)
        settings = table4_settings(p, balanced=balanced)
    sizes = {"train_size": b.train_size, "val_size": b.val_size}
    return METHODS[method].model, {**settings, **sizes, "precision": PRECISION}, notes


def table4_config(data, budget: Budget | None = None, **settings) -> tuple[RunConfig, list[str]]:
    """Table 4's recipe for ``data`` as notebook 09 trains it (``"resnet18_report"`` under ``budget``), with
    ``settings`` added; ``(config, notes)``. Notebook 11's baseline."""
    model, recipe, notes = benchmark_recipe("resnet18_report", data.task, budget)
    config, note = experiment.config_for(data, model, **{**recipe, **settings})
    return config, notes + ([note] if note else [])


#: The dive recipe of ``make bench`` case (h), time to the published accuracy (issue 28): chosen for speed on a
#: small CPU. The report's improved SimpleCNN (batch normalisation, no dropout) at 28 px in fp32, Adam lr 0.001,
#: batch 64, the data set's own normalisation, validation AUC monitored, early stopping with patience 5 within
#: 30 epochs and the best-val-AUC weights restored (its own stopping rule, which never looks at test).
TIME_TO_TARGET_RECIPE = {
    "model": "simplecnn",
    "batch_norm": True,
    "dropout": False,
    "optimizer": "adam",
    "lr": 0.001,
    "batch_size": 64,
    "epochs": 30,
    "patience": 5,
    "monitor": "val_auc",
    "restore_best": True,
    "normalize": "dataset",
    "image_size": 28,
    "precision": PRECISION,
}


def time_to_target_recipe() -> tuple[str, dict]:
    """``(model, settings)`` of :data:`TIME_TO_TARGET_RECIPE` for :func:`dive.experiment.config_for`."""
    settings = dict(TIME_TO_TARGET_RECIPE)
    return settings.pop("model"), settings

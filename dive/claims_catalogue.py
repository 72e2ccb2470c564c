"""The original report's claims as data: what each claim compares and what the report measured.

:data:`CLAIMS` lists each finding of the report as a :class:`Claim`: its notebook, the groups it compares (the
names in :data:`GROUPS`, as the notebooks record them in ``metrics.json``), the metric and the report's own
single-run numbers (read from :mod:`dive.reference`). What this run's seeds say about each claim is
:mod:`dive.claims`' part (:func:`dive.claims.claims_table`), which also re-exports these names.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase

from dive import reference as R
from dive import stats

__all__ = ["CLAIMS", "GROUPS", "LABELS", "NO_DIFFERENCE", "Claim", "label", "originals", "table5_group"]

#: ``Claim.expected`` of a claim that two or more configurations do *not* differ.
NO_DIFFERENCE = "no difference"


def table5_group(study: str, value: float) -> str:
    """Notebook 01's group for one Table 5 row: ``table5_learning_rate_0.001``, ``table5_batch_size_16``."""
    return f"table5_{study}_{value:g}"


#: Group names per notebook, as the notebooks record them (see the module docstring).
GROUPS: dict[str, dict[str, str]] = {
    "01_mnist_simplecnn": {
        **{f"lr_{v:g}": table5_group("learning_rate", v) for v in (0.001, 0.01, 0.1)},
        **{f"batch_size_{v}": table5_group("batch_size", v) for v in (16, 32, 64)},
        "leaky_relu": "activation_leaky_relu",
        "relu": "activation_relu",
    },
    "02_pathmnist_simplecnn": {
        "bn": "simplecnn_bn",
        "bn_dropout": "simplecnn_bn_dropout",
        "dropout": "simplecnn_dropout",
    },
    "04_alexnet_balancing": {
        f"{b}_{s}": f"alexnet_{b}_{s}" for b in ("balanced", "unbalanced") for s in ("fixed", "early_stopping")
    },
    "05_alexnet_augmentation": {
        f"{a}_{s}": f"alexnet_{a}_{s}" for a in ("augmented", "plain") for s in ("fixed", "early_stopping")
    },
    # today's runs alexnet_model{1,2,3}_{plain,batchnorm}_seed{s}, without the seed; model 3 is model 2's
    # configuration with the next seed, which the seeds now cover
    "06_alexnet_batchnorm": {"plain": "alexnet_model1_plain", "batchnorm": "alexnet_model2_batchnorm"},
    "07_resnet_tuning": {
        "adagrad": "resnet18_optimised",  # the tuned run (Table 4: Adagrad); the others vary one setting
        "adam": "resnet18_optimizer_adam",
        "nadam": "resnet18_optimizer_nadam",
        "sgd": "resnet18_optimizer_sgd",
        "ensemble": "ensemble_*_x2",  # ensemble_<deep model>_x2
        "member1": "*_member1",  # <deep model>_member1 (today's name without _seed<s>)
        "member2": "*_member2",
    },
}


#: Each group's name in words, for readers (the report's "What holds up", Claims table and forest figure); keyed
#: like ``GROUPS``' values (a ``*`` pattern stands for the group it matches). :func:`label` looks names up here.
LABELS: dict[str, str] = {
    **{table5_group("learning_rate", v): f"learning rate {v:g}" for v in (0.001, 0.01, 0.1)},
    **{table5_group("batch_size", v): f"batch size {v}" for v in (16, 32, 64)},
    "activation_leaky_relu": "LeakyReLU",
    "activation_relu": "ReLU",
    "simplecnn_bn": "batch norm",
    "simplecnn_bn_dropout": "batch norm + dropout",
    "simplecnn_dropout": "dropout",
    **{
        f"alexnet_{b}_{s}": f"{b}, {'fixed epochs' if s == 'fixed' else 'early stopping'}"
        for b in ("balanced", "unbalanced")
        for s in ("fixed", "early_stopping")
    },
    **{
        f"alexnet_{a}_{s}": f"{'augmented' if a == 'augmented' else 'not augmented'}, "
        f"{'fixed epochs' if s == 'fixed' else 'early stopping'}"
        for a in ("augmented", "plain")
        for s in ("fixed", "early_stopping")
    },
    "alexnet_model1_plain": "without batch norm",
    "alexnet_model2_batchnorm": "with batch norm",
    "resnet18_optimised": "Adagrad (tuned)",
    "resnet18_optimizer_adam": "Adam",
    "resnet18_optimizer_nadam": "NAdam",
    "resnet18_optimizer_sgd": "SGD",
    "ensemble_*_x2": "ensemble of two",
    "*_member1": "member 1",
    "*_member2": "member 2",
    "search_best": "best recipe of the search",
    "table4_recipe": "Table 4's recipe",
}


def label(group: str) -> str:
    """``group`` (a name or a ``GROUPS`` pattern) in words (:data:`LABELS`); the name itself when unknown."""
    if group in LABELS:
        return LABELS[group]
    return next((v for k, v in LABELS.items() if "*" in k and fnmatchcase(group, k)), group)


@dataclass(frozen=True)
class Claim:
    """One finding of the original report. ``groups[0]`` is A, the configuration the report found better
    (``expected="A better"``) or that it found no different from the rest (``expected="no difference"``, tested
    for equivalence within ``margin``)."""

    id: str
    notebook: str
    text: str
    source: str
    groups: tuple[str, ...]
    metric: str
    original: tuple[float | None, ...]
    expected: str = stats.A_BETTER
    higher_is_better: bool = True
    dataset: str = "medmnist"  # the key of its equivalence margin in dive.reference.EQUIVALENCE_MARGINS

    def __post_init__(self):
        if len(self.groups) < 2 or len(self.original) != len(self.groups):
            raise ValueError(f"claim {self.id!r}: need >= 2 groups and one original value (or None) per group")
        if self.expected not in (stats.A_BETTER, NO_DIFFERENCE):
            raise ValueError(f"claim {self.id!r}: expected must be {stats.A_BETTER!r} or {NO_DIFFERENCE!r}")
        if self.dataset not in R.EQUIVALENCE_MARGINS:
            raise ValueError(f"claim {self.id!r}: no equivalence margin for {self.dataset!r}")
        if self.expected == NO_DIFFERENCE and "loss" in self.metric:
            raise ValueError(f"claim {self.id!r}: a claim of no difference needs a metric with a margin, not a loss")

    @property
    def margin(self) -> float | None:
        """The equivalence margin of an accuracy claim (``None`` for a loss)."""
        return None if "loss" in self.metric else R.EQUIVALENCE_MARGINS[self.dataset]


def _g(notebook: str, *keys: str) -> tuple[str, ...]:
    return tuple(GROUPS[notebook][k] for k in keys)


def _t1(balancing: bool, early_stopping: bool) -> float:
    t = R.TABLE1_BALANCING
    return float(t.loc[(t["balancing"] == balancing) & (t["early_stopping"] == early_stopping), "val_acc"].iloc[0])


def _t2(augmentation: bool, early_stopping: bool) -> float:
    t = R.TABLE2_AUGMENTATION
    return float(
        t.loc[(t["augmentation"] == augmentation) & (t["early_stopping"] == early_stopping), "val_acc"].iloc[0]
    )


def _t5(study: str, value: float) -> float:
    t = R.TABLE5_MNIST
    return float(t.loc[(t["study"] == study) & (t["value"] == value), "val_acc"].iloc[0])


_BN = R.TABLE3_BATCHNORM.set_index("model")["val_acc"]
_OPT = R.OPTIMIZER_AVG_LOSS

CLAIMS: tuple[Claim, ...] = (
    Claim(
        "mnist_lr",
        "01_mnist_simplecnn",
        "Learning rate 0.001 is the best of 0.001 / 0.01 / 0.1 (SimpleCNN, MNIST)",
        "Table 5, section 3.3",
        _g("01_mnist_simplecnn", "lr_0.001", "lr_0.01", "lr_0.1"),
        "val_accuracy",
        tuple(_t5("learning_rate", v) for v in (0.001, 0.01, 0.1)),
        dataset="mnist",
    ),
    Claim(
        "mnist_batch_size",
        "01_mnist_simplecnn",
        "Batch size 16 / 32 / 64 makes no difference (all 98.9 %)",
        "Table 5, section 3.3",
        _g("01_mnist_simplecnn", "batch_size_32", "batch_size_16", "batch_size_64"),
        "val_accuracy",
        tuple(_t5("batch_size", v) for v in (32, 16, 64)),
        expected=NO_DIFFERENCE,
        dataset="mnist",
    ),
    Claim(
        "mnist_activation",
        "01_mnist_simplecnn",
        "ReLU and LeakyReLU perform the same (no numbers given)",
        "section 4.1",
        _g("01_mnist_simplecnn", "leaky_relu", "relu"),
        "val_accuracy",
        (None, None),
        expected=NO_DIFFERENCE,
        dataset="mnist",
    ),
    Claim(
        "pathmnist_simplecnn_bn",
        "02_pathmnist_simplecnn",
        "SimpleCNN with batch norm only beats batch norm + dropout (no numbers given)",
        "Fig. 7, section 4.1",
        _g("02_pathmnist_simplecnn", "bn", "bn_dropout"),
        "val_accuracy",
        (None, None),
    ),
    Claim(
        "balancing_fixed",
        "04_alexnet_balancing",
        "Balancing improves AlexNet (20 fixed epochs: +5.47 points)",
        "Table 1",
        _g("04_alexnet_balancing", "balanced_fixed", "unbalanced_fixed"),
        "val_accuracy",
        (_t1(True, False), _t1(False, False)),
    ),
    Claim(
        "balancing_early_stopping",
        "04_alexnet_balancing",
        "Balancing improves AlexNet (early stopping: +2.24 points)",
        "Table 1",
        _g("04_alexnet_balancing", "balanced_early_stopping", "unbalanced_early_stopping"),
        "val_accuracy",
        (_t1(True, True), _t1(False, True)),
    ),
    Claim(
        "augmentation_fixed",
        "05_alexnet_augmentation",
        "Augmentation lowers AlexNet's accuracy with 20 fixed epochs (-3.63 points)",
        "Table 2",
        _g("05_alexnet_augmentation", "plain_fixed", "augmented_fixed"),
        "val_accuracy",
        (_t2(False, False), _t2(True, False)),
    ),
    Claim(
        "augmentation_early_stopping",
        "05_alexnet_augmentation",
        "Augmentation improves AlexNet with early stopping (+1.7 points)",
        "Table 2",
        _g("05_alexnet_augmentation", "augmented_early_stopping", "plain_early_stopping"),
        "val_accuracy",
        (_t2(True, True), _t2(False, True)),
    ),
    Claim(
        "batchnorm",
        "06_alexnet_batchnorm",
        "Batch norm does not change AlexNet's accuracy meaningfully (model 2: +0.21, model 3: -0.87 points)",
        "Table 3, section 3.4.3",
        _g("06_alexnet_batchnorm", "batchnorm", "plain"),
        "val_accuracy",
        (float(_BN[2]), float(_BN[1])),
        expected=NO_DIFFERENCE,
    ),
    Claim(
        "optimizer",
        "07_resnet_tuning",
        "Adagrad has the lowest loss (SGD 0.08, NAdam/Adam 0.06, Adagrad 0.035)",
        "section 3.5",
        _g("07_resnet_tuning", "adagrad", "adam", "nadam", "sgd"),
        "val_loss",
        (_OPT["adagrad"], _OPT["adam"], _OPT["nadam"], _OPT["sgd"]),
        higher_is_better=False,
    ),
    Claim(
        "ensemble",
        "07_resnet_tuning",
        "The ensemble of two deep ResNets beats its members (course Kaggle test set)",
        "section 3.5",
        _g("07_resnet_tuning", "ensemble", "member1", "member2"),
        "test_accuracy",
        (R.ENSEMBLE["acc"], R.ENSEMBLE["member_acc"], R.ENSEMBLE["member_acc"]),
    ),
    Claim(  # not the report's claim but this project's question about it (notebook 11, dive.search)
        "search",
        "11_search",
        "A search over Table 4's space finds a recipe at least as good as Adagrad 0.0005",
        "beyond the report; Table 4",
        ("search_best", "table4_recipe"),  # dive.search.BEST, dive.search.TABLE4
        "test_accuracy",
        (None, None),
    ),
)


def originals(notebook: str, metric: str | None = None) -> dict[str, float]:
    """``{group: the report's value}`` for a notebook's claims (``original=`` of
    :func:`dive.stats.comparison_table`); only groups named exactly (no pattern) and with a number."""
    known = sorted({c.notebook for c in CLAIMS})
    if notebook not in known:
        raise ValueError(f"no claims for notebook {notebook!r}; valid: {', '.join(known)}")
    out: dict[str, float] = {}
    for c in CLAIMS:
        if c.notebook == notebook and (metric is None or c.metric == metric):
            for g, v in zip(c.groups, c.original, strict=True):
                if v is not None and "*" not in g:
                    out.setdefault(g, v)
    return out

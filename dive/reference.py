"""The original report's numbers ("Dive into Deep Learning", Univ. Bamberg, Feb. 2024).

Accuracies are fractions (the report prints percent: 84.16 % -> 0.8416). Tables keep the
report's rows in the report's order; column names are the ones the notebooks use, so that
:func:`side_by_side` can set a regenerated table beside the original one.

Where a number comes from the report's prose rather than a table, the constant says so.
"""

from __future__ import annotations

import pandas as pd

from dive.batches import IMAGENET_MEAN, IMAGENET_STD
from dive.utils import DEFAULT_SEED

# --- Table 1: AlexNet, unbalanced vs balanced (WeightedRandomSampler, weight 1/class count) --
TABLE1_BALANCING = pd.DataFrame(
    {
        "val_acc": [0.8416, 0.8963, 0.8894, 0.9118],
        "balancing": [False, True, False, True],
        "epochs": [20, 20, 44, 20],
        "early_stopping": [False, False, True, True],
    }
)
#: Settings shared by the Table 1 runs (section 3.4.1).
TABLE1_SETTINGS = {
    "model": "alexnet",
    "optimizer": "adagrad",
    "lr": 0.01,
    "batch_size": 64,
    "split": 0.8,
    "fixed_epochs": 20,
    "max_epochs": 50,
    "patience": 8,
}

# --- Table 2: AlexNet (balanced), without vs with augmentation -----------------------------
TABLE2_AUGMENTATION = pd.DataFrame(
    {
        "val_acc": [0.8963, 0.8600, 0.9118, 0.9288],
        "augmentation": [False, True, False, True],
        "epochs": [20, 20, 20, 49],
        "early_stopping": [False, False, True, True],
    }
)
#: From the prose under Table 2: the early-stopped run without augmentation ran 28 epochs and
#: its best model was from epoch 20 (the table prints 20); with augmentation all 50 epochs
#: ran and the best model was from epoch 49.
TABLE2_NOTE = {
    "no_augmentation_es": {"epochs_run": 28, "best_epoch": 20},
    "augmentation_es": {"epochs_run": 50, "best_epoch": 49},
}
TABLE2_SETTINGS = dict(TABLE1_SETTINGS, balancing=True)
#: Appendix A.2: each augmentation applied with probability 0.1 (flips, rotation up to 30
#: degrees, colour jitter); inputs resized to 256, centre-cropped to 224, ImageNet-normalised.
AUGMENTATION = {
    "hflip_p": 0.1,
    "vflip_p": 0.1,
    "rotation_degrees": 30,
    "rotation_p": 0.1,
    "color_jitter_p": 0.1,
    "resize": 256,
    "crop": 224,
    "mean": IMAGENET_MEAN,
    "std": IMAGENET_STD,
}

# --- Table 3: AlexNet without / with batch normalisation after every convolution -----------
TABLE3_BEST_EPOCHS = (34, 63, 27)  # prose of section 3.4.3, models 1, 2, 3
TABLE3_BATCHNORM = pd.DataFrame(
    {
        "model": [1, 2, 3],
        "batch_norm": [False, True, True],
        "val_acc": [0.9729, 0.9750, 0.9642],
        "best_epoch": list(TABLE3_BEST_EPOCHS),
    }
)
TABLE3_SETTINGS = {
    "model": "alexnet",
    "optimizer": "adagrad",
    "lr": 0.001,
    "batch_size": 64,
    "split": 0.8,
    "balancing": True,
    "augmentation": True,
    "max_epochs": 150,
    "patience": 8,
}

# --- Table 4: final hyperparameters of the ResNet runs (section 3.5) -----------------------
TABLE4_HYPERPARAMETERS = pd.DataFrame(
    {
        "hyperparameter": ["Learning rate", "Batch size", "Split", "Optimizer", "Max epochs"],
        "value": ["0.0005", "64", "80/20", "Adagrad", "200"],
    }
)
#: Table 4 as parameters, plus what the prose adds (patience 20, an adaptive LR scheduler,
#: balancing and augmentation on, normalisation with the dataset's own mean/std, seed 22).
FINAL_HYPERPARAMETERS = {
    "lr": 0.0005,
    "batch_size": 64,
    "split": 0.8,
    "optimizer": "adagrad",
    "max_epochs": 200,
    "patience": 20,
    "scheduler": "plateau",
    "balancing": True,
    "augmentation": True,
    "normalize": "dataset",
    "seed": DEFAULT_SEED,
}

# --- Table 5 (appendix): SimpleCNN v1 on MNIST, one hyperparameter varied at a time ---------
TABLE5_MNIST = pd.DataFrame(
    {
        "study": ["learning_rate"] * 3 + ["batch_size"] * 3 + ["epochs"] * 4,
        "value": [0.001, 0.01, 0.1, 16, 32, 64, 5, 10, 15, 20],
        "train_acc": [0.996, 0.977, 0.103, 0.997, 0.995, 0.994, 0.994, 0.996, 0.996, 0.997],
        "val_acc": [0.989, 0.972, 0.100, 0.989, 0.989, 0.989, 0.988, 0.990, 0.990, 0.990],
    }
)
#: Defaults held fixed while one value was varied (and found to be the best ones).
MNIST_DEFAULTS = {"batch_size": 32, "lr": 0.001, "epochs": 15}
#: The first, unsatisfying configuration (section 3.3).
MNIST_FIRST_TRY = {"batch_size": 8, "lr": 0.1, "epochs": 5}

#: SimpleCNN v2 on PathMNIST (section 3.3, Figure 7): three variants over 30 epochs with early
#: stopping; batch norm alone did slightly better than batch norm + dropout (no numbers given).
PATHMNIST_SIMPLECNN = {"epochs": 30, "variants": ("bn+dropout", "dropout", "bn"), "best": "bn"}

# --- ResNet ------------------------------------------------------------------------------------
#: Section 3.4: pretrained ResNet18, the confusion-matrix example (Figure 8).
RESNET18_FIRST = {
    "val_acc": 0.9757,
    "optimizer": "sgd",
    "lr": 0.01,
    "batch_size": 64,
    "split": 0.8,
    "patience": 5,
    "stopped_epoch": 41,
    "pretrained": True,
}
#: Section 3.5, Figure 12: the very first ResNet18 attempts, "about 97 %" validation accuracy (approximate).
RESNET18_FIRST_ATTEMPTS = {"val_acc": 0.97, "approximate": True}
#: Section 3.5, Figure 13: ResNet18 with Table 4's hyperparameters.
RESNET18_OPTIMISED = {"val_acc": 0.9910, **{k: FINAL_HYPERPARAMETERS[k] for k in ("lr", "batch_size", "optimizer")}}
#: Figure 14 (the prose calls it training accuracy; the figure is the validation curve).
RESNET152 = {"val_acc": 0.9940}
#: Averaging the outputs of two ResNet152 (same hyperparameters); measured on the course's
#: Kaggle test set, which this project does not have.
ENSEMBLE = {
    "acc": 0.9945,
    "member_acc": 0.9939,
    "members": ("resnet152", "resnet152"),
    "measured_on": "course Kaggle test set",
}
#: Average loss per optimizer in the ResNet18 comparison (lower is better; Adagrad chosen).
OPTIMIZER_AVG_LOSS = {"sgd": 0.08, "nadam": 0.06, "adam": 0.06, "adagrad": 0.035}
#: "a learning rate between 0.001 and 0.0001" before the scheduler; 0.0005 after.
RESNET_LR_RANGE = (0.0001, 0.001)

# --- Equivalence margins (issue 21) ----------------------------------------------------------
#: The largest accuracy difference (a fraction: 0.005 = 0.5 points) that still counts as "no difference"
#: when a claim of *no* difference is tested for equivalence (TOST, :func:`dive.stats.equivalence`),
#: per dataset family. Reasons:
#:
#: * ``mnist`` 0.005: Table 5 prints MNIST accuracies to 0.1 point and calls 98.9 % vs 98.9 % "no
#:   difference", while the smallest gap it treats as a finding there is 1.7 points (learning rate 0.001 vs
#:   0.01). Half a point is below a third of that, and at ~99 % it is half of the remaining error.
#: * ``medmnist`` 0.01: for PathMNIST the report calls +0.21 and -0.87 points "not meaningful" (Table 3,
#:   batch norm) and treats +1.7 points as a finding (Table 2, augmentation with early stopping); one point
#:   separates the two.
#:
#: The same margins serve any "same accuracy" test (e.g. fp32 vs bf16 parity). Source: this project's
#: choice from the report's numbers above (issue 21 suggests 0.5 points on MNIST, 1 point on MedMNIST).
EQUIVALENCE_MARGINS = {"mnist": 0.005, "medmnist": 0.01}


# --- Xception (section 3.6) ------------------------------------------------------------------
XCEPTION = {
    "native_input": 299,
    "input": 168,
    "optimizer": "adamw",
    "gpu": "V100 (Colab)",
    "epoch_minutes": {64: 16, 32: 10},  # batch size -> minutes per epoch on the V100
    "epoch_minutes_range": (10, 16),
    "local_epoch_hours_batch64": 4,
}

# --- Datasets (section 3.1 and 3.2) -----------------------------------------------------------
DATASET_FACTS = {
    "mnist": {"train": 60_000, "test": 10_000, "classes": 10, "size": (1, 28, 28)},
    "pathmnist": {
        "train": 89_996,
        "val": 10_004,
        "test": 7_180,
        "classes": 9,
        "size": (3, 28, 28),
        "source_size": (3, 224, 224),
        "report_split": 0.8,
    },
}

# --- MedMNIST v2's published 2D baselines (not from the report) ------------------------------
#: Source of :data:`MEDMNIST_V2_2D`.
MEDMNIST_V2_CITATION = (
    "Yang, J., Shi, R., Wei, D., Liu, Z., Zhao, L., Ke, B., Pfister, H., Ni, B.: MedMNIST v2 - A large-scale "
    "lightweight benchmark for 2D and 3D biomedical image classification. Scientific Data 10, 41 (2023), "
    "doi:10.1038/s41597-022-01721-8, Table 3 (as listed on the benchmark page of medmnist.com)"
)
#: The seven methods of Table 3, in the paper's order. ResNet-18/50 (28): MedMNIST's ResNets with a 3x3
#: stride-1 stem and no max-pool, trained on the 28 px images; (224): torchvision's ResNets on the images
#: resized to 224 px; the four ResNets were trained with :data:`MEDMNIST_V2_RECIPE`. auto-sklearn, AutoKeras
#: and Google AutoML Vision are AutoML systems run on the same splits. Single runs.
MEDMNIST_V2_METHODS = (
    "ResNet-18 (28)",
    "ResNet-18 (224)",
    "ResNet-50 (28)",
    "ResNet-50 (224)",
    "auto-sklearn",
    "AutoKeras",
    "Google AutoML Vision",
)
#: MedMNIST v2's training recipe for its ResNets (paper, and train_and_eval_pytorch.py of MedMNIST/experiments:
#: inputs scaled to [0, 1] then normalised with mean 0.5 / std 0.5, no augmentation; milestones at 0.5 and 0.75
#: of the epochs).
MEDMNIST_V2_RECIPE = {
    "optimizer": "adam",
    "lr": 0.001,
    "batch_size": 128,
    "epochs": 100,
    "milestones": (50, 75),
    "gamma": 0.1,
    "selection": "best validation AUC",
    "normalize": {"mean": 0.5, "std": 0.5},
    "augmentation": None,
}
_MEDMNIST_V2_VALUES = {  # dataset -> method -> (AUC, ACC) on the official test split
    "pathmnist": {
        "ResNet-18 (28)": (0.983, 0.907),
        "ResNet-18 (224)": (0.989, 0.909),
        "ResNet-50 (28)": (0.990, 0.911),
        "ResNet-50 (224)": (0.989, 0.892),
        "auto-sklearn": (0.934, 0.716),
        "AutoKeras": (0.959, 0.834),
        "Google AutoML Vision": (0.944, 0.728),
    },
    "chestmnist": {
        "ResNet-18 (28)": (0.768, 0.947),
        "ResNet-18 (224)": (0.773, 0.947),
        "ResNet-50 (28)": (0.769, 0.947),
        "ResNet-50 (224)": (0.773, 0.948),
        "auto-sklearn": (0.649, 0.779),
        "AutoKeras": (0.742, 0.937),
        "Google AutoML Vision": (0.778, 0.948),
    },
    "dermamnist": {
        "ResNet-18 (28)": (0.917, 0.735),
        "ResNet-18 (224)": (0.920, 0.754),
        "ResNet-50 (28)": (0.913, 0.735),
        "ResNet-50 (224)": (0.912, 0.731),
        "auto-sklearn": (0.902, 0.719),
        "AutoKeras": (0.915, 0.749),
        "Google AutoML Vision": (0.914, 0.768),
    },
    "octmnist": {
        "ResNet-18 (28)": (0.943, 0.743),
        "ResNet-18 (224)": (0.958, 0.763),
        "ResNet-50 (28)": (0.952, 0.762),
        "ResNet-50 (224)": (0.958, 0.776),
        "auto-sklearn": (0.887, 0.601),
        "AutoKeras": (0.955, 0.763),
        "Google AutoML Vision": (0.963, 0.771),
    },
    "pneumoniamnist": {
        "ResNet-18 (28)": (0.944, 0.854),
        "ResNet-18 (224)": (0.956, 0.864),
        "ResNet-50 (28)": (0.948, 0.854),
        "ResNet-50 (224)": (0.962, 0.884),
        "auto-sklearn": (0.942, 0.855),
        "AutoKeras": (0.947, 0.878),
        "Google AutoML Vision": (0.991, 0.946),
    },
    "retinamnist": {
        "ResNet-18 (28)": (0.717, 0.524),
        "ResNet-18 (224)": (0.710, 0.493),
        "ResNet-50 (28)": (0.726, 0.528),
        "ResNet-50 (224)": (0.716, 0.511),
        "auto-sklearn": (0.690, 0.515),
        "AutoKeras": (0.719, 0.503),
        "Google AutoML Vision": (0.750, 0.531),
    },
    "breastmnist": {
        "ResNet-18 (28)": (0.901, 0.863),
        "ResNet-18 (224)": (0.891, 0.833),
        "ResNet-50 (28)": (0.857, 0.812),
        "ResNet-50 (224)": (0.866, 0.842),
        "auto-sklearn": (0.836, 0.803),
        "AutoKeras": (0.871, 0.831),
        "Google AutoML Vision": (0.919, 0.861),
    },
    "bloodmnist": {
        "ResNet-18 (28)": (0.998, 0.958),
        "ResNet-18 (224)": (0.998, 0.963),
        "ResNet-50 (28)": (0.997, 0.956),
        "ResNet-50 (224)": (0.997, 0.950),
        "auto-sklearn": (0.984, 0.878),
        "AutoKeras": (0.998, 0.961),
        "Google AutoML Vision": (0.998, 0.966),
    },
    "tissuemnist": {
        "ResNet-18 (28)": (0.930, 0.676),
        "ResNet-18 (224)": (0.933, 0.681),
        "ResNet-50 (28)": (0.931, 0.680),
        "ResNet-50 (224)": (0.932, 0.680),
        "auto-sklearn": (0.828, 0.532),
        "AutoKeras": (0.941, 0.703),
        "Google AutoML Vision": (0.924, 0.673),
    },
    "organamnist": {
        "ResNet-18 (28)": (0.997, 0.935),
        "ResNet-18 (224)": (0.998, 0.951),
        "ResNet-50 (28)": (0.997, 0.935),
        "ResNet-50 (224)": (0.998, 0.947),
        "auto-sklearn": (0.963, 0.762),
        "AutoKeras": (0.994, 0.905),
        "Google AutoML Vision": (0.990, 0.886),
    },
    "organcmnist": {
        "ResNet-18 (28)": (0.992, 0.900),
        "ResNet-18 (224)": (0.994, 0.920),
        "ResNet-50 (28)": (0.992, 0.905),
        "ResNet-50 (224)": (0.993, 0.911),
        "auto-sklearn": (0.976, 0.829),
        "AutoKeras": (0.990, 0.879),
        "Google AutoML Vision": (0.988, 0.877),
    },
    "organsmnist": {
        "ResNet-18 (28)": (0.972, 0.782),
        "ResNet-18 (224)": (0.974, 0.778),
        "ResNet-50 (28)": (0.972, 0.770),
        "ResNet-50 (224)": (0.975, 0.785),
        "auto-sklearn": (0.945, 0.672),
        "AutoKeras": (0.974, 0.813),
        "Google AutoML Vision": (0.964, 0.749),
    },
}
#: MedMNIST v2's published test AUC and ACC (fractions, three decimals as published) of the 12 2D
#: datasets x 7 methods; columns ``dataset, method, auc, acc``. See :data:`MEDMNIST_V2_CITATION`.
MEDMNIST_V2_2D = pd.DataFrame(
    [
        {"dataset": d, "method": m, "auc": auc, "acc": acc}
        for d, by_method in _MEDMNIST_V2_VALUES.items()
        for m, (auc, acc) in by_method.items()
    ]
)

SEED = DEFAULT_SEED  # the report's seed (3.5)


def side_by_side(original: pd.DataFrame, this_run: pd.DataFrame, on: list[str], value_cols: list[str]) -> pd.DataFrame:
    """The rows of both tables matched on ``on``, each value column twice.

    Columns: ``on``, then ``"<col> (original)"`` and ``"<col> (this run)"`` for each value
    column. Rows follow the original table; rows only in this run come last (and rows this run
    lacks show NaN).
    """
    on, value_cols = list(on), list(value_cols)
    for label, df in (("original", original), ("this_run", this_run)):
        missing = [c for c in on + value_cols if c not in df.columns]
        if missing:
            raise ValueError(f"side_by_side: {label} lacks columns {missing}; it has {list(df.columns)}")
    left = original[on + value_cols].rename(columns={c: f"{c} (original)" for c in value_cols})
    right = this_run[on + value_cols].rename(columns={c: f"{c} (this run)" for c in value_cols})
    merged = left.merge(right, on=on, how="outer", sort=False, indicator=False)
    # pandas' outer merge keeps left-first order only with sort=False for matching keys; make it explicit
    key = merged[on].apply(tuple, axis=1)
    left_keys = list(left[on].apply(tuple, axis=1))
    order = [left_keys.index(k) if k in left_keys else len(left_keys) + i for i, k in enumerate(key)]
    merged = merged.iloc[sorted(range(len(merged)), key=order.__getitem__)].reset_index(drop=True)
    cols = on + [f"{c} ({w})" for c in value_cols for w in ("original", "this run")]
    return merged[cols]

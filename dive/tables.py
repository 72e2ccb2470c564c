"""The report's hand-built tables, one call each: this run's values set beside the original's.

* :func:`table4_hyperparameters` -- notebook 07's Table 4 (plus the settings the report's text adds);
* :func:`resnet_summary` -- notebook 07's first and tuned ResNet18 and the deep model (Figs. 12-14);
* :func:`ensemble_table` -- notebook 07's two deep models and their softmax average.

The original values come from :mod:`dive.reference`; the runs are :class:`~dive.experiment.RunResult`.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from dive import reference

#: How the report writes the optimizers' names.
OPTIMIZER_NAMES = {"adagrad": "Adagrad", "adam": "Adam", "nadam": "NAdam", "sgd": "SGD", "adamw": "AdamW"}


def table4_hyperparameters(p: Mapping) -> pd.DataFrame:
    """Table 4 and the settings of the report's text (3.5) beside this run's (``p``: notebook 07's
    parameters); column ``source`` says where each original value is written."""
    final = reference.FINAL_HYPERPARAMETERS
    text = {
        "Early-stopping patience": str(final["patience"]),
        "LR scheduler": final["scheduler"],
        "Class balancing": "on",
        "Augmentation": "on",
        "Normalisation": final["normalize"],
        "Seed": str(final["seed"]),
    }
    text_rows = pd.DataFrame({"hyperparameter": list(text), "value": list(text.values()), "source": "text of 3.5"})
    original = pd.concat([reference.TABLE4_HYPERPARAMETERS.assign(source="Table 4"), text_rows], ignore_index=True)
    values = [f"{p['lr']:g}", str(p["batch_size"]), "80/20", OPTIMIZER_NAMES.get(p["optimizer"], p["optimizer"])]
    values += [str(p["max_epochs"]), str(p["patience"]), str(p["scheduler"]), "on", "on", str(p["normalize"])]
    this = pd.DataFrame({"hyperparameter": list(original["hyperparameter"]), "value": [*values, str(p["seed"])]})
    table = reference.side_by_side(original, this, on=["hyperparameter"], value_cols=["value"])
    table["source"] = original["source"]
    return table


def resnet_summary(first, optimised, deep, label: str) -> pd.DataFrame:
    """The first ResNet18 (Fig. 12), the tuned one (Fig. 13) and the deep model (Fig. 14, ``label``: its name
    in this run) beside the original's validation accuracies."""
    runs = [first, optimised, deep]
    return pd.DataFrame(
        {
            "run": ["ResNet18 first (Fig. 12)", "ResNet18 optimised (Fig. 13)", "ResNet152 (Fig. 14)"],
            "model (this run)": ["resnet18", "resnet18", label],
            "val_acc (original)": [
                reference.RESNET18_FIRST_ATTEMPTS["val_acc"],
                reference.RESNET18_OPTIMISED["val_acc"],
                reference.RESNET152["val_acc"],
            ],
            "val_acc (this run)": [r.val["accuracy"] for r in runs],
            "test_acc (this run)": [r.test["accuracy"] for r in runs],
            "best_epoch": [r.fit.best_epoch for r in runs],
            "epochs_run": [r.fit.epochs_run for r in runs],
            "s_per_epoch": [r.fit.seconds_per_epoch for r in runs],
        }
    )


def ensemble_original() -> pd.DataFrame:
    """The report's ensemble: two ResNet152 and their average, on the course's Kaggle test set."""
    e = reference.ENSEMBLE
    return pd.DataFrame(
        {
            "member": ["member 1", "member 2", "ensemble"],
            "test_acc": [e["member_acc"], e["member_acc"], e["acc"]],
            "test set": e["measured_on"],
        }
    )


def ensemble_table(members, ensemble_val: dict, ensemble_test: dict, label: str, test_set: str) -> pd.DataFrame:
    """The two ``members`` (runs of the deep model, ``label``) and their ensemble (its validation and test
    scores) beside the original's; ``test_set`` names this run's test split."""
    m1, m2 = members
    this = pd.DataFrame(
        {
            "member": ["member 1", "member 2", "ensemble"],
            "model": [label, label, f"mean of 2 x {label}"],
            "seed": [m1.seed, m2.seed, f"{m1.seed} + {m2.seed}"],
            "test_acc": [m1.test["accuracy"], m2.test["accuracy"], ensemble_test["accuracy"]],
            "test_auc": [m1.test["auc"], m2.test["auc"], ensemble_test["auc"]],
            "val_acc": [m1.val["accuracy"], m2.val["accuracy"], ensemble_val["accuracy"]],
        }
    )
    table = reference.side_by_side(ensemble_original(), this, on=["member"], value_cols=["test_acc"])
    table = table.merge(this.drop(columns="test_acc"), on="member", how="left")
    table["test set (this run)"] = test_set
    return table

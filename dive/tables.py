"""The report's hand-built tables, one call each: this run's values set beside the original's.

* :func:`table4_hyperparameters` -- notebook 07's Table 4 (plus the settings the report's text adds);
* :func:`resnet_summary` -- notebook 07's first and tuned ResNet18 and the deep model (Figs. 12-14);
* :func:`ensemble_table` -- notebook 07's two deep models and their softmax average;
* :func:`table5` and its companions -- notebook 01's Table 5, the activation and the improved SimpleCNN;
* :func:`split_sizes`, :func:`class_counts`, :func:`imbalance`, :func:`channel_stats` -- notebook 00's;
* the others: Tables 1-3 (notebooks 04-06), the one-at-a-time tables of notebook 07, notebooks 03 and 08's.

The original values come from :mod:`dive.reference`; the runs are :class:`~dive.experiment.RunResult`.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from dive import reference, stats
from dive.batches import IMAGENET_MEAN, IMAGENET_STD
from dive.metrics import majority_rate
from dive.models import count_parameters

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


# ----------------------------------------------------------------------------------------------
# notebooks 04 and 05: Tables 1 and 2 (a factor crossed with the stopping rule)
# ----------------------------------------------------------------------------------------------
RULES = ((False, "fixed"), (True, "early_stopping"))


def crossed_table(runs: Mapping, factor: str, original: pd.DataFrame, value_cols=("val_acc", "epochs")) -> pd.DataFrame:
    """Table 1 or 2: ``runs`` ``{(factor on, early stopping): run}`` beside ``original`` (columns ``factor``,
    ``early_stopping`` and ``value_cols``); ``epochs``: the best epoch of an early-stopped run, else the epochs
    run. The other scores (epochs run, validation F1 and AUC) follow."""
    this = pd.DataFrame(
        [
            {
                factor: on,
                "early_stopping": es,
                "val_acc": r.val["accuracy"],
                "epochs": r.fit.best_epoch if es else r.fit.epochs_run,
                "epochs_run": r.fit.epochs_run,
                "val_f1": r.val["f1"],
                "val_auc": r.val["auc"],
            }
            for (on, es), r in runs.items()
        ]
    )
    keys = [factor, "early_stopping"]
    table = reference.side_by_side(original, this, on=keys, value_cols=list(value_cols))
    rest = [c for c in ("epochs_run", "val_f1", "val_auc") if c not in value_cols]
    return table.merge(this[[*keys, *rest]], on=keys, how="left")


def table2_original() -> pd.DataFrame:
    """Report Table 2 with the epochs each run ran (fixed: 20; early stopping: from the report's note)."""
    note = reference.TABLE2_NOTE
    epochs_run = [20, 20, note["no_augmentation_es"]["epochs_run"], note["augmentation_es"]["epochs_run"]]
    return reference.TABLE2_AUGMENTATION.assign(epochs_run=epochs_run)


def crossed_change(runs: Mapping, factor: str, original: pd.DataFrame, what: str) -> pd.DataFrame:
    """Per stopping rule, the change in validation accuracy (points) when ``factor`` is on, in the original and
    in this run (``what``: the column's words, e.g. "gain from balancing")."""
    orig = original.set_index(["early_stopping", factor])["val_acc"]
    return pd.DataFrame(
        {
            "stopping rule": ["fixed epochs", "early stopping"],
            f"{what} (original, points)": [100 * (orig[(es, True)] - orig[(es, False)]) for es, _ in RULES],
            f"{what} (this run, points)": [
                100 * (runs[(True, es)].val["accuracy"] - runs[(False, es)].val["accuracy"]) for es, _ in RULES
            ],
        }
    ).round(2)


def crossed_seeds(per_seed: pd.DataFrame, names: Mapping, factor: str, original: pd.DataFrame) -> dict:
    """Per stopping rule (``"fixed"``, ``"early_stopping"``), the factor on against off over the seeds
    (:func:`dive.stats.comparison_table` on validation accuracy, the original's single values beside)."""
    orig = {
        names[(on, es)]: v
        for on, es, v in zip(original[factor], original["early_stopping"], original["val_acc"], strict=True)
    }
    tables = {}
    for es, rule in RULES:
        pair = [names[(True, es)], names[(False, es)]]
        frame = per_seed[per_seed["config"].isin(pair)]
        tables[rule] = stats.comparison_table(
            frame, "val_accuracy", reference=pair[1], original={n: orig[n] for n in pair}
        )
    return tables


# ----------------------------------------------------------------------------------------------
# notebooks 03, 06 and 08: one model, or two, beside the report
# ----------------------------------------------------------------------------------------------
def resnet18_first_original() -> pd.DataFrame:
    """The report's first ResNet18 (3.4): one row."""
    first = reference.RESNET18_FIRST
    row = {
        "source": "original report",
        "dataset": "pathmnist",
        "pretrained": True,
        "val_acc": first["val_acc"],
        "epochs_run": first["stopped_epoch"],
    }
    return pd.DataFrame([row])


def resnet18_baseline(res, profile: str, data_flag: str) -> pd.DataFrame:
    """Notebook 03: the report's first ResNet18 (:func:`resnet18_first_original`) above this run's (``res``)."""
    this = {
        "source": f"this run ({profile})",
        "dataset": data_flag,
        "pretrained": res.params["pretrained"],
        "val_acc": res.val["accuracy"],
        "epochs_run": res.fit.epochs_run,
        "best_epoch": res.fit.best_epoch,
        "test_acc": res.test["accuracy"],
        "test_auc": res.test["auc"],
        "s_per_epoch": res.fit.seconds_per_epoch,
    }
    return pd.concat([resnet18_first_original(), pd.DataFrame([this])], ignore_index=True)


def table3_batchnorm(runs: Mapping) -> pd.DataFrame:
    """Notebook 06 (Table 3): ``runs`` ``{model number: run}`` beside the report's, with each model's change
    against model 1 in points."""
    this = pd.DataFrame(
        [
            {
                "model": number,
                "batch_norm": bool(r.config.batch_norm),
                "seed": r.seed,
                "val_acc": r.val["accuracy"],
                "best_epoch": r.fit.best_epoch,
                "epochs_run": r.fit.epochs_run,
                "val_f1": r.val["f1"],
                "val_auc": r.val["auc"],
            }
            for number, r in runs.items()
        ]
    )
    original = reference.TABLE3_BATCHNORM
    table = reference.side_by_side(original, this, on=["model", "batch_norm"], value_cols=["val_acc", "best_epoch"])
    table = table.merge(this[["model", "seed", "epochs_run", "val_f1", "val_auc"]], on="model", how="left")
    for side in ("original", "this run"):
        acc = table[f"val_acc ({side})"]
        table[f"change vs. model 1 ({side}, points)"] = 100 * (acc - acc.iloc[0])
    return table


def xception_results(res, p: Mapping) -> pd.DataFrame:
    """Notebook 08: the Xception run's validation and test scores with its settings."""
    row = {
        "model": "xception",
        "pretrained": res.params["pretrained"],
        "image_size": p["image_size"],
        "batch_size": p["batch_size"],
        "val_acc": res.val["accuracy"],
        "val_auc": res.val["auc"],
        "test_acc": res.test["accuracy"],
        "test_auc": res.test["auc"],
        "best_epoch": res.fit.best_epoch,
        "epochs_run": res.fit.epochs_run,
    }
    return pd.DataFrame([row])


def _report_train_images() -> int:
    facts = reference.DATASET_FACTS["pathmnist"]
    return round(facts["train"] * facts["report_split"])


def xception_original_time() -> pd.DataFrame:
    """The report's epoch times of Xception: its V100 at batch 64 and 32, and its own machines."""
    x = reference.XCEPTION
    rows = [
        ("report, batch 64", x["gpu"], 64, 60 * x["epoch_minutes"][64]),
        ("report, batch 32", x["gpu"], 32, 60 * x["epoch_minutes"][32]),
        ("report, batch 64, own machines", "local PCs", 64, 3600 * x["local_epoch_hours_batch64"]),
    ]
    return pd.DataFrame(
        [
            {
                "setting": setting,
                "device": device,
                "image_size": x["input"],
                "batch_size": batch,
                "train_images": _report_train_images(),
                "s_per_epoch": seconds,
            }
            for setting, device, batch, seconds in rows
        ]
    )


def xception_epoch_time(res, p: Mapping, device: str, train_images: int) -> pd.DataFrame:
    """Seconds per epoch of the report's Xception beside this run's (``res`` on ``device`` with
    ``train_images``), per 1,000 images and scaled to the report's training split."""
    this = {
        "setting": f"this run ({p['profile']})",
        "device": device,
        "image_size": p["image_size"],
        "batch_size": p["batch_size"],
        "train_images": train_images,
        "s_per_epoch": res.fit.seconds_per_epoch,
    }
    table = pd.concat([xception_original_time(), pd.DataFrame([this])], ignore_index=True)
    table["s_per_1000_images"] = 1000 * table["s_per_epoch"] / table["train_images"]
    table["min_per_report_epoch"] = table["s_per_1000_images"] * _report_train_images() / 1000 / 60
    return table


# ----------------------------------------------------------------------------------------------
# notebook 07: the one-at-a-time study, the summary over the seeds and the ensemble over the seeds
# ----------------------------------------------------------------------------------------------
def optimizers_original() -> pd.DataFrame:
    """The report's average loss per optimizer (3.3)."""
    loss = reference.OPTIMIZER_AVG_LOSS
    return pd.DataFrame({"optimizer": list(loss), "avg_loss": list(loss.values())})


def optimizers(by_optimizer: Mapping) -> pd.DataFrame:
    """``{optimizer: run}``: each run's validation loss of the kept model ("average loss"), accuracies and
    epochs, beside the report's average loss."""
    rows = []
    for name, r in by_optimizer.items():
        kept = r.fit.kept_epoch  # the best epoch when its weights were restored, else the last
        rows.append(
            {
                "optimizer": name,
                "avg_loss": r.history[kept - 1]["val_loss"],
                "val_acc": r.val["accuracy"],
                "test_acc": r.test["accuracy"],
                "best_epoch": r.fit.best_epoch,
                "epochs_run": r.fit.epochs_run,
            }
        )
    this = pd.DataFrame(rows)
    table = reference.side_by_side(optimizers_original(), this, on=["optimizer"], value_cols=["avg_loss"])
    return table.merge(this.drop(columns="avg_loss"), on="optimizer", how="left")


def optimizers_seeds(per_seed: pd.DataFrame, optimizer_runs: Mapping) -> pd.DataFrame:
    """The validation loss of the kept model over the seeds, each optimizer against the tuned run's
    (``optimizer_runs``: ``{optimizer: run name}``, the tuned one first)."""
    names = list(optimizer_runs.values())
    table = stats.comparison_table(
        per_seed[per_seed["config"].isin(names)],
        "val_loss",
        reference=names[0],
        original={name: reference.OPTIMIZER_AVG_LOSS[o] for o, name in optimizer_runs.items()},
        higher_is_better=False,
        scale=1,
        digits=3,
    )
    run_optimizer = {name: o for o, name in optimizer_runs.items()}
    table.insert(1, "optimizer", [run_optimizer[c] for c in table["config"]])
    return table


def _setting_row(r) -> dict:
    return {
        "val_acc": r.val["accuracy"],
        "test_acc": r.test["accuracy"],
        "best_epoch": r.fit.best_epoch,
        "epochs_run": r.fit.epochs_run,
    }


def scheduler_table(runs: Mapping) -> pd.DataFrame:
    """``{scheduler: run}``: scores, epochs and the first and last learning rate of each run."""
    return pd.DataFrame(
        [
            {"scheduler": name, **_setting_row(r), "first_lr": r.history[0]["lr"], "last_lr": r.history[-1]["lr"]}
            for name, r in runs.items()
        ]
    )


def normalisation_table(runs: Mapping, mean, std) -> pd.DataFrame:
    """``{normalize: run}``: the statistics each run was normalised with (``mean``, ``std``: the data set's),
    its scores and epochs."""

    def shown(name, own, imagenet):
        return str(tuple(round(v, 3) for v in own)) if name == "dataset" else str(imagenet)

    return pd.DataFrame(
        [
            {
                "normalize": name,
                "mean": shown(name, mean, IMAGENET_MEAN),
                "std": shown(name, std, IMAGENET_STD),
                **_setting_row(r),
            }
            for name, r in runs.items()
        ]
    )


def resnet_summary_seeds(per_seed: pd.DataFrame, deep_run: str, substituted: bool) -> pd.DataFrame:
    """The first and tuned ResNet18 and the deep model (run ``deep_run``) over the seeds, against the first
    (validation accuracy; a substituted deep model has no original)."""
    original = {
        "resnet18_first": reference.RESNET18_FIRST_ATTEMPTS["val_acc"],
        "resnet18_optimised": reference.RESNET18_OPTIMISED["val_acc"],
        deep_run: None if substituted else reference.RESNET152["val_acc"],
    }
    frame = per_seed[per_seed["config"].isin(list(original))]
    return stats.comparison_table(frame, "val_accuracy", reference="resnet18_first", original=original)


def ensemble_seeds(per_seed: pd.DataFrame, ensemble: str, member1: str, member2: str) -> pd.DataFrame:
    """The ensemble against its members over the seeds, test accuracy, paired as the ensembles were built
    (member 2's recorded pair key)."""
    e = reference.ENSEMBLE
    return stats.comparison_table(
        per_seed[per_seed["config"].isin([ensemble, member1, member2])],
        "test_accuracy",
        reference=ensemble,
        seed="pair",
        original={ensemble: e["acc"], member1: e["member_acc"], member2: e["member_acc"]},
    )


# ----------------------------------------------------------------------------------------------
# notebook 01: Table 5, the activation, the initial and the improved SimpleCNN
# ----------------------------------------------------------------------------------------------
def table5_per_seed(settings, runs: Mapping, seeds) -> pd.DataFrame:
    """One row per setting of :func:`dive.recipes.table5_study` and seed: the last-epoch accuracies read from
    the run ``runs[(lr, batch size, seed)]`` at the setting's epoch ("diverged" where that run diverged)."""
    rows = []
    for study, value, s in settings:
        for seed in seeds:
            r = runs.get((s["lr"], s["batch_size"], seed))
            h = r.at_epoch(s["epochs"]) if r is not None else {}
            rows.append(
                {
                    "study": "learning_rate" if study == "lr" else study,
                    "value": value,
                    "seed": seed,
                    "train_acc": h.get("train_acc"),
                    "val_acc": h.get("val_acc"),
                    "from_run": r.name if r is not None else "diverged",
                    "at_epoch": s["epochs"],
                }
            )
    return pd.DataFrame(rows)


def table5(per_seed: pd.DataFrame) -> pd.DataFrame:
    """Table 5: per study and value the mean accuracies over the seeds (and their standard deviation when there
    are several)."""
    keys = ["study", "value"]
    groups = per_seed.groupby(keys, sort=False)
    table = groups.agg(train_acc=("train_acc", "mean"), val_acc=("val_acc", "mean"), seeds=("seed", "count"))
    table = table.reset_index()
    if per_seed["seed"].nunique() > 1:
        spread = groups[["train_acc", "val_acc"]].std().reset_index()
        table = table.merge(spread.rename(columns={"train_acc": "train_acc_std", "val_acc": "val_acc_std"}))
    return table


def table5_seeds(per_seed: pd.DataFrame, defaults: Mapping) -> pd.DataFrame | None:
    """Each value of a study against the study's default, paired over the seeds (Holm within a study), the
    original's single runs beside; ``None`` where no study has two values to compare."""
    originals = reference.TABLE5_MNIST.set_index(["study", "value"])["val_acc"]
    verdicts = []
    for study, g in per_seed.dropna(subset=["val_acc"]).groupby("study", sort=False):
        default = f"{defaults[{'learning_rate': 'lr'}.get(study, study)]:g}"
        frame = g.assign(config=g["value"].map(lambda v: f"{v:g}"))[["config", "seed", "val_acc"]]
        if frame["config"].nunique() < 2 or default not in set(frame["config"]):
            continue
        orig = {f"{v:g}": originals.get((study, v)) for v in g["value"].unique() if (study, v) in originals.index}
        t = stats.comparison_table(frame, "val_acc", reference=default, original=orig)
        verdicts.append(t.assign(study=study))
    return pd.concat(verdicts, ignore_index=True) if verdicts else None


def table5_beside_original(table: pd.DataFrame) -> pd.DataFrame:
    """Report Table 5 beside :func:`table5`."""
    return reference.side_by_side(
        reference.TABLE5_MNIST, table, on=["study", "value"], value_cols=["train_acc", "val_acc"]
    )


def activation_per_seed(groups: Mapping, epochs: int) -> pd.DataFrame:
    """``{activation: {seed: run}}``: per run the accuracies after ``epochs`` epochs and the best validation
    accuracy within them."""
    return pd.DataFrame(
        [
            {
                "activation": act,
                "seed": s,
                "train_acc": r.history[epochs - 1]["train_acc"],
                "val_acc": r.history[epochs - 1]["val_acc"],
                "best_val_acc": max(h["val_acc"] for h in r.history[:epochs]),
            }
            for act, runs in groups.items()
            for s, r in runs.items()
        ]
    )


def activation_table(per_seed: pd.DataFrame) -> pd.DataFrame:
    """Per activation the means over the seeds of :func:`activation_per_seed`."""
    return (
        per_seed.groupby("activation", sort=False)
        .agg(
            train_acc=("train_acc", "mean"),
            val_acc=("val_acc", "mean"),
            best_val_acc=("best_val_acc", "mean"),
            seeds=("seed", "count"),
        )
        .reset_index()
    )


def initial_vs_improved(histories: Mapping, runs) -> pd.DataFrame:
    """``{label: history}`` of the initial and the improved SimpleCNN (``runs``, in that order): parameters,
    epochs, final and best accuracies, seconds per epoch."""
    return pd.DataFrame(
        [
            {
                "model": label,
                "parameters": count_parameters(r.model),
                "epochs": len(h),
                "final_train_acc": h[-1]["train_acc"],
                "final_val_acc": h[-1]["val_acc"],
                "best_val_acc": max(x["val_acc"] for x in h),
                "best_epoch": max(h, key=lambda x: x["val_acc"])["epoch"],
                "s_per_epoch": round(sum(x["seconds"] for x in h) / len(h), 2),
            }
            for (label, h), r in zip(histories.items(), runs, strict=False)
        ]
    )


# ----------------------------------------------------------------------------------------------
# notebook 00: the data sets
# ----------------------------------------------------------------------------------------------
def split_sizes(stats_by_name: Mapping) -> pd.DataFrame:
    """Images per split, classes and image shape of each data set (``{name: DatasetBundle.stats()}``)."""
    return pd.DataFrame(
        [
            {
                "dataset": name,
                "split_mode": s["split_mode"],
                **s["sizes"],
                "total": sum(s["sizes"].values()),
                "classes": len(s["class_counts"]),
                "image (C×H×W)": "×".join(map(str, s["image_shape"])),
            }
            for name, s in stats_by_name.items()
        ]
    )


def split_sizes_original(names) -> pd.DataFrame:
    """The published split sizes, classes and image shape of the data sets ``names`` (those known)."""
    facts = {n: f for n, f in reference.DATASET_FACTS.items() if n in names}
    return pd.DataFrame(
        [
            {
                "dataset": n,
                "train": f.get("train"),
                "val": f.get("val"),
                "test": f.get("test"),
                "classes": f["classes"],
                "image (C×H×W)": "×".join(map(str, f["size"])),
            }
            for n, f in facts.items()
        ]
    )


def class_counts(bundle) -> pd.DataFrame:
    """Images per class and split, and each class's share of the training split."""
    counts = pd.DataFrame(
        {
            "class": bundle.classes,
            "train": bundle.train.class_counts(),
            "val": bundle.val.class_counts(),
            "test": bundle.test.class_counts(),
        }
    )
    counts["train_share"] = (counts["train"] / counts["train"].sum()).round(4)
    return counts


def imbalance(bundles: Mapping, stats_by_name: Mapping) -> pd.DataFrame:
    """Per data set the largest and smallest training class, their ratio and the majority-class rates."""
    rows = []
    for name, b in bundles.items():
        c = b.train.class_counts()
        rows.append(
            {
                "dataset": name,
                "largest_class": b.classes[c.argmax()],
                "largest": int(c.max()),
                "smallest_class": b.classes[c.argmin()],
                "smallest": int(c.min()),
                "imbalance_ratio": round(stats_by_name[name]["imbalance_ratio"], 3),
                "majority_rate_train": round(majority_rate(b.train.labels.numpy()), 4),
                "majority_rate_val": round(majority_rate(b.val.labels.numpy()), 4),
            }
        )
    return pd.DataFrame(rows)


def class_mix(bundles: Mapping) -> pd.DataFrame:
    """Do the validation and test splits hold the training split's class mix? Per data set and split: its images,
    the training majority class's share of training and of the split, the test of homogeneity against training's
    counts (:func:`dive.stats.class_mix`), its Holm-adjusted p over the table's rows and the verdict, "different"
    (adjusted p < 0.05) or "cannot tell". Where test's mix differs, its accuracy meets another prior."""
    rows = []
    for name, b in bundles.items():
        train = b.train.class_counts()
        top = int(train.argmax())
        for split in ("val", "test"):
            counts = getattr(b, split).class_counts()
            test = stats.class_mix(train, counts)
            rows.append(
                {
                    "dataset": name,
                    "split": split,
                    "images": int(counts.sum()),
                    "train_majority_class": b.classes[top],
                    "share_in_train": round(float(train[top] / train.sum()), 4),
                    "share_in_split": round(float(counts[top] / counts.sum()), 4) if counts.sum() else None,
                    "test": test["test"],
                    "p": test["p"],
                }
            )
    frame = pd.DataFrame(rows)
    frame["p_holm"] = stats.holm(list(frame["p"])) if len(frame) else []
    frame["verdict"] = [
        "no test" if q is None else stats.DIFFERENT if q < stats.ALPHA else stats.CANNOT_TELL for q in frame["p_holm"]
    ]
    for col in ("p", "p_holm"):
        frame[col] = [None if q is None else float(f"{q:.3g}") for q in frame[col]]
    return frame


def channel_stats(stats_by_name: Mapping) -> pd.DataFrame:
    """Per data set and channel the mean and standard deviation of the training images."""
    return pd.DataFrame(
        [
            {
                "dataset": name,
                "channel": (["grey"] if len(s["mean"]) == 1 else ["red", "green", "blue"])[i],
                "mean": round(m, 4),
                "std": round(sd, 4),
            }
            for name, s in stats_by_name.items()
            for i, (m, sd) in enumerate(zip(s["mean"], s["std"], strict=False))
        ]
    )


# ----------------------------------------------------------------------------------------------
# what several notebooks show
# ----------------------------------------------------------------------------------------------
def train_val_counts(data) -> pd.DataFrame:
    """Images per class in the training and validation parts a notebook uses."""
    return pd.DataFrame({"class": data.classes, "train": data.train.class_counts(), "val": data.val.class_counts()})


def runs_table(*grids) -> pd.DataFrame:
    """One row per run of the :class:`~dive.experiment.GridResult` ``grids`` (:meth:`RunResult.row`)."""
    return pd.DataFrame([r.row() for g in grids for rs in g.runs.values() for r in rs])


def summary_over_seeds(per_seed: pd.DataFrame, metrics=("val_accuracy", "test_accuracy")) -> pd.DataFrame:
    """:func:`dive.stats.summary_table` of each metric (times 100 in 'mean ± CI'), one block per metric; the
    caption of the first in ``attrs["caption"]``."""
    parts = [stats.summary_table(per_seed, m, scale=100, digits=2).assign(metric=m) for m in metrics]
    table = pd.concat(parts, ignore_index=True)
    table.attrs["caption"] = parts[0].attrs["caption"]
    return table


def simplecnn_variants(results: Mapping, variants: Mapping) -> pd.DataFrame:
    """Notebook 02: ``{label: run}`` of the SimpleCNN variants with their settings (``{label: settings}``),
    validation and test scores and whether they stopped early."""
    rows = [
        {"variant": label, **variants[label], **r.row(), "stopped_early": r.fit.stopped_early}
        for label, r in results.items()
    ]
    return pd.DataFrame(rows).drop(columns=["run", "model"])


def accuracies_by_seed(runs: Mapping) -> pd.DataFrame:
    """``{label: [run per seed]}`` -> a long frame ``config, seed, val_acc, test_acc``."""
    return pd.DataFrame(
        [
            {"config": label, "seed": r.seed, "val_acc": r.val["accuracy"], "test_acc": r.test["accuracy"]}
            for label, rs in runs.items()
            for r in rs
        ]
    )


def normalisation_statistics(mean, std) -> pd.DataFrame:
    """The training part's per-channel mean and std beside ImageNet's."""
    return pd.DataFrame(
        {
            "statistic": ["mean", "std"],
            "this data set (training part)": [mean, std],
            "ImageNet": [IMAGENET_MEAN, IMAGENET_STD],
        }
    )


def trainings(longest: Mapping, seeds) -> pd.DataFrame:
    """Notebook 01: the trainings of :func:`dive.recipes.table5_study` (lr, batch size, epochs) and the seeds."""
    return pd.DataFrame(
        [{"lr": k[0], "batch_size": k[1], "epochs": e, "seeds": len(seeds)} for k, e in longest.items()]
    )

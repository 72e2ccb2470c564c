"""Predictions and scores: accuracy, macro precision/recall/F1, AUC (as MedMNIST scores it),
confusion matrices, probability ensembles and the majority-class baseline.

All arithmetic is scikit-learn's; this module only arranges it the way the report (and
MedMNIST's own ``medmnist.evaluator``) scores a model. ``accuracy`` and ``auc`` are MedMNIST's ACC
and AUC for every task type (multi-class; binary-class: the last column's score, threshold 0.5;
multi-label: per label at threshold 0.5, averaged over the labels; ordinal regression: scored as
multi-class): ``tests/test_metrics.py`` checks them against ``medmnist.Evaluator`` reading a file
of the official format, to 1e-9, including ties and scores exactly at the threshold.

Undefined AUC
-------------
ROC AUC is undefined for a class (or label) that is absent from ``y_true`` -- or, for a
one-vs-rest column, present in every sample. MedMNIST's ``getAUC`` does not skip such a
class: with the pinned scikit-learn it gets ``nan`` for it (and an ``UndefinedMetricWarning``),
so the mean it returns is ``nan``. :func:`evaluate` keeps that behaviour for ``auc`` (it stays
exactly MedMNIST's number) and says why next to it:

* ``auc``                      -- MedMNIST's value; ``nan`` when any class's AUC is undefined;
* ``auc_excluding_undefined``  -- mean over the classes whose AUC is defined (equals ``auc``
  when all are defined; ``nan`` when none is);
* ``auc_undefined_classes``    -- names of the classes skipped there (empty list normally);
* ``per_class[i]["auc"]``      -- that class's one-vs-rest AUC (``nan`` when undefined).

A single ``UserWarning`` naming the classes replaces scikit-learn's per-class warnings.
``nan`` is a Python float, which :mod:`json` writes as ``NaN``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import torch
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    multilabel_confusion_matrix,
    precision_recall_fscore_support,
    roc_auc_score,
)

from dive import precision as P
from dive.allocator import keep_freed_memory

# medmnist.INFO task names. "ordinal-regression" is scored like "multi-class", as MedMNIST's evaluator does.
TASKS = ("multi-class", "binary-class", "multi-label, binary-class", "ordinal-regression")
MULTILABEL = "multi-label, binary-class"
THRESHOLD = 0.5  # MedMNIST's threshold for binary-class and multi-label scores (strictly greater)

__all__ = [
    "TASKS",
    "class_names_list",
    "ensemble_probs",
    "evaluate",
    "majority_rate",
    "metrics_row",
    "predict",
]


def _check_task(task: str) -> str:
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; expected one of {TASKS}")
    return task


def class_names_list(class_names, n: int) -> list[str]:
    """``n`` class names as strings.

    ``class_names`` may be None (-> "0", "1", ...), a sequence, or a mapping such as
    ``medmnist.INFO[flag]["label"]`` (``{"0": "adipose", ...}``, ordered by integer key).
    """
    if class_names is None:
        return [str(i) for i in range(n)]
    if isinstance(class_names, Mapping):
        names = [str(v) for _, v in sorted(class_names.items(), key=lambda kv: int(kv[0]))]
    else:
        names = [str(c) for c in class_names]
    if len(names) != n:
        raise ValueError(f"{len(names)} class names given for {n} classes")
    return names


# ----------------------------------------------------------------------------------------
# prediction
# ----------------------------------------------------------------------------------------
@torch.no_grad()
def predict(
    model: torch.nn.Module, batches: Iterable, *, multilabel: bool = False, plan=None
) -> tuple[np.ndarray, np.ndarray]:
    """Run ``model`` over ``batches`` and return ``(y_true, probs)`` as NumPy arrays.

    ``batches`` is any iterable of ``(x, y)`` tensor pairs, ``x`` already preprocessed and on
    the model's device (a torch DataLoader, or dive's own batch loader). ``y_true`` is ``(N,)``
    int64 in batch order (MedMNIST's ``(B, 1)`` labels are flattened), or ``(N, L)`` for
    multi-label. ``probs`` is ``(N, C)`` float: the softmax of the outputs (the models return
    logits or log-probabilities; softmax of log-softmax output gives the same probabilities),
    or the sigmoid for multi-label.

    The model is put in eval mode and every submodule's previous mode is restored afterwards; the
    forward passes run under ``torch.inference_mode()`` and, with a :class:`dive.precision.Plan`, in the
    run's precision and memory format.
    """
    plan = plan or P.Plan("fp32", False, False)
    keep_freed_memory()  # dive.allocator: large blocks reused from batch to batch
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    ys: list[np.ndarray] = []
    ps: list[np.ndarray] = []
    try:
        for x, y in batches:
            with torch.inference_mode(), P.autocast(x.device, plan):
                out = model(P.prepare_input(x, plan))
            if out.ndim == 1:
                out = out.unsqueeze(1)
            out = out.float()
            p = torch.sigmoid(out) if multilabel else torch.softmax(out, dim=1)
            ps.append(p.cpu().numpy())
            y = torch.as_tensor(y).detach().cpu()
            ys.append((y.reshape(len(y), -1) if multilabel else y.reshape(-1)).numpy().astype(np.int64))
    finally:
        for m, mode in modes:
            m.training = mode
    if not ps:
        raise ValueError("predict() got no batches")
    return np.concatenate(ys), np.concatenate(ps)


# ----------------------------------------------------------------------------------------
# scoring
# ----------------------------------------------------------------------------------------
def _auc(y_binary: np.ndarray, score: np.ndarray) -> float:
    """One roc_auc_score; scikit-learn returns nan when y_binary holds one value (warning silenced here)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        return float(roc_auc_score(y_binary, score))


def _as_arrays(y_true, probs, task):
    y = np.asarray(y_true)
    p = np.asarray(probs, dtype=np.float64)
    if task == MULTILABEL:
        if p.ndim == 1:
            p = p[:, None]
        if y.ndim == 1:
            y = y[:, None]
        if y.shape != p.shape:
            raise ValueError(f"multi-label y_true {y.shape} and probs {p.shape} must have the same shape")
        return y.astype(np.int64), p
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"y_true must be (N,) or (N, 1) for task {task!r}, got shape {y.shape}")
    if task == "binary-class" and p.ndim == 1:
        p = p[:, None]
    if p.ndim != 2:
        raise ValueError(f"probs must be (N, C), got shape {p.shape}")
    if len(y) != len(p):
        raise ValueError(f"y_true has {len(y)} samples but probs has {len(p)}")
    y = y.astype(np.int64)
    n_classes = 2 if task == "binary-class" else p.shape[1]
    if task == "binary-class" and p.shape[1] > 2:
        raise ValueError(f"binary-class probs must have 1 or 2 columns, got {p.shape[1]}")
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(f"labels must lie in [0, {n_classes}), got {y.min()}..{y.max()}")
    return y, p


def evaluate(y_true, probs, task: str = "multi-class", class_names=None) -> dict:
    """Score predicted probabilities against true labels.

    Returns a JSON-serialisable dict (python floats / ints / str / lists):

    ``task``, ``n``, ``accuracy``, ``precision``, ``recall``, ``f1`` (macro averages over all
    ``C`` classes, ``zero_division=0``), ``auc``, ``auc_excluding_undefined``,
    ``auc_undefined_classes``, ``majority_rate`` (share of the most frequent true class;
    None for multi-label), ``per_class`` (list of ``{"class", "precision", "recall", "f1",
    "support", "auc"}``) and ``confusion_matrix``.

    * multi-class / ordinal-regression: predicted class = argmax; ``confusion_matrix`` is
      ``C x C``, rows = true, columns = predicted; ``auc`` = mean over classes of one-vs-rest
      AUC (``probs[:, i]`` vs ``y == i``), as ``medmnist.evaluator.getAUC``.
    * binary-class: ``probs`` is ``(N, 2)`` or ``(N, 1)``/``(N,)`` (positive-class score);
      predicted positive when ``probs[:, -1] > 0.5``; ``auc`` = AUC of ``probs[:, -1]``.
    * multi-label: ``y_true`` and ``probs`` are ``(N, L)``; predicted positive when ``> 0.5``;
      ``accuracy`` = mean over labels of per-label accuracy and ``auc`` = mean over labels
      (both as MedMNIST); ``per_class`` is per label (support = number of positives);
      ``confusion_matrix`` is ``L x 2 x 2`` (scikit-learn's ``multilabel_confusion_matrix``:
      per label ``[[tn, fp], [fn, tp]]``).

    Undefined AUCs: see the module docstring (``auc`` is nan like MedMNIST's, with the
    defined-classes mean and the skipped class names next to it).
    """
    _check_task(task)
    y, p = _as_arrays(y_true, probs, task)
    n = len(y)
    if n == 0:
        raise ValueError("evaluate() needs at least one sample")

    if task == MULTILABEL:
        n_classes = p.shape[1]
        names = class_names_list(class_names, n_classes)
        y_pred = (p > THRESHOLD).astype(np.int64)
        accuracy = float(np.mean([accuracy_score(y[:, i], y_pred[:, i]) for i in range(n_classes)]))
        aucs = [_auc(y[:, i], p[:, i]) for i in range(n_classes)]
        auc_medmnist = float(np.mean(aucs))
        cm = multilabel_confusion_matrix(y, y_pred).tolist()
        prec, rec, f1, support = precision_recall_fscore_support(y, y_pred, average=None, zero_division=0)
        majority = None
    else:
        n_classes = 2 if task == "binary-class" else p.shape[1]
        names = class_names_list(class_names, n_classes)
        labels = list(range(n_classes))
        if task == "binary-class":
            pos = p[:, -1]
            y_pred = (pos > THRESHOLD).astype(np.int64)
            neg = p[:, 0] if p.shape[1] == 2 else 1.0 - pos
            auc_medmnist = _auc(y, pos)
            aucs = [_auc((y == 0).astype(int), neg), auc_medmnist]
        else:
            y_pred = np.argmax(p, axis=1)
            aucs = [_auc((y == i).astype(int), p[:, i]) for i in labels]
            auc_medmnist = float(np.mean(aucs))
        accuracy = float(accuracy_score(y, y_pred))
        cm = confusion_matrix(y, y_pred, labels=labels).tolist()
        prec, rec, f1, support = precision_recall_fscore_support(
            y, y_pred, labels=labels, average=None, zero_division=0
        )
        majority = majority_rate(y)

    undefined = [names[i] for i, a in enumerate(aucs) if math.isnan(a)]
    defined = [a for a in aucs if not math.isnan(a)]
    if undefined:
        warnings.warn(
            f"AUC is undefined for class(es) {undefined} (only one outcome in y_true); "
            "'auc' is nan as in MedMNIST's getAUC, 'auc_excluding_undefined' skips them",
            UserWarning,
            stacklevel=2,
        )
    per_class = [
        {
            "class": names[i],
            "precision": float(prec[i]),
            "recall": float(rec[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
            "auc": float(aucs[i]),
        }
        for i in range(n_classes)
    ]
    return {
        "task": task,
        "n": n,
        "accuracy": accuracy,
        "precision": float(np.mean(prec)),
        "recall": float(np.mean(rec)),
        "f1": float(np.mean(f1)),
        "auc": float(auc_medmnist),
        "auc_excluding_undefined": float(np.mean(defined)) if defined else math.nan,
        "auc_undefined_classes": undefined,
        "majority_rate": majority,
        "per_class": per_class,
        "confusion_matrix": cm,
    }


# ----------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------
def ensemble_probs(prob_list: Sequence[np.ndarray], weights: Sequence[float] | None = None) -> np.ndarray:
    """Weighted average of several models' probabilities (report 3.5's ensemble).

    All arrays must have the same shape. ``weights`` (one per model, non-negative, not all
    zero) are normalised to sum 1; None means equal weights.
    """
    arrays = [np.asarray(a, dtype=np.float64) for a in prob_list]
    if not arrays:
        raise ValueError("ensemble_probs() needs at least one probability array")
    shapes = [a.shape for a in arrays]
    if any(s != shapes[0] for s in shapes):
        raise ValueError(f"probability arrays must all have the same shape, got {shapes}")
    if weights is None:
        w = np.full(len(arrays), 1.0 / len(arrays))
    else:
        w = np.asarray(weights, dtype=np.float64).reshape(-1)
        if len(w) != len(arrays):
            raise ValueError(f"{len(w)} weights given for {len(arrays)} probability arrays")
        if np.any(w < 0) or not np.isfinite(w).all() or w.sum() <= 0:
            raise ValueError(f"weights must be finite, non-negative and not all zero, got {w.tolist()}")
        w = w / w.sum()
    return np.average(np.stack(arrays), axis=0, weights=w)


def majority_rate(y_true) -> float:
    """Share of the most frequent class in ``y_true`` (the accuracy a constant guess gets)."""
    y = np.asarray(y_true).reshape(-1)
    if y.size == 0:
        raise ValueError("majority_rate() needs at least one label")
    _, counts = np.unique(y, return_counts=True)
    return float(counts.max() / y.size)


def metrics_row(metrics: dict, keys: Sequence[str] = ("accuracy", "precision", "recall", "f1", "auc")) -> dict:
    """The flat subset ``{key: metrics[key]}`` of an :func:`evaluate` result, for tables and metrics.json."""
    missing = [k for k in keys if k not in metrics]
    if missing:
        raise KeyError(f"metrics has no {missing}; available: {sorted(metrics)}")
    return {k: metrics[k] for k in keys}

"""One call per experiment run: model + preprocessing + batches + fit + evaluation.

The notebooks describe *what* the report tried; :func:`run` does it the same way every time, so a
notebook cell reads like the report's sentence ("AlexNet, Adagrad lr 0.01, batch 64, balanced,
early stopping with patience 8") and nothing is defined in the notebook itself.
"""
from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np
import torch

from dive import metrics as M
from dive.batches import Augment, Batches, Preprocess
from dive.data import DatasetBundle
from dive.models import WeightsNotFoundError, build_model, weights_cache_path
from dive.train import FitResult, fit
from dive.utils import DEFAULT_SEED, resolve_device, seed_everything


@dataclass
class RunResult:
    """Everything one run produced (the model holds the weights ``fit`` ended with)."""

    name: str
    model_name: str
    params: dict
    fit: FitResult
    model: torch.nn.Module
    val: dict
    test: dict | None = None
    val_probs: np.ndarray | None = None
    test_probs: np.ndarray | None = None
    y_val: np.ndarray | None = None
    y_test: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def history(self) -> list[dict]:
        return self.fit.history

    def row(self) -> dict:
        """A flat summary for tables."""
        r = {"run": self.name, "model": self.model_name, "epochs_run": self.fit.epochs_run,
             "best_epoch": self.fit.best_epoch,
             "s_per_epoch": round(self.fit.seconds_per_epoch or 0.0, 2),
             **{f"val_{k}": v for k, v in M.metrics_row(self.val).items()}}
        if self.test is not None:
            r.update({f"test_{k}": v for k, v in M.metrics_row(self.test).items()})
        return r


def resolve_pretrained(model_name: str, pretrained) -> tuple[bool, str | None]:
    """Decide whether to load ImageNet weights.

    ``True``: required — raises :class:`~dive.models.WeightsNotFoundError` now, before any training,
    when the file is neither cached nor downloadable. ``"auto"``: use the weights when they are in the
    torch hub cache, else train from scratch and return a note saying so. ``False``/``None``: no weights.
    """
    path = weights_cache_path(model_name)
    if path is None or pretrained in (False, None, "false", "False", "no"):
        return False, None
    if pretrained in (True, "true", "True", "yes"):
        if not os.path.isfile(path):
            build_model(model_name, 2, pretrained=True)  # downloads, or raises with path + URL
        return True, None
    if pretrained == "auto":
        if os.path.isfile(path):
            return True, None
        return False, (f"{model_name}: ImageNet weights not found at {path} (offline?); "
                       "trained from scratch (pretrained=False)")
    raise ValueError(f"pretrained must be True, False or 'auto', got {pretrained!r}")


def describe_pretrained(model_name: str, pretrained) -> str:
    """:func:`resolve_pretrained` as one line for a notebook (fails the same way, before any training)."""
    use, note = resolve_pretrained(model_name, pretrained)
    if use:
        return f"{model_name}: ImageNet weights from {weights_cache_path(model_name)}"
    if note:
        return note
    if weights_cache_path(model_name) is None:
        return f"{model_name}: no pretrained weights exist for this model; trained from scratch"
    return f"{model_name}: trained from scratch (pretrained=False)"


def _prepare_checkpoint_dir(ckpt: Path, params: dict, resume: bool) -> bool:
    """Resume only a checkpoint of the very same parameters; otherwise start it afresh."""
    ckpt.mkdir(parents=True, exist_ok=True)
    pfile = ckpt / "params.json"
    same = pfile.is_file() and json.loads(pfile.read_text()) == json.loads(json.dumps(params, default=str))
    if not same:
        for f in ckpt.iterdir():
            if f.is_file():
                f.unlink()
            else:
                shutil.rmtree(f)
        pfile.write_text(json.dumps(params, indent=2, default=str))
    return resume and same


def run(
    data: DatasetBundle,
    model: str,
    *,
    name: str | None = None,
    epochs: int = 15,
    patience: int | None = None,
    batch_size: int = 64,
    optimizer: str = "adam",
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    momentum: float = 0.9,
    scheduler: str | None = None,
    scheduler_kwargs: dict | None = None,
    balanced: bool = False,
    augment: bool | Augment = False,
    normalize: str = "auto",
    image_size: int | None = None,
    pretrained=False,
    batch_norm: bool | None = None,
    dropout: bool | None = None,
    activation: str | None = None,
    restore_best: bool | None = None,
    evaluate_test: bool = False,
    device="auto",
    seed: int = DEFAULT_SEED,
    deterministic: bool = False,
    amp: bool = False,
    channels_last: bool = False,
    checkpoint_dir: str | os.PathLike | None = None,
    resume: bool = True,
    quiet: bool | None = None,
    outputs=None,
    eval_batch_size: int | None = None,
) -> RunResult:
    """Train ``model`` on ``data`` and evaluate it on validation (and test, if asked).

    ``image_size``: the side the model sees (default: the model's own — 28 for the SimpleCNNs,
    224 for AlexNet/ResNet, 299 for Xception; the report used 168 for Xception). ``normalize``:
    ``"auto"`` (ImageNet statistics for ImageNet-style models, else the training split's own),
    ``"imagenet"`` or ``"dataset"`` (report 3.5). ``augment=True``: the report's augmentations.
    ``scheduler``/``scheduler_kwargs``: see :func:`dive.train.make_scheduler` (e.g. ``"plateau"`` with
    ``{"patience": 5, "factor": 0.5}``). ``pretrained``: True, False or ``"auto"`` (see :func:`resolve_pretrained`). With
    ``checkpoint_dir`` a run that was interrupted continues where it stopped (``resume``).
    ``outputs``: a :class:`dive.outputs.Outputs`; the run is recorded there.
    """
    dev = resolve_device(device)
    quiet = bool(os.environ.get("DIVE_QUIET")) if quiet is None else quiet
    use_weights, note = resolve_pretrained(model, pretrained)
    aug = Augment() if augment is True else (augment or None)
    params = {"model": model, "epochs": epochs, "patience": patience, "batch_size": batch_size,
              "optimizer": optimizer, "lr": lr, "weight_decay": weight_decay, "scheduler": scheduler,
              "scheduler_kwargs": dict(scheduler_kwargs or {}) or None,
              "balanced": balanced, "augment": bool(aug), "normalize": normalize, "image_size": image_size,
              "pretrained": use_weights, "batch_norm": batch_norm, "dropout": dropout,
              "activation": activation, "seed": seed, "split": data.split_mode,
              "train_size": len(data.train)}
    seed_everything(seed, deterministic)
    net = build_model(model, data.num_classes, data.channels, pretrained=use_weights, batch_norm=batch_norm,
                      dropout=dropout, activation=activation, image_size=image_size or 28,
                      multilabel=data.train.multilabel)
    spec = net.spec
    stats = data.train.mean_std() if normalize in ("auto", "dataset") else None
    pre = Preprocess.for_model(spec, size=image_size, augment=aug, dataset_stats=stats, normalize=normalize)
    run_name = name or model
    train_b = Batches(data.train, batch_size, pre, device=dev, shuffle=True, balanced=balanced, train=True,
                      seed=seed, channels_last=channels_last)
    eb = eval_batch_size or max(batch_size, 128)
    val_b = Batches(data.val, eb, pre, device=dev, channels_last=channels_last)
    do_resume = False
    if checkpoint_dir is not None:
        do_resume = _prepare_checkpoint_dir(Path(checkpoint_dir), params, resume)
    result = fit(net, train_b, val_b, epochs=epochs, optimizer=optimizer, lr=lr, weight_decay=weight_decay,
                 momentum=momentum, scheduler=scheduler, scheduler_kwargs=scheduler_kwargs, patience=patience,
                 restore_best=restore_best, device=dev, amp=amp, channels_last=channels_last,
                 checkpoint_dir=checkpoint_dir, resume=do_resume, seed=seed, deterministic=deterministic, quiet=quiet,
                 desc=run_name)
    multilabel = data.train.multilabel
    y_val, p_val = M.predict(net, val_b, multilabel=multilabel)
    val = M.evaluate(y_val, p_val, data.task, data.classes)
    test = p_test = y_test = None
    if evaluate_test:
        test_b = Batches(data.test, eb, pre, device=dev, channels_last=channels_last)
        y_test, p_test = M.predict(net, test_b, multilabel=multilabel)
        test = M.evaluate(y_test, p_test, data.task, data.classes)
    notes = [note] if note else []
    out = RunResult(run_name, model, params, result, net, val, test, p_val, p_test, y_val, y_test, notes)
    if outputs is not None:
        record(outputs, out)
    return out


def record(outputs, result: RunResult, extra: dict | None = None) -> None:
    """Add a run to a :class:`dive.outputs.Outputs` (and its notes, once each)."""
    for n in result.notes:
        if n not in getattr(outputs, "notes", []):
            outputs.note(n)
    outputs.add_run(result.name, result.model_name, result.params, fit=result.fit, val=result.val,
                    test=result.test, extra=extra)


def ensemble(results: Iterable[RunResult], task: str, class_names=None, *, split: str = "test") -> dict:
    """Average the softmax probabilities of several runs (report 3.5) and score the average."""
    results = list(results)
    probs = [r.test_probs if split == "test" else r.val_probs for r in results]
    ys = [r.y_test if split == "test" else r.y_val for r in results]
    if any(p is None for p in probs):
        raise ValueError(f"every member needs {split} probabilities (run them with evaluate_test=True)")
    if any(not np.array_equal(ys[0], y) for y in ys[1:]):
        raise ValueError("the members were evaluated on different images")
    return M.evaluate(ys[0], M.ensemble_probs(probs), task, class_names)


def one_at_a_time(defaults: dict, grid: dict[str, list]) -> list[tuple[str, object, dict]]:
    """The report's hyperparameter study design (3.3): vary one setting at a time around ``defaults``.

    Returns ``(parameter, value, settings)`` triples in the grid's order.
    """
    unknown = [k for k in grid if k not in defaults]
    if unknown:
        raise ValueError(f"grid names {unknown} are not among the defaults {sorted(defaults)}")
    return [(k, v, {**defaults, k: v}) for k, values in grid.items() for v in values]


"""One training loop for every model: :func:`fit`.

Every option is a named argument: optimizer and scheduler by name, early stopping on validation
accuracy that restores a deep copy of the best weights, a checkpoint after every epoch and exact
resumption, a clear stop on a non-finite loss, tqdm progress, seeding, and on CUDA mixed precision
and channels_last.
"""
from __future__ import annotations

import copy
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import torch
import torch.nn.functional as F

from dive.utils import DEFAULT_SEED, resolve_device, seed_everything

OPTIMIZERS = ("sgd", "adam", "nadam", "adagrad", "adamw")
SCHEDULERS = (None, "none", "plateau", "step", "cosine")
CHECKPOINT_NAME = "checkpoint.pt"


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite."""


def make_optimizer(name: str, params, lr: float = 1e-3, weight_decay: float = 0.0, momentum: float = 0.9):
    """``sgd`` (with ``momentum``), ``adam``, ``nadam``, ``adagrad`` or ``adamw`` by name."""
    key = str(name).lower()
    if key == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if key == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if key == "nadam":
        return torch.optim.NAdam(params, lr=lr, weight_decay=weight_decay)
    if key == "adagrad":
        return torch.optim.Adagrad(params, lr=lr, weight_decay=weight_decay)
    if key == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay if weight_decay else 0.01)
    raise ValueError(f"unknown optimizer {name!r}; valid: {', '.join(OPTIMIZERS)}")


def make_scheduler(name, optimizer, epochs: int, **kwargs):
    """``None``/``"none"``; ``"plateau"``: the report's adaptive learning rate (ReduceLROnPlateau on
    validation accuracy, factor 0.1, patience 3 unless given); ``"step"``: StepLR (every third of the
    epochs, gamma 0.1); ``"cosine"``: CosineAnnealingLR over ``epochs``."""
    key = None if name in (None, "none") else str(name).lower()
    if key is None:
        return None
    if key == "plateau":
        opts = {"mode": "max", "factor": 0.1, "patience": 3, **kwargs}
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, **opts)
    if key == "step":
        opts = {"step_size": max(1, epochs // 3), "gamma": 0.1, **kwargs}
        return torch.optim.lr_scheduler.StepLR(optimizer, **opts)
    if key == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, **{"T_max": max(1, epochs), **kwargs})
    raise ValueError(f"unknown scheduler {name!r}; valid: none, plateau, step, cosine")


@dataclass
class FitResult:
    """What :func:`fit` returns. ``history`` holds one dict per epoch (accuracies as fractions)."""

    model: torch.nn.Module
    history: list[dict] = field(default_factory=list)
    best_epoch: int | None = None
    best_val_acc: float | None = None
    epochs_run: int = 0
    stopped_early: bool = False
    restored_best: bool = False
    seconds: float = 0.0

    @property
    def seconds_per_epoch(self) -> float | None:
        return self.seconds / self.epochs_run if self.epochs_run else None

    def summary(self) -> dict:
        return {"epochs_run": self.epochs_run, "best_epoch": self.best_epoch, "best_val_acc": self.best_val_acc,
                "stopped_early": self.stopped_early, "seconds": round(self.seconds, 2)}


def _loss_and_correct(out: torch.Tensor, y: torch.Tensor, multilabel: bool):
    if multilabel:
        yf = y.float()
        loss = F.binary_cross_entropy_with_logits(out.float(), yf)
        correct = ((out > 0).float() == yf).float().mean(1).sum()
    else:
        # dive's SimpleCNNs return log-probabilities; log_softmax is idempotent, so cross_entropy fits both.
        loss = F.cross_entropy(out.float(), y)
        correct = (out.argmax(1) == y).sum()
    return loss, correct


@torch.no_grad()
def evaluate_loss_acc(model, batches: Iterable, device=None, multilabel: bool = False, amp_dtype=None) -> tuple[float, float]:
    """Mean loss and accuracy of ``model`` over ``batches`` (model put in eval mode, mode restored)."""
    was_training = model.training
    model.eval()
    device = device or next(model.parameters()).device
    total_loss = torch.zeros((), device=device, dtype=torch.float64)
    total_correct = torch.zeros((), device=device, dtype=torch.float64)
    n = 0
    for x, y in batches:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            out = model(x)
        loss, correct = _loss_and_correct(out, y, multilabel)
        total_loss += loss.double() * len(y)
        total_correct += correct.double()
        n += len(y)
    model.train(was_training)
    if n == 0:
        raise ValueError("evaluation got no batches")
    return float(total_loss / n), float(total_correct / n)


def _amp_dtype(device: torch.device, amp: bool):
    if not amp:
        return None
    if device.type != "cuda":
        return None  # mixed precision is a CUDA option; CPU runs stay in float32
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def _save_atomic(obj, path: Path) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def fit(
    model: torch.nn.Module,
    train: Iterable,
    val: Iterable,
    *,
    epochs: int = 15,
    optimizer: str = "adam",
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    momentum: float = 0.9,
    scheduler: str | None = None,
    scheduler_kwargs: dict | None = None,
    patience: int | None = None,
    min_delta: float = 0.0,
    restore_best: bool | None = None,
    device="auto",
    amp: bool = False,
    channels_last: bool = False,
    checkpoint_dir: str | os.PathLike | None = None,
    resume: bool = False,
    seed: int = DEFAULT_SEED,
    deterministic: bool = False,
    quiet: bool = False,
    desc: str | None = None,
    callbacks: Iterable[Callable[[int, dict, torch.nn.Module], None]] = (),
    multilabel: bool | None = None,
    nan_check_every: int | None = None,
) -> FitResult:
    """Train ``model`` on ``train`` batches, validating on ``val`` after every epoch.

    ``train``/``val``: any iterables of ``(x, y)`` — :class:`dive.batches.Batches` or a ``DataLoader``.
    ``epochs`` is the maximum; with ``patience`` set, training stops after that many epochs without an
    improvement of validation accuracy (greater than ``min_delta``). ``restore_best`` (default: on when
    early stopping) loads a deep copy of the best epoch's weights back into the model at the end.
    ``checkpoint_dir``: a checkpoint after every epoch (model, optimizer, scheduler, history, best
    weights, random states); ``resume=True`` continues from it to the same result as an uninterrupted
    run. ``callbacks`` are called as ``cb(epoch, record, model)`` after each epoch's checkpoint.
    """
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    if patience is not None and patience < 1:
        raise ValueError(f"patience must be at least 1 (or None for a fixed number of epochs), got {patience}")
    opt_key = str(optimizer).lower()
    if opt_key not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {optimizer!r}; valid: {', '.join(OPTIMIZERS)}")
    if scheduler not in SCHEDULERS and str(scheduler).lower() not in SCHEDULERS:
        raise ValueError(f"unknown scheduler {scheduler!r}; valid: none, plateau, step, cosine")
    if resume and checkpoint_dir is None:
        raise ValueError("resume=True needs checkpoint_dir")
    restore_best = (patience is not None) if restore_best is None else restore_best

    device = resolve_device(device)
    if not resume:
        seed_everything(seed, deterministic)
    elif deterministic:
        seed_everything(seed, deterministic)
    model.to(device)
    if channels_last and device.type == "cuda":
        model.to(memory_format=torch.channels_last)
    if multilabel is None:
        split = getattr(train, "split", None)
        multilabel = bool(split is not None and split.multilabel)
    amp_dtype = _amp_dtype(device, amp)
    scaler = torch.amp.GradScaler("cuda") if amp_dtype == torch.float16 else None
    opt = make_optimizer(opt_key, model.parameters(), lr=lr, weight_decay=weight_decay, momentum=momentum)
    sched = make_scheduler(scheduler, opt, epochs, **(scheduler_kwargs or {}))
    check_every = nan_check_every or (1 if device.type == "cpu" else 50)

    result = FitResult(model=model)
    best_state, best_acc, bad_epochs, start_epoch = None, -math.inf, 0, 1
    ckpt_path = Path(checkpoint_dir) / CHECKPOINT_NAME if checkpoint_dir is not None else None
    if ckpt_path is not None:
        ckpt_path.parent.mkdir(parents=True, exist_ok=True)
    if resume and ckpt_path is not None and ckpt_path.is_file():
        state = torch.load(ckpt_path, map_location=device, weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        if sched is not None and state.get("scheduler") is not None:
            sched.load_state_dict(state["scheduler"])
        if scaler is not None and state.get("scaler") is not None:
            scaler.load_state_dict(state["scaler"])
        result.history = state["history"]
        best_state, best_acc, bad_epochs = state["best_state"], state["best_acc"], state["bad_epochs"]
        result.best_epoch, result.seconds = state["best_epoch"], state["seconds"]
        start_epoch = state["epoch"] + 1
        torch.set_rng_state(state["rng"]["torch"].cpu())
        if torch.cuda.is_available() and state["rng"].get("cuda") is not None:
            torch.cuda.set_rng_state_all([s.cpu() for s in state["rng"]["cuda"]])
        if state["rng"].get("train") is not None and hasattr(train, "load_state_dict"):
            train.load_state_dict(state["rng"]["train"])
        if state.get("finished"):
            start_epoch = epochs + 1
            result.stopped_early = state.get("stopped_early", False)

    from tqdm.auto import tqdm

    bar = tqdm(range(start_epoch, epochs + 1), desc=desc or "epochs", disable=quiet, leave=True,
               initial=start_epoch - 1, total=epochs)
    stopped = result.stopped_early
    for epoch in bar:
        t0 = time.perf_counter()
        model.train()
        loss_sum = torch.zeros((), device=device, dtype=torch.float64)
        total_correct = torch.zeros((), device=device, dtype=torch.float64)
        pending, first_pending, n = [], 1, 0  # step losses not yet checked for NaN/inf
        for step, (x, y) in enumerate(train, start=1):
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                out = model(x)
            loss, correct = _loss_and_correct(out, y, multilabel)
            opt.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
            else:
                loss.backward()
                opt.step()
            loss = loss.detach()
            pending.append(loss)
            loss_sum += loss.double() * len(y)
            total_correct += correct.detach().double()
            n += len(y)
            if len(pending) >= check_every:
                _check_finite(pending, epoch, first_pending)
                pending, first_pending = [], step + 1
        _check_finite(pending, epoch, first_pending)
        if n == 0:
            raise ValueError("the training batches are empty")
        train_loss = float(loss_sum / n)
        train_acc = float(total_correct / n)
        val_loss, val_acc = evaluate_loss_acc(model, val, device, multilabel, amp_dtype)
        lr_now = opt.param_groups[0]["lr"]
        if sched is not None:
            sched.step(val_acc) if isinstance(sched, torch.optim.lr_scheduler.ReduceLROnPlateau) else sched.step()
        seconds = time.perf_counter() - t0
        result.seconds += seconds
        record = {"epoch": epoch, "train_loss": train_loss, "train_acc": train_acc, "val_loss": val_loss,
                  "val_acc": val_acc, "lr": lr_now, "seconds": seconds}
        result.history.append(record)
        if val_acc > best_acc + min_delta:
            best_acc, bad_epochs, result.best_epoch = val_acc, 0, epoch
            best_state = copy.deepcopy(model.state_dict())
        else:
            bad_epochs += 1
        stopped = patience is not None and bad_epochs >= patience
        finished = stopped or epoch == epochs
        bar.set_postfix(loss=f"{train_loss:.4f}", acc=f"{train_acc:.4f}", val_acc=f"{val_acc:.4f}",
                        best=result.best_epoch)
        if ckpt_path is not None:
            _save_atomic({
                "epoch": epoch, "model": model.state_dict(), "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict() if sched is not None else None,
                "scaler": scaler.state_dict() if scaler is not None else None,
                "history": result.history, "best_state": best_state, "best_acc": best_acc,
                "best_epoch": result.best_epoch, "bad_epochs": bad_epochs, "seconds": result.seconds,
                "finished": finished, "stopped_early": stopped,
                "rng": {"torch": torch.get_rng_state(),
                        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
                        "train": train.state_dict() if hasattr(train, "state_dict") else None},
            }, ckpt_path)
        for cb in callbacks:
            cb(epoch, record, model)
        if stopped:
            break
    bar.close()
    result.stopped_early = stopped
    result.epochs_run = len(result.history)
    result.best_val_acc = None if best_acc == -math.inf else best_acc
    if restore_best and best_state is not None:
        model.load_state_dict(best_state)
        result.restored_best = True
    return result


def _check_finite(losses, epoch: int, first_step: int) -> None:
    if not losses:
        return
    vals = torch.stack([l.double().reshape(()) for l in losses])
    finite = torch.isfinite(vals)
    if bool(finite.all()):
        return
    bad = int((~finite).nonzero()[0])
    raise NonFiniteLossError(
        f"training loss became {vals[bad].item()} at epoch {epoch}, step {first_step + bad}; stopping. "
        "Try a smaller learning rate (the report's lr 0.1 diverged on MNIST). "
        "The last checkpoint (if checkpoint_dir was given) holds the previous epoch.")


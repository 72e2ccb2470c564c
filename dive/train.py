"""One training loop for every model, in small named parts.

* :func:`train_one_epoch` and :func:`evaluate` do one pass each;
* :class:`EarlyStopping` watches validation accuracy (or AUC) and keeps a deep copy of the best weights;
* :class:`TrainState` is everything a run has learned so far (model, optimizer, scheduler, scaler,
  history, early stopping, random states); its ``state_dict()`` is the checkpoint and its
  ``load_state_dict()`` the resume, so the two cannot drift apart;
* :func:`fit` puts them together for one :class:`~dive.config.RunConfig`: optimizer and scheduler by
  name, precision and memory format from :mod:`dive.precision`, a checkpoint after every epoch,
  exact resumption, a clear stop on a non-finite loss, tqdm progress.

``fit(model, train, val, epochs=3, lr=0.01)`` still works: the keywords build a ``RunConfig``, the
one home of every default.
"""

from __future__ import annotations

import copy
import math
import os
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from dive import metrics as M
from dive import precision as P
from dive import store as S
from dive.allocator import keep_freed_memory, release_freed_memory
from dive.config import RunConfig
from dive.optim import make_optimizer, make_scheduler  # noqa: F401 - re-exported (dive.train.make_optimizer)
from dive.store import CHECKPOINT_NAME, DamagedFile  # noqa: F401 - re-exported
from dive.utils import resolve_device, seed_everything


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite."""


class CheckpointMismatch(RuntimeError):
    """A checkpoint belongs to another run (other configuration or other data)."""


# ----------------------------------------------------------------------------------- results


@dataclass
class FitResult:
    """What :func:`fit` returns. ``history`` holds one dict per epoch (accuracies as fractions)."""

    model: torch.nn.Module
    history: list[dict] = field(default_factory=list)
    best_epoch: int | None = None
    best_val_acc: float | None = None
    best_score: float | None = None
    monitor: str = "val_acc"
    epochs_run: int = 0
    stopped_early: bool = False
    restored_best: bool = False
    seconds: float = 0.0
    plan: dict | None = None
    resumed_from: int | None = None

    @property
    def seconds_per_epoch(self) -> float | None:
        return self.seconds / self.epochs_run if self.epochs_run else None

    @property
    def kept_epoch(self) -> int | None:
        """The epoch whose weights the model holds: the best one when they were restored, else the last."""
        return self.best_epoch if self.restored_best else (self.epochs_run or None)

    def summary(self) -> dict:
        return {
            "epochs_run": self.epochs_run,
            "best_epoch": self.best_epoch,
            "kept_epoch": self.kept_epoch,
            "best_val_acc": self.best_val_acc,
            "monitor": self.monitor,
            "best_score": self.best_score,
            "stopped_early": self.stopped_early,
            "restored_best": self.restored_best,
            "seconds": round(self.seconds, 2),
        }


# ----------------------------------------------------------------------------------- parts


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


def _fp32_plan() -> P.Plan:
    return P.Plan("fp32", False, False, "fp32")


def evaluate(
    model,
    batches: Iterable,
    *,
    device=None,
    multilabel: bool = False,
    plan: P.Plan | None = None,
    with_auc: bool = False,
) -> dict:
    """Mean loss and accuracy (and, with ``with_auc``, MedMNIST's AUC) of ``model`` over ``batches``.

    Runs under ``torch.inference_mode()`` with the run's precision; the model's train/eval mode is
    restored afterwards. Returns ``{"loss", "acc"[, "auc"]}``.
    """
    plan = plan or _fp32_plan()
    was_training = model.training
    model.eval()
    device = device or next(model.parameters()).device
    total_loss = torch.zeros((), device=device, dtype=torch.float64)
    total_correct = torch.zeros((), device=device, dtype=torch.float64)
    n, ys, ps = 0, [], []
    try:
        with torch.inference_mode():
            for x, y in batches:
                x, y = P.prepare_input(x.to(device, non_blocking=True), plan), y.to(device, non_blocking=True)
                with P.autocast(device, plan):
                    out = model(x)
                loss, correct = _loss_and_correct(out, y, multilabel)
                total_loss += loss.double() * len(y)
                total_correct += correct.double()
                n += len(y)
                if with_auc:
                    o = out.float()
                    ps.append((torch.sigmoid(o) if multilabel else torch.softmax(o, 1)).cpu().numpy())
                    ys.append(y.cpu().numpy())
    finally:
        model.train(was_training)
    if n == 0:
        raise ValueError("evaluation got no batches")
    res = {"loss": float(total_loss / n), "acc": float(total_correct / n)}
    if with_auc:
        y, p = np.concatenate(ys), np.concatenate(ps)
        task = M.MULTILABEL if multilabel else ("binary-class" if p.shape[1] == 2 else "multi-class")
        res["auc"] = float(M.evaluate(y.reshape(len(y), -1) if multilabel else y.reshape(-1), p, task)["auc"])
    return res


def train_one_epoch(
    model,
    batches: Iterable,
    optimizer,
    *,
    device,
    epoch: int = 1,
    multilabel: bool = False,
    plan: P.Plan | None = None,
    scaler=None,
    check_every: int = 1,
) -> dict:
    """One pass over ``batches``; returns ``{"loss", "acc"}`` (means over images).

    Losses are checked for NaN/inf every ``check_every`` steps (every step on a CPU, where it costs
    nothing); a non-finite loss raises :class:`NonFiniteLossError` naming the epoch and step.
    """
    plan = plan or _fp32_plan()
    model.train()
    loss_sum = torch.zeros((), device=device, dtype=torch.float64)
    total_correct = torch.zeros((), device=device, dtype=torch.float64)
    pending, first_pending, n = [], 1, 0  # step losses not yet checked for NaN/inf
    for step, (x, y) in enumerate(batches, start=1):
        x, y = P.prepare_input(x.to(device, non_blocking=True), plan), y.to(device, non_blocking=True)
        with P.autocast(device, plan):
            out = model(x)
        loss, correct = _loss_and_correct(out, y, multilabel)
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()
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
    return {"loss": float(loss_sum / n), "acc": float(total_correct / n)}


class EarlyStopping:
    """Stop after ``patience`` epochs without an improvement of the monitored value by more than
    ``min_delta`` (``patience=None``: never stop); keeps a deep copy of the best epoch's weights."""

    def __init__(self, patience: int | None = None, min_delta: float = 0.0):
        self.patience, self.min_delta = patience, min_delta
        self.best_score = -math.inf
        self.best_epoch: int | None = None
        self.best_state: dict | None = None
        self.bad_epochs = 0

    def step(self, score: float, epoch: int, model) -> bool:
        """Record one epoch's score; returns True when training should stop."""
        if score > self.best_score + self.min_delta:
            self.best_score, self.best_epoch, self.bad_epochs = score, epoch, 0
            self.best_state = copy.deepcopy(model.state_dict())
        else:
            self.bad_epochs += 1
        return self.should_stop

    @property
    def should_stop(self) -> bool:
        return self.patience is not None and self.bad_epochs >= self.patience

    def state_dict(self) -> dict:
        return {
            "best_score": self.best_score,
            "best_epoch": self.best_epoch,
            "best_state": self.best_state,
            "bad_epochs": self.bad_epochs,
        }

    def load_state_dict(self, state: dict) -> None:
        self.best_score, self.best_epoch = state["best_score"], state["best_epoch"]
        self.best_state, self.bad_epochs = state["best_state"], state["bad_epochs"]


@dataclass
class TrainState:
    """Everything a run has so far; ``state_dict()`` is the checkpoint, ``load_state_dict()`` the resume."""

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: object | None
    scaler: object | None
    early: EarlyStopping
    train_batches: object = None
    history: list[dict] = field(default_factory=list)
    epoch: int = 0
    seconds: float = 0.0
    finished: bool = False
    stopped_early: bool = False

    def state_dict(self) -> dict:
        tb = self.train_batches
        return {
            "epoch": self.epoch,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "early": self.early.state_dict(),
            "history": self.history,
            "seconds": self.seconds,
            "finished": self.finished,
            "stopped_early": self.stopped_early,
            "rng": {
                "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
                "train": tb.state_dict() if hasattr(tb, "state_dict") else None,
            },
        }

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state.get("scheduler") is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        if self.scaler is not None and state.get("scaler") is not None:
            self.scaler.load_state_dict(state["scaler"])
        self.early.load_state_dict(state["early"])
        self.history, self.seconds = list(state["history"]), state["seconds"]
        self.epoch, self.finished, self.stopped_early = state["epoch"], state["finished"], state["stopped_early"]
        torch.set_rng_state(state["rng"]["torch"].cpu())
        if torch.cuda.is_available() and state["rng"].get("cuda") is not None:
            torch.cuda.set_rng_state_all([s.cpu() for s in state["rng"]["cuda"]])
        if state["rng"].get("train") is not None and hasattr(self.train_batches, "load_state_dict"):
            self.train_batches.load_state_dict(state["rng"]["train"])


def save_checkpoint(state: dict, path: str | os.PathLike) -> None:
    """Write a checkpoint all or nothing (:func:`dive.store.save_torch`): a failed write leaves the previous
    one intact and raises :class:`dive.store.StoreWriteError` naming the path and the cause."""
    S.save_torch(S.to_plain(state), path)


def load_checkpoint(path: str | os.PathLike, key: str | None = None, map_location="cpu") -> dict | None:
    """The checkpoint at ``path`` (None if there is none), read without running any code in it
    (``weights_only=True``). A damaged one raises :class:`dive.store.DamagedFile`; with ``key``, one written
    for another key raises :class:`CheckpointMismatch` (the caller sets it aside and starts afresh)."""
    path = Path(path)
    state = S.load_torch(path, map_location=map_location)
    if state is None:
        return None
    if not isinstance(state, dict) or "epoch" not in state or "model" not in state:
        raise DamagedFile(path, f"is not a dive checkpoint (a {type(state).__name__} without epoch and model)")
    state = S.from_plain(state)
    if key is not None and state.get("key") != key:
        raise CheckpointMismatch(f"{path} belongs to run {state.get('key')!r}, not {key!r}")
    return state


# ----------------------------------------------------------------------------------- fit


def fit(
    model: torch.nn.Module,
    train: Iterable,
    val: Iterable,
    config: RunConfig | None = None,
    *,
    device="auto",
    checkpoint_dir: str | os.PathLike | None = None,
    resume: bool = False,
    checkpoint_key: str | None = None,
    quiet: bool = False,
    desc: str | None = None,
    callbacks: Iterable[Callable[[int, dict, torch.nn.Module], None]] = (),
    multilabel: bool | None = None,
    nan_check_every: int | None = None,
    **settings,
) -> FitResult:
    """Train ``model`` on ``train`` batches under ``config``, validating on ``val`` after every epoch.

    ``train``/``val``: any iterables of ``(x, y)`` — :class:`dive.batches.Batches` or a ``DataLoader``.
    ``config`` (or keyword ``settings`` that build one: ``epochs``, ``optimizer``, ``lr``, ``patience``, ...)
    gives the optimisation; ``config.epochs`` is the maximum, and with ``patience`` training stops after that
    many epochs without an improvement of ``config.monitor`` (validation accuracy, or AUC) greater than
    ``min_delta``. ``restore_best`` (default: on when early stopping) loads the best epoch's weights back.
    ``checkpoint_dir``: a checkpoint after every epoch (:meth:`TrainState.state_dict`, tagged with
    ``checkpoint_key``); ``resume=True`` continues from it to the same result as an uninterrupted run.
    ``callbacks`` are called as ``cb(epoch, record, model)`` after each epoch's checkpoint.
    """
    if config is None:
        config = RunConfig(**settings)
    elif settings:
        config = config.replace(**settings)
    if resume and checkpoint_dir is None:
        raise ValueError("resume=True needs checkpoint_dir")
    device = resolve_device(device)
    keep_freed_memory()  # large tensors reused from step to step, not mapped afresh (dive.allocator)
    plan = _plan_for(model, config, device)
    seed_everything(config.seed, config.deterministic)
    model.to(device)
    model = P.prepare_model(model, device, plan)
    if multilabel is None:
        split = getattr(train, "split", None)
        multilabel = bool(split is not None and split.multilabel)
    state = _new_state(model, train, config, device, plan)
    step = _EpochStep(
        train, val, device, plan, multilabel, nan_check_every or (1 if device.type == "cpu" else 50), config.monitor
    )
    result = FitResult(model=model, monitor=config.monitor, plan=plan.as_dict())
    ckpt_path = Path(checkpoint_dir) / CHECKPOINT_NAME if checkpoint_dir is not None else None
    if ckpt_path is not None:
        ckpt_path.parent.mkdir(parents=True, exist_ok=True)
    if resume and ckpt_path is not None:
        result.resumed_from = _resume(state, ckpt_path, checkpoint_key, device)
    start = config.epochs + 1 if state.finished else state.epoch + 1
    bar = tqdm(
        range(start, config.epochs + 1), desc=desc or "epochs", disable=quiet, leave=True, initial=start - 1,
        total=config.epochs,
    )  # fmt: skip
    for epoch in bar:
        record = step(state, epoch)
        state.finished = state.stopped_early or epoch == config.epochs
        bar.set_postfix(
            loss=f"{record['train_loss']:.4f}", acc=f"{record['train_acc']:.4f}", val_acc=f"{record['val_acc']:.4f}",
            best=state.early.best_epoch,
        )  # fmt: skip
        if ckpt_path is not None:
            save_checkpoint({"key": checkpoint_key, **state.state_dict()}, ckpt_path)
        for cb in callbacks:
            cb(epoch, record, model)
        if state.stopped_early:
            break
    bar.close()
    result = _finish(result, state, config.restore_best)
    del state, step  # the optimizer's state and the last batches go before the free memory goes back
    release_freed_memory()
    return result


def _plan_for(model, config: RunConfig, device) -> P.Plan:
    """The precision plan of ``config`` for ``model`` (its own name and input size, where it has a spec)."""
    spec = getattr(model, "spec", None)
    model_name = getattr(spec, "name", None) or config.model
    size = config.image_size or getattr(spec, "input_size", None)
    return P.plan(
        config.precision, config.channels_last, config.compile, device=device, model_name=model_name, image_size=size
    )


def _new_state(model, train, config: RunConfig, device, plan: P.Plan) -> TrainState:
    """A fresh :class:`TrainState`: the config's optimizer and scheduler, the plan's gradient scaler, early stopping."""
    opt = make_optimizer(
        config.optimizer, model.parameters(), lr=config.lr, weight_decay=config.weight_decay, momentum=config.momentum
    )
    return TrainState(
        model,
        opt,
        make_scheduler(config.scheduler, opt, config.epochs, **config.scheduler_kwargs),
        P.grad_scaler(device, plan),
        EarlyStopping(config.patience, config.min_delta),
        train,
    )


def _resume(state: TrainState, ckpt_path: Path, key: str | None, device) -> int | None:
    """Load the checkpoint at ``ckpt_path`` into ``state``; the epoch it resumes from (None: there was none, or it
    was damaged and is set aside with a warning)."""
    try:
        saved = load_checkpoint(ckpt_path, key, map_location=device)
    except DamagedFile as err:
        warnings.warn(S.set_aside(ckpt_path, f"the checkpoint {err}") + "; training starts afresh", stacklevel=3)
        return None
    if saved is None:
        return None
    state.load_state_dict(saved)
    return state.epoch


@dataclass
class _EpochStep:
    """One epoch of :func:`fit`: train, validate, step the scheduler, record, ask early stopping."""

    train: Iterable
    val: Iterable
    device: torch.device
    plan: P.Plan
    multilabel: bool
    check_every: int
    monitor: str

    def __call__(self, state: TrainState, epoch: int) -> dict:
        t0 = time.perf_counter()
        with_auc = self.monitor == "val_auc"
        tr = train_one_epoch(
            state.model, self.train, state.optimizer, device=self.device, epoch=epoch, multilabel=self.multilabel,
            plan=self.plan, scaler=state.scaler, check_every=self.check_every,
        )  # fmt: skip
        ev = evaluate(
            state.model, self.val, device=self.device, multilabel=self.multilabel, plan=self.plan, with_auc=with_auc
        )
        score = ev["auc"] if with_auc else ev["acc"]
        lr_now = state.optimizer.param_groups[0]["lr"]
        if isinstance(state.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            state.scheduler.step(score)
        elif state.scheduler is not None:
            state.scheduler.step()
        seconds = time.perf_counter() - t0
        record = {
            "epoch": epoch,
            "train_loss": tr["loss"],
            "train_acc": tr["acc"],
            "val_loss": ev["loss"],
            "val_acc": ev["acc"],
            "lr": lr_now,
            "seconds": seconds,
        }
        if with_auc:
            record["val_auc"] = ev["auc"]
        state.history.append(record)
        state.seconds += seconds
        state.epoch = epoch
        state.stopped_early = state.early.step(score, epoch, state.model)
        return record


def _finish(result: FitResult, state: TrainState, restore_best: bool) -> FitResult:
    """``result`` filled from the final ``state``; the best epoch's weights back in the model if ``restore_best``."""
    result.history = state.history
    result.seconds = state.seconds
    result.stopped_early = state.stopped_early
    result.epochs_run = len(state.history)
    result.best_epoch = state.early.best_epoch
    result.best_score = None if state.early.best_epoch is None else state.early.best_score
    if state.early.best_epoch is not None:
        result.best_val_acc = state.history[state.early.best_epoch - 1]["val_acc"]
    if restore_best and state.early.best_state is not None:
        state.model.load_state_dict(state.early.best_state)
        result.restored_best = True
    return result


def _check_finite(losses, epoch: int, first_step: int) -> None:
    if not losses:
        return
    vals = torch.stack([v.double().reshape(()) for v in losses])
    finite = torch.isfinite(vals)
    if bool(finite.all()):
        return
    bad = int((~finite).nonzero()[0])
    raise NonFiniteLossError(
        f"training loss became {vals[bad].item()} at epoch {epoch}, step {first_step + bad}; stopping. "
        "Try a smaller learning rate (the report's lr 0.1 diverged on MNIST). "
        "The last checkpoint (if checkpoint_dir was given) holds the previous epoch."
    )

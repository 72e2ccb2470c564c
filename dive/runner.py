"""One run: a :class:`~dive.config.RunConfig` in, a :class:`RunResult` out (:func:`run`).

The notebooks describe *what* the report tried; :func:`run` does it the same way every time, so a
notebook cell reads like the report's sentence ("AlexNet, Adagrad lr 0.01, batch 64, balanced,
early stopping with patience 8") and nothing is defined in the notebook itself. Notebooks reach it through
:mod:`dive.experiment`; :mod:`dive.executors` runs many of them (here or on Ray).

A run is identified by its **key**: the hash of the config's fingerprint, the fingerprint of the data
actually used (dataset, split, sizes, a content hash of images and labels) and the precision plan
it ran with. The key is stored inside every checkpoint and result, so a checkpoint of another run
is never resumed (it is set aside, renamed, with a note), and a *run store* (one folder per key,
``<store>/<key>/`` with ``config.json``, ``checkpoint.pt`` and ``result.pt``) lets every notebook
load a run that any notebook already finished instead of training it again. :mod:`dive.store` reads and
writes those files (no code runs from them; damaged ones are set aside; one trainer per run).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from dive import metrics as M
from dive import precision as P
from dive import store as S
from dive.batches import Batches, Preprocess
from dive.config import RunConfig
from dive.data import DatasetBundle
from dive.models import WeightsNotFoundError, build_model, model_spec, weights_cache_path  # noqa: F401 - re-exported
from dive.store import CONFIG_NAME, RESULT_NAME, DamagedFile  # noqa: F401 - re-exported
from dive.train import CHECKPOINT_NAME, CheckpointMismatch, FitResult, fit, load_checkpoint
from dive.utils import resolve_device, seed_everything


@dataclass
class RunResult:
    """Everything one run produced (the model holds the weights ``fit`` ended with)."""

    name: str
    config: RunConfig
    fit: FitResult
    model: torch.nn.Module
    val: dict
    test: dict | None = None
    val_probs: np.ndarray | None = None
    test_probs: np.ndarray | None = None
    y_val: np.ndarray | None = None
    y_test: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)
    key: str | None = None
    data_fingerprint: dict | None = None
    run_dir: Path | None = None
    loaded: bool = False  # True: taken from the run store, not trained in this call

    @property
    def model_name(self) -> str:
        return self.config.model

    @property
    def seed(self) -> int:
        return self.config.seed

    @property
    def history(self) -> list[dict]:
        return self.fit.history

    @property
    def params(self) -> dict:
        """What ``metrics.json`` records for the run: the full config, the plan, the data and the key."""
        return {**self.config.to_dict(), "plan": self.fit.plan, "data": self.data_fingerprint, "key": self.key}

    def at_epoch(self, epoch: int) -> dict:
        """The history record of ``epoch`` (what a run of only ``epoch`` fixed epochs would have reached:
        training is the same up to there). Raises when the run did not get that far or stopped early."""
        if self.config.patience is not None or self.config.scheduler not in (None, "step", "multistep"):
            raise ValueError(
                f"{self.name}: early stopping or a length-dependent scheduler; epoch {epoch} of this "
                "run is not what a shorter run would reach"
            )
        if not 1 <= epoch <= len(self.history):
            raise ValueError(f"{self.name} ran {len(self.history)} epochs, not {epoch}")
        return self.history[epoch - 1]

    def row(self) -> dict:
        """A flat summary for tables."""
        r = {
            "run": self.name,
            "model": self.model_name,
            "seed": self.seed,
            "epochs_run": self.fit.epochs_run,
            "best_epoch": self.fit.best_epoch,
            "s_per_epoch": round(self.fit.seconds_per_epoch or 0.0, 2),
            **{f"val_{k}": v for k, v in M.metrics_row(self.val).items()},
        }
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
        return False, (
            f"{model_name}: ImageNet weights not found at {path} (offline?); trained from scratch (pretrained=False)"
        )
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


# ------------------------------------------------------------------------------ configs


def config_for(data: DatasetBundle, model: str, **settings) -> tuple[RunConfig, str | None]:
    """The keyword style of :func:`run`: a :class:`RunConfig` for ``model`` on ``data``.

    The data settings (dataset, split, its seed, the files' image size) come from ``data``;
    ``pretrained="auto"`` is resolved here (returned note says so when the weights are missing);
    ``augment=True`` is the report's augmentation. Every other default is ``RunConfig``'s.
    """
    settings = dict(settings)
    use, note = resolve_pretrained(model, settings.pop("pretrained", False))
    if settings.pop("amp", False):
        settings.setdefault("precision", "auto")
    base = {"dataset": data.name, "split": data.split, "split_seed": data.seed, "file_size": data.size}
    return RunConfig(model=model, pretrained=use, **{**base, **settings}), note


def check_data(config: RunConfig, data: DatasetBundle) -> None:
    """``data`` must be what ``config`` describes (dataset, split, split seed, size of the files)."""
    have = {"dataset": data.name, "split": data.split, "file_size": data.size}
    if data.split == "report" or data.split_mode != "official":
        have["split_seed"] = data.seed
    bad = [f"{k}: config {getattr(config, k)!r}, data {v!r}" for k, v in have.items() if getattr(config, k) != v]
    if bad:
        raise ValueError(
            "the data do not match the run's config (" + "; ".join(bad) + "); load them with "
            "dive.data.load_for(config, root)"
        )


def _tensor_digest(h, t: torch.Tensor, max_items: int = 1024) -> None:
    """Feed ``h`` with the shape, dtype and an evenly spaced sample of the rows (all of them when few)."""
    h.update(f"{tuple(t.shape)}{t.dtype}".encode())
    if len(t) > max_items:
        t = t[torch.linspace(0, len(t) - 1, max_items).long()]
    h.update(t.contiguous().cpu().numpy().tobytes())


def data_fingerprint(data: DatasetBundle) -> dict:
    """What the run was trained and scored on: dataset, split, sizes, and a cheap content hash of the
    labels (all of them) and the images (up to 1,024 evenly spaced images per split)."""
    h = hashlib.sha256()
    for split in (data.train, data.val, data.test):
        h.update(split.labels.contiguous().cpu().numpy().tobytes())
        _tensor_digest(h, split.images)
    return {
        "dataset": data.name,
        "split": data.split_mode,
        "split_seed": data.seed,
        "file_size": data.size,
        "synthetic": bool(data.synthetic),
        "sizes": [len(data.train), len(data.val), len(data.test)],
        "content": h.hexdigest()[:16],
    }


def run_key(config: RunConfig, data_fp: dict, plan: P.Plan) -> str:
    text = json.dumps(
        {"config": config.fingerprint(), "data": data_fp, "plan": [plan.precision, plan.channels_last, plan.compile]},
        sort_keys=True,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def input_size(config: RunConfig) -> int:
    """The side the network sees: ``config.image_size``, else the model's own (28 for the SimpleCNNs)."""
    return config.image_size or model_spec(config.model).input_size


def preprocess_for(config: RunConfig, data: DatasetBundle, spec) -> Preprocess:
    """The preprocessing of a run: the model's input size, its normalisation, the augmentation."""
    stats = data.train.mean_std() if config.normalize in ("auto", "dataset") else None
    return Preprocess.for_model(
        spec, size=config.image_size, augment=config.augment, dataset_stats=stats, normalize=config.normalize
    )


def _prepare_checkpoint(ckpt_dir: Path, key: str) -> str | None:
    """Leave a checkpoint of this very run in place; set aside one of another run, or one that cannot be
    read without running code or is damaged (with a note naming it and why)."""
    path = ckpt_dir / CHECKPOINT_NAME
    try:
        load_checkpoint(path, key)
    except CheckpointMismatch:
        why = f"the checkpoint in {ckpt_dir} belongs to another run (other config or data)"
    except DamagedFile as err:
        why = f"the checkpoint {err}"
    except Exception as err:  # unreadable otherwise: keep it for inspection, never resume it
        why = f"the checkpoint {path} could not be read ({type(err).__name__}: {err})"
    else:
        return None
    return S.set_aside(path, why) + " and this run started afresh"


# ------------------------------------------------------------------------------ run


def run(
    data: DatasetBundle,
    config: RunConfig | str,
    *,
    name: str | None = None,
    outputs=None,
    store: str | os.PathLike | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    checkpoints: bool | None = None,
    evaluate_test: bool = False,
    device="auto",
    resume: bool = True,
    quiet: bool | None = None,
    callbacks=(),
    **settings,
) -> RunResult:
    """Train the run ``config`` describes on ``data`` and evaluate it on validation (and test, if asked).

    ``data``: the full bundle of ``config.dataset`` (``config``'s subset sizes are drawn here, with
    ``config.split_seed``). ``config`` may also be a model name with the settings as keywords (the
    keyword style; see :func:`config_for`), or a config whose ``settings`` are replaced.

    ``store``: a run store (default: ``outputs.run_store`` when ``outputs`` is given). A run the store
    already holds (same config, same data, same precision plan) is loaded, not trained again, and the
    result says so in a note; an interrupted one resumes from its last epoch. Only one process trains a run:
    another that needs it meanwhile waits for the run's lock and loads the result; a damaged stored file is
    set aside with a note (:mod:`dive.store`). Without a store,
    ``checkpoint_dir`` keeps a per-epoch checkpoint that is resumed only when it belongs to this very
    run. ``checkpoints=False`` (e.g. the profile's ``checkpoints: false``) writes no per-epoch
    checkpoint; a store still keeps the finished result. ``outputs``: the run is recorded there.
    """
    notes: list[str] = []
    if isinstance(config, str):
        config, note = config_for(data, config, **settings)
        notes += [note] if note else []
    elif settings:
        config = config.replace(**settings)
    job = _Run.prepare(data, config, name, device, quiet, evaluate_test, resume, outputs)
    if store is None and outputs is not None:
        store = getattr(outputs, "run_store", None)
    if checkpoints is None:
        checkpoints = bool(getattr(outputs, "checkpoints", True)) if outputs is not None else True
    if store is None:
        ckpt_dir = Path(checkpoint_dir) if checkpoint_dir is not None and checkpoints else None
        return job.train(notes, None, ckpt_dir, callbacks)
    return job.through_store(Path(store) / job.key, notes, checkpoints, callbacks)


#: Why a stored result is not used, continued.
_AGAIN = "; the run is trained again (from its last checkpoint when there is one)"


@dataclass
class _Run:
    """One run of :func:`run`: what it is (config, the data drawn for it, precision plan, key) and how it is
    done (device, progress, resume, where it is recorded). Its steps: :meth:`through_store` (load, or wait for
    another process, or train), :meth:`train`, :meth:`score` and :meth:`load`."""

    data: DatasetBundle
    config: RunConfig
    name: str
    device: torch.device
    plan: P.Plan
    data_fp: dict
    key: str
    evaluate_test: bool
    resume: bool
    quiet: bool
    outputs: object = None

    @classmethod
    def prepare(cls, data, config, name, device, quiet, evaluate_test, resume, outputs) -> _Run:
        """Check the data against ``config``, draw its subsets, plan the precision, compute the run's key."""
        check_data(config, data)
        data = data.subsets(train=config.train_size, val=config.val_size, test=config.test_size, seed=config.split_seed)
        dev = resolve_device(device)
        quiet = bool(os.environ.get("DIVE_QUIET")) if quiet is None else quiet
        plan = P.plan(
            config.precision,
            config.channels_last,
            config.compile,
            device=dev,
            model_name=config.model,
            image_size=input_size(config),
        )
        data_fp = data_fingerprint(data)
        key = run_key(config, data_fp, plan)
        return cls(data, config, name or config.model, dev, plan, data_fp, key, evaluate_test, resume, quiet, outputs)

    @property
    def record(self) -> dict:
        """The run's ``config.json`` in the run store."""
        return {
            "key": self.key,
            "name": self.name,
            "config": self.config.to_dict(),
            "data": self.data_fp,
            "plan": self.plan.as_dict(),
        }

    def through_store(self, run_dir: Path, notes: list[str], checkpoints: bool, callbacks) -> RunResult:
        """The run from the store folder ``run_dir``: loaded when finished; else trained here, under the run's
        lock (a process that finds it locked waits, then loads what the other trained)."""
        early: list[str] = []
        loaded = self.load(run_dir, early)
        if loaded is not None:
            return self._found(loaded, run_dir, notes, early)
        run_dir.mkdir(parents=True, exist_ok=True)
        with S.RunLock(run_dir) as lock:  # one trainer per run: another process that needs it waits here
            early += lock.notes
            loaded = self.load(run_dir, early)
            if loaded is not None:  # the process we waited for finished it
                return self._found(loaded, run_dir, notes, early)
            why = S.check_record(run_dir, self.key)
            early += [f"{self.name}: {why}"] if why else []
            S.save_json(self.record, run_dir / CONFIG_NAME)
            return self.train(notes + early, run_dir, run_dir if checkpoints else None, [*callbacks, lock.touch])

    def _found(self, r: RunResult, run_dir: Path, notes: list[str], extra: list[str]) -> RunResult:
        why = S.check_record(run_dir, self.key)
        if why:
            extra = [*extra, f"{self.name}: {why}"]
            S.save_json({**self.record, "name": r.name}, run_dir / CONFIG_NAME)
        r.notes = notes + extra + r.notes
        r.data_fingerprint = self.data_fp
        if self.outputs is not None:
            record(self.outputs, r)
        return r

    def _build(self, *, pretrained: bool) -> torch.nn.Module:
        c, d = self.config, self.data
        return build_model(
            c.model,
            d.num_classes,
            d.channels,
            pretrained=pretrained,
            batch_norm=c.batch_norm,
            dropout=c.dropout,
            activation=c.activation,
            image_size=c.image_size or 28,
            multilabel=d.train.multilabel,
        )

    def _batches(self, split, pre: Preprocess, *, train: bool = False) -> Batches:
        """Training batches (shuffled or balanced, augmented) or evaluation batches (in order, the config's
        evaluation batch size) of ``split``."""
        c, cl = self.config, self.plan.channels_last
        if train:
            return Batches(
                split, c.batch_size, pre, device=self.device, shuffle=True, balanced=c.balanced, train=True,
                seed=c.seed, channels_last=cl,
            )  # fmt: skip
        return Batches(split, c.evaluation_batch_size(), pre, device=self.device, channels_last=cl)

    def train(self, notes: list[str], run_dir: Path | None, ckpt_dir: Path | None, callbacks) -> RunResult:
        """Train (or resume) the run, score it, store it in ``run_dir`` (when given) and record it."""
        if ckpt_dir is not None:
            ckpt_dir.mkdir(parents=True, exist_ok=True)
            if not self.resume and (ckpt_dir / CHECKPOINT_NAME).exists():
                notes.append(S.set_aside(ckpt_dir / CHECKPOINT_NAME, "resume=False") + " and this run started afresh")
            why = _prepare_checkpoint(ckpt_dir, self.key)
            if why:
                notes.append(f"{self.name}: {why}")
        seed_everything(self.config.seed, self.config.deterministic)  # the initial weights depend on the seed
        net = self._build(pretrained=self.config.pretrained)
        pre = preprocess_for(self.config, self.data, net.spec)
        train_b = self._batches(self.data.train, pre, train=True)
        result = fit(
            net, train_b, self._batches(self.data.val, pre), self.config, device=self.device,
            checkpoint_dir=ckpt_dir, resume=ckpt_dir is not None, checkpoint_key=self.key, quiet=self.quiet,
            desc=self.name, callbacks=callbacks,
        )  # fmt: skip
        if result.resumed_from:
            notes.append(f"{self.name}: resumed from the checkpoint of epoch {result.resumed_from} in {ckpt_dir}")
        out = self.score(result, net, pre)
        out.notes, out.key, out.data_fingerprint, out.run_dir = notes, self.key, self.data_fp, run_dir
        if run_dir is not None:
            S.save_result(run_dir, _stored(out))
        if self.outputs is not None:
            record(self.outputs, out)
        return out

    def _predict(self, net, pre: Preprocess, split) -> tuple[np.ndarray, np.ndarray, dict]:
        """Labels, probabilities and metrics of ``net`` on ``split``: the one way a run is scored."""
        y, p = M.predict(net, self._batches(split, pre), multilabel=self.data.train.multilabel, plan=self.plan)
        return y, p, M.evaluate(y, p, self.data.task, self.data.classes)

    def score(self, result: FitResult, net, pre: Preprocess) -> RunResult:
        """The trained ``net`` scored on validation (and test, when asked)."""
        y_val, p_val, val = self._predict(net, pre, self.data.val)
        y_test = p_test = test = None
        if self.evaluate_test:
            y_test, p_test, test = self._predict(net, pre, self.data.test)
        return RunResult(self.name, self.config, result, net, val, test, p_val, p_test, y_val, y_test)

    def load(self, run_dir: Path, notes: list[str]) -> RunResult | None:
        """The finished run in ``run_dir`` (None: there is none). A result that cannot be read without running
        code, is damaged, or is another run's is set aside with a note in ``notes`` (the run is then trained)."""
        try:
            saved = S.load_result(run_dir, self.key, self.config.to_dict())
            if saved is None:
                return None
            net = self._build(pretrained=False)  # every weight comes from the store
            fr = _restore(net, saved, run_dir / RESULT_NAME)
        except S.OtherRun as err:
            why = f"the stored result {err.path} is of another run"
            notes.append(f"{self.name}: " + S.set_aside(err.path, why) + _AGAIN)
            return None
        except DamagedFile as err:
            notes.append(f"{self.name}: " + S.set_aside(err.path, f"the stored result {err}") + _AGAIN)
            return None
        net.to(self.device)
        got = [saved["val"], *(saved.get(k) for k in ("test", "val_probs", "test_probs", "y_val", "y_test"))]
        r = RunResult(self.name, self.config, fr, net, *got, key=self.key, run_dir=run_dir, loaded=True)
        if self.evaluate_test and r.test is None:
            pre = preprocess_for(self.config, self.data, net.spec)
            r.y_test, r.test_probs, r.test = self._predict(net, pre, self.data.test)
            S.save_result(run_dir, _stored(r))
        first = saved.get("name") or "another run"
        r.notes = [f"{self.name}: loaded from the run store ({run_dir}; trained before as {first!r}), not retrained"]
        return r


def _restore(net: torch.nn.Module, saved: dict, path: Path) -> FitResult:
    """The stored weights into ``net`` and the stored fit as a :class:`FitResult` (DamagedFile: they do not fit)."""
    try:
        net.load_state_dict(saved["model"])
        return FitResult(model=net, **saved["fit"])
    except (RuntimeError, TypeError, KeyError) as err:
        raise DamagedFile(path, f"does not fit this run's model ({type(err).__name__}: {err})") from err


#: What of a :class:`~dive.train.FitResult` the run store keeps.
_FIT_FIELDS = (
    "history", "best_epoch", "best_val_acc", "best_score", "monitor", "epochs_run", "stopped_early", "restored_best",
    "seconds", "plan",
)  # fmt: skip


def _stored(r: RunResult) -> dict:
    """What the run store keeps of a finished run (:func:`dive.store.save_result`)."""
    return {
        "key": r.key,
        "config": r.config.to_dict(),
        "fit": {k: getattr(r.fit, k) for k in _FIT_FIELDS},
        "model": r.model.state_dict(),
        "val": r.val,
        "test": r.test,
        "val_probs": r.val_probs,
        "test_probs": r.test_probs,
        "y_val": r.y_val,
        "y_test": r.y_test,
        "finished_at": time.time(),
        "name": r.name,
    }


def record(outputs, result: RunResult, extra: dict | None = None) -> None:
    """Add a run to a :class:`dive.outputs.Outputs` (and its notes, once each)."""
    for n in result.notes:
        if n not in getattr(outputs, "notes", []):
            outputs.note(n)
    outputs.add_run(
        result.name,
        result.model_name,
        result.params,
        fit=result.fit,
        val=result.val,
        test=result.test,
        extra=extra,
        seed=result.seed,
        config=result.config,
    )

"""One call per experiment run: a :class:`~dive.config.RunConfig` in, a :class:`RunResult` out.

The notebooks describe *what* the report tried; :func:`run` does it the same way every time, so a
notebook cell reads like the report's sentence ("AlexNet, Adagrad lr 0.01, batch 64, balanced,
early stopping with patience 8") and nothing is defined in the notebook itself.

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
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from dive import metrics as M
from dive import precision as P
from dive import store as S
from dive.batches import Batches, Preprocess
from dive.config import RunConfig
from dive.data import DatasetBundle
from dive.models import WeightsNotFoundError, build_model, weights_cache_path  # noqa: F401 - re-exported
from dive.store import CONFIG_NAME, RESULT_NAME, DamagedFile  # noqa: F401 - re-exported
from dive.train import CHECKPOINT_NAME, CheckpointMismatch, FitResult, fit, load_checkpoint
from dive.utils import resolve_device


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
    base = {"dataset": data.name, "split": _split_of(data), "split_seed": data.seed, "file_size": data.size}
    return RunConfig(model=model, pretrained=use, **{**base, **settings}), note


def _split_of(data: DatasetBundle) -> str:
    return "report" if data.split_mode == "report" else "official"


def check_data(config: RunConfig, data: DatasetBundle) -> None:
    """``data`` must be what ``config`` describes (dataset, split, split seed, size of the files)."""
    have = {"dataset": data.name, "split": _split_of(data), "file_size": data.size}
    if _split_of(data) == "report" or data.split_mode != "official":
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
    from dive.models import model_spec

    return config.image_size or model_spec(config.model).input_size


def preprocess_for(config: RunConfig, data: DatasetBundle, spec) -> Preprocess:
    """The preprocessing of a run: the model's input size, its normalisation, the augmentation."""
    stats = data.train.mean_std() if config.normalize in ("auto", "dataset") else None
    return Preprocess.for_model(
        spec, size=config.image_size, augment=config.augment, dataset_stats=stats, normalize=config.normalize
    )


def _build(config: RunConfig, data: DatasetBundle, *, pretrained: bool) -> torch.nn.Module:
    return build_model(
        config.model,
        data.num_classes,
        data.channels,
        pretrained=pretrained,
        batch_norm=config.batch_norm,
        dropout=config.dropout,
        activation=config.activation,
        image_size=config.image_size or 28,
        multilabel=data.train.multilabel,
    )


def _set_aside(path: Path, why: str) -> str:
    return S.set_aside(path, why) + " and this run started afresh"


def _prepare_checkpoint(ckpt_dir: Path, key: str) -> str | None:
    """Leave a checkpoint of this very run in place; set aside one of another run, or one that cannot be
    read without running code or is damaged (with a note naming it and why)."""
    path = ckpt_dir / CHECKPOINT_NAME
    try:
        load_checkpoint(path, key)
    except CheckpointMismatch:
        return _set_aside(path, f"the checkpoint in {ckpt_dir} belongs to another run (other config or data)")
    except DamagedFile as err:
        return _set_aside(path, f"the checkpoint {err}")
    except Exception as err:  # unreadable otherwise: keep it for inspection, never resume it
        return _set_aside(path, f"the checkpoint {path} could not be read ({type(err).__name__}: {err})")
    return None


def _check_config_file(run_dir: Path, key: str) -> str | None:
    """``config.json`` of the run folder must be this run's record; one that is not is set aside (a note)."""
    path = run_dir / CONFIG_NAME
    try:
        rec = S.load_json(path)
    except DamagedFile as err:
        return S.set_aside(path, f"the run record {err}") + "; a new one is written"
    if rec is not None and rec.get("key") != key:
        return S.set_aside(path, f"the run record {path} names run {rec.get('key')!r}, not {key!r}") + (
            "; a new one is written"
        )
    return None


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
    run_name = name or config.model
    if store is None and outputs is not None:
        store = getattr(outputs, "run_store", None)
    if checkpoints is None:
        checkpoints = bool(getattr(outputs, "checkpoints", True)) if outputs is not None else True

    def train(notes_: list[str], run_dir_: Path | None, ckpt_dir: Path | None, callbacks_) -> RunResult:
        return _train(
            data, config, key, data_fp, plan, dev, run_name, notes_, run_dir_, ckpt_dir, resume, quiet, callbacks_,
            evaluate_test, outputs,
        )  # fmt: skip

    run_dir = Path(store) / key if store is not None else None
    if run_dir is None:
        ckpt_dir = Path(checkpoint_dir) if checkpoint_dir is not None and checkpoints else None
        return train(notes, None, ckpt_dir, callbacks)

    record_ = {"key": key, "name": run_name, "config": config.to_dict(), "data": data_fp, "plan": plan.as_dict()}

    def found(r: RunResult, extra: list[str]) -> RunResult:
        why = _check_config_file(run_dir, key)
        if why:
            extra = [*extra, f"{run_name}: {why}"]
            S.save_json({**record_, "name": r.name}, run_dir / CONFIG_NAME)
        r.notes = notes + extra + r.notes
        r.data_fingerprint = data_fp
        if outputs is not None:
            record(outputs, r)
        return r

    early: list[str] = []
    loaded = _load_stored(run_dir, key, config, data, dev, plan, run_name, evaluate_test, early)
    if loaded is not None:
        return found(loaded, early)
    run_dir.mkdir(parents=True, exist_ok=True)
    with S.RunLock(run_dir) as lock:  # one trainer per run: another process that needs it waits here
        early += lock.notes
        loaded = _load_stored(run_dir, key, config, data, dev, plan, run_name, evaluate_test, early)
        if loaded is not None:  # the process we waited for finished it
            return found(loaded, early)
        why = _check_config_file(run_dir, key)
        early += [f"{run_name}: {why}"] if why else []
        S.save_json(record_, run_dir / CONFIG_NAME)
        return train(notes + early, run_dir, run_dir if checkpoints else None, [*callbacks, lock.touch])


def _train(
    data,
    config,
    key,
    data_fp,
    plan,
    dev,
    run_name,
    notes,
    run_dir,
    ckpt_dir,
    resume,
    quiet,
    callbacks,
    evaluate_test,
    outputs,
) -> RunResult:
    """Train (or resume) one run, score it, store it in ``run_dir`` (when given) and record it."""
    if ckpt_dir is not None:
        ckpt_dir.mkdir(parents=True, exist_ok=True)
        if not resume and (ckpt_dir / CHECKPOINT_NAME).exists():
            notes.append(_set_aside(ckpt_dir / CHECKPOINT_NAME, "resume=False"))
        why = _prepare_checkpoint(ckpt_dir, key)
        if why:
            notes.append(f"{run_name}: {why}")

    from dive.utils import seed_everything

    seed_everything(config.seed, config.deterministic)  # the initial weights depend on the seed
    net = _build(config, data, pretrained=config.pretrained)
    pre = preprocess_for(config, data, net.spec)
    train_b = Batches(
        data.train,
        config.batch_size,
        pre,
        device=dev,
        shuffle=True,
        balanced=config.balanced,
        train=True,
        seed=config.seed,
        channels_last=plan.channels_last,
    )
    eb = config.eval_batch_size or max(config.batch_size, 128)
    val_b = Batches(data.val, eb, pre, device=dev, channels_last=plan.channels_last)
    result = fit(
        net,
        train_b,
        val_b,
        config,
        device=dev,
        checkpoint_dir=ckpt_dir,
        resume=ckpt_dir is not None,
        checkpoint_key=key,
        quiet=quiet,
        desc=run_name,
        callbacks=callbacks,
    )
    if result.resumed_from:
        notes.append(f"{run_name}: resumed from the checkpoint of epoch {result.resumed_from} in {ckpt_dir}")
    out = _score(run_name, config, result, net, data, pre, dev, plan, evaluate_test, eb)
    out.notes, out.key, out.data_fingerprint, out.run_dir = notes, key, data_fp, run_dir
    if run_dir is not None:
        _save_result(run_dir, out)
    if outputs is not None:
        record(outputs, out)
    return out


def _score(run_name, config, result, net, data, pre, dev, plan, evaluate_test: bool, eb: int) -> RunResult:
    multilabel = data.train.multilabel
    val_b = Batches(data.val, eb, pre, device=dev, channels_last=plan.channels_last)
    y_val, p_val = M.predict(net, val_b, multilabel=multilabel, plan=plan)
    val = M.evaluate(y_val, p_val, data.task, data.classes)
    test = p_test = y_test = None
    if evaluate_test:
        test_b = Batches(data.test, eb, pre, device=dev, channels_last=plan.channels_last)
        y_test, p_test = M.predict(net, test_b, multilabel=multilabel, plan=plan)
        test = M.evaluate(y_test, p_test, data.task, data.classes)
    return RunResult(run_name, config, result, net, val, test, p_val, p_test, y_val, y_test)


def _save_result(run_dir: Path, r: RunResult) -> None:
    fit_state = {
        k: getattr(r.fit, k)
        for k in (
            "history",
            "best_epoch",
            "best_val_acc",
            "best_score",
            "monitor",
            "epochs_run",
            "stopped_early",
            "restored_best",
            "seconds",
            "plan",
        )
    }
    obj = {
        "key": r.key,
        "config": r.config.to_dict(),
        "fit": fit_state,
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
    S.save_torch(S.to_plain(obj), run_dir / RESULT_NAME)


_AGAIN = "; the run is trained again (from its last checkpoint when there is one)"


def _load_stored(
    run_dir: Path,
    key: str,
    config: RunConfig,
    data: DatasetBundle,
    dev,
    plan,
    run_name: str,
    evaluate_test: bool,
    notes: list[str],
) -> RunResult | None:
    """The finished run in ``run_dir`` (None: there is none). A result that cannot be read without running
    code, is damaged, or is another run's is set aside with a note in ``notes`` (the run is then trained)."""
    path = run_dir / RESULT_NAME
    try:
        saved = S.load_torch(path)
        if saved is None:
            return None
        if not isinstance(saved, dict) or not {"key", "config", "model", "fit", "val"} <= set(saved):
            raise DamagedFile(path, f"is not a dive run result (a {type(saved).__name__} without key, model, fit)")
        if saved.get("key") != key or saved.get("config") != config.to_dict():
            notes.append(f"{run_name}: " + S.set_aside(path, f"the stored result {path} is of another run") + _AGAIN)
            return None
        saved = S.from_plain(saved)
        net = _build(config, data, pretrained=False)  # every weight comes from the store
        try:
            net.load_state_dict(saved["model"])
            fr = FitResult(model=net, **saved["fit"])
        except (RuntimeError, TypeError, KeyError) as err:
            raise DamagedFile(path, f"does not fit this run's model ({type(err).__name__}: {err})") from err
    except DamagedFile as err:
        notes.append(f"{run_name}: " + S.set_aside(path, f"the stored result {err}") + _AGAIN)
        return None
    net.to(dev)
    pre = preprocess_for(config, data, net.spec)
    eb = config.eval_batch_size or max(config.batch_size, 128)
    r = RunResult(
        run_name,
        config,
        fr,
        net,
        saved["val"],
        saved.get("test"),
        saved.get("val_probs"),
        saved.get("test_probs"),
        saved.get("y_val"),
        saved.get("y_test"),
        key=key,
        run_dir=run_dir,
        loaded=True,
    )
    if evaluate_test and r.test is None:
        test_b = Batches(data.test, eb, pre, device=dev, channels_last=plan.channels_last)
        r.y_test, r.test_probs = M.predict(net, test_b, multilabel=data.train.multilabel, plan=plan)
        r.test = M.evaluate(r.y_test, r.test_probs, data.task, data.classes)
        _save_result(run_dir, r)
    first = saved.get("name") or "another run"
    r.notes = [f"{run_name}: loaded from the run store ({run_dir}; trained before as {first!r}), not retrained"]
    return r


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


def run_many(data, configs, **kwargs) -> list[RunResult]:
    """Run every config (``executor="local"``, in this process, or ``"ray"``, on a cluster) and return the
    results in the order of ``configs``; see :func:`dive.executors.run_many` for every option."""
    from dive.executors import run_many as _run_many

    return _run_many(data, configs, **kwargs)


def seed_list(seeds, first: int | None = None) -> list[int]:
    """``seeds``: a count (the report's seed 22 first, then 23, 24, ...; ``first`` replaces 22) or an
    explicit list. Every configuration of a notebook runs once per seed."""
    from dive.utils import DEFAULT_SEED

    start = DEFAULT_SEED if first is None else int(first)
    if isinstance(seeds, bool) or seeds is None:
        raise ValueError(f"seeds must be a count >= 1 or a non-empty list of integers, got {seeds!r}")
    if isinstance(seeds, int):
        if seeds < 1:
            raise ValueError(f"seeds must be a count >= 1 or a non-empty list of integers, got {seeds!r}")
        return [start + i for i in range(seeds)]
    out = [int(s) for s in seeds]
    if not out or len(set(out)) != len(out):
        raise ValueError(f"seeds must be a non-empty list of distinct integers, got {seeds!r}")
    return out


@dataclass
class GridResult:
    """The runs of :func:`run_grid`: ``runs[name]`` holds one result per seed (in the order of ``seeds``);
    ``failed[name]`` the seeds whose run failed with an allowed error, with the error."""

    seeds: list[int]
    runs: dict[str, list[RunResult]]
    failed: dict[str, dict[int, BaseException]] = field(default_factory=dict)

    def first(self) -> dict[str, RunResult]:
        """One run per configuration: the first seed's (the report's seed 22 by default), where it ran."""
        return {name: rs[0] for name, rs in self.runs.items() if rs and rs[0].seed == self.seeds[0]}

    def values(self, metric: str = "accuracy", split: str = "val") -> pd.DataFrame:
        """A long frame ``config, seed, value`` for :mod:`dive.stats`."""
        return pd.DataFrame(
            [
                {"config": name, "seed": r.seed, "value": (r.val if split == "val" else r.test)[metric]}
                for name, rs in self.runs.items()
                for r in rs
            ]
        )

    def histories(self) -> dict[str, list[list[dict]]]:
        """``{name: [history per seed]}`` for :func:`dive.plots.learning_curves` (mean with a band)."""
        return {name: [r.history for r in rs] for name, rs in self.runs.items() if rs}


def run_grid(
    data, configs: dict[str, RunConfig], seeds=1, *, allow: tuple[type[BaseException], ...] = (), **kwargs
) -> GridResult:
    """Every named config once per seed, through :func:`run_many` (so ``executor="ray"`` spreads them all).

    Each seed changes the initial weights, the sampler and the augmentation draws (``config.seed``); the data
    split and subsets stay (``split_seed``), so configurations are compared on the same images, seed by seed.
    ``allow``: errors that are results, not failures (a diverging learning rate raises
    :class:`~dive.train.NonFiniteLossError`): such runs are listed in ``failed`` and the others go on.
    """
    from dive.executors import RunFailedError

    seeds = seed_list(seeds)
    jobs = [(name, cfg.replace(seed=s)) for name, cfg in configs.items() for s in seeds]
    results: list[RunResult | None] = [None] * len(jobs)
    failed: dict[str, dict[int, BaseException]] = {}
    todo = list(range(len(jobs)))
    while todo:
        try:
            done = run_many(data, [jobs[i][1] for i in todo], names=[jobs[i][0] for i in todo], **kwargs)
            for i, r in zip(todo, done, strict=True):
                results[i] = r
            todo = []
        except RunFailedError as err:
            fatal = [f for f in err.failures if not isinstance(f[3], allow)]
            if fatal:
                raise
            gone = set()
            for k, r in enumerate(err.results):
                if r is not None:
                    results[todo[k]] = r
            for k, _name, cfg, cause in err.failures:
                failed.setdefault(jobs[todo[k]][0], {})[cfg.seed] = cause
                gone.add(todo[k])
            todo = [i for i in todo if results[i] is None and i not in gone]
    runs: dict[str, list[RunResult]] = {name: [] for name in configs}
    for (name, _), r in zip(jobs, results, strict=True):
        if r is not None:
            runs[name].append(r)
    return GridResult(seeds, runs, failed)


def longest_runs(settings: Iterable[dict], *, varying: str = "epochs") -> dict[tuple, int]:
    """For settings that differ in their number of epochs: one run per combination of the *other* settings,
    as long as the longest of them (a fixed-epoch run of n epochs is the first n epochs of a longer run with
    the same settings and seed; no early stopping, no scheduler that depends on the length).

    ``settings``: dicts with ``varying`` and other keys; returns ``{(other values in key order...): max epochs}``
    in first-seen order. Read the shorter settings back with :meth:`RunResult.at_epoch`.
    """
    longest: dict[tuple, int] = {}
    for s in settings:
        key = tuple(v for k, v in s.items() if k != varying)
        longest[key] = max(longest.get(key, 0), int(s[varying]))
    return longest


def one_at_a_time(defaults: dict, grid: dict[str, list]) -> list[tuple[str, object, dict]]:
    """The report's hyperparameter study design (3.3): vary one setting at a time around ``defaults``.

    Returns ``(parameter, value, settings)`` triples in the grid's order.
    """
    unknown = [k for k in grid if k not in defaults]
    if unknown:
        raise ValueError(f"grid names {unknown} are not among the defaults {sorted(defaults)}")
    return [(k, v, {**defaults, k: v}) for k, values in grid.items() for v in values]

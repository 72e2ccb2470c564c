"""Many runs at once: one after another in this process (``"local"``), or one Ray task each (``"ray"``).

:func:`run_many` takes the configs a notebook built and returns their :class:`~dive.runner.RunResult`
in the order of the configs, whichever executor ran them and in whatever order they finished;
:func:`run_grid` runs named configs once per seed through it (:class:`GridResult`):

* ``"local"`` (default): :func:`dive.runner.run` in a loop, here, with the same arguments.
* ``"ray"``: one Ray task per run with the resources it asks for (default 1 CPU, and 1 GPU where the
  cluster has GPUs), on an existing cluster (``ray_address="auto"``, ``"host:6379"`` or
  ``"ray://host:10001"``), on the Ray instance this process is already connected to, or on a local
  Ray instance started by the first call. The connection stays open for the next call (whose tasks then
  reuse the same worker processes) until ``ray.shutdown()`` or the end of the process. Each worker
  runs :func:`dive.runner.run` with the run store: a per-epoch checkpoint lands in
  ``<store>/<key>/``, so a task whose worker died is retried by Ray (``max_retries``) and resumes from
  its last finished epoch. Runs the store already holds are loaded.

Data reach the workers through Ray's object store when the driver already holds them (the uint8
arrays are shared, not copied, between the workers of one node), or are loaded by each worker from
the data root (``data=None``, or ``transfer="disk"``: the root must be the same path on every node).
For PathMNIST (89,996 + 10,004 + 7,180 images of 28x28x3) the object store costs about 0.5 s once
(``ray.put``) and milliseconds per worker; loading from disk costs 3 to 4 s per worker.

Ray is imported only when ``executor="ray"`` (:func:`dive.ray_cluster.import_ray`, which also connects): it is an
optional extra, and ``import dive.experiment`` never imports it.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import torch

from dive import ray_cluster, runner
from dive.config import RunConfig
from dive.data import DatasetBundle, Split, default_root, load_for
from dive.ray_cluster import (  # noqa: F401 - re-exported: run_many raises them; dive.report starts Ray through here
    ClusterUnreachableError,
    RayUnavailableError,
    check_reachable,
    current_address,
    import_ray,
    start_local_ray,
)
from dive.utils import DEFAULT_SEED, resolve_device

_import_ray = import_ray  # the name dive.report.build calls (and its tests replace)

EXECUTORS = ("local", "ray")
TRANSFERS = ("auto", "object_store", "disk")
#: Keys of ``resources`` (the options of a Ray task that say what one run needs).
RESOURCE_KEYS = ("num_cpus", "num_gpus", "memory", "resources", "accelerator_type")


class RunFailedError(RuntimeError):
    """One or more runs failed for good. ``failures``: ``(index, name, config, cause)`` tuples;
    ``results``: the results of the runs that finished (None where a run failed or never ran)."""

    def __init__(self, message: str, failures: list, results: list):
        super().__init__(message)
        self.failures = failures
        self.results = results


# ------------------------------------------------------------------------------ checks


def _check_args(data, configs, names, executor, transfer, resources, ray_address) -> tuple[list, list]:
    if executor not in EXECUTORS:
        raise ValueError(f"unknown executor {executor!r}; valid: {', '.join(EXECUTORS)}")
    if transfer not in TRANSFERS:
        raise ValueError(f"unknown transfer {transfer!r}; valid: {', '.join(TRANSFERS)}")
    if isinstance(configs, RunConfig):
        raise TypeError("configs must be a list of RunConfig (for one run use dive.runner.run)")
    configs = list(configs)
    bad = [f"#{i}: {type(c).__name__}" for i, c in enumerate(configs) if not isinstance(c, RunConfig)]
    if bad:
        raise TypeError(f"configs must be dive.config.RunConfig objects; not: {', '.join(bad)}")
    if names is None:
        names = [None] * len(configs)
    names = list(names)
    if len(names) != len(configs):
        raise ValueError(f"{len(names)} names for {len(configs)} configs")
    if data is not None and not isinstance(data, DatasetBundle):
        raise TypeError(
            f"data must be a dive.data.DatasetBundle or None (load from data_root), not {type(data).__name__}"
        )
    if data is not None:
        for i, c in enumerate(configs):
            try:
                runner.check_data(c, data)
            except ValueError as err:
                raise ValueError(f"run {_label(i, names[i], c)}: {err}") from None
    if executor == "local" and (resources is not None or ray_address is not None):
        raise ValueError("resources and ray_address apply to executor='ray' only")
    if resources is not None:
        unknown = sorted(set(resources) - set(RESOURCE_KEYS))
        if unknown:
            raise ValueError(f"unknown resources {unknown}; valid: {', '.join(RESOURCE_KEYS)}")
    return configs, names


def _label(i: int, name: str | None, config: RunConfig) -> str:
    return f"{name or config.model!r} (#{i}, config {config.fingerprint()})"


def _describe_failure(i: int, name: str | None, config: RunConfig, cause: BaseException) -> str:
    text = str(cause).strip().splitlines()
    first = text[0] if text else ""
    return f"run {_label(i, name, config)} failed: {type(cause).__name__}: {first}\n    config: {config.describe()}"


def _progress(done: int, total: int, name: str, seconds: float, result, where: str = "") -> None:
    acc = result.val.get("accuracy") if isinstance(result.val, dict) else None
    acc_text = f"val accuracy {acc:.4f}" if acc is not None else "no val accuracy"
    tag = ", loaded from the run store" if getattr(result, "loaded", False) else ""
    print(f"[{done}/{total}] {name}: {seconds:.1f} s, {acc_text}{tag}{where}", flush=True)


def _load_data(config: RunConfig, root) -> DatasetBundle:
    """The full bundle ``config`` needs, from the data root (what every worker can rebuild alone)."""
    return load_for(config, root)


def _data_key(config: RunConfig) -> tuple:
    return config.dataset, config.split, config.split_seed, config.file_size


# ------------------------------------------------------------------------------ entry point


def run_many(
    data: DatasetBundle | None,
    configs,
    *,
    executor: str = "local",
    ray_address: str | None = None,
    store: str | os.PathLike | None = None,
    outputs=None,
    evaluate_test: bool = False,
    names=None,
    resources: dict | None = None,
    max_retries: int = 2,
    data_root: str | os.PathLike | None = None,
    transfer: str = "auto",
    device="auto",
    callbacks=(),
    quiet: bool | None = None,
) -> list:
    """Run every config and return the :class:`~dive.runner.RunResult` list in the order of ``configs``.

    ``data``: the full bundle the configs describe (as for :func:`dive.runner.run`), or ``None``:
    each run loads its own data set from ``data_root`` (default ``$DIVE_DATA``). ``store``: the run
    store (default ``outputs.run_store``); with ``"ray"`` it must be on storage every node sees, as
    must ``data_root`` when workers load from disk. ``outputs``: every result is recorded there, in
    the order of ``configs``. ``names``: one per config (default: the model name).

    ``executor="ray"``: ``ray_address`` ``None`` (the Ray instance this process is connected to, else
    ``$RAY_ADDRESS``, else a local instance started now and kept for the next calls), ``"auto"`` (the
    cluster of this node) or an address; an unreachable one raises :class:`ClusterUnreachableError`
    before any run starts.
    ``resources``: the Ray options of each run (``num_cpus``, ``num_gpus``, ``memory``, ``resources``,
    ``accelerator_type``; default 1 CPU plus 1 GPU when the cluster has GPUs); each CPU worker trains
    with as many torch threads as CPUs it holds. ``max_retries``: how often Ray retries a run whose
    worker died (the retry resumes from the run store's checkpoint); an exception raised by the run
    itself is not retried. ``transfer``: ``"object_store"`` (default when ``data`` is given) or
    ``"disk"``. Runs that fail for good raise :class:`RunFailedError` naming each run and its config,
    after the other runs finished (their results are in the run store).
    """
    configs, names = _check_args(data, configs, names, executor, transfer, resources, ray_address)
    if store is None and outputs is not None:
        store = getattr(outputs, "run_store", None)
    if executor == "local":
        return _run_local(
            data,
            configs,
            names,
            store=store,
            outputs=outputs,
            evaluate_test=evaluate_test,
            data_root=data_root,
            device=device,
            callbacks=callbacks,
            quiet=quiet,
        )
    return _run_ray(
        data,
        configs,
        names,
        ray_address=ray_address,
        store=store,
        outputs=outputs,
        evaluate_test=evaluate_test,
        resources=resources,
        max_retries=max_retries,
        data_root=data_root,
        transfer=transfer,
        device=device,
        callbacks=callbacks,
        quiet=quiet,
    )


# ------------------------------------------------------------------------------ local


def _run_local(data, configs, names, *, store, outputs, evaluate_test, data_root, device, callbacks, quiet):
    loaded: dict[tuple, DatasetBundle] = {}
    results = []
    for i, (config, name) in enumerate(zip(configs, names, strict=True)):
        bundle = data
        if bundle is None:
            key = _data_key(config)
            if key not in loaded:
                loaded.clear()  # keep one data set in memory at a time
                loaded[key] = _load_data(config, data_root)
            bundle = loaded[key]
        t0 = time.perf_counter()
        try:
            r = runner.run(
                bundle,
                config,
                name=name,
                outputs=outputs,
                store=store,
                evaluate_test=evaluate_test,
                device=device,
                callbacks=callbacks,
                quiet=quiet,
            )
        except Exception as err:
            msg = _describe_failure(i, name, config, err)
            if store is not None and i:
                msg += f"\n  the {i} run(s) before it finished; their results are in the run store {store}"
            raise RunFailedError(msg, [(i, name, config, err)], results + [None] * (len(configs) - i)) from err
        results.append(r)
        _progress(i + 1, len(configs), r.name, time.perf_counter() - t0, r)
    return results


def _task_options(ray, resources: dict | None, max_retries: int) -> dict:
    """Ray options of one run, checked against the cluster's nodes (else the task would wait forever)."""
    total = ray.cluster_resources()
    opts = {"num_cpus": 1, "num_gpus": 1 if total.get("GPU", 0) >= 1 else 0, **(resources or {})}
    need = {
        "CPU": float(opts.get("num_cpus") or 0),
        "GPU": float(opts.get("num_gpus") or 0),
        **{k: float(v) for k, v in (opts.get("resources") or {}).items()},
    }
    if opts.get("memory"):
        need["memory"] = float(opts["memory"])
    nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
    if not any(all(n.get(k, 0) >= v for k, v in need.items() if v) for n in nodes):
        have = "; ".join(ray_cluster.resources_text(n) for n in nodes) or "no live nodes"
        wanted = ", ".join(f"{v:g} {k}" for k, v in need.items() if v)
        raise ValueError(
            f"no node of the Ray cluster can hold one run ({wanted}); its nodes have: {have}. "
            "Ask for less with resources={'num_cpus': ..., 'num_gpus': ...}"
        )
    if not isinstance(max_retries, int) or max_retries < 0:
        raise ValueError(f"max_retries must be an integer >= 0, got {max_retries!r}")
    return {**opts, "max_retries": max_retries, "retry_exceptions": False}


# ------------------------------------------------------------------------------ ray: data


def _pack(bundle: DatasetBundle) -> dict:
    """The bundle with numpy arrays instead of tensors: Ray shares numpy arrays between the workers of
    a node without copying (torch tensors would be pickled and copied into every worker)."""

    def split(s: Split) -> dict:
        d = {f.name: getattr(s, f.name) for f in dataclasses.fields(s)}
        d["images"], d["labels"] = s.images.numpy(), s.labels.numpy()
        return d

    d = {f.name: getattr(bundle, f.name) for f in dataclasses.fields(bundle)}
    for k in ("train", "val", "test"):
        d[k] = split(d[k])
    return d


def _unpack(d: dict) -> DatasetBundle:
    def split(s: dict) -> Split:
        with warnings.catch_warnings():  # shared read-only memory; dive only reads the images
            warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
            return Split(**{**s, "images": torch.from_numpy(s["images"]), "labels": torch.from_numpy(s["labels"])})

    return DatasetBundle(**{**d, **{k: split(d[k]) for k in ("train", "val", "test")}})


_WORKER_DATA: dict = {}  # one data set loaded from disk, kept by the worker process between its tasks


def _worker_data(config: RunConfig, packed: dict | None, source: dict) -> DatasetBundle:
    if packed is not None:
        return _unpack(packed)
    key = (str(source["root"]), *_data_key(config))
    if key not in _WORKER_DATA:
        root = source["root"]
        if root is not None and not Path(root).is_dir():
            raise FileNotFoundError(
                f"data root {root} does not exist on node {socket.gethostname()}: put the "
                "data on storage every node sees (same path), or pass the data in memory"
            )
        _WORKER_DATA.clear()
        _WORKER_DATA[key] = _load_data(config, root)
    bundle = _WORKER_DATA[key]
    expected = source.get("fingerprint")
    if expected is not None:
        got = runner.data_fingerprint(bundle)
        if got != expected:
            raise ValueError(
                f"the data loaded from {source['root']} on node {socket.gethostname()} differ from "
                f"the driver's: {got} != {expected}"
            )
    return bundle


def _ray_task(
    config: RunConfig,
    name,
    packed: dict | None,
    source: dict,
    store,
    evaluate_test: bool,
    device,
    callbacks,
    quiet,
    checkpoints,
    threads: int,
):
    """One run inside a Ray worker (also what a retry after the worker's death runs again).

    ``packed``: the data from the object store (Ray resolves a task's top-level references before
    it starts), or None: the worker loads them as ``source`` says."""
    t0 = time.perf_counter()
    if threads >= 1:
        torch.set_num_threads(threads)
    if store is not None and not Path(store).is_dir():
        raise FileNotFoundError(
            f"run store {store} does not exist on node {socket.gethostname()}: put it on "
            "storage every node sees, under the same path"
        )
    data = _worker_data(config, packed, source)
    r = runner.run(
        data,
        config,
        name=name,
        store=store,
        checkpoints=checkpoints,
        evaluate_test=evaluate_test,
        device=device,
        callbacks=callbacks,
        quiet=quiet,
    )
    r.model.cpu()  # the driver may have no GPU
    return r, time.perf_counter() - t0, socket.gethostname()


# ------------------------------------------------------------------------------ ray: runs


def _run_ray(
    data,
    configs,
    names,
    *,
    ray_address,
    store,
    outputs,
    evaluate_test,
    resources,
    max_retries,
    data_root,
    transfer,
    device,
    callbacks,
    quiet,
):
    ray = ray_cluster.import_ray()
    if transfer == "object_store" and data is None:
        raise ValueError("transfer='object_store' needs the data in memory (data=None loads them from data_root)")
    if store is not None:
        store = Path(store).expanduser().resolve()
        store.mkdir(parents=True, exist_ok=True)
    ray_cluster.connect(ray, ray_address)
    refs: dict = {}
    try:
        opts = _task_options(ray, resources, max_retries)
        threads = int(opts["num_cpus"]) if opts.get("num_cpus") else 0
        run_device = device if str(device) != "auto" else ("cuda" if opts.get("num_gpus") else "cpu")
        checkpoints = bool(getattr(outputs, "checkpoints", True)) if outputs is not None else None
        if store is None:
            print(
                "run_many: no run store: a run whose worker dies starts again from its first epoch, and "
                "finished runs are not kept",
                flush=True,
            )
        if data is not None and transfer != "disk":
            packed, source = ray.put(_pack(data)), {"kind": "object_store"}
        else:
            root = Path(data.root if data is not None else (data_root or _default_root())).expanduser().resolve()
            fp = runner.data_fingerprint(data) if data is not None else None
            packed, source = None, {"kind": "disk", "root": str(root), "fingerprint": fp}
        task = ray.remote(_ray_task).options(**opts)
        first: dict[str, int] = {}  # identical configs run once (they would share one run-store folder)
        for i, (config, name) in enumerate(zip(configs, names, strict=True)):
            fp = config.fingerprint()
            if fp in first:
                continue
            first[fp] = i
            refs[
                task.remote(
                    config,
                    name,
                    packed,
                    source,
                    str(store) if store else None,
                    evaluate_test,
                    run_device,
                    tuple(callbacks),
                    True if quiet is None else quiet,
                    checkpoints,
                    threads,
                )
            ] = i
        results: list = [None] * len(configs)
        failures = []
        done = 0
        pending = dict(refs)
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                i = pending.pop(ref)
                done += 1
                try:
                    r, seconds, host = ray.get(ref)
                except ray.exceptions.RayError as err:
                    cause = getattr(err, "cause", None) if isinstance(err, ray.exceptions.RayTaskError) else None
                    cause = cause or err
                    failures.append((i, names[i], configs[i], cause))
                    print(
                        f"[{done}/{len(refs)}] FAILED " + _describe_failure(i, names[i], configs[i], cause), flush=True
                    )
                    continue
                results[i] = r
                _progress(done, len(refs), r.name, seconds, r, f" (on {host})")
    except KeyboardInterrupt:
        for ref in refs:
            ray.cancel(ref, force=True)
        raise
    here = resolve_device(device)
    for i, config in enumerate(configs):
        j = first[config.fingerprint()]
        if results[j] is None:
            continue
        if j != i:  # the same config under another name: the one result, renamed
            results[i] = dataclasses.replace(
                results[j],
                name=names[i] or config.model,
                notes=list(results[j].notes)
                + [f"{names[i] or config.model}: same config as run {names[j] or config.model!r}; trained once"],
            )
        if here.type != "cpu":
            results[i].model.to(here)
    if failures:
        lines = [_describe_failure(i, n, c, e) for i, n, c, e in failures]
        ok = sum(r is not None for r in results)
        tail = f"\nthe other {ok} run(s) finished" if ok else ""
        if ok and store:
            tail += f"; their results are in the run store {store} (a second call loads them instead of training again)"
        raise RunFailedError(
            f"{len(failures)} of {len(configs)} run(s) failed:\n  " + "\n  ".join(lines) + tail, failures, results
        ) from failures[0][3]
    if outputs is not None:
        for r in results:
            runner.record(outputs, r)
    return results


def _default_root():
    return default_root()


# ------------------------------------------------------------------------------ grids of configs and seeds


def seed_list(seeds, first: int | None = None) -> list[int]:
    """``seeds``: a count (the report's seed 22 first, then 23, 24, ...; ``first`` replaces 22) or an
    explicit list. Every configuration of a notebook runs once per seed."""
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
    runs: dict[str, list[runner.RunResult]]
    failed: dict[str, dict[int, BaseException]] = field(default_factory=dict)

    def first(self) -> dict[str, runner.RunResult]:
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
    seeds = seed_list(seeds)
    jobs = [(name, cfg.replace(seed=s)) for name, cfg in configs.items() for s in seeds]
    results: list[runner.RunResult | None] = [None] * len(jobs)
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
    runs: dict[str, list[runner.RunResult]] = {name: [] for name in configs}
    for (name, _), r in zip(jobs, results, strict=True):
        if r is not None:
            runs[name].append(r)
    return GridResult(seeds, runs, failed)

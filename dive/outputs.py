"""What a notebook leaves behind: figures, tables and one ``metrics.json`` per notebook.

``python -m dive.report`` assembles the report from these files only, so everything a
notebook wants in the report goes through an :class:`Outputs`::

    out = Outputs(p.out_dir, notebook="04_alexnet_balancing", profile=p.profile, dataset=p.data_flag,
                  synthetic=p.synthetic, device=device_name(dev), seed=p.seed, data_root=p.data_root)
    # or, the same: out = Outputs.from_params(p, device=device_name(dev))
    out.table(df, "balancing", caption="...", original=reference.TABLE1_BALANCING)
    out.figure(fig, "confusion", caption="...")
    out.add_run("balanced", "alexnet", params, fit=result, val=metrics_val)
    out.write()

Layout under ``out_dir``: ``figures/<name>.png``, ``tables/<name>.csv`` + ``.md`` (+
``<name>.original.csv`` when the original report's table is given) and ``metrics.json``.
Paths inside ``metrics.json`` are relative to ``out_dir``. Every change rewrites
``metrics.json``, so a notebook that stops half-way still leaves one behind.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import numbers
import os
import re
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from dive import profiles
from dive.data import REPORT_DATASETS, SYNTHETIC_MARKER
from dive.profiles import departures, departures_note
from dive.stats import summarize
from dive.utils import git_commit

#: The datasets the original report used (MNIST for SimpleCNN, PathMNIST for the rest).
ORIGINAL_DATASETS = REPORT_DATASETS
SYNTHETIC_LINE = "SYNTHETIC DATA — not comparable with the original report"
METRIC_KEYS = ("accuracy", "precision", "recall", "f1", "auc")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


def datasets_of(dataset: str | Iterable[str] | None) -> list[str]:
    if dataset is None:
        return []
    if isinstance(dataset, str):
        return [dataset]
    return [str(d) for d in dataset]


def comparability_notes(dataset: str | Iterable[str] | None, synthetic: bool) -> list[str]:
    """Warnings that say why numbers cannot be set beside the original report's."""
    notes = [SYNTHETIC_LINE] if synthetic else []
    for d in datasets_of(dataset):
        if d.lower() not in ORIGINAL_DATASETS:
            notes.append(f"dataset {d}, not the report's pathmnist")
    return notes


def jsonable(obj: Any) -> Any:
    """Plain JSON types: numpy/torch scalars and arrays, paths, dates; NaN/inf -> None."""
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if isinstance(obj, (_dt.datetime, _dt.date)):
        return obj.isoformat()
    if isinstance(obj, pd.DataFrame):
        return jsonable(obj.to_dict(orient="records"))
    if hasattr(obj, "tolist") and callable(obj.tolist):  # numpy arrays/scalars, torch tensors
        return jsonable(obj.tolist())
    if hasattr(obj, "item") and callable(obj.item):
        try:
            return jsonable(obj.item())
        except (TypeError, ValueError):
            pass
    return str(obj)


def _fraction(value: Any, what: str) -> float | None:
    value = jsonable(value)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{what} must be a number in [0, 1], got {value!r}")
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{what} = {value} is outside [0, 1]; give accuracies and scores as fractions, not percent")
    return float(value)


def _count(value: Any, what: str) -> int | None:
    """A number of images: a positive whole number (a numpy integer or a whole float too), ``None`` when not given;
    anything else (a fraction, zero, NaN, infinity, a string) raises, naming ``what``."""
    if value is None:
        return None
    number = isinstance(value, numbers.Real) and not isinstance(value, bool)  # numpy's numbers too
    if not number or not math.isfinite(value) or float(value) != int(value) or value < 1:
        raise ValueError(f"{what} must be a positive whole number of images, got {value!r}")
    return int(value)


def reduce_metrics(metrics: Mapping | None, what: str) -> dict | None:
    """The five headline metrics of a ``dive.metrics.evaluate`` result, checked to lie in [0, 1]."""
    if metrics is None:
        return None
    if not isinstance(metrics, Mapping):
        raise TypeError(f"{what} must be a dict of metrics, got {type(metrics).__name__}")
    return {k: _fraction(metrics.get(k), f"{what}[{k!r}]") for k in METRIC_KEYS}


def _attr(obj: Any, name: str, default: Any = None) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(name, default)
    return getattr(obj, name, default)


def _check_name(name: str) -> str:
    if not _NAME_RE.match(name):
        raise ValueError(f"output name {name!r}: use letters, digits, '_', '-', '.' only (it becomes a file name)")
    return name


class Outputs:
    """Collects one notebook's figures, tables, runs and notes; writes ``metrics.json``."""

    def __init__(
        self,
        out_dir: str | os.PathLike,
        *,
        notebook: str,
        profile: str,
        dataset: str | list[str],
        synthetic: bool,
        device: str,
        seed: int,
        data_root: str | os.PathLike | None = None,
        notes: list[str] | None = None,
        checkpoints: bool = True,
    ):
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.notebook = notebook
        self.profile = profile
        self.dataset = dataset if isinstance(dataset, str) else list(dataset)
        self.data_root = Path(data_root) if data_root is not None else None
        # A data root written by dive.synthetic carries a marker: never let such data pass as real.
        marker = self.data_root is not None and (self.data_root / SYNTHETIC_MARKER).is_file()
        self.synthetic = bool(synthetic) or marker
        self.device = str(device)
        self.seed = jsonable(seed)
        self.checkpoints = bool(checkpoints)
        self.notes: list[str] = []
        for text in notes or []:
            self.note(text, _write=False)
        if marker and not synthetic:
            self.note(
                f"data root {self.data_root} holds synthetic data (SYNTHETIC.json): marked synthetic", _write=False
            )
        self.tables: list[dict] = []
        self.figures: list[dict] = []
        self.runs: list[dict] = []
        self._explicit_groups: list[dict] = []
        self._t0 = time.perf_counter()
        self.started = _dt.datetime.now().astimezone().isoformat(timespec="seconds")
        self._commit: str | None | bool = False  # False = not looked up yet

    @classmethod
    def from_params(
        cls, p: Mapping, *, device: str, dataset: str | list[str] | None = None, notes: list[str] | None = None
    ) -> Outputs:
        """An :class:`Outputs` for the parameters from ``dive.profiles.resolve`` (``dataset``: ``p.data_flag``)."""
        checkpoints = p.get("checkpoints")
        return cls(
            p["out_dir"],
            notebook=p["notebook"],
            profile=p["profile"],
            dataset=dataset if dataset is not None else p["data_flag"],
            synthetic=bool(p.get("synthetic")),
            device=device,
            seed=p["seed"],
            data_root=p.get("data_root"),
            notes=notes,
            checkpoints=True if checkpoints is None else bool(checkpoints),
        )

    # --- paths --------------------------------------------------------------------------------
    @property
    def metrics_path(self) -> Path:
        return self.out_dir / "metrics.json"

    @property
    def run_store(self) -> Path:
        """The run store every notebook of this profile shares: :func:`dive.profiles.run_store`."""
        return profiles.run_store(self.profile)

    def checkpoint_dir(self, run: str) -> Path | None:
        """``<out_dir>/checkpoints/<run>/`` for a resumable run, or ``None`` when checkpoints are off
        (the profile's ``checkpoints: false``, for runs of seconds)."""
        return self.out_dir / "checkpoints" / _check_name(run) if self.checkpoints else None

    def _rel(self, path: Path) -> str:
        return path.relative_to(self.out_dir).as_posix()

    @staticmethod
    def _replace(items: list[dict], entry: dict, key: tuple[str, ...] = ("name",)) -> None:
        for i, old in enumerate(items):
            if all(old.get(k) == entry.get(k) for k in key):
                items[i] = entry
                return
        items.append(entry)

    # --- content ------------------------------------------------------------------------------
    def note(self, text: str, *, _write: bool = True) -> None:
        """A free-text note shown with this notebook in the assembled report."""
        text = str(text).strip()
        if text and text not in self.notes:
            self.notes.append(text)
        if _write:
            self.write()

    def note_departures(self, p: Mapping, reference: str = "full") -> pd.DataFrame:
        """Note where the parameters ``p`` depart from the report's (``full`` profile) settings and
        return them as a table (empty when the run uses the report's settings)."""

        rows = departures(p, reference)
        text = departures_note(p, reference, rows)
        if text:
            self.note(text)
        table = pd.DataFrame(rows, columns=["parameter", "report", "this_run", "why"]).rename(
            columns={"report": f"report ({reference} profile)", "this_run": f"this run ({p['profile']})"}
        )
        return table if table["why"].astype(bool).any() else table.drop(columns="why")

    def figure(self, fig, name: str, *, caption: str | None = None) -> Path:
        """Save ``fig`` as ``figures/<name>.png`` (150 dpi); synthetic data get a visible mark."""
        _check_name(name)
        if self.synthetic and not getattr(fig, "_dive_synthetic_mark", False):
            fig.text(
                0.5,
                0.5,
                "SYNTHETIC DATA",
                transform=fig.transFigure,
                ha="center",
                va="center",
                fontsize=30,
                color="red",
                alpha=0.3,
                rotation=25,
                fontweight="bold",
                zorder=1000,
            )
            fig.text(
                0.01,
                0.99,
                SYNTHETIC_LINE,
                transform=fig.transFigure,
                ha="left",
                va="top",
                fontsize=8,
                color="red",
                zorder=1000,
            )
            fig._dive_synthetic_mark = True
        path = self.out_dir / "figures" / f"{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=150, bbox_inches="tight")
        self._replace(self.figures, {"name": name, "caption": caption, "png": self._rel(path)})
        self.write()
        return path

    def table(
        self, df: pd.DataFrame, name: str, *, caption: str | None = None, original: pd.DataFrame | None = None
    ) -> Path:
        """Save ``df`` as ``tables/<name>.csv`` and ``.md``; returns the csv path.

        ``original`` (the original report's table, e.g. from :mod:`dive.reference`) is saved
        beside it as ``<name>.original.csv`` and appended to the Markdown for comparison.
        """
        _check_name(name)
        if not isinstance(df, pd.DataFrame):
            df = pd.DataFrame(df)
        flat = df if isinstance(df.index, pd.RangeIndex) else df.reset_index()
        tdir = self.out_dir / "tables"
        tdir.mkdir(parents=True, exist_ok=True)
        csv, md = tdir / f"{name}.csv", tdir / f"{name}.md"
        flat.to_csv(csv, index=False)
        lines = comparability_notes(self.dataset, self.synthetic)  # first line: SYNTHETIC DATA ...
        if caption:
            lines.append(f"*{caption}*")
        lines.append(flat.to_markdown(index=False))
        orig_csv = tdir / f"{name}.original.csv"
        if original is not None:
            oflat = original if isinstance(original.index, pd.RangeIndex) else original.reset_index()
            oflat.to_csv(orig_csv, index=False)
            lines += ["", "Original report:", "", oflat.to_markdown(index=False)]
        elif orig_csv.exists():
            orig_csv.unlink()
        md.write_text("\n\n".join(lines) + "\n", encoding="utf-8")
        self._replace(self.tables, {"name": name, "caption": caption, "csv": self._rel(csv), "md": self._rel(md)})
        self.write()
        return csv

    def add_run(
        self,
        name: str,
        model: str,
        params: Mapping,
        *,
        fit=None,
        val: Mapping | None = None,
        test: Mapping | None = None,
        extra: Mapping | None = None,
        seed: int | None = None,
        group: str | None = None,
        config=None,
    ) -> dict:
        """Record one training run; ``fit`` is a ``dive.train.fit`` result (duck-typed).

        A run is identified by ``(name, seed)``: the same name with another seed is another run (one entry
        per seed), the same name and seed replaces the entry. ``seed`` defaults to ``config.seed``, else
        ``params["seed"]``. ``group`` (default: the run's name) gathers the seeds of one configuration
        into ``metrics.json``'s ``groups`` (mean, std and 95 % interval over seeds, :mod:`dive.stats`).
        ``config``: the run's ``RunConfig`` (or a dict); its ``fingerprint()`` is recorded when it has one.
        """
        history = jsonable(list(_attr(fit, "history", None) or [])) if fit is not None else []
        for row in history:
            for key in ("train_acc", "val_acc"):
                if isinstance(row, dict) and key in row:
                    _fraction(row[key], f"history epoch {row.get('epoch')} {key}")
        secs = [r["seconds"] for r in history if isinstance(r, dict) and isinstance(r.get("seconds"), (int, float))]
        epochs_run = _attr(fit, "epochs_run", None) if fit is not None else None
        if epochs_run is None and history:
            epochs_run = len(history)
        best_epoch = jsonable(_attr(fit, "best_epoch", None)) if fit is not None else None
        # the epoch whose weights were evaluated: the best one when fit restored it, else the last
        kept = best_epoch if (best_epoch and _attr(fit, "restored_best", False)) else (len(history) or None)
        kept_row = history[kept - 1] if kept and kept <= len(history) and isinstance(history[kept - 1], dict) else {}
        if seed is None:
            seed = _attr(config, "seed", None) if config is not None else None
        if seed is None:
            seed = (params or {}).get("seed")
        fingerprint = None
        if config is not None and callable(getattr(config, "fingerprint", None)):
            fingerprint = config.fingerprint()
        run = {
            "name": str(name),
            "seed": jsonable(seed),
            "group": str(group) if group is not None else str(name),
            "model": str(model),
            "params": jsonable(dict(params or {})),
            "fingerprint": jsonable(fingerprint),
            "epochs_run": jsonable(epochs_run),
            "best_epoch": best_epoch,
            "kept_epoch": kept,
            "seconds_per_epoch": (sum(secs) / len(secs)) if secs else None,
            "val": reduce_metrics(val, f"run {name!r} val"),
            # the accuracy of always answering the most frequent class of these validation images (None for a
            # multi-label task or when not given): the bar dive.learning sets the run's accuracy against
            "val_majority_rate": _fraction(_attr(val, "majority_rate", None), f"run {name!r} val['majority_rate']")
            if isinstance(val, Mapping)
            else None,
            # how many validation images those scores come from (dive.metrics.evaluate's n; None when not given)
            "val_images": _count(val.get("n"), f"run {name!r} val['n']") if isinstance(val, Mapping) else None,
            "val_loss": jsonable(kept_row.get("val_loss")),
            "test": reduce_metrics(test, f"run {name!r} test"),
            "history": history,
            "extra": jsonable(dict(extra or {})),
        }
        if isinstance(run["seed"], bool) or not isinstance(run["seed"], (int, type(None))):
            raise TypeError(f"run {name!r}: seed must be an integer or None, got {seed!r}")
        clash = [
            r["name"]
            for r in self.runs
            if r["group"] == run["group"] and r["seed"] == run["seed"] and r["name"] != run["name"]
        ]
        if clash:
            raise ValueError(
                f"run {name!r}: group {run['group']!r} already has seed {run['seed']} (run {clash[0]!r}); "
                "a group holds one configuration, one run per seed"
            )
        self._replace(self.runs, run, key=("name", "seed"))
        self.write()
        return run

    def add_group(
        self, name: str, runs: Iterable[str] | None = None, *, values=None, pairs: Mapping | None = None
    ) -> dict:
        """Gather seeds of one configuration under ``name`` in ``metrics.json``'s ``groups``.

        ``runs``: names of recorded runs (every seed of each). ``values``: per-seed numbers that are not a
        run's own metrics (e.g. Table 5's accuracy read at a given epoch): a frame with a ``seed`` column and
        one column per metric, or ``{seed: {metric: value}}``. A group given here replaces the automatic
        group of the same name (runs are grouped by their ``group``, by default their name).

        ``pairs``: ``{seed: pair key}`` for every seed of the group, recorded as its ``pair`` values: the key
        on which comparisons pair this group's runs with another group's (whose key is its seed unless it
        records its own ``pair``). For runs built from one another with different seeds, e.g. notebook 07's
        ensemble *i* from member-1 run *i* (seed s) and member-2 run *i* (another seed): member 2's pair key is
        the member-1 seed, so the comparison is paired as the runs were, not guessed.
        """
        _check_name(name)
        if (runs is None) == (values is None):
            raise ValueError(f"group {name!r}: give either runs (run names) or values (per-seed metrics)")
        if pairs is not None:
            if runs is None:
                raise ValueError(f"group {name!r}: pairs go with runs; with values, give a 'pair' column")
            keys = list(dict(pairs).values())
            if len(set(map(str, keys))) != len(keys):
                raise ValueError(f"group {name!r}: a pair key appears more than once in {dict(pairs)}")
        if runs is not None:
            runs = [runs] if isinstance(runs, str) else [str(r) for r in runs]
            known = list(dict.fromkeys(r["name"] for r in self.runs))
            unknown = [r for r in runs if r not in known]
            if unknown:
                raise ValueError(
                    f"group {name!r}: no recorded run named {unknown}; recorded: {', '.join(known) or 'none'}"
                )
            seeds = [r["seed"] for r in self.runs if r["name"] in runs]
            twice = sorted({str(x) for x in seeds if seeds.count(x) > 1})
            if twice:
                raise ValueError(
                    f"group {name!r}: seed(s) {', '.join(twice)} appear in more than one of the runs "
                    f"{runs}; a group holds one configuration, one run per seed"
                )
            if pairs is not None:
                missing = [x for x in seeds if x not in pairs]
                extra = [x for x in pairs if x not in seeds]
                if missing or extra:
                    raise ValueError(
                        f"group {name!r}: pairs must name every seed of the runs once; seeds without a pair key: "
                        f"{missing}, keys for seeds not in the runs: {extra}"
                    )
            entry = {"name": name, "runs": runs, "values": None}
            if pairs is not None:
                entry["pairs"] = [[k, v] for k, v in dict(pairs).items()]
        else:
            if isinstance(values, pd.DataFrame):
                if "seed" not in values.columns:
                    raise ValueError(
                        f"group {name!r}: the values frame needs a 'seed' column; it has {list(values.columns)}"
                    )
                rows = {r.pop("seed"): r for r in jsonable(values.to_dict(orient="records"))}
                if len(rows) != len(values):
                    raise ValueError(f"group {name!r}: a seed appears more than once in values")
            elif isinstance(values, Mapping):
                rows = {k: dict(v) for k, v in jsonable(values).items()}
            else:
                raise TypeError(f"group {name!r}: values must be a DataFrame or {{seed: {{metric: value}}}}")
            entry = {"name": name, "runs": None, "values": rows}
        self._replace(self._explicit_groups, entry)
        self.write()
        return next(g for g in self.groups() if g["name"] == name)

    def groups(self) -> list[dict]:
        """The ``groups`` of ``metrics.json``: per configuration its seeds, per-seed values and their summary."""

        explicit = {g["name"]: g for g in self._explicit_groups}
        order = list(dict.fromkeys([r["group"] for r in self.runs] + list(explicit)))
        out = []
        for gname in order:
            g = explicit.get(gname)
            if g is None or g["runs"] is not None:
                names = g["runs"] if g is not None else None
                members = [r for r in self.runs if (r["name"] in names if names is not None else r["group"] == gname)]
                per_seed = {r["seed"]: _run_values(r) for r in members}  # seed None: an unseeded run
                for seed, key in (g or {}).get("pairs") or []:
                    per_seed[seed]["pair"] = key
                run_names = list(dict.fromkeys(r["name"] for r in members))
            else:
                per_seed = {
                    (int(k) if isinstance(k, str) and k.lstrip("-").isdigit() else k): v for k, v in g["values"].items()
                }
                run_names = []
            seeds = list(per_seed)
            metrics = list(dict.fromkeys(m for v in per_seed.values() for m in v))
            values = {m: [per_seed[s].get(m) for s in seeds] for m in metrics}
            summary = {}
            for m, vals in values.items():
                if m == "pair":  # a key, not a metric
                    continue
                present = [v for v in vals if isinstance(v, (int, float)) and not isinstance(v, bool)]
                if present:
                    s = summarize(present)
                    summary[m] = {
                        "n": s.n,
                        "mean": s.mean,
                        "std": s.std,
                        "ci_low": s.ci_low,
                        "ci_high": s.ci_high,
                        "interval": "95% t" if s.n > 1 else "none (single run)",
                    }
            out.append(
                {
                    "name": gname,
                    "n": len(seeds),
                    "seeds": seeds,
                    "runs": run_names,
                    "values": values,
                    "summary": summary,
                }
            )
        return out

    def per_seed(self) -> pd.DataFrame:
        """This notebook's groups as a long frame (``config``, ``seed``, one column per metric), e.g.
        ``stats.comparison_table(out.per_seed(), "val_accuracy", reference=..., original=...)``."""
        return groups_frame(self.groups())

    # --- metrics.json -------------------------------------------------------------------------
    def _git_commit(self) -> str | None:
        if self._commit is False:
            try:
                self._commit = git_commit()
            except Exception:  # noqa: BLE001 - metadata only; never fail a notebook over it
                self._commit = None
        return self._commit  # type: ignore[return-value]

    def as_dict(self) -> dict:
        return {
            "notebook": self.notebook,
            "profile": self.profile,
            "dataset": self.dataset,
            "synthetic": self.synthetic,
            "device": self.device,
            "seed": self.seed,
            "git_commit": self._git_commit(),
            "seconds": round(time.perf_counter() - self._t0, 3),
            "started": self.started,
            "finished": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
            "notes": list(self.notes),
            "tables": list(self.tables),
            "figures": list(self.figures),
            "runs": list(self.runs),
            "groups": self.groups(),
        }

    def write(self) -> Path:
        """(Re)write ``metrics.json``; safe to call any number of times."""
        data = jsonable(self.as_dict())
        tmp = self.metrics_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n", encoding="utf-8")
        tmp.replace(self.metrics_path)
        return self.metrics_path

    def __repr__(self) -> str:
        return (
            f"Outputs({str(self.out_dir)!r}, notebook={self.notebook!r}, profile={self.profile!r}, "
            f"synthetic={self.synthetic}, {len(self.tables)} tables, {len(self.figures)} figures, "
            f"{len(self.runs)} runs)"
        )


#: The metrics a run contributes to its group: ``<split>_<metric>`` of its val/test results, and the
#: validation loss of the epoch whose weights were evaluated.
GROUP_METRICS = ("val_accuracy", "val_auc", "test_accuracy", "test_auc", "val_loss")


def _run_values(run: Mapping) -> dict:
    out = {}
    for split in ("val", "test"):
        for key in ("accuracy", "auc"):
            out[f"{split}_{key}"] = (run.get(split) or {}).get(key)
    out["val_loss"] = run.get("val_loss")
    return {k: v for k, v in out.items() if v is not None}


def groups_frame(groups: list[dict]) -> pd.DataFrame:
    """``metrics.json`` groups (or :meth:`Outputs.groups`) as a long frame: ``config``, ``seed`` and one column
    per metric -- what :func:`dive.stats.comparison_table` and friends take."""
    rows = []
    for g in groups:
        for i, seed in enumerate(g["seeds"]):
            rows.append({"config": g["name"], "seed": seed, **{m: v[i] for m, v in g["values"].items()}})
    df = pd.DataFrame(rows)
    if "pair" in df.columns:  # some group records its pairing: the others pair on their seed
        df["pair"] = [
            s if p is None or (isinstance(p, float) and math.isnan(p)) else p
            for s, p in zip(df["seed"], df["pair"], strict=True)
        ]
    return df


def load_metrics(path: str | os.PathLike) -> dict:
    """Read a ``metrics.json`` (a directory holding one is fine too)."""
    path = Path(path)
    if path.is_dir():
        path = path / "metrics.json"
    return json.loads(path.read_text(encoding="utf-8"))

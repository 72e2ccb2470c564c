"""The original report's claims as data, and what this run's seeds say about each.

Each :class:`Claim` names its notebook, the groups it compares (``metrics.json`` ``groups``, written
by :class:`dive.outputs.Outputs`: one group per configuration, its runs over several seeds), the
metric and the report's own single-run numbers (from :mod:`dive.reference`). :func:`claims_table`
reads ``<reports_dir>/<profile>/<notebook>/metrics.json`` and gives one row per claim: the original
numbers, this run's mean ± 95 % interval (n seeds), the paired difference and a verdict from
:mod:`dive.stats` -- or "not run" when a notebook or group is missing. :func:`claims_html` renders it
for the assembled report's one-page "Claims and evidence".

The group names are the notebooks' run names (``GROUPS``; one group per run name, n = its seeds),
except notebook 01, whose Table 5 rows are read from runs at a given epoch and therefore recorded as
per-seed values: ``out.add_group(table5_group(study, value), values=rows)`` with a ``val_accuracy``
column (and ``activation_relu`` / ``activation_leaky_relu`` likewise). A name with ``*`` is a pattern
(fnmatch) that must match exactly one group, for names that carry a profile's model (notebook 07's
deep model).
"""

from __future__ import annotations

import html
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

import pandas as pd

from dive import reference as R
from dive import stats

__all__ = ["CLAIMS", "GROUPS", "LABELS", "Claim", "claims_html", "claims_table", "label", "originals", "table5_group"]


def table5_group(study: str, value: float) -> str:
    """Notebook 01's group for one Table 5 row: ``table5_learning_rate_0.001``, ``table5_batch_size_16``."""
    return f"table5_{study}_{value:g}"


#: Group names per notebook, as the notebooks record them (see the module docstring).
GROUPS: dict[str, dict[str, str]] = {
    "01_mnist_simplecnn": {
        **{f"lr_{v:g}": table5_group("learning_rate", v) for v in (0.001, 0.01, 0.1)},
        **{f"batch_size_{v}": table5_group("batch_size", v) for v in (16, 32, 64)},
        "leaky_relu": "activation_leaky_relu",
        "relu": "activation_relu",
    },
    "02_pathmnist_simplecnn": {
        "bn": "simplecnn_bn",
        "bn_dropout": "simplecnn_bn_dropout",
        "dropout": "simplecnn_dropout",
    },
    "04_alexnet_balancing": {
        f"{b}_{s}": f"alexnet_{b}_{s}" for b in ("balanced", "unbalanced") for s in ("fixed", "early_stopping")
    },
    "05_alexnet_augmentation": {
        f"{a}_{s}": f"alexnet_{a}_{s}" for a in ("augmented", "plain") for s in ("fixed", "early_stopping")
    },
    # today's runs alexnet_model{1,2,3}_{plain,batchnorm}_seed{s}, without the seed; model 3 is model 2's
    # configuration with the next seed, which the seeds now cover
    "06_alexnet_batchnorm": {"plain": "alexnet_model1_plain", "batchnorm": "alexnet_model2_batchnorm"},
    "07_resnet_tuning": {
        "adagrad": "resnet18_optimised",  # the tuned run (Table 4: Adagrad); the others vary one setting
        "adam": "resnet18_optimizer_adam",
        "nadam": "resnet18_optimizer_nadam",
        "sgd": "resnet18_optimizer_sgd",
        "ensemble": "ensemble_*_x2",  # ensemble_<deep model>_x2
        "member1": "*_member1",  # <deep model>_member1 (today's name without _seed<s>)
        "member2": "*_member2",
    },
}


#: Each group's name in words, for readers (the report's "What holds up", Claims table and forest figure); keyed
#: like ``GROUPS``' values (a ``*`` pattern stands for the group it matches). :func:`label` looks names up here.
LABELS: dict[str, str] = {
    **{table5_group("learning_rate", v): f"learning rate {v:g}" for v in (0.001, 0.01, 0.1)},
    **{table5_group("batch_size", v): f"batch size {v}" for v in (16, 32, 64)},
    "activation_leaky_relu": "LeakyReLU",
    "activation_relu": "ReLU",
    "simplecnn_bn": "batch norm",
    "simplecnn_bn_dropout": "batch norm + dropout",
    "simplecnn_dropout": "dropout",
    **{
        f"alexnet_{b}_{s}": f"{b}, {'fixed epochs' if s == 'fixed' else 'early stopping'}"
        for b in ("balanced", "unbalanced")
        for s in ("fixed", "early_stopping")
    },
    **{
        f"alexnet_{a}_{s}": f"{'augmented' if a == 'augmented' else 'not augmented'}, "
        f"{'fixed epochs' if s == 'fixed' else 'early stopping'}"
        for a in ("augmented", "plain")
        for s in ("fixed", "early_stopping")
    },
    "alexnet_model1_plain": "without batch norm",
    "alexnet_model2_batchnorm": "with batch norm",
    "resnet18_optimised": "Adagrad (tuned)",
    "resnet18_optimizer_adam": "Adam",
    "resnet18_optimizer_nadam": "NAdam",
    "resnet18_optimizer_sgd": "SGD",
    "ensemble_*_x2": "ensemble of two",
    "*_member1": "member 1",
    "*_member2": "member 2",
    "search_best": "best recipe of the search",
    "table4_recipe": "Table 4's recipe",
}


def label(group: str) -> str:
    """``group`` (a name or a ``GROUPS`` pattern) in words (:data:`LABELS`); the name itself when unknown."""
    if group in LABELS:
        return LABELS[group]
    return next((v for k, v in LABELS.items() if "*" in k and fnmatchcase(group, k)), group)


@dataclass(frozen=True)
class Claim:
    """One finding of the original report. ``groups[0]`` is A, the configuration the report found better
    (``expected="A better"``) or that it found no different from the rest (``expected="within noise"``)."""

    id: str
    notebook: str
    text: str
    source: str
    groups: tuple[str, ...]
    metric: str
    original: tuple[float | None, ...]
    expected: str = stats.A_BETTER
    higher_is_better: bool = True

    def __post_init__(self):
        if len(self.groups) < 2 or len(self.original) != len(self.groups):
            raise ValueError(f"claim {self.id!r}: need >= 2 groups and one original value (or None) per group")
        if self.expected not in (stats.A_BETTER, stats.WITHIN_NOISE):
            raise ValueError(f"claim {self.id!r}: expected must be {stats.A_BETTER!r} or {stats.WITHIN_NOISE!r}")


def _g(notebook: str, *keys: str) -> tuple[str, ...]:
    return tuple(GROUPS[notebook][k] for k in keys)


def _t1(balancing: bool, early_stopping: bool) -> float:
    t = R.TABLE1_BALANCING
    return float(t.loc[(t["balancing"] == balancing) & (t["early_stopping"] == early_stopping), "val_acc"].iloc[0])


def _t2(augmentation: bool, early_stopping: bool) -> float:
    t = R.TABLE2_AUGMENTATION
    return float(
        t.loc[(t["augmentation"] == augmentation) & (t["early_stopping"] == early_stopping), "val_acc"].iloc[0]
    )


def _t5(study: str, value: float) -> float:
    t = R.TABLE5_MNIST
    return float(t.loc[(t["study"] == study) & (t["value"] == value), "val_acc"].iloc[0])


_BN = R.TABLE3_BATCHNORM.set_index("model")["val_acc"]
_OPT = R.OPTIMIZER_AVG_LOSS

CLAIMS: tuple[Claim, ...] = (
    Claim(
        "mnist_lr",
        "01_mnist_simplecnn",
        "Learning rate 0.001 is the best of 0.001 / 0.01 / 0.1 (SimpleCNN, MNIST)",
        "Table 5, section 3.3",
        _g("01_mnist_simplecnn", "lr_0.001", "lr_0.01", "lr_0.1"),
        "val_accuracy",
        tuple(_t5("learning_rate", v) for v in (0.001, 0.01, 0.1)),
    ),
    Claim(
        "mnist_batch_size",
        "01_mnist_simplecnn",
        "Batch size 16 / 32 / 64 makes no difference (all 98.9 %)",
        "Table 5, section 3.3",
        _g("01_mnist_simplecnn", "batch_size_32", "batch_size_16", "batch_size_64"),
        "val_accuracy",
        tuple(_t5("batch_size", v) for v in (32, 16, 64)),
        expected=stats.WITHIN_NOISE,
    ),
    Claim(
        "mnist_activation",
        "01_mnist_simplecnn",
        "ReLU and LeakyReLU perform the same (no numbers given)",
        "section 4.1",
        _g("01_mnist_simplecnn", "leaky_relu", "relu"),
        "val_accuracy",
        (None, None),
        expected=stats.WITHIN_NOISE,
    ),
    Claim(
        "pathmnist_simplecnn_bn",
        "02_pathmnist_simplecnn",
        "SimpleCNN with batch norm only beats batch norm + dropout (no numbers given)",
        "Fig. 7, section 4.1",
        _g("02_pathmnist_simplecnn", "bn", "bn_dropout"),
        "val_accuracy",
        (None, None),
    ),
    Claim(
        "balancing_fixed",
        "04_alexnet_balancing",
        "Balancing improves AlexNet (20 fixed epochs: +5.47 points)",
        "Table 1",
        _g("04_alexnet_balancing", "balanced_fixed", "unbalanced_fixed"),
        "val_accuracy",
        (_t1(True, False), _t1(False, False)),
    ),
    Claim(
        "balancing_early_stopping",
        "04_alexnet_balancing",
        "Balancing improves AlexNet (early stopping: +2.24 points)",
        "Table 1",
        _g("04_alexnet_balancing", "balanced_early_stopping", "unbalanced_early_stopping"),
        "val_accuracy",
        (_t1(True, True), _t1(False, True)),
    ),
    Claim(
        "augmentation_fixed",
        "05_alexnet_augmentation",
        "Augmentation lowers AlexNet's accuracy with 20 fixed epochs (-3.63 points)",
        "Table 2",
        _g("05_alexnet_augmentation", "plain_fixed", "augmented_fixed"),
        "val_accuracy",
        (_t2(False, False), _t2(True, False)),
    ),
    Claim(
        "augmentation_early_stopping",
        "05_alexnet_augmentation",
        "Augmentation improves AlexNet with early stopping (+1.7 points)",
        "Table 2",
        _g("05_alexnet_augmentation", "augmented_early_stopping", "plain_early_stopping"),
        "val_accuracy",
        (_t2(True, True), _t2(False, True)),
    ),
    Claim(
        "batchnorm",
        "06_alexnet_batchnorm",
        "Batch norm does not change AlexNet's accuracy meaningfully (model 2: +0.21, model 3: -0.87 points)",
        "Table 3, section 3.4.3",
        _g("06_alexnet_batchnorm", "batchnorm", "plain"),
        "val_accuracy",
        (float(_BN[2]), float(_BN[1])),
        expected=stats.WITHIN_NOISE,
    ),
    Claim(
        "optimizer",
        "07_resnet_tuning",
        "Adagrad has the lowest loss (SGD 0.08, NAdam/Adam 0.06, Adagrad 0.035)",
        "section 3.5",
        _g("07_resnet_tuning", "adagrad", "adam", "nadam", "sgd"),
        "val_loss",
        (_OPT["adagrad"], _OPT["adam"], _OPT["nadam"], _OPT["sgd"]),
        higher_is_better=False,
    ),
    Claim(
        "ensemble",
        "07_resnet_tuning",
        "The ensemble of two deep ResNets beats its members (course Kaggle test set)",
        "section 3.5",
        _g("07_resnet_tuning", "ensemble", "member1", "member2"),
        "test_accuracy",
        (R.ENSEMBLE["acc"], R.ENSEMBLE["member_acc"], R.ENSEMBLE["member_acc"]),
    ),
    Claim(  # not the report's claim but this project's question about it (notebook 11, dive.search)
        "search",
        "11_search",
        "A search over Table 4's space finds a recipe at least as good as Adagrad 0.0005",
        "beyond the report; Table 4",
        ("search_best", "table4_recipe"),  # dive.search.BEST, dive.search.TABLE4
        "test_accuracy",
        (None, None),
    ),
)


def originals(notebook: str, metric: str | None = None) -> dict[str, float]:
    """``{group: the report's value}`` for a notebook's claims (``original=`` of
    :func:`dive.stats.comparison_table`); only groups named exactly (no pattern) and with a number."""
    known = sorted({c.notebook for c in CLAIMS})
    if notebook not in known:
        raise ValueError(f"no claims for notebook {notebook!r}; valid: {', '.join(known)}")
    out: dict[str, float] = {}
    for c in CLAIMS:
        if c.notebook == notebook and (metric is None or c.metric == metric):
            for g, v in zip(c.groups, c.original, strict=True):
                if v is not None and "*" not in g:
                    out.setdefault(g, v)
    return out


# ----------------------------------------------------------------------------------------------
def _scale(metric: str) -> tuple[float, int]:
    return (1.0, 3) if "loss" in metric else (100.0, 2)


def _find(groups: dict, pattern: str) -> tuple[str | None, str | None]:
    """(group name, None) or (None, why not)."""
    if "*" not in pattern:
        return (pattern, None) if pattern in groups else (None, f"group {pattern} missing")
    hits = [g for g in groups if fnmatchcase(g, pattern)]
    if len(hits) == 1:
        return hits[0], None
    return None, (f"group {pattern} missing" if not hits else f"group {pattern} ambiguous: {', '.join(hits)}")


def _per_seed(group: dict, metric: str) -> dict:
    vals = (group.get("values") or {}).get(metric) or []
    return {
        s: v
        for s, v in zip(group.get("seeds") or [], vals, strict=True)
        if isinstance(v, (int, float)) and not isinstance(v, bool)
    }


def _fmt_original(claim: Claim, scale: float, digits: int) -> str:
    if all(v is None for v in claim.original):
        return "no numbers given"
    return " vs ".join("—" if v is None else f"{v * scale:.{digits}f}" for v in claim.original)


def _evaluate(claim: Claim, m: dict, confidence: float) -> dict:
    scale, digits = _scale(claim.metric)
    groups = {g["name"]: g for g in m.get("groups") or []}
    names, why = [], []
    for pattern in claim.groups:
        name, reason = _find(groups, pattern)
        names.append(name)
        if reason:
            why.append(reason)
    data = {}
    for name in names:
        if name is not None:
            vals = _per_seed(groups[name], claim.metric)
            if not vals:
                why.append(f"no {claim.metric} recorded for {name}")
            data[name] = vals
    if why:
        return {"verdict": "not run", "holds": "not run", "why": "; ".join(why)}
    summaries = [stats.summarize(list(data[n].values()), confidence=confidence) for n in names]
    this = "; ".join(f"{n}: {s.format(scale, digits)}" for n, s in zip(names, summaries, strict=True))
    a = names[0]
    comps = [
        stats.compare(data[a], data[b], names=(a, b), higher_is_better=claim.higher_is_better, confidence=confidence)
        for b in names[1:]
    ]
    adjusted = stats.holm([c.p_value for c in comps]) if len(comps) > 1 else [c.p_value for c in comps]
    alpha = 1 - confidence
    verdicts = []
    for c, p in zip(comps, adjusted, strict=True):
        if len(comps) == 1 or p is None:
            verdicts.append(c.verdict)
        else:
            verdicts.append(
                stats.WITHIN_NOISE
                if p >= alpha
                else (stats.A_BETTER if (c.diff > 0) == claim.higher_is_better else stats.B_BETTER)
            )
    named = [
        {stats.A_BETTER: f"{c.a} better", stats.B_BETTER: f"{c.b} better"}.get(v, v)
        for c, v in zip(comps, verdicts, strict=True)
    ]
    if len(comps) == 1:
        verdict = named[0]
        diff = comps[0].format_diff(scale, digits)
    else:
        verdict = "; ".join(f"vs {c.b}: {v}" for c, v in zip(comps, named, strict=True))
        diff = "; ".join(f"vs {c.b}: {c.format_diff(scale, digits)}" for c in comps)
    if any(v == stats.SINGLE_RUN for v in verdicts):
        holds = "cannot tell (single run)"
    elif claim.expected == stats.A_BETTER:
        holds = (
            "supported"
            if all(v == stats.A_BETTER for v in verdicts)
            else "contradicted"
            if any(v == stats.B_BETTER for v in verdicts)
            else "not supported (within noise)"
        )
    else:
        # no difference found is not proof of none: say "consistent", with the number of seeds
        n_pairs = min(c.n for c in comps)
        holds = (
            f"consistent (no difference found, n={n_pairs})"
            if all(v == stats.WITHIN_NOISE for v in verdicts)
            else "contradicted (a difference)"
        )
    n = min(s.n for s in summaries)
    methods = sorted({c.method for c in comps if c.method != "none"})
    why = ", ".join(methods) + (f"; Holm over {len(comps)} comparisons" if len(comps) > 1 else "")
    return {"this run": this, "n": n, "difference (A - B)": diff, "verdict": verdict, "holds": holds, "why": why}


def claims_table(
    reports_dir: str | os.PathLike,
    profile: str = "quick",
    *,
    claims: Sequence[Claim] = CLAIMS,
    confidence: float = stats.CONFIDENCE,
) -> pd.DataFrame:
    """One row per claim: the report's numbers beside this run's mean ± 95 % interval over seeds and a verdict.

    Reads ``<reports_dir>/<profile>/<notebook>/metrics.json``. Columns: ``claim``, ``notebook``, ``source``,
    ``metric``, ``groups`` (A first), ``original`` (the report's single runs, percent for accuracies),
    ``this run`` (mean ± half-width of the t interval, n), ``n`` (fewest seeds of the groups), ``difference
    (A - B)`` (paired by seed, with its interval), ``verdict`` (Holm-adjusted when A is compared with more
    than one group), ``holds`` (supported / not supported (within noise) / contradicted / cannot tell (single
    run) / not run; for a claim of *no* difference: consistent (no difference found, n=...) / contradicted (a
    difference)), ``data`` (the dataset, or SYNTHETIC) and ``how`` (the test, or why the claim was not run).
    """
    base = Path(reports_dir) / profile
    cache: dict[str, dict | None] = {}
    rows = []
    for claim in claims:
        if claim.notebook not in cache:
            path = base / claim.notebook / "metrics.json"
            cache[claim.notebook] = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
        m = cache[claim.notebook]
        scale, digits = _scale(claim.metric)
        row = {
            "claim": claim.text,
            "notebook": claim.notebook,
            "source": claim.source,
            "metric": claim.metric,
            "groups": " vs ".join(claim.groups),
            "original": _fmt_original(claim, scale, digits),
            "this run": "",
            "n": None,
            "difference (A - B)": "",
            "verdict": "not run",
            "holds": "not run",
            "data": "",
            "how": "",
        }
        if m is None:
            row["how"] = f"not run: no {base / claim.notebook / 'metrics.json'}"
        else:
            ds = m.get("dataset")
            row["data"] = "SYNTHETIC" if m.get("synthetic") else (", ".join(ds) if isinstance(ds, list) else str(ds))
            res = _evaluate(claim, m, confidence)
            why = res.pop("why")
            row.update(res)
            row["how"] = f"not run: {why}" if res["verdict"] == "not run" else why
        rows.append(row)
    df = pd.DataFrame(rows)
    df["n"] = df["n"].astype("Int64")
    df.attrs["caption"] = (
        f"Each claim of the original report (its single-run numbers) against this run's groups over "
        f"seeds: mean ± half-width of the {confidence:.0%} t interval (n seeds); difference A - B "
        f"paired by seed with its {confidence:.0%} interval; verdict 'within noise' when the interval "
        f"contains 0; comparisons of A with several groups use the paired t-test with Holm's "
        f"correction. Accuracies in percent, losses as they are."
    )
    return df


def claims_html(
    table: pd.DataFrame | str | os.PathLike, profile: str = "quick", *, title: str = "Claims and evidence"
) -> str:
    """The claims table as an HTML section for the assembled report (a table, or the reports dir to read)."""
    df = table if isinstance(table, pd.DataFrame) else claims_table(table, profile)
    caption = df.attrs.get("caption", "")
    cols = ["claim", "source", "original", "this run", "difference (A - B)", "verdict", "holds", "data"]
    shown = df[[c for c in cols if c in df.columns]].copy()
    shown.insert(1, "groups (A vs B)", df["groups"])
    parts = [f'<section class="claims"><h2>{html.escape(title)}</h2>']
    if "data" in df.columns and (df["data"] == "SYNTHETIC").any():
        parts.append(
            f'<p class="warn"><strong>{html.escape("SYNTHETIC DATA — not comparable with the original report")}'
            "</strong></p>"
        )
    parts.append(f"<p>{html.escape(caption)}</p>")
    parts.append(shown.to_html(index=False, escape=True, na_rep="—", classes="claims-table", border=0))
    parts.append("</section>")
    return "\n".join(parts)

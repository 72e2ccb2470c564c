"""Did every model learn? One row per configuration of the experiment notebooks, a statistical statement each.

A model that answers the most frequent class every time reaches the majority-class rate of its validation
images without learning anything, and an AUC of 0.5. A configuration *learned* when, over its seeds, its mean
validation accuracy is above that rate plus :data:`MARGIN` and its mean validation AUC above :data:`AUC_FLOOR`
(issue 20's first target for the quick profile). Each of the two is a one-sample test over the seeds against its
bar (:func:`dive.stats.p_against`; the exact sign-flip test where every seed gives the same value), and its word
from :func:`dive.stats.side`. The family is the row: each row answers its own question (did this configuration
learn?), so its two tests are Holm-corrected together (:func:`dive.stats.holm`). "Every configuration learned" is
the intersection of the rows' "learned": it holds at the same level only when every row's does (an
intersection-union test needs no further correction), so a correction over the whole table would only make it
harder to show what the rows show. The verdicts:

* ``learned``: both means shown above their bars (Holm-corrected p < 0.05);
* ``did not learn``: either mean shown below its bar;
* ``cannot tell``: neither shown below, not both shown above (the interval says how close); ``cannot tell
  (one seed)``: a single seed gives no test.

The bar comes from the runs themselves: :meth:`dive.outputs.Outputs.add_run` records each run's
``val_majority_rate`` (the share of the most frequent class among the validation images it was scored on, from
:func:`dive.metrics.evaluate`). A configuration whose runs did not record it (a ``metrics.json`` written before
this existed, values given without runs, a multi-label task) is left out and counted in the caption, never
checked against a guessed rate.

:func:`learning_table` builds the table from ``metrics.json`` files; the report shows it in its Claims section
and writes it to ``claims/learning.csv``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import pandas as pd

from dive import stats

#: Points above the majority-class rate a configuration's mean validation accuracy must clear.
MARGIN = 0.05
#: The mean validation AUC a configuration must clear (0.5 is chance).
AUC_FLOOR = 0.80
LEARNED = "learned"
NOT_LEARNED = "did not learn"
CANNOT_TELL = "cannot tell"
#: The verdict words, most to least favourable.
VERDICTS = (LEARNED, CANNOT_TELL, stats.ONE_SEED, NOT_LEARNED)


def _finite(values) -> list[float]:
    return [float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)]


def _majority(metrics: Mapping, group: Mapping) -> float | None:
    """The largest validation majority-class rate among the group's runs (they share their validation images;
    the largest is the harder bar should they not), ``None`` when no run recorded one."""
    names = set(group.get("runs") or [])
    rates = _finite(r.get("val_majority_rate") for r in metrics.get("runs") or [] if r.get("name") in names)
    return max(rates) if rates else None


def _val_images(metrics: Mapping, group: Mapping) -> int | None:
    """The number of validation images the group's runs were scored on: ``val_images`` (recorded by
    ``Outputs.add_run`` from ``dive.metrics.evaluate``'s ``n``; the largest should they differ); for runs recorded
    before that key existed, the validation size of the data the run names (``params.data.sizes``); ``None`` when
    neither is there (an ensemble recorded before)."""
    names = set(group.get("runs") or [])
    runs = [r for r in metrics.get("runs") or [] if r.get("name") in names]
    counted = [r["val_images"] for r in runs if isinstance(r.get("val_images"), int)]
    if counted:
        return max(counted)
    sizes = [((r.get("params") or {}).get("data") or {}).get("sizes") for r in runs]
    sizes = [int(s[1]) for s in sizes if isinstance(s, list) and len(s) > 1 and isinstance(s[1], int)]
    return max(sizes) if sizes else None


def _cell(s: stats.Summary) -> str:
    """``"0.869 [0.834, 0.903]"`` from the summary over the seeds; ``"0.970 (one seed)"`` without an interval."""
    if s.ci_low is None:
        return f"{s.mean:.3f} (one seed)"
    return f"{s.mean:.3f} [{s.ci_low:.3f}, {s.ci_high:.3f}]"


def verdict(acc_side: str, auc_side: str) -> str:
    """The row's word from its two sides (:func:`dive.stats.side`): see the module's docstring."""
    sides = (acc_side, auc_side)
    if "below" in sides:
        return NOT_LEARNED
    if sides == ("above", "above"):
        return LEARNED
    if stats.ONE_SEED in sides:
        return stats.ONE_SEED
    return CANNOT_TELL


def learning_table(
    notebooks: Mapping[str, Mapping],
    *,
    margin: float = MARGIN,
    auc_floor: float = AUC_FLOOR,
    alpha: float = stats.ALPHA,
) -> pd.DataFrame:
    """One row per configuration (``metrics.json`` group with validation accuracy and AUC per seed) of each
    notebook in ``notebooks`` (``{notebook stem: metrics.json dict}``, in that order).

    Columns: ``notebook``, ``configuration``, ``n`` (seeds), ``validation images``, ``majority rate``, ``accuracy
    bar`` (majority rate + ``margin``), ``val accuracy [95 % interval]``, ``p accuracy (Holm)``, ``accuracy``
    (its side), ``val AUC [95 % interval]``, ``p AUC (Holm)``, ``AUC`` (its side), ``means at the bars`` (both
    means at or above their bars: what a single point estimate says, not a verdict) and ``verdict``.
    ``attrs``: ``caption``, ``family`` (the number of tests Holm corrects over together: a row's two) and
    ``left_out`` (configurations without a recorded majority rate, ``[(notebook, configuration)]``).
    """
    if not 0 <= margin < 1 or not 0 < auc_floor < 1:
        raise ValueError(
            f"learning_table: margin must lie in [0, 1) and auc_floor in (0, 1); got {margin}, {auc_floor}"
        )
    rows, left_out = [], []
    for stem, metrics in notebooks.items():
        for g in (metrics or {}).get("groups") or []:
            values = g.get("values") or {}
            acc, auc = _finite(values.get("val_accuracy") or []), _finite(values.get("val_auc") or [])
            if not acc or not auc:
                continue
            majority = _majority(metrics, g)
            if majority is None:
                left_out.append((stem, g["name"]))
                continue
            bar = majority + margin
            rows.append(
                {
                    "notebook": stem,
                    "configuration": g["name"],
                    "n": len(acc),
                    "validation images": _val_images(metrics, g),
                    "majority rate": majority,
                    "accuracy bar": bar,
                    "_acc": acc,
                    "_auc": auc,
                    "_p_acc": stats.p_against(acc, bar),
                    "_p_auc": stats.p_against(auc, auc_floor),
                }
            )
    out = []
    for r in rows:
        p_acc, p_auc = stats.holm([r["_p_acc"], r["_p_auc"]])  # the row's family: its two tests
        acc, auc = stats.summarize(r["_acc"]), stats.summarize(r["_auc"])
        mean_acc, mean_auc = acc.mean, auc.mean
        acc_side = stats.side(mean_acc, r["accuracy bar"], p_acc, alpha=alpha)
        auc_side = stats.side(mean_auc, auc_floor, p_auc, alpha=alpha)
        out.append(
            {
                **{k: v for k, v in r.items() if not k.startswith("_")},
                "val accuracy [95 % interval]": _cell(acc),
                "p accuracy (Holm)": p_acc,
                "accuracy": acc_side,
                "val AUC [95 % interval]": _cell(auc),
                "p AUC (Holm)": p_auc,
                "AUC": auc_side,
                "means at the bars": "yes" if mean_acc >= r["accuracy bar"] and mean_auc >= auc_floor else "no",
                "verdict": verdict(acc_side, auc_side),
            }
        )
    df = pd.DataFrame(
        out,
        columns=[
            "notebook",
            "configuration",
            "n",
            "validation images",
            "majority rate",
            "accuracy bar",
            "val accuracy [95 % interval]",
            "p accuracy (Holm)",
            "accuracy",
            "val AUC [95 % interval]",
            "p AUC (Holm)",
            "AUC",
            "means at the bars",
            "verdict",
        ],
    )
    df.attrs["family"] = 2
    df.attrs["left_out"] = left_out
    df.attrs["caption"] = caption(df, margin=margin, auc_floor=auc_floor)
    return df


def counts(table: pd.DataFrame) -> dict[str, int]:
    """``{verdict: number of configurations}`` in :data:`VERDICTS` order, zeros left out."""
    found = table["verdict"].value_counts() if len(table) else pd.Series(dtype=int)
    return {v: int(found[v]) for v in VERDICTS if v in found}


def summary(table: pd.DataFrame) -> str:
    """One sentence: how many configurations learned, how many cannot tell, how many did not."""
    if not len(table):
        return "no configuration with a recorded validation majority rate"
    c = counts(table)
    head = f"{c.get(LEARNED, 0)} of {len(table)} configurations learned"
    return ", ".join([head, *(f"{n} {word}" for word, n in c.items() if word != LEARNED)])


#: What the full table's columns beyond the verdict mean (the appendix shows them; the counts under the Claims do not).
COLUMNS_NOTE = (
    "'means at the bars': both means at or above their bars, a point estimate, not a verdict. 'validation images': "
    "how many images each seed's validation scores come from."
)


def caption(table: pd.DataFrame, *, margin: float = MARGIN, auc_floor: float = AUC_FLOOR) -> str:
    text = (
        f"A configuration learned when its mean validation accuracy over the seeds is above the majority-class rate "
        f"of its validation images + {margin * 100:g} points and its mean validation AUC above {auc_floor:g}, each "
        "a one-sample t-test over the seeds against its bar, the row's two tests Holm-corrected together (p < 0.05; "
        "every configuration learned only if every row says so); 'did not learn' where either is shown below, "
        "'cannot tell' otherwise."
    )
    left = table.attrs.get("left_out") or []
    if left:
        text += (
            f" Left out: {len(left)} configuration(s) whose runs recorded no validation majority rate (written before "
            "dive recorded it, values without runs, or a multi-label task)."
        )
    return text

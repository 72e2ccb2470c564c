"""What this run's seeds say about each of the original report's claims.

The claims themselves are data, kept in :mod:`dive.claims_catalogue` (:data:`CLAIMS`, :data:`GROUPS`,
:data:`LABELS`, :class:`Claim`; re-exported here, so ``dive.claims.CLAIMS`` keeps working). Each :class:`Claim`
names its notebook, the groups it compares (``metrics.json`` ``groups``, written
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
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

import pandas as pd

from dive import stats
from dive.claims_catalogue import CLAIMS, GROUPS, LABELS, NO_DIFFERENCE, Claim, label, originals, table5_group

__all__ = [
    "CLAIMS",
    "GROUPS",
    "HOLDS",
    "LABELS",
    "NO_DIFFERENCE",
    "Claim",
    "claims_html",
    "claims_table",
    "label",
    "legend_html",
    "originals",
    "table5_group",
]


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
    """``{pair key: value}``: the key is the run's recorded ``pair`` (:meth:`dive.outputs.Outputs.add_group`,
    e.g. notebook 07's member 2 paired with the member-1 seed its ensemble was built from), else its seed."""
    values = group.get("values") or {}
    vals = values.get(metric) or []
    seeds = group.get("seeds") or []
    pairs = values.get("pair") or [None] * len(seeds)
    keys = [s if p is None else p for s, p in zip(seeds, pairs, strict=True)]
    return {k: v for k, v in zip(keys, vals, strict=True) if isinstance(v, (int, float)) and not isinstance(v, bool)}


def _fmt_original(claim: Claim, scale: float, digits: int) -> str:
    if all(v is None for v in claim.original):
        return "no numbers given"
    return " vs ".join("—" if v is None else f"{v * scale:.{digits}f}" for v in claim.original)


#: What the ``holds`` column says, with its rule (the per-comparison verdict words: :data:`dive.stats.VERDICTS`).
HOLDS: dict[str, str] = {
    "supported": "a claim of a direction: A better than every other group (Holm over the page's family)",
    "contradicted": "a direction against the claim (another group better), or for a claim of no difference: "
    "a difference beyond the margin",
    "not supported (within noise)": "no direction shown, and the interval is narrow enough that the report's own "
    "difference would have shown",
    "equivalent": "a claim of no difference: every comparison equivalent within the margin (TOST; an "
    "intersection-union test, so no correction is needed)",
    "cannot tell": "the data cannot support a verdict: an interval wider than the report's claimed difference "
    "(or the margin where it gave none), equivalence not shown within the margin, or a single run",
    "not run": "the notebook or a group is missing",
}


@dataclass
class _Evaluated:
    """One claim's groups, values and unadjusted tests (before the page's family is corrected together)."""

    claim: Claim
    names: list[str]
    summaries: list
    comps: list  # stats.Comparison per other group (claims of a direction)
    eqs: list  # stats.Equivalence per other group (claims of no difference)
    notes: list[str]
    inputs: list = None  # per comparison, the (A, B) values its test was given (for its interval)


def _prepare(claim: Claim, m: dict, confidence: float) -> _Evaluated | str:
    """The claim's tests, or why it cannot be run."""
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
        return "; ".join(why)
    summaries = [stats.summarize(list(data[n].values()), confidence=confidence) for n in names]
    a = names[0]
    comps, eqs, notes, inputs = [], [], [], []
    for b in names[1:]:
        if claim.expected == stats.A_BETTER:
            inputs.append((data[a], data[b]))
            comps.append(
                stats.compare(
                    data[a], data[b], names=(a, b), higher_is_better=claim.higher_is_better, confidence=confidence
                )
            )
            continue
        common = [k for k in data[a] if k in data[b]]
        if common:
            if len(common) < max(len(data[a]), len(data[b])):
                notes.append(f"{a} vs {b} paired on the {len(common)} seeds both have")
            pa, pb = {k: data[a][k] for k in common}, {k: data[b][k] for k in common}
            inputs.append((pa, pb))
            eqs.append(stats.equivalence(pa, pb, claim.margin, alpha=1 - confidence))
        else:
            inputs.append((data[a], data[b]))  # no common seed: dual_interval is unpaired (Welch) as well
            eqs.append(stats.equivalence(data[a], data[b], claim.margin, paired=False, alpha=1 - confidence))
    return _Evaluated(claim, names, summaries, comps, eqs, notes, inputs)


def _claimed(claim: Claim, i: int) -> float | None:
    """The report's own difference between A and group ``i`` (its size), or the margin where it gave none."""
    a, b = claim.original[0], claim.original[i]
    if a is not None and b is not None and a != b:
        return abs(a - b)
    return claim.margin


def _name(v: str, a: str, b: str, margin: str) -> str:
    return {
        stats.A_BETTER: f"{a} better",
        stats.B_BETTER: f"{b} better",
        stats.EQUIVALENT: f"equivalent within ±{margin}",
    }.get(v, v)


def _joined(parts: list[str], others: list[str]) -> str:
    return parts[0] if len(parts) == 1 else "; ".join(f"vs {b}: {x}" for b, x in zip(others, parts, strict=True))


def _num(x: float | None, scale: float, digits: int) -> str:
    return "—" if x is None else f"{x * scale:.{digits}f}"


def _interval_text(diff: float, iv: tuple[float, float] | None, scale: float, digits: int) -> str:
    """``"+0.94 [-0.12, +2.00]"``; the difference alone without an interval (one pair) or where the interval is
    the point (no spread, the exact test rejects); ``[-∞, +∞]`` where the exact test cannot reject."""
    d = f"{diff * scale:+.{digits}f}"
    if iv is None or iv[0] == iv[1]:
        return d

    def end(x: float) -> str:
        return ("+∞" if x > 0 else "−∞") if math.isinf(x) else f"{x * scale:+.{digits}f}"

    return f"{d} [{end(iv[0])}, {end(iv[1])}]"


def _finish(
    ev: _Evaluated, adjusted: list[float | None], family: int, confidence: float, levels: list[float | None]
) -> tuple[dict, list[dict]]:
    """The row of one claim from its tests and the family-adjusted p-values of its directional ones (``levels``:
    their Holm levels, :func:`dive.stats.holm_levels`), and one record per comparison: the interval its verdict
    rests on (:func:`dive.stats.dual_interval`), which leaves out 0 (a direction) or lies inside the margin
    (no difference) exactly when the verdict says so."""
    claim = ev.claim
    scale, digits = _scale(claim.metric)
    alpha = 1 - confidence
    names = ev.names
    others = names[1:]
    this = "; ".join(f"{n}: {s.format(scale, digits)}" for n, s in zip(names, ev.summaries, strict=True))
    margin = "—" if claim.margin is None else f"{claim.margin * scale:.{digits}f}"
    if claim.expected == stats.A_BETTER:
        verdicts, half, mde, diffs, padj = [], [], [], [], []
        for i, (c, p) in enumerate(zip(ev.comps, adjusted, strict=True), 1):
            hw = None if c.ci_low is None else (c.ci_high - c.ci_low) / 2
            if p is None:
                v = stats.SINGLE_RUN
            elif p < alpha and not (c.ci_low <= 0 <= c.ci_high) and c.diff != 0:
                v = stats.A_BETTER if (c.diff > 0) == claim.higher_is_better else stats.B_BETTER
            else:
                claimed = _claimed(claim, i)
                no_spread = c.ci_low == c.ci_high  # the exact test could not reject: too few seeds to tell
                v = stats.CANNOT_TELL if claimed is None or no_spread or hw > claimed else stats.WITHIN_NOISE
            verdicts.append(v)
            half.append("no spread" if c.ci_low is not None and c.ci_low == c.ci_high else _num(hw, scale, digits))
            padj.append("—" if p is None else f"{p:.3g}")
            mde.append(_num(stats.min_detectable(c.sd, c.n, alpha=alpha) if c.sd is not None else None, scale, digits))
            diffs.append(c.format_diff(scale, digits) if c.ci_low != c.ci_high else f"{c.diff * scale:+.{digits}f}")
        named = [_name(v, c.a, c.b, margin) for c, v in zip(ev.comps, verdicts, strict=True)]
        intervals = [
            None if lvl is None else stats.dual_interval(xa, xb, level=lvl)
            for (xa, xb), lvl in zip(ev.inputs, levels, strict=True)
        ]
        kinds = ["none" if lvl is None else f"{1 - lvl:.2%} (Holm level {lvl:.3g} of {family})" for lvl in levels]
        centres = [c.diff for c in ev.comps]
        if stats.SINGLE_RUN in verdicts:
            holds = "cannot tell (single run)"
        elif all(v == stats.A_BETTER for v in verdicts):
            holds = "supported"
        elif stats.B_BETTER in verdicts:
            holds = "contradicted"
        elif stats.CANNOT_TELL in verdicts:
            holds = "cannot tell (interval wider than the claimed difference)"
        else:
            holds = "not supported (within noise)"
        better = "lower" if not claim.higher_is_better else "higher"
        tested = f"A {better} than each (two-sided, {confidence:.0%}; Holm over the page's {family})"
        methods = sorted({c.method for c in ev.comps if c.method != "none"})
        how = ", ".join(methods) + f"; Holm over the page's {family} directional comparisons"
        ns = [c.n for c in ev.comps]
    else:
        verdicts = [stats.SINGLE_RUN if e.n < 2 else e.verdict for e in ev.eqs]
        named = [_name(v, names[0], b, margin) for v, b in zip(verdicts, others, strict=True)]
        half = ["no spread" if e.lo is not None and e.lo == e.hi else _num(e.half_width, scale, digits) for e in ev.eqs]
        padj = ["—" if e.p is None else f"{e.p:.3g}" for e in ev.eqs]
        mde = [_num(e.mde, scale, digits) for e in ev.eqs]
        diffs = [
            f"{e.diff * scale:+.{digits}f}"
            + ("" if e.lo is None or e.lo == e.hi else f" [{e.lo * scale:+.{digits}f}, {e.hi * scale:+.{digits}f}]")
            for e in ev.eqs
        ]
        if stats.SINGLE_RUN in verdicts:
            holds = "cannot tell (single run)"
        elif all(v == stats.EQUIVALENT for v in verdicts):
            holds = f"equivalent (within ±{margin})"
        elif stats.DIFFERENT in verdicts:
            holds = f"contradicted (a difference beyond ±{margin})"
        else:
            holds = f"cannot tell (not shown within ±{margin})"
        tested = f"equivalence within ±{margin} (TOST, {1 - 2 * alpha:.0%} interval)"
        how = ", ".join(sorted({e.method for e in ev.eqs if e.method != "none"})) or "none"
        ns = [e.n for e in ev.eqs]
        intervals = [
            None if e.n < 2 else stats.dual_interval(xa, xb, level=2 * alpha)
            for (xa, xb), e in zip(ev.inputs, ev.eqs, strict=True)
        ]
        kinds = ["none" if e.n < 2 else f"{1 - 2 * alpha:.0%} (TOST)" for e in ev.eqs]
        centres = [e.diff for e in ev.eqs]
    if ev.notes:
        how += "; " + "; ".join(ev.notes)
    records = [
        {
            "claim_id": claim.id,
            "a": names[0],
            "b": b,
            "n": n,
            "diff": d,
            "lo": None if iv is None else iv[0],
            "hi": None if iv is None else iv[1],
            "interval": kind,
            "text": _interval_text(d, iv, scale, digits),
            "verdict": v,
        }
        for b, n, d, iv, kind, v in zip(others, ns, centres, intervals, kinds, verdicts, strict=True)
    ]
    return {
        "this run": this,
        "n": min(s.n for s in ev.summaries),
        "n (pairs)": _joined([str(n) for n in ns], others),
        "tested": tested,
        "difference (A - B)": _joined(diffs, others),
        "difference [tested interval]": _joined([r["text"] for r in records], others),
        "half-width": _joined(half, others),
        "detectable (80 % power)": _joined(mde, others),
        "p": _joined(padj, others),
        "verdict": _joined(named, others),
        "holds": holds,
        "how": how,
    }, records


def claims_table(
    reports_dir: str | os.PathLike,
    profile: str = "quick",
    *,
    claims: Sequence[Claim] = CLAIMS,
    confidence: float = stats.CONFIDENCE,
) -> pd.DataFrame:
    """One row per claim: the report's numbers beside this run's mean ± 95 % interval over seeds and a verdict.

    Reads ``<reports_dir>/<profile>/<notebook>/metrics.json``. One family per page: every directional
    comparison on the page (a claim of a direction compares A with each other group) is corrected together
    with Holm's step-down method (``frame.attrs["family"]`` = their number). A claim of *no* difference is
    tested for equivalence (TOST) against its margin (:data:`dive.reference.EQUIVALENCE_MARGINS`).

    Columns: ``claim``, ``notebook``, ``source``, ``metric``, ``groups`` (A first), ``original`` (the report's
    single runs, percent for accuracies), ``this run`` (mean ± half-width of the t interval, n), ``n``
    (fewest seeds of the groups), ``n (pairs)`` per comparison, ``tested`` (the direction or the margin),
    ``difference (A - B)`` (paired by seed, with its interval: 95 % for a direction, 90 % for equivalence),
    ``difference [tested interval]`` (the interval each verdict rests on: for a direction the interval at the
    comparison's Holm level, :func:`dive.stats.holm_levels` and :func:`dive.stats.dual_interval`, which leaves out
    0 exactly when the family-corrected test rejects; for no difference the TOST interval, inside the margin
    exactly when equivalent; ``[−∞, +∞]`` where an exact test without spread cannot reject),
    ``half-width`` of that interval, ``detectable (80 % power)`` (the smallest difference this n detects from
    the observed spread, :func:`dive.stats.min_detectable`), ``p`` (a direction: Holm-adjusted over the page's
    family; equivalence: the larger TOST p), ``verdict`` (words of
    :data:`dive.stats.VERDICTS`; a comparison that shows no direction says "cannot tell" when its half-width
    exceeds the report's claimed difference, or the margin where the report gave none), ``holds``
    (:data:`HOLDS`), ``data`` (the dataset, or SYNTHETIC) and ``how`` (the test, or why the claim was not run).

    ``frame.attrs["comparisons"]``: one record per comparison of the claims that ran (what the report's forest
    figure draws): ``claim_id``, ``a``, ``b``, ``n``, ``diff``, ``lo`` / ``hi`` (the tested interval, in the
    metric's units; ``None`` with one pair), ``interval`` (its confidence and kind), ``text`` and ``verdict`` (the
    comparison's verdict word of :data:`dive.stats.VERDICTS`).
    """
    base = Path(reports_dir) / profile
    cache: dict[str, dict | None] = {}
    rows, prepared = [], []
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
            "n (pairs)": "",
            "tested": "",
            "difference (A - B)": "",
            "difference [tested interval]": "",
            "half-width": "",
            "detectable (80 % power)": "",
            "p": "",
            "verdict": "not run",
            "holds": "not run",
            "data": "",
            "how": "",
        }
        ev = None
        if m is None:
            row["how"] = f"not run: no {base / claim.notebook / 'metrics.json'}"
        else:
            ds = m.get("dataset")
            row["data"] = "SYNTHETIC" if m.get("synthetic") else (", ".join(ds) if isinstance(ds, list) else str(ds))
            ev = _prepare(claim, m, confidence)
            if isinstance(ev, str):
                row["how"], ev = f"not run: {ev}", None
        rows.append(row)
        prepared.append(ev)
    # one family per page: every directional comparison with a p-value, corrected together
    slots = [(k, j) for k, ev in enumerate(prepared) if ev is not None for j in range(len(ev.comps))]
    ps = [prepared[k].comps[j].p_value for k, j in slots]
    adjusted_all = stats.holm(ps)
    levels_all = stats.holm_levels(ps, alpha=1 - confidence)
    family = sum(p is not None for p in adjusted_all)
    adjusted: dict[int, list] = {}
    levels: dict[int, list] = {}
    for (k, _j), p, lvl in zip(slots, adjusted_all, levels_all, strict=True):
        adjusted.setdefault(k, []).append(p)
        levels.setdefault(k, []).append(lvl)
    comparisons: list[dict] = []
    for k, ev in enumerate(prepared):
        if ev is not None:
            row, records = _finish(ev, adjusted.get(k, []), family, confidence, levels.get(k, []))
            rows[k].update(row)
            comparisons += records
    df = pd.DataFrame(rows)
    df["n"] = df["n"].astype("Int64")
    df.attrs["family"] = family
    df.attrs["comparisons"] = comparisons
    df.attrs["caption"] = (
        f"Each claim of the original report (its single-run numbers) against this run's groups over "
        f"seeds: mean ± half-width of the {confidence:.0%} t interval (n seeds); difference A - B "
        f"paired by seed with its interval. Claims of a direction: two-sided paired t-tests (the exact "
        f"sign-flip test where the differences have no spread), Holm's correction over the page's whole "
        f"family of {family} directional comparisons, {confidence:.0%} intervals. Claims of no difference: "
        f"equivalence (TOST) within the stated margin, {1 - 2 * (1 - confidence):.0%} intervals. "
        f"'difference [tested interval]' is the interval each verdict rests on: for a direction, the interval at "
        f"the comparison's Holm level (it leaves out 0 exactly when Holm rejects; dive.stats.holm_levels), for no "
        f"difference the TOST interval (inside the margin exactly when equivalent). "
        f"'detectable' is the smallest difference this n detects at 80 % power from the observed spread. "
        f"Accuracies in percent, losses as they are."
    )
    return df


def legend_html() -> str:
    """The verdict words and what ``holds`` says, with their rules, as a short HTML legend."""
    items = [f"<li><b>{html.escape(w)}</b>: {html.escape(rule)}</li>" for w, rule in stats.VERDICTS.items()]
    items += [f"<li><b>holds: {html.escape(w)}</b>: {html.escape(rule)}</li>" for w, rule in HOLDS.items()]
    return f'<div class="legend small"><p><b>Verdict words</b> (alpha 0.05)</p><ul>{"".join(items)}</ul></div>'


def claims_html(
    table: pd.DataFrame | str | os.PathLike, profile: str = "quick", *, title: str = "Claims and evidence"
) -> str:
    """The claims table as an HTML section for the assembled report (a table, or the reports dir to read),
    with the legend of the verdict words under it."""
    df = table if isinstance(table, pd.DataFrame) else claims_table(table, profile)
    caption = df.attrs.get("caption", "")
    cols = ["claim", "source", "original", "this run", "n (pairs)", "tested", "difference (A - B)", "half-width"]
    cols += ["detectable (80 % power)", "p", "verdict", "holds", "data"]
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
    parts.append(legend_html())
    parts.append("</section>")
    return "\n".join(parts)

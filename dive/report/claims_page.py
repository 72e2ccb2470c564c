"""The report's answer: the "What holds up" page, the forest figure of every comparison, the readable
Claims table and, for the appendix, the claims' group ids and per-group details.

Everything here is read from :mod:`dive.claims` through ONE function, :func:`claim_evidence` (the adapter):
it turns :func:`dive.claims.claims_table`'s rows into :class:`ClaimLine` s (one per claim, with its
:class:`ComparisonRow` s, one per comparison A - B). The page, the table and the figure are all drawn from
those lines, so they cannot disagree; ``tests/test_report_smoke.py`` checks them against the Claims table.

The verdict words are :func:`dive.claims.claims_table`'s ``holds`` column, shortened to the word before any
parenthesis (the parenthesis is kept as a detail); :data:`MARKS` gives each word a symbol and a colour so that
it also reads in black-and-white print.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

#: verdict word -> (symbol, CSS class); the symbol carries the verdict in black-and-white print.
MARKS: dict[str, tuple[str, str]] = {
    "supported": ("\u2714", "v-supported"),  # heavy check mark
    "equivalent": ("\u2248", "v-equivalent"),  # almost equal to
    "consistent": ("\u2248", "v-equivalent"),
    "contradicted": ("\u2718", "v-contradicted"),  # heavy ballot x
    "different": ("\u2718", "v-contradicted"),
    "not supported": ("\u2013", "v-unsure"),  # en dash: no direction found
    "cannot tell": ("?", "v-unsure"),
    "not run": ("\u25cb", "v-notrun"),  # white circle
}
#: Columns of the Claims table shown only in the appendix's "Claims: groups and tests" (when the table has them).
DETAIL_COLUMNS = ("half-width", "detectable (80 % power)")
#: The order verdicts are counted in, in the page's summary sentence.
ORDER = (
    "supported",
    "equivalent",
    "consistent",
    "contradicted",
    "different",
    "not supported",
    "cannot tell",
    "not run",
)


@dataclass
class ComparisonRow:
    """One comparison A - B of a claim: one row of the forest figure (in the table's units: accuracy points,
    loss as it is)."""

    claim_id: str
    claim: str
    label: str  # "balanced vs unbalanced, fixed epochs" (words, not group ids)
    a: str
    b: str
    unit: str  # "accuracy points" or the metric's own name (a loss)
    higher_is_better: bool
    n: int
    diff: float
    lo: float | None  # the interval the verdict rests on (``[-inf, inf]`` where an exact test cannot reject)
    hi: float | None
    text: str  # the difference as the Claims table prints it, "+1.25 [-0.50, +3.00]"
    verdict: str  # the claim's verdict word
    margin: float | None = None  # an equivalence margin (± this) for a "no difference" claim, when one is set
    report_diff: float | None = None  # the original report's own single-run difference A - B
    interval: str = ""  # what the interval is: "98.75% (Holm level 0.0125 of 4)", "90% (TOST)", "none"
    test: str = ""  # this comparison's own verdict (dive.stats.VERDICTS): "A better", "within noise", ...


@dataclass
class ClaimLine:
    """One claim as the report shows it."""

    id: str
    claim: str
    source: str
    notebook: str
    original: str
    this_run: str
    difference: str
    verdict: str  # one word (or two): supported, contradicted, cannot tell, ...
    detail: str  # what the Claims table says beyond the word ("within noise", "single run", "n=2")
    n: int | None
    groups: str  # the group ids, A first
    how: str
    data: str
    comparisons: list[ComparisonRow] = field(default_factory=list)
    tested: str = ""  # what was tested (a direction, or equivalence within a margin), where the table says
    details: dict = field(default_factory=dict)  # the table's per-comparison power columns, for the appendix

    @property
    def mark(self) -> str:
        return MARKS.get(self.verdict, ("?", "v-unsure"))[0]

    @property
    def css(self) -> str:
        return MARKS.get(self.verdict, ("?", "v-unsure"))[1]


def verdict_word(holds: str) -> tuple[str, str]:
    """The verdict word of a Claims-table ``holds`` cell and the rest as a detail:
    ``"consistent (no difference found, n=2)"`` -> ``("consistent", "no difference found, n=2")``,
    ``"equivalent within ±0.5"`` -> ``("equivalent", "within ±0.5")``; a word not in :data:`MARKS` is
    whatever stands before the first parenthesis."""
    holds = str(holds or "not run").strip()
    word = next((w for w in sorted(MARKS, key=len, reverse=True) if holds.lower().startswith(w)), None)
    if word is None:
        word, _, rest = holds.partition(" (")
        return word.strip(), rest.rstrip(")").strip()
    rest = holds[len(word) :].strip()
    if rest.startswith("(") and rest.endswith(")"):
        rest = rest[1:-1].strip()
    if word == "supported" and rest.startswith("equivalent"):  # a claim of no difference: "supported (equivalent
        return "equivalent", rest[len("equivalent") :].strip()  # within ±m)" reads "≈ equivalent", "within ±m"
    return word, rest


def equivalence_margin(claim, metrics: dict) -> float | None:
    """The equivalence margin (a fraction) of a claim of *no* difference (:attr:`dive.claims.Claim.margin`, from
    dive.reference's margins for its data); ``None`` for a directional claim."""
    from dive import claims

    return claim.margin if claim.expected == claims.NO_DIFFERENCE else None


def _words(text: str, names: list[str]) -> str:
    """``text`` with every group id replaced by its name in words (longest ids first)."""
    from dive import claims

    for name in sorted(set(names), key=len, reverse=True):
        text = text.replace(name, claims.label(name))
    return text


def claim_evidence(reports_dir: str | os.PathLike, profile: str) -> tuple[list[ClaimLine], pd.DataFrame]:
    """THE adapter between :mod:`dive.claims` and the report: one :class:`ClaimLine` per claim, and the
    Claims table as :func:`dive.claims.claims_table` returns it (saved whole in the appendix).

    The comparisons are the table's own (``attrs["comparisons"]``): each row's interval is the one its verdict
    rests on -- for a claim of a direction the interval at the comparison's Holm level in the page's family
    (:func:`dive.stats.holm_levels`, :func:`dive.stats.dual_interval`: it leaves out 0 exactly when the
    family-corrected test rejects), for a claim of no difference the TOST interval (inside the margin exactly
    when equivalent) with its equivalence margin (:func:`equivalence_margin`); ``text`` is the table's
    ``difference [tested interval]``.
    """
    from dive import claims, stats

    table = claims.claims_table(reports_dir, profile)
    tested = {}
    for r in table.attrs.get("comparisons") or []:
        tested.setdefault(r["claim_id"], []).append(r)
    base = Path(reports_dir) / profile
    cache: dict[str, dict | None] = {}
    lines = []
    for claim, row in zip(claims.CLAIMS, table.to_dict("records"), strict=True):
        if claim.notebook not in cache:
            path = base / claim.notebook / "metrics.json"
            cache[claim.notebook] = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
        m = cache[claim.notebook] or {}
        groups = {g["name"]: g for g in m.get("groups") or []}
        found = [claims._find(groups, pattern)[0] for pattern in claim.groups]
        word, detail = verdict_word(row["holds"])
        names = [n for n in found if n] + list(claim.groups)
        n = row.get("n")
        line = ClaimLine(
            id=claim.id,
            claim=claim.text,
            source=claim.source,
            notebook=claim.notebook,
            original=row["original"],
            # "(n=1)" says it: no ± means no interval (the Claims table keeps stats' longer wording)
            this_run=_words(row["this run"], names).replace(f", {stats.SINGLE_RUN})", ")") or "—",
            difference=_words(row["difference [tested interval]"], names) or "—",
            verdict=word,
            detail=detail,
            n=None if n is None or pd.isna(n) else int(n),
            groups=row["groups"],
            how=row["how"],
            data=row["data"],
            tested=_words(str(row.get("tested") or ""), names),
            details={k: _words(str(row[k]), names) for k in DETAIL_COLUMNS if row.get(k)},
        )
        if word != "not run" and all(found):
            scale, _digits = claims._scale(claim.metric)
            margin = equivalence_margin(claim, m)
            orig_a = claim.original[0]
            for r, orig_b in zip(tested.get(claim.id, []), claim.original[1:], strict=True):
                line.comparisons.append(
                    ComparisonRow(
                        claim_id=claim.id,
                        claim=claim.text,
                        label=f"{claims.label(r['a'])} vs {claims.label(r['b'])}",
                        a=r["a"],
                        b=r["b"],
                        unit="accuracy points" if scale == 100 else claim.metric.replace("_", " "),
                        higher_is_better=claim.higher_is_better,
                        n=r["n"],
                        diff=r["diff"] * scale,
                        lo=None if r["lo"] is None else r["lo"] * scale,
                        hi=None if r["hi"] is None else r["hi"] * scale,
                        text=r["text"],
                        verdict=word,
                        margin=None if margin is None else margin * scale,
                        report_diff=None if orig_a is None or orig_b is None else (orig_a - orig_b) * scale,
                        interval=r["interval"],
                        test=r["verdict"],
                    )
                )
        lines.append(line)
    return lines, table


def interval_label() -> str:
    """What the forest figure's intervals are (its legend): the ones the verdicts rest on
    (:func:`dive.claims.claims_table`, ``difference [tested interval]``)."""
    from dive import stats

    return (
        "this run: mean difference and the interval its verdict rests on (a direction: at the comparison's Holm "
        f"level in the page's family, without 0 exactly when Holm rejects; no difference: the "
        f"{1 - 2 * stats.ALPHA:.0%} TOST interval, inside the margin exactly when equivalent)"
    )


def comparisons_frame(lines: list[ClaimLine]) -> pd.DataFrame:
    """Every comparison of every claim, one row each (what the forest figure draws; saved as ``forest.csv``)."""
    rows = [asdict(c) for line in lines for c in line.comparisons]
    cols = list(ComparisonRow.__dataclass_fields__)
    return pd.DataFrame(rows, columns=cols)


def summary_sentences(lines: list[ClaimLine]) -> list[str]:
    """Two or three sentences from the verdicts: how many claims came out which way."""
    counts = Counter(line.verdict for line in lines)
    order = [w for w in ORDER if counts.get(w)] + sorted(w for w in counts if w not in ORDER)
    parts = [f"{counts[w]} {w}" for w in order]
    said = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    out = [f"Of the {len(lines)} claims tested here: {said}."]
    held = [line for line in lines if line.verdict in ("supported", "equivalent")]
    against = [line for line in lines if line.verdict in ("contradicted", "different")]
    if held:
        out.append("Holding up: " + "; ".join(line.claim.split(" (")[0] for line in held) + ".")
    if against:
        out.append("Contradicted by this run: " + "; ".join(line.claim.split(" (")[0] for line in against) + ".")
    if not held and not against:
        out.append("No claim was confirmed or contradicted: with these seeds the intervals cannot tell.")
    return out


def seeds_used(reports_dir: str | os.PathLike, profile: str, lines: list[ClaimLine]) -> str:
    """The seeds the claims' groups rest on, e.g. ``"22, 23 (1-2 per configuration)"``."""
    base = Path(reports_dir) / profile
    seeds, per_group = set(), []
    for nb in dict.fromkeys(line.notebook for line in lines if line.verdict != "not run"):
        path = base / nb / "metrics.json"
        if not path.is_file():
            continue
        for g in json.loads(path.read_text(encoding="utf-8")).get("groups") or []:
            seeds |= {s for s in g.get("seeds") or [] if s is not None}
            per_group.append(len(g.get("seeds") or []))
    if not seeds:
        return "—"
    lo, hi = min(per_group), max(per_group)
    counted = f"{lo}" if lo == hi else f"{lo}–{hi}"
    return f"{', '.join(str(s) for s in sorted(seeds))} ({counted} per configuration)"


def write_outputs(lines: list[ClaimLine], table: pd.DataFrame, out_dir: Path, *, synthetic: bool) -> dict:
    """``<out_dir>/claims.csv`` (the Claims table), ``forest.csv`` (its comparisons) and the forest figure as
    ``forest.png`` and ``forest.svg``; returns their paths."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from dive import plots

    out_dir.mkdir(parents=True, exist_ok=True)
    table.to_csv(out_dir / "claims.csv", index=False)
    frame = comparisons_frame(lines)
    frame.to_csv(out_dir / "forest.csv", index=False)
    paths = {"claims": out_dir / "claims.csv", "forest_csv": out_dir / "forest.csv"}
    if len(frame):
        fig = plots.forest(
            frame, synthetic=synthetic, marks={w: m[0] for w, m in MARKS.items()}, interval_label=interval_label()
        )
        for ext in ("png", "svg"):
            fig.savefig(out_dir / f"forest.{ext}", dpi=plots.DPI, bbox_inches="tight")
            paths[f"forest_{ext}"] = out_dir / f"forest.{ext}"
        plt.close(fig)
    return paths


def table_rows(notebook: str, metrics: dict) -> dict[str, pd.DataFrame]:
    """A notebook's one-at-a-time table (the original report's Tables 1-5) as dots with intervals: per metric
    its claims compare, one row per configuration (in words) with this run's mean and 95 % interval over the
    seeds (``metrics.json``'s group summaries) and the original report's single value; in the table's units
    (accuracy in percent). ``{}`` for a notebook without claims."""
    from dive import claims

    groups = {g["name"]: g for g in metrics.get("groups") or []}
    by_metric: dict[str, dict[str, dict]] = {}
    for claim in claims.CLAIMS:
        if claim.notebook != notebook:
            continue
        scale, _ = claims._scale(claim.metric)
        rows = by_metric.setdefault(claim.metric, {})
        for pattern, original in zip(claim.groups, claim.original, strict=True):
            name = claims._find(groups, pattern)[0]
            if name is None or name in rows:
                continue
            summary = (groups[name].get("summary") or {}).get(claim.metric)
            if not summary or summary.get("mean") is None:
                continue
            lo, hi = summary.get("ci_low"), summary.get("ci_high")
            rows[name] = {
                "label": claims.label(name),
                "group": name,
                "n": summary.get("n"),
                "mean": summary["mean"] * scale,
                "lo": float("nan") if lo is None else lo * scale,
                "hi": float("nan") if hi is None else hi * scale,
                "original": float("nan") if original is None else original * scale,
            }
    return {metric: pd.DataFrame(list(rows.values())) for metric, rows in by_metric.items() if rows}


def metric_label(metric: str) -> str:
    """``val_accuracy`` -> ``validation accuracy (%)``; ``val_loss`` -> ``validation loss``."""
    from dive import claims

    words = metric.replace("val_", "validation ").replace("test_", "test ").replace("_", " ")
    return words + (" (%)" if claims._scale(metric)[0] == 100 else "")

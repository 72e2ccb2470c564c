"""Step 3 of the report: one self-contained ``report.html`` from the notebooks' ``metrics.json`` files.

The page is ``templates/report.html.j2`` (Jinja2) with ``templates/report.css``; this module only
gathers what goes on it. Sections, in the original report's order:

What holds up   right after the title: one line per claim of the original report with its verdict, a few
                sentences from the verdicts, and the forest figure of every comparison
                (:mod:`dive.report.claims_page`)
1 Datasets      notebook ``00_*``
2 Methods       ``notebooks/sections/methods.md``
3 Experiments   notebooks ``01_*`` to ``08_*`` (the original report's experiments), one subsection each
4 Claims and evidence   the readable Claims table (claim, original, this run, difference, verdict), then "Did
                every model learn?" (:func:`learning_check`, :mod:`dive.learning`)
5 Discussion    ``notebooks/sections/discussion.md``
6, 7, ...       every later notebook (``09_*``, ``10_*``, ...): beyond the original report, one section
                each, titled by the notebook's first heading
Appendix: all runs   the claims' groups and tests, how the report was made (profile, notebooks, run
                times), then per notebook its runs, its long tables (per-seed tables and any table of more
                than :data:`~dive.report.layout.CHAPTER_ROWS` rows or :data:`~dive.report.layout.CHAPTER_CHARS`
                characters), its further notes (:func:`~dive.report.layout.chapter_notes`) and its further
                figures (:func:`~dive.report.layout.chapter_figures`: a chapter keeps the original report's
                figures and as many of its others as fit :data:`~dive.report.layout.CHAPTER_FIGURE_CM`), each
                linked from its chapter

Where a table, figure or note goes and how a table is sized to the page is :mod:`dive.report.layout`'s part.

The notebook list comes from the files (:func:`dive.report.execute.find_notebooks`), so any number
of notebooks works; a notebook that has not run yet is listed with its status.
"""

from __future__ import annotations

import base64
import datetime as _dt
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from html import escape as html_escape
from pathlib import Path
from typing import Any

import pandas as pd

from dive import profiles
from dive.outputs import SYNTHETIC_LINE, comparability_notes, datasets_of
from dive.report.execute import default_notebooks_dir, find_notebooks
from dive.report.layout import (
    CHAPTER_ROWS,
    Table,
    appendix_table,
    breakable,
    chapter_figures,
    chapter_notes,
    fmt,
    half_width,
    table_chars,
)

TEMPLATES = Path(__file__).resolve().parent / "templates"
#: Notebooks 01..LAST_EXPERIMENT are the original report's experiments; later ones go beyond it.
LAST_EXPERIMENT = 8
RUN_COLUMNS = [
    "run",
    "model",
    "epochs run",
    "best epoch",
    "s/epoch",
    "val acc",
    "val F1",
    "val AUC",
    "test acc",
    "test AUC",
]
# --- small helpers -----------------------------------------------------------------------------


def markdown_to_html(text: str) -> str:
    try:
        import markdown  # type: ignore[import-not-found]

        return markdown.markdown(text, extensions=["tables", "fenced_code"])
    except ImportError:
        from nbconvert.filters import markdown2html

        return markdown2html(text)


def first_heading(path: Path) -> str | None:
    """The first Markdown heading of a notebook, without the ``#``s."""
    try:
        nb = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "markdown":
            continue
        src = cell.get("source", "")
        src = "".join(src) if isinstance(src, list) else src
        for line in src.splitlines():
            m = re.match(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$", line)
            if m:
                return m.group(1).strip()
    return None


def injected_parameters(executed: Path) -> dict:
    """The parameters papermill injected into an executed notebook ({} if unknown)."""
    try:
        meta = json.loads(Path(executed).read_text(encoding="utf-8"))["metadata"].get("papermill", {})
        return dict(meta.get("parameters") or {})
    except (OSError, ValueError, KeyError, AttributeError, TypeError):
        return {}


def metrics_path(stem: str, base: Path, executed: Path, notebooks_dir: Path) -> Path:
    """Where a notebook's metrics.json is: its out_dir parameter if papermill gave one, else the default."""
    out_dir = injected_parameters(executed).get("out_dir")
    if out_dir:
        p = Path(out_dir)
        return (p if p.is_absolute() else notebooks_dir / p) / "metrics.json"
    return base / stem / "metrics.json"


def when(stamp: Any) -> str:
    return str(stamp).replace("T", " ") if stamp else "—"


def uniq(values: Iterable[Any]) -> str:
    seen = list(dict.fromkeys(str(v) for v in values if v not in (None, "")))
    return ", ".join(seen) if seen else "—"


def png_data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def runs_frame(runs: list[dict], notebook: str | None = None) -> pd.DataFrame:
    rows = []
    for r in runs:
        val, test = r.get("val") or {}, r.get("test") or {}
        row = {
            "run": r.get("name"),
            "model": r.get("model"),
            "epochs run": r.get("epochs_run"),
            "best epoch": r.get("best_epoch"),
            "s/epoch": r.get("seconds_per_epoch"),
            "val acc": val.get("accuracy"),
            "val F1": val.get("f1"),
            "val AUC": val.get("auc"),
            "test acc": test.get("accuracy"),
            "test AUC": test.get("auc"),
        }
        rows.append(({"notebook": notebook} if notebook is not None else {}) | row)
    cols = (["notebook"] if notebook is not None else []) + RUN_COLUMNS
    return pd.DataFrame(rows, columns=cols)


# --- what the template gets --------------------------------------------------------------------


@dataclass
class Block:
    """One notebook as a report (sub)section."""

    stem: str
    title: str
    heading: str
    anchor: str
    status: str
    html_rel: str | None
    warnings: list[str]
    parameters: str = ""
    notes: list[str] = field(default_factory=list)
    tables: list[dict] = field(default_factory=list)
    figures: list[dict] = field(default_factory=list)
    runs: Table | None = None
    ran: bool = False
    appendix_tables: list[dict] = field(default_factory=list)  # its long tables, shown in the appendix
    dots: list[dict] = field(default_factory=list)  # dot-and-interval figures, each beside its table (``beside``)
    appendix_figures: list[dict] = field(default_factory=list)  # its further figures (:func:`chapter_figures`)
    appendix_notes: list[str] = field(default_factory=list)  # its further notes (:func:`chapter_notes`)

    @property
    def appendix_anchor(self) -> str:
        return f"runs-{self.stem}"

    @property
    def in_appendix(self) -> bool:
        return bool(self.runs or self.appendix_tables or self.appendix_figures or self.appendix_notes)


@dataclass
class Section:
    number: str
    title: str
    anchor: str
    blocks: list[Block] = field(default_factory=list)
    html: str | None = None  # a Markdown section rendered
    table: Table | None = None  # a table of the section's own (the claims)
    after: str | None = None  # HTML under that table (the claims' legend)
    more: list[tuple[str, Table | None]] = field(default_factory=list)  # further (HTML, table) pairs after that
    empty: str | None = None  # shown when there is nothing


class _Counter:
    def __init__(self):
        self.table = 0
        self.figure = 0
        self.appendix = 0
        self.appendix_figure = 0


def collect(profile: str, notebooks_dir: Path, reports_dir: Path) -> list[dict]:
    """One record per notebook: title, executed/HTML paths, metrics (or why there are none)."""
    base = reports_dir / profile
    infos = []
    for src in find_notebooks(notebooks_dir):
        executed = base / "executed" / src.name
        html_path = base / "html" / f"{src.stem}.html"
        mpath = metrics_path(src.stem, base, executed, notebooks_dir)
        metrics, status = None, "ok"
        if mpath.is_file():
            metrics = json.loads(mpath.read_text(encoding="utf-8"))
        elif not executed.is_file():
            status = "not run"
        else:
            shown = mpath.relative_to(base) if mpath.is_relative_to(base) else mpath
            status = f"ran, but wrote no {shown}"
        warnings = comparability_notes(metrics.get("dataset"), bool(metrics.get("synthetic"))) if metrics else []
        infos.append(
            {
                "stem": src.stem,
                "src": src,
                "executed": executed,
                "metrics_path": mpath,
                "metrics": metrics,
                "status": status,
                "warnings": warnings,
                "parameters": injected_parameters(executed) if executed.is_file() else {},
                "title": first_heading(src) or first_heading(executed) or src.stem,
                "html_rel": f"html/{src.stem}.html" if html_path.is_file() else None,
            }
        )
    return infos


def _block(info: dict, heading: str, counter: _Counter, dots: list[dict] | None = None) -> Block:
    b = Block(info["stem"], info["title"], heading, info["stem"], info["status"], info["html_rel"], info["warnings"])
    m = info["metrics"]
    if m is None:
        return b
    b.ran = True
    dots = dots or []
    if info["parameters"]:
        b.parameters = ", ".join(f"{k}={v!r}" for k, v in info["parameters"].items())
    b.notes, b.appendix_notes = chapter_notes([str(n) for n in m.get("notes") or []])
    base = info["metrics_path"].parent
    for t in m.get("tables", []):
        csv = base / t["csv"]
        orig = csv.with_name(csv.stem + ".original.csv")
        frame = pd.read_csv(csv) if csv.is_file() else None
        original = pd.read_csv(orig) if orig.is_file() else None
        entry = {
            "caption": t.get("caption"),
            "name": t["name"],
            "path": str(csv),
            "table": Table.from_frame(frame) if frame is not None else None,
            "original": Table.from_frame(original) if original is not None else None,
            "original_in": None,  # where the original report's table is when it is not beside this one
        }
        if frame is not None and appendix_table(t["name"], len(frame), table_chars(frame)):
            counter.appendix += 1
            b.appendix_tables.append(entry | {"number": f"A{counter.appendix}"})
            continue
        counter.table += 1
        if original is not None and len(original) > CHAPTER_ROWS:  # a long published table: to the appendix
            counter.appendix += 1
            number = f"A{counter.appendix}"
            b.appendix_tables.append(
                entry
                | {
                    "number": number,
                    "caption": f"The original / published table beside Table {counter.table}",
                    "table": entry["original"],
                    "original": None,
                }
            )
            entry |= {"original": None, "original_in": number}
        b.tables.append(entry | {"number": counter.table})
    for d in dots:  # beside the first table of the original report's (``table<N>_...``), else the first
        beside = next((t["name"] for t in b.tables if t["name"].startswith("table")), None)
        beside = beside or (b.tables[0]["name"] if b.tables else None)
        counter.figure += 1
        b.dots.append(d | {"number": counter.figure, "beside": beside})
    figures = [
        {"caption": f.get("caption"), "name": f["name"], "path": str(base / f["png"])} for f in m.get("figures", [])
    ]
    shown, further = chapter_figures(figures)
    for f in shown:
        counter.figure += 1
        b.figures.append(f | {"number": counter.figure})
    for f in further:
        counter.appendix_figure += 1
        b.appendix_figures.append(f | {"number": f"A{counter.appendix_figure}"})
    for f in b.figures + b.appendix_figures:
        png = Path(f["path"])
        f |= {"src": png_data_uri(png) if png.is_file() else None, "half": half_width(png)}
    if m.get("runs"):
        b.runs = Table.from_frame(runs_frame(m["runs"]))
    return b


def _markdown_file(path: Path) -> tuple[str | None, str | None]:
    if path.is_file():
        return markdown_to_html(path.read_text(encoding="utf-8")), None
    return None, f"({path} not found)"


def claims_section(lines: list, synthetic: bool, family: int | None = None) -> tuple[str, Table | None]:
    """The readable "Claims and evidence" table: claim · original · this run · difference [interval] · verdict,
    configurations named in words (:mod:`dive.report.claims_page`); their group ids are in the appendix.
    ``family``: the size of the Claims table's one Holm family (``attrs["family"]``), said in the introduction."""
    rows = [
        {
            "claim": line.claim,
            "original": line.original,
            "this run: mean ± 95 % interval (n)": line.this_run,
            "difference A - B [tested interval]": line.difference,
            "verdict": f"{line.mark} {line.verdict}" + (f" ({line.detail})" if line.detail else ""),
        }
        for line in lines
    ]
    intro = (
        "<p>Each finding of the original report, its own single-run numbers, and what this run's seeds say: "
        "mean ± half-width of the 95 % t interval over the seeds (n), the difference paired by seed with the "
        "interval its verdict rests on (for a claim of a direction: the interval at the comparison's Holm level in "
        "the page's family, which leaves out 0 exactly when the family-corrected test rejects; for a claim of no "
        "difference: the 90 % interval of the two one-sided tests, inside the margin exactly when equivalent), "
        "and the verdict. "
        "A is the configuration the report found better (or no different); the groups compared, what was tested "
        'and how are in <a href="#claims-details">the appendix</a>. A single seed gives no interval.</p>'
    )
    if family is not None:  # dive.claims: one Holm family over every directional test on the page
        intro += (
            f"<p>All {int(family)} tests of a direction on this page form one Holm family; claims of no difference "
            "are tested for equivalence within their margin (two one-sided tests). The verdict words are defined "
            "under the table.</p>"
        )
    if synthetic:
        intro = f'<p class="warn">{SYNTHETIC_LINE}</p>' + intro
    table = Table.from_frame(pd.DataFrame(rows)) if rows else None
    if table is not None:
        table.long = True  # it may start under its introduction and continue overleaf (rows are not split)
    return intro, table


def claims_legend() -> str:
    """The verdict words with their rules under the Claims table (:func:`dive.claims.legend_html`)."""
    from dive import claims

    return claims.legend_html()


def claims_details(lines: list) -> Table | None:
    """The appendix table behind the Claims table: each claim's group ids (A first), the test, n, data."""
    from dive.report import claims_page

    rows = [
        {
            "claim": line.id,
            "notebook": line.notebook,
            "source": line.source,
            "groups (A vs B)": line.groups,
            "n": line.n,
            **({"tested": line.tested} if any(x.tested for x in lines) else {}),
            "verdict": line.verdict + (f" ({line.detail})" if line.detail else ""),
            **{k: line.details.get(k, "") for k in claims_page.DETAIL_COLUMNS if any(x.details for x in lines)},
            "how": line.how,
            "data": line.data,
        }
        for line in lines
    ]
    return Table.from_frame(pd.DataFrame(rows)) if rows else None


def dot_figures(info: dict, out_dir: Path, synthetic: bool) -> list[dict]:
    """A notebook's one-at-a-time table as dot-and-interval figures (:func:`dive.plots.dot_interval`), written
    to ``out_dir/<notebook>_<metric>.png``; [] for a notebook without claims or groups."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from dive import plots
    from dive.report import claims_page

    figures = []
    for metric, rows in claims_page.table_rows(info["stem"], info["metrics"] or {}).items():
        png = out_dir / f"{info['stem']}_{metric}.png"
        fig = plots.dot_interval(rows, xlabel=claims_page.metric_label(metric), save=png, synthetic=synthetic)
        plt.close(fig)
        figures.append(
            {
                "name": png.stem,
                "caption": f"The table as dots: this run's mean and 95 % interval over the seeds of each "
                f"configuration ({claims_page.metric_label(metric)}), the original report's single value as a "
                "hollow triangle",
                "path": str(png),
                "src": png_data_uri(png),
                "half": True,  # beside its table's neighbour, not a page of its own
            }
        )
    return figures


def learning_check(infos: list[dict], out_dir: Path, synthetic: bool) -> dict:
    """ "Did every model learn?" (:func:`dive.learning.learning_table` over the experiment notebooks'
    ``metrics.json``), also written to ``out_dir/learning.csv``: ``html`` (its introduction, under the Claims
    table), ``counts`` (per notebook: configurations and verdicts), ``summary`` (one line for "What holds up")
    ``details`` (every configuration, for the appendix) and ``note`` (what the appendix table's columns mean)."""
    from dive import learning

    table = learning.learning_table({i["stem"]: i["metrics"] for i in infos if i["metrics"]})
    out_dir.mkdir(parents=True, exist_ok=True)
    table.to_csv(out_dir / "learning.csv", index=False)
    summary = learning.summary(table)
    failed = table[table["verdict"] == learning.NOT_LEARNED]
    named = (
        " Did not learn: " + "; ".join(f"{r.configuration} ({r.notebook})" for r in failed.itertuples()) + "."
        if len(failed)
        else ""
    )
    html = (
        '<h3 id="learning">Did every model learn?</h3>'
        + (f'<p class="warn">{SYNTHETIC_LINE}</p>' if synthetic else "")
        + "<p>A comparison means something only between models that learned: a model that always answers the most "
        "frequent class reaches that class's share of the validation images, and an AUC of 0.5. "
        f"{html_escape(table.attrs['caption'])} This run: {html_escape(summary)}.{html_escape(named)} Every "
        'configuration with its intervals: <a href="#learning-details">the appendix</a> and '
        "<code>claims/learning.csv</code> (with the p-values).</p>"
    )
    counts = None
    if len(table):
        rows = []
        for stem, part in table.groupby("notebook", sort=False):
            c = learning.counts(part)
            rows.append({"notebook": stem, "configurations": len(part), **{v: c.get(v, 0) for v in learning.VERDICTS}})
        frame = pd.DataFrame(rows)
        frame = frame[[c for c in frame.columns if c not in learning.VERDICTS or frame[c].any()]]
        counts = Table.from_frame(frame)
    shown = table.drop(columns=["p accuracy (Holm)", "p AUC (Holm)", "accuracy", "AUC"])
    details = Table.from_frame(shown.round({"majority rate": 3, "accuracy bar": 3})) if len(table) else None
    if details is not None:
        details.long = True
    return {"html": html, "counts": counts, "summary": summary, "details": details, "note": learning.COLUMNS_NOTE}


def what_holds_up(reports_dir: Path, profile: str, data: str, datasets: str) -> dict:
    """The page after the title: the verdict lines, the sentences, what they rest on, the forest figure
    (also written to ``<reports>/<profile>/claims/``: forest.png, forest.svg, forest.csv, claims.csv)."""
    from dive.report import claims_page

    lines, table = claims_page.claim_evidence(reports_dir, profile)
    synthetic = data != "real"
    paths = claims_page.write_outputs(lines, table, reports_dir / profile / "claims", synthetic=synthetic)
    png = paths.get("forest_png")
    return {
        "lines": lines,
        "family": table.attrs.get("family"),
        "sentences": claims_page.summary_sentences(lines),
        "rests_on": [
            ("Profile", profile),
            ("Data", f"{datasets} ({data})"),
            ("Seeds", claims_page.seeds_used(reports_dir, profile, lines)),
        ],
        "legend": [(w, m[0], m[1]) for w, m in claims_page.MARKS.items() if any(x.verdict == w for x in lines)],
        "forest": {
            "src": png_data_uri(png) if png else None,
            "path": str(png) if png else None,
            "rows": sum(len(x.comparisons) for x in lines),
        },
    }


def build_context(profile: str, notebooks_dir: Path, reports_dir: Path, title: str) -> dict:
    """Everything ``report.html.j2`` shows."""
    infos = collect(profile, notebooks_dir, reports_dir)
    ran = [i for i in infos if i["metrics"]]
    counter = _Counter()

    banner = list(dict.fromkeys(w for i in ran for w in i["warnings"]))
    if SYNTHETIC_LINE in banner:  # the synthetic line first
        banner.remove(SYNTHETIC_LINE)
        banner.insert(0, SYNTHETIC_LINE)

    try:
        from dive.utils import git_commit

        build_commit = git_commit()
    except Exception:  # noqa: BLE001
        build_commit = None
    m = [i["metrics"] for i in ran]
    datasets = uniq(d for x in m for d in datasets_of(x.get("dataset")))
    data_kind = (
        "synthetic"
        if m and all(x.get("synthetic") for x in m)
        else "partly synthetic"
        if any(x.get("synthetic") for x in m)
        else "real"
    )
    meta = [
        ("Profile", profile),
        ("Datasets", datasets),
        ("Data", data_kind),
        ("Device", uniq(x.get("device") for x in m)),
        ("Seed", uniq(x.get("seed") for x in m)),
        ("Commit", uniq([x.get("git_commit") for x in m] + [build_commit])),
        ("Assembled", when(_dt.datetime.now().astimezone().isoformat(timespec="seconds"))),
        ("Run time", f"{sum(float(x.get('seconds') or 0) for x in m):.0f} s over {len(m)} notebooks"),
    ]
    notebooks = [
        {
            "stem": i["stem"],
            "title": i["title"],
            "html_rel": i["html_rel"],
            "status": i["status"],
            "started": when((i["metrics"] or {}).get("started"))[:16],
            "seconds": fmt((i["metrics"] or {}).get("seconds")),
            "dataset": uniq(datasets_of((i["metrics"] or {}).get("dataset"))),
            "synthetic": "yes" if (i["metrics"] or {}).get("synthetic") else ("no" if i["metrics"] else "—"),
        }
        for i in infos
    ]

    def number(info: dict) -> int:
        return int(info["stem"][:2])

    datasets_nbs = [i for i in infos if number(i) == 0]
    experiment_nbs = [i for i in infos if 0 < number(i) <= LAST_EXPERIMENT]
    beyond_nbs = [i for i in infos if number(i) > LAST_EXPERIMENT]
    holds = what_holds_up(reports_dir, profile, data_kind, datasets)
    dots_dir = reports_dir / profile / "figures"
    dots_dir.mkdir(parents=True, exist_ok=True)

    sections = []
    s = Section("1", "Datasets", "datasets", empty="No datasets notebook (00_*.ipynb) found.")
    s.blocks = [
        _block(i, i["title"] if len(datasets_nbs) == 1 else f"1.{k} {i['title']}", counter)
        for k, i in enumerate(datasets_nbs, 1)
    ]
    sections.append(s)
    s = Section("2", "Methods", "methods")
    s.html, s.empty = _markdown_file(notebooks_dir / "sections" / "methods.md")
    sections.append(s)
    s = Section("3", "Experiments", "experiments", empty="No experiment notebooks found.")
    s.blocks = [
        _block(i, f"3.{k} {i['title']}", counter, dot_figures(i, dots_dir, data_kind != "real") if i["metrics"] else [])
        for k, i in enumerate(experiment_nbs, 1)
    ]
    sections.append(s)
    s = Section("4", "Claims and evidence", "claims")
    s.html, s.table = claims_section(holds["lines"], data_kind != "real", holds["family"])
    s.after = claims_legend()
    learned = learning_check(experiment_nbs, reports_dir / profile / "claims", data_kind != "real")
    s.more = [(learned["html"], learned["counts"])]
    holds["rests_on"].append(("Did every model learn", f"{learned['summary']} (4 Claims and evidence)"))
    sections.append(s)
    s = Section("5", "Discussion", "discussion")
    s.html, s.empty = _markdown_file(notebooks_dir / "sections" / "discussion.md")
    sections.append(s)
    for k, info in enumerate(beyond_nbs, 6):  # each its own section, titled by its first heading
        block = _block(info, "", counter)
        s = Section(str(k), info["title"], info["stem"])
        s.blocks = [block]
        sections.append(s)

    header = f"{title} · profile {profile} · {datasets}" + (" (synthetic)" if data_kind != "real" else "")
    blocks = [b for sec in sections for b in sec.blocks]
    return {
        "title": title,
        "profile": profile,
        "banner": banner,
        "meta": meta,
        "notebooks": notebooks,
        "sections": sections,
        "holds": holds,
        "claims_details": claims_details(holds["lines"]),
        "learning_details": learned["details"],
        "learning_note": learned["note"],
        "appendix": [b for b in blocks if b.in_appendix],
        "running_header": header,
        "css": (TEMPLATES / "report.css").read_text(encoding="utf-8"),
    }


def environment():
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["breakable"] = lambda text: jinja2.utils.markupsafe.Markup(breakable(text))
    env.filters["css_string"] = css_string
    return env


def css_string(text: str) -> str:
    """``text`` as a quoted CSS string (for ``content:``), safe inside a ``<style>`` element."""
    quoted = str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ").replace("<", "\\3c ")
    return f'"{quoted}"'


def assemble(
    profile: str,
    *,
    notebooks_dir: str | os.PathLike | None = None,
    reports_dir: str | os.PathLike | None = None,
    title: str = "Dive into Deep Learning",
) -> Path:
    """Write ``<reports>/<profile>/report.html`` from the notebooks' metrics.json files."""
    profiles.check_profile(profile)
    notebooks_dir = Path(notebooks_dir or default_notebooks_dir()).resolve()
    reports_dir = Path(reports_dir or profiles.reports_root()).resolve()
    base = reports_dir / profile
    base.mkdir(parents=True, exist_ok=True)
    context = build_context(profile, notebooks_dir, reports_dir, title)
    page = environment().get_template("report.html.j2").render(**context)
    dest = base / "report.html"
    dest.write_text(page, encoding="utf-8")
    return dest

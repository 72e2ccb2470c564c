"""``python -m dive.report``: notebooks -> executed notebooks -> HTML -> report.html -> report.pdf.

Layout under ``<reports>/<profile>/``::

    executed/<NN_name>.ipynb   the notebooks as papermill ran them
    html/<NN_name>.html        each executed notebook rendered by nbconvert
    <NN_name>/metrics.json     what the notebook recorded through dive.outputs.Outputs
    <NN_name>/figures/ tables/
    report.html                one self-contained page (figures embedded)
    report.pdf                 report.html printed by headless Chromium

The notebooks' kernels get ``DIVE_REPORTS_DIR`` (so ``dive.profiles.resolve`` puts ``out_dir``
under the chosen reports dir), ``DIVE_PROFILES_DIR`` when given, and the repository on
``PYTHONPATH`` (so ``import dive`` works even without ``pip install -e .``).
"""
from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as _dt
import html
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import pandas as pd
import yaml

from dive import profiles
from dive.outputs import SYNTHETIC_LINE, comparability_notes, datasets_of

REPO_ROOT = profiles.REPO_ROOT
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
APT_HINT = "apt-get install -y chromium"


class NotebookFailed(RuntimeError):
    """A notebook raised while papermill ran it."""

    def __init__(self, name: str, cell: Any, ename: str, evalue: str, path: Path, cell_index: int | None = None):
        self.name, self.cell, self.ename, self.evalue, self.path, self.cell_index = name, cell, ename, evalue, path, cell_index
        super().__init__(f"notebook {name} failed in cell {cell}: {ename}: {evalue}")


# --- finding things ------------------------------------------------------------------------

def default_notebooks_dir() -> Path:
    return REPO_ROOT / "notebooks"


def find_notebooks(notebooks_dir: str | os.PathLike, only: Sequence[str] | None = None) -> list[Path]:
    """``NN_*.ipynb`` in order; ``only`` selects by number (``"03"``) or stem."""
    notebooks_dir = Path(notebooks_dir)
    found = sorted(p for p in notebooks_dir.glob("*.ipynb") if re.match(r"^\d\d_", p.name))
    if not only:
        return found
    chosen = []
    for sel in only:
        sel = profiles.notebook_stem(sel)
        hits = [p for p in found if p.stem == sel or p.stem.split("_", 1)[0] == sel]
        if not hits:
            raise ValueError(f"--notebooks {sel!r} matches no notebook in {notebooks_dir}; "
                             f"notebooks: {', '.join(p.stem for p in found) or '(none)'}")
        chosen += [p for p in hits if p not in chosen]
    return sorted(chosen)


def parse_value(text: str) -> Any:
    """A ``-p NAME VALUE`` value, read as papermill's CLI does (YAML; ``None``; ``1e-3`` is a float)."""
    if text == "None":
        return None
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    if isinstance(value, str):
        for cast in (int, float):
            try:
                return cast(value)
            except ValueError:
                pass
    return value


def notebook_parameters(path: Path) -> dict:
    """The names the notebook's ``parameters`` cell defines (empty without such a cell)."""
    import papermill

    return dict(papermill.inspect_notebook(str(path)))


def kernel_for(path: Path, requested: str | None = None) -> str:
    """The notebook's kernel (default ``python3``); ``python3`` when that one isn't installed."""
    if requested:
        return requested
    nb = json.loads(path.read_text(encoding="utf-8"))
    name = (nb.get("metadata", {}).get("kernelspec") or {}).get("name") or "python3"
    try:
        from jupyter_client.kernelspec import find_kernel_specs

        specs = find_kernel_specs()
    except Exception:  # noqa: BLE001
        return name
    if name not in specs and "python3" in specs:
        print(f"note: kernel {name!r} of {path.name} is not installed here; using python3", file=sys.stderr)
        return "python3"
    return name


@contextlib.contextmanager
def kernel_env(reports_dir: Path, profiles_dir: Path | None):
    """Environment the notebook kernels inherit.

    ``DIVE_QUIET=1`` turns off the per-epoch progress bars (widgets do not survive in executed
    notebooks); each run's history is in its tables and metrics.json instead.
    """
    saved = {k: os.environ.get(k) for k in ("DIVE_REPORTS_DIR", "DIVE_PROFILES_DIR", "PYTHONPATH", "DIVE_QUIET", "OMP_WAIT_POLICY")}
    os.environ["DIVE_REPORTS_DIR"] = str(Path(reports_dir).resolve())
    os.environ.setdefault("DIVE_QUIET", "1")
    # OpenMP threads that spin while waiting collapse throughput when another process shares the
    # cores (one SimpleCNN step 40 ms -> 590 ms measured here); passive waiting costs ~nothing alone.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if profiles_dir is not None:
        os.environ["DIVE_PROFILES_DIR"] = str(Path(profiles_dir).resolve())
    paths = [str(REPO_ROOT)] + [p for p in (saved["PYTHONPATH"] or "").split(os.pathsep) if p]
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def validate_values(values: dict, where: str) -> None:
    """The shared keys that can be checked before a notebook runs: data_flag, model, models."""
    try:
        if values.get("data_flag") is not None:
            profiles.check_data_flag(values["data_flag"])
        for key in ("model", "models"):
            if values.get(key) is not None:
                profiles.check_models(values[key], key)
    except ValueError as err:
        raise ValueError(f"{where}: {err}") from None


# --- 1. run --------------------------------------------------------------------------------

def run_notebooks(
    profile: str,
    *,
    notebooks_dir: str | os.PathLike | None = None,
    reports_dir: str | os.PathLike | None = None,
    overrides: dict | None = None,
    only: Sequence[str] | None = None,
    profiles_dir: str | os.PathLike | None = None,
    kernel_name: str | None = None,
    log: Callable[[str], None] = print,
) -> list[Path]:
    """Execute the notebooks with papermill; returns the executed notebooks' paths.

    Parameters per notebook: ``profile``, then the profile's values (common + the notebook's
    section) for the names its ``parameters`` cell defines, then ``overrides`` (which win).
    Raises :class:`NotebookFailed` at the first failing notebook (earlier outputs are kept).
    """
    import papermill
    from papermill.exceptions import PapermillExecutionError

    profiles.check_profile(profile)
    notebooks_dir = Path(notebooks_dir or default_notebooks_dir()).resolve()
    reports_dir = Path(reports_dir or profiles.reports_root()).resolve()
    pdir = Path(profiles_dir).resolve() if profiles_dir is not None else None
    data = profiles.load_profile(profile, pdir)
    notebooks = find_notebooks(notebooks_dir, only)
    stems = {p.stem for p in find_notebooks(notebooks_dir)}
    for section in data:
        if section != "common" and section not in stems:
            print(f"warning: profile {profile}: section {section!r} matches no notebook in {notebooks_dir}", file=sys.stderr)
    if not notebooks:
        print(f"warning: no NN_*.ipynb notebooks in {notebooks_dir}", file=sys.stderr)
    plans = []
    for src in notebooks:  # check every notebook's values before running any of them
        values = dict(data["common"])
        values.update(data.get(src.stem, {}))
        values.update(overrides or {})
        validate_values(values, f"{src.stem} ({profile})")
        plans.append((src, values))
    declared_by = {src: notebook_parameters(src) for src in notebooks}
    known = set().union(*declared_by.values()) if declared_by else set()
    unknown = sorted(set(overrides or {}) - known)
    if unknown and notebooks:  # a misspelt -p would otherwise be injected and silently ignored
        raise ValueError(f"parameter(s) {', '.join(unknown)} are not defined by any of the notebooks run "
                         f"({', '.join(p.stem for p in notebooks)}); their parameters: {', '.join(sorted(known))}")
    out_dir = reports_dir / profile / "executed"
    out_dir.mkdir(parents=True, exist_ok=True)
    executed = []
    with kernel_env(reports_dir, pdir):
        for i, (src, values) in enumerate(plans, 1):
            declared = declared_by[src]
            params: dict[str, Any] = {"profile": profile}
            params.update({k: v for k, v in values.items() if k in declared and k != "profile"})
            params.update(overrides or {})  # also where the notebook does not declare them, as papermill -p does
            dest = out_dir / src.name
            log(f"[{i}/{len(notebooks)}] {src.stem}: running ({profile}) ...")
            t0 = time.perf_counter()
            try:
                papermill.execute_notebook(
                    str(src), str(dest), parameters=params, cwd=str(notebooks_dir),
                    kernel_name=kernel_for(src, kernel_name), progress_bar=False, log_output=False,
                )
            except PapermillExecutionError as err:
                cell = err.exec_count if err.exec_count is not None else err.cell_index
                raise NotebookFailed(src.stem, cell, err.ename, err.evalue, dest, err.cell_index) from err
            except Exception as err:  # kernel died, timeout, bad notebook ...
                raise NotebookFailed(src.stem, "?", type(err).__name__, str(err), dest) from err
            log(f"[{i}/{len(notebooks)}] {src.stem}: done in {time.perf_counter() - t0:.1f} s")
            executed.append(dest)
    return executed


# --- 2. HTML per notebook ------------------------------------------------------------------

def render_html(executed: Iterable[str | os.PathLike], html_dir: str | os.PathLike) -> list[Path]:
    """nbconvert each executed notebook to ``html_dir/<name>.html`` (input prompts hidden)."""
    import nbformat
    from nbconvert import HTMLExporter

    html_dir = Path(html_dir)
    html_dir.mkdir(parents=True, exist_ok=True)
    exporter = HTMLExporter(template_name="lab")
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    written = []
    for path in map(Path, executed):
        nb = nbformat.read(str(path), as_version=4)
        body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": path.stem}})
        dest = html_dir / f"{path.stem}.html"
        dest.write_text(body, encoding="utf-8")
        written.append(dest)
    return written


# --- 3. the assembled report ---------------------------------------------------------------

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
        nb = json.loads(path.read_text(encoding="utf-8"))
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
        meta = json.loads(executed.read_text(encoding="utf-8"))["metadata"].get("papermill", {})
        return dict(meta.get("parameters") or {})
    except (OSError, ValueError, KeyError, AttributeError, TypeError):
        return {}


def _metrics_path(stem: str, base: Path, executed: Path, notebooks_dir: Path) -> Path:
    """Where a notebook's metrics.json is: its out_dir parameter if papermill gave one, else the default."""
    out_dir = injected_parameters(executed).get("out_dir")
    if out_dir:
        p = Path(out_dir)
        return (p if p.is_absolute() else notebooks_dir / p) / "metrics.json"
    return base / stem / "metrics.json"


def _when(stamp: Any) -> str:
    return str(stamp).replace("T", " ") if stamp else "—"


def _fmt(x: Any) -> str:
    if x is None or (isinstance(x, float) and x != x):
        return "—"
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, float):
        return f"{x:.0f}" if abs(x) >= 1000 else f"{x:.4g}"
    return str(x)


def df_html(df: pd.DataFrame) -> str:
    shown = df.copy()
    for col in shown.columns:
        shown[col] = [_fmt(v) for v in shown[col].astype(object)]
    return shown.to_html(index=False, border=0, escape=True, classes="data")


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}">'


def _warns(notes: list[str]) -> str:
    return "".join(f'<p class="warn">{html.escape(n)}</p>' for n in notes)


RUN_COLUMNS = ["run", "model", "epochs run", "best epoch", "s/epoch", "val acc", "val F1", "val AUC", "test acc", "test AUC"]


def runs_frame(runs: list[dict], notebook: str | None = None) -> pd.DataFrame:
    rows = []
    for r in runs:
        val, test = r.get("val") or {}, r.get("test") or {}
        row = {
            "run": r.get("name"), "model": r.get("model"), "epochs run": r.get("epochs_run"),
            "best epoch": r.get("best_epoch"), "s/epoch": r.get("seconds_per_epoch"),
            "val acc": val.get("accuracy"), "val F1": val.get("f1"), "val AUC": val.get("auc"),
            "test acc": test.get("accuracy"), "test AUC": test.get("auc"),
        }
        rows.append(({"notebook": notebook} if notebook is not None else {}) | row)
    cols = (["notebook"] if notebook is not None else []) + RUN_COLUMNS
    return pd.DataFrame(rows, columns=cols)


class _Counter:
    def __init__(self):
        self.table = 0
        self.figure = 0


def _notebook_block(info: dict, heading: str, counter: _Counter) -> str:
    out = [f'<h3 id="{html.escape(info["stem"])}">{html.escape(heading)}</h3>']
    if info["html_rel"]:
        out.append(f'<p class="small">Notebook: <code>{html.escape(info["stem"])}.ipynb</code> · '
                   f'<a href="{html.escape(info["html_rel"])}">executed notebook (HTML)</a></p>')
    m = info["metrics"]
    if m is None:
        out.append(f'<p class="missing">No results: {html.escape(info["status"])}.</p>')
        return "\n".join(out)
    warn = info["warnings"]  # repeated above every table; figures carry their own mark
    if info["parameters"]:
        shown = ", ".join(f"{k}={v!r}" for k, v in info["parameters"].items())
        out.append(f'<p class="small">Parameters given to the notebook: <code>{html.escape(shown)}</code></p>')
    if m.get("notes"):
        out.append('<div class="notes"><b>Notes</b><ul>' + "".join(f"<li>{html.escape(str(n))}</li>" for n in m["notes"]) + "</ul></div>")
    base = info["metrics_path"].parent
    for t in m.get("tables", []):
        counter.table += 1
        csv = base / t["csv"]
        cap = f'<p class="caption"><b>Table {counter.table}</b>{": " + html.escape(t["caption"]) if t.get("caption") else ""}'
        cap += f' <span class="small">({html.escape(t["name"])})</span></p>'
        body = df_html(pd.read_csv(csv)) if csv.is_file() else f'<p class="missing">missing file {html.escape(str(csv))}</p>'
        orig = csv.with_name(csv.stem + ".original.csv")
        if orig.is_file():
            body += '<p class="small">The original report\'s table:</p>' + df_html(pd.read_csv(orig))
        out.append(f'<div class="tablewrap">{_warns(warn)}{cap}{body}</div>')
    for f in m.get("figures", []):
        counter.figure += 1
        png = base / f["png"]
        img = _img(png) if png.is_file() else f'<p class="missing">missing file {html.escape(str(png))}</p>'
        cap = f'<b>Figure {counter.figure}</b>{": " + html.escape(f["caption"]) if f.get("caption") else ""}'
        out.append(f"<figure>{img}<figcaption>{cap}</figcaption></figure>")
    if m.get("runs"):
        out.append(f'<div class="tablewrap">{_warns(warn)}<p class="caption"><b>Runs</b> recorded in {html.escape(info["stem"])}</p>'
                   f"{df_html(runs_frame(m['runs']))}</div>")
    return "\n".join(out)


def _section_md(path: Path) -> str:
    if path.is_file():
        return markdown_to_html(path.read_text(encoding="utf-8"))
    return f'<p class="missing">({html.escape(str(path))} not found)</p>'


def collect(profile: str, notebooks_dir: Path, reports_dir: Path) -> list[dict]:
    """One record per notebook: title, executed/HTML paths, metrics (or why there are none)."""
    base = reports_dir / profile
    infos = []
    for src in find_notebooks(notebooks_dir):
        executed = base / "executed" / src.name
        html_path = base / "html" / f"{src.stem}.html"
        mpath = _metrics_path(src.stem, base, executed, notebooks_dir)
        metrics, status = None, "ok"
        if mpath.is_file():
            metrics = json.loads(mpath.read_text(encoding="utf-8"))
        else:
            status = "not run" if not executed.is_file() else f"ran, but wrote no {mpath.relative_to(base) if mpath.is_relative_to(base) else mpath}"
        warnings = comparability_notes(metrics.get("dataset"), bool(metrics.get("synthetic"))) if metrics else []
        infos.append({
            "stem": src.stem, "src": src, "executed": executed, "metrics_path": mpath, "metrics": metrics,
            "status": status, "warnings": warnings, "parameters": injected_parameters(executed) if executed.is_file() else {},
            "title": first_heading(src) or first_heading(executed) or src.stem,
            "html_rel": f"html/{src.stem}.html" if html_path.is_file() else None,
        })
    return infos


def _uniq(values: Iterable[Any]) -> str:
    seen = list(dict.fromkeys(str(v) for v in values if v not in (None, "")))
    return ", ".join(seen) if seen else "—"


def assemble(
    profile: str,
    *,
    notebooks_dir: str | os.PathLike | None = None,
    reports_dir: str | os.PathLike | None = None,
    title: str = "Dive into Deep Learning",
) -> Path:
    """Write ``<reports>/<profile>/report.html`` from the notebooks' metrics.json files."""
    from dive.report.style import CSS, page_banner_css

    profiles.check_profile(profile)
    notebooks_dir = Path(notebooks_dir or default_notebooks_dir()).resolve()
    reports_dir = Path(reports_dir or profiles.reports_root()).resolve()
    base = reports_dir / profile
    base.mkdir(parents=True, exist_ok=True)
    infos = collect(profile, notebooks_dir, reports_dir)
    ran = [i for i in infos if i["metrics"]]
    counter = _Counter()

    banner_lines = list(dict.fromkeys(w for i in ran for w in i["warnings"]))
    if any(w == SYNTHETIC_LINE for w in banner_lines):  # the synthetic line first
        banner_lines.remove(SYNTHETIC_LINE)
        banner_lines.insert(0, SYNTHETIC_LINE)

    try:
        from dive.utils import git_commit

        build_commit = git_commit()
    except Exception:  # noqa: BLE001
        build_commit = None

    m = [i["metrics"] for i in ran]
    meta_rows = [
        ("Profile", profile),
        ("Datasets", _uniq(d for x in m for d in datasets_of(x.get("dataset")))),
        ("Data", "synthetic" if m and all(x.get("synthetic") for x in m) else
                 ("partly synthetic" if any(x.get("synthetic") for x in m) else "real")),
        ("Device", _uniq(x.get("device") for x in m)),
        ("Seed", _uniq(x.get("seed") for x in m)),
        ("Commit", _uniq([x.get("git_commit") for x in m] + [build_commit])),
        ("Assembled", _when(_dt.datetime.now().astimezone().isoformat(timespec="seconds"))),
        ("Run time", f"{sum(float(x.get('seconds') or 0) for x in m):.0f} s over {len(m)} notebooks"),
    ]
    meta = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in meta_rows)
    nb_rows = []
    for i in infos:
        x = i["metrics"] or {}
        link = (f'<a href="{html.escape(i["html_rel"])}">{html.escape(i["stem"])}</a>' if i["html_rel"] else html.escape(i["stem"]))
        nb_rows.append(
            f"<tr><td>{link}</td><td>{html.escape(i['title'])}</td><td>{html.escape(_when(x.get('started')))}</td>"
            f"<td>{_fmt(x.get('seconds'))}</td><td>{html.escape(_uniq(datasets_of(x.get('dataset'))))}</td>"
            f"<td>{'yes' if x.get('synthetic') else ('no' if x else '—')}</td><td>{html.escape(i['status'])}</td></tr>"
        )
    nb_table = ("<table class='meta'><thead><tr><th>notebook</th><th>title</th><th>started</th><th>seconds</th>"
                "<th>dataset</th><th>synthetic</th><th>status</th></tr></thead><tbody>" + "".join(nb_rows) + "</tbody></table>")

    datasets_nbs = [i for i in infos if i["stem"].startswith("00")]
    experiment_nbs = [i for i in infos if not i["stem"].startswith("00")]
    parts = []
    if banner_lines:
        parts.append('<div class="sticky-banner">' + html.escape(" · ".join(banner_lines)) + "</div>")
    parts.append(f"<h1>{html.escape(title)}</h1>")
    parts.append(f'<p class="subtitle">Regenerated report — profile <b>{html.escape(profile)}</b>. Every number, table and figure '
                 "below was produced by this run of the notebooks; where the original report (Univ. Bamberg, 2024) gives a value, "
                 "it is set beside the regenerated one.</p>")
    if banner_lines:
        parts.append('<div class="banner">' + (html.escape(banner_lines[0]) if len(banner_lines) == 1 else
                     "Not comparable with the original report:<ul>" + "".join(f"<li>{html.escape(b)}</li>" for b in banner_lines) + "</ul>")
                     + "</div>")
    parts.append(f"<table class='meta'>{meta}</table>")
    parts.append(nb_table)

    parts.append('<h2 class="first" id="datasets">1 Datasets</h2>')
    if datasets_nbs:
        for k, info in enumerate(datasets_nbs, 1):
            heading = info["title"] if len(datasets_nbs) == 1 else f"1.{k} {info['title']}"
            parts.append(_notebook_block(info, heading, counter))
    else:
        parts.append('<p class="missing">No datasets notebook (00_*.ipynb) found.</p>')

    parts.append('<h2 id="methods">2 Methods</h2>')
    parts.append(_section_md(notebooks_dir / "sections" / "methods.md"))

    parts.append('<h2 id="experiments">3 Experiments</h2>')
    if not experiment_nbs:
        parts.append('<p class="missing">No experiment notebooks found.</p>')
    for k, info in enumerate(experiment_nbs, 1):
        parts.append(_notebook_block(info, f"3.{k} {info['title']}", counter))

    parts.append('<h2 id="discussion">4 Discussion</h2>')
    parts.append(_section_md(notebooks_dir / "sections" / "discussion.md"))
    all_runs = pd.concat([runs_frame(i["metrics"].get("runs", []), i["stem"]) for i in ran] or [runs_frame([], "")], ignore_index=True)
    parts.append('<h3 id="all-runs">All runs of this report</h3>')
    parts.append(_warns(banner_lines))
    parts.append(f'<div class="tablewrap">{df_html(all_runs)}</div>' if len(all_runs) else "<p>No runs were recorded.</p>")

    doc = ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
           f"<title>{html.escape(title)} — {html.escape(profile)}</title><style>{CSS}"
           + (page_banner_css(" · ".join(banner_lines)).replace("</", "<\\/") if banner_lines else "")
           + "</style></head>\n<body>\n"
           + "\n".join(parts) + "\n</body></html>\n")
    dest = base / "report.html"
    dest.write_text(doc, encoding="utf-8")
    return dest


# --- 4. PDF ----------------------------------------------------------------------------------

class BrowserNotFound(RuntimeError):
    pass


def find_browser() -> str:
    """``DIVE_BROWSER``, else the first of chromium / chromium-browser / google-chrome on PATH."""
    env = os.environ.get("DIVE_BROWSER")
    if env:
        return env
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    raise BrowserNotFound(f"no Chromium or Chrome on PATH (looked for {', '.join(BROWSERS)}); the PDF needs one: "
                          f"`{APT_HINT}` (Debian/Ubuntu), or pass --no-pdf")


def render_pdf(html_path: str | os.PathLike, pdf_path: str | os.PathLike | None = None, *,
               browser: str | None = None, timeout: float = 180) -> Path:
    """Print ``html_path`` to PDF with headless Chromium, offline."""
    html_path = Path(html_path).resolve()
    pdf_path = Path(pdf_path) if pdf_path is not None else html_path.with_suffix(".pdf")
    pdf_path = pdf_path.resolve()
    browser = browser or find_browser()
    pdf_path.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="dive-chromium-") as profile_dir:
        cmd = [
            browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-dev-shm-usage", f"--user-data-dir={profile_dir}", "--no-pdf-header-footer",
            f"--print-to-pdf={pdf_path}", html_path.as_uri(),
        ]
        env = dict(os.environ, HOME=profile_dir)
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
        except subprocess.TimeoutExpired as err:
            raise RuntimeError(f"{browser} did not finish printing {html_path} within {timeout:.0f} s") from err
        except FileNotFoundError as err:
            raise BrowserNotFound(f"{browser} not found; `{APT_HINT}`, or pass --no-pdf") from err
    if proc.returncode != 0 or not pdf_path.is_file() or pdf_path.stat().st_size == 0:
        tail = "\n".join((proc.stderr or proc.stdout or "").strip().splitlines()[-15:])
        raise RuntimeError(f"{browser} failed to print {html_path} (exit {proc.returncode}):\n{tail}")
    return pdf_path


# --- CLI -------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m dive.report",
        description="Run every notebook with one profile, render HTML, assemble report.html and report.pdf.",
    )
    ap.add_argument("--profile", default="quick", help=f"one of {', '.join(profiles.PROFILES)} (default quick)")
    ap.add_argument("-p", "--parameter", dest="params", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                    help="override a parameter in every notebook (value read as YAML, like papermill -p); may repeat")
    ap.add_argument("--notebooks", nargs="+", metavar="NN", help="run only these notebooks (number like 03, or stem)")
    ap.add_argument("--no-pdf", action="store_true", help="skip the PDF")
    ap.add_argument("--no-execute", action="store_true", help="do not run notebooks; assemble from the outputs already there")
    ap.add_argument("--notebooks-dir", type=Path, default=None, help="default: <repo>/notebooks")
    ap.add_argument("--reports-dir", type=Path, default=None, help="default: $DIVE_REPORTS_DIR or <repo>/reports")
    ap.add_argument("--profiles-dir", type=Path, default=None, help="default: $DIVE_PROFILES_DIR or <notebooks>/profiles")
    ap.add_argument("--kernel", default=None, help="kernel name for every notebook (default: each notebook's own, else python3)")
    ap.add_argument("--timeout", type=float, default=300, help="seconds allowed for printing the PDF (default 300)")
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.profile not in profiles.PROFILES:
        print(f"error: unknown profile {args.profile!r}; valid profiles: {', '.join(profiles.PROFILES)}", file=sys.stderr)
        return 2
    notebooks_dir = (args.notebooks_dir or default_notebooks_dir()).resolve()
    reports_dir = (args.reports_dir or profiles.reports_root()).resolve()
    pdir = args.profiles_dir
    if pdir is None and args.notebooks_dir is not None and (notebooks_dir / "profiles").is_dir() and not os.environ.get("DIVE_PROFILES_DIR"):
        pdir = notebooks_dir / "profiles"
    try:
        profiles.load_profile(args.profile, pdir)
        overrides = {name: parse_value(value) for name, value in args.params}
        base = reports_dir / args.profile
        t0 = time.perf_counter()
        if args.no_execute:
            executed = [base / "executed" / p.name for p in find_notebooks(notebooks_dir, args.notebooks)]
            executed = [p for p in executed if p.is_file()]
        else:
            executed = run_notebooks(args.profile, notebooks_dir=notebooks_dir, reports_dir=reports_dir, overrides=overrides,
                                     only=args.notebooks, profiles_dir=pdir, kernel_name=args.kernel)
        t1 = time.perf_counter()
        html_files = render_html(executed, base / "html")
        report = assemble(args.profile, notebooks_dir=notebooks_dir, reports_dir=reports_dir)
        t2 = time.perf_counter()
        print(f"notebooks: {len(executed)} in {t1 - t0:.1f} s; HTML: {len(html_files)} + {report} in {t2 - t1:.1f} s")
        if not args.no_pdf:
            pdf = render_pdf(report, timeout=args.timeout)
            print(f"PDF: {pdf} in {time.perf_counter() - t2:.1f} s")
    except NotebookFailed as err:
        print(str(err), file=sys.stderr)
        print(f"executed notebook (with the error): {err.path}", file=sys.stderr)
        return 1
    except (ValueError, FileNotFoundError, BrowserNotFound, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0

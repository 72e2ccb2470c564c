"""``python -m dive.report``: notebooks -> executed notebooks -> HTML -> report.html -> report.pdf.

Layout under ``<reports>/<profile>/``::

    executed/<NN_name>.ipynb   the notebooks as papermill ran them
    html/<NN_name>.html        each executed notebook rendered by nbconvert
    <NN_name>/metrics.json     what the notebook recorded through dive.outputs.Outputs
    <NN_name>/figures/ tables/
    report.html                one self-contained page (figures embedded)
    report.pdf                 report.html printed (WeasyPrint by default; --pdf-engine chromium)
    report.layout.json         WeasyPrint's measured layout: pages, every table's width against the text block
    build.json                 the last build that ran notebooks: its command, machine, each notebook's seconds,
                               HTML and PDF seconds, and how many finished runs the run store held when it began
                               (0: every run was trained by this build, so its time is a first run's);
                               "complete": false while it runs, and after a build that failed or was killed

The steps live in their own modules: :mod:`~dive.report.execute` (parameters, running),
:mod:`~dive.report.preflight` (every needed file checked before the first notebook),
:mod:`~dive.report.render` (nbconvert), :mod:`~dive.report.assembly` (Jinja2 template) and
:mod:`~dive.report.pdf`. This module is the command line; it re-exports the steps' main names.

The notebooks' kernels get ``DIVE_REPORTS_DIR`` (so ``dive.profiles.resolve`` puts ``out_dir``
under the chosen reports dir), ``DIVE_PROFILES_DIR`` when given, and the repository on
``PYTHONPATH`` (so ``import dive`` works even without ``pip install -e .``).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import os
import platform
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from dive import profiles, store, utils
from dive.report.assembly import assemble, collect, first_heading, runs_frame
from dive.report.execute import (
    KernelNotFound,
    NotebookFailed,
    Plan,
    default_notebooks_dir,
    find_notebooks,
    kernel_env,
    kernel_for,
    notebook_parameters,
    parse_value,
    plan_notebooks,
    run_notebooks,
)
from dive.report.pdf import ENGINES, BrowserNotFound, PdfEngineMissing, check_engine, find_browser, render_pdf
from dive.report.preflight import PreflightError
from dive.report.render import render_html

__all__ = [
    "BrowserNotFound",
    "KernelNotFound",
    "NotebookFailed",
    "PdfEngineMissing",
    "Plan",
    "PreflightError",
    "assemble",
    "build_parser",
    "check_engine",
    "collect",
    "default_notebooks_dir",
    "find_browser",
    "find_notebooks",
    "first_heading",
    "kernel_env",
    "kernel_for",
    "main",
    "notebook_parameters",
    "parse_value",
    "plan_notebooks",
    "render_html",
    "render_pdf",
    "run_notebooks",
    "runs_frame",
]


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m dive.report",
        description="Run every notebook with one profile, render HTML, assemble report.html and report.pdf.",
    )
    ap.add_argument("--profile", default="quick", help=f"one of {', '.join(profiles.PROFILES)} (default quick)")
    ap.add_argument(
        "-p",
        "--parameter",
        dest="params",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help="override a parameter in every notebook (value read as YAML, like papermill -p); may repeat",
    )
    ap.add_argument("--notebooks", nargs="+", metavar="NN", help="run only these notebooks (number like 03, or stem)")
    ap.add_argument(
        "--jobs",
        type=int,
        default=1,
        metavar="N",
        help="run N notebooks at a time, each in its own kernel (default 1; timings then include waiting)",
    )
    ap.add_argument(
        "--threads",
        type=int,
        default=None,
        metavar="N",
        help="torch threads of each notebook's kernel (default: with --jobs > 1 the cores shared out, "
        "else all; a Ray worker uses as many as CPUs its run holds, 1 by default)",
    )
    ap.add_argument("--no-pdf", action="store_true", help="skip the PDF")
    ap.add_argument(
        "--pdf-engine",
        default="weasyprint",
        help=f"how report.pdf is printed: {', '.join(ENGINES)} (default weasyprint)",
    )
    ap.add_argument(
        "--no-execute", action="store_true", help="do not run notebooks; assemble from the outputs already there"
    )
    ap.add_argument("--notebooks-dir", type=Path, default=None, help="default: <repo>/notebooks")
    ap.add_argument("--reports-dir", type=Path, default=None, help="default: $DIVE_REPORTS_DIR or <repo>/reports")
    ap.add_argument(
        "--profiles-dir", type=Path, default=None, help="default: $DIVE_PROFILES_DIR or <notebooks>/profiles"
    )
    ap.add_argument(
        "--kernel", default=None, help="kernel name for every notebook (default: each notebook's own, dive)"
    )
    ap.add_argument(
        "--timeout", type=float, default=300, help="seconds allowed for Chromium to print the PDF (default 300)"
    )
    return ap


def _err(line: str) -> None:
    print(line, file=sys.stderr)


@contextlib.contextmanager
def report_ray(overrides: dict):
    """``-p executor ray`` without a ``ray_address`` (and no ``$RAY_ADDRESS``): one local Ray instance for
    the whole report, here, whose address every notebook is given (instead of each notebook starting its
    own); yields the overrides to run with. Any other case: the overrides as they are."""
    if overrides.get("executor") != "ray" or overrides.get("ray_address") or os.environ.get("RAY_ADDRESS"):
        yield overrides
        return
    from dive import executors

    ray = executors._import_ray()
    started = not ray.is_initialized()
    if started:
        executors.start_local_ray(log_to_driver=False)
    address = executors.current_address(ray)
    print(
        f"Ray: every notebook joins the local Ray instance at {address} "
        f"({'started' if started else 'already running'} here)"
    )
    try:
        yield {**overrides, "ray_address": address}
    finally:
        if started:
            ray.shutdown()


#: The record of the last build that ran notebooks, in ``<reports>/<profile>/``.
BUILD_RECORD = "build.json"
#: Environment variables that change what a build does or where it reads and writes; recorded when set.
_RECORDED_ENV = ("DIVE_DATA", "DIVE_RUN_STORE", "DIVE_MALLOC", "DIVE_PROFILES_DIR", "OMP_NUM_THREADS")


def _now() -> str:
    return _dt.datetime.now().astimezone().isoformat(timespec="seconds")


def build_record(
    argv: Sequence[str],
    *,
    started: str,
    timings: dict[str, float],
    notebooks_seconds: float,
    html_seconds: float | None,
    pdf_seconds: float | None,
    run_store: Path,
    finished_runs_at_start: int,
    jobs: int,
    threads: int | None,
    complete: bool = True,
) -> dict:
    """What ``build.json`` says about a build: the command, the machine, the times (each notebook's with its
    kernel's start, the HTML, the PDF; ``None`` where no PDF was made) and the run store it began with.

    ``complete=False``: the record of a build still running (written when it starts and after each notebook),
    which stays as it is when the build fails or is killed: ``finished`` is None, ``notebooks`` the ones that
    finished, ``notebooks_seconds`` and ``total_seconds`` the time so far, ``html_seconds`` None."""
    import torch

    return {
        "command": ["python", "-m", "dive.report", *argv],
        "environment": {k: os.environ[k] for k in _RECORDED_ENV if os.environ.get(k)},
        "git_commit": utils.git_commit(),
        "machine": {
            "cpu": utils.cpu_model(),
            "cpu_id": utils.cpu_id(),
            "cpu_features": utils.cpu_features(),
            "cores": os.cpu_count(),
            "platform": platform.platform(),
            "torch": torch.__version__,
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        },
        "jobs": jobs,
        "threads": threads,
        "complete": complete,
        "started": started,
        "finished": _now() if complete else None,
        "notebooks": [{"notebook": stem, "seconds": sec} for stem, sec in timings.items()],
        "notebooks_seconds": round(notebooks_seconds, 1),
        "html_seconds": None if html_seconds is None else round(html_seconds, 1),
        "pdf_seconds": None if pdf_seconds is None else round(pdf_seconds, 1),
        "total_seconds": round(notebooks_seconds + (html_seconds or 0.0) + (pdf_seconds or 0.0), 1),
        "run_store": str(run_store),
        "finished_runs_at_start": finished_runs_at_start,
        "finished_runs_at_end": store.finished_runs(run_store),
    }


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    if args.profile not in profiles.PROFILES:
        _err(f"error: unknown profile {args.profile!r}; valid profiles: {', '.join(profiles.PROFILES)}")
        return 2
    if args.pdf_engine not in ENGINES:
        _err(f"error: unknown PDF engine {args.pdf_engine!r}; valid: {', '.join(ENGINES)}")
        return 2
    notebooks_dir = (args.notebooks_dir or default_notebooks_dir()).resolve()
    reports_dir = (args.reports_dir or profiles.reports_root()).resolve()
    pdir = args.profiles_dir
    if (
        pdir is None
        and args.notebooks_dir is not None
        and (notebooks_dir / "profiles").is_dir()
        and not os.environ.get("DIVE_PROFILES_DIR")
    ):
        pdir = notebooks_dir / "profiles"
    pdf_problem = None
    if not args.no_pdf:
        try:
            check_engine(args.pdf_engine)
        except PdfEngineMissing as err:  # say so now; the notebooks still run and report.html is still written
            pdf_problem = str(err)
            _err(f"note: no PDF will be made: {pdf_problem}")
    try:
        profiles.load_profile(args.profile, pdir)
        overrides = {name: parse_value(value) for name, value in args.params}
        base = reports_dir / args.profile
        t0 = time.perf_counter()
        rendered: list[Path] = []
        timings: dict[str, float] = {}
        record = None
        if args.no_execute:
            executed = [base / "executed" / p.name for p in find_notebooks(notebooks_dir, args.notebooks)]
            executed = [p for p in executed if p.is_file()]
        else:
            run_store = profiles.run_store(args.profile, reports_dir)
            finished_before = store.finished_runs(run_store)
            started = _now()
            writing = threading.Lock()  # with --jobs, notebooks finish in worker threads

            def record(html_s: float | None, pdf_s: float | None, complete: bool = True) -> None:
                with writing:
                    rec = build_record(
                        argv,
                        started=started,
                        timings=dict(timings),
                        notebooks_seconds=(t1 if complete else time.perf_counter()) - t0,
                        html_seconds=html_s,
                        pdf_seconds=pdf_s,
                        run_store=run_store,
                        finished_runs_at_start=finished_before,
                        jobs=args.jobs,
                        threads=args.threads,
                        complete=complete,
                    )
                    store.save_json(rec, base / BUILD_RECORD)

            def finished_one(done: Path) -> None:
                rendered.extend(render_html([done], base / "html"))  # while the next one runs
                record(None, None, complete=False)

            def starting() -> None:
                # every check passed and notebooks run again: the last build's record no longer describes this
                # folder; this one says "complete": false until the build ends, and stays so if it fails or is
                # killed (a build stopped by its checks leaves the last record as it was)
                record(None, None, complete=False)

            with report_ray(overrides) as overrides:
                executed = run_notebooks(
                    args.profile,
                    notebooks_dir=notebooks_dir,
                    reports_dir=reports_dir,
                    overrides=overrides,
                    only=args.notebooks,
                    profiles_dir=pdir,
                    kernel_name=args.kernel,
                    jobs=args.jobs,
                    threads=args.threads,
                    after=finished_one,
                    on_start=starting,
                    timings=timings,
                )
        t1 = time.perf_counter()
        html_files = rendered + render_html(
            [p for p in executed if base / "html" / f"{p.stem}.html" not in rendered], base / "html"
        )
        report = assemble(args.profile, notebooks_dir=notebooks_dir, reports_dir=reports_dir)
        t2 = time.perf_counter()
        print(f"notebooks: {len(executed)} in {t1 - t0:.1f} s; HTML: {len(html_files)} + {report} in {t2 - t1:.1f} s")
        if pdf_problem or args.no_pdf:
            if record is not None:
                record(t2 - t1, None)
            if pdf_problem:
                _err(f"error: {report} is written, but no PDF: {pdf_problem}")
                return 1
        else:
            pdf = render_pdf(report, engine=args.pdf_engine, timeout=args.timeout)
            t3 = time.perf_counter()
            print(f"PDF ({args.pdf_engine}): {pdf} in {t3 - t2:.1f} s")
            if record is not None:
                record(t2 - t1, t3 - t2)
    except NotebookFailed as err:
        _err(str(err))
        _err(f"executed notebook (with the error): {err.path}")
        return 1
    except (ValueError, FileNotFoundError, PdfEngineMissing, KernelNotFound, RuntimeError, ImportError) as err:
        _err(f"error: {err}")
        return 1
    return 0

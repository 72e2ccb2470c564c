"""Step 1 of the report: find the notebooks, work out each one's parameters, check them all, run them.

``plan_notebooks`` merges every selected notebook's parameters and checks them all before any
notebook starts; ``run_notebooks`` plans, runs the data preflight (:mod:`dive.report.preflight`)
and then executes the notebooks one by one with papermill into ``<reports>/<profile>/executed/``.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from dive import allocator, profiles

REPO_ROOT = profiles.REPO_ROOT
#: The kernel every notebook names in its metadata; ``make setup`` registers it.
DIVE_KERNEL = "dive"
FALLBACK_KERNEL = "python3"


class NotebookFailed(RuntimeError):
    """A notebook raised while papermill ran it."""

    def __init__(self, name: str, cell: Any, ename: str, evalue: str, path: Path, cell_index: int | None = None):
        self.name, self.cell, self.ename, self.evalue = name, cell, ename, evalue
        self.path, self.cell_index = path, cell_index
        super().__init__(f"notebook {name} failed in cell {cell}: {ename}: {evalue}")


class KernelNotFound(RuntimeError):
    """Neither the notebook's kernel nor the fallback is installed."""


# --- finding things ------------------------------------------------------------------------


def default_notebooks_dir() -> Path:
    return REPO_ROOT / "notebooks"


def find_notebooks(notebooks_dir: str | os.PathLike, only: Sequence[str] | None = None) -> list[Path]:
    """``NN_*.ipynb`` in order (``_template.ipynb`` and other files are not part of the report);
    ``only`` selects by number (``"03"``) or stem."""
    notebooks_dir = Path(notebooks_dir)
    found = sorted(p for p in notebooks_dir.glob("*.ipynb") if re.match(r"^\d\d_", p.name))
    if not only:
        return found
    chosen: list[Path] = []
    for sel in only:
        sel = profiles.notebook_stem(sel)
        hits = [p for p in found if p.stem == sel or p.stem.split("_", 1)[0] == sel]
        if not hits:
            raise ValueError(
                f"--notebooks {sel!r} matches no notebook in {notebooks_dir}; "
                f"notebooks: {', '.join(p.stem for p in found) or '(none)'}"
            )
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


def _installed_kernels() -> set[str] | None:
    try:
        from jupyter_client.kernelspec import find_kernel_specs

        return set(find_kernel_specs())
    except Exception:  # noqa: BLE001  (no jupyter_client: let papermill say what is wrong)
        return None


def kernel_for(path: Path, requested: str | None = None, *, warn: Callable[[str], None] | None = None) -> str:
    """The kernel papermill runs ``path`` with.

    ``requested`` (``--kernel``) wins. Otherwise the notebook's own ``kernelspec.name`` (``dive``,
    registered by ``make setup``); when that kernel is not installed, ``python3`` is used instead and
    a note says so (the notebooks import ``dive`` through ``PYTHONPATH`` either way). Neither
    installed: :class:`KernelNotFound` naming both and how to register ``dive``.
    """
    if requested:
        return requested
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    name = (nb.get("metadata", {}).get("kernelspec") or {}).get("name") or DIVE_KERNEL
    installed = _installed_kernels()
    if installed is None or name in installed:
        return name
    if FALLBACK_KERNEL in installed:
        (warn or _stderr)(
            f"note: kernel {name!r} of {Path(path).name} is not installed here (`make setup` registers 'dive'); "
            f"running it with {FALLBACK_KERNEL!r} instead"
        )
        return FALLBACK_KERNEL
    raise KernelNotFound(
        f"kernel {name!r} of {Path(path).name} is not installed, nor {FALLBACK_KERNEL!r} "
        f"(installed: {', '.join(sorted(installed)) or 'none'}); run `make setup`, which registers 'dive'"
    )


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)


def cpu_cores() -> int:
    """The cores this process may use (its CPU affinity where the platform has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def kernel_threads(jobs: int, threads: int | None = None) -> int | None:
    """Torch (OpenMP) threads of each notebook kernel: ``threads`` when given; else, with ``jobs`` > 1
    notebooks side by side, the cores shared out between them (at least 1) unless ``$OMP_NUM_THREADS``
    is set; else None (torch's default: every core)."""
    if threads is not None:
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ValueError(f"threads must be an integer >= 1, got {threads!r}")
        return threads
    if jobs > 1 and not os.environ.get("OMP_NUM_THREADS"):
        return max(1, cpu_cores() // jobs)
    return None


@contextlib.contextmanager
def kernel_env(reports_dir: Path, profiles_dir: Path | None, threads: int | None = None):
    """Environment the notebook kernels inherit.

    ``DIVE_QUIET=1`` turns off the per-epoch progress bars (widgets do not survive in executed
    notebooks); each run's history is in its tables and metrics.json instead. ``threads``: the
    kernels' torch threads (``OMP_NUM_THREADS``; None: left as it is).
    """
    keys = ("DIVE_REPORTS_DIR", "DIVE_PROFILES_DIR", "PYTHONPATH", "DIVE_QUIET", "OMP_WAIT_POLICY", "OMP_NUM_THREADS")
    saved = {k: os.environ.get(k) for k in keys}
    if threads is not None:
        os.environ["OMP_NUM_THREADS"] = str(threads)
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


# --- parameters ----------------------------------------------------------------------------


@contextlib.contextmanager
def _profiles_dir_env(profiles_dir: str | os.PathLike | None):
    """``DIVE_PROFILES_DIR`` set to ``profiles_dir`` (when given) while :func:`dive.profiles.validate` reads it."""
    saved = os.environ.get("DIVE_PROFILES_DIR")
    if profiles_dir is not None:
        os.environ["DIVE_PROFILES_DIR"] = str(Path(profiles_dir).resolve())
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("DIVE_PROFILES_DIR", None)
        else:
            os.environ["DIVE_PROFILES_DIR"] = saved


@dataclass
class Plan:
    """One notebook as it will run: its file, the profile's values merged with the overrides, and
    the names its ``parameters`` cell declares."""

    src: Path
    values: dict
    declared: dict = field(default_factory=dict)
    #: What the notebook ends up with: :func:`dive.profiles.validate`'s merged and converted values (built-in
    #: defaults < common < section < overrides, ``None`` = not set; data_root / out_dir not derived yet).
    effective: dict = field(default_factory=dict)

    @property
    def stem(self) -> str:
        return self.src.stem

    def parameters(self, profile: str, overrides: dict | None) -> dict:
        """What papermill injects: ``profile``, the profile's values and the overrides, each only where the
        notebook's ``parameters`` cell declares it. A name the notebook does not declare would be injected and
        ignored (papermill says "Passed unknown parameter" on the terminal for each); an override that *no*
        selected notebook declares is an error before any notebook runs (:func:`plan_notebooks`)."""
        params: dict[str, Any] = {"profile": profile, **self.values, **(overrides or {})}
        return {k: v for k, v in params.items() if k in self.declared}


def plan_notebooks(
    profile: str,
    notebooks: Sequence[Path],
    *,
    overrides: dict | None = None,
    profiles_dir: str | os.PathLike | None = None,
    all_stems: Sequence[str] | None = None,
) -> list[Plan]:
    """Every notebook's merged values, checked for all notebooks before any of them runs.

    Each notebook's values go through :func:`dive.profiles.validate`; a ``-p`` name that none of the
    notebooks declares is a problem too (it would be injected and silently ignored). Raises
    :class:`dive.profiles.ParameterError` listing every problem of every notebook at once.
    """
    data = profiles.load_profile(profile, profiles_dir)
    stems = set(all_stems if all_stems is not None else (p.stem for p in notebooks))
    for section in data:
        if section != "common" and profiles.section_stem(section) not in stems:
            _stderr(f"warning: profile {profile}: section {section!r} matches no notebook")
    plans, problems = [], []
    for src in notebooks:
        values = profiles.profile_values(src.stem, profile, profiles_dir, data_flag=(overrides or {}).get("data_flag"))
        values.update(overrides or {})
        try:
            with _profiles_dir_env(profiles_dir):
                effective = profiles.validate(src.stem, profile, **(overrides or {}))
        except profiles.ParameterError as err:
            problems += err.problems
            effective = {}
        plans.append(Plan(src, values, notebook_parameters(src), effective))
    known = set().union(*(p.declared for p in plans)) if plans else set()
    unknown = sorted(set(overrides or {}) - known)
    if unknown and plans:
        problems.append(
            f"parameter(s) {', '.join(unknown)} are not defined by any of the notebooks run "
            f"({', '.join(p.stem for p in plans)}); their parameters: {', '.join(sorted(known))}"
        )
    try:  # every notebook that trains reads it (dive.allocator): a bad value fails here, not in the first run
        allocator.mode()
    except ValueError as err:
        problems.append(str(err))
    if problems:
        raise profiles.ParameterError(
            problems, f"{len(problems)} problem(s) with the parameters of {profile}; no notebook was run"
        )
    return plans


# --- running -------------------------------------------------------------------------------


def run_notebooks(
    profile: str,
    *,
    notebooks_dir: str | os.PathLike | None = None,
    reports_dir: str | os.PathLike | None = None,
    overrides: dict | None = None,
    only: Sequence[str] | None = None,
    profiles_dir: str | os.PathLike | None = None,
    kernel_name: str | None = None,
    preflight: bool = True,
    jobs: int = 1,
    threads: int | None = None,
    log: Callable[[str], None] = print,
    after: Callable[[Path], Any] | None = None,
    timings: dict[str, float] | None = None,
    on_start: Callable[[], Any] | None = None,
) -> list[Path]:
    """Execute the notebooks with papermill; returns the executed notebooks' paths, in order.

    Parameters per notebook: ``profile``, the profile's values (common + the notebook's section) and
    ``overrides`` (which win), each only where its ``parameters`` cell declares it (:meth:`Plan.parameters`).
    Before the first notebook starts, every notebook's values are checked and (``preflight``) every
    data file and weights file they need (:func:`dive.report.preflight.check`).

    ``jobs`` > 1 runs that many notebooks at a time, each in its own kernel (the notebooks are
    independent; their ``seconds`` then include the wait for the shared cores). ``threads``: torch
    threads per kernel (:func:`kernel_threads`: default, with ``jobs`` > 1, the cores shared out, so
    that notebooks side by side do not oversubscribe them; a Ray worker trains with as many threads
    as CPUs its run holds, 1 by default, so ``threads=1`` makes a local report comparable bit for bit
    with a Ray one). Raises
    :class:`NotebookFailed` for the first failing notebook in order; notebooks not yet started are
    not started, outputs already written are kept. ``after(executed_path)`` is called for each
    notebook that finished, in its worker (``python -m dive.report`` renders its HTML there, while
    the next notebook runs). ``timings``, when given, gets ``{notebook stem: seconds}`` of each notebook that
    finished (its kernel's start included), in the order they finished. ``on_start()`` is called once every
    check has passed, before the first notebook starts (a build with bad parameters or a missing file never
    calls it).
    """
    from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait

    from dive.report import preflight as _preflight

    profiles.check_profile(profile)
    if int(jobs) < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs!r}")
    threads = kernel_threads(int(jobs), threads)
    notebooks_dir = Path(notebooks_dir or default_notebooks_dir()).resolve()
    reports_dir = Path(reports_dir or profiles.reports_root()).resolve()
    pdir = Path(profiles_dir).resolve() if profiles_dir is not None else None
    notebooks = find_notebooks(notebooks_dir, only)
    if not notebooks:
        _stderr(f"warning: no NN_*.ipynb notebooks in {notebooks_dir}")
    plans = plan_notebooks(
        profile,
        notebooks,
        overrides=overrides,
        profiles_dir=pdir,
        all_stems=[p.stem for p in notebooks_dir.glob("*.ipynb")],  # _template.ipynb has a section too
    )
    if preflight:
        _preflight.check(plans)
    kernels = {plan.src: kernel_for(plan.src, kernel_name) for plan in plans}
    if jobs > 1 and any(_preflight.data_root_of(plan.effective) is None for plan in plans):
        # the synthetic files are written once, here, not by two notebooks at the same time
        profiles._ensure_synthetic(REPO_ROOT / "data" / "synthetic")
    out_dir = reports_dir / profile / "executed"
    out_dir.mkdir(parents=True, exist_ok=True)
    total = len(plans)
    if on_start is not None:
        on_start()

    # One line per notebook: one at a time, "running ..." is completed on its line when the notebook ends;
    # side by side (jobs > 1), each notebook's line is printed when it ends.
    same_line = jobs == 1 and log is print

    def one(i: int, plan: Plan) -> Path:
        dest = out_dir / plan.src.name
        head = f"[{i}/{total}] {plan.stem} ({profile}):"
        if same_line:
            print(f"{head} running ...", end="", flush=True)
        t0 = time.perf_counter()
        try:
            _execute(plan, dest, plan.parameters(profile, overrides), notebooks_dir, kernels[plan.src])
        except BaseException:
            if same_line:
                print(" failed", flush=True)
            raise
        seconds = time.perf_counter() - t0
        if timings is not None:
            timings[plan.stem] = round(seconds, 1)
        took = f"done in {seconds:.1f} s"
        if same_line:
            print(f" {took}", flush=True)
        else:
            log(f"{head} {took}")
        if after is not None:
            after(dest)
        return dest

    with kernel_env(reports_dir, pdir, threads):
        if threads is not None:
            log(f"each notebook's kernel computes with {threads} thread(s) (OMP_NUM_THREADS)")
        if jobs == 1:
            return [one(i, plan) for i, plan in enumerate(plans, 1)]
        with ThreadPoolExecutor(max_workers=int(jobs), thread_name_prefix="notebook") as pool:
            futures = [pool.submit(one, i, plan) for i, plan in enumerate(plans, 1)]
            done, pending = wait(futures, return_when=FIRST_EXCEPTION)
            if any(f.exception() for f in done):
                for f in pending:
                    f.cancel()
                wait(futures)
            for f in futures:  # in order: the first failing notebook is the one reported
                if not f.cancelled() and f.exception():
                    raise f.exception()
            return [f.result() for f in futures]


def kernel_transport() -> str:
    """How papermill's client talks to a notebook's kernel: ``ipc`` (Unix sockets in Jupyter's runtime
    directory, readable by this user only) where the platform has it, else ``tcp`` (Windows).

    Over ``tcp`` without CurveZMQ keys, ipykernel (>= 7) warns on its stderr, once per notebook, that
    "Kernel is running over TCP without encryption" -- true: any local user could connect to the ports.
    IPC removes the cause rather than hiding the message.
    """
    return "tcp" if os.name == "nt" else "ipc"


@functools.cache
def _kernel_manager_class():
    """jupyter_client's kernel manager, less its SIGINT at shutdown (:class:`FinishedKernelManager`)."""
    from jupyter_client import AsyncKernelManager

    class FinishedKernelManager(AsyncKernelManager):
        """Stops a notebook's kernel with the shutdown request alone.

        ``AsyncKernelManager.shutdown_kernel`` first sends the kernel SIGINT, in case a cell is still running.
        When papermill stops a kernel its last cell has finished, but ipykernel may still be closing that
        cell's message handler (the reply goes out before the handler returns); a SIGINT landing there makes
        ipykernel print "[IPKernelApp] ERROR | KeyboardInterrupt caught in kernel." to the terminal under a
        build that succeeded (seen in CI, 2026-12-04). Without it, a kernel that is somehow still busy and
        ignores the request is still ended by jupyter_client's SIGTERM, then SIGKILL, within
        ``shutdown_wait_time`` (tested).
        """

        async def _async_interrupt_kernel(self) -> None:
            if self.shutting_down:
                return
            await super()._async_interrupt_kernel()

    return FinishedKernelManager


def kernel_config():
    """The traitlets config papermill's notebook client gives the kernel manager it starts: the transport
    (:func:`kernel_transport`) and a manager that stops the kernel without a SIGINT
    (:func:`_kernel_manager_class`). Over IPC each kernel gets sockets of its own name in Jupyter's runtime
    directory (the default, ``kernel-ipc-N`` in the working directory, is shared by notebooks started side by
    side, and their messages then cross); the kernel manager removes them when the kernel stops."""
    import uuid

    from traitlets.config import Config

    config = Config()
    config.NotebookClient.kernel_manager_class = _kernel_manager_class()
    config.KernelManager.transport = kernel_transport()
    if config.KernelManager.transport == "ipc":
        from jupyter_core.paths import jupyter_runtime_dir

        runtime = Path(jupyter_runtime_dir())
        runtime.mkdir(parents=True, exist_ok=True)
        config.KernelManager.ip = str(runtime / f"dive-{uuid.uuid4().hex[:12]}-ipc")
    return config


def _execute(plan: Plan, dest: Path, parameters: dict, cwd: Path, kernel: str) -> None:
    import papermill
    from papermill.exceptions import PapermillExecutionError

    try:
        papermill.execute_notebook(
            str(plan.src),
            str(dest),
            parameters=parameters,
            cwd=str(cwd),
            kernel_name=kernel,
            progress_bar=False,
            log_output=False,
            config=kernel_config(),
        )
    except PapermillExecutionError as err:
        cell = err.exec_count if err.exec_count is not None else err.cell_index
        raise NotebookFailed(plan.stem, cell, err.ename, err.evalue, dest, err.cell_index) from err
    except Exception as err:  # kernel died, timeout, bad notebook ...
        raise NotebookFailed(plan.stem, "?", type(err).__name__, str(err), dest) from err

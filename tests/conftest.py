"""Shared fixtures: a synthetic data root (official formats) and the real data root, when given."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import matplotlib
import pytest

# Before torch is imported: passive OpenMP waiting keeps the suite fast when cores are shared.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

matplotlib.use("Agg")


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory) -> Path:
    from dive.synthetic import write_synthetic_root

    return write_synthetic_root(tmp_path_factory.mktemp("synthetic-data"))


@pytest.fixture(scope="session")
def path_data(synthetic_root):
    """Synthetic PathMNIST with the report's 80/20 split (files in the official format)."""
    from dive import data

    return data.load("pathmnist", synthetic_root, split="report")


@pytest.fixture(scope="session")
def real_root() -> Path:
    """``$DIVE_DATA`` when it holds real (non-synthetic) files; the test is skipped otherwise."""
    from dive.data import is_synthetic_root

    env = os.environ.get("DIVE_DATA")
    if not env:
        pytest.skip("real-data test: set DIVE_DATA to a folder with the real files (.ci/run uses ../shared/data)")
    root = Path(env)
    if not root.is_dir() or is_synthetic_root(root):
        pytest.skip(f"real-data test: DIVE_DATA={env} is not a folder of real data files")
    return root


def need_real_file(root: Path, relpath: str) -> Path:
    path = root / relpath
    if not path.is_file():
        pytest.skip(f"real-data test: {path} is not present")
    return path


def pytest_collection_modifyitems(config, items):
    """A test that uses ``smoke_report`` runs every notebook: it is a ``notebooks`` test whatever its
    module says, so ``make test-fast`` (``-m "not notebooks and not realdata"``) never starts the smoke report."""
    for item in items:
        if "smoke_report" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.notebooks)


@contextlib.contextmanager
def own_run_store():
    """``$DIVE_RUN_STORE`` unset while a test report runs: its runs go to ``<reports>/smoke/runs`` (trained
    there, never loaded from, or written into, the user's shared run store)."""
    saved = os.environ.pop("DIVE_RUN_STORE", None)
    try:
        yield
    finally:
        if saved is not None:
            os.environ["DIVE_RUN_STORE"] = saved


@pytest.fixture(scope="session")
def smoke_report(tmp_path_factory) -> Path:
    """Every notebook run once through ``python -m dive.report --profile smoke`` (papermill, HTML, PDF).

    Once per session; two notebooks at a time (``--jobs 2``: each in its own kernel, so kernel start-up,
    imports and plotting of one overlap the training of the other), each computing with one torch thread
    (``--threads 1``, as a Ray worker with one CPU does: tests/test_ray.py compares a Ray report with this
    one bit for bit). Returns ``<reports>/smoke``; the per-notebook tests and tests/test_report_smoke.py
    read the artifacts there.
    """
    from dive.report.build import main

    reports = tmp_path_factory.mktemp("reports")
    with own_run_store():
        rc = main(["--profile", "smoke", "--reports-dir", str(reports), "--jobs", "2", "--threads", "1"])
    assert rc == 0, "the smoke report failed (see the notebook and cell named above)"
    return reports / "smoke"

"""run_many on a local Ray instance (2 CPUs): same results as "local", a killed worker resumes, failures
name their run. Deselect with ``-m "not ray"``."""

import os
from pathlib import Path

import pytest
import torch
from test_run_many import tiny  # the same tiny runs as the local executor's tests

from dive import executors

#: CI (.ci/run) sets DIVE_REQUIRE_RAY=1: a Ray that is missing or does not start then fails these tests instead
#: of skipping them, so a green CI means they ran.
REQUIRE_RAY = os.environ.get("DIVE_REQUIRE_RAY", "") not in ("", "0")
if REQUIRE_RAY:
    import ray
else:
    ray = pytest.importorskip(
        "ray", reason="Ray is not installed (pip install -e '.[ray]'); CI sets DIVE_REQUIRE_RAY=1"
    )

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def ray_instance():
    """A local Ray instance with 2 CPUs; with ``DIVE_TEST_RAY_ADDRESS`` set, that running one instead (on a
    machine too busy for Ray's start-up: ``ray start --head --num-cpus=2`` once, then point the tests at it)."""
    if ray.is_initialized():
        ray.shutdown()
    address = os.environ.get("DIVE_TEST_RAY_ADDRESS")
    if address:
        ray.init(address=address, log_to_driver=False)
    else:
        try:
            executors.start_local_ray(num_cpus=2, include_dashboard=False, log_to_driver=False)
        except RuntimeError as err:  # Ray itself could not start here (all cores busy)
            if REQUIRE_RAY:
                pytest.fail(f"DIVE_REQUIRE_RAY is set and {err}")
            pytest.skip(f"{err} (a skip only without DIVE_REQUIRE_RAY=1, which CI sets)")
    yield
    ray.shutdown()


CONFIGS = [tiny(), tiny(lr=0.01), tiny(seed=1)]
NAMES = ["base", "lr 0.01", "seed 1"]


@pytest.fixture(scope="module")
def local_results(path_data, tmp_path_factory):
    """The three runs in this process with one torch thread (a Ray worker with 1 CPU trains with one)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return executors.run_many(
            path_data,
            CONFIGS,
            names=NAMES,
            evaluate_test=True,
            device="cpu",
            store=tmp_path_factory.mktemp("local-store"),
        )
    finally:
        torch.set_num_threads(threads)


def same(a, b) -> bool:
    """Bit-identical history (all but the seconds), metrics, probabilities and weights."""

    def strip(h):
        return [{k: v for k, v in e.items() if k != "seconds"} for e in h]

    sa, sb = a.model.state_dict(), b.model.state_dict()
    return (
        strip(a.history) == strip(b.history)
        and a.val == b.val
        and a.test == b.test
        and (a.val_probs == b.val_probs).all()
        and (a.test_probs == b.test_probs).all()
        and sa.keys() == sb.keys()
        and all(torch.equal(sa[k], sb[k]) for k in sa)
        and a.key == b.key
    )


def test_ray_gives_the_local_results_in_config_order(ray_instance, path_data, local_results, tmp_path, capsys):
    got = executors.run_many(path_data, CONFIGS, names=NAMES, executor="ray", evaluate_test=True, store=tmp_path)
    assert [r.name for r in got] == NAMES
    assert not any(r.loaded for r in got)  # trained on the workers, not loaded from some store
    for r, ref in zip(got, local_results, strict=True):
        assert same(r, ref), r.name
    assert got[0].history != got[1].history
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("[")]
    assert len(lines) == 3 and {ln.split("] ")[1].split(":")[0] for ln in lines} == set(NAMES)
    assert all((tmp_path / r.key / "result.pt").is_file() for r in got)


def _die_once(marker: str):
    """A callback that kills its worker process after the first epoch's checkpoint, the first time only."""

    def cb(epoch, record, model):
        if epoch == 1 and not os.path.exists(marker):
            Path(marker).write_text(str(os.getpid()))
            os._exit(1)

    return cb


def test_a_killed_worker_is_retried_and_resumes(ray_instance, path_data, local_results, tmp_path):
    marker = tmp_path / "killed"
    (r,) = executors.run_many(
        path_data,
        [CONFIGS[0]],
        names=["killed once"],
        executor="ray",
        evaluate_test=True,
        store=tmp_path / "store",
        callbacks=[_die_once(str(marker))],
        max_retries=1,
        transfer="disk",
    )
    assert marker.is_file()  # the worker did die once ...
    assert any("resumed from the checkpoint of epoch 1" in n for n in r.notes), r.notes  # ... and epoch 1 was kept
    assert same(r, local_results[0])


def test_a_failing_run_names_itself_and_the_others_are_kept(ray_instance, path_data, tmp_path):
    with pytest.raises(executors.RunFailedError) as err:
        executors.run_many(
            path_data,
            [tiny(seed=3), tiny(optimizer="sgd", lr=1e6)],
            names=["fine", "diverges"],
            executor="ray",
            store=tmp_path,
        )
    msg = str(err.value)
    assert "1 of 2 run(s) failed" in msg and "'diverges' (#1" in msg and "lr=1000000.0" in msg
    assert f"the other 1 run(s) finished; their results are in the run store {tmp_path}" in msg
    fine = err.value.results[0]
    assert fine is not None and (tmp_path / fine.key / "result.pt").is_file()
    (again,) = executors.run_many(path_data, [tiny(seed=3)], executor="ray", store=tmp_path)
    assert again.loaded and again.history == fine.history


# ------------------------------------------------------------------------------ the smoke report through Ray

#: Notebooks of the Ray smoke report that ``make test`` compares with the session's local smoke report:
#: 02 (three variants x two seeds through run_grid, and the seed-statistics tables built from them) and
#: 09 (data sets x recipes through dive.medmnist_compare.run_methods). ``DIVE_TEST_RAY_REPORT="all"`` (or a list
#: such as "01 07 10") compares those instead: every notebook that trains costs about 7 min here, because
#: each notebook's kernel is a new Ray job whose workers import torch and dive again (``make test-ray-report``).
RAY_REPORT_NOTEBOOKS = os.environ.get("DIVE_TEST_RAY_REPORT", "02 09")
#: Columns that hold wall-clock times: the only ones allowed to differ between the two reports.
TIMING_COLUMNS = {"s_per_epoch", "s_per_1000_images", "min_per_report_epoch"}


def _ray_report_stems() -> list[str]:
    from dive.report.execute import default_notebooks_dir, find_notebooks

    only = None if RAY_REPORT_NOTEBOOKS.strip() == "all" else RAY_REPORT_NOTEBOOKS.replace(",", " ").split()
    stems = [p.stem for p in find_notebooks(default_notebooks_dir(), only)]
    # 00 trains nothing: no runs to hand to Ray. 11's search runs its trials side by side on Ray Tune with ASHA,
    # so they are not the local study's trials (tests/test_search.py checks that path: same store, same format)
    return [s for s in stems if s not in ("00_datasets", "11_search")]


@pytest.fixture(scope="module")
def ray_smoke_report(ray_instance, smoke_report, tmp_path_factory) -> Path:
    """The smoke report's notebooks :data:`RAY_REPORT_NOTEBOOKS` with ``-p executor ray`` (every notebook joins
    the 2-CPU instance of ``ray_instance``), one torch thread per kernel as the local one, its own run store."""
    from conftest import own_run_store

    from dive.report.build import main

    reports = tmp_path_factory.mktemp("ray-reports")
    args = ["--profile", "smoke", "--reports-dir", str(reports), "--jobs", "2", "--threads", "1", "--no-pdf"]
    with own_run_store():
        rc = main([*args, "--notebooks", *_ray_report_stems(), "-p", "executor", "ray"])
    assert rc == 0, "the smoke report through Ray failed (see the notebook and cell named above)"
    return reports / "smoke"


def _outputs_text(executed: Path) -> str:
    import json

    cells = json.loads(executed.read_text())["cells"]
    return "".join("".join(o.get("text", "")) for c in cells for o in c.get("outputs", []))


def _runs(metrics: Path) -> list[dict]:
    """metrics.json's runs without wall-clock times."""
    import json

    runs = json.loads(metrics.read_text())["runs"]
    for r in runs:
        r.pop("seconds_per_epoch", None)
        for e in r["history"]:
            e.pop("seconds", None)
    return runs


def test_the_smoke_report_through_ray_equals_the_local_one_in_every_table(ray_smoke_report, smoke_report):
    import pandas as pd

    stems = _ray_report_stems()
    assert stems
    compared = 0
    for stem in stems:
        text = _outputs_text(ray_smoke_report / "executed" / f"{stem}.ipynb")
        assert "run_many: Ray cluster at" in text, f"{stem} did not hand its runs to Ray"
        assert " (on " in text, f"{stem}: no run finished on a Ray worker"  # run_many's progress line
        local_tables = sorted(p.name for p in (smoke_report / stem / "tables").glob("*.csv"))
        ray_tables = sorted(p.name for p in (ray_smoke_report / stem / "tables").glob("*.csv"))
        assert ray_tables == local_tables, stem
        for name in local_tables:
            a = pd.read_csv(smoke_report / stem / "tables" / name)
            b = pd.read_csv(ray_smoke_report / stem / "tables" / name)
            assert list(a.columns) == list(b.columns), f"{stem}/{name}"
            keep = [c for c in a.columns if c not in TIMING_COLUMNS]
            pd.testing.assert_frame_equal(a[keep], b[keep], check_exact=True, obj=f"{stem}/tables/{name}")
            compared += 1
        local_runs = _runs(smoke_report / stem / "metrics.json")
        assert local_runs, f"{stem} recorded no run"
        assert _runs(ray_smoke_report / stem / "metrics.json") == local_runs, f"{stem}: runs differ"
    assert compared >= 2 * len(stems)

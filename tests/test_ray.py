"""run_many on a local Ray instance (2 CPUs): same results as "local", a killed worker resumes, failures
name their run. Deselect with ``-m "not ray"``."""

import os
from pathlib import Path

import pytest
import torch
from test_run_many import tiny  # the same tiny runs as the local executor's tests

from dive import executors

ray = pytest.importorskip("ray")

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
            executors.start_local_ray(attempts=1, num_cpus=2, include_dashboard=False, log_to_driver=False)
        except RuntimeError as err:  # Ray itself could not start here (all cores busy): not a dive failure
            pytest.skip(str(err))
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

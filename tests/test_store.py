"""The run store can be shared safely (issue 25): no stored file runs code, a damaged file is set aside with a
note and the run goes on, a failed write keeps the previous file, one process trains a run while another waits
and loads it, and a report killed mid-run resumes from its last epoch."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from test_run_many import tiny, without_seconds

from dive import experiment, runner, store, train
from dive.store import CHECKPOINT_NAME, CONFIG_NAME, LOCK_NAME, RESULT_NAME

CHILD = Path(__file__).with_name("store_child.py")
ROOT = Path(__file__).resolve().parents[1]


class Payload:
    """Pickled, it asks the unpickler to call ``os.system`` (touch a marker file)."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture(scope="module")
def finished(path_data, tmp_path_factory):
    """A store with one finished tiny run (result, checkpoint and config.json) and its result."""
    st = tmp_path_factory.mktemp("finished-store")
    r = experiment.run(path_data, tiny(), store=st, quiet=True, evaluate_test=True)
    return st, r


def _copy(finished, tmp_path) -> tuple[Path, Path]:
    src, r = finished
    st = tmp_path / "store"
    shutil.copytree(src, st)
    return st, st / r.key


def _damage(path: Path, how: str, marker: Path) -> None:
    if how == "pickle payload":
        torch.save({"key": "x", "evil": Payload(marker)}, path)
        # the payload is live: an unrestricted load runs it (in a copy, so the test proves what it claims)
        probe = path.with_name("probe.pt")
        shutil.copy(path, probe)
        torch.load(probe, weights_only=False)
        assert marker.is_file(), "the payload should run under weights_only=False"
        marker.unlink()
        probe.unlink()
    elif how == "truncated":
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 3])
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "foreign":
        if path.suffix == ".json":
            path.write_text("[1, 2, 3]")
        else:
            torch.save({"weights": torch.zeros(3)}, path)  # a valid torch file, but no dive run's
    else:
        raise AssertionError(how)


DAMAGES = ["pickle payload", "truncated", "empty", "foreign"]


@pytest.mark.parametrize("how", DAMAGES)
def test_a_damaged_result_is_set_aside_and_the_run_trains_afresh(how, finished, path_data, tmp_path):
    st, run_dir = _copy(finished, tmp_path)
    marker = tmp_path / "payload-ran"
    (run_dir / CHECKPOINT_NAME).unlink()  # no checkpoint: the run trains from the start
    _damage(run_dir / RESULT_NAME, how, marker)
    r = experiment.run(path_data, tiny(), store=st, quiet=True, evaluate_test=True)
    assert not marker.exists(), "a stored file ran code"
    assert not r.loaded
    assert without_seconds(r.history) == without_seconds(finished[1].history) and r.val == finished[1].val
    aside = list(run_dir.glob(f"{RESULT_NAME}.set-aside*"))
    assert len(aside) == 1
    note = [n for n in r.notes if str(run_dir / RESULT_NAME) in n]
    assert len(note) == 1 and str(aside[0]) in note[0] and "\n" not in note[0], r.notes
    if how == "pickle payload":
        assert "weights_only" in note[0]
    assert experiment.run(path_data, tiny(), store=st, quiet=True).loaded  # the new result is stored


@pytest.mark.parametrize("how", DAMAGES)
def test_a_damaged_checkpoint_is_set_aside_and_the_run_starts_afresh(how, finished, path_data, tmp_path):
    st, run_dir = _copy(finished, tmp_path)
    marker = tmp_path / "payload-ran"
    (run_dir / RESULT_NAME).unlink()  # interrupted: only the checkpoint is left, and it is damaged
    _damage(run_dir / CHECKPOINT_NAME, how, marker)
    r = experiment.run(path_data, tiny(), store=st, quiet=True)
    assert not marker.exists(), "a stored file ran code"
    assert not r.loaded and r.fit.resumed_from is None
    assert without_seconds(r.history) == without_seconds(finished[1].history)
    assert len(list(run_dir.glob(f"{CHECKPOINT_NAME}.set-aside*"))) == 1
    assert any(str(run_dir / CHECKPOINT_NAME) in n and "set aside" in n for n in r.notes), r.notes


def test_a_result_of_the_old_format_is_rebuilt_from_its_finished_checkpoint(finished, path_data, tmp_path):
    """Results written before weights_only held NumPy arrays as pickled objects: refused, set aside, and
    rebuilt from the run's finished checkpoint without training an epoch."""
    st, run_dir = _copy(finished, tmp_path)
    old = store.from_plain(torch.load(run_dir / RESULT_NAME, weights_only=True))
    assert isinstance(old["val_probs"], __import__("numpy").ndarray)
    torch.save(old, run_dir / RESULT_NAME)  # as dive wrote it before
    with pytest.raises(store.DamagedFile, match="weights_only"):
        store.load_torch(run_dir / RESULT_NAME)

    def never(epoch, record, model):
        raise AssertionError("an epoch was trained")

    r = experiment.run(path_data, tiny(), store=st, quiet=True, evaluate_test=True, callbacks=[never])
    assert not r.loaded and r.fit.resumed_from == finished[1].fit.epochs_run
    assert r.val == finished[1].val and (r.test_probs == finished[1].test_probs).all()
    assert list(run_dir.glob(f"{RESULT_NAME}.set-aside*"))
    assert experiment.run(path_data, tiny(), store=st, quiet=True).loaded


@pytest.mark.parametrize("how", ["truncated", "empty", "foreign"])
def test_a_damaged_run_record_is_set_aside_and_rewritten(how, finished, path_data, tmp_path):
    st, run_dir = _copy(finished, tmp_path)
    _damage(run_dir / CONFIG_NAME, how, tmp_path / "unused")
    r = experiment.run(path_data, tiny(), store=st, quiet=True)
    assert r.loaded  # the result itself is fine
    assert len(list(run_dir.glob(f"{CONFIG_NAME}.set-aside*"))) == 1
    assert any(str(run_dir / CONFIG_NAME) in n and "set aside" in n for n in r.notes), r.notes
    assert json.loads((run_dir / CONFIG_NAME).read_text())["key"] == r.key


@pytest.fixture(scope="module")
def path_batches(path_data):
    """Tiny train and val batches (64 and 32 images) of synthetic PathMNIST."""
    from dive import batches as B

    b = path_data.subsets(train=64, val=32, test=32, seed=0)
    pre = B.Preprocess(mean=b.train.mean_std()[0], std=b.train.mean_std()[1])
    return B.Batches(b.train, 32, pre, device="cpu", train=True, seed=0), B.Batches(b.val, 32, pre, device="cpu")


def _net():
    from dive.models import build_model

    return build_model("simplecnn", 9, 3)


def test_fit_sets_a_damaged_checkpoint_aside_by_itself(path_batches, tmp_path):
    (tmp_path / CHECKPOINT_NAME).write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.warns(UserWarning, match="set aside"):
        res = train.fit(
            _net(),
            *path_batches,
            epochs=1,
            checkpoint_dir=tmp_path,
            resume=True,
            quiet=True,
        )
    assert res.resumed_from is None and list(tmp_path.glob(f"{CHECKPOINT_NAME}.set-aside*"))


# ------------------------------------------------------------------------------ failed writes


def _full_disk(monkeypatch):
    real = torch.save

    def save(obj, f, *a, **kw):
        real(obj, f, *a, **kw)
        with open(f, "r+b") as fh:  # half written, then the disk is full
            fh.truncate(os.path.getsize(f) // 2)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store.torch, "save", save)


def test_a_failed_result_write_keeps_the_previous_one(finished, path_data, tmp_path, monkeypatch):
    st, run_dir = _copy(finished, tmp_path)
    before = (run_dir / RESULT_NAME).read_bytes()
    r = experiment.run(path_data, tiny(), store=st, quiet=True)
    _full_disk(monkeypatch)
    with pytest.raises(OSError) as err:
        store.save_result(run_dir, runner._stored(r))
    assert str(run_dir / RESULT_NAME) in str(err.value) and "No space left on device" in str(err.value)
    assert err.value.errno == 28
    assert (run_dir / RESULT_NAME).read_bytes() == before
    assert not list(run_dir.glob("*.tmp"))
    monkeypatch.undo()
    assert experiment.run(path_data, tiny(), store=st, quiet=True).loaded


def test_a_failed_checkpoint_write_keeps_the_previous_one(path_batches, tmp_path, monkeypatch):
    class Stop(Exception):
        pass

    def stop(epoch, record, model):
        raise Stop

    with pytest.raises(Stop):  # interrupted after the first epoch's checkpoint
        train.fit(_net(), *path_batches, epochs=3, checkpoint_dir=tmp_path, quiet=True, callbacks=[stop])
    before = (tmp_path / CHECKPOINT_NAME).read_bytes()
    _full_disk(monkeypatch)
    with pytest.raises(OSError, match="No space left on device") as err:  # epoch 2's checkpoint cannot be written
        train.fit(_net(), *path_batches, epochs=3, checkpoint_dir=tmp_path, resume=True, quiet=True)
    assert str(tmp_path / CHECKPOINT_NAME) in str(err.value)
    assert (tmp_path / CHECKPOINT_NAME).read_bytes() == before
    assert train.load_checkpoint(tmp_path / CHECKPOINT_NAME)["epoch"] == 1
    assert not list(tmp_path.glob("*.tmp"))


# ------------------------------------------------------------------------------ the lock


def _lock_file(run_dir: Path, host: str, pid: int, age_s: float = 0.0) -> Path:
    run_dir.mkdir(parents=True, exist_ok=True)
    p = run_dir / LOCK_NAME
    p.write_text(json.dumps({"host": host, "pid": pid, "since": time.time() - age_s}))
    t = time.time() - age_s
    os.utime(p, (t, t))
    return p


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_a_lock_of_a_dead_process_on_this_host_is_broken_with_a_note(tmp_path):
    pid = _dead_pid()
    _lock_file(tmp_path, socket.gethostname(), pid)
    said = []
    with store.RunLock(tmp_path, poll_s=0.01, say=said.append) as lock:
        assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == os.getpid()
    assert not (tmp_path / LOCK_NAME).exists()  # released
    assert len(lock.notes) == 1 and f"pid {pid}" in lock.notes[0] and "no longer running" in lock.notes[0]
    assert said == lock.notes


def test_a_lock_of_a_live_process_is_waited_for(tmp_path):
    _lock_file(tmp_path, socket.gethostname(), os.getppid())  # alive
    lock = store.RunLock(tmp_path, poll_s=0.01, say=lambda t: None)
    with pytest.raises(TimeoutError, match="still held"):
        lock.acquire(timeout_s=0.2)
    assert (tmp_path / LOCK_NAME).exists() and json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == os.getppid()


def test_a_lock_of_another_host_is_broken_only_after_the_stated_timeout(tmp_path):
    _lock_file(tmp_path, "elsewhere", 1, age_s=30)
    with pytest.raises(TimeoutError):
        store.RunLock(tmp_path, poll_s=0.01, stale_s=60, say=lambda t: None).acquire(timeout_s=0.2)
    lock = store.RunLock(tmp_path, poll_s=0.01, stale_s=20, say=lambda t: None).acquire(timeout_s=5)
    assert any("elsewhere" in n and "no sign of life for 30 s (limit 20 s)" in n for n in lock.notes), lock.notes
    lock.release()


def _child(root, st, configs, env=None, **kw) -> subprocess.Popen:
    e = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]), **(env or {})}
    args = [sys.executable, str(CHILD), str(root), str(st), *(json.dumps(c.to_dict()) for c in configs)]
    return subprocess.Popen(args, env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def _results(p: subprocess.Popen, timeout=240) -> list[dict]:
    out, err = p.communicate(timeout=timeout)
    assert p.returncode == 0, err[-3000:]
    return [json.loads(ln[len("RESULT ") :]) for ln in out.splitlines() if ln.startswith("RESULT ")]


def test_two_processes_started_together_train_a_run_once(synthetic_root, tmp_path):
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    cfg = tiny(epochs=3)
    env = {"STORE_CHILD_BARRIER": f"{barrier}:2"}
    procs = [_child(synthetic_root, tmp_path / "store", [cfg], env) for _ in range(2)]
    (a,), (b,) = (_results(p) for p in procs)
    assert sorted([a["loaded"], b["loaded"]]) == [False, True], (a["notes"], b["notes"])
    assert a["key"] == b["key"] and a["history"] == b["history"] and a["val"] == b["val"]
    waiter = a if a["loaded"] else b
    assert any("waited" in n for n in waiter["notes"]), waiter["notes"]  # it did meet the lock
    assert not (tmp_path / "store" / a["key"] / LOCK_NAME).exists()


def test_a_report_killed_mid_run_resumes_from_its_last_checkpoint(synthetic_root, tmp_path):
    first, second = tiny(), tiny(epochs=3, lr=0.01)
    st, marker = tmp_path / "store", tmp_path / "after-epoch-1"
    p = _child(synthetic_root, st, [first, second], {"STORE_CHILD_HANG_AFTER": str(marker)})
    t0 = time.monotonic()
    while not marker.exists():
        assert p.poll() is None and time.monotonic() - t0 < 240, p.communicate()[1][-3000:] if p.poll() else "slow"
        time.sleep(0.1)
    os.kill(p.pid, signal.SIGKILL)  # as `kill -9` of make report, after the first epoch's checkpoint
    p.communicate()
    again = _results(_child(synthetic_root, st, [first, second]))
    reference = _results(_child(synthetic_root, tmp_path / "fresh", [first, second]))
    assert again[0]["loaded"] and not again[1]["loaded"]
    assert again[1]["resumed_from"] == 1
    assert any("resumed from the checkpoint of epoch 1" in n for n in again[1]["notes"])
    assert any("no longer running" in n for n in again[1]["notes"]), again[1]["notes"]  # the dead report's lock
    assert [r["history"] for r in again] == [r["history"] for r in reference]
    assert [r["val"] for r in again] == [r["val"] for r in reference]


def test_finished_runs_counts_run_folders_with_a_stored_result(tmp_path):
    """What a build records as the run store it began with: folders holding result.pt count, an unfinished run
    (config and checkpoint only) does not, and a store not made yet holds none."""
    assert store.finished_runs(tmp_path / "not-made-yet") == 0
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / RESULT_NAME).write_bytes(b"x")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / CONFIG_NAME).write_text("{}")
    (tmp_path / "b" / CHECKPOINT_NAME).write_bytes(b"x")
    assert store.finished_runs(tmp_path) == 1

"""run_many without a Ray cluster: the local executor, bad input, Ray missing, an unreachable address."""

import os
import subprocess
import sys

import pytest
import torch

from dive import executors, experiment, ray_cluster
from dive.config import RunConfig


def tiny(**changes) -> RunConfig:
    base = RunConfig(
        model="simplecnn", epochs=2, batch_size=32, train_size=64, val_size=32, test_size=32, deterministic=True
    )
    return base.replace(**changes) if changes else base


def without_seconds(history):
    return [{k: v for k, v in e.items() if k != "seconds"} for e in history]


class FakeOutputs:
    def __init__(self):
        self.runs, self.notes = [], []

    def add_run(self, name, model, params, **kw):
        self.runs.append(name)

    def note(self, text):
        self.notes.append(text)


def never_called(epoch, record, model):
    raise AssertionError("a run started")


def test_local_is_run_in_a_loop_in_config_order(path_data, synthetic_root, tmp_path, capsys):
    configs = [tiny(lr=0.01), tiny(seed=1)]
    out = FakeOutputs()
    many = executors.run_many(
        path_data,
        configs,
        names=["lr 0.01", "seed 1"],
        outputs=out,
        evaluate_test=True,
        store=tmp_path / "store",
        device="cpu",
    )
    one_by_one = [experiment.run(path_data, c, device="cpu", evaluate_test=True, quiet=True) for c in configs]
    assert [r.name for r in many] == ["lr 0.01", "seed 1"] and out.runs == ["lr 0.01", "seed 1"]
    for m, o in zip(many, one_by_one, strict=True):
        assert m.config == o.config and without_seconds(m.history) == without_seconds(o.history)
        assert m.val == o.val and m.test == o.test and (m.test_probs == o.test_probs).all()
    assert many[0].history != many[1].history  # two different runs, not one twice
    (from_root,) = executors.run_many(None, configs[:1], data_root=synthetic_root, device="cpu")  # loads the data
    assert from_root.key == many[0].key and without_seconds(from_root.history) == without_seconds(many[0].history)
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("[")]
    assert lines[0].startswith("[1/2] lr 0.01: ") and f"val accuracy {many[0].val['accuracy']:.4f}" in lines[0]
    again = executors.run_many(path_data, configs, store=tmp_path / "store", device="cpu")
    assert all(r.loaded for r in again) and again[1].history == many[1].history


def test_a_failing_run_names_itself_and_its_config(path_data, tmp_path):
    configs = [tiny(), tiny(optimizer="sgd", lr=1e6)]
    with pytest.raises(executors.RunFailedError) as err:
        executors.run_many(path_data, configs, names=["fine", "diverges"], store=tmp_path, device="cpu")
    msg = str(err.value)
    assert "'diverges' (#1" in msg and "lr=1000000.0" in msg and "optimizer=sgd" in msg
    assert "failed: " in msg and str(tmp_path) in msg  # the first run's result is in the store
    assert err.value.results[0].val is not None and err.value.results[1] is None


def test_bad_input_is_refused_before_any_run(path_data, tmp_path):
    kw = {"store": tmp_path, "callbacks": [never_called]}
    with pytest.raises(ValueError, match="unknown executor 'dask'; valid: local, ray"):
        executors.run_many(path_data, [tiny()], executor="dask", **kw)
    with pytest.raises(ValueError, match="1 names for 2 configs"):
        executors.run_many(path_data, [tiny(), tiny(seed=2)], names=["a"], **kw)
    with pytest.raises(TypeError, match="#1: dict"):
        executors.run_many(path_data, [tiny(), {"model": "simplecnn"}], **kw)
    with pytest.raises(ValueError, match=r"run 'second' \(#1.*dataset: config 'mnist', data 'pathmnist'"):
        executors.run_many(path_data, [tiny(), tiny(dataset="mnist")], names=["first", "second"], **kw)
    with pytest.raises(ValueError, match="executor='ray' only"):
        executors.run_many(path_data, [tiny()], resources={"num_gpus": 1}, **kw)
    with pytest.raises(ValueError, match="unknown resources \\['gpus'\\]; valid: num_cpus, num_gpus"):
        executors.run_many(path_data, [tiny()], executor="ray", resources={"gpus": 1}, **kw)
    assert list(tmp_path.iterdir()) == []


def test_ray_missing_names_the_extra(path_data, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    with pytest.raises(executors.RayUnavailableError, match=r"pip install -e '\.\[ray\]'"):
        executors.run_many(path_data, [tiny()], executor="ray", store=tmp_path, callbacks=[never_called])
    assert list(tmp_path.iterdir()) == []


def test_unreachable_address_is_named_before_any_run(path_data, tmp_path):
    if os.environ.get("DIVE_REQUIRE_RAY", "") in ("", "0"):  # CI sets it: a missing Ray fails there, never skips
        pytest.importorskip("ray", reason="Ray is not installed (pip install -e '.[ray]'); CI sets DIVE_REQUIRE_RAY=1")
    with pytest.raises(executors.ClusterUnreachableError, match=r"Ray cluster at '127\.0\.0\.1:1' is not reachable"):
        executors.run_many(
            path_data,
            [tiny()],
            executor="ray",
            ray_address="127.0.0.1:1",
            store=tmp_path / "s",
            callbacks=[never_called],
        )
    with pytest.raises(executors.ClusterUnreachableError, match=r"'ray://127\.0\.0\.1:1'"):
        executors.check_reachable("ray://127.0.0.1:1")
    assert not (tmp_path / "s").exists() or list((tmp_path / "s").iterdir()) == []
    import ray

    assert not ray.is_initialized()


def test_address_parsing():
    assert ray_cluster.host_port("auto") is None
    assert ray_cluster.host_port("10.0.0.5:6379") == ("10.0.0.5", 6379)
    assert ray_cluster.host_port("headnode") == ("headnode", 6379)
    assert ray_cluster.host_port("ray://headnode") == ("headnode", 10001)
    assert ray_cluster.host_port("ray://[::1]:10002") == ("::1", 10002)


def test_importing_dive_does_not_import_ray():
    code = "import sys, dive, dive.experiment, dive.executors, dive.config; print('ray' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_pack_unpack_keeps_the_bundle(path_data):
    back = executors._unpack(executors._pack(path_data))
    assert experiment.data_fingerprint(back) == experiment.data_fingerprint(path_data)
    assert torch.equal(back.train.images, path_data.train.images) and back.classes == path_data.classes
    assert back.synthetic is True and back.split_mode == path_data.split_mode


def test_the_ray_connection_is_kept_for_the_next_call_and_replaced_for_another_address(monkeypatch, capsys):
    calls = []

    class FakeRay:
        up = False

        def is_initialized(self):
            return self.up

        def init(self, address=None, **kw):
            calls.append(("init", address))
            self.up = True

        def shutdown(self):
            calls.append(("shutdown",))
            self.up = False

        def cluster_resources(self):
            return {"CPU": 2.0}

    fake = FakeRay()
    monkeypatch.setattr(ray_cluster, "check_reachable", lambda address, timeout=0: None)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setattr(ray_cluster, "_CONNECTED", {})
    ray_cluster.connect(fake, "head-a:6379")
    ray_cluster.connect(fake, "head-a:6379")  # the next call: same cluster, same connection
    ray_cluster.connect(fake, None)  # no address: the connection there is
    assert calls == [("init", "head-a:6379")]
    assert "still connected from an earlier call" in capsys.readouterr().out
    ray_cluster.connect(fake, "head-b:6379")  # another cluster: never the old one's workers
    assert calls[1:] == [("shutdown",), ("init", "head-b:6379")]
    fake.shutdown()  # the user ended it: the next call connects again
    ray_cluster.connect(fake, "head-b:6379")
    assert calls[-1] == ("init", "head-b:6379")


def test_a_refused_token_says_how_to_join_a_cluster_with_token_authentication():
    class AuthenticationError(Exception):  # the name Ray's own exception has (ray.exceptions)
        pass

    try:
        try:
            raise AuthenticationError("RPC error: InvalidAuthToken: Authentication token is missing or incorrect")
        except AuthenticationError as inner:
            raise ConnectionError("Failed to connect to Ray cluster at 10.0.0.5:6379") from inner
    except ConnectionError as err:
        hint = ray_cluster.auth_hint(err)
    assert "RAY_AUTH_MODE=token" in hint and "~/.ray/auth_token" in hint and "'auto'" in hint
    assert ray_cluster.auth_hint(ConnectionError("Failed to connect to Ray cluster at 10.0.0.5:6379")) == ""

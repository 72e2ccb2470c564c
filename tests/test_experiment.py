import numpy as np
import pytest
import torch

from dive import data, experiment
from dive.batches import Augment
from dive.config import RunConfig
from dive.models import WeightsNotFoundError
from dive.synthetic import write_synthetic_root

TINY = dict(epochs=2, batch_size=32, train_size=96, val_size=48, test_size=48, quiet=True)


@pytest.fixture(scope="module")
def path_data(synthetic_root):
    return data.load("pathmnist", synthetic_root, split="report")


def test_run_trains_evaluates_and_records(path_data, tmp_path):
    class FakeOutputs:
        def __init__(self):
            self.runs, self.notes = [], []

        def add_run(self, name, model, params, **kw):
            self.runs.append((name, model, params, kw))

        def note(self, text):
            self.notes.append(text)

    out = FakeOutputs()
    r = experiment.run(
        path_data,
        "simplecnn",
        name="bn+dropout",
        epochs=2,
        batch_size=32,
        evaluate_test=True,
        quiet=True,
        outputs=out,
        checkpoint_dir=tmp_path / "ck",
    )
    assert r.fit.epochs_run == 2 and r.val["accuracy"] > 1 / 9 + 0.2 and r.test["accuracy"] > 1 / 9 + 0.2
    assert r.test_probs.shape == (len(path_data.test), 9)
    assert out.runs[0][0] == "bn+dropout" and out.runs[0][2]["batch_size"] == 32
    assert (
        RunConfig.from_dict({k: v for k, v in out.runs[0][2].items() if k not in ("plan", "data", "key")}) == r.config
    )  # metrics.json gets the full config
    assert set(r.row()) >= {"run", "epochs_run", "best_epoch", "val_accuracy", "test_auc"}


@pytest.fixture(scope="module")
def twin_root(tmp_path_factory):
    """organamnist and organcmnist: same image size, same 11 classes, different images; pathmnist at 28 and 64 px."""
    return write_synthetic_root(
        tmp_path_factory.mktemp("twins"),
        datasets=("organamnist", "organcmnist", "pathmnist"),
        sizes={"train": 160, "val": 60, "test": 60},
        image_sizes=(28, 64),
    )


def _cfg(b, **kw):
    return experiment.config_for(b, "simplecnn", **{**{k: v for k, v in TINY.items() if k != "quiet"}, **kw})[0]


def test_same_shape_datasets_never_share_a_checkpoint(twin_root, tmp_path):
    """The bug of issue #8: organcmnist after organamnist in the same checkpoint folder returned organamnist's run."""
    a_data = data.load("organamnist", twin_root, split="official")
    c_data = data.load("organcmnist", twin_root, split="official")
    ck = tmp_path / "ck"
    a = experiment.run(a_data, _cfg(a_data), checkpoint_dir=ck, quiet=True)
    c = experiment.run(c_data, _cfg(c_data), checkpoint_dir=ck, quiet=True)
    fresh = experiment.run(c_data, _cfg(c_data), checkpoint_dir=tmp_path / "fresh", quiet=True)
    assert c.history != a.history
    assert [h["val_acc"] for h in c.history] == [h["val_acc"] for h in fresh.history]
    assert [h["train_loss"] for h in c.history] == [h["train_loss"] for h in fresh.history]
    assert any("set aside" in n for n in c.notes)
    assert list(ck.glob("checkpoint.pt.set-aside*"))  # never silently deleted


@pytest.mark.parametrize(
    "change", [dict(momentum=0.5, optimizer="sgd"), dict(augment=Augment(hflip=0.9)), dict(file_size=64)]
)
def test_a_changed_setting_never_resumes_another_runs_checkpoint(change, twin_root, tmp_path):
    b28 = data.load("pathmnist", twin_root, split="report")
    base = _cfg(b28, optimizer=change.get("optimizer", "adam"))
    first = experiment.run(b28, base, checkpoint_dir=tmp_path / "ck", quiet=True)
    if "file_size" in change:
        b = data.load("pathmnist", twin_root, split="report", size=64)
        other = _cfg(b, image_size=28)
    else:
        b, other = b28, base.replace(**change)
    second = experiment.run(b, other, checkpoint_dir=tmp_path / "ck", quiet=True)
    fresh = experiment.run(b, other, checkpoint_dir=tmp_path / "fresh", quiet=True)
    assert second.history != first.history
    assert [h["train_loss"] for h in second.history] == [h["train_loss"] for h in fresh.history]


def test_run_store_loads_a_finished_run_and_keeps_datasets_apart(twin_root, tmp_path):
    a_data = data.load("organamnist", twin_root, split="official")
    c_data = data.load("organcmnist", twin_root, split="official")
    store = tmp_path / "runs"
    a = experiment.run(a_data, _cfg(a_data), store=store, quiet=True)
    c = experiment.run(c_data, _cfg(c_data), store=store, quiet=True)
    assert a.key != c.key and not c.loaded and c.history != a.history
    again = experiment.run(a_data, _cfg(a_data), store=store, quiet=True, evaluate_test=True, name="again")
    assert again.loaded and again.history == a.history and again.val["accuracy"] == a.val["accuracy"]
    assert any("loaded from the run store" in n for n in again.notes)
    assert again.test is not None  # scored on test from the stored weights
    # the stored folder says what it is
    cfg = (store / a.key / "config.json").read_text()
    assert '"organamnist"' in cfg and RunConfig.from_dict(__import__("json").loads(cfg)["config"]) == a.config


def test_resume_after_a_kill_mid_epoch_equals_the_uninterrupted_run(twin_root, tmp_path):
    b = data.load("pathmnist", twin_root, split="report")
    cfg = _cfg(
        b, epochs=3, scheduler="step", scheduler_kwargs={"step_size": 1, "gamma": 0.5}, augment=True, balanced=True
    )
    full = experiment.run(b, cfg, store=tmp_path / "a", quiet=True)

    class Killed(Exception):
        pass

    calls = {"n": 0}
    steps_per_epoch = -(-96 // 32)

    def kill_in_epoch_3(module, args):
        if module.training:
            calls["n"] += 1
            if calls["n"] == 2 * steps_per_epoch + 2:  # the second step of epoch 3
                raise Killed

    from dive import runner

    real_build = runner._Run._build

    def build_with_kill(self, **k):
        net = real_build(self, **k)
        net.register_forward_pre_hook(kill_in_epoch_3)
        return net

    runner._Run._build = build_with_kill
    try:
        with pytest.raises(Killed):
            experiment.run(b, cfg, store=tmp_path / "b", quiet=True)
    finally:
        runner._Run._build = real_build
    resumed = experiment.run(b, cfg, store=tmp_path / "b", quiet=True)
    assert any("resumed from the checkpoint of epoch 2" in n for n in resumed.notes)
    pairs = zip(full.history, resumed.history, strict=True)
    assert resumed.history == [{**h, "seconds": r["seconds"]} for h, r in pairs]
    sa, sb = full.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    # and a finished run trains nothing and returns the same numbers
    done = experiment.run(b, cfg, store=tmp_path / "b", quiet=True)
    assert done.loaded and done.history == resumed.history
    assert done.val["accuracy"] == resumed.val["accuracy"] and np.array_equal(done.val_probs, resumed.val_probs)


def test_config_and_data_must_match(twin_root):
    b = data.load("organamnist", twin_root, split="official")
    with pytest.raises(ValueError, match="dataset: config 'pathmnist', data 'organamnist'"):
        experiment.run(b, RunConfig(split="official"), quiet=True)


def test_pretrained_auto_falls_back_with_a_note_and_true_fails_early(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    use, note = experiment.resolve_pretrained("resnet18", "auto")
    assert use is False and "resnet18-f37072fd.pth" in note and "from scratch" in note

    def offline(*a, **k):
        raise OSError("no network")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(WeightsNotFoundError) as err:
        experiment.resolve_pretrained("resnet18", True)
    assert str(tmp_path) in str(err.value) and "https://" in str(err.value)
    assert experiment.resolve_pretrained("simplecnn", "auto") == (False, None)


def test_pretrained_auto_uses_cached_weights(tmp_path, monkeypatch, path_data):
    import torchvision

    from dive.models import weights_cache_path

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    path = weights_cache_path("resnet18")
    import os

    os.makedirs(os.path.dirname(path))
    ref = torchvision.models.resnet18().state_dict()
    torch.save(ref, path)
    assert experiment.resolve_pretrained("resnet18", "auto") == (True, None)
    r = experiment.run(
        path_data.__class__(
            **{**path_data.__dict__, "train": path_data.train.sample(64), "val": path_data.val.sample(32)}
        ),
        "resnet18",
        epochs=1,
        batch_size=32,
        image_size=32,
        pretrained="auto",
        quiet=True,
    )
    assert r.params["pretrained"] is True and r.notes == []


def test_ensemble_averages_member_probabilities(path_data):
    members = [
        experiment.run(path_data, "simplecnn", epochs=1, batch_size=64, quiet=True, evaluate_test=True, seed=s)
        for s in (1, 2)
    ]
    ens = experiment.ensemble(members, path_data.task, path_data.classes)
    avg = (members[0].test_probs + members[1].test_probs) / 2
    assert ens["accuracy"] == pytest.approx(float(np.mean(avg.argmax(1) == members[0].y_test)))
    with pytest.raises(ValueError, match="evaluate_test"):
        experiment.ensemble([experiment.run(path_data, "simplecnn", epochs=1, quiet=True)], path_data.task)


def test_ensembles_per_seed_pairs_member_one_of_each_seed_with_its_member_two():
    """Notebook 07: ensemble i averages member 1 of seed i with member 2 of its i-th seed, is recorded under member
    1's seed, and member 2's group records that pairing (so the Claims page compares them seed by seed)."""
    from types import SimpleNamespace

    rng = np.random.default_rng(0)
    y = np.array([0, 1, 2, 1, 0, 2])

    def member(name, seed):
        p_val, p_test = rng.dirichlet(np.ones(3), len(y)), rng.dirichlet(np.ones(3), len(y))
        return SimpleNamespace(name=name, seed=seed, val_probs=p_val, test_probs=p_test, y_val=y, y_test=y)

    m1 = [member("deep_member1", s) for s in (22, 23)]
    m2 = [member("deep_member2", s) for s in (24, 25)]
    data = SimpleNamespace(task="multi-class", classes=["a", "b", "c"])
    calls = []
    outputs = SimpleNamespace(
        add_run=lambda *a, **k: calls.append(("run", a, k)), add_group=lambda *a, **k: calls.append(("group", a, k))
    )
    got = experiment.ensembles_per_seed(m1, m2, data, name="ens", model="deep", outputs=outputs, about={"x": 1})
    assert len(got) == 2
    for (val, test), a, b in zip(got, m1, m2, strict=True):
        for scores, split in ((val, "val"), (test, "test")):
            want = experiment.ensemble([a, b], data.task, data.classes, split=split)
            assert (scores["accuracy"], scores["auc"]) == (want["accuracy"], want["auc"])
        assert val["accuracy"] != test["accuracy"] or val["auc"] != test["auc"]  # each split scored on its own
    runs = [c for c in calls if c[0] == "run"]
    assert [c[2]["seed"] for c in runs] == [22, 23]
    assert runs[1][1][2] == {"members": ["deep_member1", "deep_member2"], "member_seeds": [23, 25],
                             "combination": "mean of softmax probabilities", "x": 1}  # fmt: skip
    (group,) = [c for c in calls if c[0] == "group"]
    assert group[1] == ("deep_member2", ["deep_member2"]) and group[2]["pairs"] == {24: 22, 25: 23}
    with pytest.raises(ValueError):  # a member 2 missing for one seed
        experiment.ensembles_per_seed(m1, m2[:1], data, name="ens", model="deep")


def test_one_at_a_time_design():
    runs = experiment.one_at_a_time(
        {"lr": 1e-3, "batch_size": 32, "epochs": 15}, {"lr": [1e-3, 1e-2], "batch_size": [16]}
    )
    assert runs == [
        ("lr", 1e-3, {"lr": 1e-3, "batch_size": 32, "epochs": 15}),
        ("lr", 1e-2, {"lr": 1e-2, "batch_size": 32, "epochs": 15}),
        ("batch_size", 16, {"lr": 1e-3, "batch_size": 16, "epochs": 15}),
    ]
    with pytest.raises(ValueError, match="momentum"):
        experiment.one_at_a_time({"lr": 1}, {"momentum": [0.9]})


def test_scheduler_kwargs_reach_the_scheduler(path_data):
    small = path_data.subsets(train=96, val=48)
    # StepLR's default would step once, after epoch 1 of 3 (a third of the epochs) with gamma 0.1;
    # ours halves every epoch
    r = experiment.run(
        small,
        "simplecnn",
        epochs=3,
        batch_size=32,
        lr=1e-3,
        scheduler="step",
        scheduler_kwargs={"step_size": 1, "gamma": 0.5},
        quiet=True,
    )
    assert [h["lr"] for h in r.history] == pytest.approx([1e-3, 5e-4, 2.5e-4])
    assert r.params["scheduler_kwargs"] == {"step_size": 1, "gamma": 0.5}


def test_describe_pretrained(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    assert "from scratch" in experiment.describe_pretrained("resnet18", "auto")
    assert "no pretrained weights" in experiment.describe_pretrained("simplecnn", "auto")
    assert experiment.describe_pretrained("alexnet", False).endswith("(pretrained=False)")


def test_longest_runs_and_at_epoch_equal_a_shorter_run(path_data):
    settings = [
        {"lr": 1e-3, "batch_size": 32, "epochs": 2},
        {"lr": 1e-3, "batch_size": 32, "epochs": 1},
        {"lr": 1e-2, "batch_size": 32, "epochs": 1},
    ]
    assert experiment.longest_runs(settings) == {(1e-3, 32): 2, (1e-2, 32): 1}
    small = path_data.subsets(train=96, val=48)
    long = experiment.run(small, "simplecnn", epochs=2, batch_size=32, quiet=True)
    short = experiment.run(small, "simplecnn", epochs=1, batch_size=32, quiet=True)
    assert long.at_epoch(1)["val_acc"] == short.history[0]["val_acc"]
    assert long.at_epoch(1)["train_loss"] == short.history[0]["train_loss"]
    with pytest.raises(ValueError, match="ran 2 epochs"):
        long.at_epoch(3)
    early = experiment.run(small, "simplecnn", epochs=2, patience=1, batch_size=32, quiet=True)
    with pytest.raises(ValueError, match="early stopping"):
        early.at_epoch(1)


def test_seed_list():
    assert experiment.seed_list(3) == [22, 23, 24] and experiment.seed_list([5, 1]) == [5, 1]
    for bad in (0, [], [1, 1], None, True):
        with pytest.raises(ValueError, match="seeds"):
            experiment.seed_list(bad)


def test_run_grid_runs_every_config_per_seed_on_the_same_images(path_data):
    small = path_data.subsets(train=96, val=48)
    base = experiment.config_for(small, "simplecnn", epochs=1, batch_size=32)[0]
    grid = experiment.run_grid(small, {"bn": base, "no_bn": base.replace(batch_norm=False)}, seeds=2, quiet=True)
    assert grid.seeds == [22, 23] and [r.seed for r in grid.runs["bn"]] == [22, 23]
    assert grid.runs["bn"][0].history != grid.runs["bn"][1].history  # seeds differ in weights and draws
    assert grid.runs["bn"][0].data_fingerprint == grid.runs["bn"][1].data_fingerprint  # same images
    assert set(grid.first()) == {"bn", "no_bn"} and grid.first()["bn"].seed == 22
    vals = grid.values()
    assert list(vals.columns) == ["config", "seed", "value"] and len(vals) == 4
    assert {k: len(v) for k, v in grid.histories().items()} == {"bn": 2, "no_bn": 2}


def test_run_grid_keeps_going_past_allowed_failures(path_data):
    from dive.executors import RunFailedError
    from dive.train import NonFiniteLossError

    small = path_data.subsets(train=96, val=48)
    base = experiment.config_for(small, "simplecnn_v1", epochs=1, batch_size=8, optimizer="sgd")[0]
    configs = {"diverges": base.replace(lr=1e6), "fine": base.replace(lr=1e-3)}
    grid = experiment.run_grid(small, configs, seeds=1, allow=(NonFiniteLossError,), quiet=True)
    assert grid.runs["diverges"] == [] and isinstance(grid.failed["diverges"][22], NonFiniteLossError)
    assert len(grid.runs["fine"]) == 1
    with pytest.raises(RunFailedError, match="diverges"):
        experiment.run_grid(small, configs, seeds=1, quiet=True)


def test_deterministic_runs_are_bit_identical_on_the_cpu(path_data):
    small = path_data.subsets(train=96, val=48)
    cfg = experiment.config_for(
        small, "simplecnn", epochs=2, batch_size=32, augment=True, balanced=True, deterministic=True
    )[0]
    a = experiment.run(small, cfg, quiet=True, device="cpu")
    b = experiment.run(small, cfg, quiet=True, device="cpu")
    strip = [{k: v for k, v in h.items() if k != "seconds"} for h in a.history]
    assert strip == [{k: v for k, v in h.items() if k != "seconds"} for h in b.history]
    sa, sb = a.model.state_dict(), b.model.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert np.array_equal(a.val_probs, b.val_probs)
    c = experiment.run(small, cfg.replace(seed=23), quiet=True, device="cpu")  # and the comparison can fail
    assert [h["train_loss"] for h in c.history] != [h["train_loss"] for h in a.history]

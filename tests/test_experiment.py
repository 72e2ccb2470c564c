import numpy as np
import pytest
import torch

from dive import data, experiment
from dive.models import WeightsNotFoundError


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
    r = experiment.run(path_data, "simplecnn", name="bn+dropout", epochs=2, batch_size=32, evaluate_test=True,
                       quiet=True, outputs=out, checkpoint_dir=tmp_path / "ck")
    assert r.fit.epochs_run == 2 and r.val["accuracy"] > 1 / 9 + 0.2 and r.test["accuracy"] > 1 / 9 + 0.2
    assert r.test_probs.shape == (len(path_data.test), 9)
    assert out.runs[0][0] == "bn+dropout" and out.runs[0][2]["batch_size"] == 32
    assert set(r.row()) >= {"run", "epochs_run", "best_epoch", "val_accuracy", "test_auc"}


def test_checkpoint_is_resumed_only_for_identical_parameters(path_data, tmp_path):
    ck = tmp_path / "ck"
    a = experiment.run(path_data, "simplecnn", epochs=2, batch_size=64, quiet=True, checkpoint_dir=ck)
    b = experiment.run(path_data, "simplecnn", epochs=2, batch_size=64, quiet=True, checkpoint_dir=ck)
    assert b.fit.history == a.fit.history  # finished run restored from its checkpoint, not retrained
    c = experiment.run(path_data, "simplecnn", epochs=2, batch_size=32, quiet=True, checkpoint_dir=ck)
    assert c.fit.history != a.fit.history  # other parameters: started afresh


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
    r = experiment.run(path_data.__class__(**{**path_data.__dict__, "train": path_data.train.sample(64),
                                              "val": path_data.val.sample(32)}),
                       "resnet18", epochs=1, batch_size=32, image_size=32, pretrained="auto", quiet=True)
    assert r.params["pretrained"] is True and r.notes == []


def test_ensemble_averages_member_probabilities(path_data):
    members = [experiment.run(path_data, "simplecnn", epochs=1, batch_size=64, quiet=True, evaluate_test=True, seed=s)
               for s in (1, 2)]
    ens = experiment.ensemble(members, path_data.task, path_data.classes)
    avg = (members[0].test_probs + members[1].test_probs) / 2
    assert ens["accuracy"] == pytest.approx(float(np.mean(avg.argmax(1) == members[0].y_test)))
    with pytest.raises(ValueError, match="evaluate_test"):
        experiment.ensemble([experiment.run(path_data, "simplecnn", epochs=1, quiet=True)], path_data.task)


def test_one_at_a_time_design():
    runs = experiment.one_at_a_time({"lr": 1e-3, "batch_size": 32, "epochs": 15},
                                    {"lr": [1e-3, 1e-2], "batch_size": [16]})
    assert runs == [("lr", 1e-3, {"lr": 1e-3, "batch_size": 32, "epochs": 15}),
                    ("lr", 1e-2, {"lr": 1e-2, "batch_size": 32, "epochs": 15}),
                    ("batch_size", 16, {"lr": 1e-3, "batch_size": 16, "epochs": 15})]
    with pytest.raises(ValueError, match="momentum"):
        experiment.one_at_a_time({"lr": 1}, {"momentum": [0.9]})


def test_scheduler_kwargs_reach_the_scheduler(path_data):
    small = path_data.subsets(train=96, val=48)
    # StepLR's default would step once, after epoch 1 of 3 (a third of the epochs) with gamma 0.1; ours halves every epoch
    r = experiment.run(small, "simplecnn", epochs=3, batch_size=32, lr=1e-3, scheduler="step",
                       scheduler_kwargs={"step_size": 1, "gamma": 0.5}, quiet=True)
    assert [h["lr"] for h in r.history] == pytest.approx([1e-3, 5e-4, 2.5e-4])
    assert r.params["scheduler_kwargs"] == {"step_size": 1, "gamma": 0.5}


def test_describe_pretrained(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    assert "from scratch" in experiment.describe_pretrained("resnet18", "auto")
    assert "no pretrained weights" in experiment.describe_pretrained("simplecnn", "auto")
    assert experiment.describe_pretrained("alexnet", False).endswith("(pretrained=False)")

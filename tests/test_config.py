"""RunConfig: validation naming the valid values, exact JSON round trip, stable fingerprints."""

import json
import subprocess
import sys

import pytest

from dive.batches import Augment
from dive.config import ConfigError, RunConfig


def test_defaults_are_the_reports():
    c = RunConfig()
    assert c.seed == 22 and c.split == "report" and c.split_seed == 22
    assert c.restore_best is False and RunConfig(patience=5).restore_best is True


def test_json_round_trip_is_exact():
    c = RunConfig(
        model="resnet18",
        optimizer="adagrad",
        lr=5e-4,
        augment=Augment(hflip=0.3, degrees=15),
        scheduler="plateau",
        scheduler_kwargs={"patience": 5, "factor": 0.5},
        patience=20,
        balanced=True,
        train_size=1000,
        precision="fp32",
        channels_last=False,
    )
    back = RunConfig.from_json(c.to_json())
    assert back == c and back.fingerprint() == c.fingerprint() and back.to_dict() == c.to_dict()
    assert isinstance(back.augment, Augment) and back.augment.hflip == 0.3


def test_fingerprint_changes_with_every_setting_and_ignores_spelling():
    base = RunConfig()
    changed = [
        base.replace(momentum=0.8),
        base.replace(augment=Augment(hflip=0.2)),
        base.replace(file_size=64),
        base.replace(dataset="organcmnist"),
        base.replace(restore_best=True),
        base.replace(precision="bf16"),
        base.replace(seed=23),
        base.replace(split_seed=1),
        base.replace(train_size=100),
    ]
    fps = {c.fingerprint() for c in changed}
    assert len(fps) == len(changed) and base.fingerprint() not in fps
    # the same run, spelt differently
    assert (
        RunConfig(model="ResNet-18".replace("-1", "1"), lr=1, scheduler="none").fingerprint()
        == RunConfig(model="resnet18", lr=1.0, scheduler=None).fingerprint()
    )
    assert RunConfig(augment=True).fingerprint() == RunConfig(augment=Augment(degrees=30)).fingerprint()


def test_fingerprint_is_stable_across_processes():
    c = RunConfig(model="alexnet", batch_norm=True, scheduler="step", scheduler_kwargs={"step_size": 2})
    code = (
        "from dive.config import RunConfig; import sys; "
        "print(RunConfig.from_json(sys.stdin.read()).fingerprint()); "
        "print(RunConfig(model='alexnet', batch_norm=True, scheduler='step', scheduler_kwargs={'step_size': 2})"
        ".fingerprint())"
    )
    out = subprocess.run([sys.executable, "-c", code], input=c.to_json(), capture_output=True, text=True, check=True)
    assert out.stdout.split() == [c.fingerprint(), c.fingerprint()]  # read back, and built anew in another process


def test_validation_lists_every_problem_and_the_valid_values():
    with pytest.raises(ConfigError) as err:
        RunConfig(
            model="resnet", optimizer="adamx", scheduler="exp", dataset="nosuchmnist", lr=-1, epochs=0, precision="fp8"
        )
    msg = str(err.value)
    for part in (
        "unknown model 'resnet'",
        "resnet18",
        "unknown optimizer 'adamx'",
        "adagrad",
        "unknown scheduler 'exp'",
        "plateau",
        "unknown dataset 'nosuchmnist'",
        "pathmnist",
        "lr must be a number > 0",
        "epochs must be an integer >= 1",
        "unknown precision 'fp8'",
        "bf16",
    ):
        assert part in msg
    assert len(err.value.problems) == 7
    with pytest.raises(ConfigError, match="file_size 64 does not exist for mnist"):
        RunConfig(dataset="mnist", file_size=64)
    with pytest.raises(ConfigError, match="simplecnn has no pretrained weights"):
        RunConfig(pretrained=True)
    with pytest.raises(ConfigError, match="unknown setting 'learning_rate'"):
        RunConfig().replace(learning_rate=0.1)


def test_adamw_weight_decay_default_lives_in_the_config_and_zero_means_zero():
    assert RunConfig(optimizer="adamw").weight_decay == 0.01
    assert RunConfig(optimizer="adamw", weight_decay=0).weight_decay == 0.0
    assert RunConfig(optimizer="adamw").replace(optimizer="sgd").weight_decay == 0.0
    assert RunConfig(optimizer="adamw", weight_decay=0.05).replace(optimizer="sgd").weight_decay == 0.05


def test_replace_is_one_at_a_time_and_hashable():
    c = RunConfig(lr=0.01)
    d = c.replace(batch_size=16)
    assert d.lr == 0.01 and d.batch_size == 16 and c.batch_size == 64
    assert len({c, d, c.replace()}) == 2
    assert json.loads(d.to_json())["batch_size"] == 16


def test_schedule_label_says_the_rate_the_stopping_and_the_epoch_kept():
    report = RunConfig(optimizer="sgd", lr=0.01, epochs=100, patience=5, monitor="val_acc")
    assert report.schedule_label() == (
        "constant learning rate, early stopping on val_acc (patience 5) within 100 epochs, the epoch of best val_acc "
        "restored"
    )
    medmnist = RunConfig(scheduler="multistep", epochs=12, patience=None, restore_best=True, monitor="val_auc")
    assert medmnist.schedule_label() == (
        "multistep learning-rate schedule, 12 epochs, no early stopping, the epoch of best val_auc restored"
    )
    assert RunConfig(epochs=3).schedule_label().endswith("3 epochs, no early stopping, the last epoch kept")

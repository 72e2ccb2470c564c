import copy

import pytest
import torch
import torch.nn as nn

from dive import batches as B
from dive import data, optim, train
from dive.train import NonFiniteLossError, fit


def small_net(in_ch=3, classes=9):
    return nn.Sequential(
        nn.Conv2d(in_ch, 8, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Dropout(0.2),
        nn.Flatten(),
        nn.Linear(8 * 14 * 14, classes),
    )


@pytest.fixture(scope="module")
def path_batches(synthetic_root):
    b = data.load("pathmnist", synthetic_root, split="report")

    def make(seed=22, augment=True, balanced=True):
        pre = B.Preprocess(
            mean=b.train.mean_std()[0],
            std=b.train.mean_std()[1],
            augment=B.Augment(hflip=0.3, rotation_p=0.3) if augment else None,
        )
        return (
            B.Batches(b.train, 32, pre, device="cpu", balanced=balanced, train=True, seed=seed),
            B.Batches(b.val, 128, pre, device="cpu"),
        )

    return make


def test_model_learns_loss_falls_accuracy_above_chance(path_batches):
    tr, va = path_batches()
    torch.manual_seed(0)
    res = fit(small_net(), tr, va, epochs=4, optimizer="adam", lr=1e-3, quiet=True)
    h = res.history
    assert res.epochs_run == 4 and [r["epoch"] for r in h] == [1, 2, 3, 4]
    assert h[-1]["train_loss"] < 0.6 * h[0]["train_loss"]
    assert h[-1]["val_acc"] > 0.5  # chance is 1/9
    assert set(h[0]) == {"epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds"}
    assert all(0 <= r["train_acc"] <= 1 and 0 <= r["val_acc"] <= 1 and r["seconds"] > 0 for r in h)


def test_early_stopping_restores_best_weights(path_batches, monkeypatch):
    scripted = iter([0.5, 0.8, 0.7, 0.6, 0.95, 0.99])
    real_eval = train.evaluate
    monkeypatch.setattr(train, "evaluate", lambda *a, **k: {**real_eval(*a, **k), "acc": next(scripted)})
    snapshots = {}
    tr, va = path_batches()
    model = small_net()
    res = fit(
        model,
        tr,
        va,
        epochs=10,
        patience=2,
        optimizer="sgd",
        lr=0.05,
        quiet=True,
        callbacks=[lambda ep, rec, m: snapshots.__setitem__(ep, copy.deepcopy(m.state_dict()))],
    )
    assert res.best_epoch == 2 and res.epochs_run == 4 and res.stopped_early and res.restored_best
    assert res.best_val_acc == 0.8
    final = model.state_dict()
    assert all(torch.equal(final[k], snapshots[2][k]) for k in final)
    assert not all(torch.equal(final[k], snapshots[4][k]) for k in final)


def test_fixed_epochs_keep_last_weights_unless_asked(path_batches):
    tr, va = path_batches()
    res = fit(small_net(), tr, va, epochs=2, quiet=True)
    assert not res.restored_best and not res.stopped_early and res.epochs_run == 2


def test_same_seed_same_result(path_batches):
    runs = []
    for _ in range(2):
        tr, va = path_batches(seed=5)
        torch.manual_seed(123)  # fit seeds everything itself; this must not matter
        model = small_net()
        res = fit(model, tr, va, epochs=2, quiet=True, seed=7)
        runs.append((res.history, model.state_dict()))
    (h1, s1), (h2, s2) = runs
    assert [r["val_acc"] for r in h1] == [r["val_acc"] for r in h2]
    assert [r["train_loss"] for r in h1] == [r["train_loss"] for r in h2]
    assert s1.keys() == s2.keys() and all(torch.equal(s1[k], s2[k]) for k in s1)
    # and a different seed gives different weights (the comparison above can fail)
    tr, va = path_batches(seed=5)
    other = small_net()
    fit(other, tr, va, epochs=2, quiet=True, seed=8)
    assert not all(torch.equal(s1[k], other.state_dict()[k]) for k in s1)


def test_resume_equals_uninterrupted_run(path_batches, tmp_path):
    kwargs = dict(epochs=4, optimizer="adam", lr=2e-3, scheduler="step", quiet=True, seed=11, patience=10)

    def build():
        torch.manual_seed(0)
        return small_net()

    tr, va = path_batches(seed=3)
    full_model = build()
    full = fit(full_model, tr, va, checkpoint_dir=tmp_path / "a", **kwargs)

    class Interrupt(Exception):
        pass

    def stop_after_two(epoch, record, model):
        if epoch == 2:
            raise Interrupt

    tr, va = path_batches(seed=3)
    with pytest.raises(Interrupt):
        fit(build(), tr, va, checkpoint_dir=tmp_path / "b", callbacks=[stop_after_two], **kwargs)
    tr, va = path_batches(seed=3)  # a fresh process would build new objects
    resumed_model = build()
    resumed = fit(resumed_model, tr, va, checkpoint_dir=tmp_path / "b", resume=True, **kwargs)
    assert [r["epoch"] for r in resumed.history] == [1, 2, 3, 4]
    for a, b in zip(full.history, resumed.history, strict=False):
        assert a["train_loss"] == b["train_loss"] and a["val_acc"] == b["val_acc"] and a["lr"] == b["lr"]
    sa, sb = full_model.state_dict(), resumed_model.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    # resuming a finished run returns it without training again
    again = fit(build(), tr, va, checkpoint_dir=tmp_path / "b", resume=True, **kwargs)
    assert again.epochs_run == 4 and again.best_epoch == resumed.best_epoch


class NaNAt(nn.Module):
    """Wraps a model; its n-th training forward returns NaN."""

    def __init__(self, net, at_call):
        super().__init__()
        self.net, self.at_call, self.calls = net, at_call, 0

    def forward(self, x):
        out = self.net(x)
        if self.training:
            self.calls += 1
            if self.calls == self.at_call:
                out = out * float("nan")
        return out


def test_nan_loss_stops_with_epoch_and_step(path_batches, tmp_path):
    tr, va = path_batches()
    steps_per_epoch = len(tr)
    model = NaNAt(small_net(), steps_per_epoch + 3)  # epoch 2, step 3
    with pytest.raises(NonFiniteLossError, match=r"epoch 2, step 3"):
        fit(model, tr, va, epochs=3, quiet=True, checkpoint_dir=tmp_path)
    assert torch.load(tmp_path / train.CHECKPOINT_NAME, weights_only=True)["epoch"] == 1  # epoch 1 is kept


def test_nan_check_names_step_when_checked_in_intervals(path_batches):
    tr, va = path_batches()
    with pytest.raises(NonFiniteLossError, match=r"epoch 1, step 5"):
        fit(NaNAt(small_net(), 5), tr, va, epochs=1, quiet=True, nan_check_every=4)


@pytest.mark.parametrize("name", optim.OPTIMIZERS)
def test_every_optimizer_trains(name, path_batches):
    tr, va = path_batches(augment=False)
    lr = {"sgd": 0.05, "adagrad": 0.02}.get(name, 2e-3)
    res = fit(small_net(), tr, va, epochs=2, optimizer=name, lr=lr, quiet=True)
    assert res.history[-1]["val_acc"] > 0.3


@pytest.mark.parametrize(
    "sched,expect",
    [
        ("step", lambda lrs: lrs[-1] < lrs[0]),
        ("cosine", lambda lrs: lrs[-1] < lrs[0]),
        ("multistep", lambda lrs: lrs == pytest.approx([1e-3, 1e-4, 1e-5])),
        ("plateau", lambda lrs: lrs[0] == 1e-3),
        (None, lambda lrs: len(set(lrs)) == 1),
    ],
)
def test_schedulers(sched, expect, path_batches):
    tr, va = path_batches(augment=False)
    res = fit(small_net(), tr, va, epochs=3, lr=1e-3, scheduler=sched, quiet=True)
    assert expect([r["lr"] for r in res.history])


def test_plateau_scheduler_drops_the_learning_rate(path_batches, monkeypatch):
    # validation accuracy that never improves after epoch 1: with patience 1, the second epoch without
    # improvement (epoch 3) cuts the lr by the factor 0.1 for epoch 4
    real_eval = train.evaluate
    monkeypatch.setattr(train, "evaluate", lambda *a, **k: {**real_eval(*a, **k), "acc": 0.5})
    tr, va = path_batches(augment=False)
    res = fit(small_net(), tr, va, epochs=4, lr=1e-2, scheduler="plateau", scheduler_kwargs={"patience": 1}, quiet=True)
    assert [r["lr"] for r in res.history] == pytest.approx([1e-2, 1e-2, 1e-2, 1e-3])


def test_make_optimizer_weight_decay_zero_is_zero():
    params = [nn.Parameter(torch.zeros(2))]
    assert train.make_optimizer("adamw", params, weight_decay=0).param_groups[0]["weight_decay"] == 0.0
    assert train.make_optimizer("adamw", params).param_groups[0]["weight_decay"] == 0.01
    assert train.make_optimizer("sgd", params).param_groups[0]["weight_decay"] == 0.0


def test_monitor_val_auc_keeps_the_best_auc_epoch(path_batches):
    tr, va = path_batches(augment=False)
    res = fit(small_net(), tr, va, epochs=3, patience=3, monitor="val_auc", quiet=True)
    aucs = [r["val_auc"] for r in res.history]
    assert res.monitor == "val_auc" and res.best_epoch == 1 + aucs.index(max(aucs))
    assert res.kept_epoch == res.best_epoch and 0.5 < max(aucs) <= 1


def test_bad_arguments_fail_before_training(path_batches):
    tr, va = path_batches()
    with pytest.raises(ValueError, match="sgd, adam, nadam, adagrad, adamw"):
        fit(small_net(), tr, va, optimizer="rmsprop")
    with pytest.raises(ValueError, match="plateau"):
        fit(small_net(), tr, va, scheduler="exponential")
    with pytest.raises(ValueError, match="checkpoint_dir"):
        fit(small_net(), tr, va, resume=True)


def test_works_with_a_plain_dataloader(synthetic_root):
    b = data.load("pneumoniamnist", synthetic_root)
    dl = torch.utils.data.DataLoader(b.train.torch_dataset(), batch_size=32, shuffle=True)
    vl = torch.utils.data.DataLoader(b.val.torch_dataset(), batch_size=64)
    res = fit(small_net(1, 2), dl, vl, epochs=2, quiet=True)
    assert res.history[-1]["val_acc"] > 0.7


def test_multilabel_training(synthetic_root):
    b = data.load("chestmnist", synthetic_root)
    pre = B.Preprocess()
    tr = B.Batches(b.train, 32, pre, device="cpu", shuffle=True, train=True)
    va = B.Batches(b.val, 64, pre, device="cpu")
    res = fit(small_net(1, 14), tr, va, epochs=3, quiet=True)
    assert res.history[-1]["train_loss"] < res.history[0]["train_loss"]
    assert res.history[-1]["val_acc"] > 0.8  # per-label accuracy, as MedMNIST scores multi-label

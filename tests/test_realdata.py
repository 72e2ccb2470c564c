"""Real-data checks of the library (skipped unless DIVE_DATA points at real files)."""

import pytest
from conftest import need_real_file

from dive import data, experiment, metrics

pytestmark = pytest.mark.realdata


def test_simplecnn_one_epoch_on_real_mnist_subset_reaches_97_percent(real_root):
    need_real_file(real_root, "MNIST/raw/train-images-idx3-ubyte.gz")
    ds = data.load("mnist", real_root)
    ds.train, ds.val = ds.train.sample(20000, seed=1), ds.val.sample(4000, seed=1)
    r = experiment.run(ds, "simplecnn", epochs=1, batch_size=32, optimizer="adam", lr=1e-3, quiet=True)
    assert r.fit.epochs_run == 1
    assert r.val["accuracy"] >= 0.97, r.val["accuracy"]


@pytest.mark.parametrize("flag", ["pneumoniamnist", "breastmnist"])
def test_real_medmnist_trains_through_the_pathmnist_code_path(real_root, flag):
    need_real_file(real_root, f"medmnist/{flag}.npz")
    ds = data.load(flag, real_root)  # the very call PathMNIST takes
    r = experiment.run(ds, "simplecnn", epochs=3, batch_size=32, quiet=True, evaluate_test=True)
    assert r.val["accuracy"] > metrics.majority_rate(r.y_val) or r.val["auc"] > 0.75
    assert 0.5 < r.test["auc"] <= 1.0


def test_real_pneumoniamnist_test_split_holds_another_class_mix(real_root):
    """PneumoniaMNIST's official test split holds pneumonia in a smaller share than its training and validation
    splits (the table notebooks 00 and 03 show): "different" for test, and no such finding for validation, which
    MedMNIST drew from the training pool; BreastMNIST's three splits share one mix."""
    from dive import tables

    for flag in ("pneumoniamnist", "breastmnist"):
        need_real_file(real_root, f"medmnist/{flag}.npz")
    bundles = {flag: data.load(flag, real_root) for flag in ("pneumoniamnist", "breastmnist")}
    mix = tables.class_mix(bundles).set_index(["dataset", "split"])
    test = mix.loc[("pneumoniamnist", "test")]
    assert test["train_majority_class"] == "pneumonia" and test["verdict"] == "different"
    assert test["share_in_split"] < test["share_in_train"] - 0.1 and test["p_holm"] < 1e-6
    assert mix.loc[("pneumoniamnist", "val"), "verdict"] == "cannot tell"
    assert (mix.loc["breastmnist", "verdict"] == "cannot tell").all()

"""The quick profile's settings make each model learn on real data (issue 20): the configuration a quick notebook
trains, taken from ``dive.recipes`` with that notebook's quick parameters, trained once on real PneumoniaMNIST,
must end at least 5 points above the majority rate of its validation images with an AUC of at least 0.80.

The AlexNet cases are the ones the quick profile failed, and each fails on its old settings (checked 2026-12-04 with
this test's code and the quick sizes of today, 800 training images): notebook 05's augmented AlexNet, seed 22, with the
report's Adagrad 0.01 ends at 0.725 / AUC 0.873 (majority 0.738); notebook 06's plain AlexNet, seed 23, with the
report's Adagrad 0.001 at 0.608 / 0.889, as in the quick report of that day. With Adam 1e-4: 0.938 / 0.967 and
0.943 / 0.982.
The other families have their real-data tests elsewhere: SimpleCNN (test_notebooks_part1), ResNet18
(test_precision_realdata, test_notebooks_part2).
"""

from __future__ import annotations

import pytest
from conftest import need_real_file

from dive import data, experiment, profiles, recipes
from dive.metrics import majority_rate

MARGIN = 0.05  # issue 20: "at least 5 points above the majority-class rate"
MIN_AUC = 0.80

CASES = {
    # notebook, the configuration's name, how to get the configurations from the recipes, the seed of the run
    # (None: the profile's; the data split and subsets stay the profile's seed's, as in the report)
    "alexnet augmented (05)": (
        "05_alexnet_augmentation",
        "alexnet_augmented_fixed",
        recipes.alexnet_augmentation,
        None,
    ),
    "alexnet without batch norm (06)": ("06_alexnet_batchnorm", "alexnet_model1_plain", recipes.alexnet_batchnorm, 23),
    "xception (08)": ("08_xception", "xception", lambda d, p: ({"xception": recipes.xception(d, p)[0]}, None), None),
}


@pytest.mark.realdata
@pytest.mark.parametrize("case", list(CASES))
def test_the_quick_settings_learn_on_real_pneumoniamnist(case, real_root, tmp_path):
    notebook, name, make, seed = CASES[case]
    need_real_file(real_root, "medmnist/pneumoniamnist.npz")
    p = profiles.resolve(
        notebook, "quick", data_flag="pneumoniamnist", pretrained=False, data_root=str(real_root), out_dir=str(tmp_path)
    )
    full = data.load("pneumoniamnist", real_root, split="report", seed=p.seed)
    sub = full.subsets(train=p.get("train_size"), val=p.get("val_size"), test=p.get("test_size"), seed=p.seed)
    configs, _ = make(sub, p)
    config = configs[name] if seed is None else configs[name].replace(seed=seed)
    result = experiment.run(sub, config, quiet=True, checkpoints=False, device="cpu")
    majority = majority_rate(sub.val.labels.numpy())
    assert result.val["accuracy"] >= majority + MARGIN, (case, result.val["accuracy"], majority)
    assert result.val["auc"] >= MIN_AUC, (case, result.val["auc"])

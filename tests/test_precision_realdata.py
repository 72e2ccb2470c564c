"""Mixed precision learns as well as float32 on real data (skipped unless DIVE_DATA points at real files).

Parity is a statistical statement: the mixed precision "auto" picks, against float32, over three seeds per
side paired by seed (same initial weights, same batch order), with dive.stats' equivalence test (TOST)
against the MNIST margin of dive.reference. Where "auto" resolves to fp32 on this machine (a CPU without
native bfloat16), explicit "bf16" is compared instead, so the test always compares two precisions.

The ResNet-18 test checks that bfloat16 autocast trains a residual network with batch norm on real data
(one run, far above the majority rate). Its parity over seeds is not in the suite: at the sizes where
"auto" picks bf16 for the ResNets (>= 112 px on an AVX512-BF16 CPU), three seeds per side of a run that
learns cost several minutes each on a 2-core CPU; it belongs to a GPU check, where bf16 is the default.
"""

import numpy as np
import pytest
import torch
from conftest import need_real_file

from dive import data, experiment, reference, stats
from dive import precision as P
from dive.metrics import majority_rate
from dive.utils import resolve_device

pytestmark = pytest.mark.realdata

SEEDS = (22, 23, 24)


def mixed_precision_for(model: str, image_size: int | None = None) -> str:
    """ "auto" where it picks a mixed precision for this model and input side, else bf16 explicitly."""
    plan = P.plan("auto", device=resolve_device("auto"), model_name=model, image_size=image_size)
    return "auto" if plan.precision != "fp32" else "bf16"


def test_mixed_precision_is_equivalent_to_fp32_on_real_mnist_over_seeds(real_root):
    """The initial SimpleCNN (the family "auto" runs in bf16 + channels_last on AVX512-BF16 and AMX CPUs), 10,000
    real MNIST images, one epoch, seeds 22-24 per side. Measured here (AMD EPYC Zen 4, AVX512-BF16, torch
    2.14.1, seeds 22-26): bf16 - fp32 paired differences -0.00125 ... +0.00125 (sd 0.0010), so the 90 % interval
    at n = 3 is about +-0.0017, well inside the 0.005 margin; each side's mean about 0.962."""
    need_real_file(real_root, "MNIST/raw/train-images-idx3-ubyte.gz")
    ds = data.load("mnist", real_root)
    model = "simplecnn_v1"
    other = mixed_precision_for(model, 28)
    settings = dict(train_size=10_000, val_size=4_000, epochs=1, batch_size=32, optimizer="adam", lr=1e-3)
    acc = {}
    for prec in ("fp32", other):
        runs = [experiment.run(ds, model, precision=prec, seed=s, quiet=True, **settings) for s in SEEDS]
        assert len({r.fit.plan["precision"] for r in runs}) == 1
        acc[runs[0].fit.plan["precision"]] = [r.val["accuracy"] for r in runs]
        for r in runs:
            for p in r.model.parameters():
                assert p.dtype == torch.float32  # autocast, never .half(): the trained weights stay fp32
    assert set(acc) == {"fp32", "bf16"}, acc
    print("MNIST initial SimpleCNN val accuracy per seed:", acc)
    for prec, values in acc.items():  # both learned (ten classes: chance 0.1) ...
        assert np.mean(values) >= 0.95, (prec, values)
    # ... and agree within the margin
    eq = stats.equivalence(acc["bf16"], acc["fp32"], reference.EQUIVALENCE_MARGINS["mnist"], paired=True)
    print(eq)
    assert eq.verdict == stats.EQUIVALENT, eq


def test_resnet18_learns_real_pneumoniamnist_under_bf16_autocast(real_root):
    """ResNet-18 from scratch at 64 px, 1,200 real images, two epochs in bfloat16 autocast: validation accuracy
    at least 10 points above the majority rate (0.742) and AUC at least 0.85. Measured here: 0.956 (fp32 of the
    same seed: 0.960)."""
    need_real_file(real_root, "medmnist/pneumoniamnist.npz")
    ds = data.load("pneumoniamnist", real_root)
    r = experiment.run(
        ds, "resnet18", precision="bf16", image_size=64, train_size=1_200, epochs=2, batch_size=32,
        optimizer="adam", lr=1e-3, quiet=True, seed=SEEDS[0],
    )  # fmt: skip
    assert r.fit.plan["precision"] == "bf16"
    majority = majority_rate(ds.val.labels.numpy())
    print(f"PneumoniaMNIST ResNet18 bf16: val accuracy {r.val['accuracy']:.4f} (majority {majority:.3f}), "
          f"AUC {r.val['auc']:.4f}")  # fmt: skip
    assert r.val["accuracy"] >= majority + 0.10 and r.val["auc"] >= 0.85, (r.val["accuracy"], r.val["auc"])
    for p in r.model.parameters():
        assert p.dtype == torch.float32

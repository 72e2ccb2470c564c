"""Mixed precision learns as well as float32 on real data (skipped unless DIVE_DATA points at real files).

Same seed and settings, once in fp32 and once in the mixed precision "auto" picks. Where "auto" resolves to
fp32 on this machine (a CPU without native bfloat16, or a model family where bf16 was not measured faster),
the comparison is made with explicit "bf16" instead, so the test always compares two different precisions.
"""

import pytest
import torch
from conftest import need_real_file

from dive import data, experiment
from dive import precision as P
from dive.utils import resolve_device

pytestmark = pytest.mark.realdata


def mixed_precision_for(model: str, image_size: int | None = None) -> str:
    """ "auto" where it picks a mixed precision for this model and input side, else bf16 explicitly."""
    plan = P.plan("auto", device=resolve_device("auto"), model_name=model, image_size=image_size)
    return "auto" if plan.precision != "fp32" else "bf16"


def fp32_and_mixed(ds, model: str, **settings):
    other = mixed_precision_for(model, settings.get("image_size") or (28 if model.startswith("simplecnn") else None))
    r32 = experiment.run(ds, model, precision="fp32", quiet=True, **settings)
    rmix = experiment.run(ds, model, precision=other, quiet=True, **settings)
    return r32, rmix


def test_simplecnn_real_mnist_mixed_precision_within_half_a_point_of_fp32(real_root):
    need_real_file(real_root, "MNIST/raw/train-images-idx3-ubyte.gz")
    ds = data.load("mnist", real_root)
    r32, rmix = fp32_and_mixed(
        ds, "simplecnn", train_size=10_000, val_size=4_000, epochs=1, batch_size=32, optimizer="adam", lr=1e-3
    )
    assert r32.fit.plan["precision"] == "fp32" and rmix.fit.plan["precision"] != "fp32"
    a32, amix = r32.val["accuracy"], rmix.val["accuracy"]
    print(f"MNIST SimpleCNN val accuracy: fp32 {a32:.4f}, {rmix.fit.plan['precision']} {amix:.4f}")
    assert a32 >= 0.95, a32  # both runs learned; then they agree
    assert abs(a32 - amix) <= 0.005, (a32, amix, rmix.fit.plan)
    for p in rmix.model.parameters():
        assert p.dtype == torch.float32  # autocast, never .half(): the trained weights stay fp32


def test_resnet18_real_pneumoniamnist_mixed_precision_within_two_points_of_fp32(real_root):
    need_real_file(real_root, "medmnist/pneumoniamnist.npz")
    ds = data.load("pneumoniamnist", real_root)
    r32, rmix = fp32_and_mixed(
        ds, "resnet18", image_size=64, train_size=1_200, epochs=2, batch_size=32, optimizer="adam", lr=1e-3
    )
    assert rmix.fit.plan["precision"] != "fp32"
    a32, amix = r32.val["accuracy"], rmix.val["accuracy"]
    print(f"PneumoniaMNIST ResNet18 val accuracy: fp32 {a32:.4f}, {rmix.fit.plan['precision']} {amix:.4f}")
    assert a32 >= 0.8, a32
    assert abs(a32 - amix) <= 0.02, (a32, amix, rmix.fit.plan)

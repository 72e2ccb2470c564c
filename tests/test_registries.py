"""The model and dataset tables: one entry per name, every entry usable, no name-branching."""

import pytest
import torch

from dive import data, models


@pytest.mark.parametrize("name", models.MODEL_NAMES)
def test_every_model_entry_builds_with_its_head_and_input_size(name):
    entry = models.MODELS[name]
    net = models.build_model(name, 5, 1, image_size=28).eval()
    spec = net.spec
    assert spec.input_size == (entry.native_size or 28)
    assert spec.min_size == (28 if entry.family == "simple" else entry.min_size)  # a SimpleCNN is built for one size
    assert models.min_image_size(name) == entry.min_size
    assert (spec.mean, spec.std) == (entry.mean, entry.std)
    size = max(spec.min_size, 28) if entry.family == "simple" else max(entry.min_size, 32)
    with torch.no_grad():
        assert net(torch.rand(2, 1, size, size)).shape == (2, 5)
    if entry.head:
        layer = net
        for part in entry.head.split("."):
            layer = layer[int(part)] if part.isdigit() else getattr(layer, part)
        assert layer.out_features == 5
    assert (models.weights_url(name) is None) == (entry.weights is None)


def test_medmnist_28px_resnet_keeps_28x28_maps_into_layer1():
    net = models.build_model("resnet18_28", 9, 3).eval()
    seen = {}
    net.layer1.register_forward_hook(lambda m, i, o: seen.update(shape=tuple(o.shape)))
    with torch.no_grad():
        net(torch.rand(1, 3, 28, 28))
    assert seen["shape"] == (1, 64, 28, 28)  # the ImageNet stem would give 7x7
    assert net.conv1.kernel_size == (3, 3) and net.conv1.stride == (1, 1)
    with pytest.raises(ValueError, match="no pretrained weights"):
        models.build_model("resnet18_28", 9, 3, pretrained=True)


def test_unknown_model_lists_the_table():
    with pytest.raises(ValueError, match="resnet18_28"):
        models.build_model("resnet19", 2)


def test_dataset_table_covers_mnist_and_every_medmnist_2d_flag():
    from medmnist import INFO

    flags = {f for f in INFO if not f.endswith("3d")}
    assert set(data.DATASETS) == flags | {"mnist"} and set(data.MEDMNIST_2D) == flags
    assert data.DATASET_TABLE["mnist"].has_val is False and data.DATASET_TABLE["mnist"].sizes == (28,)
    assert data.task_of("chestmnist") == "multi-label, binary-class" and len(data.classes_of("chestmnist")) == 14
    assert data.task_of("retinamnist") == "ordinal-regression" and data.classes_of("mnist")[3] == "3"
    with pytest.raises(ValueError, match="64"):
        data.files_for("mnist", "/nonexistent", size=64)
    (spec,) = data.files_for("dermamnist", "/r", size=64)
    assert str(spec.path) == "/r/medmnist/dermamnist_64.npz" and spec.md5 == INFO["dermamnist"]["MD5_64"]


def test_load_for_rebuilds_the_data_a_config_describes(synthetic_root):
    from dive.config import RunConfig

    cfg = RunConfig(dataset="pneumoniamnist", split="report", split_seed=5)
    b = data.load_for(cfg, synthetic_root)
    ref = data.load("pneumoniamnist", synthetic_root, split="report", seed=5)
    assert b.name == "pneumoniamnist" and b.split_mode == "report" and b.seed == 5
    assert torch.equal(b.train.labels, ref.train.labels) and torch.equal(b.val.images, ref.val.images)

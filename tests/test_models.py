"""Tests for dive.models: offline, CPU, small inputs.

Heavy nets are built on the meta device where only shapes matter; the pretrained-loading
tests go through the real torch hub cache (TORCH_HOME -> tmp dir) with downloads patched
to fail, so nothing here ever touches the network.
"""

from __future__ import annotations

import copy
import io
import os
import urllib.error

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

from dive import models
from dive.models import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    MODEL_NAMES,
    ModelSpec,
    WeightsNotFoundError,
    build_model,
    count_parameters,
    model_spec,
)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """One intra-op thread: OpenMP spin-waiting makes 2 threads crawl on a shared 2-core box."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


TORCHVISION_NETS = ("alexnet", "resnet18", "resnet34", "resnet50", "resnet101", "resnet152")


def _xception_url() -> str:
    import pretrainedmodels

    return pretrainedmodels.pretrained_settings["xception"]["imagenet"]["url"]


def _count(model: nn.Module, cls: type) -> int:
    return sum(type(m) is cls for m in model.modules())


# ------------------------------------------------------------------ building / shapes


@pytest.mark.parametrize("name", MODEL_NAMES)
@pytest.mark.parametrize("channels", [1, 3])
def test_every_name_builds_and_maps_28px_to_num_classes_on_meta(name, channels):
    with torch.device("meta"):
        model = build_model(name, 7, in_channels=channels)
        out = model(torch.empty(2, channels, 28, 28))
    assert out.shape == (2, 7)
    assert isinstance(model.spec, ModelSpec) and model.spec.name == name


@pytest.fixture(scope="module")
def real():
    """real(name): one CPU instance per name for this module (building is the slow part)."""
    cache: dict[str, nn.Module] = {}

    def get(name: str) -> nn.Module:
        if name not in cache:
            torch.manual_seed(0)
            cache[name] = build_model(name, 5, in_channels=3).eval()
        return cache[name]

    yield get
    cache.clear()  # don't keep ~0.5 GB of weights alive for the rest of the session


@pytest.mark.parametrize("name", ["simplecnn_v1", "simplecnn", "alexnet", "resnet18", "resnet50", "xception"])
def test_real_forward_grey_and_rgb_28px(name, real):
    model = real(name)
    torch.manual_seed(1)
    grey = torch.rand(2, 1, 28, 28)
    with torch.no_grad():
        out_grey = model(grey)
        out_rgb = model(grey.repeat(1, 3, 1, 1))
    assert out_grey.shape == out_rgb.shape == (2, 5)
    assert torch.isfinite(out_grey).all()
    # The pre-hook turns grey into RGB by repetition: both give the same answer.
    torch.testing.assert_close(out_grey, out_rgb)


def test_small_inputs_are_upsampled_bilinearly_to_min_size(real):
    model = real("alexnet")
    assert model.spec.min_size == 63
    x = torch.rand(1, 3, 28, 28)
    with torch.no_grad():
        via_hook = model(x)
        by_hand = model(F.interpolate(x, size=(63, 63), mode="bilinear", align_corners=False))
    torch.testing.assert_close(via_hook, by_hand)


def test_xception_runs_on_a_small_grey_input(real):
    with torch.no_grad():
        out = real("xception")(torch.rand(1, 1, 5, 5))  # below min_size 7: upsampled
    assert out.shape == (1, 5)


@pytest.mark.parametrize("name,ok", [("alexnet", 63), ("xception", 7), ("resnet18", 1)])
def test_recorded_min_size_is_the_smallest_side_that_runs(name, ok):
    assert model_spec(name).min_size == ok
    with torch.device("meta"):
        model = build_model(name, 3).eval()
    model._forward_pre_hooks.clear()  # test the bare network
    assert model(torch.empty(1, 3, ok, ok, device="meta")).shape == (1, 3)
    if ok > 1:
        with pytest.raises(RuntimeError):
            model(torch.empty(1, 3, ok - 1, ok - 1, device="meta"))


def test_names_are_case_insensitive():
    with torch.device("meta"):
        assert build_model("ResNet18", 3).spec.name == "resnet18"
    assert model_spec("SimpleCNN_v1").name == "simplecnn_v1"
    assert model_spec("XCEPTION").name == "xception"


def test_unknown_model_lists_valid_names():
    with pytest.raises(ValueError) as info:
        build_model("foo", 3)
    msg = str(info.value)
    assert "foo" in msg
    for name in MODEL_NAMES:
        assert name in msg
    with pytest.raises(ValueError, match="resnet152"):
        model_spec("vgg16")


def test_state_dict_keys_are_the_plain_torchvision_ones():
    with torch.device("meta"):
        ours = build_model("resnet18", 4)
        ref = torchvision.models.resnet18()
        ours_alex = build_model("alexnet", 4)
        ref_alex = torchvision.models.alexnet()
    assert list(ours.state_dict()) == list(ref.state_dict())
    assert list(ours_alex.state_dict()) == list(ref_alex.state_dict())
    assert ours.fc.out_features == 4 and ours_alex.classifier[6].out_features == 4


def test_model_with_hook_pickles_and_deepcopies():
    model = build_model("simplecnn", 4, in_channels=3).eval()
    buf = io.BytesIO()
    torch.save(model, buf)
    buf.seek(0)
    loaded = torch.load(buf, weights_only=False)
    clone = copy.deepcopy(model)
    x = torch.rand(2, 1, 20, 20)  # grey and small: both hook branches
    with torch.no_grad():
        ref = model(x)
        torch.testing.assert_close(loaded(x), ref)
        torch.testing.assert_close(clone(x), ref)
    assert loaded.spec == model.spec


def test_invalid_arguments():
    with pytest.raises(ValueError, match="pretrained"):
        build_model("simplecnn", 10, pretrained=True)
    with pytest.raises(ValueError, match="in_channels"):
        build_model("simplecnn", 10, in_channels=2)
    with pytest.raises(ValueError, match="num_classes"):
        build_model("simplecnn", 0)
    with torch.device("meta"):
        with pytest.raises(ValueError, match="batch norm"):
            build_model("resnet18", 10, batch_norm=False)
        with pytest.raises(ValueError, match="dropout"):
            build_model("resnet18", 10, dropout=True)
        with pytest.raises(ValueError, match="ReLU"):
            build_model("alexnet", 10, activation="leaky_relu")


# ------------------------------------------------------------------ SimpleCNN


def test_simplecnn_outputs_log_probabilities_and_multilabel_logits():
    torch.manual_seed(0)
    model = build_model("simplecnn", 10, in_channels=1).eval()
    x = torch.rand(4, 1, 28, 28)
    with torch.no_grad():
        out = model(x)
    torch.testing.assert_close(out.exp().sum(1), torch.ones(4))
    assert (out <= 0).all()

    raw = build_model("simplecnn", 10, in_channels=1, multilabel=True).eval()
    raw.load_state_dict(model.state_dict())
    with torch.no_grad():
        logits = raw(x)
    assert not torch.allclose(logits.exp().sum(1), torch.ones(4))
    torch.testing.assert_close(F.log_softmax(logits, 1), out)
    # log_softmax is idempotent, so cross_entropy on the log-probabilities is the NLL.
    y = torch.tensor([0, 1, 2, 3])
    torch.testing.assert_close(F.cross_entropy(out, y), F.nll_loss(out, y))


def test_simplecnn_v1_matches_the_report_architecture():
    model = build_model("simplecnn_v1", 10, in_channels=1)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size, c.padding) for c in convs] == [
        (1, 32, (3, 3), "same"),
        (32, 64, (3, 3), "same"),
    ]
    assert _count(model, nn.LeakyReLU) == 2 and _count(model, nn.ReLU) == 0
    assert _count(model, nn.MaxPool2d) == 2
    assert model.out.in_features == 64 * 7 * 7
    assert count_parameters(model) == (9 * 32 + 32) + (32 * 9 * 64 + 64) + (64 * 49 * 10 + 10)
    with torch.no_grad():
        out = model.eval()(torch.rand(3, 1, 28, 28))
    torch.testing.assert_close(out.exp().sum(1), torch.ones(3))
    raw = build_model("simplecnn_v1", 14, in_channels=1, multilabel=True).eval()
    with torch.no_grad():
        assert not torch.allclose(raw(torch.rand(3, 1, 28, 28)).exp().sum(1), torch.ones(3))
    wide = build_model("simplecnn_v1", 10, in_channels=3, image_size=32)
    assert wide.out.in_features == 64 * 8 * 8 and wide.spec.input_size == 32


@pytest.mark.parametrize("batch_norm,dropout", [(True, True), (True, False), (False, True), (False, False)])
def test_simplecnn_batchnorm_and_dropout_switch_independently(batch_norm, dropout):
    model = build_model("simplecnn", 9, in_channels=3, batch_norm=batch_norm, dropout=dropout)
    assert _count(model, nn.BatchNorm2d) == (3 if batch_norm else 0)
    assert _count(model, nn.BatchNorm1d) == (1 if batch_norm else 0)
    assert _count(model, nn.Dropout) == (4 if dropout else 0)
    assert sorted(m.p for m in model.modules() if isinstance(m, nn.Dropout)) == (
        [0.25, 0.25, 0.25, 0.5] if dropout else []
    )
    assert model.fc1.in_features == 128 * 3 * 3
    with torch.no_grad():
        assert model.eval()(torch.rand(2, 3, 28, 28)).shape == (2, 9)


def test_simplecnn_defaults_have_batchnorm_dropout_and_relu():
    model = build_model("simplecnn", 10, in_channels=1)
    assert _count(model, nn.BatchNorm2d) == 3 and _count(model, nn.Dropout) == 4
    assert _count(model, nn.ReLU) == 4 and _count(model, nn.LeakyReLU) == 0
    assert model.conv1[0].in_channels == 1 and model.spec.in_channels == 1


def test_simplecnn_leaky_relu_variant():
    model = build_model("simplecnn", 10, in_channels=1, activation="leaky_relu")
    assert _count(model, nn.LeakyReLU) == 4 and _count(model, nn.ReLU) == 0


def test_bad_activation_lists_choices():
    with pytest.raises(ValueError) as info:
        build_model("simplecnn", 10, activation="tanh")
    assert "tanh" in str(info.value) and "relu" in str(info.value) and "leaky_relu" in str(info.value)


def test_simplecnn_image_size_sets_flatten_and_wrong_size_is_a_clear_error():
    model = build_model("simplecnn", 4, in_channels=1, image_size=32).eval()
    assert model.fc1.in_features == 128 * 4 * 4
    with torch.no_grad():
        assert model(torch.rand(2, 1, 32, 32)).shape == (2, 4)
        assert model(torch.rand(2, 1, 16, 16)).shape == (2, 4)  # smaller: upsampled to 32
        with pytest.raises(ValueError, match="image_size"):
            model(torch.rand(2, 1, 40, 40))


def _squares(n: int, generator: torch.Generator):
    """4 classes: a bright 8x8 square in one of the four quadrants, on noise."""
    y = torch.arange(n) % 4
    x = 0.3 * torch.rand(n, 1, 28, 28, generator=generator)
    for i, c in enumerate(y.tolist()):
        r = 2 + 14 * (c // 2) + int(torch.randint(0, 4, (1,), generator=generator))
        q = 2 + 14 * (c % 2) + int(torch.randint(0, 4, (1,), generator=generator))
        x[i, 0, r : r + 8, q : q + 8] += 0.7
    return x, y


def test_simplecnn_learns_a_small_synthetic_task():
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    x, y = _squares(128, g)
    model = build_model("simplecnn", 4, in_channels=1)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _step in range(120):
        idx = torch.randint(0, len(x), (16,), generator=g)
        model.train()
        loss = F.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    model.eval()
    with torch.no_grad():
        acc = (model(x).argmax(1) == y).float().mean().item()
    assert acc > 0.9, acc  # chance is 0.25
    assert sum(losses[-20:]) / 20 < 0.5 * sum(losses[:20]) / 20


# ------------------------------------------------------------------ AlexNet + BN (3.4.3)


def test_alexnet_batch_norm_inserts_bn_after_every_conv():
    with torch.device("meta"):
        model = build_model("alexnet", 9, batch_norm=True)
    feats = list(model.features)
    assert _count(model, nn.BatchNorm2d) == 5
    for i, layer in enumerate(feats):
        if isinstance(layer, nn.Conv2d):
            assert isinstance(feats[i + 1], nn.BatchNorm2d)
            assert feats[i + 1].num_features == layer.out_channels
    with torch.device("meta"):
        assert _count(build_model("alexnet", 9), nn.BatchNorm2d) == 0


@pytest.fixture
def offline_hub(tmp_path, monkeypatch):
    """TORCH_HOME -> empty tmp dir; any download attempt raises URLError (and is counted)."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    attempts = []

    def refuse(url, *args, **kwargs):
        attempts.append(url)
        raise urllib.error.URLError("network disabled in tests")

    # torch.hub.load_state_dict_from_url (used by torchvision's weights API and by
    # pretrainedmodels) loads a cached file directly and only downloads through this.
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    return attempts


def _cache_path(url: str) -> str:
    return os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(url))


def test_alexnet_pretrained_conv_weights_survive_bn_insertion(offline_hub, monkeypatch):
    torch.manual_seed(3)
    source = torchvision.models.alexnet().state_dict()
    monkeypatch.setattr(models, "_download_state_dict", lambda key: source)
    model = build_model("alexnet", 9, pretrained=True, batch_norm=True)
    convs = [m for m in model.features if isinstance(m, nn.Conv2d)]
    src_convs = [k for k in source if k.startswith("features.") and k.endswith(".weight")]
    assert len(convs) == len(src_convs) == 5
    for conv, key in zip(convs, src_convs, strict=False):
        torch.testing.assert_close(conv.weight, source[key], rtol=0, atol=0)
    torch.testing.assert_close(model.classifier[4].weight, source["classifier.4.weight"], rtol=0, atol=0)
    assert model.classifier[6].out_features == 9 and _count(model, nn.BatchNorm2d) == 5
    assert model.spec.pretrained and model.spec.mean == IMAGENET_MEAN


# ------------------------------------------------------------------ pretrained weights


def test_resnet18_pretrained_loads_from_torch_hub_cache(offline_hub, tmp_path):
    url = torchvision.models.get_model_weights("resnet18").DEFAULT.url
    path = _cache_path(url)
    assert path.startswith(str(tmp_path))
    torch.manual_seed(5)
    source = torchvision.models.resnet18().state_dict()
    os.makedirs(os.path.dirname(path))
    torch.save(source, path)

    model = build_model("resnet18", 9, pretrained=True)
    torch.testing.assert_close(model.conv1.weight, source["conv1.weight"], rtol=0, atol=0)
    torch.testing.assert_close(model.layer4[1].bn2.running_var, source["layer4.1.bn2.running_var"], rtol=0, atol=0)
    assert model.fc.out_features == 9 and model.fc.in_features == 512
    assert model.spec.pretrained and model.spec.weights_url == url
    assert offline_hub == []  # loaded from the cache, no download attempted


def _xception_official_state_dict() -> dict:
    """A randomly initialised state dict in the official file's format (head named ``fc``)."""
    import pretrainedmodels

    torch.manual_seed(6)
    sd = pretrainedmodels.xception(num_classes=1000, pretrained=None).state_dict()
    return {("fc." + k[len("last_linear.") :] if k.startswith("last_linear.") else k): v for k, v in sd.items()}


def test_xception_pretrained_loads_from_torch_hub_cache(offline_hub):
    import pretrainedmodels

    url = _xception_url()
    path = _cache_path(url)
    source = _xception_official_state_dict()
    os.makedirs(os.path.dirname(path))
    torch.save(source, path)
    # sanity: pretrainedmodels' own loader accepts this file from the same cache path
    reference = pretrainedmodels.xception(num_classes=1000, pretrained="imagenet")
    torch.testing.assert_close(reference.conv1.weight, source["conv1.weight"], rtol=0, atol=0)

    model = build_model("xception", 9, pretrained=True)
    torch.testing.assert_close(model.conv1.weight, source["conv1.weight"], rtol=0, atol=0)
    torch.testing.assert_close(
        model.block12.rep[1].pointwise.weight, source["block12.rep.1.pointwise.weight"], rtol=0, atol=0
    )
    assert model.last_linear.out_features == 9 and model.last_linear.in_features == 2048
    assert model.spec.mean == (0.5, 0.5, 0.5) and model.spec.input_size == 299
    assert offline_hub == []


def test_weights_path_loads_a_local_imagenet_state_dict(tmp_path, offline_hub):
    torch.manual_seed(7)
    source = torchvision.models.resnet18().state_dict()
    file = tmp_path / "my_resnet18.pth"
    torch.save(source, file)
    model = build_model("resnet18", 3, weights_path=file)
    torch.testing.assert_close(model.layer1[0].conv1.weight, source["layer1.0.conv1.weight"], rtol=0, atol=0)
    assert model.fc.out_features == 3 and model.spec.pretrained
    assert offline_hub == []

    missing = tmp_path / "nope.pth"
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        build_model("resnet18", 3, weights_path=missing)


@pytest.mark.parametrize("name", ["resnet18", "xception"])
def test_offline_without_cached_file_raises_weights_not_found(name, offline_hub):
    url = model_spec(name).weights_url
    path = _cache_path(url)
    with pytest.raises(WeightsNotFoundError) as info:
        build_model(name, 9, pretrained=True)
    err = info.value
    assert isinstance(err, FileNotFoundError)
    msg = str(err)
    assert path in msg and url in msg and name in msg and "weights_path" in msg
    assert err.path == path and err.url == url
    assert offline_hub == [url]  # the official API was tried once, and failed fast
    assert not os.path.exists(path)


# ------------------------------------------------------------------ specs / helpers


@pytest.mark.parametrize("name", TORCHVISION_NETS)
def test_torchvision_specs_use_imagenet_normalisation_and_224(name):
    spec = model_spec(name)
    assert spec.mean == IMAGENET_MEAN == (0.485, 0.456, 0.406)
    assert spec.std == IMAGENET_STD == (0.229, 0.224, 0.225)
    assert spec.input_size == 224 and spec.in_channels == 3 and not spec.pretrained
    assert spec.weights_url == torchvision.models.get_model_weights(name).DEFAULT.url
    assert model_spec(name, pretrained=True).pretrained


def test_xception_and_simplecnn_specs():
    xc = model_spec("xception")
    assert (xc.input_size, xc.min_size, xc.in_channels) == (299, 7, 3)
    assert xc.mean == xc.std == (0.5, 0.5, 0.5) and xc.weights_url == _xception_url()
    for name in ("simplecnn_v1", "simplecnn"):
        spec = model_spec(name)
        assert (spec.input_size, spec.min_size, spec.mean, spec.std, spec.weights_url) == (28, 28, None, None, None)
        assert model_spec(name, image_size=32).input_size == 32
    with pytest.raises(ValueError):
        model_spec("simplecnn", pretrained=True)
    with pytest.raises(ValueError, match="image_size"):
        model_spec("simplecnn", image_size=4)


def test_count_parameters():
    with torch.device("meta"):
        model = torchvision.models.resnet18()
    assert count_parameters(model) == 11_689_512
    for p in model.parameters():
        p.requires_grad_(False)
    model.fc.weight.requires_grad_(True)
    assert count_parameters(model, trainable_only=True) == 512 * 1000


def test_the_seed_alone_sets_xception_initial_weights_even_in_a_fresh_process():
    """The first ``import pretrainedmodels`` of a process used to draw from torch's generator between the seed
    and the weights, so a fresh process (a Ray worker) got other weights than one that had imported it before.
    Here: a fresh interpreter builds Xception twice from the same seed; both must be equal."""
    import subprocess
    import sys

    code = (
        "import torch\n"
        "from dive.models import build_model\n"
        "ws = []\n"
        "for _ in range(2):\n"
        "    torch.manual_seed(22)\n"
        "    ws.append(build_model('xception', num_classes=9, in_channels=3).state_dict())\n"
        "assert 'pretrainedmodels' in __import__('sys').modules\n"
        "print(all(torch.equal(ws[0][k], ws[1][k]) for k in ws[0]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "True"

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms import v2

from dive import batches as B
from dive import data
from dive.samplers import balanced_sampler, class_weights, make_sampler


# ---------------------------------------------------------------- samplers

def test_balanced_sampler_draws_classes_equally():
    # 9 classes with counts from 40 to 2000 (imbalance ratio 50)
    counts = np.linspace(40, 2000, 9).astype(int)
    labels = torch.from_numpy(np.repeat(np.arange(9), counts))
    g = torch.Generator().manual_seed(0)
    s = balanced_sampler(labels, generator=g)
    assert len(s) == len(labels)  # one epoch = len(train) draws
    drawn = labels[torch.tensor(list(s))]
    freq = np.bincount(drawn.numpy(), minlength=9) / len(drawn)
    # each class 1/9 = 0.111 within +-0.01 absolute (n ~ 9,000 draws: 3 sigma ~ 0.0099)
    assert np.abs(freq - 1 / 9).max() < 0.01, freq
    plain = labels[torch.tensor(list(make_sampler(labels, shuffle=True, generator=g)))]
    assert np.bincount(plain.numpy()).tolist() == counts.tolist()  # plain shuffling keeps counts


def test_class_weights_are_inverse_counts():
    w = class_weights(torch.tensor([0, 0, 0, 1, 2, 2]))
    assert torch.allclose(w, torch.tensor([1 / 3, 1.0, 0.5], dtype=torch.float64))
    with pytest.raises(ValueError, match="single-label"):
        balanced_sampler(torch.zeros(4, 3, dtype=torch.long))


# ---------------------------------------------------------------- preprocessing

def test_report_resize_crop_matches_torchvision_pipeline():
    """Resize(256) + CenterCrop(224) on the batch equals torchvision's per-image pipeline."""
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (4, 3, 28, 28), dtype=torch.uint8, generator=g)
    pre = B.Preprocess(resize=256, crop=224, mean=B.IMAGENET_MEAN, std=B.IMAGENET_STD)
    ours = pre(x)
    ref_t = v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32, scale=True), v2.Resize(256), v2.CenterCrop(224),
                        v2.Normalize(B.IMAGENET_MEAN, B.IMAGENET_STD)])
    ref = torch.stack([ref_t(img) for img in x])
    assert ours.shape == (4, 3, 224, 224)
    assert (ours - ref).abs().max() < 1e-4


def test_grey_to_rgb_and_dataset_normalisation():
    x = torch.full((2, 1, 28, 28), 128, dtype=torch.uint8)
    out = B.Preprocess(channels=3, mean=B.IMAGENET_MEAN, std=B.IMAGENET_STD)(x)
    assert out.shape == (2, 3, 28, 28)
    assert torch.allclose(out[0, :, 0, 0], (128 / 255 - torch.tensor(B.IMAGENET_MEAN)) / torch.tensor(B.IMAGENET_STD))
    out = B.Preprocess(mean=(0.5,), std=(0.25,))(x)
    assert torch.allclose(out, torch.full_like(out, (128 / 255 - 0.5) / 0.25), atol=1e-6)


def test_default_color_jitter_changes_nothing_like_torchvision():
    x = torch.rand(8, 3, 16, 16)
    aug = B.Augment(hflip=0, vflip=0, rotation_p=0, jitter_p=1.0)  # ColorJitter() applied to every image
    assert torch.equal(aug(x, torch.Generator().manual_seed(0)), x)
    assert torch.equal(v2.ColorJitter()(x), x)  # torchvision agrees: the report's jitter was a no-op
    strong = B.Augment(hflip=0, vflip=0, rotation_p=0, jitter_p=1.0, brightness=0.5, contrast=0.5, saturation=0.5, hue=0.1)
    y = strong(x, torch.Generator().manual_seed(0))
    assert not torch.allclose(y, x) and 0 <= y.min() and y.max() <= 1


def test_augmentation_probabilities_are_per_image():
    """Flips with p=0.1 hit about 10% of images, independently per image."""
    n = 20000
    x = torch.arange(4.0).reshape(1, 1, 1, 4).expand(n, 1, 1, 4).contiguous()
    aug = B.Augment(hflip=0.1, vflip=0.0, rotation_p=0.0, jitter_p=0.0)
    y = aug(x, torch.Generator().manual_seed(0))
    flipped = (y[:, 0, 0, 0] == 3).float().mean().item()
    assert abs(flipped - 0.1) < 0.01  # 3 sigma ~ 0.0064
    rot = B.Augment(hflip=0, vflip=0, rotation_p=0.1, degrees=30, jitter_p=0)
    img = torch.zeros(2000, 1, 9, 9)
    img[:, :, 4, :] = 1.0  # a horizontal bar: rotation moves pixels off the middle row
    changed = (rot(img, torch.Generator().manual_seed(1)) != img).flatten(1).any(1).float().mean().item()
    assert 0.06 < changed < 0.14  # ~10% rotated (tiny angles may leave the 9x9 bar unchanged)


def test_rotation_matches_torchvision_for_90_degrees():
    x = torch.rand(3, 1, 8, 8)
    ours = B.rotate(x, torch.tensor([90.0, 90.0, 90.0]))
    ref = torch.stack([v2.functional.rotate(img, 90.0) for img in x])
    assert torch.allclose(ours, ref, atol=1e-6)


# ---------------------------------------------------------------- batches

def test_batches_cover_the_split_and_follow_the_sampler(synthetic_root):
    b = data.load("pathmnist", synthetic_root)
    pre = B.Preprocess()
    it = B.Batches(b.val, 32, pre, device="cpu")
    xs, ys = zip(*list(it))
    assert len(it) == len(xs) == -(-len(b.val) // 32)
    assert torch.equal(torch.cat(ys), b.val.labels)  # fixed order without shuffling
    assert torch.allclose(torch.cat(xs), b.val.images.float() / 255)
    shuffled = torch.cat([y for _, y in B.Batches(b.train, 64, pre, device="cpu", shuffle=True)])
    assert not torch.equal(shuffled, b.train.labels) and torch.equal(shuffled.sort().values, b.train.labels.sort().values)
    bal = torch.cat([y for _, y in B.Batches(b.train, 64, pre, device="cpu", balanced=True)])
    assert len(bal) == len(b.train)


def test_batches_same_seed_same_stream_and_state_roundtrip(synthetic_root):
    b = data.load("pathmnist", synthetic_root)
    pre = B.Preprocess(augment=B.Augment(hflip=0.5, rotation_p=0.5))
    a1 = B.Batches(b.train, 50, pre, device="cpu", shuffle=True, train=True, seed=3)
    a2 = B.Batches(b.train, 50, pre, device="cpu", shuffle=True, train=True, seed=3)
    assert all(torch.equal(x1, x2) for (x1, _), (x2, _) in zip(a1, a2))
    state = a1.state_dict()
    first = [x for x, _ in a1]
    a1.load_state_dict(state)
    assert all(torch.equal(x, y) for x, y in zip(first, [x for x, _ in a1]))


def test_for_model_uses_report_resize_for_pretrained_style_models():
    class Spec:
        name, input_size, in_channels, mean, std = "resnet18", 224, 3, B.IMAGENET_MEAN, B.IMAGENET_STD
    pre = B.Preprocess.for_model(Spec)
    assert (pre.resize, pre.crop, pre.mean) == (256, 224, B.IMAGENET_MEAN)
    small = B.Preprocess.for_model(Spec, size=64, normalize="dataset", dataset_stats=((0.5,), (0.2,)))
    assert (small.resize, small.crop, small.mean) == (73, 64, (0.5,))
    with pytest.raises(ValueError, match="dataset_stats"):
        B.Preprocess.for_model(type("S", (), {"name": "simplecnn", "input_size": 28, "in_channels": 1, "mean": None, "std": None}))


def test_baseline_pil_pipeline_equivalence_on_plain_images():
    """Without resizing, dive's float conversion equals ToTensor on the PIL image."""
    arr = np.random.default_rng(0).integers(0, 256, (28, 28, 3), dtype=np.uint8)
    ref = v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32, scale=True)])(Image.fromarray(arr))
    ours = B.Preprocess()(torch.from_numpy(arr).permute(2, 0, 1)[None])[0]
    assert torch.allclose(ours, ref)

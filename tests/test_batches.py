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
    ref_t = v2.Compose(
        [
            v2.ToImage(),
            v2.ToDtype(torch.float32, scale=True),
            v2.Resize(256),
            v2.CenterCrop(224),
            v2.Normalize(B.IMAGENET_MEAN, B.IMAGENET_STD),
        ]
    )
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
    strong = B.Augment(
        hflip=0, vflip=0, rotation_p=0, jitter_p=1.0, brightness=0.5, contrast=0.5, saturation=0.5, hue=0.1
    )
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
    xs, ys = zip(*list(it), strict=False)
    assert len(it) == len(xs) == -(-len(b.val) // 32)
    assert torch.equal(torch.cat(ys), b.val.labels)  # fixed order without shuffling
    assert torch.allclose(torch.cat(xs), b.val.images.float() / 255)
    shuffled = torch.cat([y for _, y in B.Batches(b.train, 64, pre, device="cpu", shuffle=True)])
    assert not torch.equal(shuffled, b.train.labels) and torch.equal(
        shuffled.sort().values, b.train.labels.sort().values
    )
    bal = torch.cat([y for _, y in B.Batches(b.train, 64, pre, device="cpu", balanced=True)])
    assert len(bal) == len(b.train)


def test_batches_same_seed_same_stream_and_state_roundtrip(synthetic_root):
    b = data.load("pathmnist", synthetic_root)
    pre = B.Preprocess(augment=B.Augment(hflip=0.5, rotation_p=0.5))
    a1 = B.Batches(b.train, 50, pre, device="cpu", shuffle=True, train=True, seed=3)
    a2 = B.Batches(b.train, 50, pre, device="cpu", shuffle=True, train=True, seed=3)
    assert all(torch.equal(x1, x2) for (x1, _), (x2, _) in zip(a1, a2, strict=False))
    state = a1.state_dict()
    first = [x for x, _ in a1]
    a1.load_state_dict(state)
    assert all(torch.equal(x, y) for x, y in zip(first, [x for x, _ in a1], strict=False))


def test_for_model_uses_report_resize_for_pretrained_style_models():
    class Spec:
        name, input_size, in_channels, mean, std = "resnet18", 224, 3, B.IMAGENET_MEAN, B.IMAGENET_STD
        center_crop = True

    pre = B.Preprocess.for_model(Spec)
    assert (pre.resize, pre.crop, pre.mean) == (256, 224, B.IMAGENET_MEAN)
    small = B.Preprocess.for_model(Spec, size=64, normalize="dataset", dataset_stats=((0.5,), (0.2,)))
    assert (small.resize, small.crop, small.mean) == (73, 64, (0.5,))
    with pytest.raises(ValueError, match="dataset_stats"):
        B.Preprocess.for_model(
            type("S", (), {"name": "simplecnn", "input_size": 28, "in_channels": 1, "mean": None, "std": None})
        )


def test_baseline_pil_pipeline_equivalence_on_plain_images():
    """Without resizing, dive's float conversion equals ToTensor on the PIL image."""
    arr = np.random.default_rng(0).integers(0, 256, (28, 28, 3), dtype=np.uint8)
    ref = v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32, scale=True)])(Image.fromarray(arr))
    ours = B.Preprocess()(torch.from_numpy(arr).permute(2, 0, 1)[None])[0]
    assert torch.allclose(ours, ref)


# ---------------------------------------------------------------- fast paths (matmul resize, in-place augment)


def _reference_preprocess(x, resize, crop, channels):
    """The plain definition: F.interpolate (antialiased when shrinking), centre crop, grey -> RGB."""
    x = x.float() / 255
    h, w = x.shape[-2:]
    if resize is not None and min(h, w) != resize:
        scale = resize / min(h, w)
        out = (max(resize, round(h * scale)), max(resize, round(w * scale)))
        x = torch.nn.functional.interpolate(x, size=out, mode="bilinear", align_corners=False, antialias=scale < 1)
    if crop is not None:
        h, w = x.shape[-2:]
        top, left = (h - crop) // 2, (w - crop) // 2
        x = x[..., top : top + crop, left : left + crop]
    if channels == 3 and x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    return x


@pytest.mark.parametrize(
    "shape,resize,crop",
    [
        ((3, 3, 28, 28), 256, 224),  # upsampling, the report's ResNet path
        ((3, 3, 64, 64), 32, None),  # downsampling (antialiased), no crop
        ((3, 3, 64, 64), 32, 28),  # downsampling with crop
        ((3, 3, 28, 40), 256, 224),  # non-square, upsampling
        ((3, 3, 90, 60), 48, 40),  # non-square, downsampling
        ((3, 1, 28, 28), 256, 224),  # grey input for a 3-channel model
        ((3, 1, 50, 37), 73, 64),  # grey, odd sizes
        ((3, 3, 28, 36), 73, None),  # resize without crop
    ],
)
def test_matmul_resize_crop_equals_interpolate(shape, resize, crop):
    x = torch.randint(0, 256, shape, dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    pre = B.Preprocess(resize=resize, crop=crop, channels=3)
    ours, ref = pre(x), _reference_preprocess(x, resize, crop, 3)
    assert ours.shape == ref.shape and ours.is_contiguous()
    assert (ours - ref).abs().max() < 1e-5
    # normalised: the same within float rounding
    norm = B.Preprocess(resize=resize, crop=crop, channels=3, mean=B.IMAGENET_MEAN, std=B.IMAGENET_STD)(x)
    m, s = torch.tensor(B.IMAGENET_MEAN)[:, None, None], torch.tensor(B.IMAGENET_STD)[:, None, None]
    assert (norm - (ref - m) / s).abs().max() < 1e-4


def test_resize_weights_are_interpolate_on_impulses():
    """Each axis' matrix is bilinear interpolation of unit impulses: rows sum to 1, downsampling is antialiased."""
    up = B._resize_weights(4, 8, False, torch.float64)
    assert up.shape == (8, 4) and torch.allclose(up.sum(1), torch.ones(8, dtype=torch.float64))
    assert torch.allclose(up[:2], torch.tensor([[1.0, 0, 0, 0], [0.75, 0.25, 0, 0]], dtype=torch.float64))
    down = B._resize_weights(8, 4, True, torch.float64)  # antialias: 4 taps per output, not 2
    assert torch.allclose(down[1], torch.tensor([0, 0.125, 0.375, 0.375, 0.125, 0, 0, 0], dtype=torch.float64))


def _old_augment(aug, x, generator):
    """The whole-batch formulation (torch.where over every image): the random stream to keep."""
    n = x.shape[0]

    def draw(p):
        return torch.rand(n, generator=generator) < p

    if aug.hflip > 0:
        x = torch.where(draw(aug.hflip)[:, None, None, None], x.flip(-1), x)
    if aug.vflip > 0:
        x = torch.where(draw(aug.vflip)[:, None, None, None], x.flip(-2), x)
    if aug.rotation_p > 0 and aug.degrees > 0:
        sel = torch.nonzero(draw(aug.rotation_p)).flatten()
        if len(sel):
            angles = (torch.rand(len(sel), generator=generator) * 2 - 1) * aug.degrees
            x = x.clone()
            x[sel] = B.rotate(x[sel], angles)
    if aug.jitter_p > 0 and aug.jitters:
        sel = torch.nonzero(draw(aug.jitter_p)).flatten()
        if len(sel):
            x = x.clone()
            x[sel] = aug._jitter(x[sel], generator)
    return x


@pytest.mark.parametrize(
    "kw",
    [
        {},
        dict(hflip=1.0, vflip=1.0, rotation_p=1.0, jitter_p=1.0),
        dict(hflip=0.5, vflip=0.5, rotation_p=0.5, jitter_p=0.5, brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1),
    ],
)
def test_augment_selected_images_only_same_stream_input_untouched(kw):
    aug = B.Augment(**kw)
    x = torch.rand(16, 3, 12, 10, generator=torch.Generator().manual_seed(1))
    x0 = x.clone()
    g_new, g_old = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    y = aug(x, g_new)
    assert torch.equal(x, x0)  # the caller's batch is never modified
    assert torch.equal(y, _old_augment(aug, x0, g_old))  # bit-identical to the whole-batch formulation
    assert torch.equal(g_new.get_state(), g_old.get_state())  # same draws consumed
    # in place (as Preprocess does on its own float batch): the same result, written into x
    x2 = x0.clone()
    y2 = aug._apply(x2, torch.Generator().manual_seed(7), inplace=True)
    assert y2 is x2 and torch.equal(y2, y)


def test_preprocess_leaves_input_alone_and_float_input_matches_uint8():
    aug = B.Augment(hflip=1.0, vflip=0.5, rotation_p=0.5, jitter_p=1.0, brightness=0.3)
    x8 = torch.randint(0, 256, (6, 3, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(2))
    xf = x8.float() / 255  # already the model's dtype: Preprocess must copy before augmenting in place
    xf0 = xf.clone()
    for kw in (dict(), dict(resize=256, crop=224), dict(crop=20)):
        pre = B.Preprocess(mean=B.IMAGENET_MEAN, std=B.IMAGENET_STD, augment=aug, **kw)
        a = pre(x8, train=True, generator=torch.Generator().manual_seed(3))
        b = pre(xf, train=True, generator=torch.Generator().manual_seed(3))
        assert torch.equal(xf, xf0)
        assert torch.allclose(a, b, atol=1e-6) and a.is_contiguous()
    out = B.Preprocess()(xf)  # nothing to do: equal values, and still not the caller's tensor modified
    assert torch.equal(out, xf0)


def test_for_model_follows_each_models_spec():
    from dive.models import build_model

    resnet = B.Preprocess.for_model(build_model("resnet18", 9, 3).spec, size=224)
    assert (resnet.resize, resnet.crop) == (256, 224)  # the report's Resize(256) + CenterCrop(224)
    xception = B.Preprocess.for_model(build_model("xception", 9, 3).spec, size=168)
    assert (xception.resize, xception.crop) == (168, None)  # the report resized its images to 168 px
    cnn = B.Preprocess.for_model(build_model("simplecnn", 9, 1).spec, dataset_stats=((0.5,), (0.2,)))
    assert (cnn.resize, cnn.crop) == (28, None)

"""Synthetic datasets in the exact official file formats, for tests and the smoke profile.

MNIST is written as gzip-compressed idx files (``<root>/MNIST/raw/*-ubyte.gz``), MedMNIST flags
as ``<root>/medmnist/<flag>.npz`` with the official keys (``train_images``, ``train_labels``,
``val_*``, ``test_*``) and dtypes (uint8 images (N, H, W) or (N, H, W, 3); uint8 labels (N, 1),
or (N, L) for multi-label ChestMNIST). Each class gets its own smooth random template, so a model
can learn the classes; noise, shifts and brightness changes keep it from being trivial, and class
frequencies are deliberately unequal (largest/smallest = ``imbalance``), as in PathMNIST.

The root gets a ``SYNTHETIC.json`` marker listing the files and their md5 sums: ``dive.data``
verifies against those sums and marks everything it loads from such a root ``synthetic=True``.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
from pathlib import Path

import numpy as np

from dive.data import MNIST_FILES, SYNTHETIC_MARKER, _medmnist_info, check_name, classes_of, task_of

DEFAULT_DATASETS = ("mnist", "pathmnist", "pneumoniamnist", "breastmnist", "chestmnist", "dermamnist", "bloodmnist")
DEFAULT_SIZES = {"train": 600, "val": 150, "test": 200}
SIGNALS = ("blobs", "regions")  # where a class's signal lies: random places, or its own known cell


def _class_probs(k: int, imbalance: float) -> np.ndarray:
    w = np.linspace(imbalance, 1.0, k)
    return w / w.sum()


def _templates(k: int, channels: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """One smooth pattern per class: a few Gaussian blobs at class-specific places and colours."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    out = np.zeros((k, channels, size, size), dtype=np.float32)
    for c in range(k):
        for _ in range(3):
            cy, cx = rng.uniform(0.2, 0.8, 2)
            r = rng.uniform(0.08, 0.18)
            blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))
            colour = rng.uniform(0.3, 1.0, channels)
            out[c] += colour[:, None, None] * blob
    return out / out.max(axis=(1, 2, 3), keepdims=True)


def class_regions(k: int, size: int) -> np.ndarray:
    """Boolean masks (k, size, size): class ``c``'s cell of a ceil(sqrt(k)) x ceil(sqrt(k)) grid.

    With ``signal="regions"`` each class's whole signal lies in its cell (ground truth for attribution
    tests: a method that explains the learned model should put its mass there).
    """
    g = int(np.ceil(np.sqrt(k)))
    edges = np.linspace(0, size, g + 1).round().astype(int)
    masks = np.zeros((k, size, size), dtype=bool)
    for c in range(k):
        r, q = divmod(c, g)
        masks[c, edges[r] : edges[r + 1], edges[q] : edges[q + 1]] = True
    return masks


def _region_templates(k: int, channels: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """One blob per class, centred in the class's cell of :func:`class_regions` (small enough to stay
    inside it after the generator's shifts of up to 2 px), in a class-specific colour."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    out = np.zeros((k, channels, size, size), dtype=np.float32)
    for c, mask in enumerate(class_regions(k, size)):
        rows, cols = np.nonzero(mask)
        cy, cx = rows.mean(), cols.mean()
        r = max(1.0, (rows.max() - rows.min() + 1) / 7)
        blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))
        out[c] = rng.uniform(0.6, 1.0, channels)[:, None, None] * blob
    return out / out.max(axis=(1, 2, 3), keepdims=True)


def make_images(labels: np.ndarray, templates: np.ndarray, rng: np.random.Generator, noise: float = 0.25) -> np.ndarray:
    """uint8 images (N, C, H, W) from class templates (labels may be (N,) or multi-hot (N, L))."""
    if labels.ndim == 2:  # multi-label: superpose the templates of the active labels
        base = np.einsum("nl,lchw->nchw", labels.astype(np.float32), templates)
        base = base / np.maximum(base.max(axis=(1, 2, 3), keepdims=True), 1e-6)
    else:
        base = templates[labels]
    n, _, h, w = base.shape
    shifts = rng.integers(-2, 3, size=(n, 2))
    shifted = np.stack([np.roll(b, tuple(s), axis=(1, 2)) for b, s in zip(base, shifts, strict=False)])
    gain = rng.uniform(0.7, 1.0, size=(n, 1, 1, 1))
    x = shifted * gain + noise * rng.standard_normal(shifted.shape)
    return (np.clip(x, 0, 1) * 255).round().astype(np.uint8)


def _labels(n: int, k: int, task: str, imbalance: float, rng: np.random.Generator) -> np.ndarray:
    if task == "multi-label, binary-class":
        return (rng.random((n, k)) < 0.15).astype(np.uint8)
    return rng.choice(k, size=n, p=_class_probs(k, imbalance)).astype(np.uint8)


def _idx_bytes(arr: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    raw = io.BytesIO()
    with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as f:  # mtime=0: same bytes every time
        f.write(header + np.ascontiguousarray(arr, dtype=np.uint8).tobytes())
    return raw.getvalue()


def write_mnist(root: Path, sizes: dict, seed: int = 0, imbalance: float = 1.5) -> list[Path]:
    rng = np.random.default_rng(seed)
    templates = _templates(10, 1, 28, rng)
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    written = []
    n_by_split = {"train": sizes["train"] + sizes["val"], "test": sizes["test"]}
    for split, (img_name, lbl_name) in MNIST_FILES.items():
        labels = _labels(n_by_split[split], 10, "multi-class", imbalance, rng)
        images = make_images(labels, templates, rng)[:, 0]
        for name, arr in ((img_name, images), (lbl_name, labels)):
            (raw / name).write_bytes(_idx_bytes(arr))
            written.append(raw / name)
    return written


def write_medmnist(
    root: Path,
    flag: str,
    sizes: dict,
    image_size: int = 28,
    seed: int = 0,
    imbalance: float = 3.0,
    signal: str = "blobs",
) -> Path:
    """``signal``: ``"blobs"`` (class templates at random places) or ``"regions"`` (each class's signal
    inside its own cell of :func:`class_regions`)."""
    info = _medmnist_info()[flag]
    k, channels, task = len(info["label"]), info["n_channels"], info["task"]
    rng = np.random.default_rng([seed, len(flag), sum(map(ord, flag))])
    if signal not in SIGNALS:
        raise ValueError(f"unknown signal {signal!r}; valid: {', '.join(SIGNALS)}")
    templates = (_region_templates if signal == "regions" else _templates)(k, channels, image_size, rng)
    arrays = {}
    for split in ("train", "val", "test"):
        labels = _labels(sizes[split], k, task, imbalance, rng)
        images = make_images(labels, templates, rng)
        images = images[:, 0] if channels == 1 else images.transpose(0, 2, 3, 1)
        arrays[f"{split}_images"] = images
        arrays[f"{split}_labels"] = labels if labels.ndim == 2 else labels[:, None]
    folder = root / "medmnist"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (f"{flag}.npz" if image_size == 28 else f"{flag}_{image_size}.npz")
    np.savez_compressed(path, **arrays)
    return path


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def write_synthetic_root(
    root: str | os.PathLike,
    datasets=DEFAULT_DATASETS,
    sizes: dict | None = None,
    image_sizes=(28,),
    seed: int = 0,
    signal: str = "blobs",
) -> Path:
    """Write synthetic files for ``datasets`` under ``root`` plus the ``SYNTHETIC.json`` marker.

    ``signal="regions"`` puts each MedMNIST class's signal in its known cell (:func:`class_regions`)."""
    root = Path(root)
    sizes = {**DEFAULT_SIZES, **(sizes or {})}
    written = []
    for name in datasets:
        name = check_name(name)
        if name == "mnist":
            written += write_mnist(root, sizes, seed)
        else:
            written += [write_medmnist(root, name, sizes, s, seed, signal=signal) for s in image_sizes]
    marker = {
        "synthetic": True,
        "note": "Synthetic data written by dive.synthetic for tests and the smoke profile. Not real data.",
        "datasets": list(datasets),
        "sizes": sizes,
        "seed": seed,
        "md5": {str(p.relative_to(root)): _md5(p) for p in written},
    }
    if signal != "blobs":
        marker["signal"] = signal
    old = root / SYNTHETIC_MARKER
    if old.is_file():  # merge with files written earlier into the same root
        prev = json.loads(old.read_text())
        marker["md5"] = {**prev.get("md5", {}), **marker["md5"]}
        marker["datasets"] = sorted(set(prev.get("datasets", [])) | set(marker["datasets"]))
    old.write_text(json.dumps(marker, indent=2))
    return root


def ensure_synthetic_root(root: str | os.PathLike, datasets=DEFAULT_DATASETS, **kwargs) -> Path:
    """Idempotent: write the synthetic root unless it already holds these datasets."""
    root = Path(root)
    marker = root / SYNTHETIC_MARKER
    if marker.is_file():
        have = set(json.loads(marker.read_text()).get("datasets", []))
        missing = [d for d in datasets if d not in have]
        if not missing:
            return root
        datasets = missing
    return write_synthetic_root(root, datasets, **kwargs)


__all__ = ["write_synthetic_root", "ensure_synthetic_root", "make_images", "class_regions", "classes_of", "task_of"]

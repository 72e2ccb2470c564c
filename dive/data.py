"""Datasets by name, loaded once into memory as uint8 tensors.

``mnist`` is read from torchvision's layout (``<root>/MNIST/raw/*-ubyte.gz``) and every MedMNIST
2D flag listed by ``medmnist.INFO`` from medmnist's layout (``<root>/medmnist/<flag>[_<size>].npz``)
through medmnist's own dataset classes. Files are checked against the libraries' md5 sums before
anything is loaded; missing or corrupt files raise :class:`DatasetFileError` naming the dataset,
the path, the URL and the md5. There is never a silent fallback to synthetic data: a root written
by :mod:`dive.synthetic` carries a ``SYNTHETIC.json`` marker, and everything loaded from it says
``synthetic=True``.

Run ``python -m dive.data [names...]`` to fetch (when online) and verify the files.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import sys
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

import medmnist
import numpy as np
import torch
from torchvision.datasets import MNIST

from dive.utils import DEFAULT_SEED, REPO_ROOT

MEDMNIST_SIZES = (28, 64, 128, 224)
MNIST_CLASSES = [str(i) for i in range(10)]
MNIST_FILES = {  # split -> (images file, labels file); md5s are torchvision's own list
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
SYNTHETIC_MARKER = "SYNTHETIC.json"
REPORT_DATASETS = ("mnist", "pathmnist")  # what the original report used
#: How a data set is split (:func:`load`): ``official`` train/val/test, or the ``report``'s seeded 80/20 split of train.
SPLITS = ("official", "report")
#: :attr:`DatasetBundle.split_label` of each ``split_mode``.
_SPLIT_LABELS = {
    "report": "80/20 split",
    "official": "official split",
    "official+report-val": "official train/test, 80/20 validation",
}


def _medmnist_info() -> dict:
    return medmnist.INFO


def _medmnist_2d_flags() -> tuple[str, ...]:
    return tuple(flag for flag in _medmnist_info() if not flag.endswith("3d"))


@dataclass(frozen=True)
class DatasetEntry:
    """One row of :data:`DATASET_TABLE`: where a dataset's files live and how they are read.

    ``source`` names the layout: ``"torchvision-mnist"`` (``<root>/MNIST/raw/*-ubyte.gz``, no official
    validation split, 28 px only) or ``"medmnist"`` (``<root>/medmnist/<flag>[_<size>].npz``, official
    train/val/test at 28, 64, 128 and 224 px).
    """

    name: str
    source: str
    sizes: tuple[int, ...]
    has_val: bool

    @property
    def classes(self) -> list[str]:
        if self.source == "torchvision-mnist":
            return list(MNIST_CLASSES)
        labels = _medmnist_info()[self.name]["label"]
        return [labels[str(i)] for i in range(len(labels))]

    @property
    def task(self) -> str:
        return "multi-class" if self.source == "torchvision-mnist" else _medmnist_info()[self.name]["task"]

    def files(self, root: Path, size: int) -> list[FileSpec]:
        if size not in self.sizes:
            raise ValueError(f"{self.name} exists at {', '.join(map(str, self.sizes))} px, not {size}")
        if self.source == "torchvision-mnist":
            md5s = dict(MNIST.resources)
            return [
                FileSpec(self.name, root / "MNIST" / "raw" / f, MNIST.mirrors[0] + f, md5s[f])
                for pair in MNIST_FILES.values()
                for f in pair
            ]
        info = _medmnist_info()[self.name]
        suffix = "" if size == 28 else f"_{size}"
        return [
            FileSpec(
                self.name, root / "medmnist" / f"{self.name}{suffix}.npz", info[f"url{suffix}"], info[f"MD5{suffix}"]
            )
        ]

    def data_root_of(self, path: Path) -> Path:
        """The data root a file of this dataset lies under."""
        return path.parents[2] if self.source == "torchvision-mnist" else path.parents[1]

    def download(self, root: Path, size: int) -> None:
        if self.source == "torchvision-mnist":
            MNIST(str(root), train=True, download=True)  # verifies and extracts; we read the .gz files it keeps
            return
        folder = root / "medmnist"
        folder.mkdir(parents=True, exist_ok=True)
        getattr(medmnist, _medmnist_info()[self.name]["python_class"])(
            split="test", root=str(folder), download=True, size=size
        )

    def read(self, root: Path, split: str, size: int) -> tuple[np.ndarray, np.ndarray]:
        """``(images (N, C, H, W) uint8, labels)`` of one official split (``train``, ``val``, ``test``)."""
        if self.source == "torchvision-mnist":
            return _load_mnist(root, split)
        return _load_medmnist(self.name, root, split, size)


DATASET_TABLE: dict[str, DatasetEntry] = {
    "mnist": DatasetEntry("mnist", "torchvision-mnist", (28,), has_val=False),
    **{f: DatasetEntry(f, "medmnist", MEDMNIST_SIZES, has_val=True) for f in _medmnist_2d_flags()},
}
DATASETS: tuple[str, ...] = tuple(DATASET_TABLE)
MEDMNIST_2D: tuple[str, ...] = tuple(n for n, e in DATASET_TABLE.items() if e.source == "medmnist")


class DatasetFileError(FileNotFoundError):
    """A dataset file is missing or corrupt. The message says what to do about it."""


def default_root() -> Path:
    """``$DIVE_DATA`` if set, else ``<repo>/data`` (git-ignored)."""
    env = os.environ.get("DIVE_DATA")
    return Path(env).expanduser() if env else REPO_ROOT / "data"


def resolve_root(root: str | os.PathLike | None = None) -> Path:
    return Path(root).expanduser() if root else default_root()


def check_name(name: str) -> str:
    """Normalise a dataset name; unknown names raise listing the valid ones."""
    key = str(name).lower().strip()
    if key not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; valid: {', '.join(DATASETS)}")
    return key


def is_synthetic_root(root: str | os.PathLike) -> bool:
    return (Path(root) / SYNTHETIC_MARKER).is_file()


def _synthetic_md5s(root: Path) -> dict[str, str]:
    return json.loads((root / SYNTHETIC_MARKER).read_text())["md5"]


# ----------------------------------------------------------------------------- files


@dataclass(frozen=True)
class FileSpec:
    dataset: str
    path: Path
    url: str
    md5: str

    def status(self) -> str:
        """``present`` (md5 matches), ``missing`` or ``corrupt``."""
        if not self.path.is_file():
            return "missing"
        return "present" if md5sum(self.path) == self.md5 else "corrupt"


@lru_cache(maxsize=64)
def _md5_cached(path: str, mtime_ns: int, size: int) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def md5sum(path: str | os.PathLike) -> str:
    st = os.stat(path)
    return _md5_cached(str(path), st.st_mtime_ns, st.st_size)


def files_for(name: str, root: str | os.PathLike | None = None, size: int = 28) -> list[FileSpec]:
    """The files a dataset needs, with their official URLs and md5 sums."""
    name = check_name(name)
    root = resolve_root(root)
    synthetic = _synthetic_md5s(root) if is_synthetic_root(root) else None
    specs = DATASET_TABLE[name].files(root, size)
    if synthetic is not None:
        specs = [
            FileSpec(
                s.dataset,
                s.path,
                f"synthetic (written by dive.synthetic; official: {s.url})",
                synthetic.get(str(s.path.relative_to(root)), s.md5),
            )
            for s in specs
        ]
    return specs


def _root_of(spec: FileSpec) -> Path:
    return DATASET_TABLE[spec.dataset].data_root_of(spec.path)


def _missing_message(spec: FileSpec, status: str) -> str:
    if status == "missing":
        head = f"{spec.dataset}: file not found: {spec.path}"
    else:
        head = f"{spec.dataset}: corrupt file {spec.path}: md5 {md5sum(spec.path)}, expected {spec.md5}"
    return (
        f"{head}\n  URL: {spec.url}\n  md5: {spec.md5}\n"
        f"  Download it by hand and place it at {spec.path}, or run `make data` (python -m dive.data {spec.dataset})"
        f" where the internet is reachable. The data root is {_root_of(spec)}"
        f" (argument `root`, else $DIVE_DATA, else {REPO_ROOT / 'data'})."
    )


def download(name: str, root: str | os.PathLike | None = None, size: int = 28) -> None:
    """Fetch a dataset's missing files with the libraries' own downloaders and md5 checks."""
    name = check_name(name)
    root = resolve_root(root)
    if is_synthetic_root(root):
        return
    DATASET_TABLE[name].download(root, size)


def ensure_files(
    name: str, root: str | os.PathLike | None = None, size: int = 28, download_missing: bool = False
) -> list[FileSpec]:
    """Check (and optionally fetch) a dataset's files; raise before any work if one is unusable."""
    specs = files_for(name, root, size)
    problems = [(s, s.status()) for s in specs]
    if download_missing and any(st == "missing" for _, st in problems):
        try:
            download(name, root, size)
        except Exception as exc:  # offline: say so, then report the missing files below
            print(
                f"download of {name} failed: {exc.__class__.__name__}: "
                f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''}",
                file=sys.stderr,
            )
        problems = [(s, s.status()) for s in specs]
    bad = [_missing_message(s, st) for s, st in problems if st != "present"]
    if bad:
        raise DatasetFileError("\n".join(bad))
    return specs


# ----------------------------------------------------------------------------- splits


@dataclass
class Split:
    """One split in memory: uint8 images (N, C, H, W), int64 labels (N,) or (N, L) for multi-label."""

    images: torch.Tensor
    labels: torch.Tensor
    classes: list[str]
    dataset: str
    name: str
    task: str = "multi-class"
    synthetic: bool = False

    def __post_init__(self):
        if self.images.dtype != torch.uint8 or self.images.ndim != 4:
            raise ValueError(f"images must be uint8 (N, C, H, W), got {self.images.dtype} {tuple(self.images.shape)}")
        if len(self.images) != len(self.labels):
            raise ValueError(f"{len(self.images)} images but {len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def channels(self) -> int:
        return int(self.images.shape[1])

    @property
    def image_size(self) -> int:
        return int(self.images.shape[-1])

    @property
    def multilabel(self) -> bool:
        return self.labels.ndim == 2

    def subset(self, indices) -> Split:
        idx = torch.as_tensor(indices, dtype=torch.long)
        return Split(
            self.images[idx], self.labels[idx], self.classes, self.dataset, self.name, self.task, self.synthetic
        )

    def sample(self, n: int | None, seed: int = DEFAULT_SEED, stratified: bool = True) -> Split:
        """A seeded random subset of ``n`` images (all of them if n is None or >= len).

        Stratified by class for single-label data, so that small subsets keep the class proportions.
        """
        if n is None or n >= len(self):
            return self
        g = torch.Generator().manual_seed(seed)
        if not stratified or self.multilabel:
            return self.subset(torch.randperm(len(self), generator=g)[:n].sort().values)
        counts = self.class_counts()
        quota = np.floor(counts / counts.sum() * n).astype(int)
        order = np.argsort(-(counts / counts.sum() * n - quota))  # largest remainders get the rest
        for c in order[: n - quota.sum()]:
            quota[c] += 1
        picks = []
        for c, q in enumerate(quota):
            members = torch.nonzero(self.labels == c).flatten()
            picks.append(members[torch.randperm(len(members), generator=g)[:q]])
        return self.subset(torch.cat(picks).sort().values)

    def class_counts(self) -> np.ndarray:
        if self.multilabel:
            return self.labels.sum(0).numpy()
        return np.bincount(self.labels.numpy(), minlength=self.num_classes)

    def imbalance_ratio(self) -> float:
        """Largest class count over smallest (1.0 = balanced)."""
        counts = self.class_counts()
        return float(counts.max() / max(counts.min(), 1))

    def mean_std(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """Per-channel mean and std of the pixel values scaled to [0, 1]."""
        x = self.images
        n = x.shape[0] * x.shape[2] * x.shape[3]
        s = torch.zeros(x.shape[1], dtype=torch.float64)
        s2 = torch.zeros(x.shape[1], dtype=torch.float64)
        for chunk in torch.split(x, 8192):
            c = chunk.to(torch.float64) / 255.0
            s += c.sum(dim=(0, 2, 3))
            s2 += (c * c).sum(dim=(0, 2, 3))
        mean = s / n
        std = (s2 / n - mean * mean).clamp_min(0).sqrt()
        return tuple(float(v) for v in mean), tuple(float(v) for v in std)

    def torch_dataset(self, transform=None) -> SplitDataset:
        return SplitDataset(self, transform)


class SplitDataset(torch.utils.data.Dataset):
    """A ``torch.utils.data.Dataset`` view of a :class:`Split` for users who prefer a ``DataLoader``.

    Items are ``(image, label)``; the image is a float tensor in [0, 1] (C, H, W) unless ``transform``
    is given, which then receives the uint8 tensor (torchvision v2 transforms accept it).
    """

    def __init__(self, split: Split, transform=None):
        self.split = split
        self.transform = transform

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, i):
        img = self.split.images[i]
        img = self.transform(img) if self.transform is not None else img.float().div(255)
        return img, self.split.labels[i]


@dataclass
class DatasetBundle:
    """train / val / test splits of one dataset plus how they were made."""

    name: str
    train: Split
    val: Split
    test: Split
    root: Path
    split_mode: str
    seed: int
    size: int
    synthetic: bool
    task: str
    classes: list[str] = field(default_factory=list)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def channels(self) -> int:
        return self.train.channels

    def subsets(
        self, train: int | None = None, val: int | None = None, test: int | None = None, *, seed: int = DEFAULT_SEED
    ) -> DatasetBundle:
        """The same bundle with seeded, stratified subsets of its splits (see :meth:`Split.sample`).

        ``None`` keeps a split whole, as does a size at least as large as the split. The profiles
        use this to shrink the report's experiments to a CPU budget.
        """
        for what, n in (("train", train), ("val", val), ("test", test)):
            if n is not None and int(n) < 1:
                raise ValueError(f"{what} subset size must be positive or None (all), got {n}")
        return replace(
            self,
            train=self.train.sample(train, seed),
            val=self.val.sample(val, seed),
            test=self.test.sample(test, seed),
        )

    def stats(self) -> dict:
        """Split sizes, per-channel mean/std of train, class counts and imbalance ratio."""
        mean, std = self.train.mean_std()
        counts = self.train.class_counts()
        return {
            "dataset": self.name,
            "synthetic": self.synthetic,
            "split_mode": self.split_mode,
            "sizes": {"train": len(self.train), "val": len(self.val), "test": len(self.test)},
            "image_shape": list(self.train.images.shape[1:]),
            "mean": list(mean),
            "std": list(std),
            "class_counts": {c: int(n) for c, n in zip(self.classes, counts, strict=False)},
            "imbalance_ratio": self.train.imbalance_ratio(),
        }

    @property
    def split(self) -> str:
        """The :data:`SPLITS` entry these data are loaded with, as a :class:`dive.config.RunConfig` names it:
        ``report``, else ``official`` (MNIST's ``official+report-val`` too: it is what ``split="official"`` loads)."""
        return "report" if self.split_mode == "report" else "official"

    @property
    def split_label(self) -> str:
        """How the split reads in a caption: "80/20 split" (the report's), "official split", or MNIST's "official
        train/test, 80/20 validation" (it has no validation split of its own)."""
        return _SPLIT_LABELS.get(self.split_mode, f"{self.split_mode} split")

    def __repr__(self) -> str:
        tag = " SYNTHETIC" if self.synthetic else ""
        return (
            f"DatasetBundle({self.name}{tag}, {self.split_mode} split, train={len(self.train)}, "
            f"val={len(self.val)}, test={len(self.test)}, {self.channels}x{self.size}x{self.size}, "
            f"{self.num_classes} classes)"
        )


def _read_idx_gz(path: Path) -> np.ndarray:
    """Read an MNIST idx file (gzip-compressed or not)."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    if data[2] != 0x08 or not 1 <= ndim <= 3:
        raise DatasetFileError(f"{path} is not an unsigned-byte idx file")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if arr.size != int(np.prod(shape)):
        raise DatasetFileError(f"{path}: expected {shape} values, found {arr.size}")
    return arr.reshape(shape)


def _load_mnist(root: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    raw = root / "MNIST" / "raw"
    img_file, lbl_file = MNIST_FILES[split]
    images = _read_idx_gz(raw / img_file)[:, None]  # (N, 1, 28, 28)
    labels = _read_idx_gz(raw / lbl_file).astype(np.int64)
    return images, labels


def _load_medmnist(name: str, root: Path, split: str, size: int) -> tuple[np.ndarray, np.ndarray]:
    cls = getattr(medmnist, _medmnist_info()[name]["python_class"])
    ds = cls(split=split, root=str(root / "medmnist"), download=False, size=size)
    imgs = np.asarray(ds.imgs)
    imgs = imgs[:, None] if imgs.ndim == 3 else imgs.transpose(0, 3, 1, 2)  # (N, C, H, W)
    labels = np.asarray(ds.labels).astype(np.int64)
    if _medmnist_info()[name]["task"] != "multi-label, binary-class":
        labels = labels.reshape(-1)
    return imgs, labels


def classes_of(name: str) -> list[str]:
    return DATASET_TABLE[check_name(name)].classes


def task_of(name: str) -> str:
    return DATASET_TABLE[check_name(name)].task


def report_split(n: int, val_fraction: float = 0.2, seed: int = DEFAULT_SEED) -> tuple[torch.Tensor, torch.Tensor]:
    """The report's seeded split of a training set: ``(train_idx, val_idx)``, identical on every run.

    Same arithmetic as ``torch.utils.data.random_split(range(n), [1 - f, f], generator=manual_seed(seed))``.
    """
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    n_val = int(round(n * val_fraction))
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return perm[: n - n_val].sort().values, perm[n - n_val :].sort().values


def load(
    name: str = "pathmnist",
    root: str | os.PathLike | None = None,
    *,
    size: int = 28,
    split: str = "official",
    val_fraction: float = 0.2,
    seed: int = DEFAULT_SEED,
    download: bool = False,
) -> DatasetBundle:
    """Load a dataset's train/val/test splits into memory.

    ``split="official"``: the dataset's own train/val/test (MNIST has no official validation set:
    its val is the report's 20% of train). ``split="report"``: the report's seeded 80/20 split of the
    official training set into train/val (``seed`` 22 by default), test = official test.
    """
    name = check_name(name)
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; valid: {', '.join(SPLITS)}")
    root = resolve_root(root)
    ensure_files(name, root, size, download_missing=download)
    synthetic = is_synthetic_root(root)
    classes, task = classes_of(name), task_of(name)

    def make(arrays, split_name):
        images, labels = arrays
        images = np.ascontiguousarray(images)
        if not images.flags.writeable:
            images = images.copy()
        return Split(torch.from_numpy(images), torch.from_numpy(labels), classes, name, split_name, task, synthetic)

    entry = DATASET_TABLE[name]
    full_train = make(entry.read(root, "train", size), "train")
    test = make(entry.read(root, "test", size), "test")
    val = make(entry.read(root, "val", size), "val") if entry.has_val else None
    if split == "report" or val is None:
        tr_idx, va_idx = report_split(len(full_train), val_fraction, seed)
        train, val = full_train.subset(tr_idx), full_train.subset(va_idx)
        val.name = "val"
        split_mode = "report" if split == "report" else "official+report-val"
    else:
        train, split_mode = full_train, "official"
    return DatasetBundle(name, train, val, test, root, split_mode, seed, size, synthetic, task, classes)


def load_for(config, root: str | os.PathLike | None = None, *, download: bool = False) -> DatasetBundle:
    """The full bundle a :class:`dive.config.RunConfig` describes (dataset, split, split seed, file size),
    loaded from ``root``; ``dive.experiment.run`` draws the config's subsets from it. A worker on another
    machine rebuilds exactly the same data from ``(config, root)``."""
    return load(
        config.dataset, root, size=config.file_size, split=config.split, seed=config.split_seed, download=download
    )


# ----------------------------------------------------------------------------- CLI


def status_table(names, root=None, size: int = 28, fetch: bool = True) -> list[dict]:
    rows = []
    for name in names:
        specs = files_for(name, root, size)
        if fetch and any(s.status() == "missing" for s in specs):
            try:
                download(name, root, size)
            except Exception as exc:
                print(
                    f"{name}: download failed ({exc.__class__.__name__}); is the internet reachable?", file=sys.stderr
                )
        for s in specs:
            rows.append({"dataset": name, "status": s.status(), "path": str(s.path), "url": s.url, "md5": s.md5})
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m dive.data", description="Fetch (when online) and verify dataset files.")
    p.add_argument(
        "names",
        nargs="*",
        default=list(REPORT_DATASETS),
        help=f"datasets (default: {' '.join(REPORT_DATASETS)}), or 'all' (mnist and every MedMNIST 2D "
        f"flag); valid: {', '.join(DATASETS)}",
    )
    p.add_argument("--root", default=None, help="data root (default: $DIVE_DATA, else <repo>/data)")
    p.add_argument("--size", type=int, default=28, help=f"MedMNIST image size, one of {MEDMNIST_SIZES}")
    p.add_argument("--no-download", action="store_true", help="only verify, never fetch")
    args = p.parse_args(argv)
    try:  # 'all': every dataset dive knows (make data DATASETS=all)
        names = list(
            dict.fromkeys(n for a in args.names for n in (DATASETS if a.lower() == "all" else [check_name(a)]))
        )
    except ValueError as exc:
        p.error(str(exc))
    root = resolve_root(args.root)
    rows = status_table(names, root, args.size, fetch=not args.no_download)
    print(f"data root: {root}" + ("  (SYNTHETIC)" if is_synthetic_root(root) else ""))
    width = max(len(r["path"]) for r in rows)
    print(f"{'dataset':<16} {'status':<8} {'path':<{width}}  md5")
    for r in rows:
        print(f"{r['dataset']:<16} {r['status']:<8} {r['path']:<{width}}  {r['md5']}")
    bad = [r for r in rows if r["status"] != "present"]
    for r in bad:
        print(
            f"\n{r['dataset']}: {r['status']}: {r['path']}\n  URL: {r['url']}\n  md5: {r['md5']}\n"
            f"  place the file there by hand (download it where the internet is reachable).",
            file=sys.stderr,
        )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

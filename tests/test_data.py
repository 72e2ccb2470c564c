import gzip
import hashlib

import numpy as np
import pytest
import torch
from conftest import need_real_file

from dive import data
from dive.synthetic import write_synthetic_root


def test_dataset_names_cover_mnist_and_medmnist_2d():
    from medmnist import INFO

    assert data.DATASETS[0] == "mnist" and data.DATASETS[1] == "pathmnist"
    assert set(data.DATASETS) == {"mnist"} | {f for f in INFO if not f.endswith("3d")}
    with pytest.raises(ValueError) as err:
        data.check_name("cifar10")
    assert "pathmnist" in str(err.value) and "mnist" in str(err.value)


def test_synthetic_files_have_the_official_format(synthetic_root):
    z = np.load(synthetic_root / "medmnist" / "pathmnist.npz")
    assert set(z.files) == {f"{s}_{k}" for s in ("train", "val", "test") for k in ("images", "labels")}
    assert z["train_images"].dtype == np.uint8 and z["train_images"].shape[1:] == (28, 28, 3)
    assert z["train_labels"].dtype == np.uint8 and z["train_labels"].shape[1:] == (1,)
    grey = np.load(synthetic_root / "medmnist" / "pneumoniamnist.npz")
    assert grey["test_images"].shape[1:] == (28, 28)
    with gzip.open(synthetic_root / "MNIST" / "raw" / "train-images-idx3-ubyte.gz") as f:
        head = f.read(16)
    assert head[:4] == b"\x00\x00\x08\x03" and int.from_bytes(head[8:12], "big") == 28


def test_load_medmnist_official_split(synthetic_root):
    b = data.load("pathmnist", synthetic_root)
    assert b.synthetic and b.split_mode == "official"
    assert b.train.images.dtype == torch.uint8 and b.train.images.shape[1:] == (3, 28, 28)
    assert b.train.labels.dtype == torch.int64 and b.train.labels.ndim == 1
    assert b.classes[0] == "adipose" and len(b.classes) == 9
    z = np.load(synthetic_root / "medmnist" / "pathmnist.npz")
    assert torch.equal(b.test.images[5], torch.from_numpy(z["test_images"][5]).permute(2, 0, 1))
    assert (len(b.train), len(b.val), len(b.test)) == (
        len(z["train_labels"]),
        len(z["val_labels"]),
        len(z["test_labels"]),
    )


def test_report_split_is_seeded_80_20_and_identical_every_time(synthetic_root):
    a = data.load("pathmnist", synthetic_root, split="report")
    b = data.load("pathmnist", synthetic_root, split="report")
    c = data.load("pathmnist", synthetic_root, split="report", seed=23)
    n = len(a.train) + len(a.val)
    assert len(a.val) == round(0.2 * n)
    assert torch.equal(a.val.images, b.val.images) and torch.equal(a.train.labels, b.train.labels)
    assert not torch.equal(a.val.images, c.val.images)
    # train and val partition the official training set
    tr, va = data.report_split(n)
    assert len(set(tr.tolist()) | set(va.tolist())) == n and not set(tr.tolist()) & set(va.tolist())


def test_mnist_has_report_val_split(synthetic_root):
    b = data.load("mnist", synthetic_root)
    assert b.channels == 1 and b.num_classes == 10
    assert len(b.val) == round(0.2 * (len(b.train) + len(b.val)))


def test_multilabel_chestmnist_keeps_label_matrix(synthetic_root):
    b = data.load("chestmnist", synthetic_root)
    assert b.task == "multi-label, binary-class" and b.train.labels.shape[1] == 14 and b.train.multilabel


def test_statistics_match_numpy(synthetic_root):
    b = data.load("pathmnist", synthetic_root)
    z = np.load(synthetic_root / "medmnist" / "pathmnist.npz")
    x = z["train_images"].astype(np.float64) / 255
    mean, std = b.train.mean_std()
    np.testing.assert_allclose(mean, x.mean(axis=(0, 1, 2)), rtol=1e-9)
    np.testing.assert_allclose(std, x.std(axis=(0, 1, 2)), rtol=1e-9)
    counts = np.bincount(z["train_labels"].ravel(), minlength=9)
    s = b.stats()
    assert list(s["class_counts"].values()) == counts.tolist()
    assert s["imbalance_ratio"] == pytest.approx(counts.max() / counts.min())
    assert s["imbalance_ratio"] > 1.5  # the synthetic data is deliberately imbalanced


def test_stratified_sample_keeps_proportions(synthetic_root):
    b = data.load("pathmnist", synthetic_root)
    sub = b.train.sample(300, seed=1)
    assert len(sub) == 300
    full = b.train.class_counts() / len(b.train)
    np.testing.assert_allclose(sub.class_counts() / 300, full, atol=1 / 300 + 1e-9)
    assert torch.equal(sub.images, b.train.sample(300, seed=1).images)


def test_missing_file_error_names_path_url_md5(tmp_path):
    with pytest.raises(data.DatasetFileError) as err:
        data.load("pathmnist", tmp_path)
    msg = str(err.value)
    assert str(tmp_path / "medmnist" / "pathmnist.npz") in msg
    assert "zenodo.org" in msg and "a8b06965200029087d5bd730944a56c1" in msg
    with pytest.raises(data.DatasetFileError) as err:
        data.load("mnist", tmp_path)
    assert "train-images-idx3-ubyte.gz" in str(err.value) and "f68b3c2dcbeaaa9fbdd348bbdeb94873" in str(err.value)


def test_corrupt_file_error_shows_both_checksums(tmp_path):
    (tmp_path / "medmnist").mkdir()
    bad = tmp_path / "medmnist" / "breastmnist.npz"
    bad.write_bytes(b"not the real file")
    with pytest.raises(data.DatasetFileError) as err:
        data.load("breastmnist", tmp_path)
    msg = str(err.value)
    assert hashlib.md5(b"not the real file").hexdigest() in msg and "750601b1f35ba3300ea97c75c52ff8f6" in msg


def test_never_falls_back_to_synthetic(tmp_path, synthetic_root, monkeypatch):
    monkeypatch.setenv("DIVE_DATA", str(tmp_path))
    with pytest.raises(data.DatasetFileError):
        data.load("pathmnist")
    monkeypatch.setenv("DIVE_DATA", str(synthetic_root))
    assert data.load("pathmnist").synthetic


def test_tampered_synthetic_file_is_caught(tmp_path):
    root = write_synthetic_root(tmp_path, datasets=["breastmnist"], sizes={"train": 20, "val": 5, "test": 5})
    f = root / "medmnist" / "breastmnist.npz"
    f.write_bytes(f.read_bytes()[:-10])
    with pytest.raises(data.DatasetFileError, match="corrupt"):
        data.load("breastmnist", root)


def test_larger_medmnist_sizes(tmp_path):
    root = write_synthetic_root(
        tmp_path, datasets=["dermamnist"], sizes={"train": 20, "val": 5, "test": 5}, image_sizes=(64,)
    )
    b = data.load("dermamnist", root, size=64)
    assert b.train.images.shape[1:] == (3, 64, 64)
    with pytest.raises(ValueError, match="28, 64, 128, 224"):
        data.load("dermamnist", root, size=32)


def test_torch_dataset_view_works_with_dataloader(synthetic_root):
    b = data.load("pneumoniamnist", synthetic_root)
    dl = torch.utils.data.DataLoader(b.train.torch_dataset(), batch_size=16)
    x, y = next(iter(dl))
    assert x.dtype == torch.float32 and x.shape == (16, 1, 28, 28) and 0 <= x.min() and x.max() <= 1
    assert torch.equal(y, b.train.labels[:16])


def test_cli_reports_present_and_missing(tmp_path, synthetic_root, capsys):
    assert data.main(["pathmnist", "mnist", "--root", str(synthetic_root), "--no-download"]) == 0
    out = capsys.readouterr().out
    assert "present" in out and "SYNTHETIC" in out
    assert data.main(["pathmnist", "--root", str(tmp_path), "--no-download"]) == 1
    cap = capsys.readouterr()
    assert "missing" in cap.out and "a8b06965200029087d5bd730944a56c1" in cap.err and "zenodo" in cap.err
    with pytest.raises(SystemExit):
        data.main(["nosuchmnist"])


# ---------------------------------------------------------------- real data (DIVE_DATA)


@pytest.mark.realdata
def test_real_mnist_files_verify_and_load(real_root):
    need_real_file(real_root, "MNIST/raw/train-images-idx3-ubyte.gz")
    b = data.load("mnist", real_root)
    assert not b.synthetic and len(b.train) + len(b.val) == 60000 and len(b.test) == 10000
    mean, std = b.train.mean_std()
    assert mean[0] == pytest.approx(0.1307, abs=2e-3) and std[0] == pytest.approx(0.3081, abs=2e-3)


@pytest.mark.realdata
@pytest.mark.parametrize("flag,sizes", [("pneumoniamnist", (4708, 524, 624)), ("breastmnist", (546, 78, 156))])
def test_real_medmnist_loads_through_the_pathmnist_code_path(real_root, flag, sizes):
    need_real_file(real_root, f"medmnist/{flag}.npz")
    b = data.load(flag, real_root)
    assert not b.synthetic and (len(b.train), len(b.val), len(b.test)) == sizes
    assert b.classes == data.classes_of(flag) and b.task == "binary-class"
    assert b.train.images.shape[1:] == (1, 28, 28) and b.stats()["imbalance_ratio"] > 1


def test_bundle_subsets_are_seeded_stratified_and_keep_metadata(synthetic_root):
    full = data.load("pathmnist", synthetic_root, split="report")
    sub = full.subsets(train=90, val=45, seed=3)
    assert (len(sub.train), len(sub.val), len(sub.test)) == (90, 45, len(full.test))
    assert sub.classes == full.classes and sub.synthetic and sub.split_mode == "report"
    share_full = full.train.class_counts() / len(full.train)
    share_sub = sub.train.class_counts() / len(sub.train)
    assert abs(share_full - share_sub).max() <= 1.0 / 90 + 1e-9  # stratified: proportions kept to one image
    again = full.subsets(train=90, val=45, seed=3)
    assert torch.equal(again.train.images, sub.train.images)
    assert not torch.equal(full.subsets(train=90, seed=4).train.images, sub.train.images)  # another seed, other images
    with pytest.raises(ValueError, match="positive"):
        full.subsets(train=0)

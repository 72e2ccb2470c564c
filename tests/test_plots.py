"""dive.plots: each figure is drawn, saved and carries the content the report needs."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.collections import PathCollection, PolyCollection
from matplotlib.figure import Figure

from dive import plots

CM = [[50, 3, 0], [7, 41, 2], [1, 0, 61]]
NAMES = ["adipose", "background", "debris"]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _saved(path):
    assert path.exists() and path.stat().st_size > 0
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def _texts(ax):
    return [t.get_text() for t in ax.texts]


def test_confusion_matrix_annotates_counts_and_labels_axes(tmp_path):
    out = tmp_path / "nested" / "dir" / "cm.png"
    fig = plots.confusion_matrix(CM, NAMES, title="Xception", save=out)
    assert isinstance(fig, Figure)
    _saved(out)
    ax = fig.axes[0]
    assert _texts(ax) == [str(v) for row in CM for v in row]  # row-major: rows true, cols predicted
    assert [t.get_text() for t in ax.get_xticklabels()] == NAMES
    assert [t.get_text() for t in ax.get_yticklabels()] == NAMES
    assert "true" in ax.get_ylabel() and "predicted" in ax.get_xlabel()
    assert ax.get_title() == "Xception"


def test_confusion_matrix_normalized_keeps_counts_and_into_given_ax():
    fig0, ax = plt.subplots()
    fig = plots.confusion_matrix(np.array(CM), NAMES, ax=ax, normalize=True)
    assert fig is fig0
    texts = _texts(ax)
    assert texts[0] == "50\n94%" and texts[1] == "3\n6%"
    # colours are row shares: the mesh holds 50/53 at (0, 0)
    assert ax.collections[0].get_array().reshape(3, 3)[0, 0] == pytest.approx(50 / 53)


def test_confusion_matrices_side_by_side_shared_scale(tmp_path):
    other = [[40, 10, 3], [2, 48, 0], [0, 5, 90]]
    fig = plots.confusion_matrices(
        {"no balancing": CM, "balancing": other}, NAMES, suptitle="ResNet", save=tmp_path / "cms.png"
    )
    _saved(tmp_path / "cms.png")
    heat_axes = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in heat_axes] == ["no balancing", "balancing"]
    assert _texts(heat_axes[0]) == [str(v) for row in CM for v in row]
    assert _texts(heat_axes[1]) == [str(v) for row in other for v in row]
    limits = {heat_axes[i].collections[0].get_clim() for i in range(2)}
    assert limits == {(0.0, 90.0)}  # one colour scale, max over both
    assert len(fig.axes) == 3  # two heatmaps and a single colour bar
    with pytest.raises(ValueError):
        plots.confusion_matrices({"a": CM, "b": [[1, 2], [3, 4]]})


def _history(accs):
    return [
        {
            "epoch": i + 1,
            "train_loss": 1.0 / (i + 1),
            "train_acc": a - 0.05,
            "val_loss": 1.2 / (i + 1),
            "val_acc": a,
            "lr": 1e-3,
            "seconds": 2.0,
        }
        for i, a in enumerate(accs)
    ]


def test_learning_curves_one_line_per_run_and_best_epoch_marked(tmp_path):
    histories = {
        "AlexNet": _history([0.5, 0.7, 0.65]),
        "ResNet": _history([0.6, 0.8, 0.9, 0.85]),
        "Xception": _history([0.4, 0.45]),
    }
    fig = plots.learning_curves(histories, title="PathMNIST", save=tmp_path / "lc.png")
    _saved(tmp_path / "lc.png")
    (ax,) = fig.axes
    lines = ax.get_lines()
    assert [ln.get_label() for ln in lines] == list(histories)
    np.testing.assert_allclose(lines[1].get_ydata(), [0.6, 0.8, 0.9, 0.85])
    points = [c for c in ax.collections if isinstance(c, PathCollection)]
    best = sorted(tuple(c.get_offsets()[0]) for c in points)
    assert best == sorted([(2.0, 0.7), (3.0, 0.9), (2.0, 0.45)])


def test_learning_curves_list_of_metrics_gives_subplots():
    histories = {"a": _history([0.5, 0.7]), "b": _history([0.6, 0.65])}
    fig = plots.learning_curves(histories, metric=["train_acc", "val_acc"])
    assert len(fig.axes) == 2
    for ax in fig.axes:
        assert len(ax.get_lines()) == 2
    np.testing.assert_allclose(fig.axes[0].get_lines()[0].get_ydata(), [0.45, 0.65])
    # best epoch (by val_acc) marked on the train_acc panel at that epoch's train_acc
    offsets = sorted(tuple(c.get_offsets()[0]) for c in fig.axes[0].collections)
    np.testing.assert_allclose(offsets, [(2.0, 0.6), (2.0, 0.65)])


def _bands(ax):
    return [c for c in ax.collections if isinstance(c, PolyCollection)]


def test_learning_curves_mean_over_seeds_with_a_shaded_band(tmp_path):
    seeds = {
        "balanced": [_history([0.5, 0.7, 0.8]), _history([0.7, 0.9, 0.8])],
        "unbalanced": [_history([0.4, 0.5, 0.6]), _history([0.4, 0.7, 0.6])],
    }
    fig = plots.learning_curves(seeds, band="std", save=tmp_path / "band.png")
    _saved(tmp_path / "band.png")
    (ax,) = fig.axes
    lines = ax.get_lines()
    assert [ln.get_label() for ln in lines] == ["balanced (mean of 2 seeds)", "unbalanced (mean of 2 seeds)"]
    np.testing.assert_allclose(lines[0].get_ydata(), [0.6, 0.8, 0.8])  # mean over the two seeds, by hand
    bands = _bands(ax)
    assert len(bands) == 2  # one filled polygon per configuration
    # std of (0.5, 0.7) and of (0.7, 0.9) is sqrt(2) * 0.1; of (0.8, 0.8) is 0
    ys = bands[0].get_paths()[0].vertices[:, 1]
    h = 2**0.5 * 0.1
    assert ys.min() == pytest.approx(0.6 - h) and ys.max() == pytest.approx(0.8 + h)
    assert "± 1 std" in ax.get_legend().get_title().get_text()
    best = [tuple(c.get_offsets()[0]) for c in ax.collections if isinstance(c, PathCollection)]
    assert sorted(best) == [(2.0, 0.6), (2.0, 0.8)]  # first maximum of the mean val_acc (0.4, 0.6, 0.6)


def test_learning_curves_ci_band_and_early_stopped_seeds():
    seeds = {"alexnet": [_history([0.5, 0.7, 0.9]), _history([0.7, 0.9]), _history([0.6, 0.8])]}
    fig = plots.learning_curves(seeds)  # band="ci": 95 % t interval of the mean
    (ax,) = fig.axes
    assert "95 % CI of the mean (t)" in ax.get_legend().get_title().get_text()
    assert "dashed" in ax.get_legend().get_title().get_text()
    solid, dashed = ax.get_lines()
    np.testing.assert_allclose(solid.get_ydata(), [0.6, 0.8])  # all three seeds
    np.testing.assert_allclose(dashed.get_ydata(), [0.8, 0.9])  # epoch 3: one seed left
    assert dashed.get_linestyle() == "--"
    # best epoch: of the mean over all three seeds (epoch 2), not the one-seed epoch 3 (0.9)
    dots = [tuple(c.get_offsets()[0]) for c in ax.collections if isinstance(c, PathCollection)]
    np.testing.assert_allclose(dots, [(2.0, 0.8)])
    ys = _bands(ax)[0].get_paths()[0].vertices[:, 1]
    half = 4.302652729911275 * 0.1 / 3**0.5  # std 0.1 over three seeds, t(0.975, 2)
    assert ys.min() == pytest.approx(0.6 - half) and ys.max() == pytest.approx(1.0)  # 0.8 + half = 1.048, cut


def test_learning_curves_band_only_where_every_seed_ran_and_within_0_and_100_percent():
    """Two of three seeds left: the dashed mean goes on, its band does not (a t interval with one degree of
    freedom reached above 100 % in notebook 03's quick report); a band near 100 % stops at 100 %."""
    seeds = {"resnet18": [_history([0.90, 0.97, 0.99, 0.99]), _history([0.93, 0.99, 0.96]), _history([0.80, 0.95])]}
    (ax,) = plots.learning_curves(seeds).axes
    xs = _bands(ax)[0].get_paths()[0].vertices[:, 0]
    assert xs.max() == 2.0  # epochs 1-2, where all three seeds ran; not 3 (two seeds) or 4 (one)
    ys = _bands(ax)[0].get_paths()[0].vertices[:, 1]
    raw_high = 0.97 + 4.302652729911275 * np.std([0.97, 0.99, 0.95], ddof=1) / 3**0.5
    assert raw_high > 1.0 and ys.max() == pytest.approx(1.0)  # the t interval, cut at 100 %
    assert ys.min() == pytest.approx(0.8766666 - 4.302652729911275 * np.std([0.90, 0.93, 0.80], ddof=1) / 3**0.5)
    assert "no band" in ax.get_legend().get_title().get_text()
    # the loss is not bounded above: its band is the interval as it is
    (loss,) = plots.learning_curves(
        {"r": [[{"epoch": 1, "val_loss": v}, {"epoch": 2, "val_loss": v}] for v in (0.9, 1.0, 1.1)]}, metric="val_loss"
    ).axes
    assert _bands(loss)[0].get_paths()[0].vertices[:, 1].max() == pytest.approx(1.0 + 4.302652729911275 * 0.1 / 3**0.5)


def test_learning_curves_single_histories_have_no_band_and_bad_band_fails():
    fig = plots.learning_curves({"a": _history([0.5, 0.7]), "b": [_history([0.6, 0.65])]})  # one seed: no band
    assert _bands(fig.axes[0]) == []
    assert [ln.get_label() for ln in fig.axes[0].get_lines()] == ["a", "b"]
    with pytest.raises(ValueError, match="valid: ci, std"):
        plots.learning_curves({"a": _history([0.5])}, band="minmax")


def _with_auc(accs, aucs):
    return [{**h, "val_auc": u} for h, u in zip(_history(accs), aucs, strict=True)]


def _dots(ax):
    return [tuple(c.get_offsets()[0]) for c in ax.collections if isinstance(c, PathCollection)]


def test_learning_curves_dot_marks_the_epoch_the_model_selection_restored():
    # best validation accuracy at epoch 3, best validation AUC at epoch 2: a run selected on AUC restores epoch 2
    one = _with_auc([0.6, 0.7, 0.8], [0.90, 0.95, 0.93])
    fig = plots.learning_curves({"resnet": one}, metric=["val_loss", "val_acc"], best_by="val_auc")
    for ax in fig.axes:
        assert [d[0] for d in _dots(ax)] == [2.0]
    np.testing.assert_allclose(_dots(fig.axes[1]), [(2.0, 0.7)])
    assert "validation AUC" in fig.axes[0].get_legend().get_title().get_text()
    assert [d[0] for d in _dots(plots.learning_curves({"resnet": one}).axes[0])] == [3.0]  # default: val_acc
    # over seeds: the epoch of best mean AUC (0.92, 0.95, 0.94), not of best mean accuracy (epoch 3)
    seeds = [one, _with_auc([0.5, 0.6, 0.9], [0.94, 0.95, 0.95])]
    (ax,) = plots.learning_curves({"resnet": seeds}, metric="val_auc", best_by="val_auc").axes
    np.testing.assert_allclose(_dots(ax), [(2.0, 0.95)])
    assert ax.get_ylabel() == "validation AUC"
    # a history without the watched metric gets no dot rather than one by another rule
    assert _dots(plots.learning_curves({"a": _history([0.5, 0.7])}, best_by="val_auc").axes[0]) == []
    with pytest.raises(ValueError, match="val_acc, val_auc"):
        plots.learning_curves({"a": _history([0.5])}, best_by="val_loss")


def test_example_images_one_row_per_class(tmp_path):
    rng = np.random.default_rng(0)
    labels = np.array([0] * 8 + [1] * 2 + [2] * 6)
    images = torch.from_numpy(rng.integers(0, 256, size=(16, 3, 8, 8), dtype=np.uint8))
    fig = plots.example_images(images, labels, NAMES, per_class=4, title="PathMNIST", save=tmp_path / "ex.png")
    _saved(tmp_path / "ex.png")
    assert len(fig.axes) == 3 * 4
    rows = [fig.axes[r * 4 : (r + 1) * 4] for r in range(3)]
    assert [row[0].get_ylabel() for row in rows] == NAMES
    assert [sum(len(ax.images) for ax in row) for row in rows] == [4, 2, 4]  # class 1 has only 2
    # each shown image is one of that class's images
    shown = rows[1][0].images[0].get_array()
    assert any(np.array_equal(shown, images[i].permute(1, 2, 0).numpy()) for i in (8, 9))


def test_example_images_grey_and_reproducible():
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(30, 1, 6, 6), dtype=np.uint8)
    labels = np.repeat(np.arange(3), 10).reshape(-1, 1)
    f1 = plots.example_images(images, labels, ["0", "1", "2"], per_class=3, seed=5)
    f2 = plots.example_images(images, labels, ["0", "1", "2"], per_class=3, seed=5)
    a1 = [np.asarray(ax.images[0].get_array()) for ax in f1.axes]
    a2 = [np.asarray(ax.images[0].get_array()) for ax in f2.axes]
    assert all(np.array_equal(x, y) for x, y in zip(a1, a2, strict=True))
    assert a1[0].shape == (6, 6)
    # at most 2 examples in any class: 2 columns, not 5 mostly empty ones
    small = plots.example_images(images[:4], [0, 0, 1, 1], ["0", "1"], per_class=5)
    assert len(small.axes) == 4 and all(len(ax.images) == 1 for ax in small.axes)


def test_class_distribution_annotates_counts(tmp_path):
    fig = plots.class_distribution({"adipose": 9366, "background": 9509, "debris": 10360}, save=tmp_path / "d.png")
    _saved(tmp_path / "d.png")
    ax = fig.axes[0]
    assert _texts(ax) == ["9,366", "9,509", "10,360"]
    assert [p.get_height() for p in ax.patches] == [9366, 9509, 10360]
    fig2 = plots.class_distribution([5, 7], class_names=["no", "yes"])
    assert _texts(fig2.axes[0]) == ["5", "7"]
    assert [t.get_text() for t in fig2.axes[0].get_xticklabels()] == ["no", "yes"]


def test_synthetic_watermark_on_every_plot():
    figs = [
        plots.confusion_matrix(CM, synthetic=True),
        plots.confusion_matrices({"a": CM, "b": CM}, synthetic=True),
        plots.learning_curves({"a": _history([0.5, 0.6])}, synthetic=True),
        plots.example_images(np.zeros((3, 1, 4, 4), np.uint8), [0, 1, 1], ["a", "b"], synthetic=True),
        plots.class_distribution([1, 2], synthetic=True),
    ]
    for fig in figs:
        assert plots.WATERMARK in [t.get_text() for t in fig.texts]
    plain = plots.class_distribution([1, 2])
    assert plots.WATERMARK not in [t.get_text() for t in plain.texts]
    fig = plots.synthetic_watermark(plt.figure(), text="FAKE")
    (t,) = fig.texts
    assert t.get_text() == "FAKE" and t.get_alpha() < 1 and t.get_rotation() != 0


def test_learning_curves_reference_line_on_every_accuracy_subplot_only():
    """Notebook 02's majority-class rate: a dashed line with its label on the accuracy subplot, none on the loss's."""
    h = [{"epoch": 1, "val_acc": 0.6, "val_loss": 1.0}, {"epoch": 2, "val_acc": 0.8, "val_loss": 0.7}]
    fig = plots.learning_curves({"a": h}, metric=["val_acc", "val_loss"], reference=("majority class", 0.55))
    acc, loss = fig.axes[:2]
    dashed = [ln for ln in acc.get_lines() if ln.get_linestyle() == "--"]
    assert len(dashed) == 1 and list(dashed[0].get_ydata()) == [0.55, 0.55]
    assert [t.get_text() for t in acc.texts] == ["majority class"]
    assert not [ln for ln in loss.get_lines() if ln.get_linestyle() == "--"] and not loss.texts
    plain = plots.learning_curves({"a": h}, metric=["val_acc", "val_loss"])
    assert not [ln for ln in plain.axes[0].get_lines() if ln.get_linestyle() == "--"]

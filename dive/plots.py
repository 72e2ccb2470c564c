"""The report's figures: confusion matrices (Fig. 8-11), learning curves, example images
(Fig. 4, 5) and class distributions.

Every function returns the matplotlib ``Figure``; ``save=path`` also writes it (parent folders
created, 150 dpi, tight bounding box; PNG unless the path's suffix says otherwise), and
``synthetic=True`` stamps a "SYNTHETIC DATA" watermark across it (:func:`synthetic_watermark`)
so figures made from stand-in data say so on their face.

No backend is chosen here; tests and headless runs use Agg (``MPLBACKEND=Agg``).
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter

from dive.config import MONITORS
from dive.metrics import class_names_list

__all__ = [
    "WATERMARK",
    "class_distribution",
    "confusion_matrices",
    "confusion_matrix",
    "dot_interval",
    "example_images",
    "forest",
    "learning_curves",
    "synthetic_watermark",
]

WATERMARK = "SYNTHETIC DATA"
DPI = 150

_METRIC_LABELS = {
    "train_loss": "training loss",
    "val_loss": "validation loss",
    "train_acc": "training accuracy",
    "val_acc": "validation accuracy",
    "val_auc": "validation AUC",
    "lr": "learning rate",
    "seconds": "seconds per epoch",
}


# ----------------------------------------------------------------------------------------
# shared
# ----------------------------------------------------------------------------------------
def synthetic_watermark(fig: Figure, text: str = WATERMARK) -> Figure:
    """Add a large, semi-transparent diagonal ``text`` across ``fig`` (kept in ``fig.texts``)."""
    width, height = fig.get_size_inches()
    fontsize = max(20.0, 7.0 * min(width, height))
    fig.text(
        0.5,
        0.5,
        text,
        fontsize=fontsize,
        fontweight="bold",
        color="grey",
        alpha=0.3,
        rotation=30,
        ha="center",
        va="center",
        zorder=1000,
        gid="dive-synthetic-watermark",
    )
    return fig


def _finish(fig: Figure, save, synthetic: bool) -> Figure:
    if synthetic:
        synthetic_watermark(fig)
    if save is not None:
        path = Path(save)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=DPI, bbox_inches="tight")
    return fig


def _cm_array(cm) -> np.ndarray:
    a = np.asarray(cm)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError(f"a confusion matrix must be square (C x C), got shape {a.shape}")
    return a


def _row_normalised(a: np.ndarray) -> np.ndarray:
    sums = a.sum(axis=1, keepdims=True)
    return np.divide(a, sums, out=np.zeros(a.shape, dtype=float), where=sums > 0)


# ----------------------------------------------------------------------------------------
# confusion matrices
# ----------------------------------------------------------------------------------------
def confusion_matrix(
    cm,
    class_names=None,
    *,
    title: str | None = None,
    ax=None,
    normalize: bool = False,
    cmap: str = "Blues",
    vmax: float | None = None,
    cbar: bool = True,
    save=None,
    synthetic: bool = False,
) -> Figure:
    """Heatmap of a confusion matrix (rows = true class, columns = predicted class), every cell
    annotated with its integer count (report Fig. 8).

    ``normalize=True`` colours each cell by its share of the true class (row) and annotates
    ``count`` plus that percentage. ``vmax``/``cbar`` let :func:`confusion_matrices` share one
    colour scale. ``ax`` draws into an existing axes (its figure is returned).
    """
    counts = _cm_array(cm)
    names = class_names_list(class_names, counts.shape[0])
    if ax is None:
        side = max(4.0, 0.6 * len(names) + 2.5)
        fig, ax = plt.subplots(figsize=(side + 1.0, side), layout="constrained")
    else:
        fig = ax.figure
    if normalize:
        shares = _row_normalised(counts)
        values = shares
        annot = np.array(
            [
                [f"{int(c)}\n{s:.0%}" for c, s in zip(crow, srow, strict=True)]
                for crow, srow in zip(counts, shares, strict=True)
            ]
        )
        vmax = 1.0 if vmax is None else vmax
        cbar_label = "share of true class"
    else:
        values = counts
        annot = np.array([[f"{int(c)}" for c in row] for row in counts])
        cbar_label = "count"
    sns.heatmap(
        values,
        annot=annot,
        fmt="",
        cmap=cmap,
        vmin=0,
        vmax=vmax,
        cbar=cbar,
        cbar_kws={"label": cbar_label} if cbar else None,
        xticklabels=names,
        yticklabels=names,
        square=True,
        linewidths=0.5,
        linecolor="white",
        ax=ax,
    )
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    long_names = max(len(n) for n in names) > 3
    ax.tick_params(axis="x", labelrotation=45 if long_names else 0)
    ax.tick_params(axis="y", labelrotation=0)
    if long_names:
        plt.setp(ax.get_xticklabels(), ha="right", rotation_mode="anchor")
    if title:
        ax.set_title(title)
    return _finish(fig, save, synthetic)


def confusion_matrices(
    cms: Mapping[str, object],
    class_names=None,
    *,
    suptitle: str | None = None,
    normalize: bool = False,
    cmap: str = "Blues",
    save=None,
    synthetic: bool = False,
) -> Figure:
    """Several confusion matrices side by side (titled by their dict keys) on one shared colour
    scale with a single colour bar -- report Fig. 9-11, "no balancing vs balancing"."""
    if not cms:
        raise ValueError("confusion_matrices() needs at least one confusion matrix")
    arrays = {name: _cm_array(cm) for name, cm in cms.items()}
    shapes = {a.shape for a in arrays.values()}
    if len(shapes) != 1:
        raise ValueError(f"confusion matrices must share one shape, got {sorted(shapes)}")
    n_classes = next(iter(shapes))[0]
    vmax = 1.0 if normalize else float(max(a.max() for a in arrays.values()))
    side = max(4.0, 0.6 * n_classes + 2.5)
    fig, axes = plt.subplots(
        1, len(arrays), figsize=(side * len(arrays) + 1.0, side), layout="constrained", squeeze=False
    )
    axes = axes[0]
    for ax, (name, a) in zip(axes, arrays.items(), strict=True):
        confusion_matrix(a, class_names, title=name, ax=ax, normalize=normalize, cmap=cmap, vmax=vmax, cbar=False)
    fig.colorbar(
        axes[0].collections[0], ax=list(axes), label="share of true class" if normalize else "count", shrink=0.8
    )
    for ax in axes[1:]:  # rows are the same classes: name them once, on the left
        ax.set_ylabel("")
        ax.tick_params(axis="y", labelleft=False, left=False)
    if suptitle:
        fig.suptitle(suptitle)
    return _finish(fig, save, synthetic)


# ----------------------------------------------------------------------------------------
# learning curves
# ----------------------------------------------------------------------------------------
def _best_epoch_index(history: Sequence[Mapping], best_by: str = "val_acc") -> int | None:
    vals = [h.get(best_by) for h in history]
    if not vals or any(v is None for v in vals):
        return None
    return int(np.argmax(vals))  # first epoch reaching the maximum


def _is_seed_list(runs) -> bool:
    """True for ``[history_seed1, history_seed2, ...]`` (a list of lists), False for one history (a list of dicts)."""
    return bool(runs) and all(isinstance(h, Sequence) and not isinstance(h, (str, Mapping)) for h in runs)


def _mean_band(histories: Sequence[Sequence[Mapping]], m: str, run: str, band: str):
    """Per epoch index: the mean over the seeds that reached it, the band's low/high, and that count."""
    from dive.stats import summarize

    longest = max(len(h) for h in histories)
    epochs, mean, low, high, count = [], [], [], [], []
    for i in range(longest):
        rows = [h[i] for h in histories if len(h) > i]
        missing = [j for j, h in enumerate(histories) if len(h) > i and m not in h[i]]
        if missing:
            raise KeyError(f"history {run!r} (seed index {missing[0]}) has no {m!r} at epoch index {i}")
        s = summarize([r[m] for r in rows])
        epochs.append(rows[0].get("epoch", i + 1))
        mean.append(s.mean)
        count.append(s.n)
        if s.n < 2:
            low.append(np.nan)
            high.append(np.nan)
        elif band == "ci":
            low.append(s.ci_low)
            high.append(s.ci_high)
        else:
            low.append(s.mean - s.std)
            high.append(s.mean + s.std)
    return np.array(epochs), np.array(mean), np.array(low), np.array(high), np.array(count)


BANDS = {"ci": "95 % CI of the mean (t)", "std": "± 1 std"}


def learning_curves(
    histories: Mapping[str, Sequence],
    *,
    metric: str | Sequence[str] = "val_acc",
    title: str | None = None,
    ylabel: str | None = None,
    band: str = "ci",
    reference: tuple[str, float] | None = None,
    best_by: str = "val_acc",
    save=None,
    synthetic: bool = False,
) -> Figure:
    """One line per run over epochs for ``metric`` (a list of metrics gives one subplot each).

    ``reference``: ``(label, value)``, a dashed grey horizontal line at ``value`` (a fraction, e.g. the majority-class
    rate) with its label on every accuracy subplot.

    ``histories`` maps run name -> list of per-epoch dicts (``epoch``, ``train_loss``,
    ``train_acc``, ``val_loss``, ``val_acc``, ``lr``, ``seconds``; accuracies as fractions,
    drawn as percentages; ``val_auc`` where the run selected on it). Each run's best epoch (max ``best_by``, first
    if tied) is marked with a point on every subplot; the lines are the axes' only ``Line2D`` objects. ``best_by``
    is what the runs' model selection watched (:attr:`dive.config.RunConfig.monitor`, one of
    :data:`dive.config.MONITORS`), so that the dot is the epoch that selection restores; a run whose history lacks
    it gets no dot.

    Several seeds of one configuration: map its name to a list of histories
    (``{name: [history_seed1, history_seed2, ...]}``). The line is then the mean over the seeds with a
    shaded band, ``band="ci"`` (95 % t interval of the mean, :func:`dive.stats.summarize`) or
    ``band="std"`` (± one standard deviation); the legend says which and how many seeds. Where runs
    stopped early the mean goes on over the seeds that are left, drawn dashed and without a band (two seeds'
    t interval is six times three seeds'); an accuracy's or AUC's band is cut at 0 and 100 %. The dot marks the best
    epoch of the mean ``best_by`` among the epochs every seed reached.
    """
    metrics = [metric] if isinstance(metric, str) else list(metric)
    if not metrics:
        raise ValueError("learning_curves() needs at least one metric")
    if not histories:
        raise ValueError("learning_curves() needs at least one history")
    if band not in BANDS:
        raise ValueError(f"unknown band {band!r}; valid: {', '.join(BANDS)}")
    if best_by not in MONITORS:
        raise ValueError(f"unknown best_by {best_by!r}; valid: {', '.join(MONITORS)} (what model selection watched)")
    seeded = {run: _is_seed_list(h) for run, h in histories.items()}
    for run, h in histories.items():
        if seeded[run] and any(len(x) == 0 for x in h):
            raise ValueError(f"history {run!r}: one of its seeds has an empty history")
    palette = dict(zip(histories, sns.color_palette(n_colors=len(histories)), strict=True))
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.5 * len(metrics), 4.0), layout="constrained", squeeze=False)
    axes = axes[0]
    any_best = False
    for ax, m in zip(axes, metrics, strict=True):
        for run, history in histories.items():
            if not history:
                continue
            if seeded[run]:
                epochs, values, low, high, count = _mean_band(history, m, run, band)
                n = len(history)
                full = count == n
                last_full = int(np.flatnonzero(full)[-1]) if full.any() else 0
                ax.plot(
                    epochs[: last_full + 1],
                    values[: last_full + 1],
                    color=palette[run],
                    linewidth=1.8,
                    label=f"{run} (mean of {n} seeds)" if n > 1 else run,
                )
                if last_full + 1 < len(epochs):  # fewer seeds left: dashed, without legend entry
                    ax.plot(
                        epochs[last_full:],
                        values[last_full:],
                        color=palette[run],
                        linewidth=1.2,
                        linestyle="--",
                        label="_nolegend_",
                    )
                ok = ~np.isnan(low) & full  # the epochs every seed reached
                if m.endswith(("acc", "auc")):  # values in [0, 1]
                    low, high = np.clip(low, 0.0, 1.0), np.clip(high, 0.0, 1.0)
                if ok.any():
                    ax.fill_between(
                        epochs, low, high, where=ok, color=palette[run], alpha=0.2, linewidth=0, label="_nolegend_"
                    )
                if all(best_by in h for x in history for h in x):
                    _, score, *_ = _mean_band(history, best_by, run, band)
                    best = int(np.argmax(score[: last_full + 1]))  # over the epochs every seed reached
                else:
                    best = None
            else:
                missing = [i for i, h in enumerate(history) if m not in h]
                if missing:
                    raise KeyError(f"history {run!r} has no {m!r} at epoch index {missing[0]}")
                epochs = [h.get("epoch", i + 1) for i, h in enumerate(history)]
                values = [h[m] for h in history]
                ax.plot(epochs, values, label=run, color=palette[run], linewidth=1.8)
                best = _best_epoch_index(history, best_by)
            if best is not None:
                any_best = True
                ax.scatter(
                    [epochs[best]], [values[best]], color=palette[run], s=45, zorder=3, edgecolor="black", linewidth=0.6
                )
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(ylabel if (ylabel and len(metrics) == 1) else _METRIC_LABELS.get(m, m))
        if m.endswith("acc"):
            ax.yaxis.set_major_formatter(PercentFormatter(1.0))
            if reference is not None:
                label, value = reference
                ax.axhline(value, color="grey", linestyle="--", linewidth=1)
                ax.annotate(label, (1, value), textcoords="offset points", xytext=(2, 3), fontsize=8, color="grey")
        if m == "lr":
            ax.set_yscale("log")
        ax.grid(True, alpha=0.3)
    if ylabel and len(metrics) > 1:
        fig.supylabel(ylabel)
    legend = f"run (dot: best {_METRIC_LABELS[best_by]})" if any_best else "run"
    if any(seeded.values()):
        legend += f"\nband: {BANDS[band]} over seeds"
        if any(len(h) > 1 and len({len(x) for x in h}) > 1 for run, h in histories.items() if seeded[run]):
            legend += "\ndashed: fewer seeds (early stops), no band"
    axes[0].legend(title=legend)
    if title:
        if len(metrics) == 1:
            axes[0].set_title(title)
        else:
            fig.suptitle(title)
    return _finish(fig, save, synthetic)


# ----------------------------------------------------------------------------------------
# data figures
# ----------------------------------------------------------------------------------------
def _to_numpy(a) -> np.ndarray:
    if hasattr(a, "detach"):  # torch tensor, without importing torch here
        a = a.detach().cpu().numpy()
    return np.asarray(a)


def example_images(
    images,
    labels,
    class_names,
    *,
    per_class: int = 5,
    title: str | None = None,
    seed: int = 0,
    save=None,
    synthetic: bool = False,
) -> Figure:
    """A grid with one row per class and ``per_class`` random examples of it (report Fig. 4, 5).

    ``images`` is a uint8 tensor or array ``(N, C, H, W)`` with ``C`` 1 (grey) or 3 (RGB), or
    ``(N, H, W)``; ``labels`` ``(N,)`` or ``(N, 1)``. Each row's first axes carries the class
    name as its y label; classes with fewer examples show what there is (empty cells blank;
    the grid has ``min(per_class, largest class size)`` columns).
    The choice is reproducible through ``seed``.
    """
    imgs = _to_numpy(images)
    labs = _to_numpy(labels).reshape(-1)
    if imgs.ndim == 3:
        imgs = imgs[:, None]
    if imgs.ndim != 4 or imgs.shape[1] not in (1, 3):
        raise ValueError(f"images must be (N, C, H, W) with C 1 or 3, got shape {imgs.shape}")
    if len(imgs) != len(labs):
        raise ValueError(f"{len(imgs)} images but {len(labs)} labels")
    if per_class < 1:
        raise ValueError("per_class must be at least 1")
    if isinstance(class_names, Mapping):
        names = class_names_list(class_names, len(class_names))
    else:
        names = [str(c) for c in class_names]
    rng = np.random.default_rng(seed)
    most = max(int(np.sum(labs == c)) for c in range(len(names)))
    per_class = max(1, min(per_class, most))  # no all-empty columns when every class is small
    h, w = imgs.shape[2:]
    cell, gap = 1.2, 0.05  # inches per image, fraction of a cell between images
    label_w = 0.3 + 0.075 * max(len(n) for n in names)  # room for the row labels
    title_h = 0.45 if title else 0.1
    grid_w = cell * (per_class + gap * (per_class - 1))
    grid_h = cell * h / w * (len(names) + gap * (len(names) - 1))
    fig_w, fig_h = label_w + grid_w + 0.1, grid_h + title_h + 0.1
    fig, axes = plt.subplots(len(names), per_class, figsize=(fig_w, fig_h), squeeze=False)
    fig.subplots_adjust(
        left=label_w / fig_w, right=1 - 0.1 / fig_w, bottom=0.1 / fig_h, top=1 - title_h / fig_h, wspace=gap, hspace=gap
    )
    for c, (row, name) in enumerate(zip(axes, names, strict=True)):
        idx = np.flatnonzero(labs == c)
        chosen = rng.choice(idx, size=min(per_class, len(idx)), replace=False) if len(idx) else []
        for j, ax in enumerate(row):
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if j < len(chosen):
                img = imgs[chosen[j]]
                if img.shape[0] == 1:
                    ax.imshow(img[0], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
                else:
                    ax.imshow(np.transpose(img, (1, 2, 0)), interpolation="nearest")
        row[0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=10)
    if title:
        fig.suptitle(title, y=1 - 0.08 / fig_h, va="top")
    return _finish(fig, save, synthetic)


def class_distribution(
    counts: Mapping[str, int] | Sequence[int],
    class_names=None,
    *,
    title: str | None = None,
    save=None,
    synthetic: bool = False,
) -> Figure:
    """Bar chart of samples per class, each bar annotated with its count (thousands separated).

    ``counts`` is a ``{class name: count}`` dict or a sequence of counts (named by
    ``class_names``, or 0..C-1).
    """
    if isinstance(counts, Mapping):
        names = [str(k) for k in counts]
        values = [int(v) for v in counts.values()]
    else:
        values = [int(v) for v in _to_numpy(counts).reshape(-1)]
        names = class_names_list(class_names, len(values))
    if not values:
        raise ValueError("class_distribution() needs at least one class")
    long_names = max(len(n) for n in names) > 3
    fig, ax = plt.subplots(figsize=(max(5.0, 0.8 * len(names) + 2.0), 4.5), layout="constrained")
    sns.barplot(x=names, y=values, color=sns.color_palette()[0], ax=ax)
    ax.bar_label(ax.containers[0], labels=[f"{v:,}" for v in values], padding=2, fontsize=9)
    ax.set_xlabel("class")
    ax.set_ylabel("samples")
    ax.margins(y=0.1)
    if long_names:
        ax.tick_params(axis="x", labelrotation=40)
        plt.setp(ax.get_xticklabels(), ha="right", rotation_mode="anchor")
    if title:
        ax.set_title(title)
    return _finish(fig, save, synthetic)


# ----------------------------------------------------------------------------------------
# claims: the forest figure; one-at-a-time tables: dots with intervals
# ----------------------------------------------------------------------------------------
#: Marker of each verdict word in the forest figure (filled: a direction or an equivalence found; hollow: none).
VERDICT_MARKERS = {
    "supported": ("o", True),
    "equivalent": ("D", True),
    "consistent": ("D", False),
    "contradicted": ("X", True),
    "different": ("X", True),
    "not supported": ("s", False),
    "cannot tell": ("o", False),
}
_VERDICT_COLOURS = {
    "supported": "#1b7837",
    "equivalent": "#2166ac",
    "consistent": "#2166ac",
    "contradicted": "#b2182b",
    "different": "#b2182b",
}


def forest(
    rows,
    *,
    title: str | None = None,
    marks: Mapping[str, str] | None = None,
    save=None,
    synthetic: bool = False,
    interval_label: str = "this run: mean difference, interval",
) -> Figure:
    """One row per comparison: the difference A - B with its interval, a line at zero, the equivalence margin
    shaded where a row has one, and the original report's single-run difference as a hollow triangle.

    ``rows``: a data frame (or records) with ``claim``, ``label``, ``unit``, ``diff``, ``lo``, ``hi``
    (``None``/NaN: no interval; an infinite end, an interval without bound, is drawn dotted to the panel's edge
    with an arrow), ``verdict``, ``margin`` and ``report_diff`` (both optional). The intervals are drawn as
    given: the report passes the ones its verdicts rest on (:func:`dive.claims.claims_table`'s
    ``attrs["comparisons"]``; nothing is computed here), and ``interval_label`` names them in the legend. One panel per
    ``unit`` (accuracy points and a loss are not drawn on one axis), rows in the given order, top to bottom.
    The marker's shape and fill carry the verdict in black-and-white print (:data:`VERDICT_MARKERS`);
    ``marks`` (verdict -> symbol) are written at the right end of each row too. The y tick labels are the
    axes' rows: ``claim`` (up to its first parenthesis) over ``label``.
    """
    import pandas as pd

    df = pd.DataFrame(rows).reset_index(drop=True)
    if df.empty:
        raise ValueError("forest() needs at least one comparison")
    for col in ("margin", "report_diff"):
        if col not in df:
            df[col] = None
    units = list(dict.fromkeys(df["unit"]))
    heights = [max(1.0, 0.32 * int((df["unit"] == u).sum())) for u in units]
    fig, axes = plt.subplots(
        len(units),
        1,
        figsize=(7.5, sum(heights) + 0.9),
        gridspec_kw={"height_ratios": heights},
        layout="constrained",
        squeeze=False,
    )
    for ax, unit in zip(axes[:, 0], units, strict=True):
        part = df[df["unit"] == unit].reset_index(drop=True)
        y = np.arange(len(part))[::-1].astype(float)

        def values(col: str, part=part) -> list[float]:
            return [float(v) for v in part[col] if v is not None and not pd.isna(v) and np.isfinite(float(v))]

        # the axis spans this run's evidence; a report difference far outside it (more than that span again)
        # is drawn at the edge with its value, so that one outlier does not shrink every interval to a dot
        finite = [0.0] + values("diff") + values("lo") + values("hi")
        finite += [s * v for v in values("margin") for s in (1, -1)]
        span = (max(finite) - min(finite)) or 1.0
        finite += [v for v in values("report_diff") if min(finite) - span <= v <= max(finite) + span]
        left, right = min(finite), max(finite)
        pad = 0.08 * (right - left) or 1.0
        left, right = left - pad, right + pad
        unbounded = []
        for yi, r in zip(y, part.itertuples(index=False), strict=True):
            margin = r.margin if r.margin is not None and not pd.isna(r.margin) else None
            if margin:
                ax.fill_betweenx([yi - 0.4, yi + 0.4], -margin, margin, color="#2166ac", alpha=0.15, lw=0)
            colour = _VERDICT_COLOURS.get(r.verdict, "#444444")
            marker, filled = VERDICT_MARKERS.get(r.verdict, ("o", False))
            if r.lo is not None and not pd.isna(r.lo) and (np.isinf(r.lo) or np.isinf(r.hi)):
                unbounded.append((yi, r, colour))
            elif r.lo is not None and not pd.isna(r.lo):
                ax.plot([r.lo, r.hi], [yi, yi], color=colour, lw=2, solid_capstyle="butt")
                ax.plot([r.lo, r.lo], [yi - 0.15, yi + 0.15], color=colour, lw=1.2)
                ax.plot([r.hi, r.hi], [yi - 0.15, yi + 0.15], color=colour, lw=1.2)
            ax.plot(
                [r.diff],
                [yi],
                marker=marker,
                ms=7,
                color=colour,
                mfc=colour if filled else "white",
                mew=1.5,
                ls="none",
                zorder=3,
            )
            if r.report_diff is not None and not pd.isna(r.report_diff):
                x = min(max(r.report_diff, left), right)
                ax.plot(
                    [x], [yi], marker="^", ms=7, mfc="none", mec="black", mew=1.2, ls="none", zorder=4, clip_on=False
                )
                if x != r.report_diff:  # off the axis: at its edge, with its value
                    ax.annotate(
                        f"{r.report_diff:+.3g}",
                        (x, yi),
                        xytext=(-5 if x == right else 5, 5),
                        textcoords="offset points",
                        ha="right" if x == right else "left",
                        fontsize=6.5,
                    )
            if marks:
                ax.annotate(
                    f"{marks.get(r.verdict, '?')} {r.verdict}",
                    (1.0, yi),
                    xycoords=("axes fraction", "data"),
                    xytext=(6, 0),
                    textcoords="offset points",
                    va="center",
                    fontsize=8,
                    color=colour,
                )
        for yi, r, colour in unbounded:  # no bound: dotted to the edge, an arrow where it goes on
            lo = left if np.isinf(r.lo) else r.lo
            hi = right if np.isinf(r.hi) else r.hi
            ax.plot([lo, hi], [yi, yi], color=colour, lw=1.5, ls=":")
            for end, inf, m in ((lo, np.isinf(r.lo), "<"), (hi, np.isinf(r.hi), ">")):
                if inf:
                    ax.plot([end], [yi], marker=m, ms=5, color=colour, ls="none", clip_on=False)
        ax.set_xlim(left, right)
        ax.xaxis.set_major_locator(MaxNLocator(7))
        ax.axvline(0, color="black", lw=0.8)
        ax.set_yticks(y)
        ax.set_yticklabels(
            [f"{str(r.claim).split(' (')[0]}\n{r.label}" for r in part.itertuples(index=False)], fontsize=7
        )
        ax.set_ylim(-0.6, len(part) - 0.4)
        better = "A better: > 0" if bool(part["higher_is_better"].iloc[0]) else "A better: < 0"
        ax.set_xlabel(f"difference A - B, {unit} ({better})", fontsize=8)
        ax.tick_params(axis="x", labelsize=8)
        ax.grid(axis="x", color="#dddddd", lw=0.6)
    handles = [
        plt.Line2D([], [], color="#444444", lw=2, marker="o", mfc="white", label=textwrap.fill(interval_label, 100)),
        plt.Line2D([], [], ls="none", marker="^", mfc="none", mec="black", label="original report (single run)"),
    ]
    if df["margin"].notna().any():
        from matplotlib.patches import Patch

        handles.append(Patch(color="#2166ac", alpha=0.15, label="equivalence margin"))
    ncols = len(handles) if len(interval_label) <= 45 else 1  # a long label: one entry per line
    fig.legend(handles=handles, loc="outside lower center", ncols=ncols, fontsize=7, frameon=False)
    if title:
        fig.suptitle(title, fontsize=10)
    return _finish(fig, save, synthetic)


def dot_interval(
    rows,
    *,
    title: str | None = None,
    xlabel: str = "validation accuracy (%)",
    save=None,
    synthetic: bool = False,
) -> Figure:
    """A one-at-a-time table as a picture: per configuration, this run's mean with its interval over the seeds
    (a dot and a bar; a lone dot with one seed) and the original report's single value (a hollow triangle).

    ``rows``: a data frame (or records) with ``label``, ``mean``, ``lo``, ``hi`` (NaN: no interval) and
    optionally ``original`` and ``n``; drawn top to bottom in the given order, in the units given.
    """
    import pandas as pd

    df = pd.DataFrame(rows).reset_index(drop=True)
    if df.empty:
        raise ValueError("dot_interval() needs at least one row")
    if "original" not in df:
        df["original"] = np.nan
    fig, ax = plt.subplots(figsize=(6.0, 0.4 * len(df) + 1.2), layout="constrained")
    y = np.arange(len(df))[::-1].astype(float)
    for yi, r in zip(y, df.itertuples(index=False), strict=True):
        if not pd.isna(r.lo):
            ax.plot([r.lo, r.hi], [yi, yi], color="#2166ac", lw=2)
        ax.plot([r.mean], [yi], marker="o", ms=6, color="#2166ac", ls="none", zorder=3)
        if not pd.isna(r.original):
            ax.plot([r.original], [yi], marker="^", ms=7, mfc="none", mec="black", mew=1.2, ls="none", zorder=4)
    labels = [f"{r.label} (n={int(r.n)})" if "n" in df and not pd.isna(r.n) else r.label for r in df.itertuples()]
    ax.set_yticks(y)
    ax.set_yticklabels(labels, fontsize=8)
    ax.set_ylim(-0.6, len(df) - 0.4)
    ax.set_xlabel(xlabel, fontsize=8)
    ax.tick_params(axis="x", labelsize=8)
    ax.grid(axis="x", color="#dddddd", lw=0.6)
    handles = [plt.Line2D([], [], color="#2166ac", lw=2, marker="o", label="this run: mean, 95 % interval")]
    if df["original"].notna().any():
        handles.append(
            plt.Line2D([], [], ls="none", marker="^", mfc="none", mec="black", label="original report (single run)")
        )
    ax.legend(handles=handles, fontsize=7, loc="best", frameon=False)
    if title:
        ax.set_title(title, fontsize=9)
    return _finish(fig, save, synthetic)

"""Figures for :mod:`dive.attribution` and :mod:`dive.attribution_checks`: galleries of images beside their
maps, faithfulness curves, sanity curves.

Maps are drawn on the image's own pixels: signed maps (Integrated Gradients, Occlusion) with a diverging
colour map centred on 0 (red: evidence for the explained class, blue: against), non-negative ones
(Saliency, Grad-CAM) from dark to bright; each map is scaled to its own largest absolute value.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from dive.attribution import LABELS

SIGNED = ("integrated_gradients", "occlusion")


def _show_image(ax, img) -> None:
    a = np.asarray(img)
    if a.ndim == 3 and a.shape[0] in (1, 3):
        a = a.transpose(1, 2, 0)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    ax.imshow(a, cmap="gray" if a.ndim == 2 else None, vmin=0, vmax=255 if a.dtype == np.uint8 else 1)


def _show_map(ax, m, method) -> None:
    m = np.asarray(m, dtype=float)
    top = np.abs(m).max() or 1.0
    if method in SIGNED:
        ax.imshow(m, cmap="bwr", vmin=-top, vmax=top)
    else:
        ax.imshow(m, cmap="inferno", vmin=0, vmax=top)


def gallery(
    images, maps: dict[str, np.ndarray], titles: list[str], *, title: str | None = None, cell: float = 1.35
) -> plt.Figure:
    """One row per image: the image, then its map for each method (columns titled by method)."""
    methods = list(maps)
    n = len(images)
    fig, axes = plt.subplots(
        n, 1 + len(methods), figsize=(cell * (1 + len(methods)) + 0.8, cell * n + 0.6), squeeze=False
    )
    for i in range(n):
        _show_image(axes[i, 0], images[i])
        axes[i, 0].set_ylabel(titles[i], fontsize=7, rotation=0, ha="right", va="center")
        for j, m in enumerate(methods, 1):
            _show_map(axes[i, j], maps[m][i], m)
    for j, m in enumerate(["image", *methods]):
        axes[0, j].set_title(LABELS.get(m, m), fontsize=8)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def faithfulness_curves(curves: dict, methods, *, title: str | None = None) -> plt.Figure:
    """Mean deletion and insertion curves of each method, with the random order dashed."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for ax, mode in zip(axes, ("deletion", "insertion"), strict=True):
        for m in [*methods, "random"]:
            c = curves[(m, mode)]
            ax.plot(np.linspace(0, 1, len(c)), c, "k--" if m == "random" else "-", label=LABELS.get(m, m))
        ax.set_xlabel(f"fraction of pixels {'removed' if mode == 'deletion' else 'revealed'}")
        ax.set_ylabel("probability of the explained class")
        ax.set_title(
            f"{mode} (lower area is better)" if mode == "deletion" else f"{mode} (higher area is better)", fontsize=9
        )
        ax.set_ylim(0, 1.02)
    axes[1].legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def sanity_curves(cascade: pd.DataFrame, *, title: str | None = None) -> plt.Figure:
    """Spearman correlation with the trained model's maps as layers are randomised from the top."""
    from dive.attribution_checks import SANITY_THRESHOLD

    fig, ax = plt.subplots(figsize=(6, 3.4))
    for method, g in cascade.groupby("method", sort=False):
        g = g.sort_values("layers_randomised")
        ax.plot([0, *g["layers_randomised"]], [1.0, *g["spearman"]], "o-", label=LABELS.get(method, method))
    last = cascade.sort_values("layers_randomised").drop_duplicates("layers_randomised")
    ax.set_xticks([0, *last["layers_randomised"]])
    ax.set_xticklabels(["trained", *last["down_to"]], rotation=30, ha="right", fontsize=7)
    ax.axhline(SANITY_THRESHOLD, color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("layers re-initialised, from the output down to")
    ax.set_ylabel("Spearman rank correlation")
    ax.set_ylim(-0.2, 1.05)
    ax.legend(fontsize=7)
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig

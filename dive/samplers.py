"""Index order for training batches: any ``torch.utils.data.Sampler`` works with dive's batches.

The report balanced PathMNIST's classes (appendix A.3) with ``WeightedRandomSampler``: every
training image weighs 1 / (number of images of its class), drawn with replacement, one epoch
being ``len(train)`` draws, so each class is drawn equally often in expectation.
"""

from __future__ import annotations

import torch
from torch.utils.data import RandomSampler, Sampler, SequentialSampler, WeightedRandomSampler


def class_weights(labels: torch.Tensor, num_classes: int | None = None) -> torch.Tensor:
    """1 / count per class (0 for classes absent from ``labels``)."""
    labels = torch.as_tensor(labels).long()
    counts = torch.bincount(labels, minlength=num_classes or 0).double()
    weights = torch.zeros_like(counts)
    weights[counts > 0] = 1.0 / counts[counts > 0]
    return weights


def balanced_sampler(
    labels: torch.Tensor, num_samples: int | None = None, generator: torch.Generator | None = None
) -> WeightedRandomSampler:
    """The report's class-balancing sampler: per-sample weight 1/(count of its class), with replacement."""
    labels = torch.as_tensor(labels).long()
    if labels.ndim != 1:
        raise ValueError("class balancing needs single-label data (one class per image)")
    weights = class_weights(labels)[labels]
    return WeightedRandomSampler(weights, num_samples or len(labels), replacement=True, generator=generator)


def make_sampler(
    labels: torch.Tensor, *, shuffle: bool = True, balanced: bool = False, generator: torch.Generator | None = None
) -> Sampler:
    """Plain shuffling, class balancing, or the fixed order (for evaluation)."""
    if balanced:
        return balanced_sampler(labels, generator=generator)
    if shuffle:
        return RandomSampler(range(len(labels)), generator=generator)
    return SequentialSampler(range(len(labels)))

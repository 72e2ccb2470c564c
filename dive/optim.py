"""Optimizers and learning-rate schedulers by name: the one list of each (a new one is one entry here).

:data:`OPTIMIZERS` and :data:`SCHEDULERS` are the registries that :class:`dive.config.RunConfig` checks names
against and that the notebooks' ``optimizer`` / ``scheduler`` parameters offer (:data:`dive.profiles.PARAMETERS`);
:func:`make_optimizer` and :func:`make_scheduler` build from them.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

lr_s = torch.optim.lr_scheduler

#: Optimizers by name: ``name -> (torch class, takes momentum)``. SGD is the only one given ``momentum``.
OPTIMIZERS: dict[str, tuple[type[torch.optim.Optimizer], bool]] = {
    "sgd": (torch.optim.SGD, True),
    "adam": (torch.optim.Adam, False),
    "nadam": (torch.optim.NAdam, False),
    "adagrad": (torch.optim.Adagrad, False),
    "adamw": (torch.optim.AdamW, False),
}
#: Weight decay an optimizer gets when none is given (AdamW's own default is 0.01; the others 0).
DEFAULT_WEIGHT_DECAY = {"adamw": 0.01}

#: Learning-rate schedulers by name: ``name -> (optimizer, epochs, kwargs) -> scheduler``; no scheduler
#: (``None`` in a config, ``"none"`` in a profile) is a constant learning rate.
#: ``plateau``: the report's adaptive learning rate (ReduceLROnPlateau on the monitored validation metric, factor
#: 0.1, patience 3 unless given); ``step``: StepLR (every third of the epochs, gamma 0.1); ``multistep``:
#: MultiStepLR (MedMNIST's recipe: ``milestones=[50, 75]``, gamma 0.1; default milestones at half and three
#: quarters of ``epochs``); ``cosine``: CosineAnnealingLR over ``epochs``.
SCHEDULERS: dict[str, Callable] = {
    "plateau": lambda opt, epochs, kw: lr_s.ReduceLROnPlateau(
        opt, **{"mode": "max", "factor": 0.1, "patience": 3, **kw}
    ),
    "step": lambda opt, epochs, kw: lr_s.StepLR(opt, **{"step_size": max(1, epochs // 3), "gamma": 0.1, **kw}),
    "multistep": lambda opt, epochs, kw: lr_s.MultiStepLR(
        opt, **{"milestones": [max(1, epochs // 2), max(1, 3 * epochs // 4)], "gamma": 0.1, **kw}
    ),
    "cosine": lambda opt, epochs, kw: lr_s.CosineAnnealingLR(opt, **{"T_max": max(1, epochs), **kw}),
}
#: The words that mean "no scheduler".
NO_SCHEDULER = (None, "none")


def default_weight_decay(optimizer: str) -> float:
    return float(DEFAULT_WEIGHT_DECAY.get(optimizer, 0.0))


def make_optimizer(name: str, params, lr: float = 1e-3, weight_decay: float | None = None, momentum: float = 0.9):
    """The optimizer ``name`` (see :data:`OPTIMIZERS`); ``momentum`` goes to SGD only.

    ``weight_decay=None`` is the optimizer's default (:data:`DEFAULT_WEIGHT_DECAY`: 0.01 for AdamW, 0 for the
    others); an explicit 0 is 0.
    """
    key = str(name).lower()
    if key not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; valid: {', '.join(OPTIMIZERS)}")
    cls, takes_momentum = OPTIMIZERS[key]
    wd = default_weight_decay(key) if weight_decay is None else float(weight_decay)
    extra = {"momentum": momentum} if takes_momentum else {}
    return cls(params, lr=lr, weight_decay=wd, **extra)


def make_scheduler(name, optimizer, epochs: int, **kwargs):
    """The scheduler ``name`` (see :data:`SCHEDULERS`) for ``optimizer`` over ``epochs``; ``None``/``"none"``: none."""
    if name in NO_SCHEDULER:
        return None
    key = str(name).lower()
    if key not in SCHEDULERS:
        raise ValueError(f"unknown scheduler {name!r}; valid: none, {', '.join(SCHEDULERS)}")
    return SCHEDULERS[key](optimizer, epochs, kwargs)

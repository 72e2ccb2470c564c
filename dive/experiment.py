"""What a notebook calls to run the report's experiments, in one place.

* one run: :func:`run` (a :class:`~dive.config.RunConfig`, or a model name and settings: :func:`config_for`),
  its :class:`RunResult`, :func:`describe_pretrained` (:mod:`dive.runner`);
* many runs, here or on a Ray cluster: :func:`run_many`; named configs once per seed: :func:`run_grid`
  (a :class:`GridResult`), :func:`seed_list` (:mod:`dive.executors`);
* the report's study designs, defined here: :func:`one_at_a_time` (vary one setting at a time),
  :func:`longest_runs` (one long run stands for the shorter ones), :func:`ensemble` (average the members).

This module sits above :mod:`dive.runner` and :mod:`dive.executors` (which import neither it nor each other
the wrong way round: the runner does one run, the executors call it).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from dive import metrics as M
from dive.executors import (  # noqa: F401 - the notebooks' names
    GridResult,
    run_grid,
    run_many,
    seed_list,
)
from dive.runner import (  # noqa: F401 - the notebooks' names
    RunResult,
    check_data,
    config_for,
    data_fingerprint,
    describe_pretrained,
    input_size,
    preprocess_for,
    resolve_pretrained,
    run,
)


def ensemble(results: Iterable[RunResult], task: str, class_names=None, *, split: str = "test") -> dict:
    """Average the softmax probabilities of several runs (report 3.5) and score the average."""
    results = list(results)
    probs = [r.test_probs if split == "test" else r.val_probs for r in results]
    ys = [r.y_test if split == "test" else r.y_val for r in results]
    if any(p is None for p in probs):
        raise ValueError(f"every member needs {split} probabilities (run them with evaluate_test=True)")
    if any(not np.array_equal(ys[0], y) for y in ys[1:]):
        raise ValueError("the members were evaluated on different images")
    return M.evaluate(ys[0], M.ensemble_probs(probs), task, class_names)


def longest_runs(settings: Iterable[dict], *, varying: str = "epochs") -> dict[tuple, int]:
    """For settings that differ in their number of epochs: one run per combination of the *other* settings,
    as long as the longest of them (a fixed-epoch run of n epochs is the first n epochs of a longer run with
    the same settings and seed; no early stopping, no scheduler that depends on the length).

    ``settings``: dicts with ``varying`` and other keys; returns ``{(other values in key order...): max epochs}``
    in first-seen order. Read the shorter settings back with :meth:`RunResult.at_epoch`.
    """
    longest: dict[tuple, int] = {}
    for s in settings:
        key = tuple(v for k, v in s.items() if k != varying)
        longest[key] = max(longest.get(key, 0), int(s[varying]))
    return longest


def one_at_a_time(defaults: dict, grid: dict[str, list]) -> list[tuple[str, object, dict]]:
    """The report's hyperparameter study design (3.3): vary one setting at a time around ``defaults``.

    Returns ``(parameter, value, settings)`` triples in the grid's order.
    """
    unknown = [k for k in grid if k not in defaults]
    if unknown:
        raise ValueError(f"grid names {unknown} are not among the defaults {sorted(defaults)}")
    return [(k, v, {**defaults, k: v}) for k, values in grid.items() for v in values]


def ensembles_per_seed(
    members1: Iterable[RunResult],
    members2: Iterable[RunResult],
    data,
    *,
    name: str,
    model: str,
    outputs=None,
    about: dict | None = None,
) -> list[tuple[dict, dict]]:
    """Notebook 07's deep ensembles, one per seed: member 1 of seed i with member 2 of its i-th seed (other seeds,
    :func:`dive.recipes.member2_seeds`), their softmax average scored on validation and test (:func:`ensemble`).

    With ``outputs``, each ensemble is recorded as a run ``name`` of ``model`` under member 1's seed (``about``
    added to its parameters), and member 2's group records that pairing, so the Claims page compares the ensemble
    with each member seed by seed. Returns ``[(val scores, test scores)]`` in member 1's seed order.
    """
    pairs = list(zip(members1, members2, strict=True))
    if not pairs:
        raise ValueError("ensembles_per_seed: no members")
    out = []
    for m1, m2 in pairs:
        ens_val = ensemble([m1, m2], data.task, data.classes, split="val")
        ens_test = ensemble([m1, m2], data.task, data.classes, split="test")
        if outputs is not None:
            params = {"members": [m1.name, m2.name], "member_seeds": [m1.seed, m2.seed]}
            params.update(combination="mean of softmax probabilities", **(about or {}))
            outputs.add_run(name, model, params, val=ens_val, test=ens_test, seed=m1.seed, extra={"kind": "ensemble"})
        out.append((ens_val, ens_test))
    if outputs is not None:  # member 2 of ensemble i pairs with member 1 of ensemble i (and so with ensemble i)
        member2 = pairs[0][1].name
        outputs.add_group(member2, [member2], pairs={m2.seed: m1.seed for m1, m2 in pairs})
    return out

"""The lines every notebook used to repeat, as one call: :func:`setup`.

    nb = setup("04_alexnet_balancing", globals())
    p, dev, out = nb.p, nb.device, nb.out

resolves the profile's parameters (every value checked before any data is loaded), picks the device,
creates the :class:`~dive.outputs.Outputs` (with the run store every notebook of the profile shares),
records where the profile departs from the report's settings, and (unless ``load=False``: notebooks 00, 09 and
10, which load several data sets themselves) loads the dataset with the notebook's split and draws the
profile's stratified subsets (``split_seed``, else the report's seed, so every seed of a repeated run sees the
same images).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd
import torch

from dive import data as ddata
from dive import tables
from dive.executors import seed_list
from dive.outputs import Outputs
from dive.parameters import NOTEBOOK_PARAMETERS, PARAMETERS
from dive.profiles import Params, resolve
from dive.utils import device_name, resolve_device


@dataclass
class NotebookSetup:
    """What a notebook needs after its parameters cell."""

    p: Params
    device: torch.device
    out: Outputs
    departures: pd.DataFrame
    full_data: ddata.DatasetBundle | None = None
    data: ddata.DatasetBundle | None = None

    @property
    def split_seed(self) -> int:
        return split_seed(self.p)

    @property
    def seeds(self) -> list[int]:
        """The seeds every configuration runs with: the ``seeds`` parameter (a count from ``seed`` on, or a
        list); one run with ``seed`` when the notebook has no such parameter."""
        seeds = self.p.get("seeds")
        return seed_list(seeds if seeds is not None else 1, first=self.p["seed"])

    def data_overview(self) -> pd.DataFrame:
        """Print the data set as loaded (the report's split: 80 % of the official training images for training,
        20 % for validation, seed 22) and the profile's stratified subsets of it that the notebook uses; return
        the images per class of those subsets."""
        if self.data is None:
            raise ValueError("no data loaded: setup(..., load=False)")
        print(self.full_data)
        print(self.data, "<- used here")
        return tables.train_val_counts(self.data)

    @property
    def run_options(self) -> dict:
        """:func:`run_options` of this notebook."""
        return run_options(self.p, self.device, self.out)


def run_options(p: Mapping[str, Any], device, outputs) -> dict:
    """The keywords of :func:`dive.experiment.run_grid` / ``run_many`` that say where a notebook's runs execute
    and where they are recorded: ``executor`` (its parameter; "local" when unset), ``ray_address`` (with
    "ray" only), ``device`` ("auto" on Ray: each worker uses its own) and ``outputs``."""
    opts = {"device": device, "outputs": outputs, "executor": p.get("executor") or "local"}
    if opts["executor"] == "ray":
        opts["ray_address"] = p.get("ray_address")
        opts["device"] = "auto"
    return opts


def split_seed(p: Mapping[str, Any]) -> int:
    """The seed of the data split and subsets: ``split_seed`` when set, else the notebook's ``seed``."""
    return int(p["split_seed"]) if p.get("split_seed") is not None else int(p["seed"])


def parameters_from(namespace: Mapping[str, Any], notebook: str | None = None) -> dict[str, Any]:
    """The notebook parameters found in ``namespace`` (a notebook's ``globals()``): every name that
    :data:`dive.profiles.PARAMETERS` declares, plus ``profile``. ``None`` means "the profile's value"."""
    names = set(PARAMETERS) | set(NOTEBOOK_PARAMETERS.get(notebook or "", {}))
    return {k: namespace[k] for k in names if k in namespace}


def setup(
    notebook: str,
    namespace: Mapping[str, Any] | None = None,
    *,
    dataset: str | None = None,
    split: str | None = None,
    load: bool = True,
    subsets: bool = True,
    **given: Any,
) -> NotebookSetup:
    """Resolve, check, prepare outputs and (``load=True``) load the data of ``notebook``.

    ``namespace``: the notebook's ``globals()`` (its parameters cell); ``given`` overrides it.
    ``dataset``: load this dataset instead of ``p.data_flag`` (notebook 01 loads MNIST); ``split``:
    ``"report"`` or ``"official"`` (default: the ``split`` parameter, else the report's 80/20 split).
    ``subsets=False`` keeps the data whole (the notebook draws its own).
    """
    values = parameters_from(namespace or {}, notebook)
    values.update(given)
    profile = values.pop("profile", None) or "quick"
    p = resolve(notebook, profile, **values)
    dev = resolve_device(p.device)
    out = Outputs.from_params(p, device=device_name(dev), dataset=dataset)
    dep = out.note_departures(p)
    nb = NotebookSetup(p, dev, out, dep)
    if not load:
        return nb
    mode = split or p.get("split") or "report"
    nb.full_data = nb.data = ddata.load(dataset or p.data_flag, p.data_root, split=mode, seed=split_seed(p))
    if subsets:
        nb.data = nb.full_data.subsets(
            train=p.get("train_size"), val=p.get("val_size"), test=p.get("test_size"), seed=split_seed(p)
        )
    return nb

"""Before any notebook starts: every file the selected notebooks need, checked at once.

What a notebook needs is what it declares, never guessed from its code (:mod:`dive.parameters`):

* the files of every data set it loads (:func:`dive.parameters.notebook_datasets`): the ``data_flag`` its
  ``parameters`` cell declares (a notebook that copes with absent files, like 09's ``flags``, declares none) and
  the data sets :data:`dive.parameters.NOTEBOOK_DATASETS` lists for it (notebook 00 and 01 load MNIST). MedMNIST
  files at 28 px, as ``data.load`` reads by default, or the size the notebook declares as ``data_size``;
* ImageNet weights in torch hub's cache when ``pretrained`` is ``True`` (required), for every model it trains
  (:func:`dive.parameters.notebook_models`): :data:`dive.parameters.NOTEBOOK_MODELS` and the values of its
  model parameters (``model``, ``models``, ``deep_model``), however the notebook's code then names them.

Data files are checked against their md5 sums (:meth:`dive.data.FileSpec.status`). A synthetic
profile without an explicit ``data_root`` needs nothing: :mod:`dive.synthetic` writes its files.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dive import data, parameters
from dive.models import MODELS, weights_cache_path, weights_url
from dive.utils import REPO_ROOT

TRUE_VALUES = (True, "true", "True", "yes")


class PreflightError(ValueError):
    """Files the notebooks need are missing or corrupt; ``problems`` has one entry per file."""

    def __init__(self, problems: list[str], advice: list[str]):
        self.problems = problems
        super().__init__(
            f"{len(problems)} file(s) the notebooks need are missing or corrupt; nothing was run:\n"
            + "\n".join(problems)
            + ("\n" + "\n".join(advice) if advice else "")
        )


@dataclass
class Need:
    """One file, who needs it and how to get it."""

    what: str  # "pathmnist (28 px)", "resnet18 ImageNet weights"
    path: Path
    url: str
    md5: str | None = None
    spec: Any = None  # dive.data.FileSpec for data files
    notebooks: list[str] = field(default_factory=list)
    fetch: str = ""  # the command that fetches it where the internet is reachable

    def status(self) -> str:
        if self.spec is not None:
            return self.spec.status()
        return "present" if self.path.is_file() and self.path.stat().st_size > 0 else "missing"


def data_root_of(values: dict) -> Path | None:
    """The data root the notebook will read (as :func:`dive.profiles.resolve` derives it), or ``None``
    for a synthetic profile without ``data_root``, whose files :mod:`dive.synthetic` generates."""
    if values.get("data_root") is not None:
        return Path(values["data_root"]).expanduser()
    if values.get("synthetic") in TRUE_VALUES:
        return None
    return data.default_root()  # $DIVE_DATA, else <repo>/data


def notebook_datasets(plan) -> list[str]:
    """Dataset names (``mnist`` / MedMNIST flags) the notebook of ``plan`` loads (as it declares them)."""
    return parameters.notebook_datasets(plan.stem, plan.effective, plan.declared)


def notebook_models(plan) -> list[str]:
    """Model names the notebook of ``plan`` trains (as it declares them: only the model parameters its ``parameters``
    cell declares count, the values it is given); names of no model are left out (the parameter check reports
    those)."""
    given = {k: v for k, v in plan.effective.items() if k in plan.declared}
    return [m for m in parameters.notebook_models(plan.stem, given) if m in MODELS]


def needs(plans) -> list[Need]:
    """Every file the ``plans`` (:class:`dive.report.execute.Plan`) need, each once."""
    found: dict[Path, Need] = {}

    def add(need: Need, stem: str) -> None:
        need = found.setdefault(need.path, need)
        if stem not in need.notebooks:
            need.notebooks.append(stem)

    for plan in plans:
        values = plan.effective
        root = data_root_of(values)
        if root is not None:
            size = int(values.get("data_size") or 28) if "data_size" in plan.declared else 28  # data.load's default
            for name in notebook_datasets(plan):
                label = name if name == "mnist" else f"{name} ({size} px)"
                fetch = f"python -m dive.data {name} --root {root}" + ("" if name == "mnist" else f" --size {size}")
                for spec in data.files_for(name, root, 28 if name == "mnist" else size):
                    add(Need(label, spec.path, spec.url, spec.md5, spec, fetch=fetch), plan.stem)
        if values.get("pretrained") in TRUE_VALUES:
            for model in notebook_models(plan):
                url = weights_url(model)
                if url is not None:
                    fetch = f"python -c \"import torch; torch.hub.load_state_dict_from_url('{url}')\""
                    add(Need(f"{model} ImageNet weights", Path(weights_cache_path(model)), url, fetch=fetch), plan.stem)
    return list(found.values())


def problems_of(items: Iterable[Need]) -> list[str]:
    """One readable entry per missing or corrupt file: what, status, path, URL, md5, who needs it."""
    out = []
    for need in items:
        status = need.status()
        if status == "present":
            continue
        line = f"  {need.what}: {status} {need.path}"
        if status == "corrupt":
            line += f" (md5 {data.md5sum(need.path)}, expected {need.md5})"
        line += f"\n      URL: {need.url}"
        if need.md5:
            line += f"\n      md5: {need.md5}"
        line += f"\n      needed by: {', '.join(need.notebooks)}"
        out.append(line)
    return out


def check(plans) -> list[Need]:
    """Raise :class:`PreflightError` listing every missing or corrupt file; returns what was checked."""
    items = needs(plans)
    problems = problems_of(items)
    if problems:
        bad = [n for n in items if n.status() != "present"]
        advice = [
            "Download each file from its URL and place it at the path shown, or fetch it where the internet is "
            f"reachable (the data root is -p data_root, else $DIVE_DATA, else {REPO_ROOT / 'data'}):"
        ]
        advice += [f"  {cmd}" for cmd in dict.fromkeys(n.fetch for n in bad if n.fetch)]
        raise PreflightError(problems, advice)
    return items

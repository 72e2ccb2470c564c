"""Run profiles: one YAML file per profile, resolved into the parameters of one notebook.

A profile lives in ``notebooks/profiles/<profile>.yaml`` (``DIVE_PROFILES_DIR`` points
elsewhere, e.g. in tests) and holds a ``common:`` mapping plus one mapping per notebook
stem (``01_mnist_simplecnn:``) that overrides ``common``. :func:`resolve` merges

    built-in defaults < common < the notebook's section < its data set's section < values given by the caller

A data set's section, ``<notebook stem>@<data flag>`` (``03_resnet18_baseline@breastmnist:``), holds what that
notebook changes when it runs on that data set (the ``data_flag`` given, else the profile's): for instance more epochs
for a training split of a few hundred images. Its ``why`` says so in the departures table.

A given value of ``None`` means "take the profile's value" (that is how a notebook's ``parameters`` cell says
"not set"). Two values are derived here rather than read:

* ``data_root``: given (or set in the profile) -> used; else ``synthetic: true`` ->
  ``dive.synthetic.ensure_synthetic_root(<repo>/data/synthetic)``; else the environment variable ``DIVE_DATA``;
  else ``dive.data.default_root()``;
* ``out_dir``: ``<reports>/<profile>/<notebook>/`` (``<reports>`` = ``DIVE_REPORTS_DIR`` or ``<repo>/reports``);
  created.

What each parameter means, its kind and range are declared once, in :data:`dive.parameters.PARAMETERS` (how a value
is checked: :mod:`dive.schema`). :func:`validate` merges as :func:`resolve` does and checks and converts every value
without side effects, listing every bad value at once in a :class:`ParameterError`; :func:`resolve` calls it first,
so a notebook stops in its first cell, before any data are loaded.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from dive import data, models, synthetic
from dive.parameters import (  # noqa: F401 - PARAMETERS, NOTEBOOK_PARAMETERS, Param: re-exported
    NOTEBOOK_MODELS,
    NOTEBOOK_PARAMETERS,
    PARAMETERS,
    PROFILES,
    notebook_models,
    notebook_stem,
    param_spec,
)
from dive.schema import Param, _Bad, check_data_flag, check_models  # noqa: F401 - re-exported
from dive.utils import DEFAULT_SEED, REPO_ROOT  # noqa: F401 - REPO_ROOT re-exported (dive.report.execute)

#: Values every notebook gets unless the profile or the caller says otherwise.
DEFAULTS: dict[str, Any] = {
    "data_flag": "pathmnist",
    "seed": DEFAULT_SEED,
    "device": "auto",
    "pretrained": "auto",
    "synthetic": False,
}
#: Shown first, in this order, by ``Params``' table.
SHARED_KEYS = ("profile", "notebook", "data_flag", "data_root", "synthetic", "seed", "device", "pretrained", "out_dir")


# --- steps tests replace (no synthetic files written, no default root looked up) ---------------


def _ensure_synthetic(root: Path) -> Path:
    return Path(synthetic.ensure_synthetic_root(root))


def _default_data_root() -> Path:
    return Path(data.default_root())


# --- locations -----------------------------------------------------------------------------


def profiles_dir() -> Path:
    """``DIVE_PROFILES_DIR`` if set, else ``<repo>/notebooks/profiles``."""
    env = os.environ.get("DIVE_PROFILES_DIR")
    return Path(env) if env else REPO_ROOT / "notebooks" / "profiles"


def reports_root() -> Path:
    """``DIVE_REPORTS_DIR`` if set (``python -m dive.report --reports-dir`` sets it), else ``<repo>/reports``."""
    env = os.environ.get("DIVE_REPORTS_DIR")
    return Path(env) if env else REPO_ROOT / "reports"


def run_store(profile: str, reports_dir: str | os.PathLike | None = None) -> Path:
    """The run store every notebook of ``profile`` shares (``dive.experiment.run`` loads finished runs from it and
    resumes interrupted ones): ``$DIVE_RUN_STORE`` if set (e.g. shared storage of a cluster), else
    ``<reports>/<profile>/runs/`` (``reports_dir``, default :func:`reports_root`). ``make clean`` keeps it;
    ``make clean-runs`` removes it."""
    env = os.environ.get("DIVE_RUN_STORE")
    if env:
        return Path(env)
    return Path(reports_dir if reports_dir is not None else reports_root()) / str(profile or "default") / "runs"


def default_out_dir(notebook: str, profile: str, *, create: bool = True) -> Path:
    """``<reports>/<profile>/<notebook stem>/`` (created unless ``create=False``)."""
    check_profile(profile)
    out = reports_root() / profile / notebook_stem(notebook)
    if create:
        out.mkdir(parents=True, exist_ok=True)
    return out


# --- validation ----------------------------------------------------------------------------


def check_profile(profile: str) -> str:
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; valid profiles: {', '.join(PROFILES)}")
    return profile


# --- the parameter schema: every parameter of every notebook, declared once ----------------------


class ParameterError(ValueError):
    """Bad parameter values. ``problems``: one line per bad value (parameter, value given, what is
    expected, the notebook), all of them at once."""

    def __init__(self, problems: Sequence[str], header: str | None = None):
        self.problems = list(problems)
        head = header or f"{len(self.problems)} bad parameter value(s); nothing was run"
        super().__init__(head + ":\n" + "\n".join(f"  - {p}" for p in self.problems))


def validate(notebook: str, profile: str, **given: Any) -> dict:
    """The parameters of ``notebook`` under ``profile``, merged as :func:`resolve` merges them
    (defaults < common < the notebook's section < ``given``; a ``None`` means "not set"), each
    checked against :func:`param_spec` (:data:`PARAMETERS`, or the notebook's own in
    :data:`NOTEBOOK_PARAMETERS`) and converted where that loses nothing; image sizes also against
    the smallest input of the notebook's models (:data:`NOTEBOOK_MODELS`, ``model``/``models``/``deep_model``).

    No side effects: no folders, no data. Undeclared names pass unchecked.
    ``data_root``/``out_dir`` stay as given (``Path``) or absent; :func:`resolve` derives them.
    Raises :class:`ParameterError` listing every bad value at once.
    """
    stem = notebook_stem(notebook)
    if profile not in PROFILES:
        raise ParameterError(
            [
                f"profile = {profile!r} for notebook {stem}: unknown profile {profile!r}; valid "
                + f"profiles: {', '.join(PROFILES)}"
            ]
        )
    raw = load_profile(profile)
    problems: list[str] = []
    given = dict(given)
    for key, fixed in (("profile", profile), ("notebook", stem)):
        value = given.pop(key, None)
        if value is not None and value != fixed:
            problems.append(
                f"{key} = {value!r} (given) in notebook {stem}: expected {fixed!r}, the {key} being resolved"
            )
    merged: dict[str, Any] = {}
    source: dict[str, str] = {}
    layers = [("built-in default", DEFAULTS)]
    for name, values in _sections(raw, stem, given.get("data_flag")):
        layers.append(
            (f"profile {profile}, {name}" if name == "common" else f"profile {profile}, section {name}", values)
        )
    for where, values in (*layers, ("given", given)):
        for key, value in values.items():
            if value is not None:
                merged[key], source[key] = value, where
    ok: set[str] = set()
    for key, value in merged.items():
        spec = param_spec(stem, key)
        if spec is None:
            continue
        try:
            merged[key] = spec.convert(value, key)
            ok.add(key)
        except _Bad as bad:
            what = str(bad) if bad.own else f"expected {spec.expected()} — {key}: {spec.help}"
            problems.append(f"{key} = {value!r} ({source[key]}) in notebook {stem}: {what}")
    sizes = [k for k in ok if merged[k] is not None and param_spec(stem, k).model_min]
    if sizes:
        names = notebook_models(stem, {k: merged[k] for k in ok})
        floors = {name: int(models.min_image_size(name)) for name in dict.fromkeys(names)}
        need = max(floors.values(), default=0)
        which = ", ".join(f"{n} {m} px" for n, m in floors.items() if m == need)
        problems += [
            f"{key} = {merged[key]!r} ({source[key]}) in notebook {stem}: expected an integer >= {need} "
            f"or None, the smallest input the model runs on ({which})"
            for key in sizes
            if merged[key] < need
        ]
    if problems:
        raise ParameterError(
            problems, f"notebook {stem}, profile {profile}: {len(problems)} bad parameter value(s); nothing was run"
        )
    return merged


# --- loading and merging -------------------------------------------------------------------


def load_profile(profile: str, directory: str | os.PathLike | None = None) -> dict:
    """The profile's YAML as ``{"common": {...}, "<notebook stem>": {...}, ...}``.

    Empty sections read as ``{}``; ``common`` is always present.
    """
    check_profile(profile)
    path = Path(directory) if directory is not None else profiles_dir()
    path = path / f"{profile}.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"profile file {path} is missing (profiles: {', '.join(PROFILES)})")
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(raw, Mapping):
        raise ValueError(
            f"{path}: expected a mapping with 'common' and one section per notebook, got {type(raw).__name__}"
        )
    out: dict[str, dict] = {"common": {}}
    for section, values in raw.items():
        section = str(section)
        if FLAG_SEP in section:
            stem, flag = section.split(FLAG_SEP, 1)
            try:
                check_data_flag(flag)
            except ValueError as err:
                raise ValueError(f"{path}: section {section!r}: {err}") from None
            if stem == "common":
                raise ValueError(f"{path}: section {section!r}: a data set's section belongs to one notebook")
        values = {} if values is None else values
        if not isinstance(values, Mapping):
            raise ValueError(f"{path}: section {section!r} must be a mapping of parameter names to values")
        if "profile" in values:
            raise ValueError(f"{path}: section {section!r} sets 'profile'; the file name is the profile")
        values = dict(values)
        _check_reasons(path, section, values.pop(WHY, None))
        out[str(section)] = values
    return out


#: Joins a notebook stem and a data flag into the name of that data set's section (``03_x@breastmnist``).
FLAG_SEP = "@"


def section_stem(section: str) -> str:
    """The notebook a section belongs to: ``"03_x@breastmnist"`` -> ``"03_x"``; ``"common"`` and stems as they are."""
    return str(section).split(FLAG_SEP, 1)[0]


def _sections(raw: Mapping[str, Mapping], stem: str, data_flag: Any = None) -> list[tuple[str, Mapping]]:
    """The sections of a loaded profile that apply to notebook ``stem``, weakest first: ``common``, the notebook's,
    then its data set's, for ``data_flag`` when given (not None), else the flag those two sections set."""
    own = [("common", raw.get("common") or {}), (stem, raw.get(stem) or {})]
    if data_flag is None:
        data_flag = next((v["data_flag"] for _, v in reversed(own) if v.get("data_flag") is not None), None)
    if data_flag is None:
        data_flag = DEFAULTS["data_flag"]
    flagged = f"{stem}{FLAG_SEP}{data_flag}"
    return own + ([(flagged, raw[flagged] or {})] if flagged in raw else [])


#: The key under which a profile section says why it departs from the report: ``why: {parameter: reason}``.
#: :func:`load_profile` leaves it out of the parameters; :func:`departures` shows each reason beside its row.
WHY = "why"


def _check_reasons(path: Path, section: str, why: Any) -> dict[str, str]:
    if why is None:
        return {}
    if not isinstance(why, Mapping) or not all(isinstance(v, str) and v.strip() for v in why.values()):
        raise ValueError(f"{path}: section {section!r}: '{WHY}' must map parameter names to reasons (text)")
    own = NOTEBOOK_PARAMETERS.get(section_stem(section), {})
    unknown = [k for k in why if k not in PARAMETERS and k not in own]
    if unknown:
        raise ValueError(f"{path}: section {section!r}: '{WHY}' names no parameter: {', '.join(map(str, unknown))}")
    return {str(k): v.strip() for k, v in why.items()}


def profile_reasons(
    notebook: str, profile: str, directory: str | os.PathLike | None = None, data_flag: str | None = None
) -> dict[str, str]:
    """Why the profile departs from the report, per parameter, for one notebook: ``common``'s ``why`` updated by
    the notebook's section's, then by its data set's section's (``data_flag``, see :func:`profile_values`; see
    :data:`WHY`)."""
    check_profile(profile)
    path = (Path(directory) if directory is not None else profiles_dir()) / f"{profile}.yaml"
    raw = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}) if path.is_file() else {}
    raw = {str(k): v if isinstance(v, Mapping) else {} for k, v in raw.items()}
    reasons: dict[str, str] = {}
    for section, values in _sections(raw, notebook_stem(notebook), data_flag):
        reasons.update(_check_reasons(path, section, values.get(WHY)))
    return reasons


def profile_values(
    notebook: str, profile: str, directory: str | os.PathLike | None = None, data_flag: str | None = None
) -> dict:
    """The profile's raw values for one notebook: ``common`` updated by the notebook's section, then by its data
    set's section (``<stem>@<flag>``) for ``data_flag``, or when that is None for the flag the profile sets."""
    raw = load_profile(profile, directory)
    merged: dict = {}
    for _, values in _sections(raw, notebook_stem(notebook), data_flag):
        merged.update(values)
    return merged


class Params(dict):
    """A dict with attribute access (``p.epochs``) and a readable table for notebooks."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"no parameter {name!r}; parameters: {', '.join(self)}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __delattr__(self, name: str) -> None:
        try:
            del self[name]
        except KeyError:
            raise AttributeError(name) from None

    def _rows(self) -> list[tuple[str, str]]:
        return [(k, str(v) if isinstance(v, Path) else repr(v)) for k, v in self.items()]

    def __repr__(self) -> str:
        rows = self._rows()
        width = max((len(k) for k, _ in rows), default=0)
        return "Params(\n" + "\n".join(f"  {k:<{width}} = {v}" for k, v in rows) + "\n)"

    def _repr_markdown_(self) -> str:
        lines = ["| parameter | value |", "|---|---|"]
        for k, v in self._rows():
            lines.append(f"| `{k}` | `{v.replace('|', '&#124;')}` |")
        return "\n".join(lines)


def resolve(notebook: str, profile: str = "quick", **given: Any) -> Params:
    """The parameters of ``notebook`` under ``profile``: defaults < common < section < given.

    Given values of ``None`` are ignored (the profile's value is used). First :func:`validate`
    checks and converts every value (a :class:`ParameterError` lists all bad ones, before any
    work); then ``data_root`` and ``out_dir`` are filled in (see the module docstring; the
    synthetic data and the output folder are made here) and a :class:`Params` is returned.
    """
    stem = notebook_stem(notebook)
    merged = validate(stem, profile, **given)

    if merged.get("data_root") is not None:
        merged["data_root"] = Path(merged["data_root"]).expanduser()
    elif merged["synthetic"]:
        merged["data_root"] = _ensure_synthetic(REPO_ROOT / "data" / "synthetic")
    elif os.environ.get("DIVE_DATA"):
        merged["data_root"] = Path(os.environ["DIVE_DATA"]).expanduser()
    else:
        merged["data_root"] = _default_data_root()

    if merged.get("out_dir") is not None:
        merged["out_dir"] = Path(merged["out_dir"]).expanduser()
        merged["out_dir"].mkdir(parents=True, exist_ok=True)
    else:
        merged["out_dir"] = default_out_dir(stem, profile)

    merged["profile"] = profile
    merged["notebook"] = stem
    ordered = {k: merged.pop(k) for k in SHARED_KEYS if k in merged}
    ordered.update(merged)
    return Params(ordered)


#: Keys that say *where* or *how* a notebook runs, not *what* it computes: never a departure.
_NOT_SETTINGS = ("profile", "notebook", "synthetic", "data_root", "out_dir", "device", "checkpoints")
#: How ``None`` reads for some keys in the departures table.
_NONE_MEANS = {
    "train_size": "all",
    "val_size": "all",
    "test_size": "all",
    "image_size": "the model's own",
    "final_split": "the study's",
    "patience": "none (every epoch runs)",
}


def departures(p: Mapping[str, Any], reference: str = "full") -> list[dict]:
    """Where the parameters ``p`` (from :func:`resolve`) depart from the ``reference`` profile's.

    The ``full`` profile holds the original report's settings, so the default answers "what did this
    run shrink or change?". One ``{"parameter", "report", "this_run"}`` row per differing key, in the
    order of ``p``; keys about place and machinery (data root, output folder, device, checkpoints) are
    left out.
    """
    raw = profile_values(p["notebook"], reference, data_flag=p.get("data_flag"))
    ref = dict(DEFAULTS)
    ref.update({k: v for k, v in raw.items() if v is not None})
    for key, value in ref.items():  # compared as validate converts them ("0.001" is 0.001)
        if key in PARAMETERS and PARAMETERS[key].kind not in ("dataset", "model"):
            try:
                ref[key] = PARAMETERS[key].convert(value, key)
            except _Bad:
                pass

    def show(key: str, value: Any) -> str:
        return _NONE_MEANS.get(key, "default") if value is None else str(value)

    flag = p.get("data_flag")
    why = profile_reasons(p["notebook"], p["profile"], data_flag=flag) if p.get("profile") in PROFILES else {}
    keys = [k for k in p if k not in _NOT_SETTINGS] + [k for k in raw if k not in p and k not in _NOT_SETTINGS]
    return [
        {"parameter": k, "report": show(k, ref.get(k)), "this_run": show(k, p.get(k)), "why": why.get(k, "")}
        for k in keys
        if p.get(k) != ref.get(k)
    ]


def departures_note(p: Mapping[str, Any], reference: str = "full", rows: list[dict] | None = None) -> str | None:
    """One sentence listing :func:`departures` (``None`` when there are none); ``rows``: already computed."""
    rows = departures(p, reference) if rows is None else rows
    if not rows:
        return None
    return f"profile '{p['profile']}' departs from the report's settings: " + "; ".join(
        f"{r['parameter']} {r['this_run']} (report: {r['report']}{'; ' + r['why'] if r.get('why') else ''})"
        for r in rows
    )

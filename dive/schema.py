"""How a parameter is declared and checked: :class:`Param` (kind, range, choices, meaning).

One :class:`Param` per parameter, written once, serves two readers:

* the notebooks' parameters (:data:`dive.parameters.PARAMETERS`, checked by :func:`dive.profiles.validate`):
  :meth:`Param.convert` converts what converts without loss (``"0.001"`` -> 0.001, ``"true"`` -> True);
* :class:`dive.config.RunConfig`, whose fields are declared in :data:`dive.config.FIELDS`:
  :meth:`Param.problem` checks a value as it is (no conversion) and says what is wrong with it.

Choices name their owner's registry (a mapping, read when checking, so a new entry there is valid at once)
or a tuple the owner exports; names of data sets and models are checked against :mod:`dive.data` and
:mod:`dive.models`' registries.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dive import data, models


def check_data_flag(flag: str, key: str = "data_flag") -> str:
    """``flag`` if it names a data set of :data:`dive.data.DATASET_TABLE`; else a ValueError listing them."""
    valid = tuple(data.DATASET_TABLE)
    if flag not in valid:
        raise ValueError(f"unknown {key} {flag!r}; valid data flags: {', '.join(valid)}")
    return flag


def check_models(value: Any, key: str = "model") -> Any:
    """``value`` is one name, a comma-separated string or a list of names of :data:`dive.models.MODELS`."""
    if value is None:
        return value
    names = [s.strip() for s in value.split(",")] if isinstance(value, str) else list(value)
    valid = tuple(models.MODELS)
    lowered = {v.lower() for v in valid}
    bad = [n for n in names if str(n).lower() not in lowered]
    if bad:
        raise ValueError(f"unknown {key} {', '.join(map(repr, bad))}; valid models: {', '.join(valid)}")
    return value


class _Bad(Exception):
    """A value that does not fit its :class:`Param`; ``own``: the message is complete as it is."""

    def __init__(self, message: str = "", own: bool = False):
        super().__init__(message)
        self.own = own


def _bound(x: float) -> str:
    return f"{x:g}"


@dataclass(frozen=True)
class Param:
    """How one parameter is checked and converted (see :data:`PARAMETERS`).

    ``kind``: ``int``, ``float``, ``bool``, ``choice``, ``list``, ``str``, ``path``, or ``dataset`` /
    ``model`` (names checked by :func:`check_data_flag` / :func:`check_models`, whose messages list
    the valid names). Values that convert without loss are converted (``"0.001"`` -> 0.001, ``"5"`` and
    ``2.0`` -> an int, ``"true"`` -> True, ``"0.1,0.01"`` -> a list); anything else is an error.
    """

    kind: str
    help: str
    min: float | None = None  # inclusive lower bound (int, float)
    above: float | None = None  # exclusive lower bound (float)
    nullable: bool = False  # None is a meaningful value (e.g. "all images")
    #: choice: the values; a mapping (an owner's registry: its keys) or a callable is read when checking
    choices: tuple | Mapping | Callable[[], Sequence] = ()
    item: Param | None = None  # list: each item's spec
    count: bool = False  # list: a positive integer n is also accepted (kept as n)
    all: bool = False  # list: the word "all" is also accepted (kept as "all")
    scalar: bool = True  # list: one value is also accepted as a one-item list (False: where it is ambiguous)
    pattern: str | None = None  # str: a regular expression the whole string must match
    expect: str | None = None  # str: how to say what is expected (with ``pattern``)
    many: bool = True  # model: a list or comma-separated names allowed
    model_min: bool = False  # int: also >= the smallest input of the notebook's models (image sizes)

    def valid_choices(self) -> tuple:
        return tuple(self.choices() if callable(self.choices) else self.choices)

    def expected(self) -> str:
        """What a valid value looks like, in words."""
        k = self.kind
        if k in ("int", "float"):
            text = "an integer" if k == "int" else "a number"
            if self.min is not None:
                text += f" >= {_bound(self.min)}"
            if self.above is not None:
                text += f" > {_bound(self.above)}"
        elif k == "bool":
            text = "True or False"
        elif k == "choice":
            text = "one of " + ", ".join(str(c) for c in self.valid_choices())
        elif k == "list":
            text = f"a non-empty list (or comma-separated), each item {self.item.expected()}"
            if not self.scalar:
                text = f'a non-empty list such as [22, 23] (or "22,23"), each item {self.item.expected()}'
            if self.count:
                text = "a positive count or " + text
            if self.all:
                text = '"all" or ' + text
        elif k == "str":
            text = self.expect or "a string"
        elif k == "path":
            text = "a path"
        elif k == "dataset":
            text = "mnist or a MedMNIST 2D flag"
        elif k == "model":
            text = "a model name" + (" or a list of them" if self.many else "")
        else:  # pragma: no cover - a mistake in PARAMETERS
            raise AssertionError(f"unknown Param kind {k!r}")
        return text + (" or None" if self.nullable else "")

    def convert(self, value: Any, key: str = "value") -> Any:
        """``value`` checked and converted; raises :class:`_Bad` when it does not fit."""
        if value is None:
            if self.nullable:
                return None
            raise _Bad()
        k = self.kind
        if k == "int":
            return self._in_range(_to_int(value))
        if k == "float":
            return self._in_range(_to_float(value))
        if k == "bool":
            return _to_bool(value)
        if k == "choice":
            return _to_choice(value, self.valid_choices())
        if k == "list":
            return self._to_list(value, key)
        if k == "str":
            if not isinstance(value, str) or (self.pattern and not re.fullmatch(self.pattern, value)):
                raise _Bad()
            return value
        if k == "path":
            if not isinstance(value, (str, os.PathLike)) or not str(value).strip():
                raise _Bad()
            return Path(value).expanduser()
        if k == "dataset":
            if not isinstance(value, str):
                raise _Bad()
            try:
                return check_data_flag(value, key)
            except ValueError as err:
                raise _Bad(str(err), own=True) from None
        if k == "model":
            names = [s.strip() for s in value.split(",")] if isinstance(value, str) else value
            if isinstance(value, str) and len(names) > 1 and not self.many:
                raise _Bad()
            if not isinstance(names, (list, tuple)) or not names or not all(isinstance(n, str) for n in names):
                raise _Bad()
            try:
                return check_models(value, key)
            except ValueError as err:
                raise _Bad(str(err), own=True) from None
        raise AssertionError(f"unknown Param kind {k!r}")  # pragma: no cover

    def problem(self, value: Any, key: str) -> str | None:
        """What is wrong with ``value`` as it is (None: nothing). Unlike :meth:`convert`, nothing is converted:
        ``"0.001"`` is not a number here, and ``2.0`` is not an integer (what :class:`dive.config.RunConfig` needs)."""
        try:
            got = self.convert(value, key)
        except _Bad as bad:
            got = bad
        if isinstance(got, _Bad) and got.own:
            return str(got)
        if isinstance(got, _Bad) or type(got) is not type(value) or got != value:
            if self.kind == "choice" and value is not None:
                valid = ((None,) if self.nullable else ()) + self.valid_choices()
                shown = ", ".join("none" if c is None else str(c) for c in valid)
                return f"unknown {key} {value!r}; valid: {shown}"
            return f"{key} must be {self.expected()}, got {value!r}"
        return None

    def _in_range(self, x: float) -> Any:
        if (self.min is not None and x < self.min) or (self.above is not None and not x > self.above):
            raise _Bad()
        return x

    def _to_list(self, value: Any, key: str) -> Any:
        if self.all and isinstance(value, str) and value.strip().lower() == "all":
            return "all"
        if self.count and not isinstance(value, (list, tuple)) and not (isinstance(value, str) and "," in value):
            n = _to_int(value)
            if n < 1:
                raise _Bad()
            return n
        if not self.scalar and not isinstance(value, (list, tuple)) and not (isinstance(value, str) and "," in value):
            raise _Bad()
        if isinstance(value, str):
            items = [s.strip() for s in value.split(",")]
            if any(not s for s in items):
                raise _Bad()
        elif isinstance(value, (list, tuple)):
            items = list(value)
        else:
            items = [value]
        if not items:
            raise _Bad()
        return [self.item.convert(v, key) for v in items]


def _to_int(value: Any) -> int:
    if isinstance(value, bool):
        raise _Bad()
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            value = _to_float(value)
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    raise _Bad()


def _to_float(value: Any) -> float:
    if isinstance(value, bool):
        raise _Bad()
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise _Bad() from None
    if isinstance(value, (int, float)) and math.isfinite(value):
        return float(value)
    raise _Bad()


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise _Bad()


def _to_choice(value: Any, choices: tuple) -> Any:
    for c in choices:
        if value == c and isinstance(value, bool) == isinstance(c, bool):
            return c
    if isinstance(value, str):
        word = value.strip().lower()
        for c in choices:
            if (str(c).lower() == word) and (isinstance(c, str) or word in ("true", "false")):
                return c
    raise _Bad()

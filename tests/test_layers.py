"""The layers of dive's notebook code: the attribution methods, their checks, the recipes, the tables and
notebook 09's module sit below ``dive.notebook`` and ``dive.profiles`` (they take parameters, they do not
resolve them); notebook 10's study (``dive.explain``) sits above both. Read from the source, every import
(module level or inside a function) followed through dive's own modules."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

DIVE = Path(__file__).resolve().parent.parent / "dive"


def _module_file(name: str) -> Path | None:
    rel = name.split(".")[1:]
    for path in (DIVE.joinpath(*rel).with_suffix(".py"), DIVE.joinpath(*rel, "__init__.py")):
        if rel and path.is_file():
            return path
    return None


def _imports(name: str) -> set[str]:
    """The dive modules ``name`` imports directly."""
    path = _module_file(name)
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("dive.")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "dive":
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names if _module_file(f"{node.module}.{a.name}")}
    return {m for m in found if _module_file(m)}


def _reach(name: str) -> set[str]:
    seen, todo = set(), [name]
    while todo:
        for m in _imports(todo.pop()) - seen:
            seen.add(m)
            todo.append(m)
    return seen


@pytest.mark.parametrize(
    "module", ["dive.attribution", "dive.attribution_checks", "dive.recipes", "dive.tables", "dive.medmnist_compare"]
)
def test_methods_checks_recipes_and_tables_sit_below_notebook_and_profiles(module):
    above = {"dive.notebook", "dive.profiles", "dive.explain"} & _reach(module)
    assert not above, f"{module} imports {sorted(above)}"


def test_the_walk_sees_imports():
    # the test above must be able to fail: dive.explain (notebook 10's study) does import both
    assert {"dive.notebook", "dive.profiles", "dive.attribution", "dive.recipes"} <= _reach("dive.explain")

"""Every notebook in notebooks/ is committed clean and parameterisable by papermill.

Clean: no outputs and no execution counts in code cells (the executed copies live under
reports/). Parameterisable: exactly one cell tagged ``parameters``, it is the first code cell,
and it defines ``profile`` (``python -m dive.report`` always injects it).
"""

from __future__ import annotations

import ast
import json
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
NB_DIR = REPO / "notebooks"


def _notebooks() -> list[Path]:
    present = set(NB_DIR.glob("*.ipynb"))
    try:  # tracked ones too, so a notebook deleted from the work tree but still in git is noticed
        out = subprocess.run(
            ["git", "ls-files", "notebooks/*.ipynb"], cwd=REPO, capture_output=True, text=True, timeout=10
        )
        present |= {REPO / line for line in out.stdout.splitlines() if line.strip()}
    except (OSError, subprocess.TimeoutExpired):
        pass
    return sorted(present)


NOTEBOOKS = _notebooks()


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _assigned_names(source: str) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        targets = (
            node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        )
        for t in targets:
            for n in ast.walk(t):
                if isinstance(n, ast.Name):
                    names.add(n.id)
    return names


def test_there_are_notebooks():
    # an empty notebooks/ must not make the checks below pass trivially
    stems = {p.stem for p in NOTEBOOKS}
    expected = {
        "00_datasets",
        "01_mnist_simplecnn",
        "02_pathmnist_simplecnn",
        "03_resnet18_baseline",
        "04_alexnet_balancing",
        "05_alexnet_augmentation",
        "06_alexnet_batchnorm",
        "07_resnet_tuning",
        "08_xception",
    }
    assert expected <= stems, f"missing notebooks: {sorted(expected - stems)}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_is_clean_and_parameterised(path: Path):
    assert path.is_file(), f"{path.name} is tracked by git but missing from the work tree"
    nb = json.loads(path.read_text(encoding="utf-8"))
    code = [c for c in nb["cells"] if c.get("cell_type") == "code"]
    dirty = [i for i, c in enumerate(code) if c.get("outputs") or c.get("execution_count") is not None]
    assert not dirty, (
        f"{path.name}: code cells {dirty} have outputs or execution counts; "
        "clear them (Jupyter: Edit > Clear Outputs of All Cells, or `jupyter nbconvert --clear-output --inplace`)"
    )
    tagged = [i for i, c in enumerate(nb["cells"]) if "parameters" in (c.get("metadata", {}).get("tags") or [])]
    assert len(tagged) == 1, f"{path.name}: expected exactly one cell tagged 'parameters', found {len(tagged)}"
    assert code and code[0] is nb["cells"][tagged[0]], f"{path.name}: the 'parameters' cell must be the first code cell"
    names = _assigned_names(_source(code[0]))
    assert "profile" in names, f"{path.name}: the parameters cell must define `profile` (it defines {sorted(names)})"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_papermill_sees_every_parameter(path: Path):
    # `papermill --help-notebook` is how users discover the parameters; a line papermill cannot parse
    # (e.g. a comment it misreads) would silently vanish from that list
    import papermill

    nb = json.loads(path.read_text(encoding="utf-8"))
    code = [c for c in nb["cells"] if c.get("cell_type") == "code"]
    names = _assigned_names(_source(code[0]))
    seen = set(papermill.inspect_notebook(str(path)))
    assert names == seen, f"{path.name}: papermill misses {sorted(names - seen)} of the parameters cell"

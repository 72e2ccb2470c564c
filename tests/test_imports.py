"""No import cycle among dive's modules: the layers import downwards only.

Every ``import`` / ``from ... import`` statement of every module of ``dive`` is read with ``ast``, at module level
and inside functions alike (a cycle hidden in a function still ties two modules together). ``from dive.x import y``
is an import of the submodule ``dive.x.y`` when there is one, else of ``dive.x``.
"""

from __future__ import annotations

import ast
from pathlib import Path

DIVE = Path(__file__).resolve().parent.parent / "dive"

#: Imports that close a cycle today, each with why and when it goes (the test fails while an entry is listed that
#: no longer exists). None since issue 22 split notebook 10's orchestration (dive.explain) off the attribution
#: methods (dive.attribution), which the parameter table reads.
KNOWN: dict[tuple[str, str], str] = {}


def _modules(root: Path = DIVE) -> dict[str, Path]:
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def import_graph(root: Path = DIVE) -> dict[str, dict[str, int]]:
    """``{module: {imported dive module: line}}`` from every import statement, at any depth."""
    mods = _modules(root)
    graph: dict[str, dict[str, int]] = {m: {} for m in mods}
    for mod, path in mods.items():
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(up + ([base] if base else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names]
            else:
                continue
            for target in targets:
                while target and target not in mods:
                    target = target.rpartition(".")[0]
                if target and target != mod:
                    graph[mod].setdefault(target, node.lineno)
    return graph


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def _describe(graph, comp) -> str:
    return "; ".join(f"{a} -> {b} (line {graph[a][b]})" for a in comp for b in graph[a] if b in comp)


def test_no_import_cycle_among_dives_modules():
    graph = import_graph()
    assert "dive.runner" in graph and "dive.executors" in graph["dive.experiment"]
    for a, b in KNOWN:
        assert b in graph[a], f"{a} no longer imports {b}: remove the entry from KNOWN in {__file__}"
        del graph[a][b]
    found = cycles(graph)
    assert not found, "import cycles: " + " | ".join(_describe(graph, c) for c in found)


def test_the_walk_sees_imports_inside_functions(tmp_path):
    """A cycle hidden in a function-level import, or spelt ``from pkg import submodule``, is found."""
    pkg = tmp_path / "dive"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from dive import b\n")
    (pkg / "b.py").write_text("def f():\n    from dive.sub import c\n    return c\n")
    (pkg / "sub" / "__init__.py").write_text("from dive.sub.c import X\n")
    (pkg / "sub" / "c.py").write_text("X = 1\n\ndef g():\n    import dive.a\n")
    graph = import_graph(pkg)
    assert graph["dive.b"] == {"dive.sub.c": 2}
    assert cycles(graph) == [["dive.a", "dive.b", "dive.sub.c"]]
    (pkg / "sub" / "c.py").write_text("X = 1\n")
    assert cycles(import_graph(pkg)) == []

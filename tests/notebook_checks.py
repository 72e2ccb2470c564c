"""What every notebook must leave in the smoke report, checked the same way by both notebook test files."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

PNG = b"\x89PNG\r\n\x1a\n"


def metrics(base: Path, name: str) -> dict:
    return json.loads((base / name / "metrics.json").read_text(encoding="utf-8"))


def executed_errors(smoke_report: Path, name: str) -> tuple[dict, list[dict]]:
    """The executed notebook and its error outputs (there must be none)."""
    executed = smoke_report / "executed" / f"{name}.ipynb"
    assert executed.is_file() and executed.stat().st_size > 0
    nb = json.loads(executed.read_text(encoding="utf-8"))
    errors = [
        o
        for c in nb["cells"]
        if c["cell_type"] == "code"
        for o in c.get("outputs", [])
        if o.get("output_type") == "error"
    ]
    return nb, errors


def check_artifacts(smoke_report: Path, name: str, tables: dict, figures: list, with_original: list, keys: set) -> dict:
    """metrics.json with ``keys``, marked synthetic; each table with its rows (and the original's values where
    given) and the SYNTHETIC line; each figure a real PNG. Returns the metrics."""
    out = smoke_report / name
    m = metrics(smoke_report, name)
    assert keys <= set(m), f"{name}: metrics.json lacks {keys - set(m)}"
    assert m["notebook"] == name and m["profile"] == "smoke" and m["synthetic"] is True
    assert {t["name"] for t in m["tables"]} >= set(tables)
    assert {f["name"] for f in m["figures"]} >= set(figures)
    for table, rows in tables.items():
        csv, md = out / "tables" / f"{table}.csv", out / "tables" / f"{table}.md"
        assert csv.stat().st_size > 0 and md.stat().st_size > 0, f"{name}: {table} is empty"
        assert len(pd.read_csv(csv)) == rows, f"{name}: {table} should have {rows} rows"
        assert "SYNTHETIC DATA" in md.read_text(encoding="utf-8")
    for table in with_original:
        original = out / "tables" / f"{table}.original.csv"
        assert original.stat().st_size > 0, f"{name}: {table} lacks the original's values"
    for fig in figures:
        png = out / "figures" / f"{fig}.png"
        assert png.stat().st_size > 1000 and png.read_bytes()[:8] == PNG, f"{name}: {fig}"
    return m

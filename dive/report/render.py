"""Step 2 of the report: each executed notebook rendered to ``html/<name>.html`` by nbconvert."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path


def render_html(executed: Iterable[str | os.PathLike], html_dir: str | os.PathLike) -> list[Path]:
    """nbconvert each executed notebook to ``html_dir/<name>.html`` (input prompts hidden)."""
    import nbformat
    from nbconvert import HTMLExporter

    html_dir = Path(html_dir)
    html_dir.mkdir(parents=True, exist_ok=True)
    exporter = HTMLExporter(template_name="lab")
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    written = []
    for path in map(Path, executed):
        nb = nbformat.read(str(path), as_version=4)
        body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": path.stem}})
        dest = html_dir / f"{path.stem}.html"
        dest.write_text(body, encoding="utf-8")
        written.append(dest)
    return written

"""Step 4 of the report: ``report.html`` printed to ``report.pdf``.

Two engines:

* ``weasyprint`` (default): a pinned Python dependency, no browser. It implements CSS paged media
  (page counters, running headers, ``target-counter`` in the table of contents), and its layout can
  be measured: :func:`overflows` walks the laid-out pages and reports every table wider than the
  text block (the build warns about each; the tests require none).
* ``chromium``: a headless Chromium or Chrome on PATH (or ``DIVE_BROWSER``), as before WeasyPrint.

When the chosen engine cannot run, :class:`PdfEngineMissing` says in one line what to install.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

ENGINES = ("weasyprint", "chromium")
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
APT_HINT = "apt-get install -y chromium"
WEASYPRINT_HINT = (
    "install WeasyPrint with `make setup` (pip install -e .: weasyprint==70.0) and its system library "
    "Pango >= 1.44 (apt-get install -y libpango-1.0-0 libpangoft2-1.0-0), or use --pdf-engine chromium"
)
#: Slack (CSS px) for rounding in the layout check.
TOLERANCE_PX = 0.5


class PdfEngineMissing(RuntimeError):
    """The PDF engine cannot run here; the message says what to install."""


class BrowserNotFound(PdfEngineMissing):
    """No Chromium / Chrome for ``--pdf-engine chromium``."""


def check_engine(engine: str) -> None:
    """Raise :class:`PdfEngineMissing` (one line) if ``engine`` cannot run here; ``ValueError`` if unknown."""
    if engine not in ENGINES:
        raise ValueError(f"unknown PDF engine {engine!r}; valid: {', '.join(ENGINES)}")
    if engine == "chromium":
        find_browser()
        return
    try:
        import weasyprint  # noqa: F401  (loads Pango through cffi: fails without the system library)
    except (ImportError, OSError) as err:
        raise PdfEngineMissing(f"WeasyPrint cannot run ({type(err).__name__}: {err}); {WEASYPRINT_HINT}") from err


def find_browser() -> str:
    """``DIVE_BROWSER``, else the first of chromium / chromium-browser / google-chrome on PATH."""
    env = os.environ.get("DIVE_BROWSER")
    if env:
        return env
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    raise BrowserNotFound(
        f"no Chromium or Chrome on PATH (looked for {', '.join(BROWSERS)}); --pdf-engine chromium "
        f"needs one: `{APT_HINT}` (Debian/Ubuntu), or use --pdf-engine weasyprint"
    )


def render_pdf(
    html_path: str | os.PathLike,
    pdf_path: str | os.PathLike | None = None,
    *,
    engine: str = "weasyprint",
    browser: str | None = None,
    timeout: float = 180,
    log=print,
) -> Path:
    """Print ``html_path`` to PDF (default: beside it, ``.pdf``) with ``engine``.

    WeasyPrint also writes ``<pdf>.layout.json`` (pages, text width, every table's measured width)
    and logs a warning for each table wider than the text block.
    """
    html_path = Path(html_path).resolve()
    pdf_path = (Path(pdf_path) if pdf_path is not None else html_path.with_suffix(".pdf")).resolve()
    check_engine(engine)
    pdf_path.unlink(missing_ok=True)
    if engine == "chromium":
        return _chromium(html_path, pdf_path, browser=browser, timeout=timeout)
    from weasyprint import HTML

    document = HTML(filename=str(html_path), base_url=str(html_path.parent)).render()
    document.write_pdf(str(pdf_path))
    layout = measure(document)
    layout_path = pdf_path.with_suffix(".layout.json")
    layout_path.write_text(json.dumps(layout, indent=1), encoding="utf-8")
    for t in layout["tables"]:
        if t["overflow_px"] > TOLERANCE_PX:
            log(
                f"warning: {t['name'] or 'a table'} on page {t['page']} is {t['overflow_px']:.0f} px wider than the "
                f"text block ({layout_path.name})"
            )
    return pdf_path


# --- measuring the printed layout ---------------------------------------------------------------


def _walk(box):
    yield box
    for child in getattr(box, "children", None) or []:
        yield from _walk(child)


def _table_name(box) -> str | None:
    element = getattr(box, "element", None)
    return element.get("data-name") if element is not None else None


def measure(document) -> dict[str, Any]:
    """Every table of a rendered WeasyPrint ``document`` against its page's text block (CSS px).

    ``overflow_px``: how far the table, or anything inside it (cells, lines of text), reaches beyond
    the left or right edge of the page's content area (0 when it fits).
    """
    from weasyprint.formatting_structure import boxes

    tables, pages = [], []
    for number, page in enumerate(document.pages, 1):
        page_box = page._page_box
        left = page_box.content_box_x()
        right = left + page_box.width
        pages.append({"page": number, "width": page.width, "height": page.height, "text_width": page_box.width})
        for box in _walk(page_box):
            if not isinstance(box, boxes.TableBox):
                continue
            x0, x1 = box.border_box_x(), box.border_box_x() + box.border_width()
            for inner in _walk(box):
                if hasattr(inner, "position_x") and getattr(inner, "width", None) is not None:
                    x0 = min(x0, inner.position_x)
                    x1 = max(x1, inner.position_x + inner.margin_width())
            tables.append(
                {
                    "page": number,
                    "name": _table_name(box),
                    "left": x0,
                    "right": x1,
                    "width": box.border_width(),
                    "text_left": left,
                    "text_right": right,
                    "overflow_px": max(0.0, x1 - right, left - x0),
                }
            )
    return {"pages": pages, "tables": tables}


def overflows(document) -> list[dict]:
    """The tables of ``document`` that reach beyond the text block (see :func:`measure`)."""
    return [t for t in measure(document)["tables"] if t["overflow_px"] > TOLERANCE_PX]


# --- Chromium ------------------------------------------------------------------------------------


def _chromium(html_path: Path, pdf_path: Path, *, browser: str | None, timeout: float) -> Path:
    browser = browser or find_browser()
    with tempfile.TemporaryDirectory(prefix="dive-chromium-") as profile_dir:
        cmd = [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            f"--user-data-dir={profile_dir}",
            "--no-pdf-header-footer",
            f"--print-to-pdf={pdf_path}",
            html_path.as_uri(),
        ]
        env = dict(os.environ, HOME=profile_dir)
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
        except subprocess.TimeoutExpired as err:
            raise RuntimeError(f"{browser} did not finish printing {html_path} within {timeout:.0f} s") from err
        except FileNotFoundError as err:
            raise BrowserNotFound(f"{browser} not found; `{APT_HINT}`, or use --pdf-engine weasyprint") from err
    if proc.returncode != 0 or not pdf_path.is_file() or pdf_path.stat().st_size == 0:
        tail = "\n".join((proc.stderr or proc.stdout or "").strip().splitlines()[-15:])
        raise RuntimeError(f"{browser} failed to print {html_path} (exit {proc.returncode}):\n{tail}")
    return pdf_path

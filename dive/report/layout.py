"""How the assembled report lays out a chapter on the printed page: the text block's geometry, which tables,
figures and notes a chapter keeps and which go to the appendix, and tables sized to fit the text width.

:mod:`dive.report.assembly` gathers what goes on the page and re-exports these names; ``report.css`` holds the
same page geometry for the browser and WeasyPrint.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

#: The printed text block (A4 less 16 mm margins, see report.css) in pt, upright and landscape, and the
#: tables' type sizes in pt: 0.86em and 0.75em (``table.small``) of the 10 pt body.
TEXT_WIDTH_PT = (210 - 2 * 16) / 25.4 * 72
LANDSCAPE_TEXT_WIDTH_PT = (297 - 2 * 16) / 25.4 * 72
TABLE_PT, SMALL_TABLE_PT = 8.6, 7.5
#: Average advance of a DejaVu Sans character (digits: 0.636 em) and a cell's side padding, in characters.
CHAR_EM, PADDING_CHARS = 0.64, 1.2
#: A header may wrap inside a word (it is short text, not a number): it asks for at most this many characters.
HEADER_PIECE = 6
#: Tables with more columns than this are set in the smaller type.
MANY_COLUMNS = 8
#: A chapter keeps its tables of at most this many rows; longer ones (and every per-seed table) go to the appendix.
CHAPTER_ROWS = 15
#: ... and of at most this many characters in their cells (a table of a dozen rows of long text fills pages).
CHAPTER_CHARS = 1500
#: A chapter shows its first notes up to this many characters (at least one note, at most CHAPTER_NOTES); the rest
#: (e.g. one line per data set that is not available) go to the appendix.
CHAPTER_NOTE_CHARS, CHAPTER_NOTES = 1000, 4
#: A chapter's figures as printed (``report.css``): at most this high (cm), half-width ones at most HALF_FIGURE_CM.
FIGURE_CM, HALF_FIGURE_CM = 6.5, 7.0
#: A chapter shows the original report's figures (``fig<N>_...``) and, after them, its other figures in order while
#: all of them together stay within this printed height (cm; two half-width figures share a line); the rest go to
#: the appendix, linked from the chapter.
CHAPTER_FIGURE_CM = 12.0
#: The printed text width in cm (A4 less 16 mm margins).
TEXT_WIDTH_CM = (210 - 2 * 16) / 10


def fmt(x: Any) -> str:
    """A table cell: 4 significant digits, whole numbers from 1000 up, — for missing values."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, float):
        return f"{x:.0f}" if abs(x) >= 1000 else f"{x:.4g}"
    return str(x)


#: A figure narrower than this (width / height) is set at half the text width, two side by side.
HALF_ASPECT = 1.45


def _aspect(png: Path) -> float | None:
    try:
        from PIL import Image

        with Image.open(png) as im:
            width, height = im.size
    except (OSError, ImportError):
        return None
    return width / height if height > 0 else None


def half_width(png: Path) -> bool:
    """Whether a figure is narrow enough (:data:`HALF_ASPECT`) to share a line with the next one."""
    aspect = _aspect(png)
    return aspect is not None and aspect < HALF_ASPECT


def printed_height_cm(png: Path) -> float:
    """The height a chapter's figure takes on the printed page (cm): full width up to :data:`FIGURE_CM` high, or
    half the text width up to :data:`HALF_FIGURE_CM` (counted half: two share a line)."""
    aspect = _aspect(png)
    if aspect is None:
        return 1.0  # a missing file: its one-line note
    if aspect < HALF_ASPECT:
        return min(HALF_FIGURE_CM, 0.485 * TEXT_WIDTH_CM / aspect) / 2
    return min(FIGURE_CM, TEXT_WIDTH_CM / aspect)


def chapter_figures(figures: list[dict], budget_cm: float = CHAPTER_FIGURE_CM) -> tuple[list[dict], list[dict]]:
    """(the figures a chapter shows, the ones that go to the appendix), each list in the notebook's order.

    The original report's figures (named ``fig<N>_...``) stay; the others follow in order while the chapter's
    figures together stay within ``budget_cm`` of printed height (:func:`printed_height_cm`); from the first that
    does not fit, the rest go to the appendix."""
    kept = {id(f) for f in figures if re.match(r"fig\d", f["name"])}
    used = sum(printed_height_cm(Path(f["path"])) for f in figures if id(f) in kept)
    for f in figures:
        if id(f) in kept:
            continue
        h = printed_height_cm(Path(f["path"]))
        if used + h > budget_cm:
            break
        kept.add(id(f))
        used += h
    return [f for f in figures if id(f) in kept], [f for f in figures if id(f) not in kept]


def chapter_notes(notes: list[str]) -> tuple[list[str], list[str]]:
    """(the notes a chapter shows, the rest for the appendix): the first ones up to :data:`CHAPTER_NOTE_CHARS`
    characters and :data:`CHAPTER_NOTES` notes, at least one."""
    shown, used = [], 0
    for n in notes:
        if shown and (used + len(n) > CHAPTER_NOTE_CHARS or len(shown) >= CHAPTER_NOTES):
            break
        shown.append(n)
        used += len(n)
    return shown, notes[len(shown) :]


# --- tables that fit the page --------------------------------------------------------------


@dataclass
class Table:
    """A data frame as the template sets it: formatted cells, and a layout that fits the text block.

    Narrow tables keep their natural width. Wider ones get ``table-layout: fixed`` at the full text
    width, each column's share sized by :func:`column_widths` (no number is cut), the smaller type beyond
    :data:`MANY_COLUMNS` columns, and break opportunities after ``_`` ``/`` ``-`` so headers and long
    names wrap inside their column. A table whose numbers cannot fit the upright page even so is set
    on a landscape page of its own (``landscape``). ``dive.report.pdf.measure`` checks the printed result.
    """

    columns: list[str]
    rows: list[list[str]]
    numeric: list[bool]
    widths: list[float] | None = None  # percent per column; None: automatic layout (narrow tables)
    small: bool = False
    long: bool = False
    landscape: bool = False

    @classmethod
    def from_frame(cls, df: pd.DataFrame) -> Table:
        columns = [str(c) for c in df.columns]
        cells = [[fmt(v) for v in df[c].astype(object)] for c in df.columns]
        numeric = [any(v != "—" for v in col) and all(v == "—" or _NUMBER.fullmatch(v) for v in col) for col in cells]
        rows = [list(r) for r in zip(*cells, strict=True)] if cells else []
        table = cls(columns, rows, numeric, small=len(columns) > MANY_COLUMNS, long=len(rows) > 25)
        font = SMALL_TABLE_PT if table.small else TABLE_PT
        least, natural = column_extents(columns, cells)
        if _chars(TEXT_WIDTH_PT, font, len(columns)) < sum(least):
            table.landscape = True
        width = LANDSCAPE_TEXT_WIDTH_PT if table.landscape else TEXT_WIDTH_PT
        table.widths = column_widths(least, natural, _chars(width, font, len(columns)))
        return table

    @property
    def classes(self) -> str:
        return " ".join(
            ["data"]
            + (["fit"] if self.widths else [])
            + (["small"] if self.small else [])
            + (["long"] if self.long else [])
        )


def _chars(width_pt: float, font_pt: float, columns: int) -> float:
    """Characters of table type that fit in ``width_pt`` besides the cells' padding."""
    return width_pt / (font_pt * CHAR_EM) - PADDING_CHARS * columns


def column_extents(columns: list[str], cells: list[list[str]]) -> tuple[list[int], list[int]]:
    """Per column, in characters: the least it needs (its longest unbreakable entry piece: a whole number,
    a name up to its next ``_``; header words up to :data:`HEADER_PIECE`) and what its longest entry wants."""
    least, natural = [], []
    for col, values in zip(columns, cells, strict=True):
        header = [min(len(p), HEADER_PIECE) + 1 for p in _pieces(col)]  # +1: the header is bold
        pieces = [len(p) for v in values for p in _pieces(v)] + header
        least.append(max(pieces + [1]))
        natural.append(max([len(v) for v in values] + [least[-1], min(len(col), 14)]))
    return least, natural


def _pieces(text: str) -> list[str]:
    """``text`` cut where :func:`breakable` and the browser may break a line (spaces, after ``_`` ``/`` ``-``)."""
    if _NUMBER.fullmatch(text):
        return [text]
    return [p for p in re.split(r"\s+|(?<=[_/\-])(?=\S)", text) if p]


def column_widths(least: list[int], natural: list[int], available: float) -> list[float] | None:
    """Each column's share of the text width in percent, or ``None`` when the table fits as it is.

    Every column gets at least its ``least``; what is left of ``available`` characters goes to the
    columns in proportion to how much more their longest entry wants.
    """
    if sum(natural) <= available:
        return None
    if sum(least) >= available:
        share = [float(n) for n in least]
    else:
        spare = available - sum(least)
        extra = [n - m for n, m in zip(natural, least, strict=True)]
        share = [m + spare * e / sum(extra) for m, e in zip(least, extra, strict=True)]
    share = [s + PADDING_CHARS for s in share]
    return [round(100 * s / sum(share), 2) for s in share]


_NUMBER = re.compile(r"[-+]?(\d[\d.]*([eE][-+]?\d+)?|inf|nan)")


def breakable(text: str) -> str:
    """HTML-escaped ``text`` with break opportunities (``<wbr>``) after ``_`` ``/`` ``-`` (not in numbers)."""
    import html

    escaped = html.escape(str(text))
    if _NUMBER.fullmatch(str(text)):
        return escaped
    return re.sub(r"([_/\-])(?=\S)", r"\1<wbr>", escaped)


def appendix_table(name: str, rows: int, chars: int = 0) -> bool:
    """Whether a notebook's table goes to the appendix: a per-seed table (``*per_seed*``, or a ``*_seeds*``
    table of each configuration over its seeds, which the chapter shows as a dot-and-interval figure and the
    Claims table as verdicts), one of more than :data:`CHAPTER_ROWS` rows, or one whose cells hold more than
    :data:`CHAPTER_CHARS` characters (:func:`table_chars`)."""
    return "per_seed" in name or "_seeds" in name or rows > CHAPTER_ROWS or chars > CHAPTER_CHARS


def table_chars(frame: pd.DataFrame) -> int:
    """The characters of a table's cells as printed (:func:`fmt`)."""
    return sum(len(fmt(v)) for c in frame.columns for v in frame[c].astype(object))

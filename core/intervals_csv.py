"""The interval CSV the app and ``metst analyze`` write (one row per interval, 0-based frames).

Text cells are written so that spreadsheet programs do not execute them as formulas: a cell that
starts with ``=``, ``+``, ``-``, ``@``, tab or carriage return gets a leading apostrophe.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from core.atomic import atomic_write_text

__all__ = ["INTERVAL_COLUMNS", "escape_cell", "unescape_cell", "interval_rows_to_csv",
           "write_intervals_csv"]

INTERVAL_COLUMNS = ("video", "onset_frame", "apex_frame", "offset_frame", "onset_s", "apex_s",
                    "offset_s", "emotion", "confidence", "source", "status", "note")

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def escape_cell(value: Any) -> str:
    """A text cell made safe for spreadsheets; numbers are written as they are."""
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value)
    if isinstance(value, int | float):
        return repr(value) if isinstance(value, float) else str(value)
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def unescape_cell(cell: str) -> str:
    """Inverse of :func:`escape_cell` for text read back: the escaping apostrophe removed."""
    if len(cell) > 1 and cell[0] == "'" and cell[1] in _FORMULA_STARTS:
        return cell[1:]
    return cell


def interval_rows_to_csv(rows: Iterable[Mapping[str, Any]]) -> str:
    """Rows (dicts keyed by :data:`INTERVAL_COLUMNS`) → CSV text with a header."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(INTERVAL_COLUMNS)
    for row in rows:
        writer.writerow([escape_cell(row.get(column)) for column in INTERVAL_COLUMNS])
    return buffer.getvalue()


def write_intervals_csv(path: str | os.PathLike[str], rows: Iterable[Mapping[str, Any]]) -> Path:
    """Write the interval CSV atomically; returns its path."""
    return atomic_write_text(Path(path), interval_rows_to_csv(rows))

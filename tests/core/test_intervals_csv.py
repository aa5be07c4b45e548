"""Interval CSVs are written atomically and cannot smuggle spreadsheet formulas."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from core.intervals_csv import INTERVAL_COLUMNS, escape_cell, write_intervals_csv


@pytest.mark.parametrize("text", ["=HYPERLINK(\"x\")", "+1+1", "-2", "@SUM(A1)", "\tx"])
def test_formula_like_text_is_escaped(text: str) -> None:
    assert escape_cell(text) == "'" + text


def test_plain_text_and_numbers_are_unchanged() -> None:
    assert escape_cell("surprise") == "surprise"
    assert escape_cell(-3) == "-3" and escape_cell(0.25) == "0.25"
    assert escape_cell(None) == ""


def test_written_file_reads_back(tmp_path: Path) -> None:
    row = {"video": "a.mp4", "onset_frame": 10, "apex_frame": 12, "offset_frame": 15,
           "onset_s": 0.333, "apex_s": 0.4, "offset_s": 0.5, "emotion": "positive",
           "confidence": 0.8, "source": "model", "status": "proposed",
           "note": "=cmd|' /C calc'!A0"}
    path = write_intervals_csv(tmp_path / "out" / "intervals.csv", [row])
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == list(INTERVAL_COLUMNS)
    assert rows[0]["note"].startswith("'=")
    assert rows[0]["onset_frame"] == "10" and rows[0]["emotion"] == "positive"
    assert not list((tmp_path / "out").glob("*.tmp"))


@pytest.mark.parametrize("text", ["=1+1", "-2", "surprise", "'quoted", ""])
def test_unescape_reverses_escape(text: str) -> None:
    from core.intervals_csv import unescape_cell

    assert unescape_cell(escape_cell(text)) == text

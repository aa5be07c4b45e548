"""Atomic writes: the file is replaced whole, and a folder that cannot be written is an error
naming the file that was to be written."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.atomic import atomic_write_text


def test_the_target_is_replaced_and_no_temporary_is_left(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "notes.txt"
    atomic_write_text(target, "first")
    atomic_write_text(target, "second")
    assert target.read_text() == "second"
    assert [p.name for p in target.parent.iterdir()] == ["notes.txt"]


def test_a_folder_that_cannot_be_made_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "a_file").write_text("")
    target = tmp_path / "a_file" / "notes.txt"            # its folder would be a file
    with pytest.raises(OSError, match=r"cannot write .*a_file/notes\.txt"):
        atomic_write_text(target, "text")

"""``metst synth``: writes a project folder and a summary; bad footage is a one-line error."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import pytest

from core.synth import SynthManifest
from tests.fixtures.videos import sample_frames
from training.cli import main


def _metst(argv: Sequence[str]) -> int:
    """The ``metst`` console script."""
    return main(list(argv))


@pytest.fixture(scope="module")
def face_photo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("photo") / "face.png"
    cv2.imwrite(str(path), sample_frames(323)[322])
    return path


def test_synth_writes_the_project_layout_and_a_summary(
        tmp_path: Path, face_photo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_dir = tmp_path / "synth"

    code = _metst(["synth", str(out_dir), "--subjects", "2", "--seconds", "3", "--fps", "15",
                   "--seed", "4", "--base", str(face_photo)])

    out, err = capsys.readouterr()
    assert code == 0, err
    assert sorted(p.relative_to(out_dir).as_posix() for p in out_dir.rglob("*")) == [
        "s01", "s01/s01_v01.distractors.csv", "s01/s01_v01.intervals.csv", "s01/s01_v01.mkv",
        "s02", "s02/s02_v01.distractors.csv", "s02/s02_v01.intervals.csv", "s02/s02_v01.mkv",
        "synth.json"]
    manifest = SynthManifest.load(out_dir)
    assert manifest.config.seed == 4 and manifest.config.bases == (str(face_photo),)
    assert [(v.n_frames, v.fps) for v in manifest.videos] == [(45, 15.0), (45, 15.0)]
    lines = out.strip().splitlines()
    assert lines[0].startswith("s01/s01_v01.mkv: 45 frames at 15 fps, 1 MEs")
    assert lines[-1].startswith(f"wrote 2 videos of 2 subjects (2 MEs) to {out_dir}")


def test_a_base_without_a_face_is_a_one_line_error(
        tmp_path: Path, no_face_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = _metst(["synth", str(tmp_path / "out"), "--seconds", "3", "--base",
                   str(no_face_path)])

    err = capsys.readouterr().err
    assert code == 1
    error_lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1 and "Traceback" not in err
    assert f"{no_face_path}: no face found" in error_lines[0]
    assert not (tmp_path / "out").exists()


def test_a_missing_base_or_a_full_folder_is_refused(
        tmp_path: Path, face_photo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.mp4"
    assert _metst(["synth", str(tmp_path / "a"), "--base", str(missing)]) == 1
    assert capsys.readouterr().err.strip() == f"error: {missing}: no such file or folder"

    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "keep.txt").write_text("mine")
    assert _metst(["synth", str(tmp_path / "b"), "--base", str(face_photo)]) == 1
    assert "not empty" in capsys.readouterr().err
    assert [p.name for p in (tmp_path / "b").iterdir()] == ["keep.txt"]

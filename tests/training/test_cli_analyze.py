"""``metst analyze`` with the flow spotter on the real sample writes a valid interval CSV."""

from __future__ import annotations

import csv
from pathlib import Path

import h5py
import pytest

from core.intervals_csv import INTERVAL_COLUMNS
from training.cli import main


@pytest.mark.slow
def test_analyze_sample_with_flow_spotter(tmp_path: Path, sample_video_path: Path,
                                          no_face_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "results"
    code = main(["analyze", str(sample_video_path), str(no_face_path), "--model", "flow",
                 "-o", str(out), "--rois", "metst", "--workers", "2"])
    stdout, stderr = capsys.readouterr()
    assert code == 1, "the no-face video must make the exit code non-zero"
    assert "no_face.mp4" in stderr and "Traceback" not in stderr
    folder = out / "WolfgangLanger_Pexels"
    with open(folder / "intervals.csv", newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
    assert tuple(reader.fieldnames) == INTERVAL_COLUMNS
    for row in rows:
        onset, apex, offset = (int(row[k]) for k in ("onset_frame", "apex_frame", "offset_frame"))
        assert 0 <= onset <= apex <= offset < 472
        assert float(row["onset_s"]) <= float(row["offset_s"])
        assert row["source"] == "model" and row["status"] == "proposed"
    with h5py.File(folder / "curves.h5") as f:
        assert f["spot"].shape == (472,)
        assert f["traces/values"].shape == (10, 472)
    assert f"{len(rows)} intervals" in stdout


def test_bad_checkpoint_is_a_one_line_error(tmp_path: Path, sample_video_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "model.pt"
    bad.write_bytes(b"not a checkpoint")
    code = main(["analyze", str(sample_video_path), "--model", str(bad), "-o", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("error: checkpoint") and "model.pt" in err
    assert len(err.strip().splitlines()) == 1

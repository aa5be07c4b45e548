"""``metst extract`` on real videos: a summary line per video, a clear error for bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.flow import FlowConfig
from core.store import FeatureStore
from training.cli import main


@pytest.mark.slow
def test_extract_processes_good_videos_and_reports_bad_ones(
        tmp_path: Path, sample_video_path: Path, no_face_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_text("this is not a video")
    store_path = tmp_path / "features.h5"

    code = main(["extract", str(no_face_path), str(corrupt), str(sample_video_path),
                 "-o", str(store_path), "--rois", "metst", "--workers", "2"])

    out, err = capsys.readouterr()
    assert code != 0
    error_lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 2
    assert "no_face.mp4" in error_lines[0] and "no face" in error_lines[0]
    assert "corrupt.mp4" in error_lines[1]
    assert "Traceback" not in err
    summary = out.strip().splitlines()
    assert len(summary) == 1 and summary[0].startswith(sample_video_path.name)
    assert "472 frames" in summary[0] and "frames/s" in summary[0]
    entry = FeatureStore(store_path).find(sample_video_path, FlowConfig(roi_set="metst"))
    assert entry is not None and entry.traces.values.shape == (10, 472)
    assert entry.traces.valid.mean() > 0.95

    # A second run reuses the stored entry instead of recomputing.
    assert main(["extract", str(sample_video_path), "-o", str(store_path),
                 "--rois", "metst"]) == 0
    assert "skipped" in capsys.readouterr().out


def test_missing_input_is_a_one_line_error(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["extract", str(tmp_path / "nope.mp4"), "-o", str(tmp_path / "f.h5")])
    err = capsys.readouterr().err
    assert code == 1
    assert err.strip() == f"error: {tmp_path / 'nope.mp4'}: no such file or folder"

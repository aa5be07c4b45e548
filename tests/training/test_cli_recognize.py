"""``metst recognize``: TSFmicro's probabilities for one interval of a real video."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.models.checkpoint import save_checkpoint
from core.models.tsfmicro import TsfMicro, TsfMicroConfig
from training.cli import main

TINY = dict(image_size=32, widths=(8, 16, 16, 32), depths=(1, 1, 1, 1), heads=(1, 2, 2, 4),
            spatial_heads=4, head_width=32, dropout=0.0)


@pytest.fixture
def tsfmicro_checkpoint(tmp_path: Path) -> Path:
    config = TsfMicroConfig(**TINY)
    path = tmp_path / "tsf.pt"
    save_checkpoint(path, TsfMicro.from_config(config), model_name="tsfmicro",
                    class_names=list(config.class_names), fps=24.0, roi_set=None,
                    feature_params={}, training_summary={})
    return path


def test_recognize_prints_one_probability_per_class(
        sample_video_path: Path, tsfmicro_checkpoint: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["recognize", str(sample_video_path), "--onset", "100", "--apex", "106",
                 "--model", str(tsfmicro_checkpoint)])
    lines = capsys.readouterr().out.strip().splitlines()
    assert code == 0
    names = [line.split("\t")[0] for line in lines]
    assert sorted(names) == sorted(TsfMicroConfig().class_names)
    probabilities = [float(line.split("\t")[1]) for line in lines]
    assert sum(probabilities) == pytest.approx(1.0, abs=0.01)
    assert probabilities == sorted(probabilities, reverse=True)


def test_recognize_on_a_frame_without_face_is_a_clear_error(
        no_face_path: Path, tsfmicro_checkpoint: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["recognize", str(no_face_path), "--onset", "10", "--apex", "12",
                 "--model", str(tsfmicro_checkpoint)])
    err = capsys.readouterr().err
    assert code == 1 and "no_face.mp4" in err and "onset frame 10" in err


def test_recognize_out_of_range_frame(sample_video_path: Path, tsfmicro_checkpoint: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["recognize", str(sample_video_path), "--onset", "10", "--apex", "9999",
                 "--model", str(tsfmicro_checkpoint)])
    assert code == 1 and "9999" in capsys.readouterr().err

"""interval_stats(): class means and the smoothed spot peak inside an interval, by hand; and
TSFmicro's opinion of an interval equals what `metst recognize` prints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.analysis import AnalysisResult
from core.curve_models import Curves
from core.interval_stats import (
    interval_stats,
    onset_apex_crops,
    recog_column_names,
    tsfmicro_probabilities,
)
from core.postprocess import PostprocessConfig
from core.traces import FlowTraces
from core.video import open_source

T = 10
SPOT = np.array([0, 0, 0.2, 0.8, 0.4, 0, 0, 0, 0, 0], dtype=np.float32)
# (T, 3): negative, positive, neutral; frames 2..4 hold the numbers the tests average.
RECOG = np.tile(np.array([0.1, 0.1, 0.8], dtype=np.float32), (T, 1))
RECOG[2:5] = [[0.6, 0.2, 0.2], [0.3, 0.5, 0.2], [0.0, 0.2, 0.8]]


def make_result(recog: np.ndarray | None = RECOG,
                class_names: tuple[str, ...] = ("negative", "positive")) -> AnalysisResult:
    traces = FlowTraces(np.zeros((2, T)), ("brow_x", "brow_y"), np.ones(T, bool), 25.0, "metst")
    curves = Curves(SPOT, recog, class_names if recog is not None else ())
    return AnalysisResult(Path("v.mp4"), traces, curves, [], "test", PostprocessConfig(k_p=1))


def test_mean_probabilities_and_smoothed_peak_by_hand() -> None:
    stats = interval_stats(make_result(), 2, 4)
    # means of the rows at frames 2, 3, 4
    assert stats.mean_probs == pytest.approx({"negative": 0.3, "positive": 0.3, "neutral": 0.4})
    assert list(stats.mean_probs) == ["negative", "positive", "neutral"]
    # k_p = 1: frame t averages t-1 and t → 0.1, 0.5, 0.6; the smoothed peak is one frame
    # after the raw one (0.8 at frame 3)
    assert stats.peak_spot == pytest.approx(0.6)
    assert stats.peak_spot_frame == 4


def test_a_single_frame_interval() -> None:
    stats = interval_stats(make_result(), 3, 3)
    assert stats.mean_probs == pytest.approx({"negative": 0.3, "positive": 0.5, "neutral": 0.2})
    assert (stats.peak_spot, stats.peak_spot_frame) == (pytest.approx(0.5), 3)


def test_without_recognition_only_the_spot_peak() -> None:
    stats = interval_stats(make_result(recog=None), 1, 3)
    assert stats.mean_probs == {}
    assert (stats.peak_spot, stats.peak_spot_frame) == (pytest.approx(0.5), 3)


def test_column_names_listing_neutral_are_kept() -> None:
    result = make_result(class_names=("negative", "positive", "calm"))
    assert list(interval_stats(result, 2, 4).mean_probs) == ["negative", "positive", "calm"]
    assert recog_column_names(("a",), 3) == ["class 0", "class 1", "class 2"]
    assert recog_column_names(("a", "b"), 3, neutral_index=0) == ["neutral", "a", "b"]


def test_interval_past_the_curve_end_is_clipped() -> None:
    stats = interval_stats(make_result(), 8, 40)
    assert stats.mean_probs == pytest.approx({"negative": 0.1, "positive": 0.1, "neutral": 0.8})
    assert stats.peak_spot_frame in (8, 9)


@pytest.mark.parametrize(("onset", "offset", "message"),
                         [(5, 4, "onset_frame <= offset_frame"), (-1, 3, "0 <= onset"),
                          (10, 12, "past the curves' last frame 9")])
def test_bad_intervals_raise_a_clear_error(onset: int, offset: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        interval_stats(make_result(), onset, offset)


@pytest.fixture(scope="module")
def tiny_tsfmicro(tmp_path_factory: pytest.TempPathFactory):
    import torch

    from core.models.checkpoint import save_checkpoint
    from core.models.tsfmicro import TsfMicro, TsfMicroConfig

    torch.manual_seed(0)
    config = TsfMicroConfig(image_size=32, widths=(8, 16, 16, 32), depths=(1, 1, 1, 1),
                            heads=(1, 2, 2, 4), spatial_heads=4, head_width=32, dropout=0.0)
    model = TsfMicro.from_config(config).eval()
    path = tmp_path_factory.mktemp("tsf") / "tsf.pt"
    save_checkpoint(path, model, model_name="tsfmicro", class_names=list(config.class_names),
                    fps=24.0, roi_set=None, feature_params={}, training_summary={})
    return model, path


def test_tsfmicro_opinion_matches_metst_recognize(tiny_tsfmicro, sample_video_path: Path) -> None:
    from training.cli_recognize import recognize_interval

    model, checkpoint = tiny_tsfmicro
    with open_source(sample_video_path) as source:
        probabilities = tsfmicro_probabilities(model, source, 100, 106)
        onset_crop, apex_crop = onset_apex_crops(source, 100, 106, 32)
    assert onset_crop.shape == apex_crop.shape == (32, 32, 3)
    assert sum(probabilities.values()) == pytest.approx(1.0, abs=1e-5)
    cli = recognize_interval(sample_video_path, 100, 106, checkpoint)
    assert probabilities == pytest.approx(cli, abs=1e-6)


def test_tsfmicro_without_a_face_names_the_video(tiny_tsfmicro, no_face_path: Path) -> None:
    model, _ = tiny_tsfmicro
    with open_source(no_face_path) as source, pytest.raises(ValueError,
                                                            match="no_face.mp4.*onset frame 10"):
        tsfmicro_probabilities(model, source, 10, 12)

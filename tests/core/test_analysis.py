"""analyze(): real video → curves and intervals; results persist; a new threshold reuses curves."""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from core.analysis import (
    ResultError,
    analyze,
    load_result,
    reinterpret,
    result_source,
    save_result,
)
from core.curve_models import FlowSpotterModel, load_curve_model
from core.flow import FlowConfig
from core.intervals_csv import INTERVAL_COLUMNS
from core.postprocess import PostprocessConfig
from core.progress import Cancelled, CancelToken
from core.store import FeatureStore
from core.video import same_content, source_identity


@pytest.fixture(scope="module")
def sample_result(sample_video_path: Path, tmp_path_factory: pytest.TempPathFactory):
    store = FeatureStore(tmp_path_factory.mktemp("store") / "features.h5")
    reports = []
    result = analyze(sample_video_path, FlowSpotterModel(), store=store,
                     flow_config=FlowConfig(roi_set="metst"), workers=2,
                     progress=reports.append)
    return result, store, reports


def test_flow_spotter_analysis_of_the_sample(sample_result) -> None:
    result, store, reports = sample_result
    assert result.curves.spot.shape == (472,) and result.curves.spot.dtype == np.float32
    assert 0.0 <= result.curves.spot.min() and result.curves.spot.max() <= 1.0
    assert result.curves.recog is None
    assert result.traces.values.shape == (10, 472)
    assert {r.stage for r in reports} == {"flow", "model"}
    assert result.postprocess.k_p == PostprocessConfig().resolve_k_p(result.fps)
    for interval in result.intervals:
        assert 0 <= interval.onset_frame <= interval.apex_frame <= interval.offset_frame < 472
    assert len(store.keys()) == 1


def test_second_analysis_reuses_the_store(sample_result, sample_video_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    _, store, _ = sample_result
    import core.analysis

    def no_extraction(*args, **kwargs):
        raise AssertionError("extraction ran although the store had the features")

    monkeypatch.setattr(core.analysis, "extract_flow", no_extraction)
    again = analyze(sample_video_path, FlowSpotterModel(), store=store,
                    flow_config=FlowConfig(roi_set="metst"))
    assert again.traces.n_frames == 472


def test_threshold_change_reinterprets_without_the_model(sample_result) -> None:
    result, _, _ = sample_result
    strict = reinterpret(result, replace(result.postprocess, p=0.99))
    loose = reinterpret(result, replace(result.postprocess, p=0.0))
    assert len(strict.intervals) <= len(result.intervals) <= len(loose.intervals)
    assert len(loose.intervals) > len(strict.intervals)
    assert strict.curves is result.curves


def test_saved_result_round_trips(sample_result, tmp_path: Path) -> None:
    result, _, _ = sample_result
    folder = save_result(result, tmp_path / "WolfgangLanger_Pexels")
    loaded = load_result(folder)
    np.testing.assert_array_equal(loaded.curves.spot, result.curves.spot)
    np.testing.assert_array_equal(loaded.traces.values, result.traces.values)
    assert loaded.intervals == result.intervals
    assert loaded.model_name == "flow" and loaded.postprocess == result.postprocess
    with open(folder / "intervals.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(result.intervals)
    for row, interval in zip(rows, result.intervals, strict=True):
        assert int(row["apex_frame"]) == interval.apex_frame
        assert float(row["apex_s"]) == pytest.approx(interval.apex_frame / result.fps, abs=1e-3)
        assert row["source"] == "model" and row["status"] == "proposed"


def test_a_saved_result_records_which_file_it_was_made_from(sample_result, tmp_path: Path
                                                           ) -> None:
    result, _, _ = sample_result
    folder = save_result(result, tmp_path / "with_source")
    assert same_content(result_source(folder), source_identity(result.video))
    gone = replace(result, video=tmp_path / "deleted.mp4")
    assert result_source(save_result(gone, tmp_path / "without_source")) is None


def test_unreadable_result_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "curves.h5").write_text("garbage")
    with pytest.raises(ResultError, match="curves.h5"):
        load_result(tmp_path)
    with pytest.raises(ResultError, match="curves.h5"):
        result_source(tmp_path)


def test_cancel_stops_analysis(sample_video_path: Path) -> None:
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        analyze(sample_video_path, FlowSpotterModel(), cancel=token)


def test_a_missing_checkpoint_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="nope.pt"):
        load_curve_model(tmp_path / "nope.pt")


def test_csv_header_is_the_documented_one(sample_result, tmp_path: Path) -> None:
    result, _, _ = sample_result
    save_result(result, tmp_path)
    header = (tmp_path / "intervals.csv").read_text().splitlines()[0]
    assert header.split(",") == list(INTERVAL_COLUMNS)


def _tiny_metst_checkpoint(path: Path, roi_set: str, in_channels: int, k_p: int | None = 5):
    from core.models.checkpoint import save_checkpoint
    from core.models.metst import MeTst, MeTstConfig

    config = MeTstConfig(in_channels=in_channels, d_model=16, n_layers=1, d_state=4)
    save_checkpoint(path, MeTst.from_config(config), model_name="metst",
                    class_names=list(config.class_names), fps=24.0, roi_set=roi_set,
                    feature_params={}, training_summary={"k_p": k_p} if k_p else {})
    return config


def test_checkpoint_model_gives_emotion_curves_and_labelled_intervals(
        sample_result, tmp_path: Path) -> None:
    result, store, _ = sample_result
    config = _tiny_metst_checkpoint(tmp_path / "tiny.pt", "metst", 10)
    model = load_curve_model(tmp_path / "tiny.pt")
    assert model.roi_set == "metst" and model.k_p == 5
    analysed = analyze(result.video, model, store=store,
                       postprocess=PostprocessConfig(p=0.0, synergy=False))
    recog = analysed.curves.recog
    assert recog is not None and recog.shape == (472, config.n_classes)
    np.testing.assert_allclose(recog.sum(axis=1), 1.0, atol=1e-5)
    assert analysed.curves.class_names[-1] == "neutral"
    assert analysed.postprocess.k_p == 5, "k_p comes from the checkpoint's training set"
    assert analysed.intervals, "p=0 must give intervals"
    assert all(i.emotion in config.class_names[:-1] for i in analysed.intervals)


def test_checkpoint_for_another_roi_set_is_refused(sample_result, tmp_path: Path) -> None:
    result, store, _ = sample_result
    _tiny_metst_checkpoint(tmp_path / "plus.pt", "metst_plus", 36)
    model = load_curve_model(tmp_path / "plus.pt")
    with pytest.raises(ValueError, match="metst_plus"):
        analyze(result.video, model, store=store, flow_config=FlowConfig(roi_set="metst"))

"""ROI flow extraction: alignment cancels head motion, local motion shows in the right ROIs."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from core.face import FaceTracker, NoFaceError
from core.flow import (
    FlowConfig,
    extract_flow,
    hann_weights,
    preview_config,
    top_magnitude_mean,
    window_length,
)
from core.progress import Cancelled, CancelToken
from core.rois import load_roi_set
from core.video import FrameSource, open_source
from resources import SAMPLE_VIDEO

FPS = 30.0
N_FRAMES = 64
EVENT_FRAMES = range(30, 42)      # the synthetic mouth movement: onset 30, apex 36, offset 41


def _base_frame() -> np.ndarray:
    capture = cv2.VideoCapture(str(SAMPLE_VIDEO))
    ok, frame = capture.read()
    capture.release()
    assert ok
    return frame


def _profile(frame_idx: int) -> float:
    """0 → 1 → 0 over EVENT_FRAMES (a smooth onset-apex-offset profile)."""
    if frame_idx not in EVENT_FRAMES:
        return 0.0
    phase = (frame_idx - EVENT_FRAMES.start) / (len(EVENT_FRAMES) - 1)
    return float(np.sin(np.pi * phase) ** 2)


def _open(folder: Path) -> FrameSource:
    return open_source(folder, fps=FPS)


def _write_folder(folder: Path, frames: list[np.ndarray]) -> Path:
    folder.mkdir()
    for i, frame in enumerate(frames):
        cv2.imwrite(str(folder / f"frame_{i:04d}.png"), frame)
    return folder


@pytest.fixture(scope="module")
def mouth_landmarks() -> np.ndarray:
    observation = FaceTracker().update(cv2.cvtColor(_base_frame(), cv2.COLOR_BGR2GRAY))
    assert observation is not None
    return observation.landmarks


def _channels(traces, word: str) -> np.ndarray:
    rows = [i for i, name in enumerate(traces.channel_names) if word in name]
    assert rows, f"no channel named like {word!r} in {traces.channel_names}"
    return traces.values[rows]


@pytest.fixture(scope="module")
def shifted_face(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The whole frame translated by up to (3, −2) px, smoothly, as a head movement would."""
    base = _base_frame()
    frames = []
    for i in range(N_FRAMES):
        s = np.sin(np.pi * i / N_FRAMES) ** 2
        shift = np.float32([[1, 0, 3.0 * s], [0, 1, -2.0 * s]])
        frames.append(cv2.warpAffine(base, shift, base.shape[1::-1],
                                     borderMode=cv2.BORDER_REFLECT))
    return _write_folder(tmp_path_factory.mktemp("shift") / "shifted", frames)


@pytest.fixture(scope="module")
def mouth_warp(tmp_path_factory: pytest.TempPathFactory, mouth_landmarks: np.ndarray) -> Path:
    """Only the mouth moves: lip corners pulled up by up to 2.5 px with a Gaussian envelope."""
    base = _base_frame()
    height, width = base.shape[:2]
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    mouth = mouth_landmarks[48:68]
    centre = mouth.mean(axis=0)
    sigma = float(np.ptp(mouth[:, 0])) / 2.5
    envelope = np.exp(-((xs - centre[0]) ** 2 + (ys - centre[1]) ** 2) / (2 * sigma**2))
    frames = []
    for i in range(N_FRAMES):
        dy = 2.5 * _profile(i) * envelope                      # content moves up by dy
        frames.append(cv2.remap(base, xs, ys + dy, cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_REFLECT))
    return _write_folder(tmp_path_factory.mktemp("mouth") / "mouth", frames)


def test_whole_face_shift_is_aligned_away(shifted_face: Path) -> None:
    traces = extract_flow(_open(shifted_face), FlowConfig()).traces
    assert traces.values.shape == (36, N_FRAMES)
    assert traces.valid.mean() > 0.95
    assert np.abs(traces.values).max() < 0.35, "global motion leaked into the ROI traces"


def test_mouth_movement_moves_mouth_channels_not_brows(mouth_warp: Path) -> None:
    traces = extract_flow(_open(mouth_warp), FlowConfig()).traces
    mouth = np.abs(_channels(traces, "mouth")).max(axis=0)
    brows = np.abs(_channels(traces, "brow")).max(axis=0)
    assert mouth.max() > 0.8, "the mouth movement is missing from the mouth channels"
    assert brows.max() < 0.25 * mouth.max(), "the brows moved with the mouth"
    assert abs(int(np.argmax(mouth)) - 36) <= 3, "the mouth peak is not at the apex frame"
    quiet = np.r_[0:EVENT_FRAMES.start - 2, EVENT_FRAMES.stop + 2:N_FRAMES]
    assert mouth[quiet].max() < 0.3 * mouth.max()


def test_parallel_chunks_match_a_single_process(mouth_warp: Path) -> None:
    one = extract_flow(_open(mouth_warp), FlowConfig(), workers=1).traces
    two = extract_flow(_open(mouth_warp), FlowConfig(), workers=2).traces
    np.testing.assert_array_equal(one.valid, two.valid)
    np.testing.assert_allclose(one.values, two.values, atol=0.05)


def test_five_roi_set_gives_ten_channels(mouth_warp: Path) -> None:
    traces = extract_flow(_open(mouth_warp), FlowConfig(roi_set="metst")).traces
    assert traces.values.shape == (10, N_FRAMES)
    assert traces.channel_names == load_roi_set("metst").channel_names
    assert traces.params["roi_set"] == "metst" and traces.fps == FPS


def test_preview_mode_sees_the_mouth_too(mouth_warp: Path) -> None:
    traces = extract_flow(_open(mouth_warp), preview_config()).traces
    mouth = np.abs(_channels(traces, "mouth")).max(axis=0)
    assert abs(int(np.argmax(mouth)) - 36) <= 4


def test_progress_is_reported_and_cancel_stops(mouth_warp: Path) -> None:
    reports = []
    extract_flow(_open(mouth_warp), FlowConfig(), progress=reports.append)
    assert reports[-1].done == reports[-1].total and reports[-1].stage == "flow"
    assert [r.done for r in reports] == sorted(r.done for r in reports)

    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        extract_flow(_open(mouth_warp), FlowConfig(), cancel=token)


def test_face_leaving_the_frame_gives_a_validity_mask(face_noface_path: Path) -> None:
    traces = extract_flow(face_noface_path, FlowConfig(roi_set="metst"), workers=2).traces
    assert traces.valid.any() and not traces.valid.all()
    assert np.all(traces.values[:, ~traces.valid] == 0)


def test_no_face_video_raises_clear_error(no_face_path: Path) -> None:
    with pytest.raises(NoFaceError, match="no_face.mp4"):
        extract_flow(no_face_path, FlowConfig(roi_set="metst"))


def test_window_length_and_weights() -> None:
    assert window_length(30.0, 50 / 30) == 50
    assert window_length(23.976, 50 / 30) % 2 == 0
    k = 50
    w = hann_weights(k)
    assert w[0] == 0.0
    np.testing.assert_allclose(w[: k // 2] + w[k // 2:], 1.0, atol=1e-6)


def test_top_magnitude_mean_takes_the_largest_vectors() -> None:
    vectors = np.zeros((10, 2), dtype=np.float32)
    vectors[:3] = [[3.0, 0.0], [0.0, -3.0], [3.0, -3.0]]
    np.testing.assert_allclose(top_magnitude_mean(vectors, 0.3), [2.0, -2.0])
    np.testing.assert_allclose(top_magnitude_mean(np.zeros((0, 2), np.float32), 0.3), [0, 0])

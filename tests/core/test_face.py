"""Face tracking on real videos: landmarks on the sample, a validity mask, a clear no-face error."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from core.face import FaceTracker, NoFaceError, landmark_model_path, track_video
from core.video import open_source


@pytest.fixture(scope="module")
def sample_track(sample_video_path: Path):
    return track_video(open_source(sample_video_path))


def test_landmark_model_is_found_without_importing_its_package() -> None:
    import sys

    path = landmark_model_path()
    assert path.name == "shape_predictor_68_face_landmarks.dat" and path.stat().st_size > 1e6
    assert "face_recognition_models" not in sys.modules


def test_landmarks_on_nearly_every_frame_of_the_sample(sample_track) -> None:
    assert sample_track.landmarks.shape == (472, 68, 2)
    assert sample_track.valid_fraction >= 0.95
    assert np.isfinite(sample_track.landmarks[sample_track.valid]).all()
    assert np.isnan(sample_track.landmarks[~sample_track.valid]).all()


def test_tracked_landmarks_agree_with_a_fresh_detection(sample_track,
                                                        sample_video_path: Path) -> None:
    source = open_source(sample_video_path)
    for frame_idx in (5, 150, 311, 470):
        fresh = FaceTracker().update(source.read_gray(frame_idx))
        assert fresh is not None
        tracked = sample_track.landmarks[frame_idx]
        inter_ocular = np.linalg.norm(fresh.landmarks[42] - fresh.landmarks[39])
        error = np.linalg.norm(tracked - fresh.landmarks, axis=1).mean()
        assert error < 0.15 * inter_ocular, f"frame {frame_idx}: landmarks drifted by {error} px"


def test_face_leaving_the_frame_turns_validity_off(face_noface_path: Path) -> None:
    source = open_source(face_noface_path)
    track = track_video(source)
    # Ground truth: a full-frame detection on every 4th frame.
    truth = {i: FaceTracker().update(source.read_gray(i)) is not None
             for i in range(0, source.n_frames, 4)}
    assert any(truth.values()) and not all(truth.values()), "the clip should lose its face"
    agreement = np.mean([track.valid[i] == seen for i, seen in truth.items()])
    assert agreement >= 0.9
    assert track.valid.any() and not track.valid.all()


def test_no_face_raises_a_clear_error(no_face_path: Path) -> None:
    with pytest.raises(NoFaceError, match=r"no_face\.mp4: no face found"):
        track_video(open_source(no_face_path))


def test_small_faces_are_upsampled(sample_video_path: Path) -> None:
    frame = open_source(sample_video_path).read_gray(100)
    small = cv2.resize(frame, None, fx=1 / 3, fy=1 / 3, interpolation=cv2.INTER_AREA)
    observation = FaceTracker().update(small)
    assert observation is not None
    full = FaceTracker().update(frame)
    assert full is not None
    error = np.linalg.norm(observation.landmarks * 3 - full.landmarks, axis=1).mean()
    assert error < 0.1 * np.linalg.norm(full.landmarks[42] - full.landmarks[39]) * 3


def test_color_frames_are_refused_with_a_clear_error() -> None:
    with pytest.raises(ValueError, match="grayscale"):
        FaceTracker().update(np.zeros((10, 10, 3), np.uint8))

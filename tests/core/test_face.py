"""Face tracking on real footage: landmarks stay on the face, validity follows the face."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from core.face import (
    FaceTrack,
    FaceTracker,
    FaceTrackerConfig,
    NoFaceError,
    landmark_model_path,
    track_video,
)
from core.progress import Cancelled, CancelToken, Progress
from core.video import open_source

# tests/data/face_noface.mov: the face is on screen in frames 0-71; frame 72 is black and an
# animated title follows to the end (checked by eye and by running dlib's detector on every
# frame: it finds the face on each of 0-71 and nothing on 72-168).
NOFACE_LAST_FACE_FRAME = 71


def _inter_ocular(landmarks: np.ndarray) -> float:
    return float(np.linalg.norm(landmarks[36:42].mean(axis=0) - landmarks[42:48].mean(axis=0)))


def _mean_error(landmarks: np.ndarray, reference: np.ndarray) -> float:
    """Mean landmark distance in inter-ocular distances of ``reference``."""
    return float(np.linalg.norm(landmarks - reference, axis=1).mean()) / _inter_ocular(reference)


@pytest.fixture(scope="module")
def sample_gray(sample_video_path: Path) -> list[np.ndarray]:
    """All 472 frames of the sample, (360, 640) uint8 grey."""
    source = open_source(sample_video_path)
    return [gray for _, gray in source.iter_frames(gray=True)]


@pytest.fixture(scope="module")
def sample_track(sample_video_path: Path) -> FaceTrack:
    return track_video(open_source(sample_video_path))


def test_landmark_model_is_found_without_importing_its_package() -> None:
    import sys

    path = landmark_model_path()
    assert path.name == "shape_predictor_68_face_landmarks.dat"
    assert path.stat().st_size > 50e6
    assert "face_recognition_models" not in sys.modules


def test_sample_has_landmarks_on_nearly_every_frame(sample_track: FaceTrack) -> None:
    assert sample_track.landmarks.shape == (472, 68, 2)
    assert sample_track.boxes.shape == (472, 4)
    assert sample_track.valid_fraction >= 0.95
    assert np.isfinite(sample_track.landmarks[sample_track.valid]).all()
    assert np.isnan(sample_track.landmarks[~sample_track.valid]).all()


def test_tracked_landmarks_match_a_fresh_detection(sample_track: FaceTrack,
                                                   sample_gray: list[np.ndarray]) -> None:
    for frame_idx in (3, 97, 150, 233, 311, 404, 471):       # never verification frames
        fresh = FaceTracker().update(sample_gray[frame_idx])
        assert fresh is not None and fresh.detected
        error = _mean_error(sample_track.landmarks[frame_idx], fresh.landmarks)
        assert error < 0.08, f"frame {frame_idx}: landmarks drifted by {error:.3f} IOD"


def test_landmarks_lie_on_the_face_box(sample_track: FaceTrack) -> None:
    for box, landmarks in zip(sample_track.boxes[::50], sample_track.landmarks[::50],
                              strict=True):
        centre = landmarks[17:68].mean(axis=0)
        assert box[0] < centre[0] < box[2] and box[1] < centre[1] < box[3]
        assert 0.3 < _inter_ocular(landmarks) / (box[2] - box[0]) < 0.6


def test_validity_turns_off_when_the_scene_cuts_away_from_the_face(face_noface_path: Path,
                                                                   ) -> None:
    track = track_video(open_source(face_noface_path))
    assert track.n_frames == 169
    assert track.valid[:NOFACE_LAST_FACE_FRAME + 1].mean() >= 0.95
    assert not track.valid[NOFACE_LAST_FACE_FRAME + 1:].any(), \
        "landmarks were invented on frames without a face"


def _slide(frame: np.ndarray, dx: int) -> np.ndarray:
    """``frame`` moved ``dx`` px to the right over a flat grey background."""
    out = np.full_like(frame, 90)
    if dx < frame.shape[1]:
        out[:, dx:] = frame[:, :frame.shape[1] - dx]
    return out


def test_face_that_slides_out_and_back_is_invalid_while_gone(sample_gray: list[np.ndarray],
                                                            sample_track: FaceTrack) -> None:
    face_x0 = float(np.nanmin(sample_track.landmarks[:, :, 0]))    # ~280 px
    shifts = [*range(0, 640, 16), *([640] * 15), *range(640, -1, -16), *([0] * 10)]
    tracker = FaceTracker()
    valid = np.array([tracker.update(_slide(sample_gray[i], dx)) is not None
                      for i, dx in enumerate(shifts)])
    shifts_arr = np.array(shifts)
    fully_out = shifts_arr + face_x0 >= 640
    fully_in = shifts_arr <= 40
    assert not valid[fully_out].any(), "landmarks were invented on the empty background"
    back = np.flatnonzero(fully_in)
    back = back[back > len(shifts) // 2]
    assert valid[:3].all() and valid[back].mean() >= 0.8, "the face was not found again"


def test_no_face_raises_an_error_naming_the_file(no_face_path: Path) -> None:
    with pytest.raises(NoFaceError, match=r"no_face\.mp4: no face found in any of the \d+ frames"):
        track_video(no_face_path)
    assert issubclass(NoFaceError, ValueError)


@pytest.mark.parametrize("divisor", [3, 5])
def test_small_faces_are_found_and_tracked(sample_gray: list[np.ndarray], divisor: int) -> None:
    def shrink(gray: np.ndarray) -> np.ndarray:
        return cv2.resize(gray, None, fx=1 / divisor, fy=1 / divisor,
                          interpolation=cv2.INTER_AREA)

    reference = FaceTracker().update(sample_gray[100])
    small = FaceTracker().update(shrink(sample_gray[100]))
    assert reference is not None and small is not None
    assert small.box[2] - small.box[0] < 90                     # the face really is small
    assert _mean_error(small.landmarks * divisor, reference.landmarks) < 0.08
    tracker = FaceTracker()
    found = [tracker.update(shrink(gray)) is not None for gray in sample_gray[100:160]]
    assert np.mean(found) >= 0.95


def test_reset_starts_over_with_a_detection(sample_gray: list[np.ndarray]) -> None:
    tracker = FaceTracker()
    first, second = tracker.update(sample_gray[0]), tracker.update(sample_gray[1])
    assert first is not None and first.detected
    assert second is not None and not second.detected          # tracked, not re-detected
    tracker.reset()
    again = tracker.update(sample_gray[2])
    assert again is not None and again.detected


def test_range_progress_and_cancel(sample_video_path: Path) -> None:
    source = open_source(sample_video_path)
    reports: list[Progress] = []
    track = track_video(source, start=100, stop=140, progress=reports.append)
    assert track.n_frames == 40 and track.start_frame == 100 and track.valid.all()
    assert reports[-1].stage == "faces" and reports[-1].done == reports[-1].total == 40
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        track_video(source, start=0, stop=40, cancel=token)


def test_bad_frames_and_configs_are_refused() -> None:
    with pytest.raises(ValueError, match="grayscale"):
        FaceTracker().update(np.zeros((10, 10, 3), np.uint8))
    with pytest.raises(ValueError, match="grayscale"):
        FaceTracker().update(np.zeros((10, 10), np.float32))
    with pytest.raises(ValueError, match="redetect_every"):
        FaceTrackerConfig(redetect_every=0)
    with pytest.raises(ValueError, match="unknown FaceTrackerConfig keys"):
        FaceTrackerConfig.from_dict({"redetect_every": 5, "verify_evry": 3})
    config = FaceTrackerConfig(redetect_every=7, min_face_px=60)
    assert FaceTrackerConfig.from_dict(config.to_dict()) == config

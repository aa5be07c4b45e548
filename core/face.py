"""Face detection and 68-point landmark tracking with dlib.

Detect, then track: each frame's landmarks come from dlib's shape predictor on the box carried
over from the previous frame (re-derived from the landmarks every frame). A detection near the last
box verifies the track every ``verify_every`` frames and whenever the landmarks jump; if neither a
local nor a full-frame detection finds the face, the frame has no face (the tracker never keeps
inventing landmarks on background). Faces smaller than ``min_face_px`` are upsampled for detection
and landmark prediction. The dlib models load once per process, on first use.

The 68-point model ships in the PyPI package ``face-recognition-models``; its file is located
without importing that package (its ``__init__`` needs ``pkg_resources``).
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import asdict, dataclass, fields
from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from core.progress import CancelToken, ProgressCallback, report

__all__ = ["NoFaceError", "landmark_model_path", "FaceTrackerConfig", "FaceObservation",
           "FaceTracker", "FaceTrack", "track_video"]

_MODEL_FILE = "shape_predictor_68_face_landmarks.dat"


class NoFaceError(ValueError):
    """No frame of a video shows a face; the message names the file."""


def landmark_model_path() -> Path:
    """Path of dlib's 68-point landmark model inside the ``face-recognition-models`` package."""
    spec = importlib.util.find_spec("face_recognition_models")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        candidate = Path(location) / "models" / _MODEL_FILE
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"dlib's landmark model {_MODEL_FILE} was not found: install the "
                            "package face-recognition-models")


@lru_cache(maxsize=1)
def _dlib_models() -> tuple[Any, Any]:
    import dlib

    return dlib.get_frontal_face_detector(), dlib.shape_predictor(str(landmark_model_path()))


@dataclass(frozen=True)
class FaceTrackerConfig:
    """Tracking policy.

    Attributes:
        verify_every: frames between detections that confirm the tracked face is still there.
        retry_every: while no face is visible, frames between full-frame detection attempts.
        max_jump: relative change of the face box (centre shift or size, as a fraction of its
            size) between frames that triggers an immediate verification.
        min_face_px: faces narrower than this are upsampled for detection and landmarks.
        detect_max_side: full frames are downscaled to this long side for detection.
        search_margin: the local search region around the last box, as a fraction of its size.
    """

    verify_every: int = 6
    retry_every: int = 3
    max_jump: float = 0.2
    min_face_px: int = 80
    detect_max_side: int = 640
    search_margin: float = 0.6

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaceTrackerConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class FaceObservation:
    """One frame's face: box (4,) float32 x0, y0, x1, y1 and landmarks (68, 2) float32 (x, y)."""

    box: np.ndarray
    landmarks: np.ndarray


def _to_rect(box: np.ndarray) -> Any:
    import dlib

    x0, y0, x1, y1 = (int(round(v)) for v in box)
    return dlib.rectangle(x0, y0, x1, y1)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two x0, y0, x1, y1 boxes."""
    width = max(0.0, float(min(a[2], b[2]) - max(a[0], b[0])))
    height = max(0.0, float(min(a[3], b[3]) - max(a[1], b[1])))
    inter = width * height
    union = float((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1])) - inter
    return inter / union if union > 0 else 0.0


def _rect_to_box(rect: Any, scale: float = 1.0, dx: float = 0.0, dy: float = 0.0) -> np.ndarray:
    return np.array([rect.left() / scale + dx, rect.top() / scale + dy,
                     rect.right() / scale + dx, rect.bottom() / scale + dy], dtype=np.float32)


class FaceTracker:
    """Sequential per-frame face tracker; feed frames in order to :meth:`update`."""

    def __init__(self, config: FaceTrackerConfig | None = None) -> None:
        self.config = config or FaceTrackerConfig()
        self._detector, self._predictor = _dlib_models()
        self.reset()

    def reset(self) -> None:
        """Forget the current track (the next frame runs a full detection)."""
        self._box: np.ndarray | None = None
        self._box_from_landmarks: np.ndarray | None = None   # detector box in landmark-box units
        self._since_verified = 0
        self._lost_frames = 0

    # -- public --------------------------------------------------------------------------------

    def update(self, gray: np.ndarray) -> FaceObservation | None:
        """Track one (H, W) uint8 frame; None when no face is visible in it."""
        if gray.ndim != 2:
            raise ValueError(f"expected an (H, W) grayscale frame, got shape {gray.shape}")
        if self._box is None:
            # While lost, a full-frame detection runs every few frames, not on every frame.
            self._lost_frames += 1
            if self._lost_frames % self.config.retry_every != 1 and self.config.retry_every > 1:
                return None
            return self._start(gray, self._detect(gray))
        landmarks = self._predict(gray, self._box)
        box = self._box_of(landmarks)
        self._since_verified += 1
        if (self._since_verified >= self.config.verify_every or self._jumped(box)
                or not self._inside(landmarks, gray.shape)):
            detection = self._detect(gray, around=self._box)
            if detection is None:
                detection = self._detect(gray)
            if detection is None:
                self.reset()          # the face left: retry on the next frame, then every few
                return None
            # Re-anchor the box on the detector's (no drift); this frame keeps its landmarks
            # unless the track had clearly slipped, which costs a second prediction.
            if _iou(detection, box) < 0.6:
                return self._start(gray, detection)
            self._anchor(detection, landmarks)
            return FaceObservation(box, landmarks)
        self._box = box
        return FaceObservation(box, landmarks)

    # -- tracking ------------------------------------------------------------------------------

    def _start(self, gray: np.ndarray, detection: np.ndarray | None) -> FaceObservation | None:
        if detection is None:
            self._box = None          # lost: keep counting frames for the retry schedule
            return None
        landmarks = self._predict(gray, detection)
        self._anchor(detection, landmarks)
        return FaceObservation(detection.copy(), landmarks)

    def _anchor(self, detection: np.ndarray, landmarks: np.ndarray) -> None:
        """Track from ``detection``, remembering where it sits relative to the landmarks."""
        lx0, ly0 = landmarks.min(axis=0)
        lx1, ly1 = landmarks.max(axis=0)
        size = np.array([lx1 - lx0, ly1 - ly0, lx1 - lx0, ly1 - ly0], dtype=np.float32)
        self._box_from_landmarks = (detection - np.array([lx0, ly0, lx0, ly0])) / np.maximum(
            size, 1.0)
        self._box = detection
        self._since_verified = 0
        self._lost_frames = 0

    def _box_of(self, landmarks: np.ndarray) -> np.ndarray:
        """The detector-style box for these landmarks (same relation as at the last detection)."""
        lx0, ly0 = landmarks.min(axis=0)
        lx1, ly1 = landmarks.max(axis=0)
        size = np.array([lx1 - lx0, ly1 - ly0, lx1 - lx0, ly1 - ly0], dtype=np.float32)
        return (np.array([lx0, ly0, lx0, ly0]) + self._box_from_landmarks * size).astype(
            np.float32)

    def _jumped(self, box: np.ndarray) -> bool:
        old = self._box
        size = max(float(old[2] - old[0]), 1.0)
        centre_shift = np.abs((box[:2] + box[2:]) - (old[:2] + old[2:])).max() / 2
        size_change = abs(float(box[2] - box[0]) - size)
        return max(centre_shift, size_change) > self.config.max_jump * size

    @staticmethod
    def _inside(landmarks: np.ndarray, shape: tuple[int, ...]) -> bool:
        height, width = shape[:2]
        inside = ((landmarks[:, 0] >= 0) & (landmarks[:, 0] < width)
                  & (landmarks[:, 1] >= 0) & (landmarks[:, 1] < height))
        return bool(inside.mean() > 0.8)

    # -- dlib calls ----------------------------------------------------------------------------

    def _detect(self, gray: np.ndarray, around: np.ndarray | None = None) -> np.ndarray | None:
        """Largest face box in the frame (or near ``around``), in frame pixels; None if none."""
        dx = dy = 0
        image = gray
        if around is not None:
            margin = self.config.search_margin * float(around[2] - around[0])
            x0, y0 = int(max(0, around[0] - margin)), int(max(0, around[1] - margin))
            x1 = int(min(gray.shape[1], around[2] + margin))
            y1 = int(min(gray.shape[0], around[3] + margin))
            if x1 - x0 < 16 or y1 - y0 < 16:
                return None
            image, dx, dy = gray[y0:y1, x0:x1], x0, y0
        scale = min(1.0, self.config.detect_max_side / max(image.shape))
        if around is not None:   # bring the expected face to ~1.5 × the minimum size
            face_px = float(around[2] - around[0])
            scale = min(1.0, 1.5 * self.config.min_face_px / max(face_px, 1.0)) if face_px > 0 \
                else scale
        small = image if scale == 1.0 else cv2.resize(image, None, fx=scale, fy=scale,
                                                      interpolation=cv2.INTER_AREA)
        rects = self._detector(small, 0)
        if len(rects) == 0 and max(small.shape) <= 1200:
            rects = self._detector(small, 1)      # small faces: one upsampling step
        if len(rects) == 0:
            return None
        best = max(rects, key=lambda r: r.width() * r.height())
        return _rect_to_box(best, scale, dx, dy)

    def _predict(self, gray: np.ndarray, box: np.ndarray) -> np.ndarray:
        """68 landmarks (68, 2) float32 inside ``box``; small faces are upsampled first."""
        width = float(box[2] - box[0])
        if width >= self.config.min_face_px:
            shape = self._predictor(gray, _to_rect(box))
            return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)
        factor = 2.0 * self.config.min_face_px / max(width, 1.0)
        margin = 0.3 * width
        x0, y0 = int(max(0, box[0] - margin)), int(max(0, box[1] - margin))
        x1 = int(min(gray.shape[1], box[2] + margin))
        y1 = int(min(gray.shape[0], box[3] + margin))
        crop = cv2.resize(gray[y0:y1, x0:x1], None, fx=factor, fy=factor,
                          interpolation=cv2.INTER_CUBIC)
        local = (box - np.array([x0, y0, x0, y0], dtype=np.float32)) * factor
        shape = self._predictor(crop, _to_rect(local))
        points = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)
        return points / factor + np.array([x0, y0], dtype=np.float32)


@dataclass
class FaceTrack:
    """Per-frame faces of a video: boxes (T, 4), landmarks (T, 68, 2) float32 (NaN where no
    face) and valid (T,) bool."""

    boxes: np.ndarray
    landmarks: np.ndarray
    valid: np.ndarray

    @property
    def valid_fraction(self) -> float:
        return float(self.valid.mean()) if self.valid.size else 0.0


def track_video(source: Any, config: FaceTrackerConfig | None = None, start: int = 0,
                stop: int | None = None, progress: ProgressCallback | None = None,
                cancel: CancelToken | None = None) -> FaceTrack:
    """Track the face through ``source`` frames [start, stop) (a ``core.video.FrameSource``).

    Raises:
        NoFaceError: no frame in the range has a face.
    """
    stop = source.n_frames if stop is None else stop
    n = stop - start
    boxes = np.full((n, 4), np.nan, dtype=np.float32)
    landmarks = np.full((n, 68, 2), np.nan, dtype=np.float32)
    valid = np.zeros(n, dtype=bool)
    tracker = FaceTracker(config)
    for frame_idx, gray in source.iter_frames(start, stop, gray=True):
        if cancel is not None:
            cancel.raise_if_cancelled()
        observation = tracker.update(gray)
        i = frame_idx - start
        if observation is not None:
            boxes[i], landmarks[i], valid[i] = observation.box, observation.landmarks, True
        if i % 16 == 0:
            report(progress, "faces", i, n)
    report(progress, "faces", n, n)
    if not valid.any():
        raise NoFaceError(f"{os.fspath(source.path)}: no face found in any of the {n} frames")
    return FaceTrack(boxes, landmarks, valid)

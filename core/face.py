"""Face detection and 68-point landmark tracking with dlib: detect once, then track.

A :class:`FaceTracker` takes grey frames in order. With no face yet it searches the whole frame
with dlib's HOG frontal detector, coarse to fine (first on a small copy of the frame, then at full
size, then upsampled so faces down to ``search_min_face_px`` reach the detector's 80-px window).
Once a face is found, each frame's landmarks come from dlib's shape predictor run on the box of
the previous frame's landmarks: a square placed and sized from the landmarks the way the detector
places its boxes, so tracking costs one prediction (~1 ms) per frame.

The track is *verified* by a detection in a small region around the box (the region resized so
the face is ~100 px wide: fast for large faces, upsampled for small ones) every
``redetect_every`` frames, and at once when something looks wrong: the box jumps or changes size,
inner-face landmarks leave the image, the landmark shape is implausible, or the pixels inside the
box change abruptly (a scene cut). If the region detection fails, the whole frame is searched; if
that fails too the face is lost: the frame has no face (the tracker never keeps inventing
landmarks on background); the whole frame is searched again on the next frame, then every
``lost_search_every`` frames.
Faces narrower than ``min_face_px`` are upsampled for landmark prediction.

dlib is imported and its models are loaded on first use, once per process. The 68-point model
ships in the PyPI package ``face-recognition-models``; its file is located without importing that
package (its ``__init__`` needs ``pkg_resources``).

Cost on the bundled 640×360 sample (one core, CPU time): tracking ~1.5 ms per frame amortised,
of which the shape predictor is ~1.2 ms and the region verification (~1.3 ms) every 10th frame
~0.13 ms. A full-frame search takes ~3 ms when the first pass finds the face and ~70 ms when all
passes run and find nothing (640×360 and 960×540 alike).
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from core.config_dict import config_from_dict
from core.progress import CancelToken, ProgressCallback, report

if TYPE_CHECKING:
    from core.video import FrameSource

__all__ = [
    "N_LANDMARKS",
    "NoFaceError",
    "landmark_model_path",
    "FaceTrackerConfig",
    "FaceObservation",
    "FaceTracker",
    "FaceTrack",
    "track_video",
]

N_LANDMARKS = 68
_MODEL_PACKAGE = "face_recognition_models"
_MODEL_FILE = "shape_predictor_68_face_landmarks.dat"

# dlib's frontal detector scans an 80 × 80 window over an image pyramid (5/6 steps): faces
# narrower than this in the image it is given are never found.
_DETECTOR_WINDOW_PX = 80
# Region detections resize the search region so the tracked face is this wide.
_REGION_FACE_PX = 100
# The detector's box relative to its face's landmarks, measured on the sample video: a square of
# side 2.8 × the landmarks' RMS radius, centred 0.13 × that radius above their centroid. Tracking
# derives each frame's box from the landmarks with this relation, so the box does not drift.
_BOX_SIDE_PER_RADIUS = 2.8
_BOX_RAISE_PER_RADIUS = 0.13
# Landmarks that must stay inside the image while tracking (brows, eyes, nose, mouth; not the jaw).
_INNER_FACE = slice(17, 68)
# Side of the thumbnails compared between frames to notice scene cuts.
_THUMB_PX = 16


class NoFaceError(ValueError):
    """No frame of a video shows a face; the message names the file, e.g.
    ``"clip.mp4: no face found in any of the 98 frames"``."""


def landmark_model_path() -> Path:
    """Path of dlib's 68-point landmark model (``shape_predictor_68_face_landmarks.dat``).

    The file ships in the ``face-recognition-models`` package; it is found without importing it.

    Raises:
        FileNotFoundError: the package or its model file is missing.
    """
    spec = importlib.util.find_spec(_MODEL_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        candidate = Path(location) / "models" / _MODEL_FILE
        if candidate.is_file():
            return candidate
    where = ", ".join(locations) if locations else "the package is not installed"
    raise FileNotFoundError(
        f"dlib's landmark model {_MODEL_FILE} was not found ({where}); "
        "install it with: pip install face-recognition-models")


@lru_cache(maxsize=1)
def _dlib_models() -> tuple[Any, Any]:
    """dlib's (frontal face detector, 68-point shape predictor), loaded once per process."""
    import dlib

    return dlib.get_frontal_face_detector(), dlib.shape_predictor(str(landmark_model_path()))


@dataclass(frozen=True)
class FaceTrackerConfig:
    """When the tracker detects, how far it looks, and what makes it distrust the track.

    Attributes:
        redetect_every: frames between detections that verify the tracked face is still there.
        lost_search_every: while no face is visible, frames between full-frame searches.
        min_face_px: faces narrower than this (box side, source pixels) are upsampled for
            landmark prediction.
        search_min_face_px: smallest face a full-frame search looks for; frames are upsampled
            for detection when this is below the detector's 80-px window.
        detect_width_px: the first full-frame pass runs on the frame shrunk to this width (large
            faces are found cheaply; smaller ones by the later passes).
        max_detect_width_px: full-frame passes never upsample a frame beyond this width.
        search_margin: the verification region is the face box grown by this × its side on
            each side.
        max_shift: a box centre moving more than this × the box side in one frame triggers an
            immediate verification.
        max_scale_change: a box side changing by more than this fraction in one frame does too.
        min_appearance_correlation: so does a correlation below this between the 16 × 16
            thumbnails of the box in consecutive frames (a scene cut; a tracked face stays
            above 0.85 on the sample video).
        min_iou: a verifying detection overlapping the tracked box less than this restarts the
            landmarks from the detection.
    """

    redetect_every: int = 10
    lost_search_every: int = 5
    min_face_px: int = 80
    search_min_face_px: int = 40
    detect_width_px: int = 320
    max_detect_width_px: int = 1280
    search_margin: float = 0.3
    max_shift: float = 0.2
    max_scale_change: float = 0.2
    min_appearance_correlation: float = 0.6
    min_iou: float = 0.5

    def __post_init__(self) -> None:
        for name in ("redetect_every", "lost_search_every", "min_face_px", "search_min_face_px",
                     "detect_width_px", "max_detect_width_px"):
            if getattr(self, name) < 1:
                raise ValueError(f"FaceTrackerConfig.{name} must be at least 1, "
                                 f"got {getattr(self, name)}")
        for name in ("search_margin", "max_shift", "max_scale_change"):
            if getattr(self, name) <= 0:
                raise ValueError(f"FaceTrackerConfig.{name} must be positive, "
                                 f"got {getattr(self, name)}")
        for name in ("min_iou", "min_appearance_correlation"):
            if not 0 < getattr(self, name) <= 1:
                raise ValueError(f"FaceTrackerConfig.{name} must lie in (0, 1], "
                                 f"got {getattr(self, name)}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaceTrackerConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise ``ValueError``."""
        return config_from_dict(cls, data)


@dataclass
class FaceObservation:
    """The face in one frame.

    Attributes:
        box: (4,) float32 x0, y0, x1, y1 in source pixels: the detector-style square around
            the landmarks (the next frame is tracked from it).
        landmarks: (68, 2) float32 (x, y) in source pixels, dlib's 68-point (iBUG 300-W) order.
        detected: a detection ran on this frame (a start, restart or verification).
    """

    box: np.ndarray
    landmarks: np.ndarray
    detected: bool = False


# ----------------------------------------------------------------------------------------------
# Geometry helpers (boxes are (4,) float32 x0, y0, x1, y1)


def _box_from_landmarks(landmarks: np.ndarray) -> np.ndarray:
    """(68, 2) landmarks → (4,) float32 detector-style square box around them."""
    centroid = landmarks.mean(axis=0)
    radius = float(np.sqrt(((landmarks - centroid) ** 2).sum(axis=1).mean()))
    half = 0.5 * _BOX_SIDE_PER_RADIUS * radius
    cx, cy = float(centroid[0]), float(centroid[1]) - _BOX_RAISE_PER_RADIUS * radius
    return np.array([cx - half, cy - half, cx + half, cy + half], dtype=np.float32)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two boxes."""
    width = max(0.0, float(min(a[2], b[2]) - max(a[0], b[0])))
    height = max(0.0, float(min(a[3], b[3]) - max(a[1], b[1])))
    inter = width * height
    union = float((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1])) - inter
    return inter / union if union > 0 else 0.0


def _inner_face_inside(landmarks: np.ndarray, shape: tuple[int, ...]) -> bool:
    """Whether every brow, eye, nose and mouth landmark lies inside an image of ``shape``."""
    inner = landmarks[_INNER_FACE]
    height, width = shape[:2]
    return bool((inner.min() >= 0) & (inner[:, 0].max() < width) & (inner[:, 1].max() < height))


def _plausible(landmarks: np.ndarray) -> bool:
    """Cheap sanity check of a landmark shape: eyes apart, nose below them, mouth below the nose.

    "Below" is along the face's own vertical axis (perpendicular to the line between the eyes),
    so rolled heads pass.
    """
    centroid = landmarks.mean(axis=0)
    radius = float(np.sqrt(((landmarks - centroid) ** 2).sum(axis=1).mean()))
    eye_right, eye_left = landmarks[36:42].mean(axis=0), landmarks[42:48].mean(axis=0)
    axis = eye_left - eye_right
    inter_ocular = float(np.hypot(*axis))
    if radius <= 0 or not 0.6 < inter_ocular / radius < 1.8:
        return False
    down = np.array([-axis[1], axis[0]]) / inter_ocular        # perpendicular, pointing down
    eye_mid = (eye_right + eye_left) / 2
    nose = float((landmarks[30] - eye_mid) @ down)
    mouth = float((landmarks[48:68].mean(axis=0) - eye_mid) @ down)
    return 0.2 * inter_ocular < nose < mouth


def _thumbnail(gray: np.ndarray, box: np.ndarray) -> np.ndarray | None:
    """(16, 16) float32 thumbnail of the box's pixels, zero mean and unit norm (all zeros when
    flat); None if the box is off-image."""
    height, width = gray.shape
    x0, y0 = max(0, int(box[0])), max(0, int(box[1]))
    x1, y1 = min(width, int(box[2]) + 1), min(height, int(box[3]) + 1)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    step = max(1, min(x1 - x0, y1 - y0) // (4 * _THUMB_PX))     # subsample large faces first
    thumb = cv2.resize(gray[y0:y1:step, x0:x1:step], (_THUMB_PX, _THUMB_PX),
                       interpolation=cv2.INTER_AREA).astype(np.float32)
    thumb -= thumb.mean()
    norm = float(np.linalg.norm(thumb))
    return thumb / norm if norm > 1e-3 else np.zeros_like(thumb)


def _resize(image: np.ndarray, scale: float) -> np.ndarray:
    """Resize by ``scale`` (area averaging when shrinking, bilinear when enlarging)."""
    if scale == 1.0:
        return image
    interpolation = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
    return cv2.resize(image, None, fx=scale, fy=scale, interpolation=interpolation)


def _search_scales(width: int, config: FaceTrackerConfig) -> list[float]:
    """Full-frame search passes, coarse to fine: scales doubling from the cheap first pass up to
    the one that brings ``search_min_face_px`` faces to the detector's window (capped)."""
    finest = min(_DETECTOR_WINDOW_PX / config.search_min_face_px,
                 max(1.0, config.max_detect_width_px / width))
    scale = min(1.0, config.detect_width_px / width, finest)
    scales = [scale]
    while scale * 2 < finest * 0.99:
        scale *= 2
        scales.append(scale)
    if scales[-1] < finest * 0.99:
        scales.append(finest)
    return scales


# ----------------------------------------------------------------------------------------------
# The tracker


class FaceTracker:
    """Sequential face tracker: feed (H, W) uint8 grey frames in order to :meth:`update`.

    The first call (and the first after :meth:`reset`) searches the whole frame, so
    ``FaceTracker().update(gray)`` also serves to find the landmarks of a single image.
    """

    def __init__(self, config: FaceTrackerConfig | None = None) -> None:
        self.config = config or FaceTrackerConfig()
        self._detector, self._predictor = _dlib_models()
        self.reset()

    def reset(self) -> None:
        """Forget the current face; the next frame starts with a full-frame search."""
        self._landmarks: np.ndarray | None = None       # (68, 2) float32 of the last frame
        self._box: np.ndarray | None = None             # (4,) box of those landmarks
        self._thumb: np.ndarray | None = None           # (16, 16) thumbnail inside that box
        self._frames_since_verified = 0
        self._frames_since_search = self.config.lost_search_every   # search on the next frame

    def update(self, gray: np.ndarray) -> FaceObservation | None:
        """The face in the next frame, or None when no face is visible in it.

        Args:
            gray: (H, W) uint8 grey frame.
        Returns:
            The frame's :class:`FaceObservation`, or None.
        """
        gray = _check_gray(gray)
        if self._landmarks is None:
            return self._acquire(gray)
        return self._track(gray)

    # -- states --------------------------------------------------------------------------------

    def _acquire(self, gray: np.ndarray) -> FaceObservation | None:
        """No face yet: search the whole frame (every ``lost_search_every`` frames)."""
        self._frames_since_search += 1
        if self._frames_since_search < self.config.lost_search_every:
            return None
        self._frames_since_search = 0
        detection = self._search_frame(gray)
        if detection is None:
            return None
        landmarks = self._fit(gray, detection)
        return self._accept(gray, landmarks, _box_from_landmarks(landmarks), detected=True)

    def _track(self, gray: np.ndarray) -> FaceObservation | None:
        """Landmarks from the last box; verify by detection when due or when in doubt."""
        landmarks = self._predict(gray, self._box)
        box = _box_from_landmarks(landmarks)
        thumb = _thumbnail(gray, box)
        self._frames_since_verified += 1
        if (self._frames_since_verified >= self.config.redetect_every
                or self._looks_wrong(gray, landmarks, box, thumb)):
            return self._verify(gray, landmarks, box)
        return self._accept(gray, landmarks, box, thumb=thumb)

    def _looks_wrong(self, gray: np.ndarray, landmarks: np.ndarray, box: np.ndarray,
                     thumb: np.ndarray | None) -> bool:
        """Cheap per-frame checks that trigger an immediate verification."""
        old = self._box
        side = float(old[2] - old[0])
        shift = float(np.abs((box[:2] + box[2:]) - (old[:2] + old[2:])).max()) / 2
        scale_change = abs(float(box[2] - box[0]) / side - 1.0)
        if shift > self.config.max_shift * side or scale_change > self.config.max_scale_change:
            return True
        if not _inner_face_inside(landmarks, gray.shape) or not _plausible(landmarks):
            return True
        if thumb is None or self._thumb is None:
            return True
        correlation = float(np.vdot(thumb, self._thumb))
        return correlation < self.config.min_appearance_correlation

    def _verify(self, gray: np.ndarray, landmarks: np.ndarray,
                box: np.ndarray) -> FaceObservation | None:
        """Confirm the tracked face by detection near it (else anywhere); lose it if absent."""
        detection = self._search_region(gray, self._box)
        if detection is None:
            detection = self._search_frame(gray)
        if detection is None:
            self._lose()
            return None
        if _iou(detection, box) < self.config.min_iou:     # the track slipped: restart from it
            landmarks = self._fit(gray, detection)
            box = _box_from_landmarks(landmarks)
        return self._accept(gray, landmarks, box, detected=True)

    def _accept(self, gray: np.ndarray, landmarks: np.ndarray, box: np.ndarray,
                thumb: np.ndarray | None = None, detected: bool = False) -> FaceObservation:
        self._landmarks, self._box = landmarks, box
        self._thumb = _thumbnail(gray, box) if thumb is None else thumb
        if detected:
            self._frames_since_verified = 0
        return FaceObservation(box.copy(), landmarks.copy(), detected)

    def _lose(self) -> None:
        """The face is gone: search again on the next frame (a one-frame detector miss then
        costs one frame), then every ``lost_search_every`` frames."""
        self.reset()

    # -- detection -----------------------------------------------------------------------------

    def _search_frame(self, gray: np.ndarray) -> np.ndarray | None:
        """Largest face in the whole frame, searched coarse to fine; None if there is none."""
        for scale in _search_scales(gray.shape[1], self.config):
            image = _resize(gray, scale)
            if min(image.shape) < _DETECTOR_WINDOW_PX:
                continue
            boxes = self._detect(image, scale, 0, 0)
            if boxes:
                return max(boxes, key=lambda b: float((b[2] - b[0]) * (b[3] - b[1])))
        return None

    def _search_region(self, gray: np.ndarray, box: np.ndarray) -> np.ndarray | None:
        """The face overlapping ``box`` most, searched in a region around it; None if none."""
        side = float(box[2] - box[0])
        margin = self.config.search_margin * side
        height, width = gray.shape
        x0, y0 = max(0, int(box[0] - margin)), max(0, int(box[1] - margin))
        x1, y1 = min(width, int(box[2] + margin) + 1), min(height, int(box[3] + margin) + 1)
        scale = _REGION_FACE_PX / max(side, 1.0)
        if min(x1 - x0, y1 - y0) * scale < _DETECTOR_WINDOW_PX:
            return None                      # mostly off-image: leave it to the full search
        image = _resize(gray[y0:y1, x0:x1], scale)
        boxes = self._detect(image, scale, x0, y0)
        if not boxes:
            return None
        return max(boxes, key=lambda b: _iou(b, box))

    def _detect(self, image: np.ndarray, scale: float, x0: int, y0: int) -> list[np.ndarray]:
        """Detector boxes in ``image`` (a crop at (x0, y0) resized by ``scale``), in frame px."""
        rects = self._detector(np.ascontiguousarray(image), 0)
        return [np.array([r.left() / scale + x0, r.top() / scale + y0,
                          r.right() / scale + x0, r.bottom() / scale + y0], dtype=np.float32)
                for r in rects]

    # -- landmarks -----------------------------------------------------------------------------

    def _fit(self, gray: np.ndarray, detection: np.ndarray) -> np.ndarray:
        """Landmarks from a detector box, refined once from their own box.

        The refinement lands on the tracker's fixed point, so the next tracked frame does not
        jump by the detector's box jitter.
        """
        landmarks = self._predict(gray, detection)
        return self._predict(gray, _box_from_landmarks(landmarks))

    def _predict(self, gray: np.ndarray, box: np.ndarray) -> np.ndarray:
        """(68, 2) float32 landmarks for the face in ``box``; small faces are upsampled first."""
        import dlib

        side = float(box[2] - box[0])
        if side >= self.config.min_face_px:
            rect = dlib.rectangle(*(int(round(v)) for v in box))
            return _points(self._predictor(gray, rect))
        # Upsample a crop around the box: finer pixel sampling and sub-pixel landmarks.
        factor = self.config.min_face_px / max(side, 1.0)
        height, width = gray.shape
        margin = 0.25 * side
        x0, y0 = max(0, int(box[0] - margin)), max(0, int(box[1] - margin))
        x1, y1 = min(width, int(box[2] + margin) + 1), min(height, int(box[3] + margin) + 1)
        if x1 <= x0 or y1 <= y0:                           # box entirely off-image
            rect = dlib.rectangle(*(int(round(v)) for v in box))
            return _points(self._predictor(gray, rect))
        crop = cv2.resize(gray[y0:y1, x0:x1], None, fx=factor, fy=factor,
                          interpolation=cv2.INTER_CUBIC)
        local = (box - np.array([x0, y0, x0, y0], dtype=np.float32)) * factor
        rect = dlib.rectangle(*(int(round(v)) for v in local))
        points = _points(self._predictor(crop, rect))
        return points / factor + np.array([x0, y0], dtype=np.float32)


def _points(shape: Any) -> np.ndarray:
    """dlib full_object_detection → (68, 2) float32 (x, y)."""
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)


def _check_gray(gray: np.ndarray) -> np.ndarray:
    if not isinstance(gray, np.ndarray) or gray.ndim != 2 or gray.dtype != np.uint8:
        shape = getattr(gray, "shape", None)
        dtype = getattr(gray, "dtype", type(gray).__name__)
        raise ValueError(f"expected an (H, W) uint8 grayscale frame, got shape {shape} {dtype}")
    return np.ascontiguousarray(gray)


# ----------------------------------------------------------------------------------------------
# Whole videos


@dataclass
class FaceTrack:
    """The face through a range of frames of a video.

    Attributes:
        boxes: (T, 4) float32 x0, y0, x1, y1 in source pixels, NaN where no face.
        landmarks: (T, 68, 2) float32 (x, y) in source pixels, NaN where no face.
        valid: (T,) bool, a face was tracked on that frame.
        start_frame: source frame index of row 0.
    """

    boxes: np.ndarray
    landmarks: np.ndarray
    valid: np.ndarray
    start_frame: int = 0

    def __post_init__(self) -> None:
        n_frames = self.valid.shape[0]
        if (self.valid.shape != (n_frames,) or self.boxes.shape != (n_frames, 4)
                or self.landmarks.shape != (n_frames, N_LANDMARKS, 2)):
            raise ValueError(f"FaceTrack expects boxes (T, 4), landmarks (T, 68, 2), valid (T,); "
                             f"got {self.boxes.shape}, {self.landmarks.shape}, {self.valid.shape}")

    @property
    def n_frames(self) -> int:
        return int(self.valid.shape[0])

    @property
    def valid_fraction(self) -> float:
        """Share of frames with a face, in [0, 1] (0 for an empty track)."""
        return float(self.valid.mean()) if self.n_frames else 0.0


def track_video(source: FrameSource | str | os.PathLike[str],
                config: FaceTrackerConfig | None = None, start: int = 0,
                stop: int | None = None, progress: ProgressCallback | None = None,
                cancel: CancelToken | None = None) -> FaceTrack:
    """Track the face through frames [start, stop) of a video.

    Args:
        source: a ``core.video.FrameSource`` or a path (video file or frame folder).
        config: tracker settings.
        start, stop: 0-based frame range (``stop`` None: to the end).
        progress: receives ``Progress("faces", frames_done, frames_total)`` reports.
        cancel: stops the work at the next frame (raises :class:`core.progress.Cancelled`).
    Returns:
        A :class:`FaceTrack` with one row per frame of the range that decodes.
    Raises:
        NoFaceError: no frame in the range has a face (the message names the file).
    """
    if isinstance(source, (str, os.PathLike)):
        from core.video import open_source

        source = open_source(source)
    stop = source.n_frames if stop is None else min(stop, source.n_frames)
    if not 0 <= start <= stop:
        raise ValueError(f"frame range [{start}, {stop}) is outside the video's "
                         f"{source.n_frames} frames")
    n_total = stop - start
    tracker = FaceTracker(config)
    boxes, landmarks, valid = [], [], []
    missing_box = np.full(4, np.nan, dtype=np.float32)
    missing_landmarks = np.full((N_LANDMARKS, 2), np.nan, dtype=np.float32)
    report(progress, "faces", 0, n_total)
    frames = source.iter_frames(start, stop, gray=True)
    for done, (_, gray) in enumerate(frames, start=1):
        if cancel is not None:
            cancel.raise_if_cancelled()
        observation = tracker.update(gray)
        valid.append(observation is not None)
        boxes.append(missing_box if observation is None else observation.box)
        landmarks.append(missing_landmarks if observation is None else observation.landmarks)
        if done % 25 == 0:
            report(progress, "faces", done, n_total)
    report(progress, "faces", n_total, n_total)
    if not any(valid):
        raise NoFaceError(f"{os.fspath(source.path)}: no face found in any of the "
                          f"{len(valid)} frames")
    return FaceTrack(np.stack(boxes), np.stack(landmarks), np.array(valid, dtype=bool), start)


"""Base footage for the synthetic videos: a real face clip in memory with its landmarks.

:func:`load_base` reads a video file, a frame folder or a single photo, downscales it so its long
side is at most ``max_side_px``, tracks the face once (dlib 68 landmarks, every few frames,
interpolated between and smoothed over time), and keeps the *calmest* stretch of
``base_seconds``: eyes open, the face found, and the least non-rigid landmark motion (landmark
displacement over 0.2 s left after removing the best similarity transform), so the base
footage's own expressions do not compete with the synthetic ones. Only that stretch's frames are
kept in memory. :meth:`BaseClip.position` loops it ping-pong (forward, then backward, easing
to a stop at each end), usually slowed down so the footage's own motion stays slow;
:meth:`BaseClip.frame` blends the two nearest frames at a fractional position.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from scipy.ndimage import gaussian_filter1d

from core.face import FaceTracker, FaceTrackerConfig, NoFaceError
from core.progress import CancelToken, ProgressCallback, report
from core.video import FrameSource, VideoError, open_source

__all__ = ["PHOTO_SUFFIXES", "BaseClip", "load_base"]

#: Files read as a single photo rather than a video.
PHOTO_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})

_TRACK_RATE_HZ = 12.0          # landmarks are tracked on about this many frames per second
_SMOOTH_SECONDS = 0.08         # temporal smoothing of the landmark track (Gaussian sigma)
_MOTION_LAG_SECONDS = 0.2      # calmness: landmark motion over this lag
_CLOSED_EYE_RATIO = 0.18       # eye aspect ratio below this: eyes (nearly) closed
_NO_FACE_PENALTY = 10.0        # calmness penalties per frame, in reference-px of motion
_CLOSED_EYE_PENALTY = 5.0
_REFERENCE_FACE_PX = 250.0


@dataclass(frozen=True)
class BaseClip:
    """A stretch of base footage in memory.

    Attributes:
        path: the file or folder it came from.
        frames: (N, H, W, 3) uint8 BGR (downscaled when the source was large).
        landmarks: (N, 68, 2) float32 (x, y) in clip pixels, smoothed over time.
        fps: the footage's frame rate (0 for a photo).
        first_frame: source frame index of ``frames[0]``.
        scale: clip pixels per source pixel.
    """

    path: Path
    frames: np.ndarray
    landmarks: np.ndarray
    fps: float
    first_frame: int
    scale: float

    @property
    def n_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def frame_size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return int(self.frames.shape[2]), int(self.frames.shape[1])

    @property
    def face_width_px(self) -> float:
        """Median ear-to-ear face width (landmarks 0–16)."""
        return float(np.median(np.linalg.norm(self.landmarks[:, 16] - self.landmarks[:, 0],
                                               axis=1)))

    @property
    def eye_opening_px(self) -> float:
        """Median height of the open eyes (mean of the two lids' distances, both eyes)."""
        return float(np.median(_eye_heights(self.landmarks)))

    @property
    def face_centre(self) -> np.ndarray:
        """(2,) median over frames of the landmarks' mean."""
        return np.median(self.landmarks.mean(axis=1), axis=0)

    def position(self, t_s: float, phase_frames: float, speed: float) -> float:
        """Fractional clip frame shown at time ``t_s`` of an output video that starts
        ``phase_frames`` into the loop and plays at average ``speed``.

        The loop runs forward then backward with a cosine ease, so the motion slows to a stop
        at each end instead of reversing abruptly (no jump, no velocity step).
        """
        if self.n_frames == 1:
            return 0.0
        last = self.n_frames - 1
        half_cycles = (phase_frames + t_s * self.fps * speed) / last
        return last * (0.5 - 0.5 * math.cos(math.pi * half_cycles))

    def frame(self, position: float) -> np.ndarray:
        """(H, W, 3) uint8 BGR at a fractional ``position``: the two nearest frames blended
        (sub-pixel motion between neighbouring frames blends into a smooth motion)."""
        index, weight = self._neighbours(position)
        if weight < 1e-3:
            return self.frames[index]
        return cv2.addWeighted(self.frames[index], 1.0 - weight, self.frames[index + 1], weight,
                               0.0)

    def landmarks_at(self, position: float) -> np.ndarray:
        """(68, 2) float64 landmarks at a fractional ``position`` (linear interpolation)."""
        index, weight = self._neighbours(position)
        landmarks = self.landmarks[index].astype(np.float64)
        if weight < 1e-3:
            return landmarks
        return (1.0 - weight) * landmarks + weight * self.landmarks[index + 1]

    def _neighbours(self, position: float) -> tuple[int, float]:
        """``(index, weight)``: ``position`` lies ``weight`` of the way from frame ``index`` to
        ``index + 1``."""
        index = min(max(int(math.floor(position)), 0), self.n_frames - 1)
        if index == self.n_frames - 1:
            return index, 0.0
        return index, float(position - index)


def load_base(path: str | Path, base_seconds: float | None = 1.0, max_side_px: int = 640,
              progress: ProgressCallback | None = None,
              cancel: CancelToken | None = None) -> BaseClip:
    """Read base footage and track its face (module docstring).

    Args:
        path: a video file, a frame folder or a photo (:data:`PHOTO_SUFFIXES`).
        base_seconds: keep the calmest stretch of this length; None: the whole video.
        max_side_px: downscale so that the long side is at most this.
        progress: receives ``Progress("landmarks", frames_done, frames_total)``.
        cancel: stops at the next frame.
    Raises:
        core.video.VideoError: the file cannot be read.
        core.face.NoFaceError: no face in the footage (the message names the file).
    """
    path = Path(path)
    if path.is_file() and path.suffix.lower() in PHOTO_SUFFIXES:
        return _load_photo(path, max_side_px)
    with open_source(path) as source:
        scale = min(1.0, max_side_px / max(source.width, source.height))
        stride = max(1, round(source.fps / _TRACK_RATE_HZ))
        landmarks, found = _track(source, scale, stride, progress, cancel)
        start, stop = _calmest_stretch(landmarks, found, source.fps, base_seconds)
        frames = np.stack([_resized(frame, scale) for _i, frame
                           in source.iter_frames(start, stop)])               # (N, H, W, 3)
        return BaseClip(path, frames, landmarks[start:stop], float(source.fps), start, scale)


def _load_photo(path: Path, max_side_px: int) -> BaseClip:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise VideoError(path, "cannot read this image (missing, damaged or not an image)")
    scale = min(1.0, max_side_px / max(image.shape[:2]))
    image = _resized(image, scale)
    observation = FaceTracker(FaceTrackerConfig()).update(
        cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))
    if observation is None:
        raise NoFaceError(f"{path}: no face found in the photo")
    return BaseClip(path, image[None], observation.landmarks[None].astype(np.float32), 0.0, 0,
                    scale)


def _resized(image: np.ndarray, scale: float) -> np.ndarray:
    if scale >= 1.0:
        return image
    return cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)


def _track(source: FrameSource, scale: float, stride: int, progress: ProgressCallback | None,
           cancel: CancelToken | None) -> tuple[np.ndarray, np.ndarray]:
    """Landmarks of every frame, tracked every ``stride`` frames, interpolated between and
    smoothed: (T, 68, 2) float32, and (T,) bool whether a face was found near the frame."""
    n_frames = source.n_frames
    tracked_idx, tracked = [], []
    tracker = FaceTracker(FaceTrackerConfig())
    report(progress, "landmarks", 0, n_frames)
    for frame_idx, gray in source.iter_frames(gray=True):
        if cancel is not None:
            cancel.raise_if_cancelled()
        if frame_idx % stride == 0:
            observation = tracker.update(_resized(gray, scale))
            if observation is not None:
                tracked_idx.append(frame_idx)
                tracked.append(observation.landmarks)
        if frame_idx % 32 == 0:
            report(progress, "landmarks", frame_idx, n_frames)
    report(progress, "landmarks", n_frames, n_frames)
    if not tracked:
        raise NoFaceError(f"{source.path}: no face found in any of the {n_frames} frames "
                          f"(checked every {stride})")
    return _interpolated(np.asarray(tracked_idx), np.stack(tracked), n_frames, stride,
                         _SMOOTH_SECONDS * source.fps)


def _interpolated(known_idx: np.ndarray, known: np.ndarray, n_frames: int, stride: int,
                  smooth_frames: float) -> tuple[np.ndarray, np.ndarray]:
    """Landmarks known at ``known_idx`` → (T, 68, 2) float32 for all ``n_frames``, smoothed,
    and (T,) bool: a known frame lies less than ``stride`` away."""
    flat = known.reshape(len(known_idx), -1)                                    # (K, 136)
    all_idx = np.arange(n_frames)
    filled = np.stack([np.interp(all_idx, known_idx, column) for column in flat.T], axis=1)
    if smooth_frames > 0.5:
        filled = gaussian_filter1d(filled, smooth_frames, axis=0, mode="nearest")
    nearest = np.searchsorted(known_idx, all_idx).clip(1, len(known_idx) - 1)   # (T,)
    gap = np.minimum(np.abs(all_idx - known_idx[nearest - 1]),
                     np.abs(all_idx - known_idx[nearest]))
    return filled.reshape(n_frames, 68, 2).astype(np.float32), gap < stride


def _eye_heights(landmarks: np.ndarray) -> np.ndarray:
    """(T,) mean lid distance of both eyes (landmarks 37–41, 38–40, 43–47, 44–46)."""
    pairs = [(37, 41), (38, 40), (43, 47), (44, 46)]
    return np.mean([np.linalg.norm(landmarks[:, a] - landmarks[:, b], axis=-1)
                    for a, b in pairs], axis=0)


def _eye_aspect_ratio(landmarks: np.ndarray) -> np.ndarray:
    """(T,) eye height over eye width, mean of both eyes (open ≈ 0.3, closed < 0.15)."""
    widths = (np.linalg.norm(landmarks[:, 39] - landmarks[:, 36], axis=-1)
              + np.linalg.norm(landmarks[:, 45] - landmarks[:, 42], axis=-1)) / 2
    return _eye_heights(landmarks) / np.maximum(widths, 1e-6)


def _non_rigid_motion(landmarks: np.ndarray, lag: int) -> np.ndarray:
    """(T,) landmark motion from frame t to t + lag left after the best similarity transform,
    in pixels of a 250-px-wide face (the median for the last ``lag`` frames)."""
    points = landmarks[..., 0] + 1j * landmarks[..., 1]                         # (T, 68)
    points = points - points.mean(axis=1, keepdims=True)
    a, b = points[:-lag], points[lag:]
    fit = (np.conj(a) * b).sum(axis=1) / np.maximum((np.abs(a) ** 2).sum(axis=1), 1e-9)
    residual = np.abs(b - fit[:, None] * a).mean(axis=1)                        # (T - lag,)
    width = np.linalg.norm(landmarks[:-lag, 16] - landmarks[:-lag, 0], axis=-1)
    motion = residual / np.maximum(width, 1.0) * _REFERENCE_FACE_PX
    return np.concatenate([motion, np.full(lag, np.median(motion))])


def _calmest_stretch(landmarks: np.ndarray, found: np.ndarray, fps: float,
                     seconds: float | None) -> tuple[int, int]:
    """``(start, stop)`` frames of the calmest stretch of ``seconds`` (all frames if None or
    the video is shorter); ``found`` (T,) marks frames near a tracked face."""
    n_frames = landmarks.shape[0]
    length = n_frames if seconds is None else max(2, round(seconds * fps))
    lag = max(1, round(_MOTION_LAG_SECONDS * fps))
    if length >= n_frames or lag >= n_frames:
        return 0, n_frames
    cost = (_non_rigid_motion(landmarks, lag)
            + _CLOSED_EYE_PENALTY * (_eye_aspect_ratio(landmarks) < _CLOSED_EYE_RATIO)
            + _NO_FACE_PENALTY * ~found)
    window_cost = np.convolve(cost, np.ones(length), mode="valid")              # (T - L + 1,)
    start = int(np.argmin(window_cost))
    return start, start + length

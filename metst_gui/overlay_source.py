"""Where the face overlays come from: the face box, the 68 landmarks and the ROI boxes per frame.

Qt-free. :class:`OverlaySource` answers "the face in frame i" for one video. When the project's
feature store holds an extraction of the video (``FeatureStore.find`` with the default flow
settings of either ROI set: the face track does not depend on the ROI set), the stored landmarks
and boxes are used, exactly the geometry the flow traces were pooled from. Otherwise the face is
found with :mod:`core.face` on demand, one frame at a time: consecutive frames (playback,
prefetch) continue the track (~1.5 ms a frame), any other frame starts with a full-frame search
(~3-15 ms; up to ~70 ms when there is no face). dlib's models load on the first detection.

ROI boxes are computed the way :mod:`core.flow` computes them: the ROI set's boxes in the
normalised face crop (:mod:`core.face_crop`), clipped to the crop, mapped back to frame pixels.

Everything here runs on the frame loader's worker thread, except :func:`roi_boxes_in_frame`
(cheap; the canvas calls it when painting).
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from core.face import N_LANDMARKS, FaceTracker, FaceTrackerConfig
from core.face_crop import crop_affine, transform_points
from core.flow import FlowConfig, preview_config
from core.rois import ROI_SET_NAMES, RoiSet
from core.store import FeatureStore, StoreError

__all__ = ["FaceGeometry", "OverlaySource", "roi_boxes_in_frame", "DEFAULT_FACE_SIZE"]

#: Side of the flow's normalised face crop (``FlowConfig.face_size``) the ROI boxes are rounded in.
DEFAULT_FACE_SIZE = FlowConfig().face_size
_DETECTED_CACHE_FRAMES = 4096  # detected faces kept (about 1 kB each)


@dataclass(frozen=True, eq=False)
class FaceGeometry:
    """The face in one frame, in source pixels.

    Attributes:
        frame_idx: the frame, 0-based.
        face_box: (4,) float32 x0, y0, x1, y1 (the tracker's detector-style square).
        landmarks: (68, 2) float32 (x, y), dlib's 68-point order.
        origin: ``"store"`` (the feature store's face track) or ``"detected"`` (core.face now).
    """

    frame_idx: int
    face_box: np.ndarray
    landmarks: np.ndarray
    origin: str

    def __post_init__(self) -> None:
        if self.face_box.shape != (4,) or self.landmarks.shape != (N_LANDMARKS, 2):
            raise ValueError(f"FaceGeometry expects face_box (4,) and landmarks (68, 2), got "
                             f"{self.face_box.shape} and {self.landmarks.shape}")


def roi_boxes_in_frame(landmarks: np.ndarray, roi_set: RoiSet,
                       face_size: int = DEFAULT_FACE_SIZE) -> np.ndarray:
    """The ROI set's boxes for one face, as the flow extraction places them, in frame pixels.

    Args:
        landmarks: (68, 2) float (x, y) in frame pixels, finite.
        roi_set: the ROI set (its order is the channel order and the colour order).
        face_size: side of the normalised crop the boxes are rounded and clipped in.
    Returns:
        (R, 4) float32 x0, y0, x1, y1 (x1, y1 exclusive) in frame pixels.
    """
    affine = crop_affine(np.asarray(landmarks, np.float32), face_size)  # (2, 3) frame → crop
    crop_landmarks = transform_points(landmarks, affine)                 # (68, 2) crop pixels
    boxes = np.clip(roi_set.boxes(crop_landmarks), 0, face_size).astype(np.float32)  # (R, 4)
    boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2] + 1)             # as core.flow clips
    inverse = cv2.invertAffineTransform(affine)                          # (2, 3) crop → frame
    corners = transform_points(boxes.reshape(-1, 2), inverse)            # (2R, 2)
    return corners.reshape(-1, 4)


def _default_store_configs() -> tuple[FlowConfig, ...]:
    """Flow settings whose stored extractions carry a face track for the overlays."""
    return tuple(config for name in ROI_SET_NAMES
                 for config in (FlowConfig(roi_set=name), preview_config(name)))


class OverlaySource:
    """The face geometry of one video's frames: from the feature store, else detected.

    Not thread-safe: use one instance from one thread (the frame loader's worker).

    Args:
        video_path: the video file (or frame folder) the frames come from.
        store: the project's feature store, or None to always detect.
        store_configs: flow settings to look the video up with (default: the default and preview
            settings of both ROI sets).
        tracker_config: face-tracker settings for detection.
    """

    def __init__(self, video_path: str | os.PathLike[str], store: FeatureStore | None = None,
                 *, store_configs: Sequence[FlowConfig] | None = None,
                 tracker_config: FaceTrackerConfig | None = None) -> None:
        self.video_path = Path(video_path)
        self._store = store
        self._store_configs = tuple(store_configs or _default_store_configs())
        self._tracker_config = tracker_config
        self._stored: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._store_checked = store is None
        self._tracker: FaceTracker | None = None
        self._last_tracked_idx: int | None = None
        self._detected: OrderedDict[int, FaceGeometry | None] = OrderedDict()  # LRU

    @property
    def uses_store(self) -> bool:
        """Whether geometry comes from the feature store (looks the video up on first call)."""
        self._load_stored()
        return self._stored is not None

    def geometry(self, frame_idx: int,
                 frame_gray: np.ndarray | Callable[[], np.ndarray]) -> FaceGeometry | None:
        """The face in frame ``frame_idx``, or None when the frame shows none (detected faces
        are remembered: asking again costs nothing).

        Args:
            frame_idx: 0-based frame index.
            frame_gray: the frame as (H, W) uint8 grey, or a callable returning it (called only
                when detection is needed).
        Raises:
            FileNotFoundError: dlib's landmark model is not installed (detection only).
        """
        stored = self._load_stored()
        if stored is not None:
            return _stored_geometry(stored, frame_idx)
        if frame_idx in self._detected:
            self._detected.move_to_end(frame_idx)
            return self._detected[frame_idx]
        gray = frame_gray() if callable(frame_gray) else frame_gray
        geometry = self._detect(frame_idx, gray)
        self._detected[frame_idx] = geometry
        if len(self._detected) > _DETECTED_CACHE_FRAMES:
            self._detected.popitem(last=False)
        return geometry

    def _load_stored(self) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """(landmarks (T, 68, 2), boxes (T, 4), face_valid (T,)) from the store, looked up once."""
        if not self._store_checked:
            self._store_checked = True
            for config in self._store_configs:
                try:
                    entry = self._store.find(self.video_path, config)
                except (StoreError, OSError, KeyError, ValueError):
                    break  # an unreadable store: detect instead
                if entry is not None:
                    self._stored = (entry.landmarks, entry.boxes, entry.face_valid)
                    break
        return self._stored

    def _detect(self, frame_idx: int, gray: np.ndarray) -> FaceGeometry | None:
        if self._tracker is None:
            self._tracker = FaceTracker(self._tracker_config)  # loads dlib's models once
        if self._last_tracked_idx is None or frame_idx != self._last_tracked_idx + 1:
            self._tracker.reset()  # not the next frame: search this one afresh
        self._last_tracked_idx = frame_idx
        observation = self._tracker.update(gray)
        if observation is None:
            return None
        return FaceGeometry(frame_idx, observation.box, observation.landmarks, "detected")


def _stored_geometry(stored: tuple[np.ndarray, np.ndarray, np.ndarray],
                     frame_idx: int) -> FaceGeometry | None:
    landmarks, boxes, face_valid = stored
    if not 0 <= frame_idx < face_valid.shape[0] or not face_valid[frame_idx]:
        return None
    frame_landmarks = np.asarray(landmarks[frame_idx], np.float32)  # (68, 2)
    frame_box = np.asarray(boxes[frame_idx], np.float32)            # (4,)
    if not (np.isfinite(frame_landmarks).all() and np.isfinite(frame_box).all()):
        return None
    return FaceGeometry(frame_idx, frame_box, frame_landmarks, "store")

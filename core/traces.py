"""FlowTraces: the per-video optical-flow time series every model reads.

``values`` is (C, T) float32: for each ROI two channels, the aligned mean flow (x then y) of its
largest-magnitude vectors, in pixels of the normalised face crop, relative to the start of the
sliding window (see :mod:`core.flow`). Channel ``2r`` is ROI ``r``'s x, ``2r + 1`` its y.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["FlowTraces"]


@dataclass
class FlowTraces:
    """Aligned ROI flow of one video.

    Attributes:
        values: (C, T) float32, C = 2 × number of ROIs (x, y per ROI).
        channel_names: C names, ``"<roi>_x"`` / ``"<roi>_y"`` in channel order.
        valid: (T,) bool, False where no face was tracked (values there are 0).
        fps: frames per second of the source.
        roi_set: name of the ROI set (``"metst"`` or ``"metst_plus"``).
        params: the extraction parameters that produced the values (stored with them).
        eye_openness: (T,) float32 eye aspect ratio from the landmarks (NaN without a face), used
            to recognise blinks; None when unknown.
    """

    values: np.ndarray
    channel_names: tuple[str, ...]
    valid: np.ndarray
    fps: float
    roi_set: str
    params: dict[str, Any] = field(default_factory=dict)
    eye_openness: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.values = np.asarray(self.values, dtype=np.float32)
        self.valid = np.asarray(self.valid, dtype=bool)
        self.channel_names = tuple(self.channel_names)
        if self.values.ndim != 2:
            raise ValueError(f"FlowTraces.values must be (C, T), got shape {self.values.shape}")
        if len(self.channel_names) != self.values.shape[0]:
            raise ValueError(
                f"{len(self.channel_names)} channel names for {self.values.shape[0]} channels")
        if self.valid.shape != (self.values.shape[1],):
            raise ValueError(
                f"valid must be ({self.values.shape[1]},), got {self.valid.shape}")
        if self.eye_openness is not None:
            self.eye_openness = np.asarray(self.eye_openness, dtype=np.float32)
            if self.eye_openness.shape != self.valid.shape:
                raise ValueError(f"eye_openness must be ({self.n_frames},), "
                                 f"got {self.eye_openness.shape}")

    @property
    def n_channels(self) -> int:
        return int(self.values.shape[0])

    @property
    def n_frames(self) -> int:
        return int(self.values.shape[1])

    @property
    def roi_names(self) -> tuple[str, ...]:
        """ROI names in order (every other channel name without its ``_x`` suffix)."""
        return tuple(name[:-2] for name in self.channel_names[::2])

    def magnitude(self) -> np.ndarray:
        """(R, T) float32 flow magnitude per ROI."""
        xy = self.values.reshape(-1, 2, self.n_frames)  # (R, 2, T)
        return np.hypot(xy[:, 0], xy[:, 1]).astype(np.float32)

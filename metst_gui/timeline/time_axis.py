"""The time ruler of the timeline: x is the frame index, labels read ``mm:ss.fff``.

Every row of the timeline plots against frame indices (0-based), so a frame number maps to the
same x everywhere; only the labels are converted to time with the video's frame rate. Ticks fall
on round times (1 s, 5 s, 30 s …) chosen for the visible span; zoomed in to a few frames they
fall on frames (every 1, 2 or 5 frames).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pyqtgraph as pg

from metst_gui.video_view import format_timestamp

__all__ = ["TimeAxisItem", "frame_label"]

#: Round tick steps in seconds, each with the number of minor intervals between two majors.
_STEPS_SEC: tuple[tuple[float, int], ...] = (
    (0.001, 5), (0.002, 4), (0.005, 5), (0.01, 5), (0.02, 4), (0.05, 5), (0.1, 5), (0.2, 4),
    (0.5, 5), (1.0, 5), (2.0, 4), (5.0, 5), (10.0, 5), (15.0, 3), (30.0, 6), (60.0, 6),
    (120.0, 4), (300.0, 5), (600.0, 5), (900.0, 3), (1800.0, 6), (3600.0, 6))

#: Steps in whole frames, used while they are finer than any round time that fits.
_FRAME_STEPS: tuple[float, ...] = (1.0, 2.0, 5.0)
#: Room one ``mm:ss.fff`` label needs on the axis, in pixels.
_LABEL_WIDTH_PX = 90


def frame_label(frame_idx: float, fps: float) -> str:
    """``frame_idx`` as ``mm:ss.fff`` at ``fps``; the bare frame number when fps is unknown."""
    if fps > 0:
        return format_timestamp(max(frame_idx, 0.0) / fps)
    return f"{frame_idx:g}"


class TimeAxisItem(pg.AxisItem):
    """An axis over frame indices that labels its ticks with the time at ``fps``."""

    def __init__(self, orientation: str = "bottom", fps: float = 0.0, **kwargs: object) -> None:
        super().__init__(orientation, **kwargs)
        self._fps = float(fps)

    @property
    def fps(self) -> float:
        return self._fps

    def set_fps(self, fps: float) -> None:
        """Label with frame rate ``fps`` from now on (0: label frame numbers)."""
        self._fps = float(fps) if fps > 0 else 0.0
        self.picture = None  # drop the cached drawing
        self.update()

    def tickSpacing(self, minVal: float, maxVal: float,  # noqa: N802, N803 (pyqtgraph override)
                    size: float) -> list[tuple[float, float]]:
        """Major and minor steps in frames, at most one label per ~90 px.

        Round times, or 1, 2 or 5 frames when zoomed in further than 5 frames per label.
        """
        if self._fps <= 0 or maxVal <= minVal or size <= 0:
            return super().tickSpacing(minVal, maxVal, size)
        wanted_frames = (maxVal - minVal) / max(size / _LABEL_WIDTH_PX, 1.0)
        frame_step = next((step for step in _FRAME_STEPS if step >= wanted_frames), None)
        if frame_step is not None:
            return [(frame_step, 0.0), (1.0, 0.0)] if frame_step > 1 else [(1.0, 0.0)]
        wanted_sec = wanted_frames / self._fps
        major_sec, n_minor = next(((step, n) for step, n in _STEPS_SEC if step >= wanted_sec),
                                  (3600.0 * math.ceil(wanted_sec / 3600.0), 6))
        major_frames = major_sec * self._fps  # > 5 frames: finer steps were taken above
        minor_frames = major_frames / n_minor
        if minor_frames < 1.0:
            return [(major_frames, 0.0)]
        return [(major_frames, 0.0), (minor_frames, 0.0)]

    def tickStrings(self, values: Sequence[float], scale: float,  # noqa: N802 (override)
                    spacing: float) -> list[str]:
        """Tick labels: the time of each frame value (``mm:ss.fff``)."""
        if self._fps <= 0:
            return super().tickStrings(values, scale, spacing)
        return [frame_label(value * scale, self._fps) for value in values]

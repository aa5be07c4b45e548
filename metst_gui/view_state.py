"""Typed, observable view state shared by the panels of the window.

The playhead (the frame every panel shows: the video, the curves and the interval track on the
shared time axis) and the selected interval. Panels observe them through their signals and move
them through their methods; nothing else holds "the current frame" or "the selection".
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

__all__ = ["Playhead", "Selection"]


class Playhead(QObject):
    """The current frame of the open video, 0-based, clamped to ``[0, n_frames - 1]``.

    Signals:
        video_changed(int n_frames, float fps): a new video was opened; the frame is reset to 0.
        frame_changed(int frame_idx): the current frame moved (also emitted after video_changed).
    """

    video_changed = Signal(int, float)
    frame_changed = Signal(int)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._frame_idx = 0
        self._n_frames = 0
        self._fps = 0.0

    @property
    def frame_idx(self) -> int:
        """The current frame, 0-based (0 while no video is open)."""
        return self._frame_idx

    @property
    def n_frames(self) -> int:
        """Number of frames of the open video (0 while none is open)."""
        return self._n_frames

    @property
    def fps(self) -> float:
        """Frame rate of the open video (0.0 while none is open or when unknown)."""
        return self._fps

    @property
    def t_sec(self) -> float | None:
        """Time of the current frame in seconds, or None when the frame rate is unknown."""
        return self._frame_idx / self._fps if self._fps > 0 else None

    def set_video(self, n_frames: int, fps: float) -> None:
        """Start over on a new video of ``n_frames`` frames at ``fps``; the playhead goes to 0."""
        if n_frames < 0:
            raise ValueError(f"n_frames must be >= 0, got {n_frames}")
        self._n_frames = n_frames
        self._fps = float(fps)
        self._frame_idx = 0
        self.video_changed.emit(n_frames, self._fps)
        self.frame_changed.emit(0)

    def set_frame(self, frame_idx: int) -> None:
        """Move to ``frame_idx`` (clamped to the video); emits ``frame_changed`` if it moved."""
        if self._n_frames == 0:
            return
        clamped_idx = min(max(int(frame_idx), 0), self._n_frames - 1)
        if clamped_idx != self._frame_idx:
            self._frame_idx = clamped_idx
            self.frame_changed.emit(clamped_idx)

    def step(self, n_frames: int) -> None:
        """Move by ``n_frames`` (negative steps back), stopping at the first and last frame."""
        self.set_frame(self._frame_idx + n_frames)


class Selection(QObject):
    """The selected interval of the open video (an annotation id), or none.

    Signals:
        changed(object): the new id (``str``) or ``None``.
    """

    changed = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._annotation_id: str | None = None

    @property
    def annotation_id(self) -> str | None:
        return self._annotation_id

    def select(self, annotation_id: str | None) -> None:
        """Select ``annotation_id`` (None clears); emits ``changed`` if it differs."""
        if annotation_id != self._annotation_id:
            self._annotation_id = annotation_id
            self.changed.emit(annotation_id)

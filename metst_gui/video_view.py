"""The video panel: the current frame, a frame slider and a "frame i / n — mm:ss.fff" label.

The panel shows the shared :class:`~metst_gui.view_state.Playhead`: moving the slider or pressing
←/→ moves the playhead, and every playhead move asks the :class:`FrameLoader` for that frame, which
is decoded on a worker thread and painted when it arrives.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSignalBlocker, Qt, Signal, Slot
from PySide6.QtGui import QCloseEvent, QImage, QKeyEvent
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSlider, QVBoxLayout, QWidget

from metst_gui.frame_canvas import FrameCanvas
from metst_gui.frame_loader import FrameLoader, VideoInfo
from metst_gui.view_state import Playhead

__all__ = ["VideoView", "format_timestamp"]

_PLACEHOLDER_TEXT = "File → Open video… (Ctrl+O)"


def format_timestamp(t_sec: float | None) -> str:
    """``t_sec`` as ``mm:ss.fff`` (minutes keep counting past 59); dashes when unknown."""
    if t_sec is None:
        return "--:--.---"
    total_ms = round(t_sec * 1000)
    minutes, ms_in_minute = divmod(total_ms, 60_000)
    seconds, ms = divmod(ms_in_minute, 1000)
    return f"{minutes:02d}:{seconds:02d}.{ms:03d}"


class VideoView(QWidget):
    """Shows the frame at the playhead of the open video (a file or a folder of frames).

    Model: a :class:`Playhead` (the view moves it with the slider and ←/→, and follows it).
    Signals:
        video_opened(VideoInfo): :meth:`open_video` succeeded; the playhead was reset to frame 0.
        open_failed(str): opening failed; the message names the file. The old video stays.
        frame_shown(int frame_idx): that frame is now painted.
    """

    video_opened = Signal(object)
    open_failed = Signal(str)
    frame_shown = Signal(int)

    def __init__(self, playhead: Playhead, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._playhead = playhead
        self._video: VideoInfo | None = None
        self._shown_frame_idx: int | None = None
        self._loader = FrameLoader(self)
        self._build_layout()
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        # model → view
        self._playhead.video_changed.connect(self._on_playhead_video_changed)
        self._playhead.frame_changed.connect(self._on_playhead_frame_changed)
        self._loader.opened.connect(self._on_video_opened)
        self._loader.open_failed.connect(self.open_failed)
        self._loader.frame_ready.connect(self._on_frame_ready)
        self._loader.frame_failed.connect(self._on_frame_failed)
        # view → model
        self._slider.valueChanged.connect(self._playhead.set_frame)

    def _build_layout(self) -> None:
        self._canvas = FrameCanvas(self)
        self._canvas.set_placeholder_text(_PLACEHOLDER_TEXT)
        self._slider = QSlider(Qt.Orientation.Horizontal, self)
        self._slider.setEnabled(False)
        self._position_label = QLabel(self)
        self._position_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        widest_text = "frame 000000 / 000000 — 000:00.000"  # the slider keeps its width
        self._position_label.setMinimumWidth(
            self._position_label.fontMetrics().horizontalAdvance(widest_text))
        controls = QHBoxLayout()
        controls.setContentsMargins(6, 2, 6, 2)
        controls.addWidget(self._slider, stretch=1)
        controls.addWidget(self._position_label)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._canvas, stretch=1)
        layout.addLayout(controls)

    @property
    def video(self) -> VideoInfo | None:
        """The open video, or None."""
        return self._video

    @property
    def shown_frame_idx(self) -> int | None:
        """The frame painted now (it lags the playhead while a decode is under way)."""
        return self._shown_frame_idx

    def shown_image(self) -> QImage:
        """The painted frame at full resolution, RGB888 (a null image when none)."""
        return self._canvas.image()

    def position_text(self) -> str:
        """The position label's text, e.g. ``"frame 12 / 472 — 00:00.501"``."""
        return self._position_label.text()

    def open_video(self, path: str | Path) -> None:
        """Open a video file or a folder of frames (answer: ``video_opened`` or ``open_failed``)."""
        self._loader.open(path)

    def shutdown(self) -> None:
        """Stop the decoding thread and close the video; the view shows nothing new afterwards."""
        self._loader.stop()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt override)
        steps = {Qt.Key.Key_Left: -1, Qt.Key.Key_Right: 1}
        if event.key() in steps and self._video is not None:
            self._playhead.step(steps[event.key()])
            event.accept()
            return
        super().keyPressEvent(event)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt override)
        self.shutdown()
        super().closeEvent(event)

    @Slot(object)
    def _on_video_opened(self, video: VideoInfo) -> None:
        self._video = video
        self._shown_frame_idx = None
        self._playhead.set_video(video.n_frames, video.fps)  # → requests frame 0
        self.video_opened.emit(video)

    @Slot(int, float)
    def _on_playhead_video_changed(self, n_frames: int, fps: float) -> None:
        with QSignalBlocker(self._slider):
            self._slider.setRange(0, max(n_frames - 1, 0))
            self._slider.setValue(0)
        self._slider.setEnabled(n_frames > 1)

    @Slot(int)
    def _on_playhead_frame_changed(self, frame_idx: int) -> None:
        with QSignalBlocker(self._slider):
            self._slider.setValue(frame_idx)
        if self._video is not None:
            self._loader.request_frame(frame_idx)

    @Slot(int, QImage)
    def _on_frame_ready(self, frame_idx: int, image: QImage) -> None:
        self._canvas.set_image(image)
        self._shown_frame_idx = frame_idx
        self._update_position_label(frame_idx)
        self.frame_shown.emit(frame_idx)

    @Slot(int, str)
    def _on_frame_failed(self, frame_idx: int, message: str) -> None:
        self._position_label.setText(f"frame {frame_idx}: cannot decode ({message})")

    def _update_position_label(self, frame_idx: int) -> None:
        fps = self._playhead.fps
        t_sec = frame_idx / fps if fps > 0 else None
        self._position_label.setText(
            f"frame {frame_idx} / {self._playhead.n_frames} — {format_timestamp(t_sec)}")

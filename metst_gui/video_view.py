"""The video panel: the current frame with face overlays, a frame slider, the position label
("frame i / n — mm:ss.fff") and the transport bar.

The panel shows the shared :class:`~metst_gui.view_state.Playhead`: the slider and the transport
(:class:`~metst_gui.playback.PlaybackController`: Space, ←/→, Shift+←/→, N/P, L, Ctrl+G) move the
playhead, and every playhead move asks the :class:`FrameLoader` for that frame, which is decoded on
a worker thread (or taken from its cache) and painted when it arrives. While playing, the loader
prefetches the frames ahead; while paused, a few on either side once the playhead rests.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QSignalBlocker, Qt, Signal, Slot
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QImage
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSlider, QVBoxLayout, QWidget

from core.rois import ROI_SET_NAMES, RoiSet, load_roi_set
from core.store import FeatureStore
from metst_gui.frame_canvas import FrameCanvas
from metst_gui.frame_loader import FrameLoader, VideoInfo
from metst_gui.overlay_source import FaceGeometry
from metst_gui.playback import PlaybackController
from metst_gui.transport_bar import TransportBar
from metst_gui.view_state import Playhead

if TYPE_CHECKING:
    from metst_gui.session import VideoSession

__all__ = ["VideoView", "format_timestamp"]

_PLACEHOLDER_TEXT = "File → Open video… (Ctrl+O)"
# (ahead, behind, delay_ms) frames prefetched around the shown one: playing / paused.
_PLAYING_PREFETCH = (16, 0, 0)
_PAUSED_PREFETCH = (8, 8, 150)
_OVERLAY_KEEP_FRAMES = 2  # an overlay this close to the new frame stays until its own arrives
_ROI_SET_LABELS = {"metst": "ME-TST ROIs (5)", "metst_plus": "ME-TST+ ROIs (18)"}


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

    Model: a :class:`Playhead` (the view moves it with the slider and the transport, and follows
    it). The transport is :attr:`playback`; its actions are added to this widget (window-wide
    shortcuts) and belong in the Playback menu; :meth:`overlay_actions` and
    :meth:`roi_set_actions` belong in a View → Overlays menu.
    Signals:
        video_opened(VideoInfo): :meth:`open_video` succeeded; the playhead was reset to frame 0.
        open_failed(str): opening failed; the message names the file. The old video stays.
        frame_shown(int frame_idx): that frame is now painted.
        overlay_failed(str): faces cannot be found for the overlays (said once per failure).
    """

    video_opened = Signal(object)
    open_failed = Signal(str)
    frame_shown = Signal(int)
    overlay_failed = Signal(str)

    def __init__(self, playhead: Playhead, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._playhead = playhead
        self._video: VideoInfo | None = None
        self._shown_frame_idx: int | None = None
        self._roi_sets: dict[str, RoiSet] = {}
        self._loader = FrameLoader(self)
        self._loader.set_prefetch(*_PAUSED_PREFETCH)
        self._playback = PlaybackController(playhead, self)
        self.addActions(self._playback.actions())
        self._build_layout()
        self._build_overlay_actions()
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        # model → view
        self._playhead.video_changed.connect(self._on_playhead_video_changed)
        self._playhead.frame_changed.connect(self._on_playhead_frame_changed)
        self._playback.playing_changed.connect(self._on_playing_changed)
        self._loader.opened.connect(self._on_video_opened)
        self._loader.open_failed.connect(self.open_failed)
        self._loader.frame_ready.connect(self._on_frame_ready)
        self._loader.frame_failed.connect(self._on_frame_failed)
        self._loader.geometry_ready.connect(self._on_geometry_ready)
        self._loader.overlay_failed.connect(self.overlay_failed)
        self.frame_shown.connect(self._playback.note_frame_shown)
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
        self._transport_bar = TransportBar(self._playback, self)
        controls = QHBoxLayout()
        controls.setContentsMargins(6, 2, 6, 2)
        controls.addWidget(self._slider, stretch=1)
        controls.addWidget(self._position_label)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._canvas, stretch=1)
        layout.addLayout(controls)
        layout.addWidget(self._transport_bar)

    def _build_overlay_actions(self) -> None:
        self._overlay_actions = []
        for text in ("&Face box", "&Landmarks", "&ROI boxes"):
            action = QAction(text, self)
            action.setCheckable(True)
            action.setStatusTip(f"Draw the {text.replace('&', '').lower()} over the video")
            action.toggled.connect(self._on_overlay_toggled)
            self._overlay_actions.append(action)
        self.face_box_action, self.landmarks_action, self.roi_boxes_action = self._overlay_actions
        group = QActionGroup(self)
        self._roi_set_actions = {}
        for name in ROI_SET_NAMES:
            action = QAction(_ROI_SET_LABELS.get(name, name), group)
            action.setCheckable(True)
            action.setStatusTip(f"Draw the boxes of the {name!r} ROI set")
            action.triggered.connect(lambda _checked=False, n=name: self.set_roi_set(n))
            self._roi_set_actions[name] = action
        self.set_roi_set("metst_plus")

    @property
    def video(self) -> VideoInfo | None:
        """The open video, or None."""
        return self._video

    @property
    def playback(self) -> PlaybackController:
        """The transport: play/pause, steps, interval jumps, speed, loop, go to frame."""
        return self._playback

    @property
    def frame_loader(self) -> FrameLoader:
        """The decoder (and its frame cache)."""
        return self._loader

    @property
    def canvas(self) -> FrameCanvas:
        return self._canvas

    @property
    def transport_bar(self) -> TransportBar:
        return self._transport_bar

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

    def overlay_actions(self) -> list[QAction]:
        """Checkable "Face box", "Landmarks" and "ROI boxes" (all off at first)."""
        return list(self._overlay_actions)

    def roi_set_actions(self) -> list[QAction]:
        """One exclusive, checkable action per ROI set (which ROI boxes are drawn)."""
        return list(self._roi_set_actions.values())

    def set_roi_set(self, name: str) -> None:
        """Draw the boxes of ROI set ``name`` (``"metst"`` or ``"metst_plus"``)."""
        if name not in self._roi_sets:
            self._roi_sets[name] = load_roi_set(name)  # ValueError names the valid sets
        self._canvas.set_roi_set(self._roi_sets[name])
        for set_name, action in self._roi_set_actions.items():
            action.setChecked(set_name == name)

    def set_feature_store(self, store: FeatureStore | None) -> None:
        """Take the overlays' face geometry from ``store`` when it holds the video."""
        self._loader.set_feature_store(store)
        self._refresh_overlay()

    def set_session(self, session: VideoSession | None) -> None:
        """Follow a project's video: its feature store and ROI set (None: detect, keep the set)."""
        self.set_feature_store(None if session is None else session.project.feature_store())
        if session is not None and session.project.settings.roi_set in ROI_SET_NAMES:
            self.set_roi_set(session.project.settings.roi_set)

    def open_video(self, path: str | Path) -> None:
        """Open a video file or a folder of frames (answer: ``video_opened`` or ``open_failed``)."""
        self._loader.open(path)

    def shutdown(self) -> None:
        """Stop playback and the decoding thread, close the video; nothing new is shown after."""
        self._playback.pause()
        self._loader.stop()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt override)
        self.shutdown()
        super().closeEvent(event)

    def _refresh_overlay(self) -> None:
        """Ask again for the frame at the playhead, so its geometry comes too."""
        overlays_on = any(action.isChecked() for action in self._overlay_actions)
        if overlays_on and self._video is not None and self._loader.is_running:
            self._loader.request_frame(self._playhead.frame_idx)

    @Slot(bool)
    def _on_overlay_toggled(self, _checked: bool) -> None:
        layers = [action.isChecked() for action in self._overlay_actions]
        self._canvas.set_overlay_layers(*layers)
        self._loader.set_overlays_enabled(any(layers))
        if any(layers) and self._canvas.overlay_geometry() is None:
            self._refresh_overlay()

    @Slot(bool)
    def _on_playing_changed(self, playing: bool) -> None:
        self._loader.set_prefetch(*(_PLAYING_PREFETCH if playing else _PAUSED_PREFETCH))

    @Slot(object)
    def _on_video_opened(self, video: VideoInfo) -> None:
        self._video = video
        self._shown_frame_idx = None
        self._canvas.set_overlay(None)
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

    @Slot(int, object)
    def _on_geometry_ready(self, frame_idx: int, geometry: FaceGeometry | None) -> None:
        if frame_idx == self._shown_frame_idx:  # (it follows its frame)
            self._canvas.set_overlay(geometry)

    @Slot(int, QImage)
    def _on_frame_ready(self, frame_idx: int, image: QImage) -> None:
        self._canvas.set_image(image)
        shown = self._canvas.overlay_geometry()  # kept until this frame's arrives (no flicker)
        if shown is not None and abs(shown.frame_idx - frame_idx) > _OVERLAY_KEEP_FRAMES:
            self._canvas.set_overlay(None)
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

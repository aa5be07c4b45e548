"""The review timeline: curve rows and interval tracks on one time axis, under the video.

Model: the shared :class:`~metst_gui.view_state.Playhead` (the rows follow it and move it) and
an :class:`~core.analysis.AnalysisResult` set with :meth:`TimelineView.set_result`. From top to
bottom: a strip of buttons (each row's menu, "follow playhead"), the overview strip (whole video,
the visible window as a draggable region), then the rows, X-linked over frame indices — spotting,
emotion, ROI traces and any track added with :meth:`TimelineView.add_track`. A playhead line runs
through all of them. The time ruler (``mm:ss.fff``) sits on top of the first row.
"""

from __future__ import annotations

import math
from pathlib import Path

import pyqtgraph as pg
import pyqtgraph.exporters
from PySide6.QtCore import QRectF, Signal
from PySide6.QtGui import QPainter, QPicture
from PySide6.QtSvg import QSvgGenerator
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QToolButton, QVBoxLayout, QWidget

from core.analysis import AnalysisResult
from metst_gui.timeline.curve_rows import AXIS_WIDTH_PX, CurveRow, make_playhead_line
from metst_gui.timeline.emotion_row import EmotionRow
from metst_gui.timeline.overview_strip import OverviewStrip
from metst_gui.timeline.roi_trace_row import RoiTraceRow
from metst_gui.timeline.spotting_row import SpottingRow
from metst_gui.timeline.time_axis import TimeAxisItem
from metst_gui.view_state import Playhead

__all__ = ["TimelineView", "DEFAULT_WINDOW_SEC", "MIN_VISIBLE_FRAMES"]

#: The window shown when a video opens (the whole video when it is shorter).
DEFAULT_WINDOW_SEC = 30.0
#: Zooming in stops at this many frames.
MIN_VISIBLE_FRAMES = 8
#: Where the playhead lands in the window when "follow playhead" pages the view (fraction).
_FOLLOW_MARGIN = 0.05
_OVERVIEW_HEIGHT_PX = 56
_ROW_SPACING_PX = 8
_MIN_ROW_HEIGHT_PX = 60


class TimelineView(QWidget):
    """Synchronised curve rows under the video (see the module doc).

    Signals:
        interval_drawn(int onset_frame, int offset_frame): Shift + left drag on a curve row
            ended; ordered and clamped to the video.
        visible_range_changed(int first_frame, int last_frame): the rows' x range changed.

    Attributes:
        spotting_row, emotion_row, roi_row: the curve rows; overview: the overview strip;
        rows_widget: the ``pg.GraphicsLayoutWidget`` holding the rows and tracks.
    """

    interval_drawn = Signal(int, int)
    visible_range_changed = Signal(int, int)

    def __init__(self, playhead: Playhead, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._playhead = playhead
        self._n_frames = 0
        self._syncing_overview = False
        self.time_axis = TimeAxisItem("top")
        self.spotting_row = SpottingRow(self.time_axis)
        self.emotion_row = EmotionRow()
        self.roi_row = RoiTraceRow()
        self.curve_rows: tuple[CurveRow, ...] = (self.spotting_row, self.emotion_row,
                                                 self.roi_row)
        self.tracks: list[pg.PlotItem] = []
        self.overview = OverviewStrip()
        self._build_layout()
        self._playhead_lines: list[tuple[pg.PlotItem, pg.InfiniteLine]] = [
            (row, row.playhead_line) for row in self.curve_rows]
        self._playhead_lines.append((self.overview, self.overview.playhead_line))
        for row in self.curve_rows:
            if row is not self.spotting_row:
                row.setXLink(self.spotting_row)
            row.view_box.seek_requested.connect(self._on_seek_requested)
            row.view_box.region_drawn.connect(self._on_region_drawn)
        self.spotting_row.view_box.sigXRangeChanged.connect(self._on_x_range_changed)
        self.overview.window_changed.connect(self._on_overview_window_changed)
        self._on_video_changed(playhead.n_frames, playhead.fps)
        playhead.video_changed.connect(self._on_video_changed)
        playhead.frame_changed.connect(self._on_frame_changed)

    def _build_layout(self) -> None:
        buttons = QHBoxLayout()
        for text, row in (("Spotting", self.spotting_row), ("Emotions", self.emotion_row),
                          ("ROI traces", self.roi_row)):
            button = QToolButton(self)
            button.setText(text)
            button.setMenu(row.menu)
            button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
            buttons.addWidget(button)
        self.follow_checkbox = QCheckBox("Follow playhead", self)
        self.follow_checkbox.setChecked(True)
        self.follow_checkbox.setToolTip("Page the view to keep the playhead visible")
        buttons.addWidget(self.follow_checkbox)
        buttons.addStretch(1)
        overview_widget = pg.GraphicsLayoutWidget(self)
        overview_widget.setFixedHeight(_OVERVIEW_HEIGHT_PX)
        overview_widget.ci.setContentsMargins(2, 2, 8, 2)
        overview_widget.addItem(self.overview)
        self.rows_widget = pg.GraphicsLayoutWidget(self)
        self.rows_widget.ci.setContentsMargins(2, 2, 8, 2)
        self.rows_widget.ci.setSpacing(_ROW_SPACING_PX)
        for row_idx, row in enumerate(self.curve_rows):
            self.rows_widget.addItem(row, row=row_idx, col=0)
            self.rows_widget.ci.layout.setRowStretchFactor(row_idx, 3)
            row.setMinimumHeight(_MIN_ROW_HEIGHT_PX)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(buttons)
        layout.addWidget(overview_widget)
        layout.addWidget(self.rows_widget, 1)

    # --- public API ---------------------------------------------------------------------------

    def set_result(self, result: AnalysisResult | None) -> None:
        """Show ``result``'s curves (None clears). Cheap when only the post-processing changed."""
        if result is None:
            self.spotting_row.clear_curve()
            self.emotion_row.clear_curves()
            self.roi_row.set_traces(None)
        else:
            curves = result.curves
            self.spotting_row.set_curve(curves.spot, result.postprocess, result.fps)
            self.emotion_row.set_curves(curves.recog, curves.class_names)
            self.roi_row.set_traces(result.traces)
        smoothed = self.spotting_row.smoothed
        if smoothed is not self.overview.spot:  # a new threshold p leaves the curve as it is
            self.overview.set_curve(smoothed)

    def add_track(self, item: pg.PlotItem, height: int = 60) -> None:
        """Add ``item`` as a row of ``height`` px below the curve rows.

        The track is X-linked to the rows, gets their x limits, a playhead line (do not remove
        it, e.g. with ``PlotItem.clear()``) and a left axis of the rows' width; it handles its
        own mouse (clicks on it do not seek).
        """
        row_idx = len(self.curve_rows) + len(self.tracks)
        self.rows_widget.addItem(item, row=row_idx, col=0)
        self.rows_widget.ci.layout.setRowStretchFactor(row_idx, 0)
        item.setMinimumHeight(height)
        item.setMaximumHeight(height)
        left_axis = item.getAxis("left")
        if not left_axis.isVisible():  # an empty axis keeps the track's x aligned with the rows
            item.showAxis("left")
            left_axis.setStyle(showValues=False)
            left_axis.setTicks([[], []])
        left_axis.setWidth(AXIS_WIDTH_PX)
        item.hideAxis("bottom")
        item.setXLink(self.spotting_row)
        line = make_playhead_line()
        item.addItem(line, ignoreBounds=True)
        line.setValue(self._playhead.frame_idx)
        self._playhead_lines.append((item, line))
        self.tracks.append(item)
        self._set_limits(item.getViewBox())

    def visible_range(self) -> tuple[int, int]:
        """``(first_frame, last_frame)`` shown by the rows, rounded and clamped to the video."""
        x_min, x_max = self.spotting_row.view_box.viewRange()[0]
        return self._clamp_frame(x_min), self._clamp_frame(x_max)

    def set_visible_range(self, first_frame: int, last_frame: int) -> None:
        """Show frames ``first_frame … last_frame`` (ordered; clamped by the video's limits)."""
        first_frame, last_frame = sorted((first_frame, last_frame))
        self.spotting_row.view_box.setXRange(first_frame, last_frame, padding=0)

    @property
    def follow_playhead(self) -> bool:
        """Whether the view pages to keep the playhead visible (on by default)."""
        return self.follow_checkbox.isChecked()

    def set_follow_playhead(self, follow: bool) -> None:
        self.follow_checkbox.setChecked(follow)

    def export_image(self, path: Path) -> None:
        """Save the rows (and tracks) as PNG or SVG, chosen by ``path``'s suffix.

        PNG goes through pyqtgraph's ImageExporter. SVG is Qt's own vector rendering of the rows
        (QSvgGenerator): pyqtgraph 0.14's SVGExporter fails on the closed paths Qt 6.11 writes
        (pyqtgraph issue #3495).

        Raises:
            ValueError: another suffix.
        """
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix == ".png":
            pyqtgraph.exporters.ImageExporter(self.rows_widget.ci).export(str(path))
        elif suffix == ".svg":
            self._export_svg(path)
        else:
            raise ValueError(f"{path.name}: cannot export the timeline as "
                             f"{suffix or 'a file without suffix'}; use .png or .svg")

    def _export_svg(self, path: Path) -> None:
        source_rect = self.rows_widget.ci.sceneBoundingRect()
        target_rect = QRectF(0, 0, source_rect.width(), source_rect.height())
        generator = QSvgGenerator()
        generator.setFileName(str(path))
        generator.setSize(target_rect.size().toSize())
        generator.setViewBox(target_rect)
        generator.setTitle("ME-TST Studio timeline")
        # pyqtgraph's axes replay QPictures, which Qt rescales by the device's DPI: match it.
        generator.setResolution(QPicture().logicalDpiX())
        painter = QPainter(generator)
        try:
            painter.fillRect(target_rect, self.rows_widget.backgroundBrush())
            self.rows_widget.scene().render(painter, target_rect, source_rect)
        finally:
            painter.end()

    def shutdown(self) -> None:
        """Stop following the playhead (the view owns no timers or threads)."""
        for signal, slot in ((self._playhead.video_changed, self._on_video_changed),
                             (self._playhead.frame_changed, self._on_frame_changed)):
            try:
                signal.disconnect(slot)
            except (RuntimeError, TypeError):  # already disconnected
                pass

    # --- model -> view ------------------------------------------------------------------------

    def _on_video_changed(self, n_frames: int, fps: float) -> None:
        """A new video: x spans its frames, labels use its fps, the old curves go."""
        self._n_frames = n_frames
        self.time_axis.set_fps(fps)
        self.set_result(None)
        self.overview.set_n_frames(n_frames)
        for plot in (*self.curve_rows, *self.tracks):
            self._set_limits(plot.getViewBox())
        last_frame = max(n_frames - 1, 1)
        window_frames = DEFAULT_WINDOW_SEC * fps if fps > 0 else last_frame
        self.set_visible_range(0, int(min(last_frame, max(window_frames, MIN_VISIBLE_FRAMES))))
        self._on_frame_changed(self._playhead.frame_idx)

    def _set_limits(self, view_box: pg.ViewBox) -> None:
        last_frame = max(self._n_frames - 1, 1)
        view_box.setLimits(xMin=0, xMax=last_frame,
                           minXRange=min(MIN_VISIBLE_FRAMES, last_frame), maxXRange=last_frame)

    def _on_frame_changed(self, frame_idx: int) -> None:
        for plot, line in self._playhead_lines:
            if line.parentItem() is None:  # the item was cleared: put the line back
                plot.addItem(line, ignoreBounds=True)
            line.setValue(frame_idx)
        if self.follow_playhead and self._n_frames > 0:
            self._keep_visible(frame_idx)

    def _keep_visible(self, frame_idx: int) -> None:
        """Page the view when ``frame_idx`` left it, so that it shows near the left edge."""
        x_min, x_max = self.spotting_row.view_box.viewRange()[0]
        if x_min <= frame_idx <= x_max:
            return
        width = x_max - x_min
        first_frame = frame_idx - _FOLLOW_MARGIN * width
        self.spotting_row.view_box.setXRange(first_frame, first_frame + width, padding=0)

    def _on_x_range_changed(self) -> None:
        x_min, x_max = self.spotting_row.view_box.viewRange()[0]
        if not self._syncing_overview:
            self.overview.set_window(x_min, x_max)
        self.visible_range_changed.emit(*self.visible_range())

    # --- view -> model ------------------------------------------------------------------------

    def _on_overview_window_changed(self, first_frame: float, last_frame: float) -> None:
        self._syncing_overview = True
        try:
            self.spotting_row.view_box.setXRange(first_frame, last_frame, padding=0)
        finally:
            self._syncing_overview = False
        x_min, x_max = self.spotting_row.view_box.viewRange()[0]
        if (x_min, x_max) != (first_frame, last_frame):  # the limits clamped it
            self.overview.set_window(x_min, x_max)

    def _on_seek_requested(self, x: float) -> None:
        self._playhead.set_frame(self._clamp_frame(x))

    def _on_region_drawn(self, x_start: float, x_end: float) -> None:
        if self._n_frames == 0:
            return
        onset_frame, offset_frame = sorted((self._clamp_frame(x_start), self._clamp_frame(x_end)))
        self.interval_drawn.emit(onset_frame, offset_frame)

    def _clamp_frame(self, x: float) -> int:
        if not math.isfinite(x):
            return 0
        return min(max(round(x), 0), max(self._n_frames - 1, 0))

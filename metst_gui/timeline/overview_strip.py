"""The overview strip: the whole video's spotting curve and the window the rows show.

The visible window of the curve rows is a draggable region: drag it to pan, drag its edges to
zoom, click (or drag) outside it to centre the window there. The strip never zooms itself; it
always spans the whole video.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from pyqtgraph.GraphicsScene.mouseEvents import MouseClickEvent, MouseDragEvent
from PySide6.QtCore import Qt, Signal

from metst_gui.colors import SPOT_COLOR
from metst_gui.timeline.curve_rows import (
    AXIS_WIDTH_PX,
    make_curve,
    make_playhead_line,
    set_fast_curves,
)

__all__ = ["OverviewStrip"]

_WINDOW_BRUSH = (255, 255, 255, 45)
_WINDOW_HOVER_BRUSH = (255, 255, 255, 70)


class _OverviewViewBox(pg.ViewBox):
    """A fixed view: left click or drag asks to centre the window at the frame under the mouse."""

    def __init__(self, strip: OverviewStrip) -> None:
        super().__init__(enableMenu=False)
        self.setMouseEnabled(x=False, y=False)
        self._strip = strip

    def mouseClickEvent(self, ev: MouseClickEvent) -> None:  # noqa: N802 (Qt override)
        if ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            self._strip.center_window_at(self.mapSceneToView(ev.scenePos()).x())

    def mouseDragEvent(self, ev: MouseDragEvent,  # noqa: N802 (Qt override)
                       axis: int | None = None) -> None:
        if ev.button() != Qt.MouseButton.LeftButton or axis is not None:
            ev.ignore()
            return
        ev.accept()
        self._strip.center_window_at(self.mapSceneToView(ev.scenePos()).x())

    def wheelEvent(self, ev: object, axis: int | None = None) -> None:  # noqa: N802 (Qt override)
        ev.ignore()


class OverviewStrip(pg.PlotItem):
    """Whole-video spotting curve with the rows' visible window as a region.

    Signals:
        window_changed(float first_frame, float last_frame): the user moved or resized the
            window (not emitted by :meth:`set_window`).
    """

    window_changed = Signal(float, float)

    def __init__(self) -> None:
        super().__init__(viewBox=_OverviewViewBox(self))
        self.setMenuEnabled(False)
        self.hideButtons()
        self.hideAxis("bottom")
        left_axis = self.getAxis("left")
        left_axis.setWidth(AXIS_WIDTH_PX)
        left_axis.setStyle(showValues=False)
        left_axis.setTicks([[], []])
        self.setLabel("left", "video")
        self.vb.disableAutoRange()
        self.vb.setYRange(0.0, 1.0, padding=0.05)
        set_fast_curves(self, clip_to_view=False)  # the strip always shows the whole video
        self.curve = make_curve(pg.mkPen(SPOT_COLOR))
        self.addItem(self.curve)
        self.region = pg.LinearRegionItem(values=(0, 1), brush=_WINDOW_BRUSH,
                                          hoverBrush=_WINDOW_HOVER_BRUSH)
        self.region.setZValue(500)
        self.addItem(self.region, ignoreBounds=True)
        self.playhead_line = make_playhead_line()
        self.addItem(self.playhead_line, ignoreBounds=True)
        self._n_frames = 0
        self._spot: np.ndarray | None = None
        self._updating = False
        self.region.sigRegionChanged.connect(self._on_region_changed)

    def set_n_frames(self, n_frames: int) -> None:
        """Span a video of ``n_frames`` frames; the curve is cleared."""
        self._n_frames = n_frames
        last_frame = max(n_frames - 1, 1)
        self.vb.setXRange(0, last_frame, padding=0)
        self.region.setBounds((0, last_frame))
        self.set_curve(None)

    @property
    def spot(self) -> np.ndarray | None:
        """The (T,) curve last given to :meth:`set_curve`."""
        return self._spot

    def set_curve(self, spot: np.ndarray | None) -> None:
        """Show the (T,) spotting curve of the whole video (None clears)."""
        self._spot = spot
        self.curve.setData([] if spot is None else np.asarray(spot, dtype=np.float32))

    def set_window(self, first_frame: float, last_frame: float) -> None:
        """Show the rows' visible range (does not emit ``window_changed``)."""
        self._updating = True
        try:
            self.region.setRegion((first_frame, last_frame))
        finally:
            self._updating = False

    def window(self) -> tuple[float, float]:
        first_frame, last_frame = self.region.getRegion()
        return float(first_frame), float(last_frame)

    def center_window_at(self, frame_idx: float) -> None:
        """Move the window (same width) so that ``frame_idx`` is its centre, within the video."""
        first_frame, last_frame = self.window()
        width = last_frame - first_frame
        first_frame = min(max(frame_idx - width / 2, 0.0), max(self._n_frames - 1 - width, 0.0))
        self.region.setRegion((first_frame, first_frame + width))

    def _on_region_changed(self) -> None:
        if not self._updating:
            self.window_changed.emit(*self.window())

"""What every curve row of the timeline shares: the mouse, the playhead line, fast curves.

A curve row is a ``pg.PlotItem`` over frame indices whose y range is fixed (only x zooms and
pans, and only together with the other rows). Its :class:`CurveViewBox` turns the mouse into
requests the :class:`~metst_gui.timeline.timeline_view.TimelineView` carries out:

- left click or left drag: seek the playhead to the frame under the mouse;
- Shift + left drag: draw a region (shown while dragging), reported on release;
- wheel: zoom x around the cursor; middle or right drag: pan x;
- right click: the row's menu (which curves it shows).

Curves hold up to hours of frames (108,000 points per curve for an hour at 30 fps); they are
drawn clipped to the view and peak-downsampled to the screen's width (:func:`make_curve`).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from pyqtgraph.GraphicsScene.mouseEvents import MouseClickEvent, MouseDragEvent
from PySide6.QtCore import QPoint, QPointF, Qt, Signal
from PySide6.QtWidgets import QMenu

from metst_gui.colors import PLAYHEAD_COLOR

__all__ = ["CurveRow", "CurveViewBox", "make_curve", "set_fast_curves", "make_playhead_line",
           "AXIS_WIDTH_PX", "DRAWN_REGION_BRUSH", "LEGEND_BRUSH"]

#: Width of every row's left axis, so that a frame lies at the same pixel in every row.
AXIS_WIDTH_PX = 64
#: Fill of the region shown while Shift-dragging a new interval.
DRAWN_REGION_BRUSH = (31, 119, 180, 60)
#: Legends sit over the curves: a dark, mostly opaque background keeps them readable.
LEGEND_BRUSH = (0, 0, 0, 170)


def make_curve(pen: object, name: str | None = None) -> pg.PlotDataItem:
    """An empty curve for long data (no NaN checks); the row it joins clips and downsamples it.

    Keep ``pen`` one pixel wide: Qt draws wider lines many times slower, and a peak-downsampled
    curve is a comb of vertical segments.
    """
    curve = pg.PlotDataItem(pen=pen, name=name, skipFiniteCheck=True, connect="all")
    # One (min, max) bin per pixel column is the exact envelope; pyqtgraph's default of five
    # draws five times the segments for the same picture. (An option without a setter.)
    curve.opts["autoDownsampleFactor"] = 1.0
    return curve


def set_fast_curves(plot: pg.PlotItem, clip_to_view: bool = True) -> None:
    """Make ``plot`` peak-downsample its curves to the screen (and draw only the visible part).

    PlotItem applies its own downsampling settings to every curve it adds, so they are set here,
    on the plot, not on the curves.
    """
    plot.setDownsampling(auto=True, mode="peak")
    plot.setClipToView(clip_to_view)


def make_playhead_line() -> pg.InfiniteLine:
    """The vertical playhead line (not draggable: clicking the row moves the playhead)."""
    line = pg.InfiniteLine(pos=0, angle=90, movable=False, pen=pg.mkPen(PLAYHEAD_COLOR, width=2))
    line.setZValue(1000)
    return line


class CurveViewBox(pg.ViewBox):
    """The view of a curve row: x zooms and pans, the left button seeks or draws a region.

    Signals:
        seek_requested(float x): left click or left drag at frame ``x`` (not rounded).
        region_drawn(float x_start, float x_end): a Shift + left drag ended (unordered).
        menu_requested(QPoint screen_pos): right click.
    """

    seek_requested = Signal(float)
    region_drawn = Signal(float, float)
    menu_requested = Signal(QPoint)

    def __init__(self) -> None:
        super().__init__(enableMenu=False)
        self.setMouseEnabled(x=True, y=False)
        self._drag_mode: str | None = None  # "seek", "draw" or "pan" during a drag
        self._drag_start_x = 0.0
        self.drawn_region = pg.LinearRegionItem(
            movable=False, brush=DRAWN_REGION_BRUSH, pen=pg.mkPen(DRAWN_REGION_BRUSH[:3]))
        self.drawn_region.setZValue(900)
        self.drawn_region.hide()
        self.addItem(self.drawn_region, ignoreBounds=True)

    def _x_at(self, scene_pos: QPointF) -> float:
        return float(self.mapSceneToView(scene_pos).x())

    def mouseClickEvent(self, ev: MouseClickEvent) -> None:  # noqa: N802 (Qt override)
        if ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            self.seek_requested.emit(self._x_at(ev.scenePos()))
        elif ev.button() == Qt.MouseButton.RightButton:
            ev.accept()
            self.menu_requested.emit(ev.screenPos().toPoint())
        else:
            ev.ignore()

    def mouseDragEvent(self, ev: MouseDragEvent,  # noqa: N802 (Qt override)
                       axis: int | None = None) -> None:
        if axis is not None:  # dragging an axis pans (pyqtgraph's own behaviour)
            super().mouseDragEvent(ev, axis)
            return
        ev.accept()
        if ev.isStart():
            self._drag_mode = self._mode_for(ev.button(), ev.modifiers())
            self._drag_start_x = self._x_at(ev.buttonDownScenePos(ev.button()))
        x = self._x_at(ev.scenePos())
        if self._drag_mode == "seek":
            self.seek_requested.emit(x)
        elif self._drag_mode == "pan":
            self.translateBy(x=self._x_at(ev.lastScenePos()) - x)
            self.sigRangeChangedManually.emit(self.state["mouseEnabled"])
        elif self._drag_mode == "draw":
            self.drawn_region.setRegion(sorted((self._drag_start_x, x)))
            self.drawn_region.setVisible(not ev.isFinish())
            if ev.isFinish():
                self.region_drawn.emit(self._drag_start_x, x)
        if ev.isFinish():
            self._drag_mode = None

    @staticmethod
    def _mode_for(button: Qt.MouseButton, modifiers: Qt.KeyboardModifier) -> str | None:
        if button == Qt.MouseButton.LeftButton:
            return "draw" if modifiers & Qt.KeyboardModifier.ShiftModifier else "seek"
        if button in (Qt.MouseButton.MiddleButton, Qt.MouseButton.RightButton):
            return "pan"
        return None


class CurveRow(pg.PlotItem):
    """Base of the spotting, emotion and ROI-trace rows: a fixed y range over frame indices.

    Attributes:
        view_box: the row's :class:`CurveViewBox` (its signals are the row's mouse requests).
        playhead_line: the row's playhead line (the TimelineView moves it).
        menu: the row's right-click menu (subclasses fill it), also shown by the view's buttons.
    """

    def __init__(self, y_label: str, y_range: tuple[float, float] = (0.0, 1.0),
                 axis_items: dict[str, pg.AxisItem] | None = None) -> None:
        self.view_box = CurveViewBox()
        super().__init__(viewBox=self.view_box, axisItems=axis_items)
        self.setMenuEnabled(False)
        self.hideButtons()
        set_fast_curves(self)
        self.hideAxis("bottom")
        left_axis = self.getAxis("left")
        left_axis.setWidth(AXIS_WIDTH_PX)
        self.setLabel("left", y_label)
        self.view_box.disableAutoRange()
        self.set_y_range(*y_range)
        self.playhead_line = make_playhead_line()
        self.addItem(self.playhead_line, ignoreBounds=True)
        self.menu = QMenu()
        self.view_box.menu_requested.connect(self._show_menu)

    def add_row_legend(self) -> pg.LegendItem:
        """A legend in the top-right corner (clicking an entry shows or hides its curve)."""
        return self.addLegend(offset=(-4, 4), labelTextSize="8pt", verSpacing=-6,
                              brush=LEGEND_BRUSH)

    def set_probability_ticks(self) -> None:
        """Label y at 0, 0.5 and 1 only (rows of scores and probabilities)."""
        self.getAxis("left").setTicks([[(0.0, "0"), (0.5, "0.5"), (1.0, "1")], []])

    def set_y_range(self, y_min: float, y_max: float) -> None:
        """Fix the y range to ``[y_min, y_max]`` (a flat range is widened to stay drawable)."""
        if not (np.isfinite(y_min) and np.isfinite(y_max)):
            y_min, y_max = 0.0, 1.0
        elif y_max - y_min <= 1e-9:
            y_min, y_max = y_min - 0.5, y_min + 0.5
        self.view_box.setYRange(y_min, y_max, padding=0)

    def add_curve(self, curve: pg.PlotDataItem) -> None:
        """Add a :func:`make_curve` item (to the legend too, when the row has one).

        The curve is parented to the view before pyqtgraph adds it to the scene: a clipped curve
        added the other way round looks for its view while it has none and fails (pyqtgraph
        0.14, for a row already on screen).
        """
        curve.setParentItem(self.view_box.childGroup)
        self.addItem(curve)

    def _show_menu(self, screen_pos: QPoint) -> None:
        if not self.menu.isEmpty():
            self.menu.popup(screen_pos)

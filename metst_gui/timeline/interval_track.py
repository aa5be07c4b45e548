"""The interval track: the open video's annotations as bands on the shared time axis, edited with
the mouse.

:class:`IntervalTrack` is a ``pg.PlotItem`` (x: frames, X-linked to the curve rows by the
timeline; y: two lanes — model proposals above, human and reviewed intervals below; see
:mod:`metst_gui.timeline.interval_band`). Only the annotations overlapping the visible x-range get
a band item, taken from a pool of hidden bands (at most MAX_SPARE_BANDS are kept), so a video with
thousands of intervals stays fast.

Mouse (left button): click a band to select it (double-click: the playhead to its apex); click
empty track to clear the selection and move the playhead there; drag an edge to move it, the apex
line to move the apex, the body to move the interval, empty track to draw a new interval. A drag
previews the result and changes nothing until release, which is ONE undo step; every position
snaps to whole frames; Esc during a drag cancels it. The middle button pans, the wheel zooms.

Signals:
    edge_edited(str): ``"onset"`` or ``"offset"`` was dragged (``EditActions.set_active_edge``).
    message(str): why a drag changed nothing (for the status bar).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import pyqtgraph as pg
import shiboken6
from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtWidgets import QApplication, QGraphicsItem

from core.annotations import Annotation, AnnotationChange, edited
from metst_gui.colors import UNLABELLED_COLOR, emotion_color
from metst_gui.edit_actions import PendingInterval, default_apex_frame, human_interval
from metst_gui.session import VideoSession
from metst_gui.timeline.interval_band import (
    EDGE_GRAB_PX,
    LANE_PROPOSED,
    LANE_REVIEWED,
    BandRun,
    BandStyle,
    DragZone,
    IntervalBand,
    band_style_of,
    coalesce,
    dragged_frames,
    lane_of,
    pick_zone,
)
from metst_gui.view_state import Playhead, Selection

__all__ = ["IntervalTrack"]

MAX_BANDS = 600  # more intervals in view than this are drawn as runs (see coalesce)
MAX_SPARE_BANDS = 64  # hidden bands kept for reuse; more leave the scene (after a wide zoom)
RUN_GAP_PX = 3.0  # intervals closer than this on screen join one run
_DRAG_TEXTS = {DragZone.ONSET: "Move onset", DragZone.OFFSET: "Move offset",
               DragZone.APEX: "Move apex", DragZone.BODY: "Move interval"}
_CURSORS = {DragZone.ONSET: Qt.CursorShape.SizeHorCursor,
            DragZone.OFFSET: Qt.CursorShape.SizeHorCursor,
            DragZone.APEX: Qt.CursorShape.SplitHCursor, DragZone.BODY: Qt.CursorShape.SizeAllCursor}


def _frame_at(x: float) -> int:
    """The frame whose cell ``[f - 0.5, f + 0.5)`` holds time-axis position ``x``."""
    return int(math.floor(x + 0.5))


@dataclass(frozen=True)
class _Drag:
    zone: DragZone
    original: Annotation | None  # None while creating
    press_frame: int
    frames: tuple[int, int, int]  # (onset, apex, offset) when the drag started


class _TrackViewBox(pg.ViewBox):
    """A view box that hands left-button clicks, drags and hovers to the track."""

    def __init__(self) -> None:
        super().__init__(enableMenu=False)
        self.on_drag: Callable[[object], bool] = lambda ev: False
        self.on_click: Callable[[object], bool] = lambda ev: False
        self.on_hover: Callable[[object], None] = lambda ev: None

    def mouseDragEvent(self, ev: object, axis: int | None = None) -> None:  # noqa: N802
        if axis is not None or ev.button() != Qt.MouseButton.LeftButton or not self.on_drag(ev):
            super().mouseDragEvent(ev, axis)

    def mouseClickEvent(self, ev: object) -> None:  # noqa: N802
        if not self.on_click(ev):
            super().mouseClickEvent(ev)

    def hoverEvent(self, ev: object) -> None:  # noqa: N802
        self.on_hover(ev)


class _EscapeFilter(QObject):
    """Application-wide while a drag runs: Esc cancels the drag, wherever the focus is."""

    def __init__(self, on_escape: Callable[[], None], parent: QObject) -> None:
        super().__init__(parent)
        self._on_escape = on_escape

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802
        if (event.type() in (QEvent.Type.KeyPress, QEvent.Type.ShortcutOverride)
                and event.key() == Qt.Key.Key_Escape):
            event.accept()  # an accepted ShortcutOverride keeps Esc's window shortcut quiet
            self._on_escape()
            return True
        return False


class IntervalTrack(pg.PlotItem):
    """The annotations of the open :class:`VideoSession` as editable bands (see the module)."""

    edge_edited = Signal(str)
    message = Signal(str)

    def __init__(self, playhead: Playhead, selection: Selection,
                 parent: QGraphicsItem | None = None) -> None:
        view_box = _TrackViewBox()
        super().__init__(parent=parent, viewBox=view_box, enableMenu=False)
        self._view_box = view_box
        self._playhead = playhead
        self._selection = selection
        self._session: VideoSession | None = None
        self._show_rejected = True
        self._bands: dict[str, IntervalBand] = {}  # annotation id → its band, in view only
        self._pool: list[IntervalBand] = []  # hidden bands ready for reuse
        self._run_bands: list[IntervalBand] = []  # crowded view: one band per run of neighbours
        self._drag: _Drag | None = None
        self._filtering_keys = False
        self._escape_filter = _EscapeFilter(self.cancel_drag, self)
        self._pending: PendingInterval | None = None
        self._preview_band = self._new_band()
        self._pending_band = self._new_band()
        self.hideButtons()
        self.hideAxis("bottom")
        self.getAxis("left").setTicks([[(0.5, "review"), (1.5, "model")]])
        self.setMouseEnabled(x=True, y=False)
        view_box.disableAutoRange()
        view_box.setYRange(0, 2, padding=0)
        view_box.on_drag, view_box.on_click, view_box.on_hover = (
            self._on_drag, self._on_click, self._on_hover)
        view_box.sigXRangeChanged.connect(self._refresh_bands)
        view_box.sigResized.connect(self._refresh_bands)
        selection.changed.connect(self._refresh_bands)
        playhead.frame_changed.connect(self._draw_pending)

    # ------------------------------------------------------------------ public

    def set_session(self, session: VideoSession | None) -> None:
        """Show ``session``'s annotations (None: an empty track)."""
        self.cancel_drag()
        self._stop_filtering_keys()
        old = self._session
        if old is not None and shiboken6.isValid(old):
            old.annotations_changed.disconnect(self._on_annotations_changed)
        self._session = session
        self._pending = None
        if session is not None:
            session.annotations_changed.connect(self._on_annotations_changed)
        self._draw_pending()
        self._refresh_bands()

    @property
    def show_rejected(self) -> bool:
        return self._show_rejected

    def set_show_rejected(self, show: bool) -> None:
        """Draw rejected proposals (faint, hatched) or hide them."""
        self._show_rejected = bool(show)
        self._refresh_bands()

    def set_pending(self, pending: PendingInterval | None) -> None:
        """Draw the interval being made with I … O (from its onset to the playhead), or none."""
        self._pending = pending
        self._draw_pending()

    def shown_bands(self) -> dict[str, IntervalBand]:
        """The band items now shown for one annotation each, by id: those in view, or only the
        selected one when more than :data:`MAX_BANDS` are in view (then drawn as runs)."""
        return dict(self._bands)

    def shown_runs(self) -> list[IntervalBand]:
        """The band items now standing for runs of neighbouring intervals (crowded view)."""
        return list(self._run_bands)

    def cancel_drag(self) -> None:
        """Drop the drag in progress: its preview goes, the annotations stay as they were."""
        if self._drag is not None:
            original = self._drag.original
            self._drag = None
            self._preview_band.hide()
            if original is not None:
                self._refresh_bands()

    # ---------------------------------------------------------------- drawing

    def _new_band(self) -> IntervalBand:
        band = IntervalBand()
        self._view_box.addItem(band, ignoreBounds=True)
        band.hide()
        return band

    def _frames_per_px(self) -> float:
        frames_per_px = self._view_box.viewPixelSize()[0]
        return frames_per_px if math.isfinite(frames_per_px) and frames_per_px > 0 else 1.0

    def _is_shown(self, annotation: Annotation) -> bool:
        return self._show_rejected or annotation.status != "rejected"

    def _refresh_bands(self, *_: object) -> None:
        """Give a band to each shown annotation in the x-range and put the others' back."""
        wanted: list[Annotation] = []
        if self._session is not None:
            x_first, x_last = self._view_box.viewRange()[0]
            wanted = [a for a in self._session.annotations.in_range(math.floor(x_first),
                                                                     math.ceil(x_last))
                      if self._is_shown(a)]
        frames_per_px = self._frames_per_px()
        runs: list[BandRun] = []
        if len(wanted) > MAX_BANDS:  # crowded: runs of neighbours, the selected one on its own
            runs = coalesce(wanted, RUN_GAP_PX * frames_per_px)
            wanted = [a for a in wanted if a.id == self._selection.annotation_id]
        self._draw_runs(runs, frames_per_px)
        wanted_ids = {a.id for a in wanted}
        for annotation_id in [i for i in self._bands if i not in wanted_ids]:
            band = self._bands.pop(annotation_id)
            band.hide()
            band.annotation_id = None
            self._pool.append(band)
        dragged_id = None if self._drag is None or self._drag.original is None else (
            self._drag.original.id)
        for annotation in wanted:
            band = self._bands.get(annotation.id)
            if band is None:
                band = self._pool.pop() if self._pool else self._new_band()
                band.annotation_id = annotation.id
                self._bands[annotation.id] = band
                band.show()
            band.set_interval(annotation.onset_frame, annotation.apex_frame,
                              annotation.offset_frame, lane_of(annotation), frames_per_px)
            band.set_look(emotion_color(annotation.emotion), band_style_of(annotation),
                          selected=annotation.id == self._selection.annotation_id,
                          dimmed=annotation.id == dragged_id)
        while len(self._pool) > MAX_SPARE_BANDS:
            self._view_box.removeItem(self._pool.pop())

    def _draw_runs(self, runs: list[BandRun], frames_per_px: float) -> None:
        while len(self._run_bands) > len(runs):
            band = self._run_bands.pop()
            band.hide()
            self._pool.append(band)
        while len(self._run_bands) < len(runs):
            band = self._pool.pop() if self._pool else self._new_band()
            band.show()
            self._run_bands.append(band)
        for band, run in zip(self._run_bands, runs, strict=True):
            band.set_interval(run.onset_frame, None, run.offset_frame, run.lane, frames_per_px)
            band.set_look(run.rgb, run.style)

    def _draw_pending(self, *_: object) -> None:
        if self._pending is None or self._session is None:
            self._pending_band.hide()
            return
        onset_frame, offset_frame = sorted((self._pending.onset_frame, self._playhead.frame_idx))
        apex_frame = self._pending.apex_frame
        if apex_frame is not None and not onset_frame <= apex_frame <= offset_frame:
            apex_frame = None
        self._pending_band.set_interval(onset_frame, apex_frame, offset_frame, LANE_REVIEWED,
                                        self._frames_per_px())
        self._pending_band.set_look(UNLABELLED_COLOR, BandStyle.PENDING)
        self._pending_band.show()

    def _on_annotations_changed(self, change: AnnotationChange) -> None:
        if (self._drag is not None and self._drag.original is not None
                and self._drag.original.id in change.touched_ids):
            self.cancel_drag()  # e.g. undo during the drag: the dragged record is gone
        self._refresh_bands()

    # ------------------------------------------------------------------ mouse

    def _hit(self, x: float, y: float) -> tuple[Annotation, DragZone] | None:
        """The shown annotation (and the part of it) a press at data point ``(x, y)`` grabs."""
        if self._session is None or not 0 <= y <= 2:
            return None
        lane = LANE_PROPOSED if y >= 1 else LANE_REVIEWED
        frames_per_px = self._frames_per_px()
        reach = EDGE_GRAB_PX * frames_per_px + 1
        candidates = [a for a in self._session.annotations.in_range(math.floor(x - reach),
                                                                    math.ceil(x + reach))
                      if lane_of(a) == lane and self._is_shown(a)]
        return pick_zone(candidates, x, frames_per_px, self._selection.annotation_id)

    def _on_click(self, ev: object) -> bool:
        if ev.button() != Qt.MouseButton.LeftButton or self._session is None:
            return False
        ev.accept()
        point = self._view_box.mapToView(ev.pos())
        hit = self._hit(point.x(), point.y())
        if hit is None:
            self._selection.select(None)
            self._playhead.set_frame(_frame_at(point.x()))
        else:
            self._selection.select(hit[0].id)
            if ev.double():
                self._playhead.set_frame(hit[0].apex_frame)
        return True

    def _on_hover(self, ev: object) -> None:
        if ev.isExit() or self._session is None or self._drag is not None:
            if ev.isExit():
                self._view_box.unsetCursor()
            return
        point = self._view_box.mapToView(ev.pos())
        hit = self._hit(point.x(), point.y())
        self._view_box.setCursor(Qt.CursorShape.ArrowCursor if hit is None else _CURSORS[hit[1]])

    def _on_drag(self, ev: object) -> bool:
        if self._session is None:
            return False
        ev.accept()
        if ev.isStart():
            self._start_drag(self._view_box.mapToView(ev.buttonDownPos()))
        drag = self._drag
        if drag is not None:
            now_frame = _frame_at(self._view_box.mapToView(ev.pos()).x())
            frames = dragged_frames(drag.zone, drag.frames, drag.press_frame, now_frame,
                                    self._session.n_frames)
            if ev.isFinish():
                self.cancel_drag()
                self._commit(drag, frames)
            else:
                self._preview(drag, frames)
        if ev.isFinish():  # a finished or an Esc-cancelled drag
            self._stop_filtering_keys()
        return True

    def _stop_filtering_keys(self) -> None:
        if self._filtering_keys:
            QApplication.instance().removeEventFilter(self._escape_filter)
            self._filtering_keys = False

    def _start_drag(self, press_point: object) -> None:
        press_frame = _frame_at(press_point.x())
        hit = self._hit(press_point.x(), press_point.y())
        if hit is None:
            self._drag = _Drag(DragZone.CREATE, None, press_frame, (press_frame,) * 3)
        else:
            annotation, zone = hit
            self._drag = _Drag(zone, annotation, press_frame, (
                annotation.onset_frame, annotation.apex_frame, annotation.offset_frame))
            self._selection.select(annotation.id)
            self._refresh_bands()  # dim the band the preview now stands for
        if not self._filtering_keys:
            QApplication.instance().installEventFilter(self._escape_filter)
            self._filtering_keys = True

    def _preview(self, drag: _Drag, frames: tuple[int, int, int]) -> None:
        original = drag.original
        lane = LANE_REVIEWED if original is None else lane_of(original)
        emotion = "" if original is None else original.emotion
        onset_frame, apex_frame, offset_frame = frames
        if original is None:  # the apex the new interval will get
            apex_frame = default_apex_frame(self._session, onset_frame, offset_frame)
        self._preview_band.set_interval(onset_frame, apex_frame, offset_frame, lane,
                                        self._frames_per_px())
        self._preview_band.set_look(emotion_color(emotion), BandStyle.PREVIEW)
        self._preview_band.show()

    def _commit(self, drag: _Drag, frames: tuple[int, int, int]) -> None:
        """One undo step for a finished drag (none when it ended where it started)."""
        session = self._session
        onset_frame, apex_frame, offset_frame = frames
        if drag.original is None:
            annotation = human_interval(session, onset_frame, offset_frame)
            if self._apply(AnnotationChange((), (annotation,)), "Add interval"):
                self._selection.select(annotation.id)
            return
        if frames == drag.frames:
            return
        moved = edited(drag.original, annotator=session.annotator, onset_frame=onset_frame,
                       apex_frame=apex_frame, offset_frame=offset_frame)
        if (self._apply(AnnotationChange((drag.original,), (moved,)), _DRAG_TEXTS[drag.zone])
                and drag.zone in (DragZone.ONSET, DragZone.OFFSET)):
            self.edge_edited.emit(drag.zone.value)

    def _apply(self, change: AnnotationChange, text: str) -> bool:
        problem = self._session.try_apply(change, text)
        if problem is not None:
            self.message.emit(problem)
        return problem is None

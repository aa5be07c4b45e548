"""One interval drawn on the interval track (:class:`IntervalBand`) and the geometry of dragging it.

A band spans the cells of its frames: frame ``f`` owns ``x ∈ [f - 0.5, f + 0.5)`` on the time axis
(the curves and the playhead sit at ``x = f``), so an interval ``[onset, offset]`` covers
``[onset - 0.5, offset + 0.5]`` and a one-frame interval is one frame wide. The track has two lanes
(``y ∈ [0, 1]`` below, ``[1, 2]`` above): untouched and rejected model proposals in the upper lane,
human and reviewed intervals (accepted, edited) in the lower one.

Bands are drawn in device pixels (outlines, the apex line and the hatching of rejected intervals
keep their pixel size at every zoom); they take no mouse events — the track's view box hit-tests
with :func:`pick_zone` and computes a drag with :func:`dragged_frames`. When too many intervals are
in view to draw one by one, :func:`coalesce` joins neighbours into :class:`BandRun` s.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable
from dataclasses import dataclass

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QPainter, QPen
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

from core.annotations import Annotation
from metst_gui.colors import EMOTION_COLORS, emotion_color

__all__ = ["IntervalBand", "BandStyle", "BandRun", "DragZone", "LANE_REVIEWED", "LANE_PROPOSED",
           "lane_of", "band_style_of", "zone_at", "pick_zone", "coalesce", "dragged_frames"]

LANE_REVIEWED = 0  # y in [0, 1]: human, accepted and edited intervals
LANE_PROPOSED = 1  # y in [1, 2]: untouched and rejected model proposals
_LANE_MARGIN = 0.12  # blank space above and below a band, in lane heights
EDGE_GRAB_PX = 5.0  # how close (pixels) to an edge a press grabs the edge
APEX_GRAB_PX = 4.0
_MIN_WIDTH_PX = 2.0  # a band is never drawn thinner than this
MIXED_COLOR = EMOTION_COLORS["neutral"]  # a run of intervals with different emotions


class BandStyle(enum.Enum):
    PROPOSED = "proposed"  # untouched model proposal
    REVIEWED = "reviewed"  # human, accepted or edited
    REJECTED = "rejected"  # faint and hatched
    PREVIEW = "preview"  # the interval as a drag would leave it
    PENDING = "pending"  # started with I, waiting for O


class DragZone(enum.Enum):
    ONSET = "onset"
    OFFSET = "offset"
    APEX = "apex"
    BODY = "body"
    CREATE = "create"  # a drag on empty track: a new interval


def lane_of(annotation: Annotation) -> int:
    """The lane an annotation is drawn in."""
    if annotation.source == "model" and annotation.status in ("proposed", "rejected"):
        return LANE_PROPOSED
    return LANE_REVIEWED


def band_style_of(annotation: Annotation) -> BandStyle:
    if annotation.status == "rejected":
        return BandStyle.REJECTED
    return BandStyle.PROPOSED if annotation.status == "proposed" else BandStyle.REVIEWED


def zone_at(annotation: Annotation, x: float, frames_per_px: float) -> DragZone | None:
    """Which part of ``annotation``'s band a press at time-axis position ``x`` grabs, or None.

    Edges grab within :data:`EDGE_GRAB_PX` pixels outside the band and up to a quarter of the
    band's width inside; the apex within :data:`APEX_GRAB_PX` (a quarter width at most); the rest
    of the band is its body.
    """
    left_x, right_x = annotation.onset_frame - 0.5, annotation.offset_frame + 0.5
    width_px = (right_x - left_x) / frames_per_px
    edge_out = EDGE_GRAB_PX * frames_per_px
    edge_in = min(EDGE_GRAB_PX, width_px / 4) * frames_per_px
    apex_tolerance = min(APEX_GRAB_PX, width_px / 4) * frames_per_px
    distance_left, distance_right = x - left_x, right_x - x  # positive inside the band
    if -edge_out <= distance_left <= edge_in and distance_left <= distance_right:
        return DragZone.ONSET
    if -edge_out <= distance_right <= edge_in:
        return DragZone.OFFSET
    if abs(x - annotation.apex_frame) <= apex_tolerance:
        return DragZone.APEX
    if distance_left >= 0 and distance_right >= 0:
        return DragZone.BODY
    return None


def pick_zone(candidates: Iterable[Annotation], x: float, frames_per_px: float,
              selected_id: str | None = None) -> tuple[Annotation, DragZone] | None:
    """The annotation among ``candidates`` (one lane's, shown) that a press at ``x`` grabs, and
    the part of it: an edge or apex before a body, the selected interval before others, then the
    nearest."""
    best: tuple[tuple[bool, bool, float], Annotation, DragZone] | None = None
    for annotation in candidates:
        zone = zone_at(annotation, x, frames_per_px)
        if zone is None:
            continue
        anchor = {DragZone.ONSET: annotation.onset_frame - 0.5,
                  DragZone.OFFSET: annotation.offset_frame + 0.5,
                  DragZone.APEX: annotation.apex_frame,
                  DragZone.BODY: (annotation.onset_frame + annotation.offset_frame) / 2}[zone]
        rank = (zone is DragZone.BODY, annotation.id != selected_id, abs(x - anchor))
        if best is None or rank < best[0]:
            best = (rank, annotation, zone)
    return None if best is None else (best[1], best[2])


@dataclass(frozen=True)
class BandRun:
    """Neighbouring intervals of one lane drawn as one band when too many are in view."""

    onset_frame: int
    offset_frame: int
    lane: int
    rgb: tuple[int, int, int]  # their colour, grey when they differ
    style: BandStyle


def coalesce(annotations: Iterable[Annotation], max_gap_frames: float) -> list[BandRun]:
    """Runs of ``annotations`` (by onset) per lane, joining intervals less than
    ``max_gap_frames`` apart: a zoomed-out view of thousands of intervals needs few items."""
    runs: list[BandRun] = []
    for lane in (LANE_REVIEWED, LANE_PROPOSED):
        members: list[Annotation] = []
        end_frame = -math.inf
        for annotation in (a for a in annotations if lane_of(a) == lane):
            if members and annotation.onset_frame - end_frame > max_gap_frames:
                runs.append(_run_of(members, lane, end_frame))
                members = []
            end_frame = max(end_frame, annotation.offset_frame) if members else (
                annotation.offset_frame)
            members.append(annotation)
        if members:
            runs.append(_run_of(members, lane, end_frame))
    return runs


def _run_of(members: list[Annotation], lane: int, end_frame: float) -> BandRun:
    colors = {emotion_color(a.emotion) for a in members}
    styles = {band_style_of(a) for a in members}
    style = min(styles, key=[BandStyle.REVIEWED, BandStyle.PROPOSED, BandStyle.REJECTED].index)
    return BandRun(members[0].onset_frame, int(end_frame), lane,
                   colors.pop() if len(colors) == 1 else MIXED_COLOR, style)


def dragged_frames(zone: DragZone, frames: tuple[int, int, int], press_frame: int,
                   now_frame: int, n_frames: int) -> tuple[int, int, int]:
    """``(onset, apex, offset)`` after dragging ``zone`` of an interval with ``frames`` from
    ``press_frame`` to ``now_frame``: whole frames, inside the video, ``onset ≤ apex ≤ offset``.

    An edge stops at the other edge and pushes the apex along; the apex stays between the edges;
    the body keeps its length and stops at the ends of the video. ``CREATE`` ignores ``frames``
    and spans the frames between the press and now.
    """
    last_frame = max(n_frames - 1, 0)
    now_frame = min(max(now_frame, 0), last_frame)
    onset, apex, offset = frames
    if zone is DragZone.CREATE:
        onset, offset = sorted((min(max(press_frame, 0), last_frame), now_frame))
        return onset, (onset + offset) // 2, offset
    if zone is DragZone.ONSET:
        onset = min(now_frame, offset)
        return onset, max(apex, onset), offset
    if zone is DragZone.OFFSET:
        offset = max(now_frame, onset)
        return onset, min(apex, offset), offset
    if zone is DragZone.APEX:
        return onset, min(max(now_frame, onset), offset), offset
    shift = min(max(now_frame - press_frame, -onset), last_frame - offset)
    return onset + shift, apex + shift, offset + shift


class IntervalBand(QGraphicsItem):
    """The band of one interval (a coloured box, its apex as a vertical line) in data coordinates.

    The track keeps a pool of these and reuses them (:meth:`set_interval`, :meth:`set_look`)
    for whichever annotations are in view.
    """

    def __init__(self, parent: QGraphicsItem | None = None) -> None:
        super().__init__(parent)
        self.annotation_id: str | None = None
        self._rect = QRectF()
        self._apex_x: float | None = 0.0
        self._pad_x = 0.5
        self._rgb: tuple[int, int, int] = (0, 0, 0)
        self._style = BandStyle.REVIEWED
        self._selected = False
        self._dimmed = False
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.setAcceptHoverEvents(False)

    def set_interval(self, onset_frame: int, apex_frame: int | None, offset_frame: int,
                     lane: int, frames_per_px: float) -> None:
        """Place the band over frames ``[onset_frame, offset_frame]`` in ``lane``; the apex line
        at ``apex_frame`` (None: no apex yet)."""
        rect = QRectF(onset_frame - 0.5, lane + _LANE_MARGIN, offset_frame - onset_frame + 1,
                      1 - 2 * _LANE_MARGIN)
        pad_x = 3 * frames_per_px  # room for the outline and the minimum width, in frames
        if rect != self._rect or pad_x != self._pad_x:
            self.prepareGeometryChange()
            self._rect, self._pad_x = rect, pad_x
        apex_x = None if apex_frame is None else float(apex_frame)
        if apex_x != self._apex_x:
            self._apex_x = apex_x
            self.update()

    def set_look(self, rgb: tuple[int, int, int], style: BandStyle, *, selected: bool = False,
                 dimmed: bool = False) -> None:
        """Colour, style, selection outline; ``dimmed`` while a drag previews the band elsewhere."""
        look = (tuple(rgb), style, selected, dimmed)
        if look != (self._rgb, self._style, self._selected, self._dimmed):
            self._rgb, self._style, self._selected, self._dimmed = look
            self.setZValue(2 if selected or style is BandStyle.PREVIEW else 1)
            self.update()

    @property
    def frame_rect(self) -> QRectF:
        """The band's box in data coordinates (x in frames, y in lanes)."""
        return QRectF(self._rect)

    @property
    def rgb(self) -> tuple[int, int, int]:
        return self._rgb

    @property
    def style(self) -> BandStyle:
        return self._style

    @property
    def selected(self) -> bool:
        return self._selected

    def boundingRect(self) -> QRectF:  # noqa: N802 (Qt override)
        return self._rect.adjusted(-self._pad_x, 0, self._pad_x, 0)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem,
              widget: QWidget | None = None) -> None:
        """Draw in device pixels, so outlines and hatching keep their size at every zoom."""
        transform = painter.transform()
        box = transform.mapRect(self._rect)  # device pixels, normalised (y grows downwards)
        if box.width() < _MIN_WIDTH_PX:
            box.adjust(-(_MIN_WIDTH_PX - box.width()) / 2, 0, (_MIN_WIDTH_PX - box.width()) / 2, 0)
        color = QColor(*self._rgb)
        fill_alpha, line_alpha, fill_pattern, line_style = {
            BandStyle.PROPOSED: (90, 230, Qt.BrushStyle.SolidPattern, Qt.PenStyle.DashLine),
            BandStyle.REVIEWED: (175, 255, Qt.BrushStyle.SolidPattern, Qt.PenStyle.SolidLine),
            BandStyle.REJECTED: (110, 110, Qt.BrushStyle.BDiagPattern, Qt.PenStyle.DotLine),
            BandStyle.PREVIEW: (210, 255, Qt.BrushStyle.SolidPattern, Qt.PenStyle.DashLine),
            BandStyle.PENDING: (70, 255, Qt.BrushStyle.Dense5Pattern, Qt.PenStyle.DashLine),
        }[self._style]
        if self._dimmed:
            fill_alpha, line_alpha = fill_alpha // 3, line_alpha // 3
        painter.save()
        painter.resetTransform()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        painter.setBrush(QBrush(QColor(color.red(), color.green(), color.blue(), fill_alpha),
                                fill_pattern))
        if self._selected:
            painter.setPen(QPen(QColor(0, 0, 0), 3.0))
            painter.drawRect(box.adjusted(1.5, 1.5, -1.5, -1.5))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.setPen(QPen(QColor(255, 255, 255), 1.5))
        else:
            outline = QColor(color.lighter(130))
            outline.setAlpha(line_alpha)
            pen = QPen(outline, 1.0)
            pen.setStyle(line_style)
            if self._style is BandStyle.PREVIEW:
                pen = QPen(QColor(255, 255, 255, line_alpha), 1.5, Qt.PenStyle.DashLine)
            painter.setPen(pen)
        painter.drawRect(box.adjusted(0.5, 0.5, -0.5, -0.5))
        if self._apex_x is not None:
            apex_x = transform.map(QPointF(self._apex_x, 0.0)).x()
            apex_color = QColor(255, 255, 255) if self._selected else QColor(color.darker(170))
            apex_color.setAlpha(line_alpha)
            painter.setPen(QPen(apex_color, 2.0))
            painter.drawLine(QPointF(apex_x, box.top() + 1), QPointF(apex_x, box.bottom() - 1))
        painter.restore()

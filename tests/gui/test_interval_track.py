"""The interval track shows the annotations in two lanes and edits them with the mouse: a drag
previews, snaps to whole frames and changes the annotations only on release, in one undo step;
Esc cancels it; only the bands in view are items."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QColor
from PySide6.QtTest import QTest

from core.analysis import AnalysisResult
from core.annotations import Annotation
from core.curve_models import Curves
from core.postprocess import PostprocessConfig
from core.traces import FlowTraces
from metst_gui.colors import emotion_color
from metst_gui.edit_actions import EditActions, PendingInterval
from metst_gui.session import VideoSession
from metst_gui.timeline.interval_band import (
    LANE_PROPOSED,
    LANE_REVIEWED,
    MIXED_COLOR,
    BandStyle,
    IntervalBand,
    coalesce,
)
from metst_gui.timeline.interval_track import MAX_BANDS, MAX_SPARE_BANDS, IntervalTrack
from metst_gui.view_state import Playhead, Selection

pytestmark = pytest.mark.gui

N_FRAMES = 1000
LEFT = Qt.MouseButton.LeftButton
NO_KEYS = Qt.KeyboardModifier.NoModifier


def fake_result(spot: np.ndarray) -> AnalysisResult:
    n_frames = spot.shape[0]
    traces = FlowTraces(np.zeros((2, n_frames)), ("brow_x", "brow_y"), np.ones(n_frames, bool),
                        25.0, "metst")
    return AnalysisResult(Path("clip.mp4"), traces, Curves(spot.astype(np.float32), None, ()),
                          [], "flow", PostprocessConfig())


@dataclass
class TrackEnv:
    widget: pg.GraphicsLayoutWidget
    track: IntervalTrack
    session: VideoSession
    playhead: Playhead
    selection: Selection

    def point(self, x: float, y: float) -> QPoint:
        """The viewport pixel of data point ``(x frames, y lanes)``."""
        scene_point = self.track.getViewBox().mapViewToScene(QPointF(x, y))
        return self.widget.mapFromScene(scene_point)

    def drag(self, start: tuple[float, float], path: list[tuple[float, float]],
             release: bool = True) -> None:
        viewport = self.widget.viewport()
        QTest.mousePress(viewport, LEFT, NO_KEYS, self.point(*start))
        for x, y in path:
            QTest.mouseMove(viewport, self.point(x, y))
        if release:
            QTest.mouseRelease(viewport, LEFT, NO_KEYS, self.point(*path[-1]))

    def click(self, x: float, y: float) -> None:
        QTest.mouseClick(self.widget.viewport(), LEFT, NO_KEYS, self.point(x, y))

    def frames(self, annotation_id: str) -> tuple[int, int, int]:
        a = self.session.annotations.get(annotation_id)
        return a.onset_frame, a.apex_frame, a.offset_frame


@pytest.fixture(autouse=True)
def every_mouse_move() -> Iterator[None]:
    """pyqtgraph drops mouse moves closer than 10 ms; QTest sends them faster."""
    old = pg.getConfigOption("mouseRateLimit")
    pg.setConfigOption("mouseRateLimit", -1)
    yield
    pg.setConfigOption("mouseRateLimit", old)


def build_env(qtbot, session_factory: Callable[..., VideoSession],
              annotations: list[Annotation], n_frames: int = N_FRAMES,
              x_range: tuple[float, float] = (0, 200)) -> TrackEnv:
    playhead, selection = Playhead(), Selection()
    playhead.set_video(n_frames, 25.0)
    widget = pg.GraphicsLayoutWidget()
    widget.resize(1000, 200)
    track = IntervalTrack(playhead, selection)
    widget.addItem(track)
    qtbot.addWidget(widget)
    widget.show()
    qtbot.waitExposed(widget)
    track.setXRange(*x_range, padding=0)
    session = session_factory(annotations, n_frames=n_frames, annotator="ana")
    track.set_session(session)
    return TrackEnv(widget, track, session, playhead, selection)


HUMAN = Annotation("h1", 50, 60, 70, emotion="positive")
PROPOSAL = Annotation("p1", 100, 110, 120, emotion="negative", source="model",
                      status="proposed", confidence=0.6, spot_score=0.7)
REJECTED = Annotation("r1", 140, 145, 150, source="model", status="rejected")
ACCEPTED = Annotation("a1", 170, 175, 180, emotion="surprise", source="model", status="accepted")


@pytest.fixture
def env(qtbot, session_factory) -> TrackEnv:
    return build_env(qtbot, session_factory, [HUMAN, PROPOSAL, REJECTED, ACCEPTED])


def test_bands_sit_in_their_lane_in_their_emotion_colour(env):
    bands = env.track.shown_bands()
    assert set(bands) == {"h1", "p1", "r1", "a1"}
    upper = {i for i, band in bands.items() if band.frame_rect.top() >= 1}
    assert upper == {"p1", "r1"}  # untouched and rejected proposals above, reviewed below
    assert bands["h1"].frame_rect.left() == pytest.approx(49.5)
    assert bands["h1"].frame_rect.right() == pytest.approx(70.5)
    assert bands["p1"].rgb == emotion_color("negative")
    assert bands["r1"].style is BandStyle.REJECTED and bands["p1"].style is BandStyle.PROPOSED
    # on screen: the middle of the positive band is green
    image = env.widget.grab().toImage()
    pixel = QColor(image.pixel(env.point(55, 0.5)))
    assert pixel.green() > 2 * max(pixel.red(), pixel.blue())


def test_rejected_bands_can_be_hidden_and_the_selected_band_is_highlighted(env):
    env.track.set_show_rejected(False)
    assert "r1" not in env.track.shown_bands()
    env.track.set_show_rejected(True)
    env.selection.select("p1")
    assert env.track.shown_bands()["p1"].selected
    assert not env.track.shown_bands()["h1"].selected
    env.session.apply(env.session.annotations.replace_change(
        Annotation("p1", 100, 110, 120, emotion="negative", source="model", status="edited")),
        "Edit")
    assert env.track.shown_bands()["p1"].frame_rect.top() < 1  # an edited proposal moves down


def test_dragging_an_edge_changes_the_frames_only_on_release_in_one_undo_step(env, qtbot):
    edges: list[str] = []
    env.track.edge_edited.connect(edges.append)
    env.drag((70.4, 0.5), [(75.0, 0.5), (80.2, 0.5)], release=False)
    assert env.frames("h1") == (50, 60, 70)  # only a preview while dragging
    assert env.session.undo_stack.count() == 0
    QTest.mouseRelease(env.widget.viewport(), LEFT, NO_KEYS, env.point(80.6, 0.5))
    assert env.frames("h1") == (50, 60, 81)  # snapped to the nearest whole frame
    assert env.session.undo_stack.count() == 1
    assert env.session.undo_stack.text(0) == "Move offset" and edges == ["offset"]
    env.session.undo_stack.undo()
    assert env.frames("h1") == (50, 60, 70)
    assert env.track.shown_bands()["h1"].frame_rect.right() == pytest.approx(70.5)


def test_dragging_a_proposal_edge_makes_it_an_edited_interval_by_the_annotator(env):
    env.drag((99.6, 1.5), [(95, 1.5), (90.1, 1.5)])
    moved = env.session.annotations.get("p1")
    assert (moved.onset_frame, moved.offset_frame) == (90, 120)
    assert (moved.status, moved.annotator, moved.proposal_id) == ("edited", "ana", "p1")


def test_dragging_the_apex_stays_inside_the_interval(env):
    env.drag((60, 0.5), [(64, 0.5), (95, 0.5)])
    assert env.frames("h1") == (50, 70, 70)
    assert env.session.undo_stack.text(0) == "Move apex"


def test_dragging_the_body_moves_the_interval_and_stops_at_the_first_frame(env):
    env.drag((55, 0.5), [(50, 0.5), (47.2, 0.5)])
    assert env.frames("h1") == (42, 52, 62)
    env.drag((47, 0.5), [(40, 0.5), (0, 0.5)])
    assert env.frames("h1") == (0, 10, 20)  # stopped at frame 0, length kept
    assert [env.session.undo_stack.text(i) for i in range(2)] == ["Move interval"] * 2


def test_escape_cancels_a_drag(env, qtbot):
    env.drag((70.4, 0.5), [(75, 0.5), (90, 0.5)], release=False)
    QTest.keyClick(env.widget.viewport(), Qt.Key.Key_Escape)
    QTest.mouseMove(env.widget.viewport(), env.point(95, 0.5))
    QTest.mouseRelease(env.widget.viewport(), LEFT, NO_KEYS, env.point(95, 0.5))
    assert env.frames("h1") == (50, 60, 70)
    assert env.session.undo_stack.count() == 0
    env.drag((70.4, 0.5), [(75, 0.5), (77, 0.5)])  # the next drag works again
    assert env.frames("h1") == (50, 60, 77)


def test_dragging_on_empty_track_creates_a_selected_human_interval(env):
    env.drag((10.2, 0.5), [(15, 0.5), (20.4, 0.5)])
    new_ids = {a.id for a in env.session.annotations} - {"h1", "p1", "r1", "a1"}
    (new_id,) = new_ids
    new = env.session.annotations.get(new_id)
    assert (new.onset_frame, new.apex_frame, new.offset_frame) == (10, 15, 20)
    assert (new.source, new.status, new.annotator) == ("human", "accepted", "ana")
    assert env.selection.annotation_id == new_id
    assert env.session.undo_stack.count() == 1 and env.session.undo_stack.text(0) == (
        "Add interval")
    env.session.undo_stack.undo()
    assert new_id not in env.session.annotations


def test_a_new_interval_takes_its_apex_at_the_spot_peak_when_there_is_a_result(env):
    spot = np.zeros(N_FRAMES)
    spot[27] = 0.9
    env.session.set_result(fake_result(spot))
    env.drag((35.2, 0.5), [(30, 0.5), (20, 0.5)])  # right to left
    (new,) = [a for a in env.session.annotations if a.onset_frame == 20]
    assert (new.apex_frame, new.offset_frame) == (27, 35)


def test_clicking_selects_a_band_and_empty_track_clears_and_seeks(env):
    env.click(110, 1.5)
    assert env.selection.annotation_id == "p1"
    env.click(62, 0.5)
    assert env.selection.annotation_id == "h1"
    env.click(30.3, 0.5)
    assert env.selection.annotation_id is None and env.playhead.frame_idx == 30
    assert env.session.undo_stack.count() == 0  # a click edits nothing


def test_the_pending_interval_follows_the_playhead(env):
    env.playhead.set_frame(20)
    env.track.set_pending(PendingInterval(20))
    env.playhead.set_frame(30)
    pending = [item for item in env.widget.scene().items()
               if isinstance(item, IntervalBand) and item.isVisible()
               and item.style is BandStyle.PENDING]
    assert len(pending) == 1
    assert (pending[0].frame_rect.left(), pending[0].frame_rect.right()) == (19.5, 30.5)
    env.track.set_pending(None)
    assert not pending[0].isVisible()


def test_only_the_bands_in_view_are_items(qtbot, session_factory):
    annotations = [Annotation(f"i{k}", 50 * k, 50 * k + 5, 50 * k + 10) for k in range(2000)]
    env = build_env(qtbot, session_factory, annotations, n_frames=100_000, x_range=(10_000, 10_500))

    def band_items() -> list[IntervalBand]:
        return [item for item in env.widget.scene().items() if isinstance(item, IntervalBand)]

    shown = env.track.shown_bands()
    assert len(shown) == 11  # intervals 200 … 210 overlap frames 10 000 … 10 500
    assert sum(item.isVisible() for item in band_items()) == 11
    n_items = len(band_items())
    assert n_items <= 11 + 2  # + the drag preview and the pending band
    env.track.setXRange(60_000, 60_500, padding=0)
    assert set(env.track.shown_bands()) == {f"i{k}" for k in range(1200, 1211)}
    assert len(band_items()) == n_items  # the same items, reused
    env.track.setXRange(0, 25_000, padding=0)              # 500 bands at once …
    assert len(env.track.shown_bands()) >= 500
    env.track.setXRange(60_000, 60_500, padding=0)         # … then few: the spares leave
    assert len(band_items()) <= 11 + MAX_SPARE_BANDS + 2
    env.track.set_session(None)
    assert env.track.shown_bands() == {}
    env.session.close()


def test_a_crowded_view_draws_runs_of_neighbours_and_the_selected_band_alone(
        qtbot, session_factory):
    annotations = [Annotation(f"i{k}", 50 * k, 50 * k + 5, 50 * k + 10, emotion="positive")
                   for k in range(2000)]
    env = build_env(qtbot, session_factory, annotations, n_frames=100_000, x_range=(0, 100_000))
    assert len(annotations) > MAX_BANDS
    assert env.track.shown_bands() == {}
    runs = env.track.shown_runs()
    assert 1 <= len(runs) <= 2 * 1000 / 3  # bounded by the pixels, not the intervals
    assert runs[0].rgb == emotion_color("positive")
    env.selection.select("i500")
    assert set(env.track.shown_bands()) == {"i500"}
    assert env.track.shown_bands()["i500"].selected
    env.track.setXRange(25_000, 25_400, padding=0)  # zoomed in again: one band per interval
    assert env.track.shown_runs() == [] and len(env.track.shown_bands()) == 9
    env.session.close()


def test_coalesce_joins_close_intervals_per_lane():
    a = Annotation("a", 0, 5, 10, emotion="positive")
    b = Annotation("b", 12, 15, 20, emotion="negative")
    c = Annotation("c", 100, 105, 110, emotion="positive")
    d = Annotation("d", 5, 6, 8, source="model", status="rejected")
    runs = coalesce([a, d, b, c], max_gap_frames=3)
    assert [(r.onset_frame, r.offset_frame, r.lane) for r in runs] == [
        (0, 20, LANE_REVIEWED), (100, 110, LANE_REVIEWED), (5, 8, LANE_PROPOSED)]
    assert runs[0].rgb == MIXED_COLOR and runs[1].rgb == emotion_color("positive")
    assert runs[2].style is BandStyle.REJECTED


def test_with_the_edit_actions_esc_cancels_only_the_drag_and_a_dragged_edge_is_nudged(env, qtbot):
    actions = EditActions(env.playhead, env.selection, env.widget)
    actions.set_session(env.session)
    env.track.edge_edited.connect(actions.set_active_edge)
    env.track.set_pending(actions.pending)
    env.widget.activateWindow()
    qtbot.waitActive(env.widget)
    env.selection.select("h1")
    env.drag((60, 0.5), [(62, 0.5), (66, 0.5)], release=False)
    qtbot.keyClick(env.widget.viewport(), Qt.Key.Key_Escape)
    QTest.mouseRelease(env.widget.viewport(), LEFT, NO_KEYS, env.point(66, 0.5))
    assert env.frames("h1") == (50, 60, 70)
    assert env.selection.annotation_id == "h1"  # Esc's "Clear selection" did not fire
    env.drag((70.4, 0.5), [(72, 0.5), (74, 0.5)])
    assert actions.active_edge == "offset"
    qtbot.keyClick(env.widget.viewport(), Qt.Key.Key_Right, Qt.KeyboardModifier.AltModifier)
    assert env.frames("h1") == (50, 60, 75)
    assert [env.session.undo_stack.text(i) for i in range(2)] == ["Move offset", "Nudge offset"]

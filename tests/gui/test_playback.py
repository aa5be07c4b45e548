"""Playback and transport: the playhead follows a wall clock at fps × speed, drops frames rather
than lagging, stops at the last frame, loops an interval, and every transport action and the
go-to-frame box move the playhead exactly. A controllable clock makes the timing deterministic;
one smoke test plays the sample video in real time."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from PySide6.QtCore import Qt

from metst_gui.playback import PLAYBACK_SPEEDS, PlaybackController
from metst_gui.transport_bar import TransportBar
from metst_gui.video_view import VideoView
from metst_gui.view_state import Playhead
from resources import SAMPLE_VIDEO

pytestmark = pytest.mark.gui

N_FRAMES = 472
FPS = 24.0
DECODE_TIMEOUT_MS = 10_000


class FakeClock:
    """Seconds that move only when the test says so."""

    def __init__(self) -> None:
        self.t_sec = 100.0

    def __call__(self) -> float:
        return self.t_sec

    def advance(self, seconds: float) -> None:
        self.t_sec += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def playhead(qtbot) -> Playhead:
    playhead = Playhead()
    playhead.set_video(N_FRAMES, FPS)
    return playhead


@pytest.fixture
def controller(playhead: Playhead, clock: FakeClock) -> Iterator[PlaybackController]:
    controller = PlaybackController(playhead, clock=clock)
    playhead.frame_changed.connect(controller.note_frame_shown)  # every target counts as shown
    yield controller
    controller.pause()


def _play_for(controller: PlaybackController, clock: FakeClock, seconds: float,
              tick_every_s: float) -> None:
    """Advance the clock in ticks of ``tick_every_s``, ticking the controller each time."""
    n_ticks = round(seconds / tick_every_s)
    for _ in range(n_ticks):
        clock.advance(tick_every_s)
        controller.tick()


def test_playhead_advances_at_the_frame_rate(controller, playhead, clock) -> None:
    controller.play_action.trigger()
    assert controller.playing and controller.play_action.isChecked()
    _play_for(controller, clock, 1.0, 1 / 48)
    assert playhead.frame_idx == 24
    _play_for(controller, clock, 1.5, 1 / 48)
    assert playhead.frame_idx == 60
    assert controller.dropped_frames == 0
    controller.play_action.trigger()
    assert not controller.playing
    clock.advance(5.0)
    controller.tick()
    assert playhead.frame_idx == 60  # paused: the clock no longer moves it


def test_half_speed_advances_half_as_fast(controller, playhead, clock) -> None:
    controller.set_speed(0.5)
    controller.play()
    _play_for(controller, clock, 2.0, 1 / 24)
    assert playhead.frame_idx == 24


def test_speed_change_while_playing_keeps_the_position(controller, playhead, clock) -> None:
    controller.play()
    _play_for(controller, clock, 1.0, 1 / 48)
    controller.set_speed(2.0)
    _play_for(controller, clock, 1.0, 1 / 60)
    assert playhead.frame_idx == 24 + 48


def test_late_ticks_drop_frames_instead_of_lagging(controller, playhead, clock) -> None:
    controller.play()
    _play_for(controller, clock, 0.25, 1 / 48)
    assert playhead.frame_idx == 6
    clock.advance(0.5)  # the GUI thread was busy for half a second
    controller.tick()
    assert playhead.frame_idx == 18  # on time again, 11 frames never shown
    assert controller.dropped_frames == 11
    assert "11 frames dropped" in controller.play_action.statusTip()


def test_playback_stops_at_the_last_frame(controller, playhead, clock) -> None:
    playhead.set_frame(N_FRAMES - 10)
    controller.play()
    _play_for(controller, clock, 2.0, 1 / 48)
    assert playhead.frame_idx == N_FRAMES - 1
    assert not controller.playing and not controller.play_action.isChecked()
    controller.play()  # at the end, play starts over
    assert playhead.frame_idx == 0 and controller.playing


def test_loop_wraps_from_offset_to_onset(controller, playhead, clock) -> None:
    controller.set_loop_range(lambda: (100, 111))  # 12 frames: half a second
    controller.loop_action.trigger()
    assert controller.loop_enabled
    playhead.set_frame(20)
    controller.play()
    assert playhead.frame_idx == 100  # outside the loop: playback starts at its onset
    seen = []
    playhead.frame_changed.connect(seen.append)
    _play_for(controller, clock, 1.25, 1 / 48)  # 30 frames: 2.5 loops
    assert min(seen) == 100 and max(seen) == 111
    assert playhead.frame_idx == 106
    assert controller.playing
    controller.set_loop_enabled(False)
    _play_for(controller, clock, 0.5, 1 / 48)
    assert playhead.frame_idx == 118  # plays on past the offset


def test_moving_the_playhead_while_playing_plays_on_from_there(controller, playhead,
                                                               clock) -> None:
    controller.play()
    _play_for(controller, clock, 1.0, 1 / 48)
    playhead.set_frame(200)  # the user clicks on the curves
    _play_for(controller, clock, 0.5, 1 / 48)
    assert playhead.frame_idx == 212
    controller.step_seconds(-1)
    assert playhead.frame_idx == 188 and controller.playing
    assert controller.dropped_frames == 0  # jumps are not drops


def test_steps_and_interval_jumps_move_exactly(controller, playhead) -> None:
    onsets = [300, 50, 120]  # unsorted, as a session may give them
    controller.set_interval_onsets(lambda: onsets)
    moves = [(controller.step_forward_action, 1), (controller.step_forward_action, 2),
             (controller.step_back_action, 1), (controller.forward_second_action, 25),
             (controller.back_second_action, 1), (controller.back_second_action, 0),
             (controller.step_back_action, 0), (controller.next_interval_action, 50),
             (controller.next_interval_action, 120), (controller.previous_interval_action, 50),
             (controller.previous_interval_action, 50), (controller.next_interval_action, 120),
             (controller.next_interval_action, 300), (controller.next_interval_action, 300)]
    for action, expected_idx in moves:
        action.trigger()
        assert playhead.frame_idx == expected_idx, action.text()
    playhead.set_frame(130)
    controller.previous_interval_action.trigger()
    assert playhead.frame_idx == 120


def test_one_second_is_round_fps_frames(qtbot, clock) -> None:
    playhead = Playhead()
    playhead.set_video(1000, 29.97)
    controller = PlaybackController(playhead, clock=clock)
    controller.forward_second_action.trigger()
    assert playhead.frame_idx == 30


def test_step_pauses_playback(controller, playhead, clock) -> None:
    controller.play()
    _play_for(controller, clock, 0.5, 1 / 48)
    controller.step_forward_action.trigger()
    assert not controller.playing and playhead.frame_idx == 13


def test_actions_have_window_shortcuts_and_wait_for_a_video(qtbot, clock) -> None:
    controller = PlaybackController(Playhead(), clock=clock)
    shortcuts = {a.shortcut().toString() for a in controller.actions()}
    assert {"Space", "Left", "Right", "Shift+Left", "Shift+Right", "N", "P",
            "Ctrl+G"} <= shortcuts
    assert all(a.shortcutContext() == Qt.ShortcutContext.WindowShortcut
               for a in controller.actions())
    assert not any(a.isEnabled() for a in controller.actions())  # no video yet
    assert [a.text() for a in controller.speed_actions()] == [f"{s:g}×" for s in PLAYBACK_SPEEDS]


def test_speed_combo_and_speed_menu_agree(qtbot, controller) -> None:
    bar = TransportBar(controller)
    qtbot.addWidget(bar)
    combo = bar.speed_combo()
    assert combo.currentText() == "1×"
    combo.activated.emit(combo.findText("0.25×"))
    assert controller.speed == 0.25
    assert [a.isChecked() for a in controller.speed_actions()] == [
        s == 0.25 for s in PLAYBACK_SPEEDS]
    controller.speed_actions()[-1].trigger()
    assert controller.speed == 2.0 and combo.currentText() == "2×"
    with pytest.raises(ValueError, match="speed"):
        controller.set_speed(4.0)


def test_go_to_frame_box_seeks_on_enter(qtbot, controller, playhead) -> None:
    bar = TransportBar(controller)
    qtbot.addWidget(bar)
    bar.addActions(controller.actions())
    bar.show()
    qtbot.waitUntil(bar.isActiveWindow)  # window shortcuts need an active window
    box = bar.frame_box()
    qtbot.keyClick(bar, Qt.Key.Key_G, Qt.KeyboardModifier.ControlModifier)
    assert box.hasFocus()
    qtbot.keyClicks(box.lineEdit(), "237")
    assert playhead.frame_idx == 0  # typing alone does not seek
    qtbot.keyClick(box.lineEdit(), Qt.Key.Key_Return)
    assert playhead.frame_idx == 237
    assert not box.hasFocus()
    playhead.set_frame(12)
    assert box.value() == 12  # the box follows the playhead


@pytest.fixture
def sample_view(qtbot) -> VideoView:
    playhead = Playhead()
    view = VideoView(playhead)
    qtbot.addWidget(view)
    view.show()
    qtbot.waitUntil(view.isActiveWindow)  # window shortcuts need an active window
    with qtbot.waitSignal(view.frame_shown, timeout=DECODE_TIMEOUT_MS):
        view.open_video(SAMPLE_VIDEO)
    return view


def test_keys_drive_the_transport_in_the_video_view(qtbot, sample_view: VideoView) -> None:
    controller = sample_view.playback
    playhead = controller.playhead
    with qtbot.waitSignal(sample_view.frame_shown, timeout=DECODE_TIMEOUT_MS):
        qtbot.keyClick(sample_view, Qt.Key.Key_Right, Qt.KeyboardModifier.ShiftModifier)
    assert playhead.frame_idx == 24 == sample_view.shown_frame_idx
    controller.set_interval_onsets(lambda: [100, 200])
    with qtbot.waitSignal(sample_view.frame_shown, timeout=DECODE_TIMEOUT_MS):
        qtbot.keyClick(sample_view, Qt.Key.Key_N)
    assert sample_view.shown_frame_idx == 100
    qtbot.keyClick(sample_view, Qt.Key.Key_Space)
    assert controller.playing
    qtbot.keyClick(sample_view, Qt.Key.Key_Space)
    assert not controller.playing


def test_real_time_playback_keeps_the_frame_rate(qtbot, sample_view: VideoView) -> None:
    """Smoke test on the real clock: about one second of video per second, frames shown."""
    controller = sample_view.playback
    shown: list[int] = []
    sample_view.frame_shown.connect(shown.append)
    start = time.perf_counter()
    controller.play()
    qtbot.waitUntil(lambda: controller.playhead.frame_idx >= 36, timeout=10_000)
    elapsed_s = time.perf_counter() - start
    controller.pause()
    fps = sample_view.video.fps
    assert 36 / fps - 0.1 <= elapsed_s <= 36 / fps + 1.5  # 1.5 s; generous on a busy machine
    assert len(shown) >= 12  # frames were painted, not just the playhead moved
    assert shown == sorted(set(shown))
    assert controller.dropped_frames == shown[-1] - len(shown)  # played from frame 0

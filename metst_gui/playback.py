"""Playback and transport: play/pause, stepping, interval jumps, speed, looping, go to frame.

:class:`PlaybackController` moves the shared :class:`~metst_gui.view_state.Playhead`, the single
source of truth every panel follows. Playback is driven by a wall clock, not by counting ticks:
on each timer tick the target frame is ``anchor_frame + floor(elapsed_s * fps * speed)``, so a
late tick (a slow decode, a busy GUI thread) skips frames instead of lagging, and the video never
drifts from the curves' playhead. The video panel decodes with "newest request wins", so frames
it could not decode in time are dropped; :attr:`PlaybackController.dropped_frames` counts the
frames skipped between frames actually shown (connect the panel's ``frame_shown`` to
:meth:`PlaybackController.note_frame_shown`).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Sequence

from PySide6.QtCore import QElapsedTimer, QObject, QSignalBlocker, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QApplication, QStyle

from metst_gui.view_state import Playhead

__all__ = ["PlaybackController", "PLAYBACK_SPEEDS", "MAX_TICK_HZ"]

PLAYBACK_SPEEDS: tuple[float, ...] = (0.1, 0.25, 0.5, 1.0, 1.5, 2.0)
MAX_TICK_HZ = 60.0


class PlaybackController(QObject):
    """Transport for the playhead, as ``QAction`` s for the Playback menu and the transport bar.

    Args:
        playhead: the shared playhead (its ``fps`` and ``n_frames`` describe the open video).
        clock: seconds from any fixed origin (default: a ``QElapsedTimer``); tests inject one.
        interval_onsets: the annotated intervals' onset frames (N/P jump between them).
        loop_range: the ``(onset_frame, offset_frame)`` to loop (e.g. the selected interval).

    Signals:
        playing_changed(bool), speed_changed(float), loop_changed(bool),
        dropped_frames_changed(int): the count since playback last started.
        go_to_frame_requested(): Ctrl+G; the transport bar focuses its frame box.
    """

    playing_changed = Signal(bool)
    speed_changed = Signal(float)
    loop_changed = Signal(bool)
    dropped_frames_changed = Signal(int)
    go_to_frame_requested = Signal()

    def __init__(self, playhead: Playhead, parent: QObject | None = None, *,
                 clock: Callable[[], float] | None = None,
                 interval_onsets: Callable[[], Sequence[int]] | None = None,
                 loop_range: Callable[[], tuple[int, int] | None] | None = None) -> None:
        super().__init__(parent)
        self._playhead = playhead
        self._elapsed = QElapsedTimer()
        self._elapsed.start()
        self._clock = clock or (lambda: self._elapsed.nsecsElapsed() / 1e9)
        self._interval_onsets = interval_onsets or (lambda: ())
        self._loop_range = loop_range or (lambda: None)
        self._speed = 1.0
        self._anchor_frame, self._anchor_t_sec = 0.0, 0.0
        self._moving_playhead = False  # the frame change comes from this controller
        self._last_shown_idx: int | None = None
        self._dropped_frames = 0
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.timeout.connect(self.tick)
        self._build_actions()
        self._playhead.video_changed.connect(self._on_video_changed)
        self._playhead.frame_changed.connect(self._on_frame_changed)
        self._on_video_changed(playhead.n_frames, playhead.fps)

    def _action(self, text: str, shortcut: str, slot: Callable[[], None] | None, tip: str,
                icon: QStyle.StandardPixmap | None = None) -> QAction:
        action = QAction(text, self)
        action.setShortcut(QKeySequence(shortcut))
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.setStatusTip(tip)
        action.setToolTip(f"{tip} ({shortcut})")
        if icon is not None:
            action.setIcon(QApplication.style().standardIcon(icon))
        if slot is not None:
            action.triggered.connect(slot)
        return action

    def _build_actions(self) -> None:
        pixmap = QStyle.StandardPixmap
        self.play_action = self._action("&Play", "Space", self.toggle_playing,
                                        "Play or pause", pixmap.SP_MediaPlay)
        self.play_action.setCheckable(True)
        self.step_back_action = self._action("Previous &frame", "Left", lambda: self.step(-1),
                                             "One frame back", pixmap.SP_ArrowLeft)
        self.step_forward_action = self._action("&Next frame", "Right", lambda: self.step(1),
                                                "One frame forward", pixmap.SP_ArrowRight)
        self.back_second_action = self._action("Back 1 &second", "Shift+Left",
                                               lambda: self.step_seconds(-1), "One second back",
                                               pixmap.SP_MediaSeekBackward)
        self.forward_second_action = self._action("Forward 1 s&econd", "Shift+Right",
                                                  lambda: self.step_seconds(1),
                                                  "One second forward",
                                                  pixmap.SP_MediaSeekForward)
        self.previous_interval_action = self._action(
            "P&revious interval", "P", self.previous_interval,
            "Jump to the previous interval's onset", pixmap.SP_MediaSkipBackward)
        self.next_interval_action = self._action(
            "Ne&xt interval", "N", self.next_interval, "Jump to the next interval's onset",
            pixmap.SP_MediaSkipForward)
        self.loop_action = self._action("&Loop interval", "L", None,
                                        "Loop the selected interval while playing",
                                        pixmap.SP_BrowserReload)
        self.loop_action.setCheckable(True)
        self.loop_action.toggled.connect(self._on_loop_toggled)
        self.go_to_frame_action = self._action("&Go to frame…", "Ctrl+G",
                                               self.go_to_frame_requested.emit,
                                               "Type a frame number and press Enter")
        self._speed_group = QActionGroup(self)
        self._speed_group.setExclusionPolicy(QActionGroup.ExclusionPolicy.ExclusiveOptional)
        self._speed_actions: list[QAction] = []
        for speed in PLAYBACK_SPEEDS:
            action = QAction(f"{speed:g}×", self._speed_group)
            action.setCheckable(True)
            action.setChecked(speed == self._speed)
            action.setStatusTip(f"Play at {speed:g}× speed")
            action.triggered.connect(lambda _checked=False, s=speed: self.set_speed(s))
            self._speed_actions.append(action)

    def actions(self) -> list[QAction]:
        """The transport actions, in menu order (shortcuts: Space, ←, →, Shift+←, Shift+→,
        P, N, L, Ctrl+G; all ``WindowShortcut``)."""
        return [self.play_action, self.step_back_action, self.step_forward_action,
                self.back_second_action, self.forward_second_action,
                self.previous_interval_action, self.next_interval_action, self.loop_action,
                self.go_to_frame_action]

    def speed_actions(self) -> list[QAction]:
        """One exclusive, checkable action per speed of :data:`PLAYBACK_SPEEDS` (a Speed menu)."""
        return list(self._speed_actions)

    # -- state -------------------------------------------------------------------------------

    @property
    def playhead(self) -> Playhead:
        return self._playhead

    @property
    def playing(self) -> bool:
        return self._timer.isActive()

    @property
    def speed(self) -> float:
        return self._speed

    @property
    def loop_enabled(self) -> bool:
        return self.loop_action.isChecked()

    @property
    def dropped_frames(self) -> int:
        """Frames skipped between consecutive shown frames since playback last started."""
        return self._dropped_frames

    def set_interval_onsets(self, interval_onsets: Callable[[], Sequence[int]]) -> None:
        self._interval_onsets = interval_onsets

    def set_loop_range(self, loop_range: Callable[[], tuple[int, int] | None]) -> None:
        self._loop_range = loop_range

    def set_loop_enabled(self, enabled: bool) -> None:
        self.loop_action.setChecked(enabled)

    def set_speed(self, speed: float) -> None:
        """Play at ``speed`` × the video's frame rate (0.1 to 2); keeps the current frame."""
        if not PLAYBACK_SPEEDS[0] <= speed <= PLAYBACK_SPEEDS[-1]:
            raise ValueError(f"playback speed must lie in [{PLAYBACK_SPEEDS[0]}, "
                             f"{PLAYBACK_SPEEDS[-1]}], got {speed}")
        if speed == self._speed:
            return
        self._speed = float(speed)
        for listed_speed, action in zip(PLAYBACK_SPEEDS, self._speed_actions, strict=True):
            with QSignalBlocker(action):
                action.setChecked(math.isclose(listed_speed, speed))
        if self.playing:
            self._anchor(self._playhead.frame_idx)
            self._timer.setInterval(self._tick_interval_ms())
        self.speed_changed.emit(self._speed)

    # -- transport ---------------------------------------------------------------------------

    def play(self) -> None:
        """Play from the playhead (from the start when at the last frame, from the loop's
        onset when looping and outside the loop)."""
        if self.playing or self._playhead.n_frames < 2 or self._playhead.fps <= 0:
            self._sync_play_action()
            return
        loop = self._active_loop()
        shown_idx = self._playhead.frame_idx  # on screen now
        if loop is not None and not loop[0] <= shown_idx <= loop[1]:
            self._move_playhead(loop[0])
            shown_idx = loop[0] - 1
        elif loop is None and shown_idx >= self._playhead.n_frames - 1:
            self._move_playhead(0)
            shown_idx = -1
        self._anchor(self._playhead.frame_idx)
        self._last_shown_idx = shown_idx
        self._set_dropped_frames(0)
        self._timer.start(self._tick_interval_ms())
        self._sync_play_action()
        self.playing_changed.emit(True)

    def pause(self) -> None:
        if not self.playing:
            self._sync_play_action()
            return
        self._timer.stop()
        self._sync_play_action()
        self.playing_changed.emit(False)

    def toggle_playing(self) -> None:
        if self.playing:
            self.pause()
        else:
            self.play()

    def step(self, n_frames: int) -> None:
        """Pause and move by ``n_frames`` (negative: back), stopping at the ends."""
        self.pause()
        self._playhead.step(n_frames)

    def step_seconds(self, n_seconds: int) -> None:
        """Move by ``n_seconds`` × round(fps) frames (playback goes on from there)."""
        self._playhead.step(n_seconds * max(round(self._playhead.fps), 1))

    def seek(self, frame_idx: int) -> None:
        """Go to ``frame_idx`` (clamped; playback goes on from there)."""
        self._playhead.set_frame(frame_idx)

    def next_interval(self) -> None:
        """Go to the first interval onset after the playhead (none: stay)."""
        onsets = sorted(int(f) for f in self._interval_onsets())
        pos = bisect.bisect_right(onsets, self._playhead.frame_idx)
        if pos < len(onsets):
            self.seek(onsets[pos])

    def previous_interval(self) -> None:
        """Go to the last interval onset before the playhead (none: stay)."""
        onsets = sorted(int(f) for f in self._interval_onsets())
        pos = bisect.bisect_left(onsets, self._playhead.frame_idx)
        if pos > 0:
            self.seek(onsets[pos - 1])

    @Slot()
    def tick(self) -> None:
        """Move the playhead to the frame the clock says (the timer calls this)."""
        if not self.playing:
            return
        n_frames = self._playhead.n_frames
        now = self._clock()
        position = (self._anchor_frame + (now - self._anchor_t_sec) * self._frames_per_sec()
                    + 1e-9)  # a clock reading a hair below a frame boundary counts as on it
        loop = self._active_loop()
        looping = loop is not None and self._anchor_frame < loop[1] + 1  # not started past it
        if looping and position >= loop[1] + 1:
            onset, offset = loop
            position = onset + (position - offset - 1) % (offset - onset + 1)
            self._anchor_frame, self._anchor_t_sec = position, now
            self._last_shown_idx = None  # the wrap is no drop
        target = math.floor(position)
        if not looping and target >= n_frames - 1:
            self._move_playhead(n_frames - 1)
            self.pause()
            return
        self._move_playhead(target)

    @Slot(int)
    def note_frame_shown(self, frame_idx: int) -> None:
        """A frame was painted: frames skipped since the previous one count as dropped."""
        if not self.playing:
            return
        if self._last_shown_idx is not None and frame_idx > self._last_shown_idx + 1:
            self._set_dropped_frames(self._dropped_frames + frame_idx - self._last_shown_idx - 1)
        if self._last_shown_idx is None or frame_idx > self._last_shown_idx:
            self._last_shown_idx = frame_idx

    # -- internals ---------------------------------------------------------------------------

    def _frames_per_sec(self) -> float:
        return self._playhead.fps * self._speed

    def _tick_interval_ms(self) -> int:
        """Twice per frame (a tick lands at most half a frame late), at most MAX_TICK_HZ."""
        ticks_per_sec = min(2 * self._frames_per_sec(), MAX_TICK_HZ)
        return max(1, round(1000 / ticks_per_sec))

    def _anchor(self, frame_idx: float) -> None:
        self._anchor_frame, self._anchor_t_sec = float(frame_idx), self._clock()

    def _active_loop(self) -> tuple[int, int] | None:
        """The loop range clamped to the video, when looping is on and a range exists."""
        if not self.loop_enabled:
            return None
        loop = self._loop_range()
        if loop is None:
            return None
        last = self._playhead.n_frames - 1
        onset, offset = max(0, min(int(loop[0]), last)), max(0, min(int(loop[1]), last))
        return (onset, offset) if onset < offset else None

    def _move_playhead(self, frame_idx: int) -> None:
        self._moving_playhead = True
        try:
            self._playhead.set_frame(frame_idx)
        finally:
            self._moving_playhead = False

    def _set_dropped_frames(self, n_frames: int) -> None:
        self._dropped_frames = n_frames
        self.play_action.setStatusTip(f"Play or pause — {n_frames} frames dropped "
                                      f"in the last playback")
        self.dropped_frames_changed.emit(n_frames)

    def _sync_play_action(self) -> None:
        with QSignalBlocker(self.play_action):
            self.play_action.setChecked(self.playing)
        self.play_action.setText("&Pause" if self.playing else "&Play")
        pixmap = (QStyle.StandardPixmap.SP_MediaPause if self.playing
                  else QStyle.StandardPixmap.SP_MediaPlay)
        self.play_action.setIcon(QApplication.style().standardIcon(pixmap))

    @Slot(bool)
    def _on_loop_toggled(self, enabled: bool) -> None:
        self.loop_changed.emit(enabled)

    @Slot(int, float)
    def _on_video_changed(self, n_frames: int, fps: float) -> None:
        self.pause()
        for action in self.actions():
            action.setEnabled(n_frames > 0)

    @Slot(int)
    def _on_frame_changed(self, frame_idx: int) -> None:
        if self.playing and not self._moving_playhead:  # moved by hand: play on from there
            self._anchor(frame_idx)
            self._last_shown_idx = frame_idx - 1  # the jump is no drop

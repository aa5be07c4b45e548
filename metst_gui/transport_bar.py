"""The transport bar under the video: buttons for the playback actions, speed, and "go to frame".

The buttons are the :class:`~metst_gui.playback.PlaybackController`'s own actions (the same ones
the Playback menu shows, so shortcuts, enabled state and the play/pause toggle stay in one place).
The frame box shows the playhead's frame; typing a number and pressing Enter seeks there; Ctrl+G
(the controller's ``go_to_frame_action``) puts the cursor in it.
"""

from __future__ import annotations

from PySide6.QtCore import QSignalBlocker, Qt, Slot
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSpinBox, QToolButton, QWidget

from metst_gui.playback import PLAYBACK_SPEEDS, PlaybackController

__all__ = ["TransportBar"]


class TransportBar(QWidget):
    """Play/pause, step, ±1 s, previous/next interval, loop, speed and a go-to-frame box.

    Model: a :class:`PlaybackController` (and, through it, the playhead). No signals of its own:
    everything it does goes through the controller.
    """

    def __init__(self, controller: PlaybackController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._controller = controller
        self._playhead = controller.playhead
        self._build_layout()
        # model → view
        controller.speed_changed.connect(self._on_speed_changed)
        controller.go_to_frame_requested.connect(self.focus_frame_box)
        self._playhead.video_changed.connect(self._on_video_changed)
        self._playhead.frame_changed.connect(self._on_frame_changed)
        self._on_video_changed(self._playhead.n_frames, self._playhead.fps)
        self._on_speed_changed(controller.speed)
        # view → model
        self._speed_combo.activated.connect(self._on_speed_chosen)
        self._frame_box.lineEdit().returnPressed.connect(self._on_frame_entered)

    def _build_layout(self) -> None:
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 0, 6, 2)
        layout.setSpacing(2)
        controller = self._controller
        for action in (controller.previous_interval_action, controller.back_second_action,
                       controller.step_back_action, controller.play_action,
                       controller.step_forward_action, controller.forward_second_action,
                       controller.next_interval_action, controller.loop_action):
            button = QToolButton(self)
            button.setDefaultAction(action)
            button.setAutoRaise(True)
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # keys stay with the window
            layout.addWidget(button)
        layout.addSpacing(12)
        self._speed_combo = QComboBox(self)
        self._speed_combo.setToolTip("Playback speed")
        self._speed_combo.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        for speed in PLAYBACK_SPEEDS:
            self._speed_combo.addItem(f"{speed:g}×", speed)
        layout.addWidget(self._speed_combo)
        layout.addStretch(1)
        layout.addWidget(QLabel("Go to frame", self))
        self._frame_box = QSpinBox(self)
        self._frame_box.setToolTip("Type a frame number and press Enter (Ctrl+G)")
        self._frame_box.setKeyboardTracking(False)
        self._frame_box.setAccelerated(True)
        self._frame_box.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        layout.addWidget(self._frame_box)

    def frame_box(self) -> QSpinBox:
        """The go-to-frame box."""
        return self._frame_box

    def speed_combo(self) -> QComboBox:
        """The playback-speed choice."""
        return self._speed_combo

    @Slot()
    def focus_frame_box(self) -> None:
        """Put the cursor in the go-to-frame box, its number selected."""
        self._frame_box.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self._frame_box.selectAll()

    @Slot()
    def _on_frame_entered(self) -> None:
        self._frame_box.interpretText()
        self._controller.seek(self._frame_box.value())
        self._frame_box.clearFocus()  # Space and the arrows drive playback again

    @Slot(int)
    def _on_speed_chosen(self, index: int) -> None:
        self._controller.set_speed(float(self._speed_combo.itemData(index)))

    @Slot(float)
    def _on_speed_changed(self, speed: float) -> None:
        with QSignalBlocker(self._speed_combo):
            self._speed_combo.setCurrentIndex(self._speed_combo.findData(speed))

    @Slot(int, float)
    def _on_video_changed(self, n_frames: int, fps: float) -> None:
        with QSignalBlocker(self._frame_box):
            self._frame_box.setRange(0, max(n_frames - 1, 0))
            self._frame_box.setValue(self._playhead.frame_idx)
        self._frame_box.setEnabled(n_frames > 0)
        self._speed_combo.setEnabled(n_frames > 0)

    @Slot(int)
    def _on_frame_changed(self, frame_idx: int) -> None:
        if not self._frame_box.hasFocus():  # never overwrite what the user is typing
            with QSignalBlocker(self._frame_box):
                self._frame_box.setValue(frame_idx)

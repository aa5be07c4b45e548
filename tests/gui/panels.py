"""Panel set-up for GUI tests: a panel on fresh window-level view state, showing a session.

Panels are built the way the window builds them, ``PanelType(playhead, selection)``, and follow
the open video through ``set_session`` (docs/ARCHITECTURE.md).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot

from metst_gui.session import VideoSession
from metst_gui.view_state import Playhead, Selection

__all__ = ["show_panel"]

PanelT = TypeVar("PanelT", bound=QWidget)


def show_panel(qtbot: QtBot, panel_type: Callable[[Playhead, Selection], PanelT],
               session: VideoSession, *, size: tuple[int, int] | None = None
               ) -> tuple[PanelT, Playhead, Selection]:
    """``panel_type(playhead, selection)`` shown (``size`` = (width, height) when given) with
    ``session`` open; the playhead is on the session's video, nothing is selected.

    The panel is registered with ``qtbot``, which closes it after the test.
    """
    playhead, selection = Playhead(), Selection()
    playhead.set_video(session.n_frames, session.fps)
    panel = panel_type(playhead, selection)
    qtbot.addWidget(panel)
    if size is not None:
        panel.resize(*size)
    panel.show()
    panel.set_session(session)
    return panel, playhead, selection

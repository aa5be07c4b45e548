"""The main window opens a video, shows exactly the frame asked for, steps with the arrow keys,
reports a file it cannot open without losing the open video, and leaves no thread running."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before any Qt import

import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from PySide6.QtCore import Qt, QThread
from PySide6.QtWidgets import QFileDialog, QMessageBox, QSlider

from core.video import open_source
from metst_gui.main_window import MainWindow
from metst_gui.video_view import format_timestamp
from resources import SAMPLE_VIDEO
from tests.gui.pixels import rgb_pixels

pytestmark = pytest.mark.gui

DECODE_TIMEOUT_MS = 10_000
SAMPLE_N_FRAMES = 472  # resources/sample/CREDITS.md


def _decoded_rgb(path: Path, frame_idx: int) -> np.ndarray:
    source = open_source(path)
    try:
        return cv2.cvtColor(source.read(frame_idx), cv2.COLOR_BGR2RGB)
    finally:
        source.close()


@pytest.fixture
def window(qtbot) -> MainWindow:
    main_window = MainWindow()
    qtbot.addWidget(main_window)
    main_window.show()
    return main_window


@pytest.fixture
def sample_window(qtbot, window: MainWindow) -> MainWindow:
    """The window with the sample video open and its first frame shown."""
    with qtbot.waitSignal(window.video_view.frame_shown, timeout=DECODE_TIMEOUT_MS):
        window.open_path(SAMPLE_VIDEO)
    return window


@pytest.fixture
def critical_messages(monkeypatch) -> list[tuple[str, str]]:
    """(title, text) of every QMessageBox.critical the window would have shown."""
    messages: list[tuple[str, str]] = []

    def record(parent, title, text, *args, **kwargs):
        messages.append((title, text))
        return QMessageBox.StandardButton.Ok

    monkeypatch.setattr(QMessageBox, "critical", record)
    return messages


def _show_frame(qtbot, window: MainWindow, frame_idx: int) -> None:
    with qtbot.waitSignal(window.video_view.frame_shown, timeout=DECODE_TIMEOUT_MS,
                          check_params_cb=lambda shown_idx: shown_idx == frame_idx):
        window.playhead.set_frame(frame_idx)


def test_opens_video_on_its_first_frame(sample_window: MainWindow) -> None:
    view = sample_window.video_view
    assert view.video is not None and view.video.n_frames == SAMPLE_N_FRAMES
    assert view.shown_frame_idx == 0
    assert view.position_text() == f"frame 0 / {SAMPLE_N_FRAMES} — 00:00.000"
    assert SAMPLE_VIDEO.name in sample_window.windowTitle()
    np.testing.assert_array_equal(rgb_pixels(view.shown_image()),
                                  _decoded_rgb(SAMPLE_VIDEO, 0))


def test_seeking_shows_exactly_that_frame(qtbot, sample_window: MainWindow) -> None:
    frame_idx = 237
    _show_frame(qtbot, sample_window, frame_idx)
    view = sample_window.video_view
    shown_rgb = rgb_pixels(view.shown_image())
    np.testing.assert_array_equal(shown_rgb, _decoded_rgb(SAMPLE_VIDEO, frame_idx))
    assert not np.array_equal(shown_rgb, _decoded_rgb(SAMPLE_VIDEO, frame_idx - 1))
    assert view.position_text() == f"frame 237 / {SAMPLE_N_FRAMES} — 00:09.885"  # 237 / 23.976
    assert view.findChild(QSlider).value() == frame_idx


def test_slider_moves_the_playhead(qtbot, sample_window: MainWindow) -> None:
    view = sample_window.video_view
    with qtbot.waitSignal(view.frame_shown, timeout=DECODE_TIMEOUT_MS,
                          check_params_cb=lambda shown_idx: shown_idx == 100):
        view.findChild(QSlider).setValue(100)
    assert sample_window.playhead.frame_idx == 100


def test_arrow_keys_step_one_frame(qtbot, sample_window: MainWindow) -> None:
    view = sample_window.video_view
    for key, expected_idx in [(Qt.Key.Key_Right, 1), (Qt.Key.Key_Right, 2), (Qt.Key.Key_Left, 1)]:
        with qtbot.waitSignal(view.frame_shown, timeout=DECODE_TIMEOUT_MS):
            qtbot.keyClick(view, key)
        assert view.shown_frame_idx == expected_idx
    np.testing.assert_array_equal(rgb_pixels(view.shown_image()), _decoded_rgb(SAMPLE_VIDEO, 1))
    with qtbot.waitSignal(view.frame_shown, timeout=DECODE_TIMEOUT_MS):
        qtbot.keyClick(view.findChild(QSlider), Qt.Key.Key_Right)  # the slider steps once, too
    assert sample_window.playhead.frame_idx == 2


def test_left_arrow_stops_at_the_first_frame(qtbot, sample_window: MainWindow) -> None:
    qtbot.keyClick(sample_window.video_view, Qt.Key.Key_Left)
    assert sample_window.playhead.frame_idx == 0


def test_scrubbing_shows_only_the_newest_frame(qtbot, sample_window: MainWindow) -> None:
    shown: list[int] = []
    sample_window.video_view.frame_shown.connect(shown.append)
    for frame_idx in range(1, 61):
        sample_window.playhead.set_frame(frame_idx)
    qtbot.waitUntil(lambda: 60 in shown, timeout=DECODE_TIMEOUT_MS)
    assert shown == [60]  # stale frames would have arrived before frame 60


def test_non_video_file_shows_error_and_keeps_the_open_video(
        qtbot, sample_window: MainWindow, critical_messages, tmp_path: Path) -> None:
    not_a_video = tmp_path / "x.mp4"
    not_a_video.write_text("this is not a video\n")
    with qtbot.waitSignal(sample_window.video_view.open_failed, timeout=DECODE_TIMEOUT_MS):
        sample_window.open_path(not_a_video)
    assert len(critical_messages) == 1
    assert "x.mp4" in critical_messages[0][1]
    assert "Traceback" not in critical_messages[0][1]
    view = sample_window.video_view
    assert view.video is not None and view.video.path == SAMPLE_VIDEO
    with qtbot.waitSignal(view.frame_shown, timeout=DECODE_TIMEOUT_MS):
        qtbot.keyClick(view, Qt.Key.Key_Right)
    np.testing.assert_array_equal(rgb_pixels(view.shown_image()), _decoded_rgb(SAMPLE_VIDEO, 1))


def test_file_menu_opens_video_and_folder_of_frames(
        qtbot, window: MainWindow, monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setattr(QFileDialog, "getOpenFileName",
                        lambda *args, **kwargs: (str(SAMPLE_VIDEO), ""))
    with qtbot.waitSignal(window.video_view.frame_shown, timeout=DECODE_TIMEOUT_MS):
        window.open_video_action.trigger()
    assert window.video_view.video.path == SAMPLE_VIDEO

    frames_dir = tmp_path / "frames"
    frames_dir.mkdir()
    for frame_idx in range(3):
        cv2.imwrite(str(frames_dir / f"frame_{frame_idx:04d}.png"),
                    cv2.cvtColor(_decoded_rgb(SAMPLE_VIDEO, 10 * frame_idx), cv2.COLOR_RGB2BGR))
    monkeypatch.setattr(QFileDialog, "getExistingDirectory",
                        lambda *args, **kwargs: str(frames_dir))
    with qtbot.waitSignal(window.video_view.video_opened, timeout=DECODE_TIMEOUT_MS):
        window.open_folder_action.trigger()
    assert window.video_view.video.n_frames == 3
    _show_frame(qtbot, window, 2)
    np.testing.assert_array_equal(rgb_pixels(window.video_view.shown_image()),
                                  _decoded_rgb(SAMPLE_VIDEO, 20))


def test_closing_the_window_stops_its_decoding_thread(
        sample_window: MainWindow, running_qthreads: Callable[[], list[QThread]]) -> None:
    assert running_qthreads(), "the window decodes on a QThread; the check below would be moot"
    sample_window.close()
    assert not running_qthreads()


def test_format_timestamp() -> None:
    assert format_timestamp(0.0) == "00:00.000"
    assert format_timestamp(9.8848) == "00:09.885"
    assert format_timestamp(3723.4567) == "62:03.457"
    assert format_timestamp(None) == "--:--.---"


def test_metst_studio_command_reports_a_bad_file_without_traceback(tmp_path: Path) -> None:
    not_a_video = tmp_path / "x.mp4"
    not_a_video.write_text("this is not a video\n")
    script = textwrap.dedent(f"""
        import sys
        from PySide6.QtWidgets import QApplication, QMessageBox
        from metst_gui import app

        def critical(parent, title, text, *args, **kwargs):
            print(text)
            QApplication.closeAllWindows()
            return QMessageBox.StandardButton.Ok

        QMessageBox.critical = critical
        status = app.main([{str(not_a_video)!r}])
        print("torch imported" if "torch" in sys.modules else "torch not imported")
        sys.exit(status)
    """)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            env=env, timeout=120, cwd=Path(__file__).resolve().parents[2])
    assert result.returncode == 0, result.stderr
    assert "x.mp4" in result.stdout
    assert "torch not imported" in result.stdout
    assert "Traceback" not in result.stderr, result.stderr

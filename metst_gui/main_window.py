"""The main window: assembles the panels and the menus, nothing more.

Today it holds the video panel; the curves, interval track and inspector of later versions dock
under and beside it, all following the same :class:`~metst_gui.view_state.Playhead`.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Slot
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import QFileDialog, QMainWindow, QMessageBox, QWidget

from metst_gui.frame_loader import VideoInfo
from metst_gui.video_view import VideoView
from metst_gui.view_state import Playhead

__all__ = ["MainWindow", "APP_TITLE", "VIDEO_FILE_FILTER"]

APP_TITLE = "ME-TST Studio"
VIDEO_FILE_FILTER = "Videos (*.mp4 *.avi *.mov *.mkv *.m4v *.webm *.mpg *.mpeg);;All files (*)"


class MainWindow(QMainWindow):
    """ME-TST Studio's window: a video panel and the File menu.

    Errors opening a video are shown in a message box naming the file; the window stays usable
    and keeps the video it had. Closing the window stops every worker thread.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.playhead = Playhead(self)
        self.video_view = VideoView(self.playhead, self)
        self.setCentralWidget(self.video_view)
        self._build_menus()
        self.setWindowTitle(APP_TITLE)
        self.resize(960, 640)
        self.video_view.video_opened.connect(self._on_video_opened)
        self.video_view.open_failed.connect(self._on_open_failed)
        self.video_view.setFocus()

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self.open_video_action = QAction("&Open video…", self)
        self.open_video_action.setShortcut(QKeySequence.StandardKey.Open)
        self.open_video_action.triggered.connect(self._on_open_video_triggered)
        self.open_folder_action = QAction("Open &folder of frames…", self)
        self.open_folder_action.setShortcut(QKeySequence("Ctrl+Shift+O"))
        self.open_folder_action.triggered.connect(self._on_open_folder_triggered)
        self.quit_action = QAction("&Quit", self)
        self.quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        self.quit_action.triggered.connect(self.close)
        file_menu.addAction(self.open_video_action)
        file_menu.addAction(self.open_folder_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)

    def open_path(self, path: str | Path) -> None:
        """Open a video file or a folder of frames (asynchronously; errors show a message box)."""
        self.statusBar().showMessage(f"Opening {path}…")
        self.video_view.open_video(path)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt override)
        self.video_view.shutdown()
        super().closeEvent(event)

    def _start_dir(self) -> str:
        video = self.video_view.video
        return str(video.path.parent) if video is not None else ""

    @Slot()
    def _on_open_video_triggered(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open video", self._start_dir(),
                                              VIDEO_FILE_FILTER)
        if path:
            self.open_path(path)

    @Slot()
    def _on_open_folder_triggered(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open folder of frames", self._start_dir())
        if path:
            self.open_path(path)

    @Slot(object)
    def _on_video_opened(self, video: VideoInfo) -> None:
        self.setWindowTitle(f"{video.path.name} — {APP_TITLE}")
        self.statusBar().showMessage(
            f"{video.path}: {video.n_frames} frames, {video.width}×{video.height}, "
            f"{video.fps:.3f} fps")
        self.video_view.setFocus()

    @Slot(str)
    def _on_open_failed(self, message: str) -> None:
        self.statusBar().showMessage("Could not open the video", 5000)
        QMessageBox.critical(self, "Cannot open video", message)

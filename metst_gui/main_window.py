"""The main window: assembles the panels and the menus, nothing more.

Centre: the video (with its transport bar) over the timeline (spotting, emotion and ROI-trace rows
and the interval track on one time axis). Docks: the project's videos and the analysis settings
(left), the inspector and the review queue (right), the table of intervals (bottom). Every panel
follows the same :class:`~metst_gui.view_state.Playhead` and
:class:`~metst_gui.view_state.Selection` and is handed the open
:class:`~metst_gui.session.VideoSession` by the :class:`~metst_gui.session_manager.SessionManager`.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, Qt, Slot
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QWidget,
)

from core.annotations import AnnotationChange
from core.project import Project
from metst_gui.analysis_panel import AnalysisPanel
from metst_gui.autosave import AutosaveController
from metst_gui.edit_actions import EditActions, human_interval
from metst_gui.file_actions import FileActions
from metst_gui.file_filters import VIDEO_FILE_FILTER
from metst_gui.frame_loader import VideoInfo
from metst_gui.inspector_panel import InspectorPanel
from metst_gui.interval_table import IntervalTable
from metst_gui.model_actions import ModelActions
from metst_gui.project_actions import ProjectActions
from metst_gui.project_panel import ProjectPanel
from metst_gui.recent_files import RecentFiles
from metst_gui.review_queue import ReviewQueuePanel
from metst_gui.session import VideoSession
from metst_gui.session_manager import SessionManager
from metst_gui.shortcuts_dialog import show_shortcuts
from metst_gui.timeline import IntervalTrack, TimelineView
from metst_gui.user_paths import log_file_path
from metst_gui.video_view import VideoView
from metst_gui.view_state import Playhead, Selection

__all__ = ["MainWindow", "APP_TITLE", "VIDEO_FILE_FILTER"]

APP_TITLE = "ME-TST Studio"


class MainWindow(QMainWindow):
    """ME-TST Studio's window. Errors are shown in message boxes naming the file; the window
    stays usable. Closing it asks about unsaved edits and stops every worker."""

    def __init__(self, parent: QWidget | None = None, *, analysis_workers: int = 2) -> None:
        super().__init__(parent)
        self.playhead = Playhead(self)
        self.selection = Selection(self)
        self.video_view = VideoView(self.playhead, self)
        self.timeline = TimelineView(self.playhead)
        self.interval_track = IntervalTrack(self.playhead, self.selection)
        self.timeline.add_track(self.interval_track, height=70)
        splitter = QSplitter(Qt.Orientation.Vertical, self)
        splitter.addWidget(self.video_view)
        splitter.addWidget(self.timeline)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([460, 420])
        self.timeline.setMinimumHeight(300)
        self.setCentralWidget(splitter)
        self.autosave = AutosaveController(self)
        self.sessions = SessionManager(self.video_view, self.autosave, self)
        self.project_panel = ProjectPanel()
        # Extraction in worker processes (≥ 2): loading dlib in this process would hold the GIL.
        self.analysis_panel = AnalysisPanel(workers=analysis_workers)
        self.inspector = InspectorPanel(self.playhead, self.selection)
        self.interval_table = IntervalTable(self.playhead, self.selection)
        self.review_queue = ReviewQueuePanel(self.playhead, self.selection)
        self.edit_actions = EditActions(self.playhead, self.selection, self)
        self.file_actions = FileActions(lambda: self.session, self.timeline.export_image, self)
        self.recent = RecentFiles(menu_parent=self)
        self.project_actions = ProjectActions(self.sessions, self)
        self.model_actions = ModelActions(self.sessions, self.analysis_panel, self.inspector,
                                          self)
        self._build_docks()
        self._build_menus()
        self._connect()
        self.video_view.playback.set_interval_onsets(self._interval_onsets)
        self.video_view.playback.set_loop_range(self._selected_range)
        self.setAcceptDrops(True)
        self._update_title()
        self.resize(1400, 900)
        self._restore_layout()
        self.video_view.setFocus()

    @property
    def session(self) -> VideoSession | None:
        """The open video, its annotations and result (None before a video is open)."""
        return self.sessions.session

    # ---------------------------------------------------------------- building

    def _build_docks(self) -> None:
        left, right = Qt.DockWidgetArea.LeftDockWidgetArea, Qt.DockWidgetArea.RightDockWidgetArea
        bottom = Qt.DockWidgetArea.BottomDockWidgetArea
        self.docks: dict[str, QDockWidget] = {}
        for title, name, panel, area in (
                ("Project", "ProjectDock", self.project_panel, left),
                ("Analysis", "AnalysisDock", self.analysis_panel, left),
                ("Inspector", "InspectorDock", self.inspector, right),
                ("Review queue", "ReviewDock", self.review_queue, right),
                ("Intervals", "IntervalsDock", self.interval_table, bottom)):
            dock = QDockWidget(title, self)
            dock.setObjectName(name)
            dock.setWidget(panel)
            self.addDockWidget(area, dock)
            self.docks[name] = dock
        self.tabifyDockWidget(self.docks["InspectorDock"], self.docks["ReviewDock"])
        self.docks["InspectorDock"].raise_()
        self.resizeDocks([self.docks["IntervalsDock"]], [170], Qt.Orientation.Vertical)
        self.resizeDocks([self.docks["ProjectDock"], self.docks["InspectorDock"]], [260, 300],
                         Qt.Orientation.Horizontal)

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        self.open_video_action = self._action("&Open video…", QKeySequence.StandardKey.Open,
                                              self._on_open_video_triggered)
        self.open_folder_action = self._action("Open &folder of frames…", "Ctrl+Shift+O",
                                               self._on_open_folder_triggered)
        self.open_project_action = self._action("Open &project…", "Ctrl+Alt+O",
                                                self._on_open_project_triggered)
        self.save_action = self._action("&Save annotations", QKeySequence.StandardKey.Save,
                                        self.sessions.save)
        self.quit_action = self._action("&Quit", QKeySequence.StandardKey.Quit, self.close)
        file_menu.addActions([self.open_video_action, self.open_folder_action,
                              self.open_project_action])
        file_menu.addMenu(self.recent.menu)
        file_menu.addSeparator()
        file_menu.addActions(self.project_actions.actions())
        file_menu.addSeparator()
        file_menu.addAction(self.save_action)
        file_menu.addSeparator()
        file_menu.addActions(self.file_actions.actions())
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        interval_menu = bar.addMenu("&Interval")
        interval_menu.addActions(self.edit_actions.actions())
        interval_menu.addSeparator()
        self.show_rejected_action = QAction("Show &rejected intervals", self, checkable=True)
        self.show_rejected_action.setChecked(self.interval_track.show_rejected)
        self.show_rejected_action.toggled.connect(self.interval_track.set_show_rejected)
        interval_menu.addAction(self.show_rejected_action)
        playback_menu = bar.addMenu("&Playback")
        playback_menu.addActions(self.video_view.playback.actions())
        speed_menu = playback_menu.addMenu("&Speed")
        speed_menu.addActions(self.video_view.playback.speed_actions())
        analysis_menu = bar.addMenu("&Analysis")
        self.run_analysis_action = self._action("&Run analysis", "Ctrl+R",
                                                self.analysis_panel.run)
        self.cancel_analysis_action = self._action("&Cancel analysis", None,
                                                   self.analysis_panel.cancel)
        analysis_menu.addActions([self.run_analysis_action, self.cancel_analysis_action])
        analysis_menu.addSeparator()
        analysis_menu.addAction(self.model_actions.tsfmicro_action)
        bar.addMenu("&Training").addAction(self.model_actions.retrain_action)
        view_menu = bar.addMenu("&View")
        overlays = view_menu.addMenu("&Overlays")
        overlays.addActions(self.video_view.overlay_actions())
        overlays.addSeparator()
        overlays.addActions(self.video_view.roi_set_actions())
        view_menu.addSeparator()
        for dock in self.docks.values():
            view_menu.addAction(dock.toggleViewAction())
        help_menu = bar.addMenu("&Help")
        help_menu.addAction(self._action("&Keyboard and mouse…", "F1",
                                         lambda: show_shortcuts(self)))
        help_menu.addAction(self._action("Show the &log file", None, self._on_show_log))

    def _action(self, text: str, shortcut: QKeySequence.StandardKey | str | None,
                slot: object) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(slot)
        self.addAction(action)
        return action

    def _connect(self) -> None:
        self.sessions.session_changed.connect(self._on_session_changed)
        self.sessions.project_changed.connect(self._on_project_changed)
        self.sessions.status.connect(self._show_status)
        self.sessions.error.connect(self._show_error)
        self.video_view.video_opened.connect(self._on_video_opened)
        self.video_view.open_failed.connect(self._on_open_failed)
        self.video_view.overlay_failed.connect(self._show_status)
        self.project_panel.video_activated.connect(self._on_project_video_activated)
        self.recent.path_chosen.connect(self.open_path)
        self.analysis_panel.result_ready.connect(self._on_result_ready)
        self.analysis_panel.threshold_changed.connect(self._on_threshold_changed)
        self.analysis_panel.error.connect(lambda m: self._show_error("Analysis failed", m))
        self.timeline.interval_drawn.connect(self._on_interval_drawn)
        self.interval_track.edge_edited.connect(self.edit_actions.set_active_edge)
        self.interval_track.message.connect(self._show_status)
        self.edit_actions.pending_changed.connect(self.interval_track.set_pending)
        self.edit_actions.message.connect(self._show_status)
        self.file_actions.status.connect(self._show_status)
        self.model_actions.status.connect(self._show_status)
        self.project_actions.status.connect(self._show_status)
        self.project_actions.error.connect(self._show_error)
        self.project_actions.videos_added.connect(self._on_project_changed)
        self.model_actions.error.connect(self._show_error)
        self.autosave.save_failed.connect(lambda m: self._show_error("Cannot save", m))

    # ----------------------------------------------------------------- opening

    def open_path(self, path: str | Path) -> None:
        """Open a video file, a folder of frames or a project folder (errors: a message box)."""
        self.sessions.open_path(path)

    def _start_dir(self) -> str:
        session = self.session
        return str(session.video.path.parent) if session is not None else ""

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
            self.sessions.open_path(path, as_video=True)

    @Slot()
    def _on_open_project_triggered(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open project", self._start_dir())
        if path:
            self.sessions.open_project(path)

    @Slot(object)
    def _on_project_video_activated(self, video: object) -> None:
        project = self.sessions.project
        if project is not None:
            self.sessions.open_video(project, video)

    @Slot(object)
    def _on_project_changed(self, project: Project | None) -> None:
        self.project_panel.set_project(project)
        if project is not None:
            self.recent.add(project.root)
        if self.session is not None:
            self.project_panel.set_current(self.session.video)

    @Slot(object)
    def _on_video_opened(self, video: VideoInfo) -> None:
        self._show_status(f"{video.path}: {video.n_frames} frames, {video.width}×{video.height},"
                          f" {video.fps:.3f} fps")
        self.video_view.setFocus()

    @Slot(str)
    def _on_open_failed(self, message: str) -> None:
        self._show_error("Cannot open video", message)

    @Slot(object)
    def _on_session_changed(self, session: VideoSession | None) -> None:
        self.selection.select(None)
        for panel in (self.interval_track, self.edit_actions, self.inspector,
                      self.interval_table, self.review_queue, self.analysis_panel):
            panel.set_session(session)
        self.timeline.set_result(session.result if session is not None else None)
        self.video_view.set_session(session)
        self._follow_result_roi_set(session.result if session is not None else None)
        if session is not None:
            session.result_changed.connect(self._on_session_result_changed)
            session.dirty_changed.connect(self._update_title)
            self.project_panel.set_current(session.video)
            self.recent.add(session.video.path if session.video.linked
                            else session.project.root)
        self.file_actions.update_enabled()
        self._update_title()

    @Slot(object)
    def _on_session_result_changed(self, result: object) -> None:
        self.timeline.set_result(result)
        self._follow_result_roi_set(result)
        self.file_actions.update_enabled()

    def _follow_result_roi_set(self, result: object) -> None:
        """The ROI boxes on the video are those whose traces the ROI row shows (same colours)."""
        if result is not None:
            self.video_view.set_roi_set(result.traces.roi_set)

    # ---------------------------------------------------------------- editing

    @Slot(object)
    def _on_result_ready(self, result: object) -> None:
        if self.session is not None:
            self.session.set_result(result)
            self.video_view.set_feature_store(self.session.project.feature_store())
            self.project_panel.refresh()
            self._show_status(f"Analysis done: {len(result.intervals)} intervals proposed")

    @Slot(float)
    def _on_threshold_changed(self, p: float) -> None:
        if self.session is not None:
            self.session.set_threshold(p)

    @Slot(int, int)
    def _on_interval_drawn(self, onset_frame: int, offset_frame: int) -> None:
        session = self.session
        if session is None:
            return
        annotation = human_interval(session, onset_frame, offset_frame)
        session.apply(AnnotationChange((), (annotation,)), "Add interval")
        self.selection.select(annotation.id)

    def _interval_onsets(self) -> list[int]:
        session = self.session
        return [] if session is None else [a.onset_frame for a in session.annotations
                                           if a.status != "rejected"]

    def _selected_range(self) -> tuple[int, int] | None:
        session, selected = self.session, self.selection.annotation_id
        if session is None or selected is None or selected not in session.annotations:
            return None
        annotation = session.annotations.get(selected)
        return annotation.onset_frame, annotation.offset_frame

    # -------------------------------------------------------------- feedback

    def _show_status(self, message: str) -> None:
        self.statusBar().showMessage(message, 10_000)

    def _show_error(self, title: str, message: str) -> None:
        self._show_status(message.splitlines()[0] if message else title)
        QMessageBox.critical(self, title, message)

    def _update_title(self, *_args: object) -> None:
        session = self.session
        name = session.video.path.name if session is not None else ""
        self.setWindowTitle(f"{name}[*] — {APP_TITLE}" if name else APP_TITLE)
        self.setWindowModified(session is not None and session.is_dirty)

    def _on_show_log(self) -> None:
        QMessageBox.information(self, "Log file", f"The log is written to\n{log_file_path()}")

    # ------------------------------------------------------- drag and drop

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 (Qt override)
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 (Qt override)
        paths = [Path(u.toLocalFile()) for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.open_path(paths[0])

    # ------------------------------------------------------------------ closing

    def _restore_layout(self) -> None:
        state = QSettings().value("main_window/state")
        if state is not None:
            self.restoreState(state)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt override)
        if not self.sessions.close_session():
            event.ignore()
            return
        QSettings().setValue("main_window/state", self.saveState())
        self.autosave.shutdown()
        self.model_actions.shutdown()
        self.analysis_panel.shutdown()
        self.inspector.shutdown()
        self.timeline.shutdown()
        self.video_view.shutdown()
        super().closeEvent(event)


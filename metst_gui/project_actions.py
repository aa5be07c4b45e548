"""File → New project and File → Add videos to project.

A new project is an empty folder with its ``project.json``; videos join it by link (they stay
where they are; :meth:`core.project.Project.link_video`) under a subject the user names — the
subject is the unit of leave-one-subject-out training. Videos already inside the project's
subject folders are found without adding them.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog, QInputDialog, QWidget

from core.project import Project, ProjectError
from metst_gui.file_filters import VIDEO_FILE_FILTER
from metst_gui.session_manager import SessionManager

__all__ = ["ProjectActions"]



class ProjectActions(QObject):
    """The project-building actions of the File menu.

    Signals:
        videos_added(object): the ``Project`` whose video list grew (the project panel refreshes).
        status(str), error(str title, str message): feedback for the window.
    """

    videos_added = Signal(object)
    status = Signal(str)
    error = Signal(str, str)

    def __init__(self, sessions: SessionManager, parent: QWidget) -> None:
        super().__init__(parent)
        self._sessions = sessions
        self._parent = parent
        self.new_project_action = QAction("&New project…", self)
        self.new_project_action.setStatusTip("Make an empty project folder and open it")
        self.new_project_action.triggered.connect(self.new_project)
        self.add_videos_action = QAction("&Add videos to project…", self)
        self.add_videos_action.setStatusTip("Link videos into the open project under a subject")
        self.add_videos_action.triggered.connect(self.add_videos)

    def actions(self) -> list[QAction]:
        return [self.new_project_action, self.add_videos_action]

    @Slot()
    def new_project(self) -> None:
        folder = QFileDialog.getExistingDirectory(self._parent, "New project: choose or make an "
                                                  "empty folder")
        if not folder:
            return
        try:
            project = Project.open(folder, create=True)
            project.save()
        except (ProjectError, OSError) as exc:
            self.error.emit("Cannot make the project", str(exc))
            return
        self._sessions.open_project(project.root)
        self.status.emit(f"New project {project.root}: File → Add videos to project…")

    @Slot()
    def add_videos(self) -> None:
        project = self._sessions.project
        if project is None:
            self.error.emit("Add videos", "Open or make a project first (File → New project…).")
            return
        paths, _ = QFileDialog.getOpenFileNames(self._parent, "Add videos to the project",
                                                str(project.root), VIDEO_FILE_FILTER)
        if not paths:
            return
        default_subject = Path(paths[0]).parent.name or "subject"
        subject, accepted = QInputDialog.getText(
            self._parent, "Subject", "Subject (person) these videos show:", text=default_subject)
        if not accepted or not subject.strip():
            return
        try:
            added = [project.link_video(path, subject=subject.strip()) for path in paths]
        except (ProjectError, OSError) as exc:
            self.error.emit("Cannot add the videos", str(exc))
            return
        self.videos_added.emit(project)
        if self._sessions.session is None:
            self._sessions.open_video(project, added[0])
        self.status.emit(f"Added {len(added)} videos to {project.root.name} as subject "
                         f"{added[0].subject}")

"""The project's videos, grouped by subject, with what has been done on each.

:class:`ProjectPanel` lists :meth:`core.project.Project.videos` in a tree (subject → video) with
two columns of review state: whether a stored analysis exists, and how many annotations the
video's annotation file holds (rejected ones left out; ``proposed`` ones are still to review).
Double-click or Enter on a video asks the window to open it.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QBrush, QFont, QPalette
from PySide6.QtWidgets import QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from core.project import Project, ProjectVideo

__all__ = ["ProjectPanel", "VideoState", "video_state"]

_VIDEO_ROLE = Qt.ItemDataRole.UserRole
_COLUMNS = ("Video", "Analysed", "Annotations")


@dataclass(frozen=True)
class VideoState:
    """What the list shows for one video.

    Attributes:
        analysed: a stored analysis result exists.
        n_annotations: records in the annotation file, rejected ones excluded (None: no file).
        n_to_review: of those, model proposals not yet reviewed.
        exists: the video file or folder is present (a linked video may have moved).
    """

    analysed: bool
    n_annotations: int | None
    n_to_review: int
    exists: bool


def video_state(project: Project, video: ProjectVideo) -> VideoState:
    """Read ``video``'s review state from the project folder (one small CSV read)."""
    n_annotations, n_to_review = None, 0
    path = project.annotations_path(video)
    try:
        with path.open(newline="", encoding="utf-8") as stream:
            statuses = [row.get("status", "") for row in csv.DictReader(stream)]
        n_annotations = sum(status != "rejected" for status in statuses)
        n_to_review = sum(status == "proposed" for status in statuses)
    except (OSError, UnicodeDecodeError, csv.Error):
        n_annotations = None if not path.exists() else 0
    analysed = (project.result_dir(video) / "curves.h5").is_file()
    return VideoState(analysed, n_annotations, n_to_review, Path(video.path).exists())


class ProjectPanel(QWidget):
    """The open project's videos; the open one is shown in bold and selected.

    Signals:
        video_activated(ProjectVideo): the user double-clicked a video or pressed Enter on it.
    """

    video_activated = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.project: Project | None = None
        self._current_key: str | None = None
        self.tree = QTreeWidget(self)
        self.tree.setHeaderLabels(list(_COLUMNS))
        self.tree.setRootIsDecorated(True)
        self.tree.setUniformRowHeights(True)
        self.tree.setAlternatingRowColors(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tree)
        self.tree.itemActivated.connect(self._on_item_activated)

    def set_project(self, project: Project | None) -> None:
        """Show ``project``'s videos (None: an empty list)."""
        self.project = project
        self._current_key = None
        self.refresh()

    def refresh(self) -> None:
        """Re-read the videos and their state from the project folder."""
        self.tree.clear()
        if self.project is None:
            return
        subjects: dict[str, QTreeWidgetItem] = {}
        for video in sorted(self.project.videos(), key=lambda v: (v.subject, v.name)):
            parent = subjects.get(video.subject)
            if parent is None:
                parent = QTreeWidgetItem(self.tree, [video.subject])
                parent.setFlags(Qt.ItemFlag.ItemIsEnabled)
                subjects[video.subject] = parent
            self._add_video_item(parent, video, video_state(self.project, video))
        self.tree.expandAll()
        for column in range(1, len(_COLUMNS)):
            self.tree.resizeColumnToContents(column)
        self._show_current()

    def set_current(self, video: ProjectVideo | None) -> None:
        """Mark ``video`` as the open one (bold, selected, scrolled into view)."""
        self._current_key = video.key if video is not None else None
        self._show_current()

    def video_items(self) -> list[QTreeWidgetItem]:
        """The video rows, in display order."""
        return [self.tree.topLevelItem(i).child(j) for i in range(self.tree.topLevelItemCount())
                for j in range(self.tree.topLevelItem(i).childCount())]

    def _add_video_item(self, parent: QTreeWidgetItem, video: ProjectVideo,
                        state: VideoState) -> None:
        if state.n_annotations is None:
            annotations = ""
        elif state.n_to_review:
            annotations = f"{state.n_annotations} ({state.n_to_review} to review)"
        else:
            annotations = str(state.n_annotations)
        item = QTreeWidgetItem(parent, [video.name, "✓" if state.analysed else "",
                                        annotations])
        item.setData(0, _VIDEO_ROLE, video)
        tooltip = str(video.path) + ("" if state.exists else "\n(missing: moved or deleted?)")
        item.setToolTip(0, tooltip)
        if not state.exists:
            disabled = self.palette().brush(QPalette.ColorGroup.Disabled,
                                            QPalette.ColorRole.Text)
            for column in range(len(_COLUMNS)):
                item.setForeground(column, QBrush(disabled))

    def _show_current(self) -> None:
        for item in self.video_items():
            video: ProjectVideo = item.data(0, _VIDEO_ROLE)
            is_current = video.key == self._current_key
            font = QFont(item.font(0))
            font.setBold(is_current)
            item.setFont(0, font)
            if is_current:
                self.tree.setCurrentItem(item)
                self.tree.scrollToItem(item)

    @Slot(QTreeWidgetItem, int)
    def _on_item_activated(self, item: QTreeWidgetItem, column: int) -> None:
        video = item.data(0, _VIDEO_ROLE)
        if isinstance(video, ProjectVideo):
            self.video_activated.emit(video)

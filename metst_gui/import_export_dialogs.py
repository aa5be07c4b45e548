"""File → Export intervals (what to write and where) and File → Import (what was found).

:class:`ExportIntervalsDialog` asks for the scope (the open video or the whole project), the
statuses and sources to keep and the file; :meth:`ExportIntervalsDialog.options` gives the
answer to pass to :func:`core.interval_export.export_intervals_csv`. :class:`ImportReportDialog`
shows an :class:`core.interval_import.ImportReport` before anything is added: how many intervals
will be imported, and every row that was left out or repaired, with its row number and why.
Neither dialog touches files or annotations; the window acts on the answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from core.annotations import SOURCES, STATUSES
from core.interval_import import SOURCE_KINDS, ImportReport

__all__ = ["ExportIntervalsDialog", "ExportOptions", "ImportReportDialog"]

#: Statuses exported unless the user changes them: everything but what a reviewer rejected.
DEFAULT_EXPORT_STATUSES = ("proposed", "accepted", "edited")


@dataclass(frozen=True)
class ExportOptions:
    """The answer of :class:`ExportIntervalsDialog`; ``scope`` is ``"video"`` or ``"project"``."""

    scope: str
    statuses: frozenset[str]
    sources: frozenset[str]
    path: Path


class ExportIntervalsDialog(QDialog):
    """Export intervals: scope, status and source filters, and the CSV file to write.

    The OK button is enabled only with a file and at least one status and one source.
    """

    def __init__(self, video_name: str, default_folder: Path, parent: QWidget | None = None
                 ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export intervals")
        self._video_name = video_name
        self._default_folder = Path(default_folder)
        self.video_scope = QRadioButton(f"This video ({video_name})")
        self.project_scope = QRadioButton("Every video of the project (saved files; this "
                                          "video's edits included)")
        self.video_scope.setChecked(True)
        self.status_boxes = {status: QCheckBox(status) for status in STATUSES}
        self.source_boxes = {source: QCheckBox(source) for source in SOURCES}
        for status, box in self.status_boxes.items():
            box.setChecked(status in DEFAULT_EXPORT_STATUSES)
        for box in self.source_boxes.values():
            box.setChecked(True)
        self.path_edit = QLineEdit(str(self._suggested_path()))
        self._browse_button = QPushButton("Browse…")
        self._buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                         | QDialogButtonBox.StandardButton.Cancel)
        self._buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Export")
        self._build_layout()
        for box in (*self.status_boxes.values(), *self.source_boxes.values()):
            box.toggled.connect(self._update_ok_button)
        self.path_edit.textChanged.connect(self._update_ok_button)
        self.project_scope.toggled.connect(self._on_scope_toggled)
        self._browse_button.clicked.connect(self._on_browse_clicked)
        self._buttons.accepted.connect(self.accept)
        self._buttons.rejected.connect(self.reject)
        self._update_ok_button()

    def options(self) -> ExportOptions:
        return ExportOptions(
            scope="project" if self.project_scope.isChecked() else "video",
            statuses=frozenset(s for s, box in self.status_boxes.items() if box.isChecked()),
            sources=frozenset(s for s, box in self.source_boxes.items() if box.isChecked()),
            path=Path(self.path_edit.text().strip()))

    @property
    def ok_button(self) -> QPushButton:
        return self._buttons.button(QDialogButtonBox.StandardButton.Ok)

    def _build_layout(self) -> None:
        scope = QGroupBox("Intervals of")
        scope_layout = QVBoxLayout(scope)
        scope_layout.addWidget(self.video_scope)
        scope_layout.addWidget(self.project_scope)
        filters = QHBoxLayout()
        for title, boxes in (("Status", self.status_boxes), ("Source", self.source_boxes)):
            group = QGroupBox(title)
            group_layout = QVBoxLayout(group)
            for box in boxes.values():
                group_layout.addWidget(box)
            filters.addWidget(group)
        file_row = QHBoxLayout()
        file_row.addWidget(QLabel("File:"))
        file_row.addWidget(self.path_edit, stretch=1)
        file_row.addWidget(self._browse_button)
        layout = QVBoxLayout(self)
        layout.addWidget(scope)
        layout.addLayout(filters)
        layout.addLayout(file_row)
        layout.addWidget(self._buttons)

    def _suggested_path(self) -> Path:
        name = "project" if self.project_scope.isChecked() else self._video_name
        return self._default_folder / f"{name}-intervals.csv"

    def _on_scope_toggled(self, _checked: bool) -> None:
        current = Path(self.path_edit.text().strip())
        if current.parent == self._default_folder and current.name.endswith("-intervals.csv"):
            self.path_edit.setText(str(self._suggested_path()))  # only a suggestion is replaced

    def _on_browse_clicked(self) -> None:
        path, _filter = QFileDialog.getSaveFileName(self, "Export intervals to",
                                                    self.path_edit.text(), "CSV files (*.csv)")
        if path:
            self.path_edit.setText(path if path.lower().endswith(".csv") else f"{path}.csv")

    def _update_ok_button(self) -> None:
        options = self.options()
        self.ok_button.setEnabled(bool(options.statuses and options.sources
                                       and self.path_edit.text().strip()))


class ImportReportDialog(QDialog):
    """What an import found: a summary, a table of the rows left out or repaired (rows of
    other videos only on request), and "Import N intervals" / Cancel."""

    def __init__(self, report: ImportReport, video_name: str, *, n_repeated: int = 0,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Import from {report.file.name}")
        self._report = report
        n_new = len(report.annotations) - n_repeated
        self.summary = QLabel(_summary(report, video_name, n_repeated))
        self.summary.setWordWrap(True)
        self.show_other_videos = QCheckBox(
            f"Show the {report.n_other_video_rows} rows of other videos")
        self.show_other_videos.setVisible(report.n_other_video_rows > 0)
        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["Row", "Result", "Why"])
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self._buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                         | QDialogButtonBox.StandardButton.Cancel)
        self.ok_button.setText(f"Import {n_new} interval{'' if n_new == 1 else 's'}")
        self.ok_button.setEnabled(n_new > 0)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.table, stretch=1)
        layout.addWidget(self.show_other_videos)
        layout.addWidget(self._buttons)
        self.resize(720, 420)
        self.show_other_videos.toggled.connect(self._fill_table)
        self._buttons.accepted.connect(self.accept)
        self._buttons.rejected.connect(self.reject)
        self._fill_table()

    @property
    def ok_button(self) -> QPushButton:
        return self._buttons.button(QDialogButtonBox.StandardButton.Ok)

    def _fill_table(self) -> None:
        show_others = self.show_other_videos.isChecked()
        entries = [(r.row, "other video" if r.other_video else "left out", r.reason)
                   for r in self._report.rejected if show_others or not r.other_video]
        entries += [(r.row, "kept, repaired", r.reason) for r in self._report.repaired]
        entries.sort(key=lambda entry: -1 if entry[0] is None else entry[0])
        self.table.setRowCount(len(entries))
        for table_row, (row, result, reason) in enumerate(entries):
            for column, text in enumerate(("" if row is None else str(row), result, reason)):
                self.table.setItem(table_row, column, QTableWidgetItem(text))
        self.table.resizeColumnsToContents()


def _summary(report: ImportReport, video_name: str, n_repeated: int) -> str:
    kind = SOURCE_KINDS.get(report.source_kind, report.source_kind)
    n_found = len(report.annotations)
    parts = [f"{n_found} interval{'' if n_found == 1 else 's'} of {video_name} found in "
             f"{report.file.name} ({kind})."]
    if n_repeated:
        parts.append(f"{n_repeated} of them are already in this video and are not added again.")
    if report.problems:
        parts.append(f"{len(report.problems)} rows of this video were left out (see below).")
    if report.repaired:
        parts.append(f"{len(report.repaired)} repairs were made to rows that were kept.")
    if report.n_other_video_rows:
        parts.append(f"{report.n_other_video_rows} rows belong to other videos.")
    parts.append("Imported intervals are accepted human intervals; Edit → Undo removes them.")
    return " ".join(parts)

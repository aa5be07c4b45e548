"""File → Import intervals / Export intervals / Export curves / Export view: actions and handlers.

Each action asks for a file, runs the reading or writing off the GUI thread
(:func:`metst_gui.background.run_in_background`) and reports in the status bar, or in a message
box when it failed (the message names the file). Imports show what was found and rejected before
anything is added, and are one undo step.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QDialog, QFileDialog, QMessageBox, QWidget

from core.interval_export import export_curves_csv, export_intervals_csv, project_annotation_sets
from core.interval_import import ImportReport, import_change, import_intervals
from metst_gui.background import run_in_background
from metst_gui.import_export_dialogs import ExportIntervalsDialog, ImportReportDialog
from metst_gui.session import VideoSession

__all__ = ["FileActions"]


class FileActions(QObject):
    """The import/export actions of the File menu for the open session.

    Signals:
        status(str): a short result message for the status bar.
    """

    status = Signal(str)

    def __init__(self, session_getter: Callable[[], VideoSession | None],
                 export_view: Callable[[Path], None], parent: QWidget) -> None:
        super().__init__(parent)
        self._session = session_getter
        self._export_view = export_view
        self._parent = parent
        self.import_action = QAction("&Import intervals…", self)
        self.import_action.setStatusTip("Add intervals from a CSV or a CAS(ME)³ / SAMM-LV sheet "
                                        "as human annotations")
        self.export_action = QAction("&Export intervals…", self)
        self.export_curves_action = QAction("Export &curves as CSV…", self)
        self.export_view_action = QAction("Export &view as image…", self)
        self.import_action.triggered.connect(self.import_intervals)
        self.export_action.triggered.connect(self.export_intervals)
        self.export_curves_action.triggered.connect(self.export_curves)
        self.export_view_action.triggered.connect(self.export_view)
        self.update_enabled()

    def actions(self) -> list[QAction]:
        return [self.import_action, self.export_action, self.export_curves_action,
                self.export_view_action]

    def update_enabled(self) -> None:
        """Enable what the open session allows (call when the session or its result changes)."""
        session = self._session()
        for action in (self.import_action, self.export_action, self.export_view_action):
            action.setEnabled(session is not None)
        self.export_curves_action.setEnabled(session is not None and session.result is not None)

    # ------------------------------------------------------------------ import

    def import_intervals(self) -> None:
        session = self._session()
        if session is None:
            return
        path, _ = QFileDialog.getOpenFileName(
            self._parent, "Import intervals", str(session.project.root),
            "Interval files (*.csv *.xlsx *.xls);;All files (*)")
        if not path:
            return
        video = session.video
        self.status.emit(f"Reading {Path(path).name}…")
        run_in_background(
            self, lambda: import_intervals(path, video=video.name, subject=video.subject,
                                           n_frames=session.n_frames, fps=session.fps),
            lambda report: self._on_imported(session, report),
            lambda message: self._fail("Cannot import", message))

    def _on_imported(self, session: VideoSession, report: ImportReport) -> None:
        if session is not self._session():
            return  # the user opened another video meanwhile
        change, n_repeated = import_change(session.annotations, report.annotations)
        dialog = ImportReportDialog(report, session.video.name, n_repeated=n_repeated,
                                    parent=self._parent)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return
        session.apply(change, f"Import {report.file.name}")
        self.status.emit(f"Imported {len(change.added)} intervals from {report.file.name}")

    # ------------------------------------------------------------------ export

    def export_intervals(self) -> None:
        session = self._session()
        if session is None:
            return
        dialog = ExportIntervalsDialog(session.video.name, session.project.root, self._parent)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return
        options = dialog.options()
        project, video, annotations = session.project, session.video, session.annotations
        warnings: list[str] = []

        def job() -> int:
            if options.scope == "video":
                items = [(video.name, annotations)]
            else:
                items = [(v.key, s) for v, s in project_annotation_sets(
                    project, open_video=video, open_annotations=annotations,
                    on_warning=warnings.append)]
            return export_intervals_csv(options.path, items, statuses=options.statuses,
                                        sources=options.sources)

        def done(n_rows: int) -> None:
            note = f" ({len(warnings)} videos skipped, see the log)" if warnings else ""
            self.status.emit(f"Exported {n_rows} intervals to {options.path}{note}")

        run_in_background(self, job, done, lambda m: self._fail("Cannot export", m))

    def export_curves(self) -> None:
        session = self._session()
        if session is None or session.result is None:
            return
        suggested = session.project.root / f"{session.video.name}.curves.csv"
        path, _ = QFileDialog.getSaveFileName(self._parent, "Export curves", str(suggested),
                                              "CSV (*.csv)")
        if not path:
            return
        result = session.result
        self.status.emit(f"Writing {Path(path).name}…")
        run_in_background(self, lambda: export_curves_csv(result, path),
                          lambda written: self.status.emit(f"Curves written to {written}"),
                          lambda m: self._fail("Cannot export the curves", m))

    def export_view(self) -> None:
        session = self._session()
        if session is None:
            return
        suggested = session.project.root / f"{session.video.name}.png"
        path, _ = QFileDialog.getSaveFileName(self._parent, "Export view", str(suggested),
                                              "PNG image (*.png);;SVG drawing (*.svg)")
        if not path:
            return
        try:
            self._export_view(Path(path))
        except (ValueError, OSError) as exc:
            self._fail("Cannot export the view", str(exc))
            return
        self.status.emit(f"View written to {path}")

    def _fail(self, title: str, message: str) -> None:
        self.status.emit(message)
        QMessageBox.warning(self._parent, title, message)

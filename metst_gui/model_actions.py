"""Analysis → Set TSFmicro checkpoint and Training → Retrain from corrections.

:class:`ModelActions` owns the two actions and the window's one
:class:`~metst_gui.retrain_dialog.RetrainDialog`. Retraining saves pending edits first (training
reads the saved annotation files); when the dialog switches the project to a new model, the
analysis panel follows and the user is offered a new analysis of the open video.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from metst_gui.analysis_panel import AnalysisPanel
from metst_gui.file_filters import CHECKPOINT_FILE_FILTER
from metst_gui.inspector_panel import InspectorPanel
from metst_gui.retrain_dialog import RetrainDialog
from metst_gui.session_manager import SessionManager

__all__ = ["ModelActions"]



class ModelActions(QObject):
    """The model-related actions of the window.

    Signals:
        status(str): a short message for the status bar.
        error(str title, str message): shown in a message box by the window.
    """

    status = Signal(str)
    error = Signal(str, str)

    def __init__(self, sessions: SessionManager, analysis_panel: AnalysisPanel,
                 inspector: InspectorPanel, parent: QWidget) -> None:
        super().__init__(parent)
        self._sessions = sessions
        self._analysis_panel = analysis_panel
        self._inspector = inspector
        self._parent = parent
        self.retrain_dialog: RetrainDialog | None = None
        self.tsfmicro_action = self._action("Set &TSFmicro checkpoint…", self.choose_tsfmicro,
                                            "The second recogniser the inspector asks about the "
                                            "selected interval")
        self.retrain_action = self._action("&Retrain from corrections…", self.open_retrain,
                                           "Train on the project's reviewed intervals and "
                                           "compare with the current model")

    def _action(self, text: str, slot: Callable[[], None], tip: str) -> QAction:
        action = QAction(text, self)
        action.setStatusTip(tip)
        action.triggered.connect(slot)
        return action

    @Slot()
    def choose_tsfmicro(self) -> None:
        project = self._sessions.project
        if project is None:
            self.error.emit("TSFmicro", "Open a project or a video first.")
            return
        path, _ = QFileDialog.getOpenFileName(self._parent, "TSFmicro checkpoint",
                                              str(project.root), CHECKPOINT_FILE_FILTER)
        if not path:
            return
        project.set_settings(replace(project.settings, tsfmicro=path))
        self._inspector.refresh_opinion()
        self.status.emit(f"TSFmicro opinions from {Path(path).name}")

    @Slot()
    def open_retrain(self) -> None:
        project = self._sessions.project
        if project is None:
            self.error.emit("Retrain", "Open a project or a video first.")
            return
        session = self._sessions.session
        if session is not None and session.is_dirty and not self._sessions.save():
            return  # training reads the saved annotation files
        dialog = self.retrain_dialog
        if dialog is None or dialog.project is not project:
            if dialog is not None:
                dialog.shutdown()
                dialog.close()
            dialog = self.retrain_dialog = RetrainDialog(project, self._parent)
            dialog.model_switched.connect(self._on_model_switched)
        dialog.show()
        dialog.raise_()
        dialog.activateWindow()

    def shutdown(self) -> None:
        """Stop a running training (the window is closing)."""
        if self.retrain_dialog is not None:
            self.retrain_dialog.shutdown()

    @Slot(object)
    def _on_model_switched(self, checkpoint: Path) -> None:
        self._analysis_panel.set_model(str(checkpoint))
        answer = QMessageBox.question(
            self._parent, "Model changed", f"This project now uses {checkpoint.parent.name}/"
            f"{checkpoint.name}.\nAnalyse the open video with it now?")
        if answer == QMessageBox.StandardButton.Yes and self._sessions.session is not None:
            self._analysis_panel.run()

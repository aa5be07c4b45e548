"""The analysis controls: model, ROI set, threshold p, Run / Cancel and the progress of a run.

:class:`AnalysisPanel` shows the open :class:`~metst_gui.session.VideoSession`'s project settings
and starts an :class:`~metst_gui.analysis_worker.AnalysisWorker` for its video. The choices are
remembered in the project (``project.set_settings``); the threshold is saved a moment after the
last change, so dragging the slider does not write the project file at every step.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QSignalBlocker, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from core.analysis import AnalysisResult
from core.curve_models import FLOW_MODEL
from core.rois import ROI_SET_NAMES
from metst_gui.analysis_worker import AnalysisRequest, AnalysisWorker
from metst_gui.file_filters import CHECKPOINT_FILE_FILTER
from metst_gui.session import VideoSession

__all__ = ["AnalysisPanel"]

_CHOOSE_CHECKPOINT = "Choose a checkpoint…"
_ROI_SET_LABELS = {"metst": "ME-TST (5 ROIs)", "metst_plus": "ME-TST+ (18 ROIs)"}
_STAGE_LABELS = {"load": "Loading the model", "flow": "Extracting facial motion",
                 "model": "Running the model", "save": "Saving the result"}
_SAVE_DELAY_MS = 500
_logger = logging.getLogger(__name__)


class AnalysisPanel(QWidget):
    """Runs the analysis of the open video and sets the threshold p.

    Signals:
        result_ready(AnalysisResult): a run on the open video finished (already saved).
        threshold_changed(float): the user changed p (connect to ``VideoSession.set_threshold``).
        error(str): a run failed; the message names the file.
    """

    result_ready = Signal(object)
    threshold_changed = Signal(float)
    error = Signal(str)

    def __init__(self, parent: QWidget | None = None, *, workers: int = 1) -> None:
        super().__init__(parent)
        self._session: VideoSession | None = None
        self._workers = workers
        self._started_t = 0.0
        self.worker = AnalysisWorker(self)
        self._save_timer = QTimer(self, singleShot=True, interval=_SAVE_DELAY_MS)
        self._build()
        self.worker.progress.connect(self._on_progress)
        self.worker.finished.connect(self._on_finished)
        self.worker.failed.connect(self._on_failed)
        self.worker.cancelled.connect(self._on_cancelled)
        self._save_timer.timeout.connect(self._save_settings)
        self.model_combo.activated.connect(self._on_model_activated)
        self.roi_combo.activated.connect(self._on_roi_activated)
        self.threshold_spin.valueChanged.connect(self._on_spin_changed)
        self.threshold_slider.valueChanged.connect(self._on_slider_changed)
        self.run_button.clicked.connect(self.run)
        self.cancel_button.clicked.connect(self.cancel)
        self._update_enabled()

    def _build(self) -> None:
        self.model_combo = QComboBox(self)
        self.model_combo.addItem("Training-free flow spotter", FLOW_MODEL)
        self.model_combo.addItem(_CHOOSE_CHECKPOINT, None)
        self.roi_combo = QComboBox(self)
        for name in ROI_SET_NAMES:
            self.roi_combo.addItem(_ROI_SET_LABELS.get(name, name), name)
        self.threshold_spin = QDoubleSpinBox(self, minimum=0.0, maximum=1.0, singleStep=0.01,
                                             decimals=2)
        self.threshold_spin.setToolTip("peak threshold: mean + p·(max − mean) of the curve")
        self.threshold_slider = QSlider(Qt.Orientation.Horizontal, self, minimum=0, maximum=100)
        threshold_row = QHBoxLayout()
        threshold_row.addWidget(self.threshold_spin)
        threshold_row.addWidget(self.threshold_slider, 1)
        form = QFormLayout()
        form.addRow("Model", self.model_combo)
        form.addRow("ROI set", self.roi_combo)
        form.addRow("Threshold p", threshold_row)
        self.run_button = QPushButton("Run analysis", self)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.hide()
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        self.progress_bar = QProgressBar(self)
        self.progress_bar.hide()
        self.status_label = QLabel(self, wordWrap=True)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.status_label)
        layout.addStretch(1)

    # ----------------------------------------------------------------- public

    @property
    def is_running(self) -> bool:
        return self.worker.is_running

    @property
    def model_spec(self) -> str:
        """``"flow"`` or the chosen checkpoint's path."""
        return str(self.model_combo.currentData() or FLOW_MODEL)

    def set_session(self, session: VideoSession | None) -> None:
        """Show ``session``'s project settings (None: nothing open, Run disabled)."""
        self._save_settings()
        if self._session is not None:
            self._session.result_changed.disconnect(self._on_result_changed)
        self._session = session
        if session is not None:
            settings = session.project.settings
            self._show_model(settings.model)
            with QSignalBlocker(self.roi_combo):
                self.roi_combo.setCurrentIndex(max(0, self.roi_combo.findData(settings.roi_set)))
            self._show_threshold(settings.threshold_p)
            session.result_changed.connect(self._on_result_changed)
            if session.result is not None:
                self._on_result_changed(session.result)
        if not self.is_running:
            self.status_label.clear()
        self._update_enabled()

    def set_model(self, spec: str) -> None:
        """Choose ``"flow"`` or a checkpoint path, and remember it in the project."""
        self._show_model(spec)
        self._update_enabled()
        self._save_settings()

    def run(self) -> None:
        """Analyse the open video with the chosen settings (nothing while a run is going)."""
        if self._session is None or self.is_running:
            return
        self._save_settings()
        session = self._session
        request = AnalysisRequest(session.project, session.video, self.model_spec,
                                  str(self.roi_combo.currentData()), self.threshold_spin.value(),
                                  self._workers)
        self._started_t = time.perf_counter()
        self.worker.start(request)
        self.progress_bar.setRange(0, 0)
        self.progress_bar.setFormat(f"{_STAGE_LABELS['load']}…")
        self.status_label.setText(f"Analysing {session.video.path.name}…")
        self._update_enabled()

    def cancel(self) -> None:
        """Stop the run at its next frame (answered by the status "Analysis cancelled")."""
        if self.is_running:
            self.worker.cancel()
            self.cancel_button.setEnabled(False)
            self.status_label.setText("Cancelling…")

    def shutdown(self) -> None:
        """Save pending settings, cancel a run and join its thread (call from closeEvent)."""
        self._save_settings()
        self.worker.shutdown()
        self._update_enabled()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt override)
        self.shutdown()
        super().closeEvent(event)

    # ---------------------------------------------------------------- helpers

    def _show_model(self, spec: str) -> None:
        with QSignalBlocker(self.model_combo):
            index = self.model_combo.findData(spec)
            if index < 0:
                index = self.model_combo.count() - 1   # before "Choose a checkpoint…"
                self.model_combo.insertItem(index, Path(spec).name, spec)
                self.model_combo.setItemData(index, spec, Qt.ItemDataRole.ToolTipRole)
            self.model_combo.setCurrentIndex(index)

    def _show_threshold(self, p: float) -> None:
        with QSignalBlocker(self.threshold_spin), QSignalBlocker(self.threshold_slider):
            self.threshold_spin.setValue(p)
            self.threshold_slider.setValue(round(p * 100))

    def _update_enabled(self) -> None:
        running, has_video = self.is_running, self._session is not None
        for widget in (self.model_combo, self.threshold_spin, self.threshold_slider):
            widget.setEnabled(has_video and not running)
        self.roi_combo.setEnabled(has_video and not running and self.model_spec == FLOW_MODEL)
        self.roi_combo.setToolTip("" if self.model_spec == FLOW_MODEL
                                  else "a checkpoint uses the ROI set it was trained on")
        self.run_button.setEnabled(has_video and not running)
        self.cancel_button.setVisible(running)
        self.cancel_button.setEnabled(running)
        self.progress_bar.setVisible(running)

    def _save_settings(self) -> None:
        """Write the panel's choices to the project's settings, if they changed."""
        self._save_timer.stop()
        if self._session is None:
            return
        project = self._session.project
        settings = replace(project.settings, model=self.model_spec,
                           threshold_p=round(self.threshold_spin.value(), 2))
        if self.model_spec == FLOW_MODEL:
            settings = replace(settings, roi_set=str(self.roi_combo.currentData()))
        if settings == project.settings:
            return
        try:
            project.set_settings(settings)
        except OSError as exc:     # a read-only project: the choices still apply to this run
            _logger.warning("could not save the project settings: %s", exc)
            self.status_label.setText(f"Settings not saved: {exc}")

    # ------------------------------------------------------------------ slots

    @Slot(int)
    def _on_model_activated(self, index: int) -> None:
        if self.model_combo.itemData(index) is None:   # "Choose a checkpoint…"
            project = self._session.project if self._session is not None else None
            start = project.models_dir if project and project.models_dir.is_dir() else ""
            path, _ = QFileDialog.getOpenFileName(self, "Choose a model checkpoint", str(start),
                                                  CHECKPOINT_FILE_FILTER)
            self.set_model(path or (project.settings.model if project else FLOW_MODEL))
            return
        self.set_model(self.model_spec)

    @Slot(int)
    def _on_roi_activated(self, index: int) -> None:
        self._save_settings()

    @Slot(float)
    def _on_spin_changed(self, p: float) -> None:
        with QSignalBlocker(self.threshold_slider):
            self.threshold_slider.setValue(round(p * 100))
        self._save_timer.start()
        self.threshold_changed.emit(p)

    @Slot(int)
    def _on_slider_changed(self, value: int) -> None:
        self.threshold_spin.setValue(value / 100)

    @Slot(object)
    def _on_result_changed(self, result: AnalysisResult) -> None:
        self._show_threshold(result.postprocess.p)
        if self.model_spec != FLOW_MODEL:   # show the ROI set the checkpoint used
            with QSignalBlocker(self.roi_combo):
                index = self.roi_combo.findData(result.traces.roi_set)
                self.roi_combo.setCurrentIndex(max(0, index))

    @Slot(str, int, int, str)
    def _on_progress(self, stage: str, done: int, total: int, message: str) -> None:
        label = _STAGE_LABELS.get(stage, stage)
        if stage == "flow" and total > 0:
            self.progress_bar.setRange(0, total)
            self.progress_bar.setValue(done)
            self.progress_bar.setFormat(f"{label}: frame %v of %m")
        else:                                 # short stages: a busy bar
            self.progress_bar.setRange(0, 0)
            self.progress_bar.setFormat(f"{label}…")
        self.status_label.setText(f"{label}…" if stage == "flow" or not message
                                  else f"{label}: {message}")

    @Slot(object)
    def _on_finished(self, result: AnalysisResult) -> None:
        request = self.worker.request
        seconds = time.perf_counter() - self._started_t
        self._update_enabled()
        session = self._session
        if (request is None or session is None or session.project.root != request.project.root
                or session.video.key != request.video.key):
            name = request.video.path.name if request is not None else "the video"
            self.status_label.setText(f"Analysis of {name} saved; open it to see the result.")
            return
        self.status_label.setText(
            f"{len(result.intervals)} intervals in {result.traces.n_frames} frames "
            f"({result.model_name}, {seconds:.1f} s)")
        self.result_ready.emit(result)

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self._update_enabled()
        self.status_label.setText(message)
        self.error.emit(message)

    @Slot()
    def _on_cancelled(self) -> None:
        self._update_enabled()
        self.status_label.setText("Analysis cancelled; nothing was saved.")

"""Training → Retrain: train a new model from the project's reviewed intervals, compare, switch.

:class:`RetrainDialog` shows the settings (:class:`~metst_gui.retrain_options.RetrainOptions`)
and builds a ``metst train`` command from them (``--data project --protocol auto
--final-model --json-progress``, the run folder ``<project>/.metst/models/<timestamp>/``, the
project's feature store) and runs it in a :class:`~metst_gui.train_process.TrainProcess`: the
window never waits on it. Training uses only the intervals a human made, accepted or edited
(``load_project(reviewed_only=True)``). The command evaluates leave-one-subject-out when at least
three subjects have reviewed intervals, else on held-out videos (training/holdout.py), scoring
the flow spotter and the project's current checkpoint on the same videos; then it trains the
final model on everything. The scores are shown side by side (:class:`ModelComparison`), and
"Use the new model for this project" switches ``project.settings.model`` to the new checkpoint.

Cancel (or closing the dialog) stops the process and deletes its unfinished run folder, so no
partial checkpoint is left to be picked; a failed run shows the command's own error text.

Signals:
    model_switched(Path): the project now uses this checkpoint (re-analysis is up to the window).
"""

from __future__ import annotations

import shutil
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from core.project import Project
from metst_gui.model_comparison import ModelComparison
from metst_gui.retrain_options import RetrainOptions, project_checkpoint
from metst_gui.train_process import TrainProcess
from training.cli_progress import fold_line

__all__ = ["RetrainDialog"]

_LOG_LINES = 5000
_WIDTH_PX = 640


class RetrainDialog(QDialog):
    """Retrain from the project's annotations (module docstring). Non-modal; ``show()`` it."""

    model_switched = Signal(Path)

    def __init__(self, project: Project, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.project = project
        self.process = TrainProcess(self)
        self.new_checkpoint: Path | None = None
        self._run_dir: Path | None = None
        self._done: dict[str, Any] | None = None
        self._n_jobs = 1
        self._fold_names: list[str] = []
        self._started = time.monotonic()
        self.setWindowTitle(f"Retrain — {project.root.name}")
        self._build()
        self.resize(max(self.sizeHint().width(), _WIDTH_PX), self.sizeHint().height())
        self.process.progress.connect(self._on_progress)
        self.process.log_line.connect(self._log)
        self.process.failed.connect(self._on_failed)
        self.process.finished.connect(self._on_finished)
        self._set_running(False)

    # ------------------------------------------------------------------ layout

    def _build(self) -> None:
        self.options = RetrainOptions(self.project)
        self.start_button = QPushButton("Start")
        self.start_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.stage = QLabel("Ready.")
        self.error = QLabel()
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #c0392b")
        self.error.hide()
        self.progress_bar = QProgressBar()
        self.log_view = QPlainTextEdit()
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(_LOG_LINES)
        self.log_view.setMinimumHeight(60)
        self.evaluation = QLabel()
        self.evaluation.setWordWrap(True)
        self.comparison = ModelComparison()
        self.use_button = QPushButton("Use the new model for this project")
        self.use_button.clicked.connect(self.use_new_model)
        close_button = QPushButton("Close")
        close_button.clicked.connect(self.close)

        buttons = QHBoxLayout()
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.cancel_button)
        buttons.addStretch(1)
        bottom = QHBoxLayout()
        bottom.addWidget(self.use_button)
        bottom.addStretch(1)
        bottom.addWidget(close_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.options)
        layout.addLayout(buttons)
        for widget in (self.stage, self.progress_bar, self.error):
            layout.addWidget(widget)
        layout.addWidget(self.log_view, 1)
        layout.addWidget(self.evaluation)
        layout.addWidget(self.comparison)
        layout.addLayout(bottom)

    # ---------------------------------------------------------------- command

    def command(self, run_dir: Path) -> list[str]:
        """The ``metst`` arguments for the settings shown; ValueError naming what is wrong."""
        return ["train", "--data", "project", "--root", str(self.project.root),
                "--out", str(run_dir), "--store", str(self.project.feature_store_path),
                "--protocol", "auto", "--final-model", "--json-progress",
                *self.options.train_options()]

    def _new_run_dir(self) -> Path:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        run_dir, n = self.project.models_dir / stamp, 2
        while run_dir.exists():
            run_dir, n = self.project.models_dir / f"{stamp}-{n}", n + 1
        return run_dir

    # ------------------------------------------------------------------- run

    def start(self) -> None:
        """Start training with the settings shown (an error is shown, not raised)."""
        if self.process.is_running:
            return
        run_dir = self._new_run_dir()
        try:
            args = self.command(run_dir)
        except ValueError as error:
            self._show_error(str(error))
            return
        self._run_dir, self._done, self.new_checkpoint = run_dir, None, None
        self._fold_names, self._n_jobs = [], 1
        self._started = time.monotonic()
        self.error.hide()
        self.log_view.clear()
        self.evaluation.clear()
        self.comparison.clear_scores()
        self.progress_bar.setRange(0, 0)            # busy until the first event
        self.stage.setText("Starting…")
        self._log(f"$ metst {' '.join(args)}")
        self._set_running(True)
        self.process.start(args)

    def cancel(self) -> None:
        """Stop the running training (its run folder is deleted when it has ended)."""
        if self.process.is_running:
            self.stage.setText("Cancelling…")
            self.cancel_button.setEnabled(False)
            self.process.cancel()

    def use_new_model(self) -> None:
        """Make the new checkpoint the project's model and emit ``model_switched``."""
        if self.new_checkpoint is None:
            return
        self.project.set_settings(replace(self.project.settings,
                                          model=str(self.new_checkpoint)))
        self.use_button.setEnabled(False)
        self.stage.setText(f"This project now uses {self.new_checkpoint}.")
        self.model_switched.emit(self.new_checkpoint)

    def _set_running(self, running: bool) -> None:
        self.options.setEnabled(not running)
        self.start_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        self.use_button.setEnabled(not running and self.new_checkpoint is not None)

    def _log(self, line: str) -> None:
        self.log_view.appendPlainText(line)

    def _show_error(self, message: str) -> None:
        self.error.setText(message)
        self.error.show()

    # ------------------------------------------------------------ process events

    def _on_progress(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "features":
            self.progress_bar.setRange(0, max(1, int(event["total"])))
            self.progress_bar.setValue(int(event["done"]))
            self.stage.setText(f"Features: {event['done']}/{event['total']} videos "
                               f"{event.get('video', '')}".rstrip())
        elif kind == "flow":
            self.progress_bar.setRange(0, max(1, int(event["total"])))
            self.progress_bar.setValue(int(event["done"]))
            self.stage.setText(f"Features of {event.get('video', '')}: frame {event['done']}/"
                               f"{event['total']}")
        elif kind == "protocol":
            self._n_jobs = int(event["n_folds"]) + int(bool(event.get("final_model")))
            self.evaluation.setText(_evaluation_text(event))
        elif kind == "fold_start":
            self._n_jobs = int(event["n_folds"])
        elif kind == "epoch":
            self._on_epoch(event)
        elif kind == "fold_done":
            self._log(fold_line(event))
        elif kind == "done":
            self._done = event

    def _on_epoch(self, event: dict[str, Any]) -> None:
        epochs = max(1, int(event["epochs"]))
        fold = str(event["fold"])
        index = self._fold_index(fold)
        self.progress_bar.setRange(0, self._n_jobs * epochs)
        self.progress_bar.setValue(index * epochs + int(event["epoch"]))
        what = "final model" if fold == "all" else f"evaluation fold {fold}"
        loss = event.get("loss")
        self.stage.setText(f"Training {what} ({index + 1}/{self._n_jobs}): epoch "
                           f"{event['epoch']}/{epochs}"
                           + (f", loss {loss:.4f}" if isinstance(loss, float) else ""))

    def _fold_index(self, fold: str) -> int:
        """The fold's position among the run's trainings (the final model is last)."""
        if fold == "all":
            return self._n_jobs - 1
        if fold not in self._fold_names:
            self._fold_names.append(fold)
        return self._fold_names.index(fold)

    def _on_failed(self, message: str) -> None:
        self._show_error(f"Training failed: {message}")

    def _on_finished(self, exit_code: int) -> None:
        done = self._done or {}
        checkpoint = Path(done["checkpoint"]) if "checkpoint" in done else None
        if exit_code == 0 and checkpoint is not None and checkpoint.is_file():
            self.new_checkpoint = checkpoint
            self._show_scores(done)
            self.progress_bar.setRange(0, 1)
            self.progress_bar.setValue(1)
            seconds = time.monotonic() - self._started
            self.stage.setText(f"Finished in {seconds:.0f} s: {checkpoint}")
        else:
            if exit_code == 0:
                self._show_error("Training ended without writing a model.")
            self._discard_run()
            self.progress_bar.setRange(0, 1)
            self.progress_bar.setValue(0)
            self.stage.setText("Cancelled." if self.process.was_cancelled else "Failed.")
        self._set_running(False)

    def _show_scores(self, done: dict[str, Any]) -> None:
        scores = done.get("scores", {})
        current = project_checkpoint(self.project)
        columns = []
        if "baseline" in scores:
            columns.append(("Flow spotter" + ("" if current else " (current)"),
                            scores["baseline"]))
        if "reference" in scores:
            name = f"{current.parent.name}/{current.name}" if current else "base checkpoint"
            columns.append((f"{name} (current)" if current else name, scores["reference"]))
        if "model" in scores:
            columns.append(("New model", scores["model"]))
        self.comparison.set_scores(columns)

    def _discard_run(self) -> None:
        """Delete the unfinished run's folder (nothing in it is a usable model)."""
        if self._run_dir is not None and self._run_dir.is_dir():
            shutil.rmtree(self._run_dir, ignore_errors=True)
            self._log(f"Removed the unfinished run {self._run_dir}.")
        self._run_dir = None

    def shutdown(self) -> None:
        """Stop a running training at once (its run folder is deleted); for the window's
        closeEvent. Returns within a few seconds."""
        self.process.shutdown()

    def reject(self) -> None:
        """Escape, Close or the title bar's close: stop a running training, then hide."""
        self.shutdown()
        super().reject()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt's name)
        self.shutdown()
        super().closeEvent(event)


def _evaluation_text(event: dict[str, Any]) -> str:
    """What the scores below will be measured on, from the ``protocol`` event."""
    subjects = list(event.get("subjects", []))
    if event.get("protocol") == "loso":
        text = (f"Evaluation: leave-one-subject-out over {len(subjects)} subjects "
                f"({', '.join(subjects)}).")
    else:
        text = (f"Evaluation: held-out videos {', '.join(event.get('test_videos', []))} "
                f"(fewer than 3 subjects with reviewed intervals; trained on the others).")
    if event.get("final_model"):
        text += " The new model is then trained on all the reviewed intervals."
    return text

"""The retraining loop from the window: open a project of reviewed videos, Training → Retrain,
see the new model's scores beside the old one's, switch to it, and analyse the open video again
with it (now with emotion curves)."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before any Qt import

import shutil
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from metst_gui.main_window import MainWindow

pytestmark = [pytest.mark.gui, pytest.mark.slow]

TIMEOUT_MS = 180_000


def test_review_retrain_switch_and_reanalyse_from_the_window(
        qtbot, synthetic_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "project"
    shutil.copytree(synthetic_project, root)
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    window = MainWindow(analysis_workers=1)
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(window.sessions.session_changed, timeout=TIMEOUT_MS,
                          check_params_cb=lambda session: session is not None):
        window.open_path(root)                               # a project folder: its first video
    session = window.session
    assert session.video.subject == "s01" and len(session.annotations) >= 1

    window.model_actions.retrain_action.trigger()
    dialog = window.model_actions.retrain_dialog
    assert dialog is not None and dialog.isVisible()
    dialog.options.epochs.setValue(1)
    dialog.options.size.setCurrentText("tiny")
    with qtbot.waitSignal(dialog.process.finished, timeout=TIMEOUT_MS) as finished:
        qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    assert finished.args[0] == 0, dialog.log_view.toPlainText()
    checkpoint = dialog.new_checkpoint
    assert checkpoint is not None and checkpoint.is_file()
    headers = [dialog.comparison.horizontalHeaderItem(c).text()
               for c in range(dialog.comparison.columnCount())]
    assert headers == ["Flow spotter (current)", "New model"]
    assert dialog.comparison.text("f1", 1) not in ("", "—")

    with qtbot.waitSignal(window.analysis_panel.result_ready, timeout=TIMEOUT_MS):
        qtbot.mouseClick(dialog.use_button, Qt.MouseButton.LeftButton)   # "analyse now?" → Yes

    assert window.session.project.settings.model == str(checkpoint)
    assert window.session.result.model_name.endswith(checkpoint.name)
    assert window.session.result.curves.recog is not None            # emotion curves now
    assert window.timeline.emotion_row.emotion_curves
    dialog.close()

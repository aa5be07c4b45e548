"""Training → Retrain: a retrain on a small synthetic project runs from the window to a new
checkpoint and its scores are shown beside the old model's; the project switches to it on
request. Cancel stops the run promptly and leaves no partial run; a failing run shows the
command's own error text; bad settings are refused before anything starts."""

from __future__ import annotations

import argparse
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from core.models.checkpoint import read_checkpoint_meta
from core.project import Project, ProjectSettings
from metst_gui.model_comparison import METRIC_ROWS
from metst_gui.retrain_dialog import RetrainDialog
from metst_gui.retrain_options import MODEL_SIZES
from tests.fixtures.datasets import small_frames, write_video_file
from training.cli import build_parser

pytestmark = pytest.mark.gui

RUN_TIMEOUT_MS = 120_000
CANCEL_TIMEOUT_MS = 5_000


@pytest.fixture
def project(synthetic_project: Path, tmp_path: Path) -> Project:
    """A fresh copy of the synthetic project (the tests write settings and models into it)."""
    root = tmp_path / "project"
    shutil.copytree(synthetic_project, root)
    return Project.open(root)


@pytest.fixture
def dialogs(qtbot: QtBot) -> Iterator[list[RetrainDialog]]:
    """The test's dialogs: closed at the end, and none may leave its process running."""
    made: list[RetrainDialog] = []
    yield made
    running = [d for d in made if d.process.is_running]
    for dialog in made:
        dialog.close()
    assert not running, "a training process was left running"


def open_dialog(qtbot: QtBot, dialogs: list[RetrainDialog], project: Project, *,
                epochs: int = 1, size: str = "tiny") -> RetrainDialog:
    dialog = RetrainDialog(project)
    qtbot.addWidget(dialog)
    dialogs.append(dialog)
    dialog.options.epochs.setValue(epochs)
    dialog.options.size.setCurrentText(size)
    dialog.show()
    return dialog


def run_to_end(qtbot: QtBot, dialog: RetrainDialog) -> int:
    with qtbot.waitSignal(dialog.process.finished, timeout=RUN_TIMEOUT_MS) as blocker:
        qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
        assert not dialog.start_button.isEnabled() and dialog.cancel_button.isEnabled()
        assert not dialog.options.isEnabled()
    return int(blocker.args[0])


def headers(dialog: RetrainDialog) -> list[str]:
    table = dialog.comparison
    return [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())]


def column_scores(dialog: RetrainDialog, column: int) -> dict[str, float]:
    return {key: float(dialog.comparison.text(key, column)) for key, _label in METRIC_ROWS}


@pytest.mark.slow
def test_retrain_runs_from_the_window_to_a_new_checkpoint_and_shows_its_scores(
        qtbot: QtBot, dialogs: list[RetrainDialog], project: Project) -> None:
    dialog = open_dialog(qtbot, dialogs, project)
    assert dialog.options.base_scratch.isChecked()        # the project uses the flow spotter
    events: list[dict] = []
    dialog.process.progress.connect(events.append)
    assert run_to_end(qtbot, dialog) == 0, dialog.log_view.toPlainText()
    kinds = {event["event"] for event in events}
    assert {"features", "flow", "protocol", "fold_start", "epoch", "fold_done", "done"} <= kinds

    checkpoint = dialog.new_checkpoint
    assert checkpoint is not None and checkpoint.is_file()
    assert checkpoint.parent.parent == project.models_dir
    assert "leave-one-subject-out over 3 subjects" in dialog.evaluation.text()
    assert headers(dialog) == ["Flow spotter (current)", "New model"]
    report = json.loads((checkpoint.parent / "report.json").read_text())
    for column, name in enumerate(("baseline", "model")):
        shown = column_scores(dialog, column)
        spotting = report[name]["spotting"]
        assert shown["f1"] == pytest.approx(spotting["f1"], abs=5e-4)
        assert (shown["tp"], shown["fp"], shown["fn"]) == (
            spotting["tp"], spotting["fp"], spotting["fn"])
        assert shown["uf1"] == pytest.approx(report[name]["recognition"]["uf1"], abs=5e-4)
        assert shown["tp"] + shown["fn"] == 3                  # one reviewed ME per subject
    assert dialog.progress_bar.value() == dialog.progress_bar.maximum()
    assert "fold s01" in dialog.log_view.toPlainText()
    assert dialog.start_button.isEnabled() and not dialog.cancel_button.isEnabled()

    with qtbot.waitSignal(dialog.model_switched) as switched:
        qtbot.mouseClick(dialog.use_button, Qt.MouseButton.LeftButton)
    assert switched.args == [checkpoint]
    assert Project.open(project.root).settings.model == str(checkpoint)
    assert not dialog.use_button.isEnabled()

    # Retraining again starts from the model in use, which is scored beside the new one.
    again = open_dialog(qtbot, dialogs, project, size="auto")
    assert again.options.base_current.isChecked()
    assert again.options.base_path.text() == str(checkpoint)
    assert run_to_end(qtbot, again) == 0, again.log_view.toPlainText()
    assert headers(again) == ["Flow spotter", f"{checkpoint.parent.name}/model.pt (current)",
                              "New model"]
    assert column_scores(again, 1)["tp"] + column_scores(again, 1)["fn"] == 3
    summary = read_checkpoint_meta(again.new_checkpoint).training_summary
    assert summary["base_checkpoint"] == str(checkpoint)
    assert summary["config"]["model_config"]["d_model"] == 16     # the base's (tiny) size


def test_cancel_and_close_stop_the_run_promptly_and_leave_no_partial_run(
        qtbot: QtBot, dialogs: list[RetrainDialog], project: Project) -> None:
    dialog = open_dialog(qtbot, dialogs, project, epochs=500)
    with qtbot.waitSignal(dialog.process.progress, timeout=RUN_TIMEOUT_MS):
        qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(dialog.process.finished, timeout=CANCEL_TIMEOUT_MS):
        qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    assert not dialog.process.is_running
    assert dialog.stage.text() == "Cancelled." and dialog.error.isHidden()
    assert dialog.start_button.isEnabled() and dialog.options.isEnabled()
    assert dialog.new_checkpoint is None and not dialog.use_button.isEnabled()
    runs = list(project.models_dir.iterdir()) if project.models_dir.is_dir() else []
    assert runs == []
    assert project.settings.model == "flow"

    # Escape (closing the dialog) while it trains stops the run the same way, at once.
    with qtbot.waitSignal(dialog.process.progress, timeout=RUN_TIMEOUT_MS):
        qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    assert any(project.models_dir.iterdir())
    qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    assert not dialog.process.is_running and not dialog.isVisible()
    assert list(project.models_dir.iterdir()) == []


def test_a_failing_run_shows_the_error_from_the_process(
        qtbot: QtBot, dialogs: list[RetrainDialog], tmp_path: Path) -> None:
    root = tmp_path / "unreviewed"
    write_video_file(root / "anna" / "take.mp4", small_frames(12), fps=30.0)
    (root / "anna" / "take.intervals.csv").write_text(
        "onset_frame,apex_frame,offset_frame,emotion,source,status\n"
        "2,4,6,happy,model,proposed\n")                 # a proposal nobody reviewed
    project = Project.open(root)
    dialog = open_dialog(qtbot, dialogs, project)
    assert run_to_end(qtbot, dialog) == 1
    message = dialog.error.text()
    assert dialog.error.isVisible() and "no micro-expression intervals" in message
    assert str(root) in message and "Traceback" not in message
    assert dialog.stage.text() == "Failed." and dialog.start_button.isEnabled()
    assert not any(project.models_dir.glob("*")) if project.models_dir.is_dir() else True


def test_bad_settings_are_refused_before_anything_starts(
        qtbot: QtBot, dialogs: list[RetrainDialog], tmp_path: Path) -> None:
    project = Project.open(tmp_path / "p", create=True)
    dialog = open_dialog(qtbot, dialogs, project)
    dialog.options.base_current.setChecked(True)
    dialog.options.base_path.setText(str(tmp_path / "gone.pt"))
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    assert not dialog.process.is_running
    assert dialog.error.isVisible() and "gone.pt: no such file" in dialog.error.text()

    dialog.options.base_scratch.setChecked(True)
    dialog.options.include_dataset.setChecked(True)
    dialog.options.dataset_root.setText(str(tmp_path / "casme3"))
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    assert not dialog.process.is_running and "casme3: no such folder" in dialog.error.text()

    (tmp_path / "casme3").mkdir()
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    assert "needs its label files" in dialog.error.text()


def test_the_command_starts_from_the_current_checkpoint_and_compares_it(
        qtbot: QtBot, dialogs: list[RetrainDialog], tmp_path: Path, samm_root: Path) -> None:
    project = Project.open(tmp_path / "p", create=True)
    current = project.models_dir / "old" / "model.pt"
    current.parent.mkdir(parents=True)
    current.write_bytes(b"weights")
    project.set_settings(ProjectSettings(model=str(current)))
    labels = samm_root / "labels.xlsx"
    labels.write_bytes(b"sheet")
    dialog = open_dialog(qtbot, dialogs, project, epochs=7, size="small")
    dialog.options.include_dataset.setChecked(True)
    dialog.options.dataset_kind.setCurrentText("samm_lv")
    dialog.options.dataset_root.setText(str(samm_root))
    dialog.options.dataset_labels.setText(str(labels))
    args = dialog.command(tmp_path / "run")
    parsed = build_parser().parse_args(args)
    assert isinstance(parsed, argparse.Namespace)
    assert parsed.data == "project" and parsed.root == project.root
    assert parsed.base == current and parsed.compare == current
    assert parsed.protocol == "auto" and parsed.final_model and parsed.json_progress
    assert parsed.epochs == 7 and parsed.size == "small"
    assert parsed.store == project.feature_store_path
    assert parsed.include_dataset == [f"samm_lv:{samm_root}:{labels}"]


def test_the_size_choices_are_the_commands() -> None:
    train = build_parser()._subparsers._group_actions[0].choices["train"]   # type: ignore[union-attr]
    size = next(a for a in train._actions if a.dest == "size")
    assert tuple(MODEL_SIZES) == tuple(size.choices)

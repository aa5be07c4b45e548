"""No edit is lost: a burst of edits is autosaved once, Save replaces the file and keeps a backup,
a failing save reports and keeps the edits, recovery is asked with counts and times, and the
import/export dialogs answer what the user chose (none of them blocks a test)."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before any Qt import

from pathlib import Path

import pytest
from PySide6.QtWidgets import QMessageBox

from core.annotation_store import has_newer_autosave, load_annotations, save_annotations
from core.annotations import Annotation, AnnotationChange, AnnotationSet
from core.interval_import import ImportReport, RejectedRow
from metst_gui.autosave import AutosaveController
from metst_gui.import_export_dialogs import ExportIntervalsDialog, ImportReportDialog
from metst_gui.recovery_dialog import ask_recover
from metst_gui.session import VideoSession

pytestmark = pytest.mark.gui

N_FRAMES, FPS = 1000, 30.0
WRITE_TIMEOUT_MS = 5000


def _interval(i: int) -> Annotation:
    return Annotation(id=f"i{i}", onset_frame=10 * i, apex_frame=10 * i + 2,
                      offset_frame=10 * i + 5, emotion="happy")


@pytest.fixture
def session(session_factory) -> VideoSession:
    return session_factory(n_frames=N_FRAMES, fps=FPS)


@pytest.fixture
def controller(qtbot) -> AutosaveController:
    autosave = AutosaveController(delay_ms=50)
    yield autosave
    autosave.shutdown()


def _add(session: VideoSession, i: int) -> None:
    session.apply(AnnotationChange((), (_interval(i),)), f"Add {i}")


def _count(path: Path) -> int:
    return len(load_annotations(path, video="clip", n_frames=N_FRAMES, fps=FPS)[0])


def test_a_burst_of_edits_is_autosaved_once(qtbot, session, controller) -> None:
    controller.set_session(session)
    written: list[Path] = []
    controller.autosaved.connect(written.append)

    with qtbot.waitSignal(controller.autosaved, timeout=WRITE_TIMEOUT_MS):
        for i in range(5):
            _add(session, i)
    qtbot.wait(150)  # longer than the delay: a second write would have come by now

    autosave = session.project.autosave_path(session.video)
    assert written == [autosave] and _count(autosave) == 5
    assert not session.project.annotations_path(session.video).exists()  # not saved yet
    assert has_newer_autosave(session.project.annotations_path(session.video), autosave)


def test_flush_writes_pending_edits_at_once(session) -> None:
    controller = AutosaveController(delay_ms=60_000)
    controller.set_session(session)
    _add(session, 1)
    assert controller.is_pending

    controller.flush()

    assert not controller.is_pending
    assert _count(session.project.autosave_path(session.video)) == 1
    controller.shutdown()


def test_undo_back_to_the_saved_state_deletes_the_autosave(qtbot, session, controller) -> None:
    controller.set_session(session)
    with qtbot.waitSignal(controller.autosaved, timeout=WRITE_TIMEOUT_MS):
        _add(session, 1)
    session.undo_stack.undo()
    controller.flush()
    assert not session.project.autosave_path(session.video).exists()


def test_save_replaces_the_file_keeps_a_backup_and_drops_the_autosave(
        qtbot, session, controller) -> None:
    controller.set_session(session)
    project, video = session.project, session.video
    _add(session, 1)
    assert controller.save(session) == project.annotations_path(video)
    _add(session, 2)
    controller.flush()
    assert project.autosave_path(video).exists() and session.is_dirty

    assert controller.save(session) == project.annotations_path(video)

    assert _count(project.annotations_path(video)) == 2
    assert _count(project.backup_path(video)) == 1
    assert not project.autosave_path(video).exists() and not session.is_dirty


def test_a_failing_save_reports_the_file_and_keeps_every_edit(qtbot, session,
                                                              controller) -> None:
    controller.set_session(session)
    project, video = session.project, session.video
    (project.root / video.subject).write_text("a file where the subject folder should be")
    for i in range(3):
        _add(session, i)
    messages: list[str] = []
    controller.save_failed.connect(messages.append)

    with qtbot.waitSignal(controller.autosaved, timeout=WRITE_TIMEOUT_MS):
        assert controller.save(session) is None

    assert len(messages) == 1 and str(project.annotations_path(video)) in messages[0]
    assert len(session.annotations) == 3 and session.is_dirty
    assert _count(project.autosave_path(video)) == 3  # the edits are on disk too


def test_switching_sessions_writes_the_previous_ones_edits(qtbot, session) -> None:
    controller = AutosaveController(delay_ms=60_000)
    controller.set_session(session)
    _add(session, 4)

    controller.set_session(None)

    assert _count(session.project.autosave_path(session.video)) == 1
    _add(session, 5)  # no longer watched
    assert not controller.is_pending
    controller.shutdown()


# --------------------------------------------------------------------------------- recovery


@pytest.mark.parametrize("answer, expected", [(QMessageBox.StandardButton.Yes, True),
                                              (QMessageBox.StandardButton.No, False)])
def test_recovery_question_names_counts_and_times(monkeypatch, tmp_path: Path, answer,
                                                  expected) -> None:
    saved, autosave = tmp_path / "clip.intervals.csv", tmp_path / "auto" / "clip.intervals.csv"
    save_annotations(AnnotationSet.from_annotations("clip", N_FRAMES, FPS, [_interval(1)]), saved)
    save_annotations(AnnotationSet.from_annotations(
        "clip", N_FRAMES, FPS, [_interval(i) for i in range(4)]), autosave)
    shown: list[str] = []

    def fake_exec(box: QMessageBox) -> int:
        shown.append(f"{box.text()}\n{box.informativeText()}")
        return int(answer)

    monkeypatch.setattr(QMessageBox, "exec", fake_exec)

    assert ask_recover(None, saved, autosave) is expected
    assert "clip" in shown[0]
    assert "Autosaved edits: 4 intervals, written 20" in shown[0]
    assert "Saved file: 1 interval, written 20" in shown[0]


def test_recovery_question_when_never_saved(monkeypatch, tmp_path: Path) -> None:
    autosave = tmp_path / "auto" / "clip.intervals.csv"
    save_annotations(AnnotationSet.from_annotations("clip", N_FRAMES, FPS, [_interval(1)]),
                     autosave)
    shown: list[str] = []
    monkeypatch.setattr(QMessageBox, "exec",
                        lambda box: shown.append(box.informativeText()) or 0)
    assert ask_recover(None, tmp_path / "clip.intervals.csv", autosave) is False
    assert "Saved file: none yet" in shown[0]


# ---------------------------------------------------------------------------------- dialogs


def test_export_dialog_gives_scope_filters_and_file(qtbot, tmp_path: Path) -> None:
    dialog = ExportIntervalsDialog("clip", tmp_path)
    qtbot.addWidget(dialog)
    dialog.open()

    assert dialog.options().statuses == {"proposed", "accepted", "edited"}  # not rejected
    assert dialog.options().path == tmp_path / "clip-intervals.csv"
    dialog.project_scope.setChecked(True)
    dialog.source_boxes["model"].setChecked(False)
    options = dialog.options()
    assert (options.scope, options.sources) == ("project", {"human"})
    assert options.path == tmp_path / "project-intervals.csv"

    for box in dialog.status_boxes.values():
        box.setChecked(False)
    assert not dialog.ok_button.isEnabled()
    dialog.status_boxes["rejected"].setChecked(True)
    assert dialog.ok_button.isEnabled()
    with qtbot.waitSignal(dialog.accepted, timeout=1000):
        dialog.ok_button.click()


def test_import_report_dialog_lists_rows_left_out(qtbot, tmp_path: Path) -> None:
    report = ImportReport(
        annotations=[_interval(1), _interval(2)],
        rejected=[RejectedRow(7, "Offset 3 is before Onset 9: the row is skipped"),
                  RejectedRow(2, "other video (spNO.2/a)", other_video=True),
                  RejectedRow(3, "other video (spNO.2/b)", other_video=True)],
        source_kind="casme3", file=tmp_path / "labels.xlsx",
        repaired=[RejectedRow(5, "no Apex: the midpoint 4 is used")])
    dialog = ImportReportDialog(report, "a", n_repeated=1)
    qtbot.addWidget(dialog)
    dialog.open()

    assert dialog.ok_button.text() == "Import 1 interval" and dialog.ok_button.isEnabled()
    assert "2 intervals of a found in labels.xlsx" in dialog.summary.text()
    assert "2 rows belong to other videos" in dialog.summary.text()
    rows = [dialog.table.item(r, 0).text() for r in range(dialog.table.rowCount())]
    assert rows == ["5", "7"]
    assert "before Onset" in dialog.table.item(1, 2).text()

    dialog.show_other_videos.setChecked(True)
    assert dialog.table.rowCount() == 4
    with qtbot.waitSignal(dialog.rejected, timeout=1000):
        dialog.reject()


def test_import_dialog_with_nothing_new_cannot_import(qtbot, tmp_path: Path) -> None:
    report = ImportReport([], [RejectedRow(2, "out of range")], "csv", tmp_path / "x.csv")
    dialog = ImportReportDialog(report, "clip")
    qtbot.addWidget(dialog)
    assert not dialog.ok_button.isEnabled() and dialog.ok_button.text() == "Import 0 intervals"

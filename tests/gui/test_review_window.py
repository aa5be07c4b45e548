"""The assembled review window: analysis in the background with progress, cancel and errors;
results in every row; the playhead through all rows; edits saved, recovered after a crash, and
opened again; drag-and-drop; threshold changes without a model run."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before any Qt import

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QMessageBox

import metst_gui.session_manager as session_manager_module
from core.annotations import AnnotationChange
from core.postprocess import detect_peaks, smooth_curve
from core.project import Project
from metst_gui.edit_actions import human_interval
from metst_gui.main_window import MainWindow

pytestmark = pytest.mark.gui

TIMEOUT_MS = 60_000
CLIP_N_FRAMES = 96


@pytest.fixture
def clip(tmp_path: Path, short_clip_factory: Callable[[int], Path]) -> Path:
    """The sample's first 96 frames as an MJPEG .avi (analysed in a few seconds): a private copy
    per test, so that no two tests share an implicit project."""
    path = tmp_path / "footage" / "clip.avi"
    path.parent.mkdir()
    shutil.copy(short_clip_factory(CLIP_N_FRAMES), path)
    return path


@pytest.fixture
def messages(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """(title, text) of every error box; closing with unsaved edits answers Discard."""
    shown: list[tuple[str, str]] = []

    def record(_parent, title, text, *args, **kwargs):
        shown.append((title, text))
        return QMessageBox.StandardButton.Ok

    monkeypatch.setattr(QMessageBox, "critical", record)
    monkeypatch.setattr(QMessageBox, "warning", record)
    monkeypatch.setattr(QMessageBox, "question",
                        lambda *a, **k: QMessageBox.StandardButton.Discard)
    return shown


def _window(qtbot) -> MainWindow:
    window = MainWindow(analysis_workers=1)
    qtbot.addWidget(window)
    window.show()
    return window


def _open(qtbot, window: MainWindow, path: Path) -> None:
    with qtbot.waitSignal(window.sessions.session_changed, timeout=TIMEOUT_MS,
                          check_params_cb=lambda session: session is not None):
        window.open_path(path)


def _analyse(qtbot, window: MainWindow) -> list[tuple[str, int, int]]:
    progress: list[tuple[str, int, int]] = []
    worker = window.analysis_panel.worker
    worker.progress.connect(lambda stage, done, total, _m: progress.append((stage, done, total)))
    with qtbot.waitSignal(window.analysis_panel.result_ready, timeout=TIMEOUT_MS):
        window.run_analysis_action.trigger()
    return progress


def test_analysis_runs_in_the_background_and_renders_in_every_panel(
        qtbot, clip: Path, messages) -> None:
    window = _window(qtbot)
    _open(qtbot, window, clip)
    window.analysis_panel.threshold_spin.setValue(0.1)   # low p: several proposals to show

    progress = _analyse(qtbot, window)

    session = window.session
    assert [stage for stage, _d, _t in progress].count("flow") >= 2
    flow_done = [done for stage, done, _t in progress if stage == "flow"]
    assert flow_done == sorted(flow_done) and flow_done[-1] == CLIP_N_FRAMES
    assert session.result is not None and len(session.result.curves.spot) == CLIP_N_FRAMES
    proposals = [a for a in session.annotations if a.is_unreviewed_proposal]
    assert proposals, "p = 0.1 should propose intervals on the sample clip"
    assert len(window.timeline.spotting_row.smoothed_curve.getOriginalDataset()[1]) == \
        CLIP_N_FRAMES
    window.timeline.set_visible_range(0, CLIP_N_FRAMES - 1)
    assert set(window.interval_track.shown_bands()) == {a.id for a in proposals}
    assert window.interval_table.model.rowCount() == len(proposals)
    assert window.isWindowModified()                     # proposals are not saved yet
    assert not messages


def test_threshold_changes_redraw_the_proposals_without_a_model_run(
        qtbot, clip: Path, messages, monkeypatch: pytest.MonkeyPatch) -> None:
    window = _window(qtbot)
    _open(qtbot, window, clip)
    window.analysis_panel.threshold_spin.setValue(0.1)
    _analyse(qtbot, window)
    n_low = sum(a.is_unreviewed_proposal for a in window.session.annotations)
    import core.analysis
    monkeypatch.setattr(core.analysis, "analyze",
                        lambda *a, **k: pytest.fail("the model ran again"))

    window.analysis_panel.threshold_spin.setValue(0.95)

    n_high = sum(a.is_unreviewed_proposal for a in window.session.annotations)
    assert window.session.result.postprocess.p == pytest.approx(0.95)
    assert n_high < n_low
    result = window.session.result
    k_p = result.postprocess.k_p
    _peaks, threshold = detect_peaks(smooth_curve(result.curves.spot, k_p), k_p, 0.95)
    assert window.timeline.spotting_row.threshold == pytest.approx(threshold)
    window.session.undo_stack.undo()                     # one step back to p = 0.1
    assert sum(a.is_unreviewed_proposal for a in window.session.annotations) == n_low


def test_cancelling_the_analysis_keeps_the_window_usable(
        qtbot, tmp_path: Path, sample_video_path: Path, messages) -> None:
    video = tmp_path / "s" / "sample.mp4"
    video.parent.mkdir()
    shutil.copy(sample_video_path, video)
    window = _window(qtbot)
    _open(qtbot, window, video)
    worker = window.analysis_panel.worker

    with qtbot.waitSignal(worker.cancelled, timeout=TIMEOUT_MS):
        window.run_analysis_action.trigger()
        qtbot.waitUntil(lambda: window.analysis_panel.progress_bar.value() > 0,
                        timeout=TIMEOUT_MS)
        window.cancel_analysis_action.trigger()

    assert window.session.result is None and len(window.session.annotations) == 0
    assert window.analysis_panel.run_button.isEnabled()
    with qtbot.waitSignal(window.video_view.frame_shown, timeout=TIMEOUT_MS,
                          check_params_cb=lambda idx: idx == 5):
        window.playhead.set_frame(5)
    assert not messages


def test_a_video_without_a_face_gives_a_message_and_the_window_stays_usable(
        qtbot, tmp_path: Path, no_face_path: Path, clip: Path, messages) -> None:
    video = tmp_path / "s" / "no_face.mp4"
    video.parent.mkdir()
    shutil.copy(no_face_path, video)
    window = _window(qtbot)
    _open(qtbot, window, video)

    with qtbot.waitSignal(window.analysis_panel.error, timeout=TIMEOUT_MS):
        window.run_analysis_action.trigger()

    assert len(messages) == 1 and "no_face.mp4" in messages[0][1]
    assert "Traceback" not in messages[0][1]
    _open(qtbot, window, clip)                           # the window still opens videos
    assert window.session.video.path == clip


def test_the_playhead_moves_in_every_row_on_seek_and_playback(qtbot, clip: Path,
                                                              messages) -> None:
    window = _window(qtbot)
    _open(qtbot, window, clip)
    lines = [line for _plot, line in window.timeline._playhead_lines]
    assert len(lines) == 5                               # overview, 3 curve rows, interval track

    window.playhead.set_frame(40)
    assert [line.value() for line in lines] == [40] * len(lines)

    qtbot.keyClick(window.video_view, Qt.Key.Key_Right)
    assert window.playhead.frame_idx == 41
    window.video_view.playback.play()
    qtbot.waitUntil(lambda: window.playhead.frame_idx >= 45, timeout=TIMEOUT_MS)
    window.video_view.playback.pause()
    assert {line.value() for line in lines} == {window.playhead.frame_idx}


def test_an_edit_is_saved_and_opens_again(qtbot, clip: Path, messages) -> None:
    window = _window(qtbot)
    _open(qtbot, window, clip)
    window.timeline.interval_drawn.emit(10, 20)

    assert window.isWindowModified()
    added = window.session.annotations.annotations
    assert [(a.onset_frame, a.offset_frame, a.source) for a in added] == [(10, 20, "human")]
    window.save_action.trigger()
    assert not window.isWindowModified()
    annotations_file = window.session.project.annotations_path(window.session.video)
    assert annotations_file.is_file()
    window.close()

    reopened = _window(qtbot)
    _open(qtbot, reopened, clip)
    assert [(a.onset_frame, a.offset_frame) for a in reopened.session.annotations] == [(10, 20)]
    assert not reopened.isWindowModified()


def test_unsaved_edits_are_recovered_after_a_crash(qtbot, clip: Path, messages,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    crashed = _window(qtbot)
    _open(qtbot, crashed, clip)
    session = crashed.session
    edit = human_interval(session, 30, 38)
    with qtbot.waitSignal(crashed.autosave.autosaved, timeout=TIMEOUT_MS):
        session.apply(AnnotationChange((), (edit,)), "Add interval")
        crashed.autosave.flush()
    asked: list[Path] = []
    monkeypatch.setattr(session_manager_module, "ask_recover",
                        lambda _parent, saved, autosave: asked.append(autosave) or True)

    restarted = _window(qtbot)                           # the first one never saved
    _open(qtbot, restarted, clip)

    assert asked == [session.project.autosave_path(session.video)]
    assert [a.id for a in restarted.session.annotations] == [edit.id]
    assert restarted.isWindowModified()                  # recovered, not yet saved


def test_dropping_a_video_on_the_window_opens_it(qtbot, clip: Path, messages) -> None:
    window = _window(qtbot)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(clip))])
    event = QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)

    with qtbot.waitSignal(window.sessions.session_changed, timeout=TIMEOUT_MS):
        window.dropEvent(event)

    assert window.session.video.path == clip
    assert "clip.avi" in window.windowTitle()


def test_the_tsfmicro_checkpoint_is_chosen_from_the_analysis_menu(
        qtbot, clip: Path, tmp_path: Path, messages, monkeypatch: pytest.MonkeyPatch) -> None:
    from PySide6.QtWidgets import QFileDialog

    window = _window(qtbot)
    _open(qtbot, window, clip)
    checkpoint = tmp_path / "tsfmicro.pt"
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(checkpoint), ""))

    window.model_actions.tsfmicro_action.trigger()

    assert window.session.project.settings.tsfmicro == str(checkpoint)
    assert Project.open(window.session.project.root).settings.tsfmicro == str(checkpoint)


def test_retrain_without_a_project_says_so(qtbot, messages) -> None:
    window = _window(qtbot)

    window.model_actions.retrain_action.trigger()

    assert messages and "Open a project" in messages[0][1]


def test_a_new_project_gets_videos_by_link_and_opens_the_first(
        qtbot, clip: Path, tmp_path: Path, messages, monkeypatch: pytest.MonkeyPatch) -> None:
    from PySide6.QtWidgets import QFileDialog, QInputDialog

    window = _window(qtbot)
    folder = tmp_path / "study"
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(folder))
    window.project_actions.new_project_action.trigger()
    assert window.sessions.project is not None and (folder / "project.json").is_file()
    monkeypatch.setattr(QFileDialog, "getOpenFileNames", lambda *a, **k: ([str(clip)], ""))
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("p07", True))

    with qtbot.waitSignal(window.sessions.session_changed, timeout=TIMEOUT_MS):
        window.project_actions.add_videos_action.trigger()

    assert (window.session.video.subject, window.session.video.path) == ("p07", clip)
    assert [v.key for v in Project.open(folder).videos()] == ["p07/clip"]
    assert [item.text(0) for item in window.project_panel.video_items()] == ["clip"]


def test_a_video_that_fails_to_open_leaves_the_open_one_and_its_edits(
        qtbot, clip: Path, tmp_path: Path, messages) -> None:
    window = _window(qtbot)
    _open(qtbot, window, clip)
    window.timeline.interval_drawn.emit(10, 20)
    session = window.session
    broken = tmp_path / "s" / "broken.mp4"
    broken.parent.mkdir()
    broken.write_bytes(b"not a video at all")

    with qtbot.waitSignal(window.video_view.open_failed, timeout=TIMEOUT_MS):
        window.open_path(broken)                         # "save the edits?" → Discard

    assert any("broken.mp4" in text for _title, text in messages)
    assert window.session is session and len(session.annotations) == 1
    assert window.isWindowModified() and window.video_view.video.path == clip


def test_the_roi_boxes_follow_the_roi_set_of_the_shown_traces(qtbot, clip: Path,
                                                              messages) -> None:
    window = _window(qtbot)
    _open(qtbot, window, clip)
    window.analysis_panel.roi_combo.setCurrentIndex(
        window.analysis_panel.roi_combo.findData("metst"))
    window.analysis_panel.roi_combo.activated.emit(window.analysis_panel.roi_combo.currentIndex())
    window.video_view.set_roi_set("metst_plus")

    _analyse(qtbot, window)

    assert window.session.result.traces.roi_set == "metst"
    checked = [a.text() for a in window.video_view.roi_set_actions() if a.isChecked()]
    assert checked == ["ME-TST ROIs (5)"]


def test_a_missing_path_is_a_message_naming_it(qtbot, tmp_path: Path, clip: Path,
                                               messages) -> None:
    window = _window(qtbot)
    _open(qtbot, window, clip)

    window.open_path(tmp_path / "gone.mp4")

    assert messages and "gone.mp4" in messages[-1][1] and "no such file" in messages[-1][1]
    assert window.session.video.path == clip                     # the open video stays


def test_importing_a_file_that_is_no_interval_sheet_says_which_and_adds_nothing(
        qtbot, clip: Path, tmp_path: Path, messages, monkeypatch: pytest.MonkeyPatch) -> None:
    from PySide6.QtWidgets import QFileDialog

    window = _window(qtbot)
    _open(qtbot, window, clip)
    sheet = tmp_path / "labels.csv"
    sheet.write_text("start,end\n1,2\n")
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(sheet), ""))

    window.file_actions.import_action.trigger()
    qtbot.waitUntil(lambda: bool(messages), timeout=TIMEOUT_MS)

    assert "labels.csv" in messages[0][1]
    assert len(window.session.annotations) == 0 and not window.isWindowModified()


def test_exporting_curves_where_nothing_can_be_written_says_where(
        qtbot, clip: Path, tmp_path: Path, messages, monkeypatch: pytest.MonkeyPatch) -> None:
    from PySide6.QtWidgets import QFileDialog

    window = _window(qtbot)
    _open(qtbot, window, clip)
    _analyse(qtbot, window)
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    target = blocker / "curves.csv"                              # a folder that is a file
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), ""))

    window.file_actions.export_curves_action.trigger()
    qtbot.waitUntil(lambda: bool(messages), timeout=TIMEOUT_MS)

    assert "curves.csv" in messages[0][1]


def test_adding_videos_without_a_project_says_what_to_do(qtbot, messages) -> None:
    window = _window(qtbot)

    window.project_actions.add_videos_action.trigger()

    assert messages and "New project" in messages[0][1]

"""The analysis panel runs an analysis off the GUI thread, stores it, shows it again without
recomputing, cancels promptly, reports bad input in one sentence naming the file (and in the log),
and sets the threshold p."""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QThread, QTimer

import metst_gui.analysis_worker as analysis_worker
from core.analysis import result_source
from core.annotations import AnnotationSet
from core.project import Project, project_for_video
from core.video import VideoError, open_source, same_content, source_identity
from metst_gui.analysis_panel import AnalysisPanel
from metst_gui.analysis_worker import (
    AnalysisRequest,
    load_stored_result,
    run_analysis,
)
from metst_gui.app_log import current_log_path, install_excepthook, setup_logging, stop_logging
from metst_gui.frame_loader import VideoInfo
from metst_gui.session import VideoSession
from resources import SAMPLE_VIDEO

pytestmark = pytest.mark.gui

RUN_TIMEOUT_MS = 90_000
SAMPLE_N_FRAMES = 472
CLIP_N_FRAMES = 48


@pytest.fixture
def log_path(tmp_path: Path) -> Iterator[Path]:
    path = setup_logging(tmp_path / "data" / "metst-studio.log")
    yield path
    stop_logging()


@pytest.fixture
def short_clip(short_clip_factory: Callable[[int], Path]) -> Path:
    """The sample's first 48 frames as an MJPEG .avi (a fraction of a second to analyse)."""
    return short_clip_factory(CLIP_N_FRAMES)


def _session(video_path: Path, projects_dir: Path) -> VideoSession:
    """A session on ``video_path`` in its implicit project (made in ``projects_dir``)."""
    project, video = project_for_video(video_path, projects_dir)
    try:
        source = open_source(video_path)
        info = VideoInfo.from_source(source)
        source.close()
    except VideoError:  # a broken file: the analysis is what reports it
        info = VideoInfo(video_path, 24.0, 0, 0, 0)
    return VideoSession(project, video, info, AnnotationSet(video.name, info.n_frames, info.fps))


@pytest.fixture
def panel(qtbot) -> AnalysisPanel:
    widget = AnalysisPanel()
    qtbot.addWidget(widget)
    return widget


def _run_to_failure(qtbot, panel: AnalysisPanel, session: VideoSession) -> str:
    panel.set_session(session)
    with qtbot.waitSignal(panel.error, timeout=RUN_TIMEOUT_MS) as blocker:
        panel.run()
    message = blocker.args[0]
    assert "Traceback" not in message and "\n" not in message
    assert panel.run_button.isEnabled() and not panel.is_running
    assert not panel.progress_bar.isVisibleTo(panel)
    assert panel.status_label.text() == message
    assert not (session.project.result_dir(session.video) / "curves.h5").exists()
    return message


def test_run_shows_progress_stays_responsive_and_stores_the_result(
        qtbot, panel: AnalysisPanel, tmp_path: Path, log_path: Path, monkeypatch) -> None:
    session = _session(SAMPLE_VIDEO, tmp_path / "projects")
    panel.set_session(session)
    panel.show()
    assert panel.run_button.isEnabled() and not panel.cancel_button.isVisible()
    reports: list[tuple[float, str, int, int]] = []
    panel.worker.progress.connect(
        lambda stage, done, total, _: reports.append((time.monotonic(), stage, done, total)))
    tick_times: list[float] = []
    ticker = QTimer(panel, interval=20)
    ticker.timeout.connect(lambda: tick_times.append(time.monotonic()))
    ticker.start()
    started = time.monotonic()
    with qtbot.waitSignal(panel.result_ready, timeout=RUN_TIMEOUT_MS) as blocker:
        panel.run()
        assert panel.is_running and not panel.run_button.isEnabled()
        assert panel.cancel_button.isVisible() and panel.progress_bar.isVisible()
    elapsed = time.monotonic() - started
    ticker.stop()

    # While frames are processed, the GUI thread keeps running its event loop. (Before that,
    # loading dlib's landmark model holds the GIL for ~1.5 s once per process: not checked.)
    tracking_t = next(t for t, stage, done, _ in reports if stage == "flow" and done > 0)
    ticks = [t for t in tick_times if t > tracking_t]
    gaps = np.diff([tracking_t, *ticks])
    assert len(ticks) >= 10 and gaps.max() < 1.0, (len(ticks), gaps)
    flow_done = [done for _, stage, done, _ in reports if stage == "flow"]
    assert flow_done == sorted(flow_done) and len(set(flow_done)) >= 3
    assert flow_done[-1] == SAMPLE_N_FRAMES
    assert reports[-1][1] == "save"
    assert len(reports) <= 20 * elapsed + 10    # throttled to about 20 reports per second

    result = blocker.args[0]
    assert result.curves.spot.shape == (SAMPLE_N_FRAMES,)
    assert result.traces.n_frames == SAMPLE_N_FRAMES and result.postprocess.p == pytest.approx(0.55)
    assert panel.run_button.isEnabled() and not panel.progress_bar.isVisible()
    assert f"in {SAMPLE_N_FRAMES} frames" in panel.status_label.text()
    folder = session.project.result_dir(session.video)
    assert (folder / "curves.h5").is_file()
    assert same_content(result_source(folder), source_identity(session.video.path))
    assert "finished" in log_path.read_text()

    calls: list[object] = []
    monkeypatch.setattr(analysis_worker, "analyze", lambda *a, **k: calls.append(a))
    reopened = Project.open(session.project.root)
    stored = load_stored_result(reopened, session.video, n_frames=SAMPLE_N_FRAMES)
    assert calls == [] and stored is not None
    np.testing.assert_array_equal(stored.curves.spot, result.curves.spot)
    assert [i.apex_frame for i in stored.intervals] == [i.apex_frame for i in result.intervals]
    assert reopened.settings.model == "flow" and reopened.settings.threshold_p == 0.55


def test_cancel_stops_promptly_and_saves_nothing(qtbot, panel: AnalysisPanel,
                                                 tmp_path: Path) -> None:
    session = _session(SAMPLE_VIDEO, tmp_path / "projects")
    panel.set_session(session)
    results: list[object] = []
    panel.result_ready.connect(results.append)
    with qtbot.waitSignal(panel.worker.progress, timeout=RUN_TIMEOUT_MS,
                          check_params_cb=lambda stage, done, *_: stage == "flow" and done > 0):
        panel.run()
    asked = time.monotonic()
    with qtbot.waitSignal(panel.worker.cancelled, timeout=10_000):
        panel.cancel()
        assert panel.status_label.text() == "Cancelling…"
    assert time.monotonic() - asked < 5.0
    assert results == [] and not panel.is_running and panel.run_button.isEnabled()
    assert "cancelled" in panel.status_label.text()
    assert not (session.project.result_dir(session.video) / "curves.h5").exists()
    assert load_stored_result(session.project, session.video) is None


def test_closing_during_a_run_joins_the_thread(
        qtbot, panel: AnalysisPanel, tmp_path: Path,
        running_qthreads: Callable[[], list[QThread]]) -> None:
    panel.set_session(_session(SAMPLE_VIDEO, tmp_path / "projects"))
    with qtbot.waitSignal(panel.worker.progress, timeout=RUN_TIMEOUT_MS,
                          check_params_cb=lambda stage, done, *_: stage == "flow" and done > 0):
        panel.run()
    assert running_qthreads()
    started = time.monotonic()
    panel.close()
    assert time.monotonic() - started < 5.0
    assert not running_qthreads() and not panel.is_running


def test_no_face_video_fails_naming_the_file_and_logs_it(
        qtbot, panel: AnalysisPanel, tmp_path: Path, no_face_path: Path, log_path: Path) -> None:
    message = _run_to_failure(qtbot, panel, _session(no_face_path, tmp_path / "projects"))
    assert "no_face.mp4" in message and "no face" in message
    assert "no_face.mp4" in log_path.read_text()


def test_corrupt_video_fails_naming_the_file(qtbot, panel: AnalysisPanel, tmp_path: Path,
                                             corrupt_video: Path) -> None:
    message = _run_to_failure(qtbot, panel, _session(corrupt_video, tmp_path / "projects"))
    assert corrupt_video.name in message


def test_bad_checkpoint_fails_naming_it_and_is_remembered(
        qtbot, panel: AnalysisPanel, tmp_path: Path, short_clip: Path) -> None:
    checkpoint = tmp_path / "x.pt"
    checkpoint.write_bytes(np.random.default_rng(0).bytes(4096))
    session = _session(short_clip, tmp_path / "projects")
    panel.set_session(session)
    assert panel.roi_combo.isEnabled()
    panel.set_model(str(checkpoint))
    assert panel.model_spec == str(checkpoint) and not panel.roi_combo.isEnabled()
    message = _run_to_failure(qtbot, panel, session)
    assert message.startswith("checkpoint") and "x.pt" in message
    assert Project.open(session.project.root).settings.model == str(checkpoint)
    panel.set_session(None)
    panel.set_session(session)                  # re-opening shows the remembered checkpoint
    assert panel.model_spec == str(checkpoint) and not panel.roi_combo.isEnabled()


def test_unexpected_error_is_reported_briefly_and_logged_whole(
        qtbot, panel: AnalysisPanel, tmp_path: Path, short_clip: Path, log_path: Path,
        monkeypatch) -> None:
    def broken(*args, **kwargs):
        raise RuntimeError("the bug")

    monkeypatch.setattr(analysis_worker, "analyze", broken)
    message = _run_to_failure(qtbot, panel, _session(short_clip, tmp_path / "projects"))
    assert message == f"analysis failed: RuntimeError: the bug (details in {log_path})"
    log_text = log_path.read_text()
    assert "Traceback" in log_text and "RuntimeError: the bug" in log_text


def test_threshold_spin_and_slider_emit_and_follow_the_result(
        qtbot, panel: AnalysisPanel, tmp_path: Path, short_clip: Path) -> None:
    session = _session(short_clip, tmp_path / "projects")
    request = AnalysisRequest(session.project, session.video, "flow", "metst", 0.4)
    result = run_analysis(request)
    session.set_result(result)
    panel.set_session(session)
    assert panel.threshold_spin.value() == pytest.approx(0.4)
    assert panel.threshold_slider.value() == 40
    panel.threshold_changed.connect(session.set_threshold)
    with qtbot.waitSignal(panel.threshold_changed) as blocker:
        panel.threshold_spin.setValue(0.7)
    assert blocker.args == [pytest.approx(0.7)] and panel.threshold_slider.value() == 70
    assert session.result.postprocess.p == pytest.approx(0.7)
    with qtbot.waitSignal(panel.threshold_changed) as blocker:
        panel.threshold_slider.setValue(25)
    assert blocker.args == [pytest.approx(0.25)] and panel.threshold_spin.value() == 0.25
    qtbot.waitUntil(lambda: Project.open(session.project.root).settings.threshold_p == 0.25)


def test_stored_result_of_another_file_version_is_not_shown(
        tmp_path: Path, short_clip: Path, log_path: Path) -> None:
    video_path = tmp_path / "videos" / "clip.avi"
    video_path.parent.mkdir()
    video_path.write_bytes(short_clip.read_bytes())
    project, video = project_for_video(video_path, tmp_path / "projects")
    run_analysis(AnalysisRequest(project, video, "flow", "metst", 0.55))
    warnings: list[str] = []
    assert load_stored_result(project, video, n_frames=CLIP_N_FRAMES, warn=warnings.append)
    assert warnings == []
    rethresholded = load_stored_result(project, video, threshold_p=0.2)
    assert rethresholded.postprocess.p == 0.2 and len(rethresholded.intervals) >= 1
    assert load_stored_result(project, video, n_frames=CLIP_N_FRAMES + 1,
                              warn=warnings.append) is None
    with video_path.open("ab") as stream:       # the file changes after its analysis
        stream.write(b"\0" * 16)
    assert load_stored_result(project, video, warn=warnings.append) is None
    (project.result_dir(video) / "curves.h5").write_bytes(b"not hdf5")
    assert load_stored_result(project, video, warn=warnings.append) is None
    assert len(warnings) == 3 and all("clip.avi" in w for w in warnings)
    assert "frames" in warnings[0] and "earlier version" in warnings[1]
    assert "cannot be read" in warnings[2]
    assert "cannot be read" in log_path.read_text()


def test_logging_is_idempotent_and_uncaught_exceptions_are_logged_not_shown(
        qtbot, tmp_path: Path, log_path: Path, monkeypatch) -> None:
    root = logging.getLogger()
    n_handlers = len(root.handlers)
    assert setup_logging(log_path) == log_path and len(root.handlers) == n_handlers
    assert current_log_path() == log_path
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    shown: list[str] = []
    install_excepthook(shown.append)
    try:
        raise KeyError("lost key")
    except KeyError:
        sys.excepthook(*sys.exc_info())
    assert shown == [f"an action failed: KeyError: 'lost key' (details in {log_path})"]
    log_text = log_path.read_text()
    assert "uncaught exception" in log_text and "Traceback" in log_text

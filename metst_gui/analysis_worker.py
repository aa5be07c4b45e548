"""Analysis of one project video off the GUI thread, and re-opening its stored result.

:func:`run_analysis` is the whole job as a plain function (what ``metst analyze`` does for one
video): load the model (torch is imported here, never on the GUI thread), :func:`core.analysis.
analyze` with the project's feature store, then :func:`core.analysis.save_result` into
``project.result_dir(video)`` (which records the analysed file's identity).
:class:`AnalysisWorker` runs it on a ``QThread``; :func:`load_stored_result` reads it back without
recomputing when it was made from the same file.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from PySide6.QtCore import QObject, QThread, Signal, Slot

from core.analysis import (
    AnalysisResult,
    analyze,
    load_result,
    reinterpret,
    result_source,
    save_result,
)
from core.curve_models import load_curve_model
from core.flow import FlowConfig
from core.postprocess import PostprocessConfig
from core.progress import Cancelled, CancelToken, Progress, ProgressCallback, report
from core.project import Project, ProjectVideo
from core.video import same_content, source_identity
from metst_gui.app_log import unexpected_error_message

__all__ = ["AnalysisRequest", "AnalysisWorker", "run_analysis", "load_stored_result"]

_logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AnalysisRequest:
    """One analysis to run: which video, which model, which settings.

    Attributes:
        model_spec: ``"flow"`` or a checkpoint path (see
            :func:`core.curve_models.load_curve_model`).
        roi_set: ROI set for the flow spotter (a checkpoint uses its own).
        threshold_p: the post-processing threshold p in [0, 1].
        workers: extraction processes.
    """

    project: Project
    video: ProjectVideo
    model_spec: str
    roi_set: str
    threshold_p: float
    workers: int = 1


def run_analysis(request: AnalysisRequest, progress: ProgressCallback | None = None,
                 cancel: CancelToken | None = None) -> AnalysisResult:
    """Analyse and store one video; reports stages "load", "flow", "model", "save".

    Raises:
        core.progress.Cancelled: ``cancel`` was set (nothing is stored).
        ValueError / OSError: bad video, no face, bad checkpoint … (messages name the file).
    """
    cancel = cancel or CancelToken()
    report(progress, "load", 0, 1, f"loading {Path(request.model_spec).name}")
    model = load_curve_model(request.model_spec)
    cancel.raise_if_cancelled()
    flow_config = FlowConfig(roi_set=model.roi_set or request.roi_set)
    result = analyze(request.video.path, model, store=request.project.feature_store(),
                     flow_config=flow_config, postprocess=PostprocessConfig(p=request.threshold_p),
                     workers=request.workers, progress=progress, cancel=cancel)
    cancel.raise_if_cancelled()
    report(progress, "save", 0, 1, "saving the result")
    folder = save_result(result, request.project.result_dir(request.video))
    report(progress, "save", 1, 1, str(folder))
    return result


def load_stored_result(project: Project, video: ProjectVideo, *, n_frames: int | None = None,
                       threshold_p: float | None = None,
                       warn: Callable[[str], None] | None = None) -> AnalysisResult | None:
    """The stored analysis of ``video`` if it was made from this same file, else None.

    Same file: the identity the result recorded (size, mtime, hash of the first MB) matches, or,
    for results without one, the analysed path does; and the frame count equals ``n_frames`` when
    given. An unreadable or outdated result gives None, a log line and a ``warn(message)``.
    ``threshold_p`` re-thresholds the stored curves (post-processing only, no model run).
    """
    folder = project.result_dir(video)
    if not (folder / "curves.h5").is_file():
        return None
    try:
        result = load_result(folder)
        mismatch = _mismatch(result, video, folder, n_frames)
    except (ValueError, OSError, KeyError, TypeError) as exc:
        mismatch = f"cannot be read ({' '.join(str(exc).split())})"
    if mismatch is None:
        _logger.info("%s: showing the stored analysis in %s", video.path, folder)
        if threshold_p is None or abs(threshold_p - result.postprocess.p) < 1e-9:
            return result
        return reinterpret(result, replace(result.postprocess, p=float(threshold_p)))
    message = f"{video.path.name}: the stored analysis {mismatch}; run the analysis again"
    _logger.warning("%s (%s)", message, folder)
    if warn is not None:
        warn(message)
    return None


def _mismatch(result: AnalysisResult, video: ProjectVideo, folder: Path,
              n_frames: int | None) -> str | None:
    """Why ``result`` does not belong to ``video``'s current file (None: it does)."""
    if n_frames is not None and result.traces.n_frames != n_frames:
        return f"has {result.traces.n_frames} frames, the video {n_frames}"
    if not Path(video.path).exists():
        return f"cannot be checked: {video.path} is missing"
    stored = result_source(folder)
    if stored is not None:
        if not same_content(stored, source_identity(video.path)):
            return "was made from an earlier version of the file"
        return None
    if Path(result.video).resolve() != Path(video.path).resolve():
        return f"was made from {result.video}"
    return None


class _ProgressThrottle:
    """Passes on at most one report per ``min_interval_s`` within a stage (and every last one)."""

    def __init__(self, emit: ProgressCallback, min_interval_s: float) -> None:
        self._emit, self._min_interval_s = emit, min_interval_s
        self._stage, self._last_t = "", 0.0

    def __call__(self, progress: Progress) -> None:
        now = time.monotonic()
        if (progress.stage != self._stage or progress.done >= progress.total
                or now - self._last_t >= self._min_interval_s):
            self._stage, self._last_t = progress.stage, now
            self._emit(progress)


class _AnalysisTask(QObject):
    """Runs one request on the worker thread; every signal carries the run's id."""

    progressed = Signal(int, str, int, int, str)   # run id, stage, done, total, message
    ended = Signal(int, str, object)                # run id, "finished"|"failed"|"cancelled", …

    def __init__(self, run_id: int, request: AnalysisRequest, cancel: CancelToken,
                 min_interval_s: float) -> None:
        super().__init__()
        self._run_id, self._request, self._cancel = run_id, request, cancel
        self._min_interval_s = min_interval_s

    @Slot()
    def run(self) -> None:
        request, started = self._request, time.perf_counter()
        _logger.info("analysis of %s with %s started", request.video.path, request.model_spec)
        throttle = _ProgressThrottle(
            lambda p: self.progressed.emit(self._run_id, p.stage, p.done, p.total, p.message),
            self._min_interval_s)
        try:
            result = run_analysis(request, throttle, self._cancel)
        except Cancelled:
            _logger.info("analysis of %s cancelled", request.video.path)
            outcome: tuple[str, object] = ("cancelled", None)
        except (ValueError, OSError) as exc:
            message = _failure_message(request, exc)
            _logger.warning("analysis failed: %s", message)
            outcome = ("failed", message)
        except Exception as exc:  # anything else is a bug: log it whole, tell the user briefly
            _logger.exception("analysis of %s failed unexpectedly", request.video.path)
            outcome = ("failed", unexpected_error_message("analysis", exc))
        else:
            _logger.info("analysis of %s finished in %.1f s: %d intervals", request.video.path,
                         time.perf_counter() - started, len(result.intervals))
            outcome = ("finished", result)
        QThread.currentThread().quit()     # the thread ends once this slot returns
        self.ended.emit(self._run_id, *outcome)


def _failure_message(request: AnalysisRequest, exc: BaseException) -> str:
    """The exception's message on one line, prefixed with the video when it names no file."""
    text = " ".join(str(exc).split())
    named = (request.video.path.name, Path(request.model_spec).name)
    return text if any(name and name in text for name in named) else f"{request.video.path}: {text}"


class AnalysisWorker(QObject):
    """Runs :func:`run_analysis` on its own ``QThread``, one request at a time.

    Signals (delivered on the GUI thread, at most one report per ``min_report_interval_s``):
        progress(str stage, int done, int total, str message): stages "load", "flow", "model",
            "save".
        finished(AnalysisResult): the result, already saved in the project.
        failed(str): what went wrong, naming the file (never a traceback).
        cancelled(): :meth:`cancel` stopped the run; nothing was saved.

    Call :meth:`shutdown` before the owner goes away (it cancels and joins the thread).
    """

    progress = Signal(str, int, int, str)
    finished = Signal(object)
    failed = Signal(str)
    cancelled = Signal()

    def __init__(self, parent: QObject | None = None, *,
                 min_report_interval_s: float = 0.05) -> None:
        super().__init__(parent)
        self._min_interval_s = min_report_interval_s
        self._run_id = 0
        self._thread: QThread | None = None
        self._task: _AnalysisTask | None = None
        self._cancel = CancelToken()
        self.request: AnalysisRequest | None = None

    @property
    def is_running(self) -> bool:
        return self._thread is not None

    def start(self, request: AnalysisRequest) -> None:
        """Start analysing (answer: ``finished``, ``failed`` or ``cancelled``)."""
        if self._thread is not None:
            raise RuntimeError("an analysis is already running")
        self._run_id += 1
        self._cancel = CancelToken()
        self.request = request
        self._thread = QThread(self)
        self._thread.setObjectName("AnalysisThread")
        self._task = _AnalysisTask(self._run_id, request, self._cancel, self._min_interval_s)
        self._task.moveToThread(self._thread)
        self._thread.started.connect(self._task.run)
        self._task.progressed.connect(self._on_task_progressed)
        self._task.ended.connect(self._on_task_ended)
        self._thread.start()

    def cancel(self) -> None:
        """Ask the run to stop at its next frame (answer: ``cancelled``)."""
        self._cancel.cancel()

    def shutdown(self) -> None:
        """Cancel the run and wait for its thread; no signal follows (idempotent)."""
        self._cancel.cancel()
        self._run_id += 1            # answers still queued from the old run are dropped
        self._join()

    def _join(self) -> None:
        if self._thread is not None:
            self._thread.quit()
            self._thread.wait()
            self._thread.deleteLater()
        self._thread, self._task = None, None

    @Slot(int, str, int, int, str)
    def _on_task_progressed(self, run_id: int, stage: str, done: int, total: int,
                            message: str) -> None:
        if run_id == self._run_id:
            self.progress.emit(stage, done, total, message)

    @Slot(int, str, object)
    def _on_task_ended(self, run_id: int, outcome: str, payload: object) -> None:
        if run_id != self._run_id:
            return
        self._join()
        if outcome == "finished":
            self.finished.emit(payload)
        elif outcome == "failed":
            self.failed.emit(str(payload))
        else:
            self.cancelled.emit()

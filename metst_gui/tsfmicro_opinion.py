"""TSFmicro's second opinion on one interval, computed on a worker thread.

:class:`TsfMicroOpinion` lives on the GUI thread; its worker (on its own ``QThread``, started on
the first request) loads a TSFmicro checkpoint once per file (reloaded when the file changes),
keeps the last video open, reads the onset and apex frames, aligns the face crops and runs the
model on the CPU — the same computation as ``metst recognize``
(:func:`core.interval_stats.tsfmicro_probabilities`). The newest request wins: a request a newer
one replaced is skipped, and an answer to it is dropped. Answers are cached per (checkpoint,
video, onset, apex), so re-selecting an interval shows its opinion at once.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from core.interval_stats import tsfmicro_probabilities
from core.video import FrameSource, open_source

__all__ = ["TsfMicroOpinion"]

# checkpoint, its (mtime ns, size), video, onset_frame, apex_frame
_Key = tuple[str, tuple[int, int], str, int, int]


def _file_stamp(path: Path) -> tuple[int, int]:
    """(mtime in ns, size) of a file; (0, 0) when it cannot be read (the loader will say why)."""
    try:
        stat = path.stat()
    except OSError:
        return 0, 0
    return stat.st_mtime_ns, stat.st_size


class _OpinionWorker(QObject):
    """Holds the loaded models and the open video; its slots run on the opinion thread."""

    finished = Signal(int, object, object)  # request id, class names, probabilities
    failed = Signal(int, str)  # request id, message naming the file

    def __init__(self, latest_request_id: Callable[[], int]) -> None:
        super().__init__()
        self._latest_request_id = latest_request_id
        self._models: dict[Path, tuple[tuple[int, int], Any]] = {}  # path → (stamp, TsfMicro)
        self._source: FrameSource | None = None

    @Slot(int, str, str, int, int)
    def recognize(self, request_id: int, checkpoint: str, video: str, onset_frame: int,
                  apex_frame: int) -> None:
        """Probabilities of ``checkpoint``'s classes for the interval, unless a newer request
        has replaced this one."""
        if request_id != self._latest_request_id():
            return
        try:
            model = self._model(Path(checkpoint))
            probabilities = tsfmicro_probabilities(model, self._open(Path(video)), onset_frame,
                                                   apex_frame)
        except Exception as exc:  # noqa: BLE001 - any failure becomes a message, never a crash
            self.failed.emit(request_id, _message(exc, Path(checkpoint), Path(video)))
            return
        self.finished.emit(request_id, list(probabilities), list(probabilities.values()))

    def close(self) -> None:
        """Close the open video and drop the models (call after the thread has finished)."""
        if self._source is not None:
            self._source.close()
            self._source = None
        self._models.clear()

    def _model(self, path: Path) -> Any:
        from core.models.checkpoint import CheckpointError, load_checkpoint

        path = path.absolute()
        stamp = _file_stamp(path)
        cached = self._models.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        model, meta = load_checkpoint(path)
        if meta.model_name != "tsfmicro":
            raise CheckpointError(path, f"a {meta.model_name} checkpoint, not TSFmicro; pick a "
                                  "TSFmicro checkpoint in Analysis settings")
        self._models[path] = (stamp, model)
        return model

    def _open(self, path: Path) -> FrameSource:
        if self._source is None or Path(self._source.path) != path.absolute():
            if self._source is not None:
                self._source.close()
                self._source = None
            self._source = open_source(path)
        return self._source


def _message(exc: Exception, checkpoint: Path, video: Path) -> str:
    """One line naming the file at fault (the checkpoint for loading problems)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    if checkpoint.name in text or video.name in text:
        return text
    return f"{checkpoint.name} on {video.name}: {text}"


class TsfMicroOpinion(QObject):
    """Runs TSFmicro on one interval off the GUI thread; the newest request wins.

    Signals (delivered on the GUI thread):
        result(list[str] class_names, list[float] probs): the newest request's probabilities.
        failed(str): the newest request failed; the message names the file (checkpoint or video).

    Call :meth:`stop` before the owner is deleted (its ``closeEvent`` / ``shutdown``).
    """

    result = Signal(object, object)
    failed = Signal(str)

    _recognize_requested = Signal(int, str, str, int, int)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._request_ids = itertools.count(1)
        self._latest_request_id = 0  # written on the GUI thread only; the worker reads it
        self._pending_key: _Key | None = None
        self._cache: dict[_Key, tuple[list[str], list[float]]] = {}
        self._thread: QThread | None = None
        self._worker: _OpinionWorker | None = None

    @property
    def is_running(self) -> bool:
        """Whether the worker thread is running (it starts with the first request)."""
        return self._thread is not None and self._thread.isRunning()

    def request(self, checkpoint: str | Path, video: str | Path, onset_frame: int,
                apex_frame: int) -> None:
        """Ask for TSFmicro's opinion on ``[onset_frame … apex_frame]`` of ``video``.

        Answers with ``result`` or ``failed`` (at once when the answer is cached; a checkpoint
        file that changed since is run again).
        """
        checkpoint_path = Path(checkpoint).absolute()
        key = (str(checkpoint_path), _file_stamp(checkpoint_path), str(Path(video).absolute()),
               int(onset_frame), int(apex_frame))
        request_id = next(self._request_ids)
        self._latest_request_id = request_id
        if key in self._cache:
            self._pending_key = None
            class_names, probs = self._cache[key]
            self.result.emit(list(class_names), list(probs))
            return
        self._pending_key = key
        self._ensure_thread()
        self._recognize_requested.emit(request_id, key[0], key[2], key[3], key[4])

    def cancel(self) -> None:
        """Forget pending requests: their answers will not be emitted."""
        self._latest_request_id = next(self._request_ids)
        self._pending_key = None

    def stop(self) -> None:
        """Drop pending requests, stop the worker thread and release its files (idempotent)."""
        self.cancel()
        if self._thread is not None:
            self._thread.quit()
            self._thread.wait()
        if self._worker is not None:
            self._worker.close()  # safe: the worker thread has finished

    def _ensure_thread(self) -> None:
        if self.is_running:
            return
        if self._thread is None:
            self._thread = QThread(self)
            self._thread.setObjectName("TsfMicroOpinionThread")
            self._worker = _OpinionWorker(lambda: self._latest_request_id)
            self._worker.moveToThread(self._thread)
            self._recognize_requested.connect(self._worker.recognize)
            self._worker.finished.connect(self._on_worker_finished)
            self._worker.failed.connect(self._on_worker_failed)
        self._thread.start()

    @Slot(int, object, object)
    def _on_worker_finished(self, request_id: int, class_names: list[str],
                            probs: list[float]) -> None:
        if request_id != self._latest_request_id or self._pending_key is None:
            return
        self._cache[self._pending_key] = (class_names, probs)
        self._pending_key = None
        self.result.emit(list(class_names), list(probs))

    @Slot(int, str)
    def _on_worker_failed(self, request_id: int, message: str) -> None:
        if request_id == self._latest_request_id:
            self._pending_key = None
            self.failed.emit(message)

"""Opening videos and decoding frames on a worker thread, newest request first.

:class:`FrameLoader` lives on the GUI thread; the :class:`core.video.FrameSource` it reads lives
on its own ``QThread`` (opened, read and closed there), so a slow open or decode never blocks the
window. Each request gets an id; a request that a newer one replaced before the worker reached it
is skipped, and a result that arrives after a newer request is dropped, so scrubbing shows the
frame the user stopped at, not a backlog.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PySide6.QtCore import QObject, QThread, Signal, Slot
from PySide6.QtGui import QImage

from core.video import FrameSource, VideoError, open_source

__all__ = ["FrameLoader", "VideoInfo", "bgr_to_qimage"]


@dataclass(frozen=True)
class VideoInfo:
    """What the window needs to know about an opened video (a file or a folder of frames)."""

    path: Path
    fps: float
    n_frames: int
    width: int
    height: int

    @classmethod
    def from_source(cls, source: FrameSource) -> VideoInfo:
        return cls(Path(source.path), float(source.fps), int(source.n_frames),
                   int(source.width), int(source.height))


def bgr_to_qimage(frame_bgr: np.ndarray) -> QImage:
    """A frame ``(H, W, 3) uint8`` BGR as an RGB888 ``QImage`` that owns its pixels (a copy)."""
    if frame_bgr.ndim != 3 or frame_bgr.shape[2] != 3 or frame_bgr.dtype != np.uint8:
        raise ValueError(f"expected a (H, W, 3) uint8 BGR frame, got {frame_bgr.shape} "
                         f"{frame_bgr.dtype}")
    frame_rgb = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB)  # (H, W, 3), a new contiguous array
    height, width = frame_rgb.shape[:2]
    image = QImage(frame_rgb.data, width, height, frame_rgb.strides[0],
                   QImage.Format.Format_RGB888)
    return image.copy()  # the QImage above only borrows frame_rgb's buffer


def _error_message(path: Path, exc: Exception) -> str:
    """The exception's message, prefixed with the file when the message does not name it."""
    message = str(exc)
    return message if path.name in message else f"{path}: {message}"


class _DecodeWorker(QObject):
    """Owns the open :class:`FrameSource`; all its slots run on the loader's worker thread."""

    opened = Signal(object)  # VideoInfo
    open_failed = Signal(str)  # message naming the file
    frame_decoded = Signal(int, int, QImage)  # request id, frame_idx, RGB image
    frame_failed = Signal(int, int, str)  # request id, frame_idx, message

    def __init__(self, latest_request_id: Callable[[], int]) -> None:
        super().__init__()
        self._latest_request_id = latest_request_id
        self._source: FrameSource | None = None

    @Slot(str)
    def open(self, path_str: str) -> None:
        """Open ``path_str``; on success replace the current source, on failure keep it."""
        path = Path(path_str)
        try:
            source = open_source(path)
        except (VideoError, OSError) as exc:
            self.open_failed.emit(_error_message(path, exc))
            return
        self.close_source()
        self._source = source
        self.opened.emit(VideoInfo.from_source(source))

    @Slot(int, int)
    def decode(self, request_id: int, frame_idx: int) -> None:
        """Decode ``frame_idx`` unless a newer request has replaced this one."""
        if request_id != self._latest_request_id() or self._source is None:
            return
        try:
            image = bgr_to_qimage(self._source.read(frame_idx))
        except (VideoError, OSError) as exc:
            self.frame_failed.emit(request_id, frame_idx,
                                   _error_message(Path(self._source.path), exc))
            return
        self.frame_decoded.emit(request_id, frame_idx, image)

    def close_source(self) -> None:
        if self._source is not None:
            self._source.close()
            self._source = None


class FrameLoader(QObject):
    """Opens a video and decodes its frames on a worker thread; the newest request wins.

    Signals (all delivered on the GUI thread):
        opened(VideoInfo): :meth:`open` succeeded; the loader now reads this video.
        open_failed(str): :meth:`open` failed (message names the file); the old video stays open.
        frame_ready(int frame_idx, QImage): the newest requested frame, RGB888.
        frame_failed(int frame_idx, str): decoding the newest requested frame failed.

    Call :meth:`stop` before the loader is deleted (the owning widget's ``closeEvent`` does).
    """

    opened = Signal(object)
    open_failed = Signal(str)
    frame_ready = Signal(int, QImage)
    frame_failed = Signal(int, str)

    _open_requested = Signal(str)
    _decode_requested = Signal(int, int)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._request_ids = itertools.count(1)
        # Written on the GUI thread only; the worker reads it (an int read is atomic).
        self._latest_request_id = 0
        self._thread = QThread(self)
        self._thread.setObjectName("FrameLoaderThread")
        self._worker = _DecodeWorker(lambda: self._latest_request_id)
        self._worker.moveToThread(self._thread)
        self._open_requested.connect(self._worker.open)
        self._decode_requested.connect(self._worker.decode)
        self._worker.opened.connect(self._on_worker_opened)
        self._worker.open_failed.connect(self._on_worker_open_failed)
        self._worker.frame_decoded.connect(self._on_worker_frame_decoded)
        self._worker.frame_failed.connect(self._on_worker_frame_failed)
        self._thread.start()

    @property
    def is_running(self) -> bool:
        """Whether the worker thread is running (False after :meth:`stop`)."""
        return self._thread.isRunning()

    def open(self, path: str | Path) -> None:
        """Open a video file or a folder of frames; answers with ``opened`` or ``open_failed``."""
        self._next_request_id()  # frames requested for the old video are now stale
        self._open_requested.emit(str(path))

    def request_frame(self, frame_idx: int) -> None:
        """Ask for ``frame_idx`` (answer: ``frame_ready``, unless a newer request comes first)."""
        self._decode_requested.emit(self._next_request_id(), int(frame_idx))

    def stop(self) -> None:
        """Drop pending requests, stop the worker thread and close the video (idempotent)."""
        self._latest_request_id = -1  # every pending request is now stale
        self._thread.quit()
        self._thread.wait()
        self._worker.close_source()  # safe: the worker thread has finished

    def _next_request_id(self) -> int:
        self._latest_request_id = next(self._request_ids)
        return self._latest_request_id

    def _is_latest(self, request_id: int) -> bool:
        return request_id == self._latest_request_id

    @Slot(object)
    def _on_worker_opened(self, info: VideoInfo) -> None:
        if self._thread.isRunning():  # an answer arriving after stop() is dropped
            self.opened.emit(info)

    @Slot(str)
    def _on_worker_open_failed(self, message: str) -> None:
        if self._thread.isRunning():
            self.open_failed.emit(message)

    @Slot(int, int, QImage)
    def _on_worker_frame_decoded(self, request_id: int, frame_idx: int, image: QImage) -> None:
        if self._is_latest(request_id):
            self.frame_ready.emit(frame_idx, image)

    @Slot(int, int, str)
    def _on_worker_frame_failed(self, request_id: int, frame_idx: int, message: str) -> None:
        if self._is_latest(request_id):
            self.frame_failed.emit(frame_idx, message)

"""Opening videos and decoding frames on a worker thread, newest request first, with a frame cache.

:class:`FrameLoader` lives on the GUI thread; the :class:`core.video.FrameSource` lives on its own
``QThread``, so a slow open or decode never blocks the window. A request that a newer one replaced
before the worker reached it is skipped, a result arriving after a newer request is dropped:
scrubbing shows the frame the user stopped at, not a backlog. Decoded frames stay in an LRU
:class:`FrameCache`; a cached frame is answered without the worker, still on the next turn of the
event loop and only if no newer request came. After each answer the worker prefetches around the
frame (:meth:`FrameLoader.set_prefetch`; sequential decoding costs ~1 ms a frame, a seek tens of
ms), stopping before its next frame when a newer request comes. With overlays on, it also finds
each decoded frame's face (:class:`~metst_gui.overlay_source.OverlaySource`): ``geometry_ready``.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PySide6.QtCore import QObject, Qt, QThread, QTimer, Signal, Slot
from PySide6.QtGui import QImage

from core.store import FeatureStore
from core.video import FrameSource, VideoError, open_source
from metst_gui.overlay_source import FaceGeometry, OverlaySource

__all__ = ["FrameLoader", "FrameCache", "VideoInfo", "bgr_to_qimage", "CACHE_MAX_FRAMES",
           "CACHE_MAX_BYTES"]

CACHE_MAX_FRAMES = 64
CACHE_MAX_BYTES = 64 * 640 * 360 * 3  # 64 frames of 640 × 360 RGB, ~44 MB


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


class FrameCache:
    """Least-recently-used decoded frames, bounded by a frame count and by bytes."""

    def __init__(self, max_frames: int = CACHE_MAX_FRAMES,
                 max_bytes: int = CACHE_MAX_BYTES) -> None:
        if max_frames < 1 or max_bytes < 1:
            raise ValueError(f"the cache needs room for a frame, got {max_frames=}, {max_bytes=}")
        self.max_frames, self.max_bytes = max_frames, max_bytes
        self._images: OrderedDict[int, QImage] = OrderedDict()
        self.nbytes = 0

    def __contains__(self, frame_idx: int) -> bool:
        return frame_idx in self._images

    def frame_indices(self) -> list[int]:
        """Cached frames, least recently used first."""
        return list(self._images)

    def capacity(self, frame_bytes: int) -> int:
        """How many frames of ``frame_bytes`` bytes fit (at least 1)."""
        return max(1, min(self.max_frames, self.max_bytes // max(frame_bytes, 1)))

    def get(self, frame_idx: int) -> QImage | None:
        """The cached frame (now the most recently used), or None."""
        image = self._images.get(frame_idx)
        if image is not None:
            self._images.move_to_end(frame_idx)
        return image

    def put(self, frame_idx: int, image: QImage) -> None:
        """Keep ``image`` as frame ``frame_idx``, evicting the least recently used over bounds."""
        if frame_idx in self._images:
            self.nbytes -= self._images.pop(frame_idx).sizeInBytes()
        self._images[frame_idx] = image
        self.nbytes += image.sizeInBytes()
        while len(self._images) > 1 and (len(self._images) > self.max_frames
                                         or self.nbytes > self.max_bytes):
            _, evicted = self._images.popitem(last=False)
            self.nbytes -= evicted.sizeInBytes()


def _error_message(path: Path, exc: Exception) -> str:
    """The exception's message, prefixed with the file when the message does not name it."""
    message = str(exc)
    return message if path.name in message else f"{path}: {message}"


@dataclass(frozen=True)
class _Job:
    """Frames to decode in order while ``request_id`` is the newest (``requested``: answer it, else
    prefetch); answers for an older ``generation`` (video) or ``overlay_epoch`` are dropped."""

    generation: int
    overlay_epoch: int
    request_id: int
    frame_indices: tuple[int, ...]
    with_geometry: bool
    requested: bool


class _DecodeWorker(QObject):
    """Owns the open :class:`FrameSource`; all its slots run on the loader's worker thread."""

    opened = Signal(object)  # VideoInfo
    open_failed = Signal(str)  # message naming the file
    decoded = Signal(object, int, QImage)  # _Job, frame_idx, RGB image
    geometry_found = Signal(object, int, object)  # _Job, frame_idx, FaceGeometry | None
    frame_failed = Signal(int, int, str)  # request id, frame_idx, message
    overlay_failed = Signal(str)

    def __init__(self, latest_request_id: Callable[[], int]) -> None:
        super().__init__()
        self._latest_request_id = latest_request_id
        self._source: FrameSource | None = None
        self._store: FeatureStore | None = None
        self._overlays: OverlaySource | None = None
        self._overlays_broken = False

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
        self._overlays = None
        self.opened.emit(VideoInfo.from_source(source))

    @Slot(object)
    def set_store(self, store: FeatureStore | None) -> None:
        self._store = store
        self._overlays = None

    def _is_current(self, job: _Job) -> bool:
        return job.request_id == self._latest_request_id() and self._source is not None

    @Slot(object)
    def decode(self, job: _Job) -> None:
        """Decode the job's frames in order (each before its face), until a newer request."""
        for frame_idx in job.frame_indices:
            if not self._is_current(job):
                return
            try:
                frame_bgr = self._source.read(frame_idx)
            except (VideoError, OSError, IndexError) as exc:
                if job.requested:
                    self.frame_failed.emit(job.request_id, frame_idx,
                                           _error_message(Path(self._source.path), exc))
                return
            self.decoded.emit(job, frame_idx, bgr_to_qimage(frame_bgr))
            if job.with_geometry and self._is_current(job):  # kept by the OverlaySource
                geometry = self._geometry(frame_idx, lambda bgr=frame_bgr: cv2.cvtColor(
                    bgr, cv2.COLOR_BGR2GRAY))
                if job.requested:
                    self.geometry_found.emit(job, frame_idx, geometry)

    @Slot(object)
    def measure(self, job: _Job) -> None:
        """The face in the job's one frame (known when it was prefetched, else found now)."""
        if self._is_current(job):
            frame_idx = job.frame_indices[0]
            geometry = self._geometry(frame_idx, lambda: self._source.read_gray(frame_idx))
            self.geometry_found.emit(job, frame_idx, geometry)

    def _geometry(self, frame_idx: int,
                  frame_gray: Callable[[], np.ndarray]) -> FaceGeometry | None:
        if self._overlays_broken:
            return None
        if self._overlays is None:
            self._overlays = OverlaySource(self._source.path, self._store)
        try:
            return self._overlays.geometry(frame_idx, frame_gray)
        except (FileNotFoundError, ImportError, RuntimeError, VideoError, OSError) as exc:
            self._overlays_broken = True  # say it once, then draw no overlays
            self.overlay_failed.emit(f"cannot find faces for the overlays: {exc}")
            return None

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
        geometry_ready(int frame_idx, object): with overlays on, the newest requested frame's
            :class:`FaceGeometry` (None: no face), after that frame's ``frame_ready``.
        overlay_failed(str): faces cannot be found (e.g. dlib's model is missing); said once.

    Call :meth:`stop` before the loader is deleted (the owning widget's ``closeEvent`` does).
    """

    opened = Signal(object)
    open_failed = Signal(str)
    frame_ready = Signal(int, QImage)
    frame_failed = Signal(int, str)
    geometry_ready = Signal(int, object)
    overlay_failed = Signal(str)

    _open_requested = Signal(str)
    _store_changed = Signal(object)
    _decode_requested = Signal(object)
    _measure_requested = Signal(object)
    _cached_answer = Signal(int, int)  # request id, frame_idx; queued to self

    def __init__(self, parent: QObject | None = None, *, cache_max_frames: int = CACHE_MAX_FRAMES,
                 cache_max_bytes: int = CACHE_MAX_BYTES) -> None:
        super().__init__(parent)
        self._request_ids = itertools.count(1)
        # Written on the GUI thread only; the worker reads it (an int read is atomic).
        self._latest_request_id = 0
        self._generation = 0
        self._overlay_epoch = 0
        self._video: VideoInfo | None = None
        self._frames = FrameCache(cache_max_frames, cache_max_bytes)
        self._overlays_enabled = False
        self._prefetch = (0, 0, 0)  # frames ahead, frames behind, delay_ms
        self._prefetch_timer = QTimer(self)
        self._prefetch_timer.setSingleShot(True)
        self._prefetch_timer.timeout.connect(self._send_prefetch)
        self._prefetch_around: tuple[int, int] | None = None  # (request id, frame_idx)
        self._thread = QThread(self)
        self._thread.setObjectName("FrameLoaderThread")
        self._worker = _DecodeWorker(lambda: self._latest_request_id)
        self._worker.moveToThread(self._thread)
        self._open_requested.connect(self._worker.open)
        self._store_changed.connect(self._worker.set_store)
        self._decode_requested.connect(self._worker.decode)
        self._measure_requested.connect(self._worker.measure)
        self._worker.opened.connect(self._on_worker_opened)
        self._worker.open_failed.connect(self._on_worker_open_failed)
        self._worker.decoded.connect(self._on_worker_decoded)
        self._worker.geometry_found.connect(self._on_worker_geometry_found)
        self._worker.frame_failed.connect(self._on_worker_frame_failed)
        self._worker.overlay_failed.connect(self.overlay_failed)
        self._cached_answer.connect(self._on_cached_answer, Qt.ConnectionType.QueuedConnection)
        self._thread.start()

    @property
    def is_running(self) -> bool:
        """Whether the worker thread is running (False after :meth:`stop`)."""
        return self._thread.isRunning()

    @property
    def cache(self) -> FrameCache:
        """The decoded frames kept (read-only use: ``in``, ``frame_indices()``, ``get``)."""
        return self._frames

    def open(self, path: str | Path) -> None:
        """Open a video file or a folder of frames; answers with ``opened`` or ``open_failed``."""
        self._next_request_id()  # frames requested for the old video are now stale
        self._generation += 1
        self._frames = FrameCache(self._frames.max_frames, self._frames.max_bytes)
        self._open_requested.emit(str(path))

    def request_frame(self, frame_idx: int) -> None:
        """Ask for ``frame_idx`` (answer: ``frame_ready``, unless a newer request comes first)."""
        frame_idx = int(frame_idx)
        request_id = self._next_request_id()
        self._prefetch_timer.stop()
        if frame_idx in self._frames:
            self._cached_answer.emit(request_id, frame_idx)
        else:
            self._decode_requested.emit(self._job(request_id, (frame_idx,), True))

    def set_prefetch(self, ahead: int, behind: int = 0, delay_ms: int = 0) -> None:
        """After each answered request, decode up to ``ahead`` frames after it and ``behind``
        before it into the cache, ``delay_ms`` after the request if no newer one came (0: at
        once). The window is cut to what the cache holds. ``set_prefetch(0)`` turns it off."""
        self._prefetch = (max(0, ahead), max(0, behind), max(0, delay_ms))

    def set_overlays_enabled(self, enabled: bool) -> None:
        """Find the face of the frames decoded from now on (``geometry_ready`` answers)."""
        self._overlays_enabled = enabled

    def set_feature_store(self, store: FeatureStore | None) -> None:
        """Take face geometry from this store when it holds the video (else detect it)."""
        self._overlay_epoch += 1
        self._store_changed.emit(store)

    def stop(self) -> None:
        """Drop pending requests, stop the worker thread and close the video (idempotent)."""
        self._latest_request_id = -1  # every pending request is now stale
        self._prefetch_timer.stop()
        self._thread.quit()
        self._thread.wait()
        self._worker.close_source()  # safe: the worker thread has finished

    def _next_request_id(self) -> int:
        self._latest_request_id = next(self._request_ids)
        return self._latest_request_id

    def _is_latest(self, request_id: int) -> bool:
        return request_id == self._latest_request_id

    def _job(self, request_id: int, frame_indices: tuple[int, ...], requested: bool) -> _Job:
        return _Job(self._generation, self._overlay_epoch, request_id, frame_indices,
                    self._overlays_enabled, requested)

    def _answer(self, request_id: int, frame_idx: int, image: QImage) -> None:
        """Hand the newest requested frame out and prefetch around it."""
        self.frame_ready.emit(frame_idx, image)
        if (self._prefetch[0] or self._prefetch[1]) and self._video is not None:
            self._prefetch_around = (request_id, frame_idx)
            self._prefetch_timer.start(self._prefetch[2])

    @Slot()
    def _send_prefetch(self) -> None:
        if self._prefetch_around is None or not self._is_latest(self._prefetch_around[0]):
            return
        request_id, frame_idx = self._prefetch_around
        frame_bytes = self._video.width * self._video.height * 3
        room = self._frames.capacity(frame_bytes) - 2  # the shown frame and one spare
        ahead = min(self._prefetch[0], max(room, 0))
        behind = min(self._prefetch[1], max(room - ahead, 0))
        wanted = [*range(frame_idx + 1, min(frame_idx + 1 + ahead, self._video.n_frames)),
                  *range(max(frame_idx - behind, 0), frame_idx)]  # sequential runs, ahead first
        missing = tuple(i for i in wanted if i not in self._frames)
        if missing:
            self._decode_requested.emit(self._job(request_id, missing, False))

    @Slot(int, int)
    def _on_cached_answer(self, request_id: int, frame_idx: int) -> None:
        if not self._is_latest(request_id):
            return
        image = self._frames.get(frame_idx)
        if image is None:  # evicted since the request: decode it after all
            self._decode_requested.emit(self._job(request_id, (frame_idx,), True))
            return
        self._answer(request_id, frame_idx, image)
        if self._overlays_enabled:  # the worker knows it (prefetched) or finds it now
            self._measure_requested.emit(self._job(request_id, (frame_idx,), True))

    @Slot(object)
    def _on_worker_opened(self, info: VideoInfo) -> None:
        if self._thread.isRunning():  # an answer arriving after stop() is dropped
            self._video = info
            self.opened.emit(info)

    @Slot(str)
    def _on_worker_open_failed(self, message: str) -> None:
        if self._thread.isRunning():
            self.open_failed.emit(message)

    @Slot(object, int, QImage)
    def _on_worker_decoded(self, job: _Job, frame_idx: int, image: QImage) -> None:
        if job.generation != self._generation:
            return  # a frame of a video opened before
        self._frames.put(frame_idx, image)
        if job.requested and self._is_latest(job.request_id):
            self._answer(job.request_id, frame_idx, image)

    @Slot(object, int, object)
    def _on_worker_geometry_found(self, job: _Job, frame_idx: int,
                                  geometry: FaceGeometry | None) -> None:
        if (job.generation, job.overlay_epoch, job.request_id) == (
                self._generation, self._overlay_epoch, self._latest_request_id):
            self.geometry_ready.emit(frame_idx, geometry)

    @Slot(int, int, str)
    def _on_worker_frame_failed(self, request_id: int, frame_idx: int, message: str) -> None:
        if self._is_latest(request_id):
            self.frame_failed.emit(frame_idx, message)

"""Frame sources: frame-accurate random and sequential access to videos and frame folders.

:func:`open_source` opens a video file as a :class:`VideoFileSource` (OpenCV's FFmpeg backend)
and a folder of numbered images as an :class:`ImageFolderSource`. Both hand out frames as
``(H, W, 3) uint8`` BGR or ``(H, W) uint8`` grey, indexed by 0-based ``frame_idx``.

**Video files.** ``CAP_PROP_FRAME_COUNT`` and ``CAP_PROP_POS_FRAMES`` seeks cannot be trusted
(the container may list frames the decoder never produces; seeking a variable-frame-rate file
lands frames away from the target). A source therefore keeps a *frame index*: the presentation
time of every frame a sequential decode produces. It is read cheaply from the container's packet
timestamps (no decoding), then checked against the decoder at both ends (the first frame, and
the last group of pictures up to the end of the stream); if anything disagrees, every frame is
decoded once instead. ``read(i)`` decodes forward when that is cheaper than a seek, otherwise
seeks by time to frame ``i`` (aimed early by the drift OpenCV's frame counting accumulates in
variable-frame-rate files), identifies the frame it landed on by its timestamp, steps further
back if it overshot, and decodes forward to ``i``: it returns exactly the pixels of the
``i``-th frame of a sequential decode. Every decoded frame's timestamp
is checked against the index; a disagreement rebuilds the index by decoding every frame, and
if seeking still misbehaves the source falls back to decoding from the start (slow, exact).

A truncated file (e.g. a download cut short) opens if its header survived: ``n_frames`` is then
the honest number of frames that decode, smaller than the container's ``claimed_n_frames``. A
file whose header is gone (or that is no video at all) raises :class:`VideoError`.

**Frame folders.** The time axis is preserved: a missing image keeps its index, reads as the
nearest available frame (the previous one, else the next) and is listed in
``missing_indices`` / :meth:`FrameSource.gaps`. Layouts:

- CAS(ME)^3 ``<subject>/<video>/color/<n>.jpg`` (0-based, not zero-padded; most videos lost
  their first 7-8 frames): ``frame_idx == n``, 30 fps. The ``color`` folder or its parent may
  be passed.
- SAMM Long Videos ``<SSS_V>/<SSS_V>_<NNNN>.jpg`` (1-based): ``frame_idx == NNNN - 1``, 200 fps.
- Any other ``<prefix><number>.<jpg|png|bmp|tif>``: numbering starts at 0 if a ``0`` image
  exists or the names are bare numbers, else at 1 (``first_number`` overrides); 30 fps.

Numbers sort numerically, never lexically. ``read_gray`` on a folder decodes the image straight
to grey (``cv2.IMREAD_GRAYSCALE``): for JPEGs that is the decoder's luma, which can differ from
``cvtColor(read(i))`` by a few grey levels.

Sources pickle by path and arguments (plus the small frame index): a worker process reopens
the video on its first read. Bad input raises :class:`VideoError` naming the file and what is
wrong; an out-of-range ``frame_idx`` raises ``IndexError``.
"""

from __future__ import annotations

import abc
import hashlib
import math
import operator
import os
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

import cv2
import numpy as np

__all__ = [
    "VideoError",
    "FrameSource",
    "VideoFileSource",
    "ImageFolderSource",
    "open_source",
    "source_identity",
    "same_content",
    "CASME3_FPS",
    "SAMM_FPS",
    "DEFAULT_FPS",
]

CASME3_FPS = 30.0
SAMM_FPS = 200.0
DEFAULT_FPS = 30.0

_T = TypeVar("_T")
_HASH_BYTES = 1 << 20  # source_identity hashes the first MiB
_SEEK_OVERHEAD_FRAMES = 4  # a seek (flush, container seek) costs about this many decodes
_SEEK_MARGIN_MIN_FRAMES = 4  # first step back after a seek overshoots; then x4 per retry
_OPENCV_SEEK_LEAD_FRAMES = 16  # OpenCV's seek starts decoding from a keyframe this far back
_MAX_MISSING_PER_IMAGE = 4  # numbers sparser than this are not frame numbers (e.g. timestamps)
_IMAGE_NAME = re.compile(r"(?P<prefix>.*?)(?P<number>\d+)\.(?P<ext>jpe?g|png|bmp|tiff?)",
                         re.IGNORECASE)


class VideoError(ValueError):
    """A video file or frame folder that cannot be used.

    The message is ``"<path>: <problem>"``; ``path`` and ``problem`` are kept as attributes.
    """

    def __init__(self, path: str | os.PathLike[str], problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = Path(path)
        self.problem = problem

    def __reduce__(self) -> tuple[type[VideoError], tuple[Path, str]]:
        return type(self), (self.path, self.problem)  # picklable across worker processes


class FrameSource(abc.ABC):
    """Frames of one video, by 0-based ``frame_idx``; use as a context manager or call close().

    Attributes: ``path`` (absolute), ``fps``, ``n_frames``, ``width``, ``height`` and
    ``missing_indices`` (frame indices with no image of their own, read as a neighbour).
    """

    path: Path
    fps: float
    n_frames: int
    width: int
    height: int
    missing_indices: tuple[int, ...]

    def read(self, frame_idx: int) -> np.ndarray:
        """Frame ``frame_idx`` as ``(H, W, 3) uint8`` BGR (a new array)."""
        return self._read(self._checked_index(frame_idx), gray=False)

    def read_gray(self, frame_idx: int) -> np.ndarray:
        """Frame ``frame_idx`` as ``(H, W) uint8`` grey (a new array)."""
        return self._read(self._checked_index(frame_idx), gray=True)

    def iter_frames(self, start: int = 0, stop: int | None = None,
                    gray: bool = False) -> Iterator[tuple[int, np.ndarray]]:
        """Decode frames ``[start, stop)`` in order, yielding ``(frame_idx, frame)``.

        Frames are ``(H, W, 3) uint8`` BGR, or ``(H, W) uint8`` with ``gray=True``; each is a new
        array. The range is checked now (``IndexError``), not at the first ``next()``.
        """
        stop = self.n_frames if stop is None else operator.index(stop)
        start = operator.index(start)
        if not 0 <= start <= stop <= self.n_frames:
            raise IndexError(f"{self.path}: frame range [{start}, {stop}) is not within "
                             f"[0, {self.n_frames}]")
        return self._iter(start, stop, gray)

    def gaps(self) -> list[tuple[int, int]]:
        """Runs of missing frames as ``(start, stop)`` index ranges, in order."""
        runs: list[tuple[int, int]] = []
        for frame_idx in self.missing_indices:
            if runs and runs[-1][1] == frame_idx:
                runs[-1] = (runs[-1][0], frame_idx + 1)
            else:
                runs.append((frame_idx, frame_idx + 1))
        return runs

    @abc.abstractmethod
    def close(self) -> None:
        """Release open decoders (a later read reopens them)."""

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __len__(self) -> int:
        return self.n_frames

    def __repr__(self) -> str:
        return (f"{type(self).__name__}('{self.path}', n_frames={self.n_frames}, "
                f"fps={self.fps:g}, size={self.width}x{self.height})")

    def _checked_index(self, frame_idx: int) -> int:
        frame_idx = operator.index(frame_idx)
        if not 0 <= frame_idx < self.n_frames:
            raise IndexError(f"{self.path}: frame {frame_idx} is out of range; the source has "
                             f"{self.n_frames} frames (0 to {self.n_frames - 1})")
        return frame_idx

    @abc.abstractmethod
    def _read(self, frame_idx: int, gray: bool) -> np.ndarray:
        """One frame at a valid index."""

    @abc.abstractmethod
    def _iter(self, start: int, stop: int, gray: bool) -> Iterator[tuple[int, np.ndarray]]:
        """Frames of a valid range, in order."""


# --------------------------------------------------------------------------- video files


class _IndexMismatch(Exception):
    """The decoder produced a frame the frame index does not predict (internal)."""


@dataclass(frozen=True)
class _FrameIndex:
    """Presentation times of the frames a sequential decode produces, in order.

    ``times_ms``: ``(N,) float64`` as reported by ``CAP_PROP_POS_MSEC`` after each grab.
    ``keyframes``: ``(K,) int64`` sorted frame indices where decoding can restart (may be empty).
    ``exact``: built by decoding every frame (else from container packets, checked at the ends).
    ``seekable``: timestamps are distinct, so the frame a seek lands on can be identified.
    ``container_fps``: the average rate OpenCV's seek converts times to frame counts with.
    """

    times_ms: np.ndarray
    keyframes: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    exact: bool = False
    seekable: bool = True
    container_fps: float = 0.0

    @classmethod
    def build(cls, times_ms: list[float], keyframes: list[int], exact: bool,
              container_fps: float) -> _FrameIndex:
        """An index from display-order times; seekable when the times strictly increase."""
        times = np.asarray(times_ms, np.float64)
        increasing = times.size < 2 or bool(np.diff(times).min() > 0)
        fps = container_fps if math.isfinite(container_fps) and container_fps > 0 else 0.0
        return cls(times, np.unique(np.asarray(keyframes, np.int64)), exact, increasing, fps)

    @property
    def n_frames(self) -> int:
        return int(self.times_ms.size)

    @cached_property
    def _tolerance_ms(self) -> float:
        if self.times_ms.size < 2 or not self.seekable:
            return 1e-6
        return 0.25 * float(np.diff(self.times_ms).min())

    def matches(self, frame_idx: int, time_ms: float) -> bool:
        """Whether a decoded frame with this timestamp is frame ``frame_idx``."""
        return (0 <= frame_idx < self.n_frames
                and abs(self.times_ms[frame_idx] - time_ms) <= self._tolerance_ms)

    def lookup(self, time_ms: float) -> int | None:
        """The frame index with this timestamp, or None if no frame has it."""
        pos = int(np.searchsorted(self.times_ms, time_ms))
        return next((idx for idx in (pos - 1, pos) if self.matches(idx, time_ms)), None)

    def keyframe_at_or_before(self, frame_idx: int) -> int:
        """The last known keyframe at or before ``frame_idx`` (``frame_idx`` if none is known)."""
        pos = int(np.searchsorted(self.keyframes, frame_idx, side="right")) - 1
        return int(self.keyframes[pos]) if pos >= 0 else frame_idx

    @cached_property
    def _count_drift(self) -> np.ndarray:
        """``(N,) float64``: frame index minus OpenCV's count for it (time x average fps)."""
        return np.arange(self.n_frames) - self.times_ms * (self.container_fps / 1000.0)

    def seek_margin(self, frame_idx: int) -> int:
        """How many frames before ``frame_idx`` to aim a seek so that it does not overshoot.

        After a seek OpenCV counts frames from the landed keyframe's time x the average fps;
        in a variable-frame-rate video that count drifts from the true index, and the seek
        overshoots by the drift accumulated since that keyframe (up to two keyframes back).
        """
        if self.container_fps <= 0:
            return 0
        recent_keyframe = self.keyframe_at_or_before(max(frame_idx - _OPENCV_SEEK_LEAD_FRAMES, 0))
        start = self.keyframe_at_or_before(max(recent_keyframe - 1, 0))
        drift = self._count_drift[start:frame_idx + 1]
        return max(0, math.ceil(float(drift.max() - drift[-1]) - 1e-6))

    def seek_cost(self, frame_idx: int) -> int:
        """About how many frames a seek to ``frame_idx`` decodes (OpenCV starts decoding at the
        keyframe before ``target - 16``; unknown keyframes count as being right there)."""
        lead_idx = frame_idx - self.seek_margin(frame_idx) - _OPENCV_SEEK_LEAD_FRAMES
        return frame_idx - self.keyframe_at_or_before(max(lead_idx, 0)) + _SEEK_OVERHEAD_FRAMES

    def truncated(self, start: int, stop: int) -> _FrameIndex:
        """The index of frames ``[start, stop)``, renumbered from 0."""
        keyframes = self.keyframes[(self.keyframes >= start) & (self.keyframes < stop)] - start
        return replace(self, times_ms=self.times_ms[start:stop], keyframes=keyframes)


def _open_capture(path: Path, raw_packets: bool = False) -> cv2.VideoCapture:
    """A VideoCapture on ``path`` (FFmpeg backend), or VideoError if it does not open."""
    params = [cv2.CAP_PROP_FORMAT, -1] if raw_packets else []
    try:
        capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG, params)
        opened = capture.isOpened()
    except cv2.error as error:
        raise VideoError(path, f"cannot open as a video ({error})") from None
    if not opened:
        raise VideoError(path, "cannot open as a video: not a video file, an unsupported "
                               "codec, or a damaged or truncated file")
    return capture


class _Decoder:
    """One VideoCapture and the index of the frame it last decoded (``current``, -1 at start)."""

    def __init__(self, path: Path, index: _FrameIndex) -> None:
        self.path = path
        self.index = index
        self.current = -1
        self._capture = _open_capture(path)
        self._scratch_bgr: np.ndarray | None = None  # reused by gray reads

    def release(self) -> None:
        self._capture.release()

    def grab_next(self) -> bool:
        """Decode the next frame (no colour conversion); False at the end of the stream."""
        if not self._capture.grab():
            return False
        time_ms = self._capture.get(cv2.CAP_PROP_POS_MSEC)
        if not self.index.matches(self.current + 1, time_ms):
            raise _IndexMismatch(f"decoded a frame at {time_ms:.3f} ms where frame "
                                 f"{self.current + 1} was expected")
        self.current += 1
        return True

    def goto(self, frame_idx: int) -> None:
        """Make ``frame_idx`` the current (decoded) frame."""
        if not self._forward_is_cheaper(frame_idx):
            if self.index.seekable:
                self.seek_at_or_before(frame_idx)
            else:
                self.rewind()
        while self.current < frame_idx:
            if not self.grab_next():
                raise _IndexMismatch(f"the stream ended after frame {self.current}")

    def retrieve(self, gray: bool) -> np.ndarray:
        """The current frame: ``(H, W) uint8`` grey or ``(H, W, 3) uint8`` BGR, a new array."""
        if gray:  # decode into the reused BGR buffer and convert from it: one new array
            ok, bgr = self._capture.retrieve(self._scratch_bgr)
            self._scratch_bgr = bgr if ok else None
        else:
            ok, bgr = self._capture.retrieve()
        if not ok or bgr is None:
            raise VideoError(self.path, f"cannot decode frame {self.current}")
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY) if gray else bgr

    def _forward_is_cheaper(self, frame_idx: int) -> bool:
        distance = frame_idx - self.current
        if distance < 0:
            return False
        if not self.index.seekable:
            return True
        return distance <= self.index.seek_cost(frame_idx)

    def rewind(self) -> None:
        """Reopen the capture: the next grab decodes frame 0."""
        self._capture.release()
        self._capture = _open_capture(self.path)
        self.current = -1

    def seek_at_or_before(self, frame_idx: int) -> None:
        """Seek so that the current frame is ``frame_idx`` or earlier (-1: rewound).

        Seeks by time, identifies the landed frame by its timestamp, and steps further back
        (4, 16, 64, ... frames) while the seek overshoots or lands past the end.
        """
        margin = self.index.seek_margin(frame_idx)
        while True:
            target_idx = frame_idx - margin
            if target_idx <= 0:
                self.rewind()
                return
            self._capture.set(cv2.CAP_PROP_POS_MSEC, float(self.index.times_ms[target_idx]))
            landed_idx = self.grab_and_identify()
            if landed_idx is not None and landed_idx <= frame_idx:
                self.current = landed_idx
                return
            margin = max(_SEEK_MARGIN_MIN_FRAMES, 4 * margin)

    def grab_and_identify(self) -> int | None:
        """Grab the next frame and make it current, identified by its timestamp.

        Returns its index, or None at the end of the stream; raises _IndexMismatch for a
        timestamp the index does not hold.
        """
        if not self._capture.grab():
            return None
        time_ms = self._capture.get(cv2.CAP_PROP_POS_MSEC)
        landed_idx = self.index.lookup(time_ms)
        if landed_idx is None:
            raise _IndexMismatch(f"decoded a frame at {time_ms:.3f} ms, which is not in the "
                                 f"index")
        self.current = landed_idx
        return landed_idx


def _index_from_packets(path: Path) -> _FrameIndex | None:
    """Frame times from the container's packets, without decoding (None if unavailable)."""
    try:
        capture = _open_capture(path, raw_packets=True)
    except VideoError:
        return None
    times_ms: list[float] = []
    is_keyframe: list[bool] = []
    try:
        if capture.get(cv2.CAP_PROP_FORMAT) != -1:
            return None
        container_fps = capture.get(cv2.CAP_PROP_FPS)
        while capture.grab():  # packets come in decoding order
            times_ms.append(capture.get(cv2.CAP_PROP_POS_MSEC))
            is_keyframe.append(bool(capture.get(cv2.CAP_PROP_LRF_HAS_KEY_FRAME)))
    finally:
        capture.release()
    if not times_ms:
        return None
    order = np.argsort(times_ms, kind="stable")  # (N,) display order
    keyframes = np.flatnonzero(np.asarray(is_keyframe)[order])
    return _FrameIndex.build(np.asarray(times_ms)[order].tolist(), keyframes.tolist(),
                             exact=False, container_fps=container_fps)


def _index_from_decoding(path: Path) -> _FrameIndex:
    """Frame times from decoding every frame once (exact; slow for long videos)."""
    capture = _open_capture(path)
    times_ms: list[float] = []
    keyframes: list[int] = []
    try:
        container_fps = capture.get(cv2.CAP_PROP_FPS)
        while capture.grab():
            if capture.get(cv2.CAP_PROP_FRAME_TYPE) == ord("I"):
                keyframes.append(len(times_ms))
            times_ms.append(capture.get(cv2.CAP_PROP_POS_MSEC))
    finally:
        capture.release()
    if not times_ms:
        raise VideoError(path, "contains no decodable video frames")
    return _FrameIndex.build(times_ms, keyframes, exact=True, container_fps=container_fps)


def _checked_against_decoder(path: Path, index: _FrameIndex) -> _FrameIndex:
    """Trim a packet index to the frames the decoder produces at the start and at the end.

    Raises _IndexMismatch when the decoder disagrees in any other way.
    """
    decoder = _Decoder(path, index)
    try:
        first_idx = decoder.grab_and_identify()
        if first_idx is None:
            raise _IndexMismatch("the first frame does not decode")
        index = index.truncated(first_idx, index.n_frames)
        decoder.index = index
        decoder.seek_at_or_before(index.keyframe_at_or_before(index.n_frames - 1))
        while decoder.grab_next():
            pass
        if decoder.current < 0:
            raise _IndexMismatch("no frame decodes after a seek")
        return index.truncated(0, decoder.current + 1)
    finally:
        decoder.release()


def _build_index(path: Path) -> _FrameIndex:
    """The frame index of a video: from packets when the decoder agrees, else by decoding."""
    index = _index_from_packets(path)
    if index is not None and index.seekable:
        try:
            return _checked_against_decoder(path, index)
        except _IndexMismatch:
            pass
    return _index_from_decoding(path)


class VideoFileSource(FrameSource):
    """Frames of a video file, decoded with OpenCV (FFmpeg backend), frame-accurate.

    ``claimed_n_frames`` is the container's own count (``CAP_PROP_FRAME_COUNT``, 0 or less if
    unknown); ``n_frames`` counts the frames that actually decode (it is corrected if a later
    read finds the decoder disagreeing with the container mid-stream, as in damaged files).
    The capture opens lazily in each process and is guarded by a lock, so one source may be
    shared between threads; ``iter_frames`` decodes with a capture of its own.
    """

    def __init__(self, path: str | os.PathLike[str], fps: float | None = None) -> None:
        self.path = _absolute(path)
        if not self.path.exists():
            raise VideoError(self.path, "no such file")
        if not self.path.is_file():
            raise VideoError(self.path, "is not a regular file")
        if self.path.stat().st_size == 0:
            raise VideoError(self.path, "is an empty file (0 bytes)")
        capture = _open_capture(self.path)
        try:
            container_fps = capture.get(cv2.CAP_PROP_FPS)
            self.claimed_n_frames = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
            self.width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
            self.height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        finally:
            capture.release()
        self._index = _build_index(self.path)
        self.n_frames = self._index.n_frames
        self.fps = _checked_fps(fps) if fps is not None else self._fps_from(container_fps)
        self.missing_indices = ()
        self._decoder: _Decoder | None = None
        self._lock = threading.RLock()

    def close(self) -> None:
        with self._lock:
            if self._decoder is not None:
                self._decoder.release()
                self._decoder = None

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["_lock"], state["_decoder"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._decoder = None
        self._lock = threading.RLock()

    def _read(self, frame_idx: int, gray: bool) -> np.ndarray:
        def read_once() -> np.ndarray:
            frame_idx_now = self._checked_index(frame_idx)  # n_frames may shrink on a repair
            if self._decoder is None:
                self._decoder = _Decoder(self.path, self._index)
            self._decoder.goto(frame_idx_now)
            return self._decoder.retrieve(gray)

        with self._lock:
            return self._repairing_index(read_once)

    def _iter(self, start: int, stop: int, gray: bool) -> Iterator[tuple[int, np.ndarray]]:
        frame_idx = start
        while frame_idx < stop:  # more than one pass only after an index repair
            decoder = _Decoder(self.path, self._index)  # its own: reads may interleave
            try:
                decoder.goto(frame_idx)
                while True:
                    yield frame_idx, decoder.retrieve(gray)
                    frame_idx += 1
                    if frame_idx >= stop:
                        break
                    if not decoder.grab_next():
                        raise _IndexMismatch(f"the stream ended after frame {decoder.current}")
            except _IndexMismatch as mismatch:
                with self._lock:
                    self._repair_index(mismatch)
                stop = min(stop, self.n_frames)
            finally:
                decoder.release()

    def _repairing_index(self, operation: Callable[[], _T]) -> _T:
        while True:  # at most two repairs, then _repair_index raises
            try:
                return operation()
            except _IndexMismatch as mismatch:
                self._repair_index(mismatch)

    def _repair_index(self, mismatch: _IndexMismatch) -> None:
        """Distrust the index one step more: decode every frame, then stop seeking."""
        if self._decoder is not None:
            self._decoder.release()
            self._decoder = None
        if not self._index.exact:
            self._index = _index_from_decoding(self.path)
        elif self._index.seekable:
            self._index = replace(self._index, seekable=False)
        else:
            raise VideoError(self.path, f"decoding is not repeatable ({mismatch})") from None
        self.n_frames = self._index.n_frames

    def _fps_from(self, container_fps: float) -> float:
        if math.isfinite(container_fps) and container_fps > 0:
            return float(container_fps)
        times_ms = self._index.times_ms
        if times_ms.size > 1 and times_ms[-1] > times_ms[0]:
            return 1000.0 * (times_ms.size - 1) / float(times_ms[-1] - times_ms[0])
        return DEFAULT_FPS


# -------------------------------------------------------------------------- frame folders


@dataclass(frozen=True)
class _FrameFiles:
    """The numbered images of one frame folder, sorted by number.

    ``folder``: where the images are; ``layout``: "casme3", "samm" or "generic";
    ``numbers``: ``(F,) int64`` ascending; ``names``: the file names in the same order.
    """

    folder: Path
    layout: str
    prefix: str
    numbers: np.ndarray
    names: tuple[str, ...]

    @property
    def default_first_number(self) -> int:
        if self.layout == "samm":
            return 1
        if self.layout == "casme3" or self.prefix == "" or self.numbers[0] == 0:
            return 0
        return 1

    @property
    def default_fps(self) -> float:
        return {"casme3": CASME3_FPS, "samm": SAMM_FPS}.get(self.layout, DEFAULT_FPS)


def _numbered_images(folder: Path) -> dict[tuple[str, str], list[tuple[int, str]]]:
    """``{(prefix, extension): [(number, name), ...]}`` of the numbered images in ``folder``."""
    groups: dict[tuple[str, str], list[tuple[int, str]]] = {}
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.startswith("."):  # hidden files, e.g. macOS "._0.jpg" companions
                continue
            match = _IMAGE_NAME.fullmatch(entry.name)
            if match and entry.is_file():
                key = (match["prefix"], match["ext"].lower())
                groups.setdefault(key, []).append((int(match["number"]), entry.name))
    return groups


def _no_images_problem(folder: Path) -> str:
    """Why ``folder`` holds no image sequence, for a VideoError."""
    entries = sorted(folder.iterdir())
    if not entries:
        return "is an empty folder"
    problem = "has no numbered images (expected names like 0.jpg, img_0001.png or 006_1_0001.jpg)"
    subfolders = [entry.name for entry in entries if entry.is_dir()]
    if subfolders:
        problem += f"; it holds folders such as '{subfolders[0]}': open one of those"
    return problem


def _layout(folder: Path, prefix: str) -> str:
    if folder.name == "color" and prefix == "":
        return "casme3"
    if prefix == f"{folder.name}_":
        return "samm"
    return "generic"


def _scan_frame_folder(path: Path) -> _FrameFiles:
    """Find the one image sequence in ``path`` (or in its CAS(ME)^3 ``color`` subfolder)."""
    if not path.exists():
        raise VideoError(path, "no such folder")
    if not path.is_dir():
        raise VideoError(path, "is not a folder")
    folder = path
    groups = _numbered_images(folder)
    if not groups and (path / "color").is_dir():
        folder = path / "color"
        groups = _numbered_images(folder)
    if not groups:
        raise VideoError(folder, _no_images_problem(folder))
    if len(groups) > 1:
        kinds = ", ".join(f"{prefix}<n>.{ext}" for prefix, ext in sorted(groups)[:4])
        raise VideoError(folder, f"holds more than one image sequence ({kinds}); "
                                 f"put each sequence in its own folder")
    (prefix, _ext), numbered = next(iter(groups.items()))
    numbered.sort()
    numbers = np.array([number for number, _name in numbered], np.int64)  # (F,)
    repeated = np.flatnonzero(np.diff(numbers) == 0)
    if repeated.size:
        first = int(repeated[0])
        raise VideoError(folder, f"two images have the same frame number: "
                                 f"{numbered[first][1]} and {numbered[first + 1][1]}")
    names = tuple(name for _number, name in numbered)
    return _FrameFiles(folder, _layout(folder, prefix), prefix, numbers, names)


def _read_image(file: Path, gray: bool, size: tuple[int, int] | None = None) -> np.ndarray:
    """``(H, W) uint8`` or ``(H, W, 3) uint8`` BGR from an image file; ``size`` is (W, H)."""
    flag = cv2.IMREAD_GRAYSCALE if gray else cv2.IMREAD_COLOR
    try:
        image = cv2.imread(str(file), flag)
    except cv2.error:
        image = None
    if image is None:
        raise VideoError(file, "cannot read this image (missing, damaged or not an image)")
    if size is not None and (image.shape[1], image.shape[0]) != size:
        raise VideoError(file, f"is {image.shape[1]}x{image.shape[0]} but the sequence's "
                               f"first image is {size[0]}x{size[1]}")
    return image


class ImageFolderSource(FrameSource):
    """Frames of a folder of numbered images, on the time axis of their numbers.

    ``frame_idx == number - first_number``; ``first_number`` and ``fps`` default by layout
    (see the module docstring). ``frames_dir`` is the folder that holds the images (the
    ``color`` subfolder for a CAS(ME)^3 video folder); ``layout`` is "casme3", "samm" or
    "generic".
    """

    def __init__(self, path: str | os.PathLike[str], fps: float | None = None,
                 first_number: int | None = None) -> None:
        self.path = _absolute(path)
        files = _scan_frame_folder(self.path)
        self.frames_dir = files.folder
        self.layout = files.layout
        self.first_number = (files.default_first_number if first_number is None
                             else operator.index(first_number))
        if files.numbers[0] < self.first_number:
            raise VideoError(self.frames_dir / files.names[0],
                             f"is numbered below the first frame number {self.first_number}; "
                             f"pass first_number={int(files.numbers[0])} if it is a frame")
        frame_idx = files.numbers - self.first_number  # (F,) index of each image
        self.n_frames = int(frame_idx[-1]) + 1
        if self.n_frames > _MAX_MISSING_PER_IMAGE * len(files.names) + 1000:
            raise VideoError(self.frames_dir, f"{len(files.names)} images numbered up to "
                                              f"{int(files.numbers[-1])}: too sparse to be frame "
                                              f"numbers")
        has_image = np.zeros(self.n_frames, bool)
        has_image[frame_idx] = True
        self.missing_indices = tuple(np.flatnonzero(~has_image).tolist())
        # position in `names` of the image each frame shows: its own, else previous, else next
        self._image_pos = np.maximum(np.cumsum(has_image) - 1, 0)  # (n_frames,)
        self._names = files.names
        self.fps = _checked_fps(fps) if fps is not None else files.default_fps
        first = _read_image(self.frames_dir / files.names[0], gray=True)
        self.height, self.width = first.shape

    def close(self) -> None:
        """Nothing to release: each read opens and closes its image file."""

    def image_path(self, frame_idx: int) -> Path:
        """The image file frame ``frame_idx`` reads (a neighbour's for a missing frame)."""
        return self.frames_dir / self._names[self._image_pos[self._checked_index(frame_idx)]]

    def _read(self, frame_idx: int, gray: bool) -> np.ndarray:
        return _read_image(self.image_path(frame_idx), gray, (self.width, self.height))

    def _iter(self, start: int, stop: int, gray: bool) -> Iterator[tuple[int, np.ndarray]]:
        last_pos, last_frame = -1, None
        for frame_idx in range(start, stop):
            pos = int(self._image_pos[frame_idx])
            if pos == last_pos and last_frame is not None:  # a missing frame: same image again
                yield frame_idx, last_frame.copy()
                continue
            last_pos, last_frame = pos, self._read(frame_idx, gray)
            yield frame_idx, last_frame


# ----------------------------------------------------------------------------- public API


def open_source(path: str | os.PathLike[str], fps: float | None = None) -> FrameSource:
    """A :class:`VideoFileSource` for a file, an :class:`ImageFolderSource` for a folder.

    ``fps`` overrides the frame rate from the container or the folder layout.
    """
    path = _absolute(path)
    if path.is_dir():
        return ImageFolderSource(path, fps=fps)
    if path.exists():
        return VideoFileSource(path, fps=fps)
    raise VideoError(path, "no such file or folder")


def source_identity(path: str | os.PathLike[str]) -> dict[str, Any]:
    """What identifies a video's content cheaply, to key caches and detect changed inputs.

    Returns ``{"path": absolute str, "size": bytes, "mtime": float, "sha1_first_mb": hex}``.
    For a frame folder: total bytes of its images, the newest image's mtime, and a SHA-1 over
    the image names (in frame order) and the first image's first MiB.
    """
    path = _absolute(path)
    digest = hashlib.sha1()
    if path.is_file():
        stat = path.stat()
        size, mtime, first_file = stat.st_size, stat.st_mtime, path
    elif path.is_dir():
        files = _scan_frame_folder(path)
        stats = [os.stat(files.folder / name) for name in files.names]
        size = sum(stat.st_size for stat in stats)
        mtime = max(stat.st_mtime for stat in stats)
        digest.update("\n".join(files.names).encode())
        first_file = files.folder / files.names[0]
    else:
        raise VideoError(path, "no such file or folder")
    with open(first_file, "rb") as stream:
        digest.update(stream.read(_HASH_BYTES))
    return {"path": str(path), "size": int(size), "mtime": float(mtime),
            "sha1_first_mb": digest.hexdigest()}


def same_content(stored: Mapping[str, Any], current: Mapping[str, Any]) -> bool:
    """Whether two :func:`source_identity` records describe the same content (size, mtime and
    the first MiB's hash; the path is not compared)."""
    return all(stored.get(key) == current.get(key) for key in ("size", "mtime", "sha1_first_mb"))


def _absolute(path: str | os.PathLike[str]) -> Path:
    """Absolute, normalised path (symlinks kept, ``~`` expanded)."""
    return Path(os.path.abspath(os.path.expanduser(os.fspath(path))))


def _checked_fps(fps: float) -> float:
    try:
        value = float(fps)
    except (TypeError, ValueError):
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"fps must be a positive number, got {fps!r}")
    return value

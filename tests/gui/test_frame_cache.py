"""The frame cache: frames answered from it are exactly the decoded frames (also after scrubbing
back and forth), need no worker round trip, keep "newest request wins", and prefetching fills it
ahead of (and while paused, around) the playhead. Also measures seek-to-shown latency."""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Iterator

import cv2
import numpy as np
import pytest
from PySide6.QtGui import QImage

from core.video import open_source
from metst_gui.frame_loader import FrameCache, FrameLoader
from resources import SAMPLE_VIDEO
from tests.gui.pixels import rgb_pixels

pytestmark = pytest.mark.gui

DECODE_TIMEOUT_MS = 10_000


@pytest.fixture(scope="module")
def decoded_rgb() -> Iterator[dict[int, np.ndarray]]:
    """Frame index → the sample's frame as core.video decodes it, RGB (filled on demand)."""
    source = open_source(SAMPLE_VIDEO)

    class Frames(dict):
        def __missing__(self, frame_idx: int) -> np.ndarray:
            self[frame_idx] = cv2.cvtColor(source.read(frame_idx), cv2.COLOR_BGR2RGB)
            return self[frame_idx]

    yield Frames()
    source.close()


@pytest.fixture
def loader(qtbot) -> Iterator[FrameLoader]:
    loader = FrameLoader()
    with qtbot.waitSignal(loader.opened, timeout=DECODE_TIMEOUT_MS):
        loader.open(SAMPLE_VIDEO)
    yield loader
    loader.stop()


def _show(qtbot, loader: FrameLoader, frame_idx: int) -> QImage:
    """Request ``frame_idx`` and return the image ``frame_ready`` answers with."""
    with qtbot.waitSignal(loader.frame_ready, timeout=DECODE_TIMEOUT_MS,
                          check_params_cb=lambda idx, image: idx == frame_idx) as blocker:
        loader.request_frame(frame_idx)
    return blocker.args[1]


def _image(width: int, height: int) -> QImage:
    image = QImage(width, height, QImage.Format.Format_RGB888)
    image.fill(0)
    return image


def test_cache_evicts_least_recently_used_within_frames_and_bytes() -> None:
    frame_bytes = _image(10, 10).sizeInBytes()
    cache = FrameCache(max_frames=3, max_bytes=10 * frame_bytes)
    for frame_idx in range(3):
        cache.put(frame_idx, _image(10, 10))
    assert cache.get(0) is not None  # 0 is now the most recently used
    cache.put(3, _image(10, 10))
    assert cache.frame_indices() == [2, 0, 3]  # 1 was evicted
    small = FrameCache(max_frames=64, max_bytes=2 * frame_bytes)
    for frame_idx in range(5):
        small.put(frame_idx, _image(10, 10))
    assert small.frame_indices() == [3, 4] and small.nbytes == 2 * frame_bytes
    assert small.capacity(frame_bytes) == 2
    with pytest.raises(ValueError, match="room"):
        FrameCache(max_frames=0)


def test_cached_frames_equal_the_decoded_frames_while_scrubbing(
        qtbot, loader: FrameLoader, decoded_rgb) -> None:
    loader.set_prefetch(0)
    order = [200, 201, 202, 201, 200, 17, 201, 18, 350, 17, 202, 351, 350]
    for position, frame_idx in enumerate(order):
        was_cached = frame_idx in loader.cache
        image = _show(qtbot, loader, frame_idx)
        np.testing.assert_array_equal(rgb_pixels(image), decoded_rgb[frame_idx])
        assert frame_idx in loader.cache
        assert was_cached == (frame_idx in order[:position])
    assert not np.array_equal(decoded_rgb[200], decoded_rgb[201])  # the check can fail


def test_a_cached_frame_needs_no_worker(qtbot, loader: FrameLoader) -> None:
    loader.set_prefetch(0)
    _show(qtbot, loader, 40)
    jobs: list[object] = []
    loader._decode_requested.connect(jobs.append)  # every job sent to the worker
    _show(qtbot, loader, 40)
    assert jobs == []
    _show(qtbot, loader, 41)
    assert len(jobs) == 1


def test_newest_request_wins_between_cache_and_decoder(qtbot, loader: FrameLoader) -> None:
    loader.set_prefetch(0)
    _show(qtbot, loader, 5)
    shown: list[int] = []
    loader.frame_ready.connect(lambda frame_idx, image: shown.append(frame_idx))
    loader.request_frame(300)  # decoding...
    loader.request_frame(5)    # ...but this cached one was asked for last
    qtbot.waitUntil(lambda: 5 in shown, timeout=DECODE_TIMEOUT_MS)
    loader.request_frame(5)    # a cached answer, still pending, is replaced...
    loader.request_frame(301)  # ...by a newer request (answered after the worker saw 300)
    qtbot.waitUntil(lambda: 301 in shown, timeout=DECODE_TIMEOUT_MS)
    assert shown == [5, 301]


def test_playback_prefetch_fills_the_frames_ahead(qtbot, loader: FrameLoader,
                                                  decoded_rgb) -> None:
    loader.set_prefetch(8)
    _show(qtbot, loader, 100)
    qtbot.waitUntil(lambda: all(i in loader.cache for i in range(101, 109)),
                    timeout=DECODE_TIMEOUT_MS)
    assert 109 not in loader.cache and 99 not in loader.cache
    for frame_idx in (101, 104, 108):
        image = loader.cache.get(frame_idx)
        np.testing.assert_array_equal(rgb_pixels(image), decoded_rgb[frame_idx])


def test_paused_prefetch_fills_both_sides(qtbot, loader: FrameLoader, decoded_rgb) -> None:
    loader.set_prefetch(4, 4, delay_ms=50)
    _show(qtbot, loader, 250)
    qtbot.waitUntil(lambda: all(i in loader.cache for i in range(246, 255)),
                    timeout=DECODE_TIMEOUT_MS)
    for frame_idx in (246, 249, 251):
        np.testing.assert_array_equal(rgb_pixels(_show(qtbot, loader, frame_idx)),
                                      decoded_rgb[frame_idx])


def test_prefetch_never_shows_a_frame(qtbot, loader: FrameLoader) -> None:
    loader.set_prefetch(8, 8)
    shown: list[int] = []
    loader.frame_ready.connect(lambda frame_idx, image: shown.append(frame_idx))
    loader.request_frame(60)
    qtbot.waitUntil(lambda: all(i in loader.cache for i in range(52, 69)),
                    timeout=DECODE_TIMEOUT_MS)
    assert shown == [60]


def _median_ms(qtbot, loader: FrameLoader, frames: list[int]) -> float:
    latencies = []
    for frame_idx in frames:
        start = time.perf_counter()
        _show(qtbot, loader, frame_idx)
        latencies.append(1000 * (time.perf_counter() - start))
    return statistics.median(latencies)


def test_seek_to_frame_shown_latency(qtbot, loader: FrameLoader) -> None:
    """Random seeks decode (median reported); ±1 steps after the paused prefetch are cache hits
    well under the 50 ms target."""
    random.seed(7)
    loader.set_prefetch(0)
    random_ms = _median_ms(qtbot, loader, random.sample(range(472), 15))
    loader.set_prefetch(8, 8, delay_ms=0)
    _show(qtbot, loader, 300)
    qtbot.waitUntil(lambda: all(i in loader.cache for i in range(292, 309)),
                    timeout=DECODE_TIMEOUT_MS)
    step_ms = _median_ms(qtbot, loader, [299, 298, 297, 298, 299, 300, 301, 302, 303, 302])
    print(f"\nseek-to-shown median: random {random_ms:.1f} ms, ±1 step {step_ms:.1f} ms")
    assert step_ms < 50

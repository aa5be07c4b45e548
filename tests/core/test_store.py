"""The feature store round-trips, reuses only identical entries, and survives killed writes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from core.flow import Extraction, FlowConfig
from core.store import FeatureStore, StoreError
from core.traces import FlowTraces

ROOT = Path(__file__).resolve().parents[2]


def _fake_extraction(config: FlowConfig, n_frames: int = 120, seed: int = 0) -> Extraction:
    rng = np.random.default_rng(seed)
    n_channels = 36 if config.roi_set == "metst_plus" else 10
    names = tuple(f"roi{r}_{axis}" for r in range(n_channels // 2) for axis in "xy")
    valid = np.ones(n_frames, dtype=bool)
    valid[10:20] = False
    traces = FlowTraces(rng.normal(size=(n_channels, n_frames)).astype(np.float32), names,
                        valid, 30.0, config.roi_set, {**config.to_dict(), "k": 50})
    landmarks = rng.uniform(0, 300, size=(n_frames, 68, 2)).astype(np.float32)
    boxes = rng.uniform(0, 300, size=(n_frames, 4)).astype(np.float32)
    return Extraction(traces, landmarks, boxes, valid.copy(), config)


@pytest.fixture
def video_file(tmp_path: Path) -> Path:
    path = tmp_path / "clip.mp4"
    path.write_bytes(os.urandom(4096))
    return path


def test_round_trip_returns_identical_arrays(tmp_path: Path, video_file: Path) -> None:
    store = FeatureStore(tmp_path / "features.h5")
    config = FlowConfig()
    extraction = _fake_extraction(config)
    store.save(video_file, extraction)

    entry = store.find(video_file, config)
    assert entry is not None
    np.testing.assert_array_equal(entry.traces.values, extraction.traces.values)
    np.testing.assert_array_equal(entry.traces.valid, extraction.traces.valid)
    np.testing.assert_array_equal(entry.landmarks, extraction.landmarks)
    np.testing.assert_array_equal(entry.boxes, extraction.boxes)
    assert entry.traces.channel_names == extraction.traces.channel_names
    assert entry.traces.fps == 30.0 and entry.traces.roi_set == "metst_plus"
    assert entry.traces.params["k"] == 50
    assert entry.source["path"] == str(video_file.resolve())
    assert entry.code_version


def test_different_parameters_are_a_different_entry(tmp_path: Path, video_file: Path) -> None:
    store = FeatureStore(tmp_path / "features.h5")
    store.save(video_file, _fake_extraction(FlowConfig()))
    assert store.find(video_file, FlowConfig(roi_set="metst")) is None
    assert store.find(video_file, FlowConfig(face_size=128)) is None
    store.save(video_file, _fake_extraction(FlowConfig(roi_set="metst")))
    assert len(store.keys()) == 2


def test_changed_source_file_is_not_reused(tmp_path: Path, video_file: Path) -> None:
    store = FeatureStore(tmp_path / "features.h5")
    store.save(video_file, _fake_extraction(FlowConfig()))
    video_file.write_bytes(os.urandom(4096))
    assert store.find(video_file, FlowConfig()) is None


def test_saving_again_replaces_the_entry(tmp_path: Path, video_file: Path) -> None:
    store = FeatureStore(tmp_path / "features.h5")
    store.save(video_file, _fake_extraction(FlowConfig(), seed=1))
    second = _fake_extraction(FlowConfig(), seed=2)
    store.save(video_file, second)
    assert len(store.keys()) == 1
    entry = store.find(video_file, FlowConfig())
    assert entry is not None
    np.testing.assert_array_equal(entry.traces.values, second.traces.values)


def test_corrupt_store_gives_clear_error(tmp_path: Path, video_file: Path) -> None:
    path = tmp_path / "features.h5"
    path.write_text("not an hdf5 file")
    with pytest.raises(StoreError, match="features.h5"):
        FeatureStore(path).find(video_file, FlowConfig())
    with pytest.raises(StoreError, match="features.h5"):
        FeatureStore(path).save(video_file, _fake_extraction(FlowConfig()))
    assert path.read_text() == "not an hdf5 file", "a failed save must not touch the file"


_WRITER = textwrap.dedent("""
    import sys
    sys.path.insert(0, {root!r})
    from tests.core.test_store import _fake_extraction
    from core.flow import FlowConfig
    from core.store import FeatureStore
    store = FeatureStore({store!r})
    i = 0
    while True:
        store.save({video!r}, _fake_extraction(FlowConfig(face_size=64 + i % 7), 3000, seed=i))
        i += 1
""")


@pytest.mark.slow
def test_store_survives_writes_killed_at_random_moments(tmp_path: Path, video_file: Path) -> None:
    store_path = tmp_path / "features.h5"
    FeatureStore(store_path).save(video_file, _fake_extraction(FlowConfig(), seed=99))
    script = _WRITER.format(root=str(ROOT), store=str(store_path), video=str(video_file))
    rng = np.random.default_rng(0)
    for _ in range(8):
        writer = subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE)
        time.sleep(1.0 + float(rng.uniform(0.0, 1.0)))   # import time + some saves
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        store = FeatureStore(store_path)
        keys = store.keys()
        assert keys, "the store lost its entries"
        for key in keys:
            entry = store.load(*key)
            assert entry.traces.values.shape[1] == entry.landmarks.shape[0]
    assert FeatureStore(store_path).find(video_file, FlowConfig()) is not None
    FeatureStore(store_path).save(video_file, _fake_extraction(FlowConfig(), seed=5))
    assert not list(tmp_path.glob("features.h5.*.tmp")), "stale temporaries are cleaned up"

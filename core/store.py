"""HDF5 feature store: extracted flow traces and face tracks, one group per video and parameter set.

Layout (h5py)::

    /videos/<video_key>/<params_hash>/   attrs: fps, roi_set, channel_names, params (JSON),
        traces      (C, T) float32              source (JSON identity), code_version,
        valid       (T,) bool                   algorithm_version, created, complete
        landmarks   (T, 68, 2) float32
        eye_openness (T,) float32
        boxes       (T, 4) float32
        face_valid  (T,) bool

``video_key`` is the file name plus a short hash of its absolute path. An entry is reused only
when the source identity (path, size, mtime, hash of the first MB) and the parameters match;
otherwise it is recomputed and replaced. Each write copies the store to a temporary file beside
it, adds the entry, fsyncs and atomically renames it over the original, under an exclusive lock:
a write killed half-way leaves the previous store intact.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from core import __version__
from core.atomic import atomic_path
from core.flow import FLOW_ALGORITHM_VERSION, Extraction, FlowConfig
from core.traces import FlowTraces
from core.video import same_content, source_identity

__all__ = ["StoreError", "StoredEntry", "FeatureStore", "video_key"]


class StoreError(ValueError):
    """The store file is unreadable or not a feature store; the message names the file."""


@dataclass
class StoredEntry:
    """One stored extraction, as read back."""

    video_key: str
    params_hash: str
    traces: FlowTraces
    landmarks: np.ndarray      # (T, 68, 2) float32
    boxes: np.ndarray          # (T, 4) float32
    face_valid: np.ndarray     # (T,) bool
    source: dict[str, Any]
    code_version: str
    created: str


def video_key(path: str | os.PathLike[str]) -> str:
    """Group name of a video: its file name and a short hash of its absolute path."""
    absolute = str(Path(path).resolve())
    digest = hashlib.sha1(absolute.encode()).hexdigest()[:8]
    return f"{Path(absolute).name}-{digest}".replace("/", "_")


class FeatureStore:
    """An HDF5 file of extracted features (created on first write)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    # -- reading -------------------------------------------------------------------------------

    @contextmanager
    def _open_read(self) -> Iterator[h5py.File | None]:
        if not self.path.exists():
            yield None
            return
        try:
            handle = h5py.File(self.path, "r")
        except OSError as exc:
            raise StoreError(f"{self.path}: not a readable HDF5 feature store ({exc})") from exc
        with handle:
            yield handle

    def keys(self) -> list[tuple[str, str]]:
        """(video_key, params_hash) of every complete entry."""
        with self._open_read() as handle:
            if handle is None or "videos" not in handle:
                return []
            return [(v, p) for v, group in handle["videos"].items() for p in group
                    if group[p].attrs.get("complete", False)]

    def find(self, video_path: str | os.PathLike[str], config: FlowConfig) -> StoredEntry | None:
        """The stored entry for this video and parameters, if it exists and is up to date."""
        key, params_hash = video_key(video_path), config.params_hash()
        with self._open_read() as handle:
            if handle is None:
                return None
            group = handle.get(f"videos/{key}/{params_hash}")
            if group is None or not group.attrs.get("complete", False):
                return None
            stored_source = json.loads(group.attrs["source"])
            if not _same_source(stored_source, source_identity(video_path)):
                return None
            return _read_entry(key, params_hash, group)

    def load(self, video_key_: str, params_hash: str) -> StoredEntry:
        """Read one entry by its keys (raises StoreError when absent)."""
        with self._open_read() as handle:
            group = None if handle is None else handle.get(f"videos/{video_key_}/{params_hash}")
            if group is None or not group.attrs.get("complete", False):
                raise StoreError(f"{self.path}: no entry {video_key_}/{params_hash}")
            return _read_entry(video_key_, params_hash, group)

    # -- writing -------------------------------------------------------------------------------

    def save(self, video_path: str | os.PathLike[str], extraction: Extraction) -> str:
        """Store an extraction atomically, replacing an older entry with the same parameters.

        Returns:
            The entry's params hash.
        """
        key, params_hash = video_key(video_path), extraction.config.params_hash()
        identity = source_identity(video_path)
        with self._locked():
            self._remove_stale_temporaries()
            with self._atomic_copy() as handle:
                videos = handle.require_group("videos").require_group(key)
                if params_hash in videos:
                    del videos[params_hash]
                _write_entry(videos.create_group(params_hash), extraction, identity)
        return params_hash

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(self.path.name + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _remove_stale_temporaries(self) -> None:
        """Delete temp copies left by a killed writer (safe: we hold the exclusive lock)."""
        for stale in self.path.parent.glob(self.path.name + ".*.tmp"):
            stale.unlink(missing_ok=True)

    @contextmanager
    def _atomic_copy(self) -> Iterator[h5py.File]:
        """Yield a writable copy of the store; on success it atomically replaces the original."""
        with atomic_path(self.path) as tmp:
            if self.path.exists():
                with self._open_read():   # refuse to build on a corrupt store
                    pass
                shutil.copyfile(self.path, tmp)
                handle = h5py.File(tmp, "r+")
            else:
                handle = h5py.File(tmp, "w")
            with handle:
                handle.attrs["format"] = "metst-feature-store"
                handle.attrs["format_version"] = 1
                yield handle


def _same_source(stored: dict[str, Any], current: dict[str, Any]) -> bool:
    return stored.get("path") == current.get("path") and same_content(stored, current)


def _write_entry(group: h5py.Group, extraction: Extraction, identity: dict[str, Any]) -> None:
    traces = extraction.traces
    group.create_dataset("traces", data=traces.values, chunks=True, compression="lzf")
    group.create_dataset("valid", data=traces.valid)
    group.create_dataset("landmarks", data=extraction.landmarks, chunks=True, compression="lzf")
    group.create_dataset("boxes", data=extraction.boxes, compression="lzf")
    group.create_dataset("face_valid", data=extraction.face_valid)
    if traces.eye_openness is not None:
        group.create_dataset("eye_openness", data=traces.eye_openness)
    group.attrs["fps"] = traces.fps
    group.attrs["roi_set"] = traces.roi_set
    group.attrs["channel_names"] = json.dumps(list(traces.channel_names))
    group.attrs["params"] = json.dumps(traces.params, sort_keys=True)
    group.attrs["source"] = json.dumps(identity, sort_keys=True)
    group.attrs["code_version"] = __version__
    group.attrs["algorithm_version"] = FLOW_ALGORITHM_VERSION
    group.attrs["created"] = datetime.now(UTC).isoformat(timespec="seconds")
    group.attrs["complete"] = True    # written last: an entry without it is ignored


def _read_entry(key: str, params_hash: str, group: h5py.Group) -> StoredEntry:
    attrs = group.attrs
    openness = group["eye_openness"][()] if "eye_openness" in group else None
    traces = FlowTraces(group["traces"][()], tuple(json.loads(attrs["channel_names"])),
                        group["valid"][()], float(attrs["fps"]), str(attrs["roi_set"]),
                        json.loads(attrs["params"]), openness)
    return StoredEntry(key, params_hash, traces, group["landmarks"][()], group["boxes"][()],
                       group["face_valid"][()], json.loads(attrs["source"]),
                       str(attrs["code_version"]), str(attrs["created"]))

"""Training sequences: crops of whole videos' traces with their per-frame targets.

The models are video-level (one sequence in, one score per frame out), so they train on crops of
the videos' traces. Every epoch each video is tiled into crops of ``crop_seconds`` (stride
``(1 − overlap) · length``), starting at a random offset; a crop that holds a labelled expression
frame is an *expression crop* and is always kept, the others (*background crops*) are
down-sampled to ``background_ratio`` × the number of expression crops, as the official code's
``training_utils.downSampling`` does for its windows. Each crop's traces are scaled by a random
factor in ``1 ± amplitude_jitter`` (the official ``dataloader.OFFSTRDataset``: ±10 %), and with
probability ``mirror_probability`` mirrored as if the video were flipped left to right (left and
right ROIs swap, x components change sign: :func:`mirror_channels`; not in the official code).

:meth:`CropConfig.official` is the official code's sampling: windows of ``k`` frames (50 at
30 fps, :func:`core.flow.window_length`), stride ``k / 2`` from frame 0, background windows drawn
once for the whole training run (``resample_each_epoch=False``), no mirroring.

Every random draw comes from the ``numpy.random.Generator`` passed in, so a seed fixes the crops.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from core.config_dict import config_from_dict
from training.labels import IGNORE_INDEX, FrameLabels

__all__ = ["CropConfig", "LabeledSequence", "Crop", "Batch", "crop_length", "tile_starts",
           "sample_crops", "batch_indices", "make_batch", "mirror_channels"]

#: The official window: 50 frames at 30 fps (``main.py``: ``k = 50`` for CAS(ME)^3).
OFFICIAL_WINDOW_SECONDS = 50 / 30


@dataclass(frozen=True)
class CropConfig:
    """How training crops are cut from the videos (module docstring).

    Attributes:
        crop_seconds: crop length in seconds (frames = round(seconds · fps), even, ≥ 4);
            ``None``: whole videos.
        overlap: share of a crop the next one overlaps, in [0, 1).
        random_offset: start each video's tiling at a random frame every epoch.
        background_ratio: background crops kept per expression crop (official: 4 on
            CAS(ME)^3, 0.5 on SAMM-LV); all of them are kept when there is no expression crop.
        resample_each_epoch: draw offsets and background crops anew every epoch (else once).
        amplitude_jitter: each crop is scaled by a factor drawn from ``1 ± amplitude_jitter``.
        mirror_probability: chance that a crop is mirrored left to right.
    """

    crop_seconds: float | None = 4.0
    overlap: float = 0.5
    random_offset: bool = True
    background_ratio: float = 4.0
    resample_each_epoch: bool = True
    amplitude_jitter: float = 0.1
    mirror_probability: float = 0.5

    def __post_init__(self) -> None:
        if self.crop_seconds is not None and not (math.isfinite(self.crop_seconds)
                                                  and self.crop_seconds > 0):
            raise ValueError(f"crop_seconds must be > 0 or None, got {self.crop_seconds!r}")
        if not 0 <= self.overlap < 1:
            raise ValueError(f"overlap must be in [0, 1), got {self.overlap!r}")
        if not (math.isfinite(self.background_ratio) and self.background_ratio >= 0):
            raise ValueError(f"background_ratio must be >= 0, got {self.background_ratio!r}")
        if not 0 <= self.amplitude_jitter < 1:
            raise ValueError(f"amplitude_jitter must be in [0, 1), got {self.amplitude_jitter!r}")
        if not 0 <= self.mirror_probability <= 1:
            raise ValueError(f"mirror_probability must be in [0, 1], "
                             f"got {self.mirror_probability!r}")

    @classmethod
    def official(cls, background_ratio: float = 4.0) -> CropConfig:
        """The official code's windows: k frames, stride k/2, background drawn once."""
        return cls(crop_seconds=OFFICIAL_WINDOW_SECONDS, overlap=0.5, random_offset=False,
                   background_ratio=background_ratio, resample_each_epoch=False,
                   mirror_probability=0.0)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CropConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise ``ValueError``."""
        return config_from_dict(cls, data)


@dataclass(frozen=True)
class LabeledSequence:
    """One video's traces and targets.

    Attributes:
        values: (C, T) float32 traces (0 where invalid).
        labels: (T,) targets (:func:`training.labels.frame_labels`).
        fps: frame rate of the traces.
        channel_names: the C channel names (``<roi>_x`` / ``<roi>_y``), for mirroring; empty:
            never mirrored.
    """

    values: np.ndarray
    labels: FrameLabels
    fps: float
    channel_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.values.ndim != 2 or self.values.shape[1] != self.labels.n_frames:
            raise ValueError(f"values must be (C, T={self.labels.n_frames}), "
                             f"got {self.values.shape}")

    @property
    def n_frames(self) -> int:
        return self.labels.n_frames


@dataclass(frozen=True)
class Crop:
    """Frames ``start`` … ``start + length − 1`` of sequence ``sequence_idx`` (padded past
    its end)."""

    sequence_idx: int
    start: int
    length: int
    has_expression: bool


@dataclass(frozen=True)
class Batch:
    """A training batch (numpy; the trainer moves it to torch).

    Attributes:
        traces: (B, C, L) float32.
        spot: (B, L) float32 spotting targets.
        recog: (B, L) int64 class targets or IGNORE_INDEX.
        mask: (B, L) bool, frames the losses read (False on padding).
    """

    traces: np.ndarray
    spot: np.ndarray
    recog: np.ndarray
    mask: np.ndarray


def crop_length(config: CropConfig, fps: float, n_frames: int) -> int:
    """Crop length in frames for a video of ``n_frames`` at ``fps`` (even, at least 4)."""
    if config.crop_seconds is None:
        return n_frames
    frames = int(round(config.crop_seconds * fps))
    return max(4, frames + frames % 2)


def tile_starts(n_frames: int, length: int, stride: int, offset: int = 0) -> list[int]:
    """Crop starts covering ``n_frames``: 0, then ``offset + j·stride``; the last crop ends at
    the last frame (shifted back), and a video shorter than ``length`` gives one crop at 0."""
    if n_frames <= length:
        return [0]
    last_start = n_frames - length
    starts = {0, last_start}
    starts.update(range(offset % stride if stride else 0, last_start, max(1, stride)))
    return sorted(starts)


def _expression_frames(sequence: LabeledSequence) -> np.ndarray:
    """(T,) bool, frames labelled as an expression that the losses read."""
    return (sequence.labels.spot > 0) & sequence.labels.mask


def sample_crops(sequences: Sequence[LabeledSequence], config: CropConfig,
                 rng: np.random.Generator) -> list[Crop]:
    """One epoch's crops, in sequence order: every expression crop, plus background crops
    down-sampled to ``background_ratio`` × their number (all when there is no expression crop).
    """
    expression, background = [], []
    for idx, sequence in enumerate(sequences):
        length = crop_length(config, sequence.fps, sequence.n_frames)
        stride = max(1, int(round(length * (1 - config.overlap))))
        offset = int(rng.integers(stride)) if config.random_offset else 0
        cumulative = np.concatenate([[0], np.cumsum(_expression_frames(sequence))])  # (T + 1,)
        for start in tile_starts(sequence.n_frames, length, stride, offset):
            stop = min(start + length, sequence.n_frames)
            has_expression = bool(cumulative[stop] > cumulative[start])
            (expression if has_expression else background).append(
                Crop(idx, start, length, has_expression))
    if expression:
        n_background = min(len(background), int(round(config.background_ratio * len(expression))))
        keep = np.sort(rng.choice(len(background), size=n_background, replace=False))
        background = [background[k] for k in keep]
    crops = expression + background
    return sorted(crops, key=lambda crop: (crop.sequence_idx, crop.start))


def batch_indices(crops: Sequence[Crop], batch_size: int,
                  rng: np.random.Generator) -> list[np.ndarray]:
    """Shuffled batches of crop indices; crops of one length share a batch (no padding waste)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    order = rng.permutation(len(crops))
    by_length: dict[int, list[int]] = {}
    for k in order.tolist():
        by_length.setdefault(crops[k].length, []).append(k)
    batches = [np.asarray(group[i:i + batch_size])
               for group in by_length.values() for i in range(0, len(group), batch_size)]
    return [batches[k] for k in rng.permutation(len(batches))]


def mirror_channels(channel_names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """How traces change when the face is mirrored left to right.

    Returns ``(source, sign)``, both (C,): mirrored channel ``c`` is ``sign[c] ·
    values[source[c]]``, where ``left_…`` and ``right_…`` ROIs swap (a ROI without a
    counterpart keeps its place) and every ``_x`` channel changes sign.
    """
    index = {name: k for k, name in enumerate(channel_names)}

    def counterpart(name: str) -> str:
        for a, b in (("left_", "right_"), ("right_", "left_")):
            if name.startswith(a) and name.replace(a, b, 1) in index:
                return name.replace(a, b, 1)
        return name

    source = np.array([index[counterpart(name)] for name in channel_names], dtype=np.int64)
    sign = np.array([-1.0 if name.endswith("_x") else 1.0 for name in channel_names],
                    dtype=np.float32)
    return source, sign


def make_batch(sequences: Sequence[LabeledSequence], crops: Sequence[Crop],
               rng: np.random.Generator | None = None, amplitude_jitter: float = 0.0,
               mirror_probability: float = 0.0) -> Batch:
    """Stack crops into one :class:`Batch`, padding to the longest (mask False on padding).

    With ``rng`` each crop's traces are scaled by a factor from ``1 ± amplitude_jitter`` and
    mirrored (:func:`mirror_channels`) with probability ``mirror_probability``.
    """
    if not crops:
        raise ValueError("make_batch needs at least one crop")
    n_channels = sequences[crops[0].sequence_idx].values.shape[0]
    length = max(crop.length for crop in crops)
    traces = np.zeros((len(crops), n_channels, length), dtype=np.float32)  # (B, C, L)
    spot = np.zeros((len(crops), length), dtype=np.float32)                 # (B, L)
    recog = np.full((len(crops), length), IGNORE_INDEX, dtype=np.int64)     # (B, L)
    mask = np.zeros((len(crops), length), dtype=bool)                       # (B, L)
    for row, crop in enumerate(crops):
        sequence = sequences[crop.sequence_idx]
        frames = slice(crop.start, min(crop.start + crop.length, sequence.n_frames))
        n = frames.stop - frames.start
        values = sequence.values[:, frames]                                 # (C, n)
        if rng is not None and amplitude_jitter > 0:
            values = values * float(rng.uniform(1 - amplitude_jitter, 1 + amplitude_jitter))
        if (rng is not None and mirror_probability > 0 and sequence.channel_names
                and rng.random() < mirror_probability):
            source, sign = mirror_channels(sequence.channel_names)
            values = values[source] * sign[:, None]
        traces[row, :, :n] = values
        spot[row, :n] = sequence.labels.spot[frames]
        recog[row, :n] = sequence.labels.recog[frames]
        mask[row, :n] = sequence.labels.mask[frames]
    return Batch(traces, spot, recog, mask)

"""Per-frame training targets from labelled intervals (the ME-TST pseudo-labels).

For one video of ``T`` frames, :func:`frame_labels` turns its :class:`LabeledInterval` list into

- ``spot (T,) float32``: the spotting target, 1 inside a micro-expression (onset … offset, both
  included) and 0 outside (``hard``), or a triangular onset → apex → offset profile (``soft``:
  rising to 1 at the apex, every frame inside the interval above 0);
- ``recog (T,) int64``: the recognition target, the emotion class of the ME a frame lies in
  (mapped by an :class:`~core.datasets.emotions.EmotionMapping`), neutral (the last class)
  outside; :data:`IGNORE_INDEX` where the emotion is unknown or excluded by the mapping, or where
  two overlapping MEs disagree;
- ``mask (T,) bool``: the frames the losses read; False where the traces are invalid (no face)
  and, with ``macro_policy="ignore"``, inside macro-expressions.

Macro-expressions are not micro-expressions: by default (``macro_policy="background"``) their
frames are spotting 0 and neutral, like any other frame without an ME; ``"ignore"`` leaves them
out of both losses and ``"expression"`` labels them like MEs.

The official code (``prepare_data.pseudo_labeling``) labels ``onset + 1 … offset − 1``; here the
labelled interval is taken as it is (``trim_edges`` reproduces theirs).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.config_dict import config_from_dict
from core.datasets.base import LabeledInterval
from core.datasets.emotions import FOUR_CLASS, THREE_CLASS, EmotionMapping

__all__ = [
    "IGNORE_INDEX",
    "MACRO_POLICIES",
    "SPOT_TARGETS",
    "EMOTION_MAPPINGS",
    "LabelConfig",
    "FrameLabels",
    "frame_labels",
    "class_names_for",
    "is_micro",
]

#: Recognition target of frames the cross-entropy ignores (PyTorch's default ``ignore_index``).
IGNORE_INDEX = -100
#: What macro-expression frames become: background (0, neutral), ignored, or like an ME.
MACRO_POLICIES = ("background", "ignore", "expression")
#: Spotting target shapes.
SPOT_TARGETS = ("hard", "soft")
#: Emotion mappings by name (``LabelConfig.emotions``).
EMOTION_MAPPINGS: dict[str, EmotionMapping] = {FOUR_CLASS.name: FOUR_CLASS,
                                               THREE_CLASS.name: THREE_CLASS}
_NEUTRAL = "neutral"


@dataclass(frozen=True)
class LabelConfig:
    """How intervals become per-frame targets.

    Attributes:
        spot_target: ``"hard"`` (1 inside an ME) or ``"soft"`` (triangle peaking at the apex).
        macro_policy: one of :data:`MACRO_POLICIES` (module docstring).
        emotions: name of the emotion mapping in :data:`EMOTION_MAPPINGS` ("4-class": negative,
            positive, surprise, others; "3-class": without others).
        trim_edges: label ``onset + 1 … offset − 1`` like the official code (an interval of one
            or two frames keeps its apex).
    """

    spot_target: str = "hard"
    macro_policy: str = "background"
    emotions: str = FOUR_CLASS.name
    trim_edges: bool = False

    def __post_init__(self) -> None:
        if self.spot_target not in SPOT_TARGETS:
            raise ValueError(f"spot_target must be one of {SPOT_TARGETS}, "
                             f"got {self.spot_target!r}")
        if self.macro_policy not in MACRO_POLICIES:
            raise ValueError(f"macro_policy must be one of {MACRO_POLICIES}, "
                             f"got {self.macro_policy!r}")
        if self.emotions not in EMOTION_MAPPINGS:
            raise ValueError(f"emotions must be one of {sorted(EMOTION_MAPPINGS)}, "
                             f"got {self.emotions!r}")

    @property
    def mapping(self) -> EmotionMapping:
        """The emotion mapping named by ``emotions``."""
        return EMOTION_MAPPINGS[self.emotions]

    @property
    def class_names(self) -> tuple[str, ...]:
        """The model's E + 1 output classes: the mapping's emotions, then neutral."""
        return class_names_for(self.mapping)

    def to_dict(self) -> dict[str, Any]:
        return {"spot_target": self.spot_target, "macro_policy": self.macro_policy,
                "emotions": self.emotions, "trim_edges": self.trim_edges}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LabelConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise ``ValueError``."""
        return config_from_dict(cls, data)


@dataclass(frozen=True)
class FrameLabels:
    """Per-frame targets of one video.

    Attributes:
        spot: (T,) float32 spotting target in [0, 1].
        recog: (T,) int64 class index (neutral last) or :data:`IGNORE_INDEX`.
        mask: (T,) bool, frames both losses read.
    """

    spot: np.ndarray
    recog: np.ndarray
    mask: np.ndarray

    @property
    def n_frames(self) -> int:
        return int(self.spot.shape[0])


def class_names_for(mapping: EmotionMapping) -> tuple[str, ...]:
    """``mapping.classes`` followed by ``"neutral"`` (the model's output order)."""
    if _NEUTRAL in mapping.classes:
        raise ValueError(f"emotion mapping '{mapping.name}' must not list '{_NEUTRAL}': it is "
                         f"added as the last class")
    return (*mapping.classes, _NEUTRAL)


def is_micro(interval: LabeledInterval, macro_policy: str) -> bool:
    """Whether ``interval`` is labelled as an expression under ``macro_policy``."""
    return interval.expression_type == "micro" or macro_policy == "expression"


def _labelled_span(interval: LabeledInterval, trim_edges: bool) -> tuple[int, int]:
    """First and last labelled frame (inclusive), trimmed like the official code if asked."""
    onset, offset = interval.onset_frame, interval.offset_frame
    if trim_edges and offset - onset >= 2:
        onset, offset = onset + 1, offset - 1
    return onset, offset


def _profile(interval: LabeledInterval, first: int, last: int, spot_target: str) -> np.ndarray:
    """(last − first + 1,) float32 spotting target of one interval's frames."""
    frames = np.arange(first, last + 1)
    if spot_target == "hard":
        return np.ones(frames.size, dtype=np.float32)
    apex = min(max(interval.apex_frame, first), last)
    rise = (frames - first + 1) / (apex - first + 1)     # 1 at the apex, > 0 at the onset
    fall = (last - frames + 1) / (last - apex + 1)
    return np.where(frames <= apex, rise, fall).astype(np.float32)


def frame_labels(intervals: Sequence[LabeledInterval], n_frames: int,
                 config: LabelConfig = LabelConfig(),
                 valid: np.ndarray | None = None) -> FrameLabels:
    """Per-frame targets of one video (module docstring).

    Args:
        intervals: the video's labelled intervals (0-based inclusive frames); frames past the
            video's end are ignored.
        n_frames: T, the video's length in frames.
        config: label settings.
        valid: (T,) bool, frames with valid traces (None: all valid).

    Returns:
        :class:`FrameLabels` with (T,) arrays.
    """
    if n_frames < 0:
        raise ValueError(f"n_frames must be >= 0, got {n_frames}")
    neutral = len(config.class_names) - 1
    spot = np.zeros(n_frames, dtype=np.float32)
    recog = np.full(n_frames, neutral, dtype=np.int64)
    mask = np.ones(n_frames, dtype=bool)
    if valid is not None:
        valid = np.asarray(valid, dtype=bool)
        if valid.shape != (n_frames,):
            raise ValueError(f"valid must be ({n_frames},), got {valid.shape}")
        mask &= valid
    claimed = np.zeros(n_frames, dtype=bool)     # frames already inside an expression
    for interval in intervals:
        first, last = _labelled_span(interval, config.trim_edges)
        if first >= n_frames:
            continue
        last = min(last, n_frames - 1)
        span = slice(first, last + 1)
        if not is_micro(interval, config.macro_policy):
            if config.macro_policy == "ignore":
                mask[span] = False
            continue
        spot[span] = np.maximum(spot[span], _profile(interval, first, last, config.spot_target))
        class_idx = config.mapping.class_index(interval.emotion)
        target = IGNORE_INDEX if class_idx is None else class_idx
        clash = claimed[span] & (recog[span] != target)   # overlapping MEs that disagree
        recog[span] = np.where(clash, IGNORE_INDEX, target)
        claimed[span] = True
    recog[~mask] = IGNORE_INDEX
    return FrameLabels(spot, recog, mask)

"""Training-free micro-expression spotter over :class:`~core.traces.FlowTraces`.

The app's default model: it needs no checkpoint and gives a spotting curve only (no emotions).
It follows the classic feature-difference baselines for ME spotting in long videos:

* Moilanen et al., ICPR 2014 / Li et al., IEEE TAC 2018 ("feature difference", FD): compare
  each frame's feature with the *average feature frame* of the frames ``k`` before (tail) and
  ``k`` after (head), ``k = (N − 1) / 2`` for an ME of ``N`` frames (about 0.17 s in their
  settings), per face block; average the largest third of the block differences.
* Wang et al., Neurocomputing 2017 (MDMD, the MEGC 2020 baseline): optical flow from the frame
  ``k`` before to the current frame and to the frame ``k`` after, in the main flow direction of
  each block; the maximal difference of the two magnitudes marks a movement that rises and
  returns within ``2k`` frames.

What is implemented here, on ROI flow traces instead of block histograms:

1. Per ROI ``r`` the trace is a 2-D displacement ``v_r(t)`` (x, y in px, relative to a reference
   frame). The feature difference is the length of the vector
   ``v_r(t) − ½·(v_r(t − k) + v_r(t + k))`` with ``k = k_seconds · fps`` frames (indices clamped
   at the video ends). A burst that rises and returns within about ``2k`` frames scores its full
   amplitude; a sustained step (macro-expression, head pose change) only half its amplitude at
   its two edges; a constant offset or linear drift cancels exactly, a slow drift nearly.
   Taking the vector difference keeps the flow direction, as MDMD's main direction does.
2. Frames that are invalid (no face), or within ``k`` frames of one, are unreliable (the
   difference would reach into them); they are excluded from the statistics and score 0.
3. Per ROI robust normalisation: ``z = (FD − median) / max(1.4826·MAD, min_noise_px)`` over the
   reliable frames, negatives clipped to 0. Noisy ROIs (e.g. a talking mouth) count less.
4. Per frame, the mean of the largest ``top_roi_fraction`` of the ROI z-scores (FD's
   "largest third of the blocks").
5. A log-logistic map to [0, 1]: ``z^n / (z^n + z_half^n)`` (0 at z = 0, 0.5 at
   ``half_score_z`` noise units, → 1 above), so the curve is comparable across videos.

Interval extraction (smoothing, threshold, peaks) is left to :mod:`core.postprocess`, as for the
learned models. Pure numpy/scipy. Input: FlowTraces (C, T) float32 at any fps; output: (T,)
float32 spot curve in [0, 1].

Assumes the traces are displacements whose reference frame changes slowly, as
:mod:`core.flow`'s Hann-weighted overlap-add of its sliding windows guarantees: with windows of
``W`` frames the blended reference contributes at most ``½·(1 − cos(2πk/W))`` of the difference
between two window references (0.14 for k = 0.2 s, W = 50/30 s). A hard jump of the reference
would score like the edge of a macro movement.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
from scipy.ndimage import maximum_filter1d
from scipy.stats import median_abs_deviation

from core.blinks import blink_frames
from core.traces import FlowTraces

__all__ = [
    "FlowSpotterConfig",
    "FlowSpotter",
    "feature_difference",
    "reliable_frames",
    "robust_z",
    "combine_rois",
]


@dataclass(frozen=True)
class FlowSpotterConfig:
    """Settings of :class:`FlowSpotter`; times in seconds, so one config serves every fps.

    Attributes:
        k_seconds: distance from the current frame to the frames it is compared with, about
            half a micro-expression (Moilanen et al.: ``k = (N − 1) / 2`` ≈ 0.17 s).
        top_roi_fraction: fraction of ROIs (the highest-scoring ones) averaged per frame.
        min_noise_px: floor of the per-ROI noise scale in px, so a perfectly still ROI does not
            turn numerical noise into huge scores.
        half_score_z: robust z-score (in noise units) that maps to a score of 0.5.
        score_exponent: steepness of the z → score map.
        suppress_blinks: score 0 during blinks found in the traces' eye openness (blinks move
            the eyelids and, through the flow, the brows: the commonest false alarm).
    """

    k_seconds: float = 0.2
    top_roi_fraction: float = 1.0 / 3.0
    min_noise_px: float = 0.01
    half_score_z: float = 8.0
    score_exponent: float = 3.0
    suppress_blinks: bool = True

    def __post_init__(self) -> None:
        for name in ("k_seconds", "min_noise_px", "half_score_z", "score_exponent"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"FlowSpotterConfig.{name} must be > 0, got {value}")
        if not 0.0 < self.top_roi_fraction <= 1.0:
            raise ValueError(
                "FlowSpotterConfig.top_roi_fraction must be in (0, 1], "
                f"got {self.top_roi_fraction}")

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of the settings."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FlowSpotterConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise ``ValueError``."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown FlowSpotterConfig keys {unknown}; expected {sorted(known)}")
        return cls(**d)

    def k_frames(self, fps: float) -> int:
        """``k`` in frames at ``fps`` (at least 1)."""
        if not (math.isfinite(fps) and fps > 0):
            raise ValueError(f"fps must be a positive number, got {fps}")
        return max(1, math.floor(self.k_seconds * fps + 0.5))


def feature_difference(values: np.ndarray, k_frames: int) -> np.ndarray:
    """Per-ROI length of ``v(t) − ½(v(t − k) + v(t + k))``, indices clamped to the video.

    Args:
        values: (C, T) float32 displacement traces, channels ``2r``/``2r + 1`` = ROI ``r``'s x/y.
        k_frames: comparison distance in frames, >= 1.

    Returns:
        (R, T) float64 feature difference in px, R = C / 2.
    """
    n_channels, n_frames = values.shape
    xy = values.astype(np.float64).reshape(n_channels // 2, 2, n_frames)  # (R, 2, T)
    frame_idx = np.arange(n_frames)
    before = np.clip(frame_idx - k_frames, 0, n_frames - 1)
    after = np.clip(frame_idx + k_frames, 0, n_frames - 1)
    diff = xy - 0.5 * (xy[:, :, before] + xy[:, :, after])  # (R, 2, T)
    return np.hypot(diff[:, 0], diff[:, 1])


def reliable_frames(valid: np.ndarray, k_frames: int) -> np.ndarray:
    """(T,) bool: valid frames at least ``k_frames`` away from every invalid frame."""
    if valid.size == 0:
        return valid.copy()
    near_invalid = maximum_filter1d((~valid).astype(np.uint8), size=2 * k_frames + 1)
    return near_invalid == 0


def robust_z(fd: np.ndarray, reliable: np.ndarray, min_noise_px: float) -> np.ndarray:
    """Per-ROI ``(fd − median) / max(MAD·1.4826, min_noise_px)`` over reliable frames, ≥ 0.

    Args:
        fd: (R, T) feature differences in px.
        reliable: (T,) bool frames the statistics use.
        min_noise_px: floor of the noise scale.

    Returns:
        (R, T) float64 z-scores, 0 where ``reliable`` is False.
    """
    z = np.zeros_like(fd)
    if not reliable.any():
        return z
    samples = fd[:, reliable]  # (R, T_reliable)
    median = np.median(samples, axis=1, keepdims=True)  # (R, 1)
    noise = median_abs_deviation(samples, axis=1, scale="normal")[:, None]  # (R, 1)
    z[:, reliable] = (samples - median) / np.maximum(noise, min_noise_px)
    return np.clip(z, 0.0, None)


def combine_rois(z: np.ndarray, top_roi_fraction: float) -> np.ndarray:
    """(T,) mean of the ``ceil(fraction · R)`` largest ROI z-scores per frame, from (R, T)."""
    n_top = max(1, math.ceil(top_roi_fraction * z.shape[0]))
    return np.sort(z, axis=0)[-n_top:].mean(axis=0)


class FlowSpotter:
    """Training-free spotter: FlowTraces → (T,) float32 spot curve in [0, 1].

    Usage: ``spot = FlowSpotter()(traces)``, then :func:`core.postprocess.spot_intervals`.
    """

    def __init__(self, config: FlowSpotterConfig = FlowSpotterConfig()) -> None:
        self.config = config

    @classmethod
    def from_config(cls, config: FlowSpotterConfig) -> FlowSpotter:
        """Same as the constructor (the interface the learned models share)."""
        return cls(config)

    def __call__(self, traces: FlowTraces) -> np.ndarray:
        """Spot curve of one video.

        Args:
            traces: (C, T) ROI flow traces (C even), with ``valid`` and ``fps``.

        Returns:
            (T,) float32 in [0, 1]; 0 at and within ``k`` frames of invalid frames, and during
            blinks when the traces carry eye openness.
        """
        if traces.n_channels % 2 != 0 or traces.n_channels == 0:
            raise ValueError(
                f"FlowTraces.values must be (C, T) with C = 2 x ROIs (even, > 0), "
                f"got {traces.n_channels} channels")
        if not np.all(np.isfinite(traces.values)):
            raise ValueError("FlowTraces.values contains NaN/inf")
        config = self.config
        k_frames = config.k_frames(traces.fps)
        reliable = reliable_frames(traces.valid, k_frames)
        fd = feature_difference(traces.values, k_frames)  # (R, T)
        z = combine_rois(robust_z(fd, reliable, config.min_noise_px), config.top_roi_fraction)
        z_pow = np.power(z, config.score_exponent)
        score = z_pow / (z_pow + config.half_score_z ** config.score_exponent)
        score[~reliable] = 0.0
        if config.suppress_blinks and traces.eye_openness is not None:
            score[blink_frames(traces.eye_openness, traces.fps)] = 0.0
        return score.astype(np.float32)

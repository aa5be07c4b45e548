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
   frame). The *burst difference* compares the current frame with the frames ``k`` before and
   ``k`` after, ``k = k_seconds · fps``: with ``a = v(t) − v(t − k)``, ``b = v(t) − v(t + k)``
   and ``u`` the direction of ``a + b`` (FD's vector ``v(t) − ½(v(t − k) + v(t + k))``, whose
   length :func:`feature_difference` gives), the score is ``max(0, min(a·u, b·u))``: how far
   the face moved away *and came back*, in the movement's own direction (MDMD's main
   direction). A burst that rises and returns within about ``2k`` frames scores its full
   amplitude; a step (the edge of a macro-expression or head pose change) scores about 0,
   where FD gives it half its amplitude; a constant offset or linear drift cancels.
2. Sustained movements: the same difference of the traces box-smoothed over
   ``sustained_lowpass_seconds``, at the longer distance ``sustained_k_seconds``, measures
   the slow movement around each frame (its maximum within ``k`` frames). Each ROI's burst
   difference is weighted by ``min(1, burst / slow)``: an ME is as large at both scales
   (weight 1), a macro-expression is much larger at the slow one, so the ripples on its
   flanks are suppressed instead of setting the threshold.
3. Frames that are invalid (no face), or within ``k`` frames of one, are unreliable (the
   difference would reach into them); they are excluded from the statistics and score 0.
4. Per ROI robust normalisation: ``z = (d − median) / max(1.4826·MAD, min_noise_px)`` over the
   reliable frames, negatives clipped to 0, with the MAD of the ROI's FD (the burst difference
   is 0 on about half the frames, so its own MAD would understate the noise). Noisy ROIs (e.g.
   a talking mouth) count less.
5. Per frame, the mean of the largest ``top_roi_fraction`` of the ROI z-scores (FD's
   "largest third of the blocks"; a fifth here, as an ME moves few regions) minus the median
   over all ROIs (``common_mode``): what moves the whole face at once (residual head motion,
   the crop shifting with a blink) is not an ME.
6. A box smoothing over ``smooth_seconds``, then a log-logistic map to [0, 1]:
   ``z^n / (z^n + z_half^n)`` (0 at z = 0, 0.5 at ``half_score_z`` noise units, → 1 above), so
   the curve is comparable across videos and clear MEs saturate near 1, which makes the
   relative threshold of :mod:`core.postprocess` behave like a threshold in noise units.
7. Blinks (from the traces' eye openness) score 0, widened by ``k`` frames, the reach of the
   difference.

Interval extraction (smoothing, threshold, peaks) is left to :mod:`core.postprocess`, as for the
learned models. Pure numpy/scipy. Input: FlowTraces (C, T) float32 at any fps; output: (T,)
float32 spot curve in [0, 1].

Assumes the traces are displacements whose reference frame changes slowly, as
:mod:`core.flow`'s Hann-weighted overlap-add of its sliding windows guarantees: with windows of
``W`` frames the blended reference contributes at most ``½·(1 − cos(2πk/W))`` of the difference
between two window references (0.14 for k = 0.2 s, W = 50/30 s). The same windows act as a
high-pass of about ``W``: a long macro-expression shows as a slow swing at its onset and another
at its offset, which step 2 recognises.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.ndimage import binary_dilation, maximum_filter1d, uniform_filter1d
from scipy.stats import median_abs_deviation

from core.blinks import blink_frames
from core.config_dict import config_from_dict
from core.traces import FlowTraces

__all__ = [
    "FlowSpotterConfig",
    "FlowSpotter",
    "feature_difference",
    "burst_difference",
    "sustained_weight",
    "reliable_frames",
    "robust_z",
    "combine_rois",
]


def _frames(seconds: float, fps: float) -> int:
    """``seconds`` in frames at ``fps``, rounded, at least 1."""
    return max(1, math.floor(seconds * fps + 0.5))


@dataclass(frozen=True)
class FlowSpotterConfig:
    """Settings of :class:`FlowSpotter`; times in seconds, so one config serves every fps.

    Attributes:
        k_seconds: distance from the current frame to the frames it is compared with, about
            half a micro-expression (Moilanen et al.: ``k = (N − 1) / 2`` ≈ 0.17 s).
        sustained_k_seconds: the comparison distance of the slow-movement measure (step 2 of
            the module docstring); longer than ``k_seconds``.
        sustained_lowpass_seconds: box smoothing of the traces before the slow measure.
        top_roi_fraction: fraction of ROIs (the highest-scoring ones) averaged per frame.
        common_mode: subtract the per-frame median ROI z-score (whole-face motion is no ME).
        smooth_seconds: box smoothing of the combined z-score.
        min_noise_px: floor of the per-ROI noise scale in px, so a perfectly still ROI does not
            turn numerical noise into huge scores.
        half_score_z: robust z-score (in noise units) that maps to a score of 0.5.
        score_exponent: steepness of the z → score map.
        suppress_blinks: score 0 during blinks found in the traces' eye openness (blinks move
            the eyelids and, through the flow, the brows: the commonest false alarm).
    """

    k_seconds: float = 0.2
    sustained_k_seconds: float = 0.4
    sustained_lowpass_seconds: float = 0.3
    top_roi_fraction: float = 0.2
    common_mode: bool = True
    smooth_seconds: float = 1.0 / 6.0
    min_noise_px: float = 0.01
    half_score_z: float = 3.5
    score_exponent: float = 3.0
    suppress_blinks: bool = True

    def __post_init__(self) -> None:
        for name in ("k_seconds", "sustained_k_seconds", "sustained_lowpass_seconds",
                     "smooth_seconds", "min_noise_px", "half_score_z", "score_exponent"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"FlowSpotterConfig.{name} must be > 0, got {value}")
        if self.sustained_k_seconds <= self.k_seconds:
            raise ValueError(
                "FlowSpotterConfig.sustained_k_seconds must exceed k_seconds, got "
                f"{self.sustained_k_seconds} <= {self.k_seconds}")
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
        return config_from_dict(cls, d)

    def k_frames(self, fps: float) -> int:
        """``k`` in frames at ``fps`` (at least 1)."""
        if not (math.isfinite(fps) and fps > 0):
            raise ValueError(f"fps must be a positive number, got {fps}")
        return _frames(self.k_seconds, fps)


def _around(values: np.ndarray, k_frames: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(R, 2, T) float64 ROI displacements now, ``k`` frames before and after (clamped)."""
    n_channels, n_frames = values.shape
    xy = values.astype(np.float64).reshape(n_channels // 2, 2, n_frames)  # (R, 2, T)
    frame_idx = np.arange(n_frames)
    before = xy[:, :, np.clip(frame_idx - k_frames, 0, n_frames - 1)]
    after = xy[:, :, np.clip(frame_idx + k_frames, 0, n_frames - 1)]
    return xy, before, after


def feature_difference(values: np.ndarray, k_frames: int) -> np.ndarray:
    """Per-ROI length of ``v(t) − ½(v(t − k) + v(t + k))``, indices clamped to the video.

    Args:
        values: (C, T) float32 displacement traces, channels ``2r``/``2r + 1`` = ROI ``r``'s x/y.
        k_frames: comparison distance in frames, >= 1.

    Returns:
        (R, T) float64 feature difference in px, R = C / 2.
    """
    xy, before, after = _around(values, k_frames)
    diff = xy - 0.5 * (before + after)  # (R, 2, T)
    return np.hypot(diff[:, 0], diff[:, 1])


def burst_difference(values: np.ndarray, k_frames: int) -> np.ndarray:
    """Per-ROI ``max(0, min(a·u, b·u))``: a movement away and back (module docstring, step 1).

    Args:
        values: (C, T) displacement traces, channels ``2r``/``2r + 1`` = ROI ``r``'s x/y.
        k_frames: comparison distance in frames, >= 1.

    Returns:
        (R, T) float64 in px, R = C / 2; ``a = v(t) − v(t − k)``, ``b = v(t) − v(t + k)``,
        ``u`` the unit direction of ``a + b``.
    """
    xy, before, after = _around(values, k_frames)
    to_before, to_after = xy - before, xy - after  # (R, 2, T) each
    mean = to_before + to_after
    unit = mean / np.maximum(np.hypot(mean[:, 0], mean[:, 1]), 1e-12)[:, None]  # (R, 2, T)
    along_before = (to_before * unit).sum(axis=1)  # (R, T)
    along_after = (to_after * unit).sum(axis=1)
    return np.clip(np.minimum(along_before, along_after), 0.0, None)


def sustained_weight(values: np.ndarray, burst: np.ndarray, k_frames: int,
                     sustained_k_frames: int, lowpass_frames: int) -> np.ndarray:
    """Per-ROI ``min(1, burst / slow)`` (module docstring, step 2).

    Args:
        values: (C, T) displacement traces.
        burst: (R, T) :func:`burst_difference` of ``values`` at ``k_frames``.
        k_frames: the burst's comparison distance (the slow measure's maximum reaches as far).
        sustained_k_frames: comparison distance of the slow measure.
        lowpass_frames: box width applied to the traces first.

    Returns:
        (R, T) float64 weights in [0, 1].
    """
    smoothed = uniform_filter1d(values.astype(np.float64), lowpass_frames, axis=1,
                                mode="nearest")  # (C, T)
    slow = burst_difference(smoothed, sustained_k_frames)  # (R, T)
    slow = maximum_filter1d(slow, 2 * k_frames + 1, axis=1, mode="nearest")
    return np.clip(burst / np.maximum(slow, 1e-12), 0.0, 1.0)


def reliable_frames(valid: np.ndarray, k_frames: int) -> np.ndarray:
    """(T,) bool: valid frames at least ``k_frames`` away from every invalid frame."""
    if valid.size == 0:
        return valid.copy()
    near_invalid = maximum_filter1d((~valid).astype(np.uint8), size=2 * k_frames + 1)
    return near_invalid == 0


def robust_z(fd: np.ndarray, reliable: np.ndarray, min_noise_px: float,
             noise_from: np.ndarray | None = None) -> np.ndarray:
    """Per-ROI ``(fd − median) / max(MAD·1.4826, min_noise_px)`` over reliable frames, ≥ 0.

    Args:
        fd: (R, T) differences in px.
        reliable: (T,) bool frames the statistics use.
        min_noise_px: floor of the noise scale.
        noise_from: (R, T) values whose MAD is the noise scale instead of ``fd``'s (for a
            clipped ``fd`` whose MAD would understate the noise).

    Returns:
        (R, T) float64 z-scores, 0 where ``reliable`` is False.
    """
    z = np.zeros_like(fd)
    if not reliable.any():
        return z
    samples = fd[:, reliable]  # (R, T_reliable)
    median = np.median(samples, axis=1, keepdims=True)  # (R, 1)
    spread = samples if noise_from is None else noise_from[:, reliable]
    noise = median_abs_deviation(spread, axis=1, scale="normal")[:, None]  # (R, 1)
    z[:, reliable] = (samples - median) / np.maximum(noise, min_noise_px)
    return np.clip(z, 0.0, None)


def combine_rois(z: np.ndarray, top_roi_fraction: float, common_mode: bool = False) -> np.ndarray:
    """(T,) mean of the ``ceil(fraction · R)`` largest ROI z-scores per frame, from (R, T).

    With ``common_mode`` the per-frame median over all ROIs is subtracted (clipped at 0).
    """
    n_top = max(1, math.ceil(top_roi_fraction * z.shape[0]))
    combined = np.sort(z, axis=0)[-n_top:].mean(axis=0)  # (T,)
    if common_mode:
        combined = np.clip(combined - np.median(z, axis=0), 0.0, None)
    return combined


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
            blinks (widened by ``k`` frames) when the traces carry eye openness.
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
        burst = burst_difference(traces.values, k_frames)  # (R, T)
        weight = sustained_weight(
            traces.values, burst, k_frames, _frames(config.sustained_k_seconds, traces.fps),
            _frames(config.sustained_lowpass_seconds, traces.fps))
        noise_from = feature_difference(traces.values, k_frames)  # (R, T)
        z = combine_rois(robust_z(burst * weight, reliable, config.min_noise_px, noise_from),
                         config.top_roi_fraction, config.common_mode)  # (T,)
        if z.size:
            z = uniform_filter1d(z, _frames(config.smooth_seconds, traces.fps), mode="nearest")
        z_pow = np.power(z, config.score_exponent)
        score = z_pow / (z_pow + config.half_score_z ** config.score_exponent)
        score[~reliable] = 0.0
        if config.suppress_blinks and traces.eye_openness is not None:
            blinks = blink_frames(traces.eye_openness, traces.fps)
            if blinks.any():
                score[binary_dilation(blinks, iterations=k_frames)] = 0.0
        return score.astype(np.float32)

"""Per-frame curves → micro-expression intervals, as in ME-TST / ME-TST+ (Guo et al., 2025).

Input: a spotting curve ``spot`` (T,) (higher = more ME-like) and, optionally, recognition
probabilities ``recog_probs`` (T, E+1) over E emotions plus a neutral class. Output: a list of
:class:`DetectedInterval`, one per accepted peak, 0-based inclusive frames.

The rules follow the ME-TST reference code (``training_utils.spotting`` / ``recognition``):

1. Box-smooth the curve with width ``2·k_p``, where ``k_p`` is half the mean ME length in frames
   (from the *training* set's labelled intervals, or from the video's fps and a typical ME
   duration when no training statistics exist).
2. Threshold ``mean + p·(max − mean)`` of the smoothed curve (Moilanen's relative threshold,
   ``p = 0.55`` in the paper).
3. Peaks above the threshold and at least ``k_p`` frames apart (``scipy.signal.find_peaks``;
   of two closer peaks the lower is dropped). The first and last frame are never peaks.
4. Each peak becomes ``[peak − k_p, peak + k_p]`` clipped to the video, apex = peak.
5. Emotion: the majority of the per-frame argmax over the non-neutral classes inside the
   interval (ties → higher mean probability); confidence = that class's mean probability.
   Result-level synergy (ME-TST+ "recognition mainly"): when the majority of the per-frame argmax
   over *all* classes, neutral included, is neutral, the interval is dropped.

Two deliberate differences from the reference code: smoothing repeats the first and last
frame's value beyond the video ends instead of zero-padding (zero-padding pulls the first and
last ``k_p`` frames down and turns a constant curve into a plateau "peak"), and the emotion
vote covers the whole interval ``[onset, offset]`` instead of ``[onset + 1, offset − 1)``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.ndimage import uniform_filter1d
from scipy.signal import find_peaks

from core.config_dict import config_from_dict

__all__ = [
    "DEFAULT_MEAN_ME_SECONDS",
    "NEUTRAL_CLASS_NAME",
    "PostprocessConfig",
    "DetectedInterval",
    "k_p_from_fps",
    "k_p_from_intervals",
    "smooth_curve",
    "detect_peaks",
    "spot_intervals",
]

#: Typical ME duration (onset → offset) in seconds: CAS(ME)^2/^3 and SAMM-LV MEs last about
#: 0.3–0.5 s (MEGC counts up to 0.5 s as micro).
DEFAULT_MEAN_ME_SECONDS = 0.4

#: Name given to the neutral column when ``class_names`` lists the emotions only.
NEUTRAL_CLASS_NAME = "neutral"


@dataclass(frozen=True)
class PostprocessConfig:
    """How curves become intervals (defaults: the ME-TST paper).

    Attributes:
        p: threshold = mean + p·(max − mean) of the smoothed curve, in [0, 1].
        k_p: half-width of an interval in frames (also the smoothing half-width and the minimum
            peak distance); ``None`` → :func:`k_p_from_fps` with ``mean_me_seconds``.
        synergy: drop intervals whose recognition majority (neutral included) is neutral.
        neutral_index: column of the neutral class in ``recog_probs`` (negative counts from the
            end; last by default).
        mean_me_seconds: typical ME length used when ``k_p`` is ``None``.
    """

    p: float = 0.55
    k_p: int | None = None
    synergy: bool = True
    neutral_index: int = -1
    mean_me_seconds: float = DEFAULT_MEAN_ME_SECONDS

    def __post_init__(self) -> None:
        if not 0.0 <= self.p <= 1.0:
            raise ValueError(f"p must be in [0, 1], got {self.p}")
        if self.k_p is not None and (isinstance(self.k_p, bool) or int(self.k_p) != self.k_p
                                     or self.k_p < 1):
            raise ValueError(f"k_p must be a positive integer or None, got {self.k_p!r}")
        if not (math.isfinite(self.mean_me_seconds) and self.mean_me_seconds > 0):
            raise ValueError(f"mean_me_seconds must be > 0, got {self.mean_me_seconds}")

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of the settings (JSON- and checkpoint-safe)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PostprocessConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise ``ValueError``."""
        return config_from_dict(cls, d)

    def resolve_k_p(self, fps: float | None) -> int:
        """``k_p`` in frames: the configured value, else derived from ``fps``."""
        if self.k_p is not None:
            return int(self.k_p)
        if fps is None:
            raise ValueError("PostprocessConfig.k_p is None: pass the video's fps to derive it")
        return k_p_from_fps(fps, self.mean_me_seconds)


@dataclass(frozen=True)
class DetectedInterval:
    """One spotted interval (0-based, inclusive frames).

    Attributes:
        onset_frame, apex_frame, offset_frame: ``onset ≤ apex ≤ offset``; apex = the peak.
        emotion: majority non-neutral class, or ``None`` without recognition output.
        confidence: mean probability of ``emotion`` inside the interval (without recognition:
            the smoothed spot score at the apex).
        spot_score: smoothed spot score at the apex.
        class_probs: mean probability of every class (neutral included) inside the interval;
            empty without recognition output.
    """

    onset_frame: int
    apex_frame: int
    offset_frame: int
    emotion: str | None
    confidence: float
    spot_score: float
    class_probs: dict[str, float]

    @property
    def n_frames(self) -> int:
        """Length in frames, both ends included."""
        return self.offset_frame - self.onset_frame + 1


def _k_p_from_mean_length(mean_length_frames: float) -> int:
    """Half of a mean inclusive length, at least 1 (the reference's ``int((N + 1) / 2)``)."""
    return max(1, int(mean_length_frames / 2.0 + 1e-9))


def k_p_from_fps(fps: float, mean_me_seconds: float = DEFAULT_MEAN_ME_SECONDS) -> int:
    """``k_p`` (frames) for a video at ``fps`` when no training statistics are at hand.

    Half of a typical ME length: 0.4 s gives 6 frames at 30 fps, 40 at 200 fps.
    """
    if not (math.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be a positive number, got {fps}")
    if not (math.isfinite(mean_me_seconds) and mean_me_seconds > 0):
        raise ValueError(f"mean_me_seconds must be > 0, got {mean_me_seconds}")
    return _k_p_from_mean_length(mean_me_seconds * fps)


def k_p_from_intervals(lengths_frames: Sequence[int]) -> int:
    """``k_p`` from the TRAINING set's ME lengths (never the test subject's: that would leak).

    Args:
        lengths_frames: inclusive lengths ``offset − onset + 1`` of the training MEs, at the
            fps the model runs at.

    Returns:
        ``floor(mean length / 2)``, at least 1 — the ME-TST code's ``int((N + 1) / 2)`` with
        ``N`` the mean ``offset − onset``.
    """
    lengths = np.asarray(lengths_frames, dtype=np.float64)
    if lengths.ndim != 1 or lengths.size == 0:
        raise ValueError("lengths_frames must be a non-empty sequence of interval lengths")
    if not np.all(np.isfinite(lengths)) or np.any(lengths < 1):
        raise ValueError("every interval length must be a finite number of frames >= 1")
    return _k_p_from_mean_length(float(lengths.mean()))


def _as_curve(spot: np.ndarray, name: str = "spot") -> np.ndarray:
    """(T,) float64 copy of a finite 1-D curve, else ``ValueError``."""
    curve = np.asarray(spot, dtype=np.float64)
    if curve.ndim != 1:
        raise ValueError(f"{name} must be a (T,) curve, got shape {curve.shape}")
    bad = np.flatnonzero(~np.isfinite(curve))
    if bad.size:
        raise ValueError(f"{name} has {bad.size} NaN/inf values (first at frame {bad[0]})")
    return curve


def smooth_curve(spot: np.ndarray, k_p: int) -> np.ndarray:
    """Moving average of width ``2·k_p`` (the ME-TST box smoothing).

    The width is even, so the window cannot be centred: frame ``t`` averages frames
    ``t − k_p … t + k_p − 1`` (like ``np.convolve(..., mode="same")`` in the reference code),
    which shifts features by half a frame towards later frames. Beyond the ends the first and
    last values are repeated, so a constant curve stays constant.

    Args:
        spot: (T,) finite spot scores.
        k_p: half-width in frames, >= 1.

    Returns:
        (T,) float64 smoothed curve.
    """
    if int(k_p) != k_p or k_p < 1:
        raise ValueError(f"k_p must be a positive integer, got {k_p!r}")
    curve = _as_curve(spot)
    if curve.size == 0:
        return curve
    return uniform_filter1d(curve, size=2 * int(k_p), mode="nearest")


def detect_peaks(spot: np.ndarray, k_p: int, p: float) -> tuple[np.ndarray, float]:
    """Peaks of an (already smoothed) curve above ``mean + p·(max − mean)``, ``k_p`` apart.

    Args:
        spot: (T,) finite curve, normally :func:`smooth_curve`'s output (not smoothed here).
        k_p: minimum distance between peaks in frames; of two closer peaks the lower is dropped.
        p: threshold position between the mean (0) and the maximum (1).

    Returns:
        ``(peak_frames, threshold)``: (N,) int64 ascending frame indices and the threshold.
        A flat curve (max == mean) has no peaks.
    """
    if int(k_p) != k_p or k_p < 1:
        raise ValueError(f"k_p must be a positive integer, got {k_p!r}")
    curve = _as_curve(spot)
    no_peaks = np.zeros(0, dtype=np.int64)
    if curve.size == 0:
        return no_peaks, 0.0
    mean, peak_max = float(curve.mean()), float(curve.max())
    threshold = mean + p * (peak_max - mean)
    if peak_max - mean <= 1e-12 * max(1.0, abs(peak_max)):
        return no_peaks, threshold
    peak_frames, _ = find_peaks(curve, height=threshold, distance=int(k_p))
    return peak_frames.astype(np.int64), threshold


def _majority_class(probs: np.ndarray) -> int:
    """Column index most often the per-frame argmax of ``probs`` (N, K); ties → higher mean."""
    counts = np.bincount(probs.argmax(axis=1), minlength=probs.shape[1])
    mean_probs = probs.mean(axis=0)
    return int(np.argmax(np.where(counts == counts.max(), mean_probs, -np.inf)))


def _column_names(class_names: Sequence[str], n_classes: int, neutral_col: int) -> list[str]:
    """Names of all ``n_classes`` columns; emotion-only lists get ``"neutral"`` inserted."""
    names = [str(name) for name in class_names]
    if len(names) == n_classes - 1:
        names.insert(neutral_col, NEUTRAL_CLASS_NAME)
    if len(names) != n_classes:
        raise ValueError(
            f"recog_probs has {n_classes} classes (E+1 with neutral) but {len(class_names)} "
            f"class names were given; expected {n_classes} or {n_classes - 1}")
    return names


def _check_recog(recog_probs: np.ndarray, n_frames: int, neutral_index: int) -> tuple[
        np.ndarray, int]:
    """Validated (T, E+1) float64 probabilities and the non-negative neutral column."""
    probs = np.asarray(recog_probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[0] != n_frames or probs.shape[1] < 2:
        raise ValueError(
            f"recog_probs must be (T={n_frames}, E+1 >= 2), got shape {probs.shape}")
    if not np.all(np.isfinite(probs)):
        raise ValueError("recog_probs contains NaN/inf values")
    n_classes = probs.shape[1]
    if not -n_classes <= neutral_index < n_classes:
        raise ValueError(f"neutral_index {neutral_index} is out of range for {n_classes} classes")
    return probs, neutral_index % n_classes


def _label_interval(
    window: np.ndarray, names: Sequence[str], neutral_col: int, synergy: bool,
) -> tuple[str, float, dict[str, float]] | None:
    """``(emotion, confidence, class_probs)`` of one interval, or ``None`` if synergy drops it.

    Args:
        window: (N, E+1) probabilities of the interval's frames.
        names: the E+1 column names.
        neutral_col: column of the neutral class.
        synergy: drop the interval when its majority over all columns is neutral.
    """
    if synergy and _majority_class(window) == neutral_col:
        return None
    emotion_cols = [col for col in range(window.shape[1]) if col != neutral_col]
    emotion_col = emotion_cols[_majority_class(window[:, emotion_cols])]
    mean_probs = window.mean(axis=0)  # (E+1,)
    class_probs = {name: float(prob) for name, prob in zip(names, mean_probs, strict=True)}
    return names[emotion_col], float(mean_probs[emotion_col]), class_probs


def spot_intervals(
    spot: np.ndarray,
    recog_probs: np.ndarray | None,
    class_names: Sequence[str],
    config: PostprocessConfig = PostprocessConfig(),
    fps: float | None = None,
) -> list[DetectedInterval]:
    """Intervals from a spot curve and optional recognition output (rules in the module doc).

    Args:
        spot: (T,) spot scores, finite (NaN raises ``ValueError``).
        recog_probs: (T, E+1) per-frame class probabilities (softmax output), or ``None``.
        class_names: names of the E+1 columns, or of the E emotions only (the neutral column
            at ``config.neutral_index`` is then called ``"neutral"``). Ignored without
            ``recog_probs``.
        config: post-processing settings.
        fps: frames per second; needed only when ``config.k_p`` is ``None``.

    Returns:
        Intervals in ascending frame order.
    """
    curve = _as_curve(spot)
    k_p = config.resolve_k_p(fps)
    probs, names, neutral_col = None, [], 0
    if recog_probs is not None:
        probs, neutral_col = _check_recog(recog_probs, curve.size, config.neutral_index)
        names = _column_names(class_names, probs.shape[1], neutral_col)
    smoothed = smooth_curve(curve, k_p)
    peak_frames, _ = detect_peaks(smoothed, k_p, config.p)
    intervals = []
    for peak in peak_frames.tolist():
        onset, offset = max(0, peak - k_p), min(curve.size - 1, peak + k_p)
        spot_score = float(smoothed[peak])
        if probs is None:
            intervals.append(
                DetectedInterval(onset, peak, offset, None, spot_score, spot_score, {}))
            continue
        label = _label_interval(probs[onset:offset + 1], names, neutral_col, config.synergy)
        if label is not None:
            emotion, confidence, class_probs = label
            intervals.append(DetectedInterval(
                onset, peak, offset, emotion, confidence, spot_score, class_probs))
    return intervals

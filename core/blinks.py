"""Eye openness from landmarks and the blinks it reveals.

Blinks are the most common false alarm of micro-expression spotting: the eyelids move fast and
far, and the flow of the brow regions moves with them. The eye aspect ratio (EAR, Soukupová and
Čech 2016) of the 68-point landmarks, ``(|p2 − p6| + |p3 − p5|) / (2 |p1 − p4|)`` per eye, drops
sharply while the eye closes; a frame is in a blink when the mean EAR of both eyes dips clearly
below its running median (more than 10 % of it and more than four times the landmark jitter).
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import binary_dilation, median_filter

__all__ = ["eye_openness", "blink_frames"]

# dlib 68-point eyes: subject's right eye 36-41, left eye 42-47, in the order p1..p6 of the EAR.
_EYES = (np.arange(36, 42), np.arange(42, 48))


def eye_openness(landmarks: np.ndarray) -> np.ndarray:
    """(T, 68, 2) landmarks → (T,) float32 mean eye aspect ratio (NaN where no face)."""
    if landmarks.ndim != 3 or landmarks.shape[1:] != (68, 2):
        raise ValueError(f"expected (T, 68, 2) landmarks, got shape {landmarks.shape}")
    ratios = []
    for eye in _EYES:
        p = landmarks[:, eye]                                            # (T, 6, 2)
        vertical = (np.linalg.norm(p[:, 1] - p[:, 5], axis=1)
                    + np.linalg.norm(p[:, 2] - p[:, 4], axis=1))
        horizontal = 2.0 * np.linalg.norm(p[:, 0] - p[:, 3], axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            ratios.append(vertical / horizontal)
    return np.mean(ratios, axis=0).astype(np.float32)


def blink_frames(openness: np.ndarray, fps: float, *, min_drop: float = 0.1,
                 noise_z: float = 4.0, baseline_seconds: float = 2.0,
                 margin_seconds: float = 0.1) -> np.ndarray:
    """(T,) bool: frames of a blink, widened by ``margin_seconds`` on both sides.

    A frame is in a blink when its openness lies below the running median (over
    ``baseline_seconds``) by more than ``min_drop`` of that median *and* by more than ``noise_z``
    robust standard deviations of the video's own landmark jitter. Frames without a face (NaN)
    are never blinks.
    """
    openness = np.asarray(openness, dtype=np.float64)
    known = np.isfinite(openness)
    if not known.any():
        return np.zeros(openness.shape, dtype=bool)
    filled = np.where(known, openness, np.nanmedian(openness))
    size = max(3, int(round(baseline_seconds * fps)) | 1)
    baseline = median_filter(filled, size=size, mode="nearest")
    dip = baseline - filled                                            # > 0 while closing
    noise = 1.4826 * float(np.median(np.abs(dip[known] - np.median(dip[known]))))
    closed = known & (dip > min_drop * baseline) & (dip > noise_z * noise)
    margin = int(round(margin_seconds * fps))
    if margin > 0 and closed.any():
        closed = binary_dilation(closed, iterations=margin)
    return closed

"""The normalised face crop shared by flow extraction and TSFmicro.

A square around the inner eye corners (landmarks 39 and 42; g = half their distance), after the
official ME-TST code but larger: 4g above the eye-corner midpoint, 7g below, 5.5g to each side
(11g; the official crop is 9g: 3.5g up, 4.5g to the sides), so that every ROI, lower lip and
under-eye strips included, lies well inside it with room for Farnebäck's borders."""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["crop_affine", "crop_face", "warp_to_crop", "transform_points"]

# Inner eye corners of the dlib 68-point scheme, the anchor of the crop.
_INNER_EYE_LEFT, _INNER_EYE_RIGHT = 39, 42
# Crop extent around the eye-corner midpoint, in units of g (half the eye-corner distance).
_CROP_UP, _CROP_SIDE = 4.0, 5.5


def crop_affine(landmarks: np.ndarray, size: int) -> np.ndarray:
    """(68, 2) landmarks (x, y) → (2, 3) float32 scale-and-shift onto a size × size crop."""
    if landmarks.shape != (68, 2) or not np.isfinite(landmarks).all():
        raise ValueError(f"expected finite (68, 2) landmarks, got shape {landmarks.shape}")
    left, right = landmarks[_INNER_EYE_LEFT], landmarks[_INNER_EYE_RIGHT]
    centre = (left + right) / 2.0
    g = max(float(np.linalg.norm(right - left)) / 2.0, 1.0)
    scale = size / (2 * _CROP_SIDE * g)
    x0, y0 = centre[0] - _CROP_SIDE * g, centre[1] - _CROP_UP * g
    return np.array([[scale, 0.0, -scale * x0], [0.0, scale, -scale * y0]], dtype=np.float32)


def transform_points(points: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """(N, 2) points through a (2, 3) affine → (N, 2) float32."""
    return (points @ affine[:, :2].T + affine[:, 2]).astype(np.float32)


def warp_to_crop(image: np.ndarray, affine: np.ndarray, size: int) -> np.ndarray:
    """Apply a crop transform: (H, W[, 3]) uint8 → (size, size[, 3]) uint8 (edges replicated).

    Reusing one frame's ``affine`` for another (the onset's for the apex, a window reference's for
    the rest of the window) keeps the crops pixel-aligned, so head motion stays visible.
    """
    return cv2.warpAffine(image, affine, (size, size), flags=cv2.INTER_AREA,
                          borderMode=cv2.BORDER_REPLICATE)


def crop_face(image: np.ndarray, landmarks: np.ndarray, size: int) -> np.ndarray:
    """Normalised face crop of an (H, W) or (H, W, 3) uint8 image → (size, size[, 3]) uint8."""
    return warp_to_crop(image, crop_affine(landmarks, size), size)

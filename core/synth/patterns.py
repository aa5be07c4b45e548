"""Facial action patterns as smooth local displacement fields, placed by dlib-68 landmarks.

A pattern is a few anisotropic Gaussian *blobs*, in left/right pairs: each blob sits at the
mean of some landmarks, moves the skin under it in one direction of the face's own frame
(outward/inward, up/down) and fades with distance. The field of an event at one frame is

    d(p) = Σ_blobs  amplitude · intensity · side_gain · v_blob · exp(−½ (a² / σa² + b² / σb²))

where ``a``, ``b`` are the coordinates of ``p − centre`` along the face's right and up axes.
Content at ``p`` moves to ``p + d(p)`` (the renderer samples ``p − d(p)``). The blobs are large
enough that the warp never folds (its Jacobian determinant stays above 0.2) up to the largest
configured amplitudes: 8 px on a 250-px face, and a blink closing 90 % of a wide-open eye.

Patterns: AU4 (inner brows down and together), AU12 (lip corners up and out), AU1+2 (brows
raised), AU9 (nose wings up), AU24 (lips pressed: upper lip down, lower lip up), and ``blink``
(the upper-lid region moves down over the eye).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.synth.events import SynthEvent

__all__ = ["PATTERNS", "FaceGeometry", "displacement_field"]

_RIGHT_EYE, _LEFT_EYE = slice(36, 42), slice(42, 48)   # subject's right / left eye
_MOUTH = slice(48, 68)
_JAW_RIGHT, _JAW_LEFT = 0, 16
_BLOB_REACH = 3.0                                        # blobs are cut off at 3 sigma


@dataclass(frozen=True)
class _Blob:
    """One blob of a pattern (sizes in face widths).

    ``points``: landmarks whose mean is the centre; ``side``: −1 subject's right, +1 left;
    ``sigma``: extent along (face right, face up); ``direction``: (outward, up) components of
    the motion; ``lift``: centre offset along face up.
    """

    points: tuple[int, ...]
    side: int
    sigma: tuple[float, float]
    direction: tuple[float, float]
    lift: float = 0.0


def _pair(right_points: tuple[int, ...], left_points: tuple[int, ...],
          sigma: tuple[float, float], direction: tuple[float, float],
          lift: float = 0.0) -> tuple[_Blob, _Blob]:
    """Mirror-symmetric blobs on the subject's right and left."""
    return (_Blob(right_points, -1, sigma, direction, lift),
            _Blob(left_points, +1, sigma, direction, lift))


#: The blobs of every pattern name used by :mod:`core.synth.events`.
PATTERNS: dict[str, tuple[_Blob, ...]] = {
    "AU4": _pair((20, 21), (22, 23), (0.07, 0.05), (-0.55, -0.85)),
    "AU12": _pair((48,), (54,), (0.06, 0.05), (0.6, 0.8)),
    "AU1+2": _pair((18, 19, 20), (23, 24, 25), (0.11, 0.05), (0.0, 1.0)),
    "AU9": _pair((31,), (35,), (0.05, 0.05), (-0.3, 0.95), lift=0.02),
    "AU24": (*_pair((50,), (52,), (0.06, 0.035), (0.0, -1.0)),
             *_pair((58,), (56,), (0.06, 0.035), (0.0, 1.0))),
    "blink": _pair((37, 38), (43, 44), (0.07, 0.045), (0.0, -1.0), lift=-0.01),
}


@dataclass(frozen=True)
class FaceGeometry:
    """The face's own frame in image pixels, from (68, 2) dlib landmarks (x, y).

    ``right``: unit vector from the subject's right eye to their left eye; ``up``: unit vector
    perpendicular to it, pointing from the mouth to the eyes; ``width_px``: ear-to-ear width
    (landmarks 0–16).
    """

    landmarks: np.ndarray
    right: np.ndarray
    up: np.ndarray
    width_px: float

    @classmethod
    def from_landmarks(cls, landmarks: np.ndarray) -> FaceGeometry:
        """Geometry of (68, 2) float landmarks."""
        landmarks = np.asarray(landmarks, dtype=np.float64)
        if landmarks.shape != (68, 2) or not np.isfinite(landmarks).all():
            raise ValueError(f"expected finite (68, 2) landmarks, got shape {landmarks.shape}")
        right_eye, left_eye = landmarks[_RIGHT_EYE].mean(0), landmarks[_LEFT_EYE].mean(0)
        right = _unit(left_eye - right_eye)
        towards_eyes = (right_eye + left_eye) / 2 - landmarks[_MOUTH].mean(0)
        up = _unit(towards_eyes - (towards_eyes @ right) * right)
        width = float(np.linalg.norm(landmarks[_JAW_LEFT] - landmarks[_JAW_RIGHT]))
        return cls(landmarks, right, up, max(width, 1.0))


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    if norm < 1e-9:
        raise ValueError("degenerate landmarks: the eyes (or eyes and mouth) coincide")
    return vector / norm


def displacement_field(face: FaceGeometry, event: SynthEvent, intensity: float,
                       frame_size: tuple[int, int]
                       ) -> tuple[int, int, np.ndarray] | None:
    """The displacement field of an expression or blink event at one frame.

    Args:
        face: the face in output pixels at this frame.
        event: an event with a pattern of :data:`PATTERNS`.
        intensity: the event's intensity at this frame, in [0, 1].
        frame_size: (width, height) of the output frame.
    Returns:
        ``(y0, x0, field)``: ``field`` is (h, w, 2) float32 (dx, dy) in pixels, covering rows
        ``y0 … y0 + h − 1`` and columns ``x0 … x0 + w − 1`` of the frame; None when the field
        is zero or outside the frame.
    """
    if intensity <= 0.0 or event.amplitude_px <= 0.0:
        return None
    blobs = PATTERNS[event.pattern]
    fw = face.width_px
    shift = (event.shift[0] * face.right + event.shift[1] * face.up) * fw
    centres = np.array([face.landmarks[list(b.points)].mean(0) + shift + b.lift * fw * face.up
                        for b in blobs])                                        # (K, 2)
    sigmas = np.array([b.sigma for b in blobs]) * fw * event.spread              # (K, 2)
    reach = _BLOB_REACH * sigmas.max()
    width, height = frame_size
    x0, y0 = (max(0, int(np.floor(v))) for v in centres.min(0) - reach)
    x1 = min(width, int(np.ceil(centres[:, 0].max() + reach)) + 1)
    y1 = min(height, int(np.ceil(centres[:, 1].max() + reach)) + 1)
    if x1 <= x0 or y1 <= y0:
        return None
    grid_x, grid_y = np.meshgrid(np.arange(x0, x1, dtype=np.float64),
                                 np.arange(y0, y1, dtype=np.float64))           # (h, w) each
    field = np.zeros((y1 - y0, x1 - x0, 2), dtype=np.float64)
    for blob, centre, (sigma_a, sigma_b) in zip(blobs, centres, sigmas, strict=True):
        rel_x, rel_y = grid_x - centre[0], grid_y - centre[1]
        along = rel_x * face.right[0] + rel_y * face.right[1]
        across = rel_x * face.up[0] + rel_y * face.up[1]
        weight = np.exp(-0.5 * ((along / sigma_a) ** 2 + (across / sigma_b) ** 2))  # (h, w)
        gain = event.side_gains[0 if blob.side < 0 else 1]
        motion = (blob.direction[0] * blob.side * face.right + blob.direction[1] * face.up)
        field += (event.amplitude_px * intensity * gain) * weight[..., None] * motion
    return y0, x0, field.astype(np.float32)

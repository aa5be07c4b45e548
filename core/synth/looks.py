"""How a synthetic subject looks and how their head moves.

A :class:`SubjectLook` turns base footage into a different-looking person: horizontal mirroring,
face size (×0.85–1.2), where the face sits in the frame, contrast, brightness and colour tint.
Output frames are 80 % of the base frame's size, so every subject is a crop of the (scaled)
footage and no border or reflected copy of the face comes into view.
:class:`HeadMotion` is one video's slow, smooth head motion (sub-pixel to a few pixels of
translation, a fraction of a degree of roll, ±1 % of scale) and brightness drift: sums of three
low-frequency sinusoids per quantity, so nothing jumps.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

__all__ = ["MIRRORED_LANDMARKS", "SubjectLook", "HeadMotion", "output_frame_size"]


def _mirror_permutation() -> np.ndarray:
    """Index map of the dlib-68 scheme under a horizontal flip (the subject's right ↔ left)."""
    pairs = [(i, 16 - i) for i in range(8)]                         # jaw
    pairs += [(17 + i, 26 - i) for i in range(5)]                   # brows
    pairs += [(31, 35), (32, 34)]                                   # nose bottom
    pairs += [(36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46)]   # eyes
    pairs += [(48, 54), (49, 53), (50, 52), (55, 59), (56, 58)]     # outer lips
    pairs += [(60, 64), (61, 63), (65, 67)]                         # inner lips
    permutation = np.arange(68)
    for a, b in pairs:
        permutation[a], permutation[b] = b, a
    return permutation


#: ``landmarks[MIRRORED_LANDMARKS]`` keeps each point's meaning after a horizontal flip.
MIRRORED_LANDMARKS = _mirror_permutation()

_SCALE_RANGE = (0.85, 1.2)
_FRAME_SHARE = 0.8            # output frames are this share of the base frame (no borders)
_OFFSET_RANGE = 0.05          # face centre offset, fraction of the frame size
_FACE_CENTRE_Y = 0.53         # the face centre (mean landmark) sits a little below the middle
_CONTRAST_RANGE = (0.85, 1.15)
_BRIGHTNESS_RANGE = 15.0      # ± grey levels
_TINT_RANGE = (0.93, 1.07)
_MOTION_HZ = (0.03, 0.25)     # head motion frequencies
_DRIFT_HZ = (0.02, 0.1)       # brightness drift frequencies
_N_SINES = 3


def output_frame_size(base_size: tuple[int, int]) -> tuple[int, int]:
    """(width, height) of the output frames for a (width, height) base: 80 % of it, even, so
    that a subject scaled down to 0.85 still shows only base pixels."""
    width, height = base_size
    return 2 * round(_FRAME_SHARE * width / 2), 2 * round(_FRAME_SHARE * height / 2)


@dataclass(frozen=True)
class SubjectLook:
    """A subject derived from base footage.

    Attributes:
        base_index: which base footage (index into the config's bases).
        mirror: flipped horizontally.
        scale: face size relative to the base footage.
        offset: face centre offset from its default place, as fractions of (width, height).
        contrast, brightness: ``(x − 128) · contrast + 128 + brightness``.
        tint: (B, G, R) gains.
    """

    base_index: int
    mirror: bool
    scale: float
    offset: tuple[float, float]
    contrast: float
    brightness: float
    tint: tuple[float, float, float]

    @classmethod
    def draw(cls, subject_idx: int, n_bases: int, rng: np.random.Generator) -> SubjectLook:
        """The look of subject ``subject_idx``: bases are used in turn; every second round
        through them is mirrored."""
        offset = rng.uniform(-_OFFSET_RANGE, _OFFSET_RANGE, size=2)
        tint = rng.uniform(*_TINT_RANGE, size=3)
        return cls(base_index=subject_idx % n_bases,
                   mirror=bool((subject_idx // n_bases) % 2),
                   scale=float(rng.uniform(*_SCALE_RANGE)),
                   offset=(float(offset[0]), float(offset[1])),
                   contrast=float(rng.uniform(*_CONTRAST_RANGE)),
                   brightness=float(rng.uniform(-_BRIGHTNESS_RANGE, _BRIGHTNESS_RANGE)),
                   tint=(float(tint[0]), float(tint[1]), float(tint[2])))

    def affine(self, face_centre: np.ndarray, base_size: tuple[int, int],
               frame_size: tuple[int, int], margin_px: float) -> np.ndarray:
        """(3, 3) float64 homogeneous map from base pixels to output pixels.

        Mirror and scale about the base face centre (2,), which lands at its place in the
        (width, height) output frame; then shift so that the output frame shows only base
        pixels at least ``margin_px`` (base pixels) inside the base frame (head motion must not
        reveal the border), where that is possible.
        """
        width, height = frame_size
        flip = -1.0 if self.mirror else 1.0
        target = np.array([width * (0.5 + self.offset[0]),
                           height * (_FACE_CENTRE_Y + self.offset[1])])
        linear = np.diag([flip * self.scale, self.scale])
        shift = target - linear @ face_centre
        corners = np.array([[0, 0], [width, height]], dtype=np.float64)
        seen = (corners - shift) @ np.linalg.inv(linear).T       # (2, 2) base px, x/y order
        low, high = seen.min(axis=0), seen.max(axis=0)
        lower = np.full(2, margin_px)
        upper = np.asarray(base_size, dtype=np.float64) - margin_px
        move = np.where(high - low > upper - lower, (lower + upper - low - high) / 2,
                        np.maximum(lower - low, 0) + np.minimum(upper - high, 0))
        matrix = np.eye(3)
        matrix[:2, :2] = linear
        matrix[:2, 2] = shift - linear @ move
        return matrix

    def photometric(self, drift: float) -> tuple[np.ndarray, np.ndarray]:
        """Per-channel ``(gain, bias)`` (3,) float32 each, for a brightness ``drift`` factor:
        ``out = x · gain + bias``."""
        tint = np.asarray(self.tint) * drift
        gain = self.contrast * tint
        bias = (128.0 * (1.0 - self.contrast) + self.brightness) * tint
        return gain.astype(np.float32), bias.astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-safe dict."""
        return {key: list(value) if isinstance(value, tuple) else value
                for key, value in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SubjectLook:
        """Inverse of :meth:`to_dict`."""
        known = {f.name for f in fields(cls)}
        return cls(**{key: tuple(value) if isinstance(value, list) else value
                      for key, value in data.items() if key in known})


@dataclass(frozen=True)
class HeadMotion:
    """Slow head motion and brightness drift of one video.

    ``frequencies_hz`` and ``phases`` are (5, 3): three sinusoids for each of x, y (pixels),
    roll (degrees), scale (relative) and brightness (relative); ``amplitudes`` (5,) are the
    peaks (the sinusoids' weights sum to one).
    """

    frequencies_hz: np.ndarray
    phases: np.ndarray
    weights: np.ndarray
    amplitudes: np.ndarray

    @classmethod
    def draw(cls, translation_px: float, rotation_deg: float, scale: float,
             brightness: float, rng: np.random.Generator) -> HeadMotion:
        """Random motion with the given peaks."""
        frequencies = rng.uniform(*_MOTION_HZ, size=(5, _N_SINES))
        frequencies[4] = rng.uniform(*_DRIFT_HZ, size=_N_SINES)
        weights = rng.dirichlet(np.ones(_N_SINES), size=5)                    # (5, 3)
        return cls(frequencies, rng.uniform(0.0, 2.0 * math.pi, size=(5, _N_SINES)), weights,
                   np.array([translation_px, translation_px, rotation_deg, scale, brightness]))

    def at(self, t_s: float) -> np.ndarray:
        """(5,) float64: x, y translation (px), roll (deg), relative scale change and
        relative brightness change at time ``t_s``."""
        waves = np.sin(2.0 * math.pi * self.frequencies_hz * t_s + self.phases)  # (5, 3)
        return self.amplitudes * (self.weights * waves).sum(axis=1)

    def affine(self, t_s: float, centre: np.ndarray, jerk_px: np.ndarray) -> np.ndarray:
        """(3, 3) float64: roll and scale about ``centre`` (2,), then translation by the slow
        motion plus ``jerk_px`` (2,)."""
        dx, dy, roll_deg, scale_change, _ = self.at(t_s)
        angle = math.radians(roll_deg)
        linear = (1.0 + scale_change) * np.array([[math.cos(angle), -math.sin(angle)],
                                                  [math.sin(angle), math.cos(angle)]])
        matrix = np.eye(3)
        matrix[:2, :2] = linear
        matrix[:2, 2] = centre - linear @ centre + np.array([dx, dy]) + jerk_px
        return matrix

    def brightness(self, t_s: float) -> float:
        """Brightness factor at ``t_s`` (1 ± ``brightness``)."""
        return 1.0 + float(self.at(t_s)[4])

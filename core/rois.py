"""Facial regions of interest from 68 dlib landmarks, kept as data in ``resources/rois/*.json``.

Two sets: ``metst`` — the 5 coarse ROIs of the official ME-TST code (brows, mouth, nose wings) →
10 flow channels; ``metst_plus`` — 18 multi-granularity ROIs of ME-TST+ → 36 channels. Each set
also names a global region (the nose bridge) whose motion is removed from every ROI.

A ROI is the bounding box of some landmarks grown by margins ``[left, top, right, bottom]`` in
units of ``g`` = half the distance between the inner eye corners (landmarks 39 and 42), so boxes
scale with the face. ``left``/``right`` in ROI names are the *subject's* sides. Each ROI names the
*coarse* region it lies in; optical flow is computed once per coarse region (see ``core.flow``).
"""

from __future__ import annotations

import colorsys
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from resources import resource_path

__all__ = ["RoiSpec", "RoiSet", "ROI_SET_NAMES", "load_roi_set", "load_roi_set_file",
           "roi_colors", "unit_length"]

ROI_SET_NAMES = ("metst", "metst_plus")
_N_LANDMARKS = 68


def unit_length(landmarks: np.ndarray) -> float:
    """g: half the distance between the inner eye corners (39, 42) of (68, 2) landmarks."""
    return max(float(np.linalg.norm(landmarks[42] - landmarks[39])) / 2.0, 1e-6)


@dataclass(frozen=True)
class RoiSpec:
    """One region: landmark indices, margins [left, top, right, bottom] in g, coarse region."""

    name: str
    landmarks: tuple[int, ...]
    margin: tuple[float, float, float, float]
    coarse: str

    def box(self, landmarks: np.ndarray, g: float | None = None) -> np.ndarray:
        """(68, 2) landmarks → (4,) float32 x0, y0, x1, y1 (x1, y1 exclusive)."""
        g = unit_length(landmarks) if g is None else g
        points = landmarks[list(self.landmarks)]
        left, top, right, bottom = self.margin
        return np.array([points[:, 0].min() - left * g, points[:, 1].min() - top * g,
                         points[:, 0].max() + right * g + 1, points[:, 1].max() + bottom * g + 1],
                        dtype=np.float32)


@dataclass(frozen=True)
class RoiSet:
    """A named set of ROIs plus the global (nose-bridge) region used for alignment."""

    name: str
    rois: tuple[RoiSpec, ...]
    global_roi: RoiSpec

    @property
    def roi_names(self) -> tuple[str, ...]:
        return tuple(roi.name for roi in self.rois)

    @property
    def channel_names(self) -> tuple[str, ...]:
        """``<roi>_x``, ``<roi>_y`` per ROI in order: 2R channels."""
        return tuple(f"{roi.name}_{axis}" for roi in self.rois for axis in "xy")

    def boxes(self, landmarks: np.ndarray) -> np.ndarray:
        """(68, 2) landmarks → (R, 4) int32 boxes x0, y0, x1, y1 (x1, y1 exclusive)."""
        _check_landmarks(landmarks)
        g = unit_length(landmarks)
        return np.rint([roi.box(landmarks, g) for roi in self.rois]).astype(np.int32)

    def global_box(self, landmarks: np.ndarray) -> np.ndarray:
        """(68, 2) landmarks → (4,) int32 box of the global region."""
        _check_landmarks(landmarks)
        return np.rint(self.global_roi.box(landmarks)).astype(np.int32)

    def draw(self, image: np.ndarray, landmarks: np.ndarray,
             colors: list[tuple[int, int, int]] | None = None, labels: bool = True) -> np.ndarray:
        """A BGR copy of ``image`` with every ROI box (and the global one, grey) drawn on it."""
        out = image.copy()
        colors = colors or roi_colors(len(self.rois))
        thickness = max(1, int(round(unit_length(landmarks) / 25)))
        x0, y0, x1, y1 = self.global_box(landmarks)
        cv2.rectangle(out, (int(x0), int(y0)), (int(x1) - 1, int(y1) - 1), (160, 160, 160),
                      thickness)
        for (x0, y0, x1, y1), color, roi in zip(self.boxes(landmarks), colors, self.rois,
                                                strict=True):
            cv2.rectangle(out, (int(x0), int(y0)), (int(x1) - 1, int(y1) - 1), color, thickness)
            if labels:
                cv2.putText(out, roi.name, (int(x0), int(y0) - 2), cv2.FONT_HERSHEY_SIMPLEX,
                            0.3, color, 1, cv2.LINE_AA)
        return out


def roi_colors(n: int) -> list[tuple[int, int, int]]:
    """n distinct BGR colours (evenly spaced hues); the GUI colours each ROI's trace the same."""
    colors = []
    for i in range(n):
        r, g, b = colorsys.hsv_to_rgb(i / max(n, 1), 0.85, 0.95)
        colors.append((int(b * 255), int(g * 255), int(r * 255)))
    return colors


def load_roi_set(name: str) -> RoiSet:
    """The shipped ROI set ``name`` (``"metst"`` or ``"metst_plus"``)."""
    if name not in ROI_SET_NAMES:
        raise ValueError(f"unknown ROI set {name!r}; choose one of {', '.join(ROI_SET_NAMES)}")
    return load_roi_set_file(resource_path("rois", f"{name}.json"))


def load_roi_set_file(path: str | os.PathLike[str]) -> RoiSet:
    """Read a ROI set from JSON; a malformed file raises ValueError naming it and the problem."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return RoiSet(str(data["name"]), tuple(_spec(r) for r in data["rois"]),
                      _spec(data["global"]))
    except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        problem = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
        raise ValueError(f"{path}: not a valid ROI set ({problem})") from exc


def _spec(data: dict[str, Any]) -> RoiSpec:
    landmarks = tuple(int(i) for i in data["landmarks"])
    margin = tuple(float(m) for m in data["margin"])
    if not landmarks or any(not 0 <= i < _N_LANDMARKS for i in landmarks):
        raise ValueError(f"ROI {data.get('name')!r}: landmark indices must be in 0..67")
    if len(margin) != 4:
        raise ValueError(f"ROI {data.get('name')!r}: margin needs 4 values [left, top, right, "
                         "bottom]")
    return RoiSpec(str(data["name"]), landmarks, margin, str(data["coarse"]))  # type: ignore[arg-type]


def _check_landmarks(landmarks: np.ndarray) -> None:
    if landmarks.shape != (_N_LANDMARKS, 2):
        raise ValueError(f"expected (68, 2) landmarks, got shape {landmarks.shape}")

"""Facial regions of interest from dlib's 68 landmarks, kept as data in ``resources/rois/*.json``.

Two shipped sets, both taken from the official ME-TST/ME-TST+ feature extraction
(``feature_extraction.py`` of github.com/zizheng-guo/ME-TST):

- ``metst``: the 5 coarse ROIs (both brows, mouth, both nose wings) → 10 flow channels;
- ``metst_plus``: the 18 multi-granularity ROIs (each brow and 3 points along it, the mouth and 5
  points on it, both nose wings, below each eye) → 36 channels, in the official channel order.

Each set also names a *global* region on the nose, rigid under expressions, whose motion the flow
extractor removes from every ROI.

A ROI's box is the bounding box of its landmarks grown on every side by ``margin`` and then by
its ``pad`` (left, top, right, bottom; negative shrinks), both in units of the inter-ocular
distance (between the eye centres, the means of landmarks 36-41 and 42-47), so boxes scale with
the face. ``right``/``left`` in ROI names are the *subject's* sides: landmarks 17-21 (the image's
left in a frontal view) are the subject's right brow. ``coarse`` names the coarse face region a
ROI lies in; :mod:`core.flow` computes optical flow once per coarse region (the union of its
ROIs' boxes) and pools every ROI inside it from that flow. ``top_fraction`` optionally records
the official code's share of largest-magnitude flow vectors pooled for that ROI.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from resources import resource_path

__all__ = [
    "RoiSpec",
    "RoiSet",
    "ROI_SET_NAMES",
    "load_roi_set",
    "load_roi_set_file",
    "roi_colors",
    "inter_ocular_distance",
]

ROI_SET_NAMES = ("metst", "metst_plus")
_N_LANDMARKS = 68
_RIGHT_EYE, _LEFT_EYE = slice(36, 42), slice(42, 48)     # subject's sides
# Top-level keys of a ROI-set file that only document it.
_DOC_KEYS = frozenset({"description", "source", "units", "sides", "coarse", "notes"})
_ROI_KEYS = frozenset({"name", "landmarks", "margin", "coarse", "pad", "top_fraction", "note"})
_ROI_REQUIRED = ("name", "landmarks", "margin", "coarse")

# Kelly's colours of maximum contrast (white and black left out), RGB.
_PALETTE = (
    (243, 195, 0), (135, 86, 146), (243, 132, 0), (161, 202, 241), (190, 0, 50),
    (194, 178, 128), (0, 136, 86), (230, 143, 172), (0, 103, 165), (249, 147, 121),
    (96, 78, 151), (246, 166, 0), (179, 68, 108), (220, 211, 0), (136, 45, 23),
    (141, 182, 0), (101, 69, 34), (226, 88, 34), (43, 61, 38), (132, 132, 130),
)
_GLOBAL_COLOR = (200, 200, 200)


def inter_ocular_distance(landmarks: np.ndarray) -> float:
    """Distance between the eye centres (means of landmarks 36-41 and 42-47) of (68, 2) points."""
    _check_landmarks(landmarks)
    right = landmarks[_RIGHT_EYE].mean(axis=0)
    left = landmarks[_LEFT_EYE].mean(axis=0)
    return float(np.hypot(*(left - right)))


@dataclass(frozen=True)
class RoiSpec:
    """One region of interest, defined by landmarks and margins.

    Attributes:
        name: unique name within its set, e.g. ``"right_brow"`` (subject's side).
        landmarks: 0-based dlib landmark indices whose bounding box the ROI starts from.
        margin: growth on every side, in inter-ocular distances.
        coarse: the coarse face region the ROI lies in (flow is computed once per region).
        pad: extra growth (left, top, right, bottom) in inter-ocular distances, negative shrinks.
        top_fraction: share of largest-magnitude flow vectors the official code pools for this
            ROI; None leaves it to the flow extractor.
    """

    name: str
    landmarks: tuple[int, ...]
    margin: float
    coarse: str
    pad: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    top_fraction: float | None = None

    def box(self, landmarks: np.ndarray, inter_ocular: float | None = None) -> np.ndarray:
        """(68, 2) landmarks → (4,) float64 box x0, y0, x1, y1 before rounding."""
        unit = inter_ocular_distance(landmarks) if inter_ocular is None else inter_ocular
        points = landmarks[list(self.landmarks)]                     # (n, 2)
        left, top, right, bottom = (self.margin + p for p in self.pad)
        return np.array([points[:, 0].min() - left * unit, points[:, 1].min() - top * unit,
                         points[:, 0].max() + right * unit, points[:, 1].max() + bottom * unit],
                        dtype=np.float64)


@dataclass(frozen=True)
class RoiSet:
    """A named, ordered set of ROIs plus the global region used to remove head motion.

    Attributes:
        name: ``"metst"``, ``"metst_plus"`` or a custom file's name.
        rois: the ROIs in channel order.
        global_roi: the rigid region whose motion is subtracted from every ROI.
        source: where the geometry comes from (free text from the file).
    """

    name: str
    rois: tuple[RoiSpec, ...]
    global_roi: RoiSpec
    source: str = field(default="", compare=False)

    @property
    def roi_names(self) -> tuple[str, ...]:
        return tuple(roi.name for roi in self.rois)

    @property
    def channel_names(self) -> tuple[str, ...]:
        """``"<roi>_x"``, ``"<roi>_y"`` per ROI, in ROI order: 2R channels."""
        return tuple(f"{roi.name}_{axis}" for roi in self.rois for axis in "xy")

    def boxes(self, landmarks: np.ndarray) -> np.ndarray:
        """ROI boxes for one face.

        Args:
            landmarks: (68, 2) float (x, y), finite.
        Returns:
            (R, 4) int32 x0, y0, x1, y1 with x1, y1 exclusive, at least 1 px wide and high; not
            clipped to any image.
        """
        unit = inter_ocular_distance(landmarks)
        return _round_boxes(np.stack([roi.box(landmarks, unit) for roi in self.rois]))

    def global_box(self, landmarks: np.ndarray) -> np.ndarray:
        """(68, 2) landmarks → (4,) int32 box of the global region (x1, y1 exclusive)."""
        return _round_boxes(self.global_roi.box(landmarks)[None])[0]

    def draw(self, image: np.ndarray, landmarks: np.ndarray,
             colors: list[tuple[int, int, int]] | None = None, labels: bool = True) -> np.ndarray:
        """A copy of ``image`` with every ROI box outlined (and the global box in light grey).

        Args:
            image: (H, W, 3) uint8 BGR or (H, W) uint8 grey.
            landmarks: (68, 2) landmarks in the image's pixels.
            colors: one RGB colour per ROI (default :func:`roi_colors`).
            labels: write each ROI's name above its box.
        Returns:
            (H, W, 3) uint8 BGR copy.
        """
        if image.dtype != np.uint8 or image.ndim not in (2, 3) or (
                image.ndim == 3 and image.shape[2] != 3):
            raise ValueError(f"expected an (H, W, 3) BGR or (H, W) grey uint8 image, got "
                             f"{image.shape} {image.dtype}")
        colors = roi_colors(len(self.rois)) if colors is None else list(colors)
        if len(colors) != len(self.rois):
            raise ValueError(f"{len(colors)} colours for {len(self.rois)} ROIs")
        out = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else image.copy()
        _draw_box(out, self.global_box(landmarks), _GLOBAL_COLOR, None)
        for roi, box, rgb in zip(self.rois, self.boxes(landmarks), colors, strict=True):
            _draw_box(out, box, rgb, roi.name if labels else None)
        return out


def _round_boxes(boxes: np.ndarray) -> np.ndarray:
    """(N, 4) float boxes (inclusive extremes) → (N, 4) int32 with exclusive ends, ≥ 1 px."""
    out = np.rint(boxes).astype(np.int32)
    out[:, 2:] += 1
    out[:, 2:] = np.maximum(out[:, 2:], out[:, :2] + 1)
    return out


def _draw_box(image: np.ndarray, box: np.ndarray, rgb: tuple[int, int, int],
              label: str | None) -> None:
    """Outline ``box`` (x1, y1 exclusive) on a BGR image in place, with an optional label."""
    bgr = (int(rgb[2]), int(rgb[1]), int(rgb[0]))
    x0, y0, x1, y1 = (int(v) for v in box)
    cv2.rectangle(image, (x0, y0), (x1 - 1, y1 - 1), bgr, 1)
    if label:
        cv2.putText(image, label, (x0, max(y0 - 2, 8)), cv2.FONT_HERSHEY_SIMPLEX, 0.3, bgr, 1,
                    cv2.LINE_AA)


def roi_colors(n: int) -> list[tuple[int, int, int]]:
    """``n`` distinct RGB colours, the same for the same ``n`` every time.

    The GUI draws each ROI's box and flow trace in its colour. The first 20 are Kelly's colours
    of maximum contrast; more continue around the hue circle by the golden angle.
    """
    if n < 0:
        raise ValueError(f"n must be non-negative, got {n}")
    colors = list(_PALETTE[:n])
    for i in range(n - len(colors)):
        hue = int(round((i * 0.618034 % 1.0) * 179))
        pixel = cv2.cvtColor(np.array([[[hue, 200, 230]]], np.uint8), cv2.COLOR_HSV2RGB)[0, 0]
        colors.append((int(pixel[0]), int(pixel[1]), int(pixel[2])))
    return colors


def load_roi_set(name: str) -> RoiSet:
    """The shipped ROI set ``name`` (one of :data:`ROI_SET_NAMES`).

    Raises:
        ValueError: an unknown name (the message lists the valid ones).
    """
    if name not in ROI_SET_NAMES:
        raise ValueError(f"unknown ROI set {name!r}; valid names: {', '.join(ROI_SET_NAMES)}")
    roi_set = load_roi_set_file(resource_path("rois", f"{name}.json"))
    if roi_set.name != name:
        raise ValueError(f"{resource_path('rois', f'{name}.json')}: names the set "
                         f"{roi_set.name!r}, expected {name!r}")
    return roi_set


def load_roi_set_file(path: str | os.PathLike[str]) -> RoiSet:
    """Read a ROI set from a JSON file (the format of ``resources/rois/*.json``).

    Raises:
        ValueError: the file is missing, not JSON, or not a valid ROI set; the message names the
            file and the problem.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: cannot read the ROI set ({exc})") from exc
    try:
        return _parse_roi_set(data)
    except ValueError as exc:
        raise ValueError(f"{path}: not a valid ROI set: {exc}") from exc


def _parse_roi_set(data: Any) -> RoiSet:
    if not isinstance(data, dict):
        raise ValueError("the top level must be a JSON object")
    missing = [key for key in ("name", "rois", "global_roi") if key not in data]
    unknown = sorted(set(data) - {"name", "rois", "global_roi"} - _DOC_KEYS)
    if missing or unknown:
        raise ValueError(f"missing keys {missing}, unknown keys {unknown}")
    if not isinstance(data["rois"], list) or not data["rois"]:
        raise ValueError("'rois' must be a non-empty list")
    rois = tuple(_parse_roi(entry, f"rois[{i}]") for i, entry in enumerate(data["rois"]))
    names = [roi.name for roi in rois]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"duplicate ROI names {duplicates}")
    return RoiSet(str(data["name"]), rois, _parse_roi(data["global_roi"], "global_roi"),
                  str(data.get("source", "")))


def _parse_roi(entry: Any, where: str) -> RoiSpec:
    if not isinstance(entry, dict):
        raise ValueError(f"{where} must be a JSON object")
    missing = [key for key in _ROI_REQUIRED if key not in entry]
    unknown = sorted(set(entry) - _ROI_KEYS)
    if missing or unknown:
        raise ValueError(f"{where}: missing keys {missing}, unknown keys {unknown}")
    where = f"{where} ({entry['name']!r})"
    landmarks = entry["landmarks"]
    if (not isinstance(landmarks, list) or not landmarks
            or not all(isinstance(i, int) and 0 <= i < _N_LANDMARKS for i in landmarks)):
        raise ValueError(f"{where}: 'landmarks' must be a non-empty list of indices 0..67, "
                         f"got {landmarks!r}")
    pad = entry.get("pad", [0.0, 0.0, 0.0, 0.0])
    if not isinstance(pad, list) or len(pad) != 4 or not all(_is_number(p) for p in pad):
        raise ValueError(f"{where}: 'pad' must be 4 numbers [left, top, right, bottom], "
                         f"got {pad!r}")
    if not _is_number(entry["margin"]):
        raise ValueError(f"{where}: 'margin' must be a number, got {entry['margin']!r}")
    top_fraction = entry.get("top_fraction")
    if top_fraction is not None and not (_is_number(top_fraction) and 0 < top_fraction <= 1):
        raise ValueError(f"{where}: 'top_fraction' must lie in (0, 1], got {top_fraction!r}")
    return RoiSpec(str(entry["name"]), tuple(landmarks), float(entry["margin"]),
                   str(entry["coarse"]), tuple(float(p) for p in pad),  # type: ignore[arg-type]
                   None if top_fraction is None else float(top_fraction))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value)


def _check_landmarks(landmarks: np.ndarray) -> None:
    if not isinstance(landmarks, np.ndarray) or landmarks.shape != (_N_LANDMARKS, 2):
        shape = getattr(landmarks, "shape", None)
        raise ValueError(f"expected (68, 2) landmarks, got shape {shape}")
    if not np.isfinite(landmarks).all():
        raise ValueError("landmarks contain NaN or inf (a frame without a face?)")

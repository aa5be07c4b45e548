"""One palette for the whole window, so a colour means the same thing in every panel.

Emotions keep their colour on the interval track, in the emotion row, the table and the
inspector; a ROI keeps its colour between its box on the video and its flow trace. Colours are
``(r, g, b)`` tuples (pyqtgraph accepts them as they are; ``QColor(*rgb)`` for Qt).
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["EMOTION_COLORS", "UNLABELLED_COLOR", "SPOT_COLOR", "THRESHOLD_COLOR", "PLAYHEAD_COLOR",
           "emotion_color", "roi_color", "roi_colors"]

RGB = tuple[int, int, int]

EMOTION_COLORS: dict[str, RGB] = {
    "negative": (214, 39, 40),     # red
    "positive": (44, 160, 44),     # green
    "surprise": (255, 127, 14),    # orange
    "others": (148, 103, 189),     # purple
    "neutral": (127, 127, 127),    # grey
    # fine-grained labels a sheet may carry, near their 4-class colour
    "anger": (200, 30, 30), "disgust": (170, 40, 80), "contempt": (190, 70, 60),
    "fear": (150, 40, 120), "sadness": (120, 60, 160), "sad": (120, 60, 160),
    "happy": (44, 160, 44), "happiness": (44, 160, 44), "repression": (100, 100, 160),
}
UNLABELLED_COLOR: RGB = (31, 119, 180)   # blue: an interval without an emotion yet
SPOT_COLOR: RGB = (31, 119, 180)
THRESHOLD_COLOR: RGB = (220, 50, 50)
PLAYHEAD_COLOR: RGB = (255, 200, 0)

# Tableau-like qualitative colours for ROIs, cycled (18 ROIs at most in the ROI sets).
_ROI_PALETTE: tuple[RGB, ...] = (
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
    (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207),
    (174, 199, 232), (255, 187, 120), (152, 223, 138), (255, 152, 150), (197, 176, 213),
    (196, 156, 148), (247, 182, 210), (219, 219, 141))


def emotion_color(emotion: str | None) -> RGB:
    """The colour of an emotion label (case-insensitive); blue for unlabelled or unknown."""
    if not emotion:
        return UNLABELLED_COLOR
    return EMOTION_COLORS.get(emotion.strip().lower(), UNLABELLED_COLOR)


def roi_color(roi_index: int) -> RGB:
    """The colour of the ROI at ``roi_index`` in its ROI set's order."""
    return _ROI_PALETTE[roi_index % len(_ROI_PALETTE)]


def roi_colors(roi_names: Sequence[str]) -> dict[str, RGB]:
    """Each ROI name of a set (in the set's order) → its colour."""
    return {name: roi_color(i) for i, name in enumerate(roi_names)}

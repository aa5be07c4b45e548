"""Pixel helpers for GUI tests: a shown ``QImage`` as an array to compare with decoded frames."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage

__all__ = ["rgb_pixels"]


def rgb_pixels(image: QImage) -> np.ndarray:
    """A QImage's pixels as ``(H, W, 3) uint8`` RGB (rows may be padded in the QImage)."""
    image = image.convertToFormat(QImage.Format.Format_RGB888)
    height, width = image.height(), image.width()
    rows = np.frombuffer(image.constBits(), np.uint8, count=image.sizeInBytes())
    rows = rows.reshape(height, image.bytesPerLine())  # (H, bytes per line)
    return rows[:, : width * 3].reshape(height, width, 3).copy()

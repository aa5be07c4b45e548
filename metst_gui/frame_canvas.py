"""A widget that paints one video frame scaled to fit, keeping its aspect ratio.

Painting the ``QImage`` directly (no ``QPixmap`` round trip, no graphics scene) keeps the canvas a
plain widget; overlays drawn over the frame (face box, landmarks, ROIs) can be added to
``paintEvent`` with the same image-to-widget transform (:meth:`FrameCanvas.image_rect`).
"""

from __future__ import annotations

from PySide6.QtCore import QRect, QRectF, QSize, Qt
from PySide6.QtGui import QImage, QPainter, QPaintEvent, QPalette
from PySide6.QtWidgets import QSizePolicy, QWidget

__all__ = ["FrameCanvas"]


class FrameCanvas(QWidget):
    """Shows a ``QImage`` (a decoded frame) letterboxed into the widget, or a hint when empty.

    The image is shown unscaled in memory: :meth:`image` returns exactly the frame that was set,
    scaling happens only while painting. No signals.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._image = QImage()
        self._placeholder_text = ""
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(160, 90)
        self.setAutoFillBackground(True)
        palette = self.palette()
        palette.setColor(QPalette.ColorRole.Window, Qt.GlobalColor.black)
        palette.setColor(QPalette.ColorRole.WindowText, Qt.GlobalColor.lightGray)
        self.setPalette(palette)

    def image(self) -> QImage:
        """The frame shown now, at its full resolution (a null image when none)."""
        return self._image

    def set_image(self, image: QImage) -> None:
        """Show ``image`` (kept as given; scaled to fit only when painted)."""
        self._image = image
        self.update()

    def clear(self) -> None:
        """Show no frame (the placeholder text instead)."""
        self.set_image(QImage())

    def set_placeholder_text(self, text: str) -> None:
        """Text drawn in the middle while no frame is shown."""
        self._placeholder_text = text
        self.update()

    def image_rect(self) -> QRect:
        """Where the frame is drawn, in widget coordinates: the largest centred rectangle of the
        frame's aspect ratio that fits the widget (empty when no frame is shown)."""
        if self._image.isNull():
            return QRect()
        scaled_size = self._image.size().scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio)
        left = (self.width() - scaled_size.width()) // 2
        top = (self.height() - scaled_size.height()) // 2
        return QRect(left, top, scaled_size.width(), scaled_size.height())

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt override)
        if self._image.isNull():
            return QSize(640, 360)
        return self._image.size()

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt override)
        painter = QPainter(self)
        try:
            if self._image.isNull():
                painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self._placeholder_text)
                return
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
            painter.drawImage(QRectF(self.image_rect()), self._image)
        finally:
            painter.end()

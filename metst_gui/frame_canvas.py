"""A widget that paints one video frame scaled to fit, keeping its aspect ratio, with overlays.

Painting the ``QImage`` directly (no ``QPixmap`` round trip, no graphics scene) keeps the canvas a
plain widget. The face overlays (face box, 68 landmarks, the ROI boxes of a ROI set) are drawn
over the frame with the same image-to-widget transform (:meth:`FrameCanvas.image_rect`), so they
scale with it. ROI boxes take their traces' colours (:func:`metst_gui.colors.roi_color` of the
ROI's index in its set).
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRect, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPaintEvent, QPalette, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from core.rois import RoiSet
from metst_gui.colors import roi_color
from metst_gui.overlay_source import FaceGeometry, roi_boxes_in_frame

__all__ = ["FrameCanvas", "FACE_BOX_COLOR", "LANDMARK_COLOR"]

FACE_BOX_COLOR: tuple[int, int, int] = (255, 255, 255)
LANDMARK_COLOR: tuple[int, int, int] = (0, 255, 0)
_LANDMARK_RADIUS_PX = 2.0  # on screen, whatever the zoom
_LINE_WIDTH_PX = 2.0  # boxes are drawn crisp (no antialiasing)


class FrameCanvas(QWidget):
    """Shows a ``QImage`` (a decoded frame) letterboxed into the widget, or a hint when empty.

    The image is kept unscaled: :meth:`image` returns exactly the frame that was set, scaling
    happens only while painting. Overlays (:meth:`set_overlay`) are drawn for the face geometry
    given, in the layers switched on with :meth:`set_overlay_layers`. No signals.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._image = QImage()
        self._placeholder_text = ""
        self._geometry: FaceGeometry | None = None
        self._roi_set: RoiSet | None = None
        self._roi_boxes: np.ndarray | None = None  # (R, 4) of _geometry in _roi_set
        self._show_face_box = self._show_landmarks = self._show_rois = False
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
        """Show no frame (the placeholder text instead) and no overlay."""
        self._geometry = None
        self._roi_boxes = None
        self.set_image(QImage())

    def set_placeholder_text(self, text: str) -> None:
        """Text drawn in the middle while no frame is shown."""
        self._placeholder_text = text
        self.update()

    def overlay_geometry(self) -> FaceGeometry | None:
        """The face geometry drawn over the frame (None: no overlay)."""
        return self._geometry

    def set_overlay(self, geometry: FaceGeometry | None) -> None:
        """Draw ``geometry`` (in frame pixels) over the frame; None draws no overlay."""
        self._geometry = geometry
        self._roi_boxes = None
        self.update()

    def set_overlay_layers(self, face_box: bool, landmarks: bool, rois: bool) -> None:
        """Which overlays are drawn: the face box, the 68 landmarks, the ROI boxes."""
        self._show_face_box, self._show_landmarks, self._show_rois = face_box, landmarks, rois
        self.update()

    def set_roi_set(self, roi_set: RoiSet | None) -> None:
        """The ROI set whose boxes are drawn (colours follow its order)."""
        self._roi_set = roi_set
        self._roi_boxes = None
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
            target = QRectF(self.image_rect())
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
            painter.drawImage(target, self._image)
            if self._geometry is not None:
                self._paint_overlay(painter, target)
        finally:
            painter.end()

    def _paint_overlay(self, painter: QPainter, target: QRectF) -> None:
        """Face box, ROI boxes and landmarks, frame pixels mapped onto ``target``."""
        geometry = self._geometry
        scale_x = target.width() / self._image.width()
        scale_y = target.height() / self._image.height()

        def to_widget(x: float, y: float) -> QPointF:
            return QPointF(target.left() + x * scale_x, target.top() + y * scale_y)

        def box_rect(box: np.ndarray) -> QRectF:
            return QRectF(to_widget(float(box[0]), float(box[1])),
                          to_widget(float(box[2]), float(box[3])))

        painter.setBrush(Qt.BrushStyle.NoBrush)
        if self._show_face_box:
            painter.setPen(QPen(QColor(*FACE_BOX_COLOR), _LINE_WIDTH_PX))
            painter.drawRect(box_rect(geometry.face_box))
        if self._show_rois and self._roi_set is not None:
            if self._roi_boxes is None:
                self._roi_boxes = roi_boxes_in_frame(geometry.landmarks, self._roi_set)
            for roi_idx, box in enumerate(self._roi_boxes):
                painter.setPen(QPen(QColor(*roi_color(roi_idx)), _LINE_WIDTH_PX))
                painter.drawRect(box_rect(box))
        if self._show_landmarks:
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor(*LANDMARK_COLOR))
            for x, y in geometry.landmarks:  # pixel (x, y) is centred at (x + 0.5, y + 0.5)
                painter.drawEllipse(to_widget(float(x) + 0.5, float(y) + 0.5),
                                    _LANDMARK_RADIUS_PX, _LANDMARK_RADIUS_PX)

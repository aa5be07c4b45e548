"""The spotting row: the curve post-processing thresholds, the raw curve, and the threshold.

Post-processing (:mod:`core.postprocess`) box-smooths the model's spotting curve with width
``2·k_p`` and keeps the peaks above ``mean + p·(max − mean)`` of the smoothed curve. The row
shows exactly that: the smoothed curve (bold), the raw model output (faint) and the threshold
line, computed by the same functions (:func:`~core.postprocess.smooth_curve`,
:func:`~core.postprocess.detect_peaks`), so a peak above the line is an interval.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt

from core.postprocess import PostprocessConfig, detect_peaks, smooth_curve
from metst_gui.colors import SPOT_COLOR, THRESHOLD_COLOR
from metst_gui.timeline.curve_rows import CurveRow, make_curve
from metst_gui.timeline.time_axis import TimeAxisItem

__all__ = ["SpottingRow"]

_RAW_ALPHA = 90


class SpottingRow(CurveRow):
    """The spotting curve of an analysis result (y fixed to the score range [0, 1]).

    Re-thresholding (a new ``p``) only moves the threshold line; a new ``k_p`` re-smooths; a new
    curve replaces the data of the same items.
    """

    def __init__(self, time_axis: TimeAxisItem | None = None) -> None:
        super().__init__("spot", (0.0, 1.0),
                         axis_items={"top": time_axis} if time_axis is not None else None)
        if time_axis is not None:
            self.showAxis("top")
        self.set_probability_ticks()
        self.raw_curve = make_curve(pg.mkPen((*SPOT_COLOR, _RAW_ALPHA)), name="raw")
        self.smoothed_curve = make_curve(pg.mkPen(SPOT_COLOR), name="smoothed")
        self.threshold_line = pg.InfiniteLine(
            angle=0, movable=False, label="threshold",
            pen=pg.mkPen(THRESHOLD_COLOR, style=Qt.PenStyle.DashLine),
            labelOpts={"position": 0.02, "color": THRESHOLD_COLOR, "anchors": [(0, 1), (0, 1)]})
        for item in (self.raw_curve, self.smoothed_curve):
            self.add_curve(item)
        self.addItem(self.threshold_line, ignoreBounds=True)
        self._spot: np.ndarray | None = None
        self._k_p = 0
        self._smoothed: np.ndarray | None = None
        self._threshold: float | None = None
        self._raw_action = self.menu.addAction("Raw model curve")
        self._raw_action.setCheckable(True)
        self._raw_action.setChecked(True)
        self._raw_action.toggled.connect(self.raw_curve.setVisible)
        self._threshold_action = self.menu.addAction("Threshold line")
        self._threshold_action.setCheckable(True)
        self._threshold_action.setChecked(True)
        self._threshold_action.toggled.connect(self._update_threshold_visible)
        self.clear_curve()

    @property
    def smoothed(self) -> np.ndarray | None:
        """(T,) float64 smoothed curve (what the threshold applies to), or None."""
        return self._smoothed

    @property
    def threshold(self) -> float | None:
        """The threshold of the shown post-processing, or None without a curve."""
        return self._threshold

    def set_curve(self, spot: np.ndarray | None, postprocess: PostprocessConfig | None,
                  fps: float = 0.0) -> None:
        """Show ``spot`` (T,) as post-processing ``postprocess`` sees it (None clears).

        ``fps`` resolves ``postprocess.k_p`` when it is unset.
        """
        if spot is None or postprocess is None:
            self.clear_curve()
            return
        k_p = postprocess.resolve_k_p(fps if fps > 0 else None)
        if spot is not self._spot or k_p != self._k_p:
            smoothed = smooth_curve(spot, k_p)
            if spot is not self._spot:
                self.raw_curve.setData(np.asarray(spot, dtype=np.float32))
            self.smoothed_curve.setData(smoothed.astype(np.float32))
            self._spot, self._k_p, self._smoothed = spot, k_p, smoothed
        _, self._threshold = detect_peaks(self._smoothed, k_p, postprocess.p)
        self._update_threshold_visible()  # before the label: a hidden label keeps its old text
        self.threshold_line.label.setFormat(f"threshold {{value:.3f}} (p = {postprocess.p:.2f})")
        self.threshold_line.setValue(self._threshold)

    def clear_curve(self) -> None:
        """Show no curve and no threshold."""
        self.raw_curve.setData([])
        self.smoothed_curve.setData([])
        self._spot, self._k_p, self._smoothed, self._threshold = None, 0, None, None
        self._update_threshold_visible()

    def set_raw_visible(self, visible: bool) -> None:
        """Show or hide the faint raw model curve."""
        self._raw_action.setChecked(visible)

    def set_threshold_visible(self, visible: bool) -> None:
        """Show or hide the threshold line (hidden anyway without a curve)."""
        self._threshold_action.setChecked(visible)

    def _update_threshold_visible(self) -> None:
        self.threshold_line.setVisible(
            self._threshold is not None and self._threshold_action.isChecked())

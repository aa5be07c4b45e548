"""The ROI-trace row: the aligned optical flow of chosen ROIs, the models' input.

:class:`~core.traces.FlowTraces` holds two channels per ROI (x then y, pixels of the normalised
face crop). The row shows a few chosen ROIs — by default the three that move most (largest
variance of the flow magnitude) — either as magnitude (one curve per ROI) or as x and y (x solid,
y dashed). Colours follow the ROI set's order (:func:`~metst_gui.colors.roi_color`), the same as
the ROI boxes on the video. Which ROIs are shown survives new results of the same ROI set.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSignalBlocker, Qt
from PySide6.QtGui import QAction, QActionGroup

from core.traces import FlowTraces
from metst_gui.colors import roi_color
from metst_gui.timeline.curve_rows import CurveRow, make_curve

__all__ = ["RoiTraceRow", "TRACE_MODES", "N_DEFAULT_ROIS"]

#: "magnitude": |flow| per ROI; "xy": the x and y channels per ROI.
TRACE_MODES = ("magnitude", "xy")
#: How many ROIs are shown when a ROI set is first seen.
N_DEFAULT_ROIS = 3
_Y_PADDING = 0.05


class RoiTraceRow(CurveRow):
    """Flow traces of the chosen ROIs; y is fixed to the shown traces' range."""

    def __init__(self) -> None:
        super().__init__("flow (px)", (0.0, 1.0))
        self.legend = self.add_row_legend()
        self.trace_curves: list[pg.PlotDataItem] = []
        self._traces: FlowTraces | None = None
        self._magnitude: np.ndarray | None = None  # (R, T) float32
        self._roi_names: tuple[str, ...] = ()
        self._shown: list[str] = []
        self._mode = "magnitude"
        self._roi_menu = self.menu.addMenu("ROIs")
        self._roi_actions: dict[str, QAction] = {}
        mode_group = QActionGroup(self.menu)
        self._mode_actions: dict[str, QAction] = {}
        self.menu.addSeparator()
        for mode, text in zip(TRACE_MODES, ("Magnitude", "x and y"), strict=True):
            action = self.menu.addAction(text)
            action.setCheckable(True)
            action.setChecked(mode == self._mode)
            action.setActionGroup(mode_group)
            action.triggered.connect(lambda _checked, mode=mode: self.set_mode(mode))
            self._mode_actions[mode] = action

    @property
    def roi_names(self) -> tuple[str, ...]:
        """All ROIs of the shown traces, in ROI-set order."""
        return self._roi_names

    @property
    def mode(self) -> str:
        return self._mode

    def visible_rois(self) -> list[str]:
        """The ROIs whose traces are shown, in ROI-set order."""
        return list(self._shown)

    def set_traces(self, traces: FlowTraces | None) -> None:
        """Show ``traces`` (None clears); keeps the ROI choice when the ROI names are the same."""
        if traces is self._traces:
            return
        self._traces = traces
        self._magnitude = traces.magnitude() if traces is not None else None
        names = traces.roi_names if traces is not None else ()
        if names != self._roi_names:
            self._roi_names = names
            self._shown = self._default_rois()
            self._rebuild_menu()
        self._redraw()

    def set_visible_rois(self, names: Iterable[str]) -> None:
        """Show the traces of ``names`` (unknown names raise ``ValueError``)."""
        wanted = set(names)
        unknown = sorted(wanted - set(self._roi_names))
        if unknown:
            raise ValueError(f"unknown ROIs {unknown}; this ROI set has {list(self._roi_names)}")
        self._shown = [name for name in self._roi_names if name in wanted]
        for name, action in self._roi_actions.items():
            with QSignalBlocker(action):
                action.setChecked(name in wanted)
        self._redraw()

    def set_mode(self, mode: str) -> None:
        """``"magnitude"`` or ``"xy"``."""
        if mode not in TRACE_MODES:
            raise ValueError(f"trace mode must be one of {TRACE_MODES}, got {mode!r}")
        self._mode = mode
        self._mode_actions[mode].setChecked(True)
        self._redraw()

    def _default_rois(self) -> list[str]:
        """The ``N_DEFAULT_ROIS`` ROIs whose magnitude varies most over the face frames."""
        if self._magnitude is None or self._traces is None:
            return []
        valid = self._traces.valid
        magnitude = self._magnitude[:, valid] if valid.any() else self._magnitude
        order = np.argsort(-magnitude.var(axis=1), kind="stable")[:N_DEFAULT_ROIS]
        return [self._roi_names[i] for i in sorted(order.tolist())]

    def _rebuild_menu(self) -> None:
        self._roi_menu.clear()
        self._roi_actions = {}
        for name in self._roi_names:
            action = self._roi_menu.addAction(name)
            action.setCheckable(True)
            action.setChecked(name in self._shown)
            action.toggled.connect(self._on_roi_toggled)
            self._roi_actions[name] = action

    def _on_roi_toggled(self) -> None:
        self.set_visible_rois(name for name, action in self._roi_actions.items()
                              if action.isChecked())

    def _redraw(self) -> None:
        """One curve per shown ROI (two in x/y mode); y fixed to their range."""
        for curve in self.trace_curves:
            self.removeItem(curve)
        self.trace_curves = []
        if self._traces is None or self._traces.n_frames == 0 or not self._shown:
            return
        rows = []  # (T,) arrays shown
        for name in self._shown:
            roi_idx = self._roi_names.index(name)
            color = roi_color(roi_idx)
            if self._mode == "magnitude":
                rows.append((self._magnitude[roi_idx], pg.mkPen(color), name))
            else:
                values = self._traces.values
                rows.append((values[2 * roi_idx], pg.mkPen(color), f"{name} x"))
                rows.append((values[2 * roi_idx + 1],
                             pg.mkPen(color, style=Qt.PenStyle.DashLine), f"{name} y"))
        for y, pen, label in rows:
            curve = make_curve(pen, name=label)
            curve.setData(y)
            self.add_curve(curve)
            self.trace_curves.append(curve)
        y_min = min(float(y.min()) for y, _, _ in rows)
        y_max = max(float(y.max()) for y, _, _ in rows)
        padding = _Y_PADDING * max(y_max - y_min, 1e-6)
        self.set_y_range(y_min - padding, y_max + padding)

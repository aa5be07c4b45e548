"""The emotion row: the per-frame class probabilities of a recognition model, one curve each.

Curves take the emotion colours of the whole window (:func:`~metst_gui.colors.emotion_color`),
so "negative" is the same red here as on the interval track. Neutral is hidden by default (it is
high almost everywhere and hides the emotions); the legend (click an entry) and the row's menu
show or hide any class. Spotting-only models (the flow spotter) have no such curves.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QAction

from core.postprocess import NEUTRAL_CLASS_NAME
from metst_gui.colors import emotion_color
from metst_gui.timeline.curve_rows import CurveRow, make_curve

__all__ = ["EmotionRow", "class_column_names"]

_NO_CURVES_TEXT = "no emotion curves (spotting-only model)"


def class_column_names(class_names: Sequence[str], n_columns: int) -> list[str]:
    """Names of the ``n_columns`` probability columns (neutral last when only E names are given)."""
    names = [str(name) for name in class_names]
    if len(names) == n_columns - 1:
        names.append(NEUTRAL_CLASS_NAME)
    if len(names) != n_columns:
        names = [f"class {col}" for col in range(n_columns)]
    return names


class EmotionRow(CurveRow):
    """Per-frame probabilities ``recog`` (T, E+1), y fixed to [0, 1], one coloured curve each.

    Which classes are hidden survives new results (a re-threshold or another model with the same
    classes); neutral starts hidden.
    """

    def __init__(self) -> None:
        super().__init__("emotion", (0.0, 1.0))
        self.set_probability_ticks()
        self.legend = self.add_row_legend()
        self.legend.sigSampleClicked.connect(self._on_legend_clicked)
        self.emotion_curves: dict[str, pg.PlotDataItem] = {}
        self._actions: dict[str, QAction] = {}
        self._hidden: set[str] = {NEUTRAL_CLASS_NAME}
        self._recog: np.ndarray | None = None
        self._empty_text = pg.TextItem(_NO_CURVES_TEXT, color=(140, 140, 140), anchor=(0, 0))
        self._empty_text.setParentItem(self.view_box)
        self._empty_text.setPos(8, 4)
        self._empty_text.hide()

    @property
    def class_names(self) -> list[str]:
        """The shown classes, in column order."""
        return list(self.emotion_curves)

    def set_curves(self, recog: np.ndarray | None, class_names: Sequence[str]) -> None:
        """Show ``recog`` (T, E+1) probabilities named ``class_names`` (None: no curves)."""
        if recog is None:
            self._rebuild([])
            self._recog = None
            self._empty_text.show()
            return
        self._empty_text.hide()
        if recog is self._recog:
            return
        probs = np.asarray(recog, dtype=np.float32)
        if probs.ndim != 2:
            raise ValueError(f"emotion curves must be (T, E+1), got shape {probs.shape}")
        names = class_column_names(class_names, probs.shape[1])
        if names != list(self.emotion_curves):
            self._rebuild(names)
        for col, name in enumerate(names):
            self.emotion_curves[name].setData(np.ascontiguousarray(probs[:, col]))
        self._recog = recog

    def clear_curves(self) -> None:
        """Show nothing (no result)."""
        self._rebuild([])
        self._recog = None
        self._empty_text.hide()

    def set_emotion_visible(self, name: str, visible: bool) -> None:
        """Show or hide the curve of class ``name`` (remembered for later results)."""
        if visible:
            self._hidden.discard(name)
        else:
            self._hidden.add(name)
        if name in self.emotion_curves:
            self.emotion_curves[name].setVisible(visible)
            self._actions[name].setChecked(visible)
            self.legend.update()

    def visible_emotions(self) -> list[str]:
        """The classes whose curves are shown."""
        return [name for name, curve in self.emotion_curves.items() if curve.isVisible()]

    def _rebuild(self, names: list[str]) -> None:
        for curve in self.emotion_curves.values():
            self.removeItem(curve)
        self.legend.clear()
        self.menu.clear()
        self.emotion_curves, self._actions = {}, {}
        for name in names:
            curve = make_curve(pg.mkPen(emotion_color(name)), name=name)
            self.add_curve(curve)  # also adds the legend entry
            curve.setVisible(name not in self._hidden)
            action = self.menu.addAction(name)
            action.setCheckable(True)
            action.setChecked(name not in self._hidden)
            action.toggled.connect(lambda checked, name=name: self.set_emotion_visible(name,
                                                                                     checked))
            self.emotion_curves[name], self._actions[name] = curve, action

    def _on_legend_clicked(self, curve: pg.PlotDataItem) -> None:
        """The legend toggled a curve's visibility: remember it and tick the menu."""
        name = next((name for name, item in self.emotion_curves.items() if item is curve), None)
        if name is not None:
            self.set_emotion_visible(name, curve.isVisible())

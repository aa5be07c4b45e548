"""A table of evaluation scores, one column per model (old beside new), one row per metric.

:class:`ModelComparison` shows the ``scores`` dicts of ``metst train``'s ``done`` event
(:func:`training.reports.score_summary`: spotting TP, FP, FN, precision, recall, F1; recognition
UF1, UAR; STRS). In each row the best value is bold (highest, or lowest for FP and FN).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QAbstractScrollArea,
    QHeaderView,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

__all__ = ["ModelComparison", "METRIC_ROWS"]

#: (key in a score dict, row label); counts are integers, the rest scores in [0, 1].
METRIC_ROWS: tuple[tuple[str, str], ...] = (
    ("f1", "Spotting F1"), ("precision", "Precision"), ("recall", "Recall"),
    ("tp", "TP"), ("fp", "FP"), ("fn", "FN"),
    ("uf1", "UF1"), ("uar", "UAR"), ("strs", "STRS"))
_COUNTS = frozenset({"tp", "fp", "fn"})
_LOWER_IS_BETTER = frozenset({"fp", "fn"})


class ModelComparison(QTableWidget):
    """Read-only metric table; :meth:`set_scores` fills it, :meth:`clear_scores` empties it."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(len(METRIC_ROWS), 0, parent)
        self.setVerticalHeaderLabels([label for _key, label in METRIC_ROWS])
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setSizeAdjustPolicy(QAbstractScrollArea.SizeAdjustPolicy.AdjustToContents)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def set_scores(self, columns: Sequence[tuple[str, Mapping[str, float | int]]]) -> None:
        """One column per ``(model name, scores)``, in the given order (old models first)."""
        self.setColumnCount(len(columns))
        self.setHorizontalHeaderLabels([name for name, _scores in columns])
        for row, (key, _label) in enumerate(METRIC_ROWS):
            values = [scores.get(key) for _name, scores in columns]
            best = _best(key, values)
            for column, value in enumerate(values):
                item = QTableWidgetItem(_text(key, value))
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if best is not None and value == best and len(columns) > 1:
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
                self.setItem(row, column, item)

    def clear_scores(self) -> None:
        """No columns."""
        self.setColumnCount(0)

    def text(self, key: str, column: int) -> str:
        """The text shown for metric ``key`` (a :data:`METRIC_ROWS` key) in ``column``."""
        row = [k for k, _label in METRIC_ROWS].index(key)
        item = self.item(row, column)
        return "" if item is None else item.text()


def _text(key: str, value: float | int | None) -> str:
    if value is None:
        return "–"
    return str(int(value)) if key in _COUNTS else f"{float(value):.3f}"


def _best(key: str, values: Sequence[float | int | None]) -> float | int | None:
    known = [v for v in values if v is not None]
    if not known:
        return None
    return min(known) if key in _LOWER_IS_BETTER else max(known)

"""All intervals of the open video in a sortable, filterable table.

:class:`IntervalTable` shows the session's ``AnnotationSet`` through
:class:`~metst_gui.interval_table_model.IntervalTableModel` (which follows each change row by
row) and :class:`~metst_gui.interval_table_model.IntervalFilterProxy` (sorting, and the status /
emotion / source filters chosen in the combos above the table). The table's selected row and the
window's :class:`~metst_gui.view_state.Selection` follow each other; a double-click also moves the
playhead to the interval's onset.
"""

from __future__ import annotations

from PySide6.QtCore import QItemSelection, QItemSelectionModel, QModelIndex, QSignalBlocker, Qt
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from core.annotations import SOURCES, STATUSES, AnnotationChange
from metst_gui.interval_table_model import (
    ID_ROLE,
    IntervalFilterProxy,
    IntervalTableModel,
    emotion_icon,
)
from metst_gui.session import VideoSession
from metst_gui.view_state import Playhead, Selection

__all__ = ["IntervalTable"]

_ANY = None  # combo data of the "All …" entries


class IntervalTable(QWidget):
    """Table of the open video's intervals; selection ↔ ``Selection``, double-click seeks.

    Model: the session's ``AnnotationSet`` (read only here), the window's ``Selection`` and
    ``Playhead``.
    """

    def __init__(self, playhead: Playhead, selection: Selection,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._playhead = playhead
        self._selection = selection
        self._session: VideoSession | None = None
        self._syncing = False  # True while the view is set from the Selection
        self.model = IntervalTableModel(self)
        self.proxy = IntervalFilterProxy(self)
        self.proxy.setSourceModel(self.model)
        self._build()
        self._selection.changed.connect(self._on_selection_changed)
        self.model.modelReset.connect(self._show_selection)
        self.view.selectionModel().selectionChanged.connect(self._on_view_selection_changed)
        self.view.doubleClicked.connect(self._on_double_clicked)
        for name, combo in self.filters.items():
            combo.currentIndexChanged.connect(
                lambda _index, n=name, c=combo: self.proxy.set_filter(n, c.currentData()))

    def _build(self) -> None:
        self.filters = {"status": QComboBox(), "emotion": QComboBox(), "source": QComboBox()}
        for name, values in (("status", STATUSES), ("source", SOURCES)):
            combo = self.filters[name]
            combo.addItem(f"All {name}s", _ANY)
            for value in values:
                combo.addItem(value, value)
        self._fill_emotion_filter()
        self.count_label = QLabel()
        bar = QHBoxLayout()
        for name, combo in self.filters.items():
            combo.setToolTip(f"Show only intervals of this {name}")
            bar.addWidget(combo)
        bar.addStretch(1)
        bar.addWidget(self.count_label)
        self.view = QTableView()
        self.view.setModel(self.proxy)
        self.view.setSortingEnabled(True)
        self.view.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.verticalHeader().setVisible(False)
        self.view.verticalHeader().setDefaultSectionSize(22)
        self.view.horizontalHeader().setStretchLastSection(True)
        self.view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self.view)
        for signal in (self.proxy.rowsInserted, self.proxy.rowsRemoved, self.proxy.modelReset,
                       self.proxy.layoutChanged):
            signal.connect(self._update_count)
        self._update_count()

    # ------------------------------------------------------------------ public

    def set_session(self, session: VideoSession | None) -> None:
        """Show the intervals of ``session`` (None: an empty table)."""
        if self._session is not None:
            self._session.annotations_changed.disconnect(self._on_annotations_changed)
        self._session = session
        if session is not None:
            session.annotations_changed.connect(self._on_annotations_changed)
            self.model.set_annotations(session.annotations, session.fps)
        else:
            self.model.set_annotations(None, 0.0)
        self._fill_emotion_filter()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt override)
        self.set_session(None)
        super().closeEvent(event)

    # ---------------------------------------------------------- model → view

    def _on_annotations_changed(self, change: AnnotationChange) -> None:
        self.model.apply_change(change)
        if {a.emotion for a in change.added} - self._emotion_values():
            self._fill_emotion_filter()
        self._show_selection()

    def _emotion_values(self) -> set[str]:
        combo = self.filters["emotion"]
        return {combo.itemData(i) for i in range(combo.count())} - {_ANY}

    def _fill_emotion_filter(self) -> None:
        """The emotion filter's entries: the standard four, unlabelled and those present."""
        combo = self.filters["emotion"]
        chosen = combo.currentData()
        present = {a.emotion for a in self._session.annotations} if self._session else set()
        emotions = sorted(present | {"negative", "positive", "surprise", "others", ""})
        with QSignalBlocker(combo):
            combo.clear()
            combo.addItem("All emotions", _ANY)
            for emotion in emotions:
                combo.addItem(emotion_icon(emotion), emotion or "(unlabelled)", emotion)
            combo.setCurrentIndex(max(combo.findData(chosen), 0) if chosen is not None else 0)
        self.proxy.set_filter("emotion", combo.currentData())

    def _update_count(self) -> None:
        shown, total = self.proxy.rowCount(), self.model.rowCount()
        self.count_label.setText(f"{shown} of {total} intervals" if shown != total
                                 else f"{total} intervals")

    def _on_selection_changed(self, _annotation_id: object) -> None:
        self._show_selection()

    def _show_selection(self) -> None:
        """Select the Selection's row in the view (or nothing) and scroll to it."""
        row = (self.model.row_of(self._selection.annotation_id)
               if self._selection.annotation_id is not None else None)
        proxy_index = (self.proxy.mapFromSource(self.model.index(row, 0)) if row is not None
                       else QModelIndex())
        selection_model = self.view.selectionModel()
        current = selection_model.selectedRows()
        if proxy_index.isValid() and [i.row() for i in current] == [proxy_index.row()]:
            return
        self._syncing = True
        try:
            if proxy_index.isValid():
                flags = (QItemSelectionModel.SelectionFlag.ClearAndSelect
                         | QItemSelectionModel.SelectionFlag.Rows)
                selection_model.setCurrentIndex(proxy_index, flags)
                self.view.scrollTo(proxy_index)
            else:
                selection_model.clearSelection()
        finally:
            self._syncing = False

    # ---------------------------------------------------------- view → model

    def _on_view_selection_changed(self, _selected: QItemSelection,
                                   _deselected: QItemSelection) -> None:
        if self._syncing:
            return
        rows = self.view.selectionModel().selectedRows()
        if rows:
            self._selection.select(rows[0].data(ID_ROLE))

    def _on_double_clicked(self, proxy_index: QModelIndex) -> None:
        source_index = self.proxy.mapToSource(proxy_index)
        if not source_index.isValid():
            return
        annotation = self.model.annotation(source_index.row())
        self._selection.select(annotation.id)
        self._playhead.set_frame(annotation.onset_frame)

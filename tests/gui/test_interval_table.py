"""The interval table lists, sorts and filters the intervals, seeks on double-click, keeps its
selection in step with the window's, and follows edits and undo — fast for 5,000 rows."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest
from PySide6.QtCore import Qt

from core.annotations import Annotation, AnnotationChange, edited
from metst_gui.interval_table import IntervalTable
from metst_gui.interval_table_model import ID_ROLE, TABLE_COLUMNS
from metst_gui.view_state import Playhead, Selection
from tests.gui.panels import show_panel

pytestmark = pytest.mark.gui

ANNOTATIONS = (
    Annotation("human1", 100, 110, 120, "negative", annotator="ana", note="brow raise"),
    Annotation("prop_b", 200, 205, 215, "positive", 0.9, "model", "proposed", spot_score=0.8),
    Annotation("prop_c", 300, 306, 330, "surprise", 0.4, "model", "proposed", spot_score=0.7),
    Annotation("prop_d", 50, 55, 60, "", 0.7, "model", "rejected", annotator="ana"),
    Annotation("prop_e", 400, 402, 410, "others", 0.6, "model", "proposed", spot_score=0.5),
)
COLUMN = {name: col for col, name in enumerate(TABLE_COLUMNS)}


@pytest.fixture
def setup(qtbot, session_factory):
    session = session_factory(ANNOTATIONS)
    table, playhead, selection = show_panel(qtbot, IntervalTable, session, size=(900, 400))
    return table, session, playhead, selection


def shown_ids(table: IntervalTable) -> list[str]:
    proxy = table.proxy
    return [proxy.index(row, 0).data(ID_ROLE) for row in range(proxy.rowCount())]


def cell(table: IntervalTable, annotation_id: str, column: str) -> str:
    row = shown_ids(table).index(annotation_id)
    return table.proxy.index(row, COLUMN[column]).data()


def test_lists_every_interval_by_onset_with_its_columns(setup) -> None:
    table, *_ = setup
    assert shown_ids(table) == ["prop_d", "human1", "prop_b", "prop_c", "prop_e"]
    assert [cell(table, "human1", c) for c in TABLE_COLUMNS] == [
        "100", "110", "120", "00:04.000", "0.800", "negative", "", "human", "accepted", "ana",
        "brow raise"]
    assert cell(table, "prop_d", "emotion") == "(unlabelled)"
    assert cell(table, "prop_c", "confidence") == "0.40"
    assert table.count_label.text() == "5 intervals"


def test_sorts_by_a_clicked_column_numerically(setup) -> None:
    table, *_ = setup
    table.view.sortByColumn(COLUMN["confidence"], Qt.SortOrder.DescendingOrder)
    assert shown_ids(table) == ["prop_b", "prop_d", "prop_e", "prop_c", "human1"]
    table.view.sortByColumn(COLUMN["duration s"], Qt.SortOrder.AscendingOrder)
    assert shown_ids(table)[0] == "prop_d" and shown_ids(table)[-1] == "prop_c"


def test_edited_and_added_rows_take_their_place_in_the_order(setup) -> None:
    table, session, *_ = setup
    table.view.sortByColumn(COLUMN["confidence"], Qt.SortOrder.DescendingOrder)
    new = Annotation("new1", 600, 610, 620, "", 0.5, "model", "proposed")
    session.apply(AnnotationChange((), (new,)), "Add")
    assert shown_ids(table) == ["prop_b", "prop_d", "prop_e", "new1", "prop_c", "human1"]
    prop_c = session.annotations.get("prop_c")
    session.apply(session.annotations.replace_change(replace(prop_c, confidence=0.95)), "Edit")
    assert shown_ids(table)[0] == "prop_c"


def test_filters_by_status_emotion_and_source(setup) -> None:
    table, *_ = setup
    status, emotion, source = (table.filters[n] for n in ("status", "emotion", "source"))
    status.setCurrentIndex(status.findData("proposed"))
    assert sorted(shown_ids(table)) == ["prop_b", "prop_c", "prop_e"]
    assert table.count_label.text() == "3 of 5 intervals"
    emotion.setCurrentIndex(emotion.findData("surprise"))
    assert shown_ids(table) == ["prop_c"]
    status.setCurrentIndex(0)
    emotion.setCurrentIndex(emotion.findData(""))
    assert shown_ids(table) == ["prop_d"]
    emotion.setCurrentIndex(0)
    source.setCurrentIndex(source.findData("human"))
    assert shown_ids(table) == ["human1"]


def test_double_click_seeks_to_the_onset_and_selects(qtbot, setup) -> None:
    table, _, playhead, selection = setup
    row = shown_ids(table).index("prop_c")
    rect = table.view.visualRect(table.proxy.index(row, COLUMN["note"]))
    # QTest's double click needs the press of a first click on the same cell, as a user makes
    qtbot.mouseClick(table.view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(table.view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert playhead.frame_idx == 300
    assert selection.annotation_id == "prop_c"


def test_selection_follows_both_ways(qtbot, setup) -> None:
    table, _, playhead, selection = setup
    selection.select("prop_e")
    selected = table.view.selectionModel().selectedRows()
    assert [index.data(ID_ROLE) for index in selected] == ["prop_e"]
    row = shown_ids(table).index("human1")
    rect = table.view.visualRect(table.proxy.index(row, 0))
    qtbot.mouseClick(table.view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert selection.annotation_id == "human1"
    assert playhead.frame_idx == 0  # a single click selects but does not seek
    selection.select(None)
    assert table.view.selectionModel().selectedRows() == []


def test_follows_edits_additions_and_undo_keeping_the_selection(setup) -> None:
    table, session, _, selection = setup
    selection.select("prop_b")
    prop_b = session.annotations.get("prop_b")
    session.apply(session.annotations.replace_change(
        edited(prop_b, annotator="bo", emotion="negative", onset_frame=20)), "Relabel")
    assert cell(table, "prop_b", "emotion") == "negative"
    assert cell(table, "prop_b", "status") == "edited"
    assert shown_ids(table)[0] == "prop_b"  # re-sorted by its new onset
    assert [i.data(ID_ROLE) for i in table.view.selectionModel().selectedRows()] == ["prop_b"]
    new = Annotation("new1", 600, 610, 620, "fear", annotator="bo")
    session.apply(AnnotationChange((), (new,)), "Add interval")
    assert "new1" in shown_ids(table)
    emotion = table.filters["emotion"]
    assert emotion.findData("fear") >= 0  # a new label becomes a filter choice
    session.undo_stack.undo()
    assert "new1" not in shown_ids(table)
    session.undo_stack.undo()
    assert cell(table, "prop_b", "emotion") == "positive"
    assert cell(table, "prop_b", "status") == "proposed"
    assert [i.data(ID_ROLE) for i in table.view.selectionModel().selectedRows()] == ["prop_b"]


def test_five_thousand_rows_load_replace_and_sort_quickly(qtbot, session_factory) -> None:
    n_rows = 5000
    proposals = [Annotation(f"p{i:05d}", 20 * i, 20 * i + 3, 20 * i + 8, "surprise",
                            (i * 37 % 100) / 100, "model", "proposed", spot_score=0.5)
                 for i in range(n_rows)]
    session = session_factory(proposals, n_frames=20 * n_rows + 10)
    selection = Selection()
    table = IntervalTable(Playhead(), selection)
    qtbot.addWidget(table)
    table.show()
    start = time.perf_counter()
    table.set_session(session)
    load_s = time.perf_counter() - start
    selection.select("p02500")
    replaced = [edited(a, emotion="negative") for a in proposals]
    start = time.perf_counter()
    session.apply(AnnotationChange(tuple(proposals), tuple(replaced)), "Relabel all")
    reset_s = time.perf_counter() - start
    start = time.perf_counter()
    table.view.sortByColumn(COLUMN["confidence"], Qt.SortOrder.AscendingOrder)
    sort_s = time.perf_counter() - start
    print(f"\n5000 rows: load {load_s * 1000:.0f} ms, reset after a change "
          f"{reset_s * 1000:.0f} ms, sort by confidence {sort_s * 1000:.0f} ms")
    assert table.proxy.rowCount() == n_rows
    assert [i.data(ID_ROLE) for i in table.view.selectionModel().selectedRows()] == ["p02500"]
    assert max(load_s, reset_s, sort_s) < 2.0  # generous: a busy shared 2-core test machine

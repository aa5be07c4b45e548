"""The review queue walks the unreviewed proposals least certain first; Accept and Reject review
and advance (selection and playhead follow), and the count follows reviews made elsewhere."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from core.annotations import Annotation, edited
from metst_gui.review_queue import ReviewQueuePanel
from tests.gui.panels import show_panel

pytestmark = pytest.mark.gui

ANNOTATIONS = (
    Annotation("human1", 100, 110, 120, "negative", annotator="ana"),
    Annotation("sure", 200, 205, 215, "positive", 0.9, "model", "proposed", spot_score=0.8),
    Annotation("unsure", 300, 306, 330, "surprise", 0.4, "model", "proposed", spot_score=0.7),
    Annotation("done", 50, 55, 60, "", 0.1, "model", "rejected", annotator="ana"),
    Annotation("middle", 400, 402, 410, "others", 0.6, "model", "proposed", spot_score=0.5),
    Annotation("no_conf", 500, 502, 510, "", None, "model", "proposed", spot_score=0.3),
)


@pytest.fixture
def setup(qtbot, session_factory):
    session = session_factory(ANNOTATIONS)
    panel, playhead, selection = show_panel(qtbot, ReviewQueuePanel, session)
    return panel, session, playhead, selection


def click(qtbot, button) -> None:
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def test_least_certain_first(setup) -> None:
    panel, *_ = setup
    # confidence 0.4 < 0.6 < 0.9 < none (a missing confidence counts as certain)
    assert [a.id for a in panel.queue] == ["unsure", "middle", "sure", "no_conf"]
    assert panel.count_label.text() == "1 of 4 left"
    assert "300–306–330" in panel.current_label.text()
    assert "surprise" in panel.current_label.text() and "0.40" in panel.current_label.text()
    assert not panel.previous_button.isEnabled()


def test_accept_and_reject_review_and_advance(qtbot, setup) -> None:
    panel, session, playhead, selection = setup
    click(qtbot, panel.accept_button)
    unsure = session.annotations.get("unsure")
    assert unsure.status == "accepted"
    assert panel.count_label.text() == "1 of 3 left"
    assert panel.current.id == "middle"
    assert (selection.annotation_id, playhead.frame_idx) == ("middle", 400)
    click(qtbot, panel.reject_button)
    assert session.annotations.get("middle").status == "rejected"
    assert panel.count_label.text() == "1 of 2 left"
    assert (selection.annotation_id, playhead.frame_idx) == ("sure", 200)
    assert session.undo_stack.count() == 2
    session.undo_stack.undo()  # the rejected proposal is back in the queue
    assert session.annotations.get("middle").status == "proposed"
    assert panel.count_label.text().endswith("of 3 left")
    assert panel.current.id == "sure"  # the reviewer stays where they were


def test_skip_and_previous_move_without_reviewing(qtbot, setup) -> None:
    panel, session, playhead, selection = setup
    click(qtbot, panel.skip_button)
    assert panel.count_label.text() == "2 of 4 left"
    assert (selection.annotation_id, playhead.frame_idx) == ("middle", 400)
    click(qtbot, panel.skip_button)
    click(qtbot, panel.skip_button)
    assert panel.current.id == "no_conf" and not panel.skip_button.isEnabled()
    click(qtbot, panel.previous_button)
    assert panel.current.id == "sure"
    assert session.undo_stack.count() == 0
    assert all(a.status == "proposed" for a in panel.queue)


def test_reviews_made_elsewhere_update_the_queue(setup) -> None:
    panel, session, _, selection = setup
    sure = session.annotations.get("sure")
    session.apply(session.annotations.replace_change(edited(sure, status="accepted")), "Accept")
    assert [a.id for a in panel.queue] == ["unsure", "middle", "no_conf"]
    assert panel.count_label.text() == "1 of 3 left"
    selection.select("no_conf")  # selecting a queued proposal elsewhere makes it current
    assert panel.count_label.text() == "3 of 3 left"
    for annotation in list(panel.queue):
        session.apply(session.annotations.replace_change(
            edited(annotation, status="rejected")), "Reject")
    assert panel.count_label.text() == "No proposals left to review"
    assert not panel.accept_button.isEnabled()
    panel.set_session(None)
    assert panel.count_label.text() == "No video open"

"""The inspector shows the selected interval (times, duration and its > 0.5 s flag, curve
statistics, TSFmicro's opinion) and edits it one undo step at a time."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt

from core.analysis import AnalysisResult
from core.annotations import Annotation
from core.curve_models import Curves
from core.postprocess import PostprocessConfig
from core.traces import FlowTraces
from metst_gui.inspector_panel import LONG_INTERVAL_TEXT, NO_CHECKPOINT_TEXT, InspectorPanel
from resources import SAMPLE_VIDEO
from tests.gui.panels import show_panel

pytestmark = pytest.mark.gui

OPINION_TIMEOUT_MS = 30_000
ANNOTATIONS = (
    Annotation("short", 100, 104, 110, "negative", annotator="ana", note="brow"),
    Annotation("long", 300, 306, 330, "surprise", 0.4, "model", "proposed", spot_score=0.7,
               model_name="flow"),
)


@pytest.fixture
def setup(qtbot, session_factory):
    session = session_factory(ANNOTATIONS, video_path=SAMPLE_VIDEO)  # decoded by the opinion
    panel, playhead, selection = show_panel(qtbot, InspectorPanel, session)
    return panel, session, playhead, selection


def type_note(qtbot, panel: InspectorPanel, text: str) -> None:
    """Type ``text`` over the note field's contents, as a user would (focus, select all, keys)."""
    panel._note.setFocus()
    panel._note.selectAll()
    qtbot.keyClicks(panel._note, text)


def test_disabled_and_empty_without_a_selection(setup) -> None:
    panel, *_ = setup
    assert not panel._body.isEnabled()
    assert panel._title.text() == "No interval selected"


def test_shows_the_selected_interval_and_flags_long_ones(qtbot, setup) -> None:
    panel, _, playhead, selection = setup
    selection.select("short")
    assert panel._body.isEnabled()
    assert [s.value() for s in panel._frames.spins] == [100, 104, 110]
    assert [t.text() for t in panel._frames.times] == ["00:04.000", "00:04.160", "00:04.400"]
    assert panel._duration.text() == "11 frames, 0.400 s"
    assert not panel._long_flag.isVisible()
    assert panel._emotion.currentText() == "negative"
    assert (panel._status.currentText(), panel._source.text(), panel._annotator.text(),
            panel._note.text()) == ("accepted", "human", "ana", "brow")
    assert panel._probs.text() == "—" and panel._peak.text() == "—"  # no analysis yet
    assert panel._tsfmicro.text() == NO_CHECKPOINT_TEXT
    selection.select("long")
    assert panel._duration.text() == "31 frames, 1.200 s"
    assert panel._long_flag.isVisible() and panel._long_flag.text() == LONG_INTERVAL_TEXT
    assert panel._source.text() == "model (flow)"
    qtbot.mouseClick(panel._frames.go_buttons[1], Qt.MouseButton.LeftButton)  # Go to the apex
    assert playhead.frame_idx == 306
    selection.select(None)
    assert not panel._body.isEnabled() and panel._duration.text() == "—"


def test_emotion_edit_is_one_undo_step(setup) -> None:
    panel, session, _, selection = setup
    session.project.settings = replace(session.project.settings, annotator="bo")
    selection.select("long")
    panel._emotion.setCurrentIndex(panel._emotion.findData("positive"))
    changed = session.annotations.get("long")
    assert (changed.emotion, changed.status, changed.annotator) == ("positive", "edited", "bo")
    assert session.undo_stack.count() == 1
    assert session.undo_stack.undoText() == "Set emotion to positive"
    session.undo_stack.undo()
    assert session.annotations.get("long") == ANNOTATIONS[1]
    assert panel._emotion.currentText() == "surprise"  # the panel follows the undo


def test_note_and_status_edits_undo(qtbot, setup) -> None:
    panel, session, _, selection = setup
    selection.select("long")
    type_note(qtbot, panel, "lip corner")
    panel._note.editingFinished.emit()
    assert session.annotations.get("long").note == "lip corner"
    panel._status.setCurrentIndex(panel._status.findData("accepted"))
    assert session.annotations.get("long").status == "accepted"
    assert session.undo_stack.count() == 2
    session.undo_stack.undo()
    assert session.annotations.get("long").status == "proposed"
    assert panel._status.currentText() == "proposed"
    session.undo_stack.undo()
    assert session.annotations.get("long").note == ""
    assert panel._note.text() == ""


def test_a_note_typed_before_selecting_another_interval_is_kept(qtbot, setup) -> None:
    panel, session, _, selection = setup
    selection.select("short")
    type_note(qtbot, panel, "kept")  # not yet committed: no editingFinished
    selection.select("long")  # e.g. by a shortcut, before the line edit lost focus
    assert session.annotations.get("short").note == "kept"
    assert session.annotations.get("long").note == ""
    assert panel._note.text() == ""


def test_frame_edits_stay_ordered_and_undo(setup) -> None:
    panel, session, _, selection = setup
    selection.select("short")
    onset_spin, apex_spin, offset_spin = panel._frames.spins
    assert onset_spin.maximum() == 104 and offset_spin.maximum() == 999
    onset_spin.setValue(150)  # beyond the apex: clamped by the spin box range
    assert session.annotations.get("short").onset_frame == 104
    offset_spin.setValue(120)
    assert (session.annotations.get("short").offset_frame, apex_spin.maximum()) == (120, 120)
    session.undo_stack.undo()
    session.undo_stack.undo()
    assert session.annotations.get("short") == ANNOTATIONS[0]
    assert [s.value() for s in panel._frames.spins] == [100, 104, 110]


def test_mean_probabilities_and_peak_spot_from_the_result(setup) -> None:
    panel, session, _, selection = setup
    n_frames = 1000
    spot = np.zeros(n_frames, np.float32)
    spot[305] = 1.0
    recog = np.tile(np.array([0.1, 0.2, 0.7], np.float32), (n_frames, 1))  # (T, 3)
    traces = FlowTraces(np.zeros((2, n_frames)), ("a_x", "a_y"), np.ones(n_frames, bool), 25.0,
                        "metst")
    result = AnalysisResult(SAMPLE_VIDEO, traces, Curves(spot, recog, ("negative", "positive")),
                            [], "test", PostprocessConfig(k_p=2))
    selection.select("long")
    session.set_result(result, replace_proposals=False)
    assert panel._probs.text() == "neutral 0.70 · positive 0.20 · negative 0.10"
    # k_p = 2: frame t averages t-2 … t+1, so frames 304 … 307 hold 1/4 of the spike at 305
    assert panel._peak.text() == "0.250 at frame 304"


def test_tsfmicro_opinion_for_a_tiny_checkpoint(qtbot, setup, tmp_path: Path) -> None:
    from core.models.checkpoint import save_checkpoint
    from core.models.tsfmicro import TsfMicro, TsfMicroConfig

    panel, session, _, selection = setup
    config = TsfMicroConfig(image_size=32, widths=(8, 16, 16, 32), depths=(1, 1, 1, 1),
                            heads=(1, 2, 2, 4), spatial_heads=4, head_width=32, dropout=0.0)
    checkpoint = tmp_path / "tsf.pt"
    save_checkpoint(checkpoint, TsfMicro.from_config(config), model_name="tsfmicro",
                    class_names=list(config.class_names), fps=24.0, roi_set=None,
                    feature_params={}, training_summary={})
    session.project.settings = replace(session.project.settings, tsfmicro=str(checkpoint))
    with qtbot.waitSignal(panel._opinion.result, timeout=OPINION_TIMEOUT_MS):
        selection.select("short")
    text = panel._tsfmicro.text()
    assert all(name in text for name in config.class_names)
    probs = [float(part.split()[-1]) for part in text.replace("<b>", "").replace(
        "</b>", "").split(" · ")]
    assert sum(probs) == pytest.approx(1.0, abs=0.02) and probs == sorted(probs, reverse=True)


def test_broken_checkpoint_shows_a_message_naming_it(qtbot, setup, tmp_path: Path) -> None:
    panel, session, _, selection = setup
    broken = tmp_path / "broken.pt"
    broken.write_text("not a checkpoint")
    session.project.settings = replace(session.project.settings, tsfmicro=str(broken))
    with qtbot.waitSignal(panel._opinion.failed, timeout=OPINION_TIMEOUT_MS):
        selection.select("short")
    assert panel._tsfmicro.text().startswith("TSFmicro failed:")
    assert "broken.pt" in panel._tsfmicro.text()

"""The interval keys: each edit is one undo step named for what it did, follows the status rules
(a proposal is accepted, rejected or edited; a human interval is deleted) and undoes exactly;
actions disable when they cannot apply; a re-run of analysis keeps every human edit."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget

from core.analysis import AnalysisResult
from core.annotations import (
    Annotation,
    AnnotationChange,
    AnnotationError,
    edited,
)
from core.curve_models import Curves
from core.postprocess import DetectedInterval, PostprocessConfig
from core.traces import FlowTraces
from metst_gui.edit_actions import EditActions, PendingInterval
from metst_gui.session import VideoSession
from metst_gui.view_state import Playhead, Selection

pytestmark = pytest.mark.gui

N_FRAMES = 1000
HUMAN = Annotation("h1", 50, 60, 70, emotion="positive", annotator="bob")
PROPOSAL = Annotation("p1", 100, 110, 120, emotion="negative", source="model",
                      status="proposed", confidence=0.6, spot_score=0.7)
NEXT_PROPOSAL = Annotation("p2", 121, 125, 130, source="model", status="proposed",
                           confidence=0.3, spot_score=0.9)
LATE_HUMAN = Annotation("h2", 300, 305, 310)


@dataclass
class Env:
    window: QWidget
    actions: EditActions
    session: VideoSession
    playhead: Playhead
    selection: Selection

    def frames(self, annotation_id: str) -> tuple[int, int, int]:
        a = self.session.annotations.get(annotation_id)
        return a.onset_frame, a.apex_frame, a.offset_frame

    def undo_texts(self) -> list[str]:
        stack = self.session.undo_stack
        return [stack.text(i) for i in range(stack.count())]


@pytest.fixture
def env(qtbot, session_factory) -> Env:
    window = QWidget()
    qtbot.addWidget(window)
    playhead, selection = Playhead(), Selection()
    playhead.set_video(N_FRAMES, 25.0)
    actions = EditActions(playhead, selection, window)
    session = session_factory([HUMAN, PROPOSAL, NEXT_PROPOSAL, LATE_HUMAN], n_frames=N_FRAMES,
                              annotator="ana")
    actions.set_session(session)
    window.show()
    window.activateWindow()
    qtbot.waitActive(window)
    return Env(window, actions, session, playhead, selection)


def press(qtbot, env: Env, key: Qt.Key, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    qtbot.keyClick(env.window, key, modifier)


def test_actions_are_disabled_without_a_video_or_a_selection(env):
    enabled = {name: env.actions.action(name).isEnabled()
               for name in ("set_onset", "set_offset", "accept", "delete", "split", "merge",
                            "emotion_positive", "nudge_later", "next")}
    assert enabled == {"set_onset": True, "set_offset": False, "accept": False, "delete": False,
                       "split": False, "merge": False, "emotion_positive": False,
                       "nudge_later": False, "next": True}
    env.actions.set_session(None)
    assert not any(a.isEnabled() for a in env.actions.actions() if not a.isSeparator())
    shortcuts = {a.shortcut().toString() for a in env.actions.actions()}
    assert {"I", "O", "A", "Alt+Left", "Alt+Right", "Tab", "Shift+Tab", "1", "4", "Return",
            "Del", "S", "M"} <= shortcuts
    assert all(a.shortcutContext() == Qt.ShortcutContext.WindowShortcut
               for a in env.actions.actions())


def test_i_a_o_while_the_playhead_moves_add_one_interval(env, qtbot):
    pending: list[object] = []
    env.actions.pending_changed.connect(pending.append)
    env.playhead.set_frame(200)
    press(qtbot, env, Qt.Key.Key_I)
    env.playhead.set_frame(207)
    press(qtbot, env, Qt.Key.Key_A)
    env.playhead.set_frame(215)
    assert env.session.undo_stack.count() == 0
    press(qtbot, env, Qt.Key.Key_O)
    assert pending == [PendingInterval(200), PendingInterval(200, 207), None]
    new_id = env.selection.annotation_id
    assert env.frames(new_id) == (200, 207, 215)
    new = env.session.annotations.get(new_id)
    assert (new.source, new.status, new.annotator) == ("human", "accepted", "ana")
    assert env.undo_texts() == ["Add interval"]
    env.session.undo_stack.undo()
    assert new_id not in env.session.annotations and env.selection.annotation_id is None


def test_o_before_the_pending_onset_swaps_the_ends(env, qtbot):
    env.playhead.set_frame(400)
    press(qtbot, env, Qt.Key.Key_I)
    env.playhead.set_frame(390)
    press(qtbot, env, Qt.Key.Key_O)
    assert env.frames(env.selection.annotation_id) == (390, 395, 400)


def test_i_o_a_on_a_selected_interval_set_its_frames(env, qtbot):
    messages: list[str] = []
    env.actions.message.connect(messages.append)
    env.selection.select("h1")
    env.playhead.set_frame(65)
    press(qtbot, env, Qt.Key.Key_I)
    assert env.frames("h1") == (65, 65, 70)  # the apex is pushed along
    env.playhead.set_frame(80)
    press(qtbot, env, Qt.Key.Key_O)
    env.playhead.set_frame(72)
    press(qtbot, env, Qt.Key.Key_A)
    assert env.frames("h1") == (65, 72, 80)
    assert env.undo_texts() == ["Set onset", "Set offset", "Set apex"]
    env.playhead.set_frame(90)
    press(qtbot, env, Qt.Key.Key_I)  # after the offset: refused, said why
    assert env.frames("h1") == (65, 72, 80) and "onset" in messages[-1]
    for _ in range(3):
        env.session.undo_stack.undo()
    assert env.frames("h1") == (50, 60, 70)


def test_alt_arrows_nudge_the_last_set_edge(env, qtbot):
    env.selection.select("h1")
    assert env.actions.active_edge == "onset"
    press(qtbot, env, Qt.Key.Key_Left, Qt.KeyboardModifier.AltModifier)
    assert env.frames("h1") == (49, 60, 70) and env.playhead.frame_idx == 49
    env.playhead.set_frame(75)
    press(qtbot, env, Qt.Key.Key_O)
    press(qtbot, env, Qt.Key.Key_Right, Qt.KeyboardModifier.AltModifier)
    assert env.frames("h1") == (49, 60, 76) and env.actions.active_edge == "offset"
    env.actions.set_active_edge("onset")  # what the track does after an onset drag
    press(qtbot, env, Qt.Key.Key_Right, Qt.KeyboardModifier.AltModifier)
    assert env.frames("h1") == (50, 60, 76)
    assert env.undo_texts() == ["Nudge onset", "Set offset", "Nudge offset", "Nudge onset"]
    with pytest.raises(ValueError, match="edge"):
        env.actions.set_active_edge("apex")


def test_tab_selects_the_next_interval_and_seeks_to_its_onset(env, qtbot):
    env.playhead.set_frame(80)
    press(qtbot, env, Qt.Key.Key_Tab)
    assert env.selection.annotation_id == "p1" and env.playhead.frame_idx == 100
    press(qtbot, env, Qt.Key.Key_Tab)
    assert env.selection.annotation_id == "p2" and env.playhead.frame_idx == 121
    press(qtbot, env, Qt.Key.Key_Tab, Qt.KeyboardModifier.ShiftModifier)
    press(qtbot, env, Qt.Key.Key_Tab, Qt.KeyboardModifier.ShiftModifier)
    assert env.selection.annotation_id == "h1" and env.playhead.frame_idx == 50
    press(qtbot, env, Qt.Key.Key_Escape)
    assert env.selection.annotation_id is None
    assert env.session.undo_stack.count() == 0  # moving around edits nothing


@pytest.mark.parametrize("key, emotion", [(Qt.Key.Key_1, "negative"), (Qt.Key.Key_2, "positive"),
                                          (Qt.Key.Key_3, "surprise"), (Qt.Key.Key_4, "others")])
def test_number_keys_set_the_emotion(env, qtbot, key, emotion):
    env.selection.select("p2")
    press(qtbot, env, key)
    relabelled = env.session.annotations.get("p2")
    assert relabelled.emotion == emotion and relabelled.status == "edited"
    assert env.undo_texts() == [f"Set emotion: {emotion}"]
    env.session.undo_stack.undo()
    assert env.session.annotations.get("p2") == NEXT_PROPOSAL


def test_enter_accepts_and_delete_rejects_a_proposal(env, qtbot):
    env.selection.select("p1")
    press(qtbot, env, Qt.Key.Key_Return)
    accepted = env.session.annotations.get("p1")
    assert (accepted.status, accepted.annotator, accepted.emotion) == ("accepted", "ana",
                                                                       "negative")
    assert not env.actions.action("accept").isEnabled()
    assert env.actions.action("delete").text() == "Reject interval"
    press(qtbot, env, Qt.Key.Key_Delete)
    assert env.session.annotations.get("p1").status == "rejected"  # kept, marked
    assert env.selection.annotation_id == "p1"
    assert not env.actions.action("delete").isEnabled()
    assert env.undo_texts() == ["Accept interval", "Reject interval"]
    env.session.undo_stack.undo()
    env.session.undo_stack.undo()
    assert env.session.annotations.get("p1") == PROPOSAL


def test_delete_removes_a_human_interval_and_undo_brings_it_back(env, qtbot):
    env.selection.select("h1")
    assert env.actions.action("delete").text() == "Delete interval"
    press(qtbot, env, Qt.Key.Key_Delete)
    assert "h1" not in env.session.annotations and env.selection.annotation_id is None
    assert env.undo_texts() == ["Delete interval"]
    env.session.undo_stack.undo()
    assert env.session.annotations.get("h1") == HUMAN


def test_split_at_the_playhead_and_undo(env, qtbot):
    env.selection.select("h1")
    env.playhead.set_frame(50)
    assert not env.actions.action("split").isEnabled()  # at the onset there is nothing left
    env.playhead.set_frame(58)
    press(qtbot, env, Qt.Key.Key_S)
    parts = env.session.annotations.in_range(50, 70)
    assert [(a.onset_frame, a.apex_frame, a.offset_frame) for a in parts] == [(50, 57, 57),
                                                                              (58, 60, 70)]
    assert {a.emotion for a in parts} == {"positive"} and env.undo_texts() == ["Split interval"]
    env.session.undo_stack.undo()
    assert env.session.annotations.in_range(50, 70) == [HUMAN]


def test_merge_takes_the_touching_next_interval_else_the_next_one(env, qtbot):
    env.selection.select("p1")
    press(qtbot, env, Qt.Key.Key_M)  # p2 starts right after p1's offset
    merged = env.session.annotations.get("p1")
    assert (merged.onset_frame, merged.apex_frame, merged.offset_frame) == (100, 125, 130)
    assert merged.status == "edited" and "p2" not in env.session.annotations
    assert env.selection.annotation_id == "p1" and env.undo_texts() == ["Merge intervals"]
    env.session.undo_stack.undo()
    assert env.session.annotations.in_range(100, 130) == [PROPOSAL, NEXT_PROPOSAL]
    env.selection.select("h1")
    press(qtbot, env, Qt.Key.Key_M)  # nothing touches h1: the next one, p1
    assert env.frames("h1") == (50, 110, 120) and "p1" not in env.session.annotations
    env.selection.select("h2")
    assert not env.actions.action("merge").isEnabled()  # the last interval


def test_undo_and_redo_follow_the_open_video(env, qtbot, session_factory):
    env.selection.select("p1")
    press(qtbot, env, Qt.Key.Key_Return)
    undo, redo = env.actions.action("undo"), env.actions.action("redo")
    assert undo.isEnabled() and undo.text() == "Undo Accept interval"
    undo.trigger()
    assert env.session.annotations.get("p1") == PROPOSAL
    assert redo.text() == "Redo Accept interval"
    other = session_factory([HUMAN], n_frames=N_FRAMES, annotator="ana", name="other")
    env.actions.set_session(other)
    assert not undo.isEnabled() and not redo.isEnabled()  # the other video's stack is empty
    env.actions.set_session(env.session)
    redo.trigger()
    assert env.session.annotations.get("p1").status == "accepted"


def test_rerunning_analysis_keeps_every_human_edit(env, qtbot):
    env.selection.select("p1")
    press(qtbot, env, Qt.Key.Key_Delete)  # reject p1
    env.selection.select("p2")
    press(qtbot, env, Qt.Key.Key_3)  # relabel p2: edited
    env.selection.select("h1")
    env.playhead.set_frame(80)
    press(qtbot, env, Qt.Key.Key_O)
    kept = {a.id: a for a in env.session.annotations}
    detections = [DetectedInterval(101, 110, 119, "positive", 0.9, 0.9, {}),  # repeats p1
                  DetectedInterval(122, 125, 129, None, 0.9, 0.9, {}),  # repeats p2
                  DetectedInterval(600, 605, 610, None, 0.9, 0.9, {})]  # new
    traces = FlowTraces(np.zeros((2, N_FRAMES)), ("brow_x", "brow_y"), np.ones(N_FRAMES, bool),
                        25.0, "metst")
    result = AnalysisResult(Path("clip.mp4"), traces,
                            Curves(np.zeros(N_FRAMES, np.float32), None, ()), detections, "flow",
                            PostprocessConfig())
    env.session.set_result(result)
    after = {a.id: a for a in env.session.annotations}
    assert {i: after[i] for i in kept} == kept  # rejected, edited and human records untouched
    new = [a for i, a in after.items() if i not in kept]
    assert [(a.onset_frame, a.status) for a in new] == [(600, "proposed")]
    assert env.undo_texts()[-1] == "Analysis (flow)"
    env.session.undo_stack.undo()
    assert {a.id: a for a in env.session.annotations} == kept


def test_a_refused_edit_leaves_no_broken_undo_step(env):
    stale = AnnotationChange((edited(HUMAN, onset_frame=51),), ())
    with pytest.raises(AnnotationError, match="stale"):
        env.session.apply(stale, "Stale edit")
    assert env.session.undo_stack.count() == 0 and env.session.annotations.get("h1") == HUMAN

"""The keyboard and menu actions that edit the intervals of the open video (menu "Interval").

:class:`EditActions` holds one ``QAction`` per edit, all with window-wide shortcuts; each edit is
one undo step of the session (:meth:`VideoSession.apply`) named for what it did.

Keys:

* ``I`` — with no pending interval and an interval selected: that interval's onset to the playhead.
  Otherwise: start a *pending* interval at the playhead (works while playing).
* ``O`` — complete the pending interval at the playhead ("Add interval": human, accepted, selected);
  with no pending interval, the selected interval's offset to the playhead.
* ``A`` — the pending interval's apex, else the selected interval's apex, to the playhead.
* ``Alt+←`` / ``Alt+→`` — nudge the *active edge* of the selected interval by one frame and put
  the playhead on it. The active edge is the edge last set with I/O or dragged on the track
  (:meth:`set_active_edge`); it starts as the onset.
* ``Tab`` / ``Shift+Tab`` — select the next / previous interval by onset (from the playhead when
  none is selected) and move the playhead to its **onset**.
* ``Esc`` — drop the pending interval, else clear the selection.
* ``1``–``4`` — emotion negative, positive, surprise, others (the 4-class protocol).
* ``Enter`` — accept the selected proposal (``accepted``; a rejected one too).
* ``Delete`` — reject a model interval (it stays, faint, so analysis does not propose it again);
  delete a human one.
* ``S`` — split the selected interval at the playhead. ``M`` — merge it with the next interval
  that overlaps or touches it, else with the next interval (rejected ones are skipped).
* ``Ctrl+Z`` / ``Ctrl+Shift+Z`` (platform keys) — undo / redo on the open video's undo stack.

Signals:
    pending_changed(object): the :class:`PendingInterval` being made with I … O, or None.
    active_edge_changed(str): ``"onset"`` or ``"offset"``.
    message(str): why an edit did nothing (for the status bar).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import shiboken6
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence, QUndoGroup
from PySide6.QtWidgets import QWidget

from core.annotations import (
    Annotation,
    AnnotationChange,
    AnnotationError,
    edited,
    merge_annotations,
    new_annotation_id,
    split_annotation,
)
from core.datasets.emotions import FOUR_CLASS
from metst_gui.session import VideoSession
from metst_gui.view_state import Playhead, Selection

__all__ = ["EditActions", "PendingInterval", "default_apex_frame", "human_interval"]


@dataclass(frozen=True)
class PendingInterval:
    """An interval started with I and not yet completed with O (apex None until A)."""

    onset_frame: int
    apex_frame: int | None = None


def default_apex_frame(session: VideoSession, onset_frame: int, offset_frame: int) -> int:
    """The frame of the highest spotting score in ``[onset_frame, offset_frame]`` when the
    session's analysis result covers it and the score is not flat there, else the middle frame."""
    if session.result is not None:
        spot = np.asarray(session.result.curves.spot)  # (T,)
        if offset_frame < spot.shape[0]:
            window = spot[onset_frame: offset_frame + 1]
            if window.size and float(window.max()) > float(window.min()):
                return onset_frame + int(np.argmax(window))
    return (onset_frame + offset_frame) // 2


def human_interval(session: VideoSession, onset_frame: int, offset_frame: int,
                   apex_frame: int | None = None) -> Annotation:
    """A new reviewer interval (human, accepted, by ``session.annotator``); the ends may come in
    either order; an apex outside them (or None) becomes :func:`default_apex_frame`."""
    onset_frame, offset_frame = sorted((int(onset_frame), int(offset_frame)))
    if apex_frame is None or not onset_frame <= apex_frame <= offset_frame:
        apex_frame = default_apex_frame(session, onset_frame, offset_frame)
    return Annotation(id=new_annotation_id(), onset_frame=onset_frame, apex_frame=int(apex_frame),
                      offset_frame=offset_frame, source="human", status="accepted",
                      annotator=session.annotator)


class EditActions(QObject):
    """The interval-editing actions of the window, bound to the open video's session.

    ``parent_widget`` (the main window) gets every action, so the shortcuts work anywhere in it;
    :meth:`actions` lists them (with separators) for the "Interval" menu.
    """

    pending_changed = Signal(object)
    active_edge_changed = Signal(str)
    message = Signal(str)

    def __init__(self, playhead: Playhead, selection: Selection, parent_widget: QWidget) -> None:
        super().__init__(parent_widget)
        self._playhead = playhead
        self._selection = selection
        self._session: VideoSession | None = None
        self._pending: PendingInterval | None = None
        self._active_edge = "onset"
        self._undo_group = QUndoGroup(self)
        self._actions: dict[str, QAction] = {}
        self._menu: list[QAction] = []
        undo = self._undo_group.createUndoAction(self, "Undo")
        redo = self._undo_group.createRedoAction(self, "Redo")
        self._register("undo", undo, QKeySequence.StandardKey.Undo)
        self._register("redo", redo, QKeySequence.StandardKey.Redo)
        self._separator()
        self._add("set_onset", "Set onset at playhead", "I", self._set_onset)
        self._add("set_offset", "Set offset at playhead", "O", self._set_offset)
        self._add("set_apex", "Set apex at playhead", "A", self._set_apex)
        self._add("nudge_earlier", "Nudge edge one frame earlier", "Alt+Left",
                  lambda: self._nudge(-1))
        self._add("nudge_later", "Nudge edge one frame later", "Alt+Right", lambda: self._nudge(1))
        self._separator()
        self._add("next", "Next interval", "Tab", lambda: self._step_selection(1))
        self._add("previous", "Previous interval", "Shift+Tab", lambda: self._step_selection(-1))
        self._add("deselect", "Clear selection", "Esc", self._deselect)
        self._separator()
        for key_idx, emotion in enumerate(FOUR_CLASS.classes, start=1):
            self._add(f"emotion_{emotion}", f"Emotion: {emotion}", str(key_idx),
                      lambda emotion=emotion: self._set_emotion(emotion))
        self._separator()
        self._add("accept", "Accept interval", ["Return", "Enter"], self._accept)
        self._add("delete", "Reject / delete interval", ["Delete", "Backspace"], self._delete)
        self._add("split", "Split at playhead", "S", self._split)
        self._add("merge", "Merge with next", "M", self._merge)
        playhead.frame_changed.connect(self._update_enabled)
        selection.changed.connect(self._update_enabled)
        self._update_enabled()

    # ------------------------------------------------------------------ public

    def actions(self) -> list[QAction]:
        """Every action in menu order, separators included (undo and redo first)."""
        return list(self._menu)

    def action(self, name: str) -> QAction:
        """One action by name: undo, redo, set_onset, set_offset, set_apex, nudge_earlier,
        nudge_later, next, previous, deselect, emotion_<class>, accept, delete, split, merge."""
        return self._actions[name]

    @property
    def pending(self) -> PendingInterval | None:
        return self._pending

    @property
    def active_edge(self) -> str:
        """The edge Alt+←/→ nudges: ``"onset"`` or ``"offset"``."""
        return self._active_edge

    def set_active_edge(self, edge: str) -> None:
        """Make ``edge`` (``"onset"`` | ``"offset"``) the one Alt+←/→ nudges (the track calls
        this when an edge was dragged)."""
        if edge not in ("onset", "offset"):
            raise ValueError(f"edge must be 'onset' or 'offset', got {edge!r}")
        if edge != self._active_edge:
            self._active_edge = edge
            self.active_edge_changed.emit(edge)

    def set_session(self, session: VideoSession | None) -> None:
        """Edit ``session`` (None: nothing open; every edit action disables)."""
        old = self._session
        if old is not None and shiboken6.isValid(old):
            old.annotations_changed.disconnect(self._on_annotations_changed)
            if shiboken6.isValid(old.undo_stack):
                self._undo_group.removeStack(old.undo_stack)
        self._session = session
        self._set_pending(None)
        if session is not None:
            self._undo_group.addStack(session.undo_stack)
            self._undo_group.setActiveStack(session.undo_stack)
            session.annotations_changed.connect(self._on_annotations_changed)
        self._update_enabled()

    # ------------------------------------------------------------- building

    def _register(self, name: str, action: QAction,
                  keys: str | list[str] | QKeySequence.StandardKey) -> None:
        if isinstance(keys, QKeySequence.StandardKey):
            action.setShortcuts(keys)
        else:
            action.setShortcuts([QKeySequence(k) for k in ([keys] if isinstance(keys, str)
                                                           else keys)])
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        self.parent().addAction(action)
        self._actions[name] = action
        self._menu.append(action)

    def _add(self, name: str, text: str, keys: str | list[str], slot: Callable[[], None]) -> None:
        action = QAction(text, self)
        action.triggered.connect(lambda _checked=False: self._run(slot))
        self._register(name, action, keys)

    def _run(self, slot: Callable[[], None]) -> None:
        """Run an edit; nothing happens while no video is open."""
        if self._session is not None:
            slot()

    def _separator(self) -> None:
        separator = QAction(self)
        separator.setSeparator(True)
        self._menu.append(separator)

    def _update_enabled(self, *_: object) -> None:
        session, selected, pending = self._session, self._selected(), self._pending
        frame_idx = self._playhead.frame_idx
        has_intervals = session is not None and len(session.annotations) > 0
        inside = selected is not None and (selected.onset_frame <= frame_idx
                                           <= selected.offset_frame)
        is_model = selected is not None and selected.source == "model"
        enabled = {
            "set_onset": session is not None,
            "set_offset": session is not None and (pending is not None or selected is not None),
            "set_apex": session is not None and (pending is not None or inside),
            "nudge_earlier": selected is not None, "nudge_later": selected is not None,
            "next": has_intervals, "previous": has_intervals,
            "deselect": pending is not None or selected is not None,
            "accept": selected is not None and selected.status in ("proposed", "rejected"),
            "delete": selected is not None and not (is_model and selected.status == "rejected"),
            "split": inside and selected.onset_frame < frame_idx,
            "merge": selected is not None and self._merge_partner(selected) is not None,
        }
        for emotion in FOUR_CLASS.classes:
            enabled[f"emotion_{emotion}"] = selected is not None
        for name, is_enabled in enabled.items():
            self._actions[name].setEnabled(bool(is_enabled))
        self._actions["delete"].setText("Reject interval" if is_model else "Delete interval")

    # ------------------------------------------------------------- helpers

    def _selected(self) -> Annotation | None:
        if self._session is None or self._selection.annotation_id is None:
            return None
        return self._session.annotations.find(self._selection.annotation_id)

    def _set_pending(self, pending: PendingInterval | None) -> None:
        if pending != self._pending:
            self._pending = pending
            self.pending_changed.emit(pending)
            self._update_enabled()

    def _apply(self, change: AnnotationChange, text: str) -> bool:
        problem = self._session.try_apply(change, text)
        if problem is not None:
            self.message.emit(problem)
        return problem is None

    def _edit_selected(self, text: str, **changes: object) -> bool:
        annotation = self._selected()
        new = edited(annotation, annotator=self._session.annotator, **changes)
        if new == annotation:
            return False
        return self._apply(AnnotationChange((annotation,), (new,)), text)

    def _merge_partner(self, annotation: Annotation) -> Annotation | None:
        ordered = [a for a in self._session.annotations.annotations
                   if a.status != "rejected" or a.id == annotation.id]
        later = ordered[ordered.index(annotation) + 1:]
        touching = [a for a in later if a.onset_frame <= annotation.offset_frame + 1]
        return (touching or later or [None])[0]

    def _on_annotations_changed(self, _change: AnnotationChange) -> None:
        if self._selection.annotation_id is not None and self._selected() is None:
            self._selection.select(None)
        self._update_enabled()

    # --------------------------------------------------------------- edits

    def _set_onset(self) -> None:
        frame_idx, selected = self._playhead.frame_idx, self._selected()
        if self._pending is None and selected is not None:
            if frame_idx > selected.offset_frame:
                self.message.emit("The onset cannot come after the offset: move the offset first")
                return
            self._edit_selected("Set onset", onset_frame=frame_idx,
                                apex_frame=max(selected.apex_frame, frame_idx))
            self.set_active_edge("onset")
        else:
            self._set_pending(PendingInterval(frame_idx))

    def _set_offset(self) -> None:
        frame_idx, selected = self._playhead.frame_idx, self._selected()
        if self._pending is not None:
            annotation = human_interval(self._session, self._pending.onset_frame, frame_idx,
                                        self._pending.apex_frame)
            if self._apply(AnnotationChange((), (annotation,)), "Add interval"):
                self._set_pending(None)
                self._selection.select(annotation.id)
        elif selected is not None:
            if frame_idx < selected.onset_frame:
                self.message.emit("The offset cannot come before the onset: move the onset first")
                return
            self._edit_selected("Set offset", offset_frame=frame_idx,
                                apex_frame=min(selected.apex_frame, frame_idx))
            self.set_active_edge("offset")

    def _set_apex(self) -> None:
        frame_idx, selected = self._playhead.frame_idx, self._selected()
        if self._pending is not None:
            self._set_pending(replace(self._pending, apex_frame=frame_idx))
        elif selected is not None:
            if not selected.onset_frame <= frame_idx <= selected.offset_frame:
                self.message.emit("The apex must lie between the onset and the offset")
                return
            self._edit_selected("Set apex", apex_frame=frame_idx)

    def _nudge(self, n_frames: int) -> None:
        selected = self._selected()
        if selected is None:
            return
        onset, apex, offset = selected.onset_frame, selected.apex_frame, selected.offset_frame
        if self._active_edge == "onset":
            onset = min(max(onset + n_frames, 0), offset)
            edge_frame, apex = onset, max(apex, onset)
        else:
            offset = min(max(offset + n_frames, onset), self._session.n_frames - 1)
            edge_frame, apex = offset, min(apex, offset)
        self._edit_selected(f"Nudge {self._active_edge}", onset_frame=onset, apex_frame=apex,
                            offset_frame=offset)
        self._playhead.set_frame(edge_frame)

    def _step_selection(self, step: int) -> None:
        ordered = self._session.annotations.annotations
        selected = self._selected()
        if selected is not None:
            position = ordered.index(selected) + step
            target = ordered[position] if 0 <= position < len(ordered) else None
        elif step > 0:
            target = next((a for a in ordered if a.onset_frame >= self._playhead.frame_idx), None)
        else:
            target = next((a for a in reversed(ordered)
                           if a.onset_frame < self._playhead.frame_idx), None)
        if target is not None:
            self._selection.select(target.id)
            self._playhead.set_frame(target.onset_frame)

    def _deselect(self) -> None:
        if self._pending is not None:
            self._set_pending(None)
        else:
            self._selection.select(None)

    def _set_emotion(self, emotion: str) -> None:
        if self._selected() is not None:
            self._edit_selected(f"Set emotion: {emotion}", emotion=emotion)

    def _accept(self) -> None:
        if self._selected() is not None:
            self._edit_selected("Accept interval", status="accepted")

    def _delete(self) -> None:
        selected = self._selected()
        if selected is None:
            return
        if selected.source == "model":
            self._edit_selected("Reject interval", status="rejected")
        elif self._apply(AnnotationChange((selected,), ()), "Delete interval"):
            self._selection.select(None)

    def _split(self) -> None:
        selected = self._selected()
        if selected is None:
            return
        try:
            left, right = split_annotation(selected, self._playhead.frame_idx,
                                           annotator=self._session.annotator)
        except AnnotationError as exc:
            self.message.emit(str(exc))
            return
        self._apply(AnnotationChange((selected,), (left, right)), "Split interval")

    def _merge(self) -> None:
        selected = self._selected()
        partner = None if selected is None else self._merge_partner(selected)
        if partner is None:
            return
        merged = merge_annotations([selected, partner], annotator=self._session.annotator)
        if self._apply(AnnotationChange((selected, partner), (merged,)), "Merge intervals"):
            self._selection.select(merged.id)

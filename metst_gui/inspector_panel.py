"""The selected interval in detail, and its fields to edit.

Shows the interval of :class:`~metst_gui.view_state.Selection` in the open
:class:`~metst_gui.session.VideoSession`: onset, apex and offset (frames and ``mm:ss.fff``), the
duration with a flag past the 0.5 s micro-expression limit, emotion, status, source, annotator and
note, the analysis curves inside it (:func:`core.interval_stats.interval_stats`) and TSFmicro's
second opinion when the project names a TSFmicro checkpoint (computed on a worker thread).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSignalBlocker, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGridLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from core.annotations import STATUSES, Annotation, AnnotationChange, AnnotationError, edited
from core.interval_stats import interval_stats
from metst_gui.interval_table_model import emotion_icon
from metst_gui.session import VideoSession
from metst_gui.tsfmicro_opinion import TsfMicroOpinion
from metst_gui.video_view import format_timestamp
from metst_gui.view_state import Playhead, Selection

__all__ = ["InspectorPanel", "EMOTION_CHOICES", "MICRO_LIMIT_S", "NO_CHECKPOINT_TEXT"]

#: The emotions offered for every interval ('' = unlabelled); labels found in the set are added.
EMOTION_CHOICES = ("", "negative", "positive", "surprise", "others")
#: Onset → offset longer than this is not a micro-expression by the usual (MEGC) criterion.
MICRO_LIMIT_S = 0.5
LONG_INTERVAL_TEXT = "longer than 0.5 s: not a micro-expression by the usual criterion"
NO_CHECKPOINT_TEXT = "set a TSFmicro checkpoint in Analysis settings"
NO_VALUE = "—"


class _FrameFields(QWidget):
    """Onset, apex and offset as spin boxes (kept ``onset ≤ apex ≤ offset < n_frames`` by their
    ranges), each with its time and a button that seeks to it.

    Signals: edited(onset_frame, apex_frame, offset_frame) after a user edit (Enter, focus out or
    an arrow step); seek_requested(frame_idx).
    """

    edited = Signal(int, int, int)
    seek_requested = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        self.spins: list[QSpinBox] = []
        self.times: list[QLabel] = []
        self.go_buttons: list[QToolButton] = []
        for row, name in enumerate(("Onset", "Apex", "Offset")):
            spin, time_label, go = QSpinBox(), QLabel(NO_VALUE), QToolButton()
            spin.setKeyboardTracking(False)  # typing commits on Enter, not per digit
            spin.setSuffix(" f")
            spin.valueChanged.connect(self._on_value_changed)
            go.setText("Go")
            go.setToolTip(f"Move the playhead to the {name.lower()} frame")
            go.clicked.connect(lambda _checked=False, s=spin: self.seek_requested.emit(s.value()))
            for col, widget in enumerate((QLabel(name), spin, time_label, go)):
                grid.addWidget(widget, row, col)
            self.spins.append(spin)
            self.times.append(time_label)
            self.go_buttons.append(go)

    def show_interval(self, annotation: Annotation, n_frames: int, fps: float) -> None:
        frames = (annotation.onset_frame, annotation.apex_frame, annotation.offset_frame)
        last_frame = max(n_frames - 1, annotation.offset_frame)
        limits = ((0, frames[1]), (frames[0], frames[2]), (frames[1], last_frame))
        for spin, time_label, frame_idx, (low, high) in zip(self.spins, self.times, frames,
                                                             limits, strict=True):
            with QSignalBlocker(spin):
                spin.setRange(low, high)
                spin.setValue(frame_idx)
            time_label.setText(format_timestamp(frame_idx / fps if fps > 0 else None))

    def clear(self) -> None:
        for spin, time_label in zip(self.spins, self.times, strict=True):
            with QSignalBlocker(spin):
                spin.setRange(0, 0)
            time_label.setText(NO_VALUE)

    def _on_value_changed(self, _value: int) -> None:
        onset_frame, apex_frame, offset_frame = (spin.value() for spin in self.spins)
        self.edited.emit(onset_frame, apex_frame, offset_frame)


class InspectorPanel(QWidget):
    """Details and edits of the selected interval (disabled while nothing is selected).

    Model: the session's ``AnnotationSet`` (edits go through ``session.apply``, one undo step
    each) and the window's ``Selection`` and ``Playhead`` (the Go buttons seek).
    """

    def __init__(self, playhead: Playhead, selection: Selection,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._playhead = playhead
        self._selection = selection
        self._session: VideoSession | None = None
        self._shown_id: str | None = None  # the interval the fields show
        self._opinion_key: tuple[str, int, int] | None = None
        self._opinion = TsfMicroOpinion(self)
        self._build()
        self._selection.changed.connect(self._on_selection_changed)
        self._opinion.result.connect(self._on_opinion_result)
        self._opinion.failed.connect(self._on_opinion_failed)
        self._frames.edited.connect(self._on_frames_edited)
        self._frames.seek_requested.connect(self._playhead.set_frame)
        self._emotion.currentIndexChanged.connect(self._on_emotion_chosen)
        self._status.currentIndexChanged.connect(self._on_status_chosen)
        self._note.editingFinished.connect(self._on_note_edited)
        self._refresh()

    def _build(self) -> None:
        self._title = QLabel("No interval selected")
        self._frames = _FrameFields()
        self._duration = QLabel(NO_VALUE)
        self._long_flag = QLabel(LONG_INTERVAL_TEXT)
        self._long_flag.setStyleSheet("color: #c0392b; font-weight: bold")
        self._long_flag.setWordWrap(True)
        self._emotion = QComboBox()
        self._status = QComboBox()
        for status in STATUSES:
            self._status.addItem(status, status)
        self._source, self._annotator = QLabel(NO_VALUE), QLabel(NO_VALUE)
        self._note = QLineEdit()
        self._note.setPlaceholderText("note")
        self._probs, self._peak = QLabel(NO_VALUE), QLabel(NO_VALUE)
        self._tsfmicro = QLabel(NO_CHECKPOINT_TEXT)
        self._error = QLabel()
        self._error.setStyleSheet("color: #c0392b")
        for label in (self._probs, self._tsfmicro, self._error):
            label.setWordWrap(True)
        self._body = QWidget()
        form = QFormLayout(self._body)
        form.addRow(self._frames)
        form.addRow("Duration", self._duration)
        form.addRow(self._long_flag)
        form.addRow("Emotion", self._emotion)
        form.addRow("Status", self._status)
        form.addRow("Source", self._source)
        form.addRow("Annotator", self._annotator)
        form.addRow("Note", self._note)
        form.addRow("Mean probabilities", self._probs)
        form.addRow("Peak spot score", self._peak)
        form.addRow("TSFmicro", self._tsfmicro)
        form.addRow(self._error)
        layout = QVBoxLayout(self)
        layout.addWidget(self._title)
        layout.addWidget(self._body)
        layout.addStretch(1)

    # ------------------------------------------------------------------ public

    def set_session(self, session: VideoSession | None) -> None:
        """Show the intervals of ``session`` (None: no open video)."""
        self._commit_note(self._shown_id)  # to the session the note was typed in
        if self._session is not None:
            self._session.annotations_changed.disconnect(self._on_annotations_changed)
            self._session.result_changed.disconnect(self._on_result_changed)
        self._session = session
        self._opinion_key = None
        self._opinion.cancel()
        if session is not None:
            session.annotations_changed.connect(self._on_annotations_changed)
            session.result_changed.connect(self._on_result_changed)
        self._refresh()

    def refresh_opinion(self) -> None:
        """Ask TSFmicro again (call after the project's TSFmicro checkpoint changed)."""
        self._opinion_key = None
        annotation = self._annotation()
        if annotation is not None:
            self._update_opinion(annotation)

    def shutdown(self) -> None:
        """Stop the TSFmicro worker thread (also done on close)."""
        self._opinion.stop()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt override)
        self.set_session(None)
        self.shutdown()
        super().closeEvent(event)

    # ---------------------------------------------------------- model → view

    def _annotation(self) -> Annotation | None:
        annotation_id = self._selection.annotation_id
        if self._session is None or annotation_id is None:
            return None
        return self._session.annotations.find(annotation_id)

    def _on_selection_changed(self, _annotation_id: object) -> None:
        self._commit_note(self._shown_id)  # a note typed for the previous interval is kept
        self._error.clear()
        self._refresh()

    def _on_annotations_changed(self, change: AnnotationChange) -> None:
        if self._selection.annotation_id in change.touched_ids:
            self._refresh()

    def _on_result_changed(self, _result: object) -> None:
        self._refresh()

    def _refresh(self) -> None:
        annotation = self._annotation()
        self._shown_id = annotation.id if annotation is not None else None
        self._body.setEnabled(annotation is not None)
        if annotation is None or self._session is None:
            self._title.setText("No interval selected")
            self._clear()
            return
        session = self._session
        self._title.setText(f"Interval {annotation.id}")
        self._frames.show_interval(annotation, session.n_frames, session.fps)
        duration_s = annotation.duration_s(session.fps) if session.fps > 0 else None
        self._duration.setText(f"{annotation.n_frames} frames" + (
            f", {duration_s:.3f} s" if duration_s is not None else ""))
        self._long_flag.setVisible(duration_s is not None and duration_s > MICRO_LIMIT_S)
        self._show_choices(annotation)
        self._source.setText(annotation.source + (
            f" ({annotation.model_name})" if annotation.model_name else ""))
        self._annotator.setText(annotation.annotator or NO_VALUE)
        if not self._note.isModified():  # never overwrite a note being typed
            with QSignalBlocker(self._note):
                self._note.setText(annotation.note)
        self._show_stats(annotation)
        self._update_opinion(annotation)

    def _clear(self) -> None:
        self._frames.clear()
        self._duration.setText(NO_VALUE)
        self._long_flag.setVisible(False)
        for combo in (self._emotion, self._status):
            with QSignalBlocker(combo):
                combo.setCurrentIndex(-1)
        for label in (self._source, self._annotator, self._probs, self._peak):
            label.setText(NO_VALUE)
        with QSignalBlocker(self._note):
            self._note.clear()
            self._note.setModified(False)
        self._opinion_key = None
        self._opinion.cancel()
        self._tsfmicro.setText(NO_VALUE)

    def _show_choices(self, annotation: Annotation) -> None:
        present = {a.emotion for a in self._session.annotations} if self._session else set()
        emotions = [*EMOTION_CHOICES, *sorted(present - set(EMOTION_CHOICES))]
        with QSignalBlocker(self._emotion):
            self._emotion.clear()
            for emotion in emotions:
                self._emotion.addItem(emotion_icon(emotion), emotion or "(unlabelled)", emotion)
            self._emotion.setCurrentIndex(self._emotion.findData(annotation.emotion))
        with QSignalBlocker(self._status):
            self._status.setCurrentIndex(self._status.findData(annotation.status))

    def _show_stats(self, annotation: Annotation) -> None:
        result = self._session.result if self._session is not None else None
        try:
            stats = None if result is None else interval_stats(
                result, annotation.onset_frame, annotation.offset_frame)
        except ValueError:
            stats = None
        if stats is None:
            self._probs.setText(NO_VALUE)
            self._peak.setText(NO_VALUE)
            return
        self._probs.setText(" · ".join(f"{name} {p:.2f}" for name, p in sorted(
            stats.mean_probs.items(), key=lambda kv: -kv[1])) or NO_VALUE)
        self._peak.setText(f"{stats.peak_spot:.3f} at frame {stats.peak_spot_frame}")

    def _update_opinion(self, annotation: Annotation) -> None:
        session = self._session
        checkpoint = session.project.settings.tsfmicro if session is not None else ""
        if session is None or not checkpoint:
            self._opinion_key = None
            self._opinion.cancel()
            self._tsfmicro.setText(NO_CHECKPOINT_TEXT)
            return
        path = Path(checkpoint)
        path = path if path.is_absolute() else session.project.root / path
        key = (str(path), annotation.onset_frame, annotation.apex_frame)
        if key == self._opinion_key:
            return
        self._opinion_key = key
        self._tsfmicro.setStyleSheet("")
        self._tsfmicro.setText("computing…")
        self._opinion.request(path, session.info.path, annotation.onset_frame,
                              annotation.apex_frame)

    def _on_opinion_result(self, class_names: list[str], probs: list[float]) -> None:
        ranked = sorted(zip(class_names, probs, strict=True), key=lambda kv: -kv[1])
        self._tsfmicro.setStyleSheet("")
        self._tsfmicro.setText(f"<b>{ranked[0][0]}</b> {ranked[0][1]:.2f}" + "".join(
            f" · {name} {p:.2f}" for name, p in ranked[1:]))

    def _on_opinion_failed(self, message: str) -> None:
        self._tsfmicro.setStyleSheet("color: #c0392b")
        self._tsfmicro.setText(f"TSFmicro failed: {message}")

    # ---------------------------------------------------------- view → model

    def _commit(self, text: str, annotation_id: str | None = None, **changes: object) -> None:
        """Apply ``changes`` to an interval (the shown one by default) as one undo step."""
        session = self._session
        annotation_id = annotation_id or self._shown_id
        annotation = session.annotations.find(annotation_id) if session and annotation_id else None
        if annotation is None or session is None:
            return
        self._error.clear()
        try:
            new = edited(annotation, annotator=session.annotator, **changes)
            if new != annotation:
                session.apply(session.annotations.replace_change(new), text)
        except AnnotationError as exc:
            self._error.setText(str(exc))
            self._refresh()

    def _on_frames_edited(self, onset_frame: int, apex_frame: int, offset_frame: int) -> None:
        self._commit("Edit interval frames", onset_frame=onset_frame, apex_frame=apex_frame,
                     offset_frame=offset_frame)

    def _on_emotion_chosen(self, index: int) -> None:
        if index >= 0:
            emotion = self._emotion.itemData(index)
            self._commit(f"Set emotion to {emotion or 'unlabelled'}", emotion=emotion)

    def _on_status_chosen(self, index: int) -> None:
        if index >= 0:
            status = self._status.itemData(index)
            self._commit(f"Mark interval {status}", status=status)

    def _on_note_edited(self) -> None:
        self._commit_note(self._shown_id)

    def _commit_note(self, annotation_id: str | None) -> None:
        """Store the typed note on ``annotation_id`` if it was edited."""
        if not self._note.isModified():
            return
        self._note.setModified(False)
        self._commit("Edit note", annotation_id, note=self._note.text())

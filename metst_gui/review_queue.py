"""Walk the unreviewed model proposals, least certain first, accepting or rejecting each.

:class:`ReviewQueuePanel` keeps a position in ``AnnotationSet.review_queue()`` (unreviewed
proposals by rising confidence, then spot score). Accept and Reject review the current proposal
(one undo step each) and move on to the next; Skip and Previous move without reviewing. Moving
selects the proposal and puts the playhead on its onset, so the video and the curves show it. The
queue is rebuilt after every change of the annotations (a proposal reviewed elsewhere leaves it),
and selecting a queued proposal elsewhere makes it the current one.
"""

from __future__ import annotations

from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QGridLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from core.annotations import Annotation, AnnotationChange, AnnotationError, edited
from metst_gui.session import VideoSession
from metst_gui.view_state import Playhead, Selection

__all__ = ["ReviewQueuePanel"]


class ReviewQueuePanel(QWidget):
    """The review queue of the open video: "k of n left", the current proposal and its buttons.

    Model: the session's ``AnnotationSet`` (reviews go through ``session.apply``), the window's
    ``Selection`` and ``Playhead`` (moved to the current proposal).
    """

    def __init__(self, playhead: Playhead, selection: Selection,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._playhead = playhead
        self._selection = selection
        self._session: VideoSession | None = None
        self._queue: list[Annotation] = []
        self._position = 0
        self._build()
        self._selection.changed.connect(self._on_selection_changed)
        self.accept_button.clicked.connect(lambda: self._review("accepted"))
        self.reject_button.clicked.connect(lambda: self._review("rejected"))
        self.skip_button.clicked.connect(lambda: self._move(+1))
        self.previous_button.clicked.connect(lambda: self._move(-1))
        self.show_button.clicked.connect(self._show_current)
        self._refresh()

    def _build(self) -> None:
        self.count_label = QLabel()
        self.count_label.setStyleSheet("font-weight: bold")
        self.current_label = QLabel()
        self.current_label.setWordWrap(True)
        self.message_label = QLabel()
        self.message_label.setStyleSheet("color: #c0392b")
        self.message_label.setWordWrap(True)
        self.previous_button = QPushButton("Previous")
        self.show_button = QPushButton("Show")
        self.skip_button = QPushButton("Skip")
        self.accept_button = QPushButton("Accept")
        self.reject_button = QPushButton("Reject")
        self.show_button.setToolTip("Select the current proposal and move the playhead to it")
        self.skip_button.setToolTip("Go to the next proposal without reviewing this one")
        self.accept_button.setToolTip("Accept this proposal and go to the next")
        self.reject_button.setToolTip("Reject this proposal and go to the next")
        buttons = QGridLayout()
        for col, button in enumerate((self.previous_button, self.show_button, self.skip_button)):
            buttons.addWidget(button, 0, col)
        buttons.addWidget(self.accept_button, 1, 0, 1, 2)
        buttons.addWidget(self.reject_button, 1, 2)
        layout = QVBoxLayout(self)
        layout.addWidget(self.count_label)
        layout.addWidget(self.current_label)
        layout.addLayout(buttons)
        layout.addWidget(self.message_label)
        layout.addStretch(1)

    # ------------------------------------------------------------------ public

    def set_session(self, session: VideoSession | None) -> None:
        """Review the proposals of ``session`` (None: nothing to review)."""
        if self._session is not None:
            self._session.annotations_changed.disconnect(self._on_annotations_changed)
        self._session = session
        self._position = 0
        if session is not None:
            session.annotations_changed.connect(self._on_annotations_changed)
        self._rebuild(None)

    @property
    def queue(self) -> list[Annotation]:
        """The unreviewed proposals, least certain first."""
        return list(self._queue)

    @property
    def current(self) -> Annotation | None:
        """The proposal the buttons act on, or None when the queue is empty."""
        return self._queue[self._position] if self._queue else None

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt override)
        self.set_session(None)
        super().closeEvent(event)

    # ---------------------------------------------------------- model → view

    def _on_annotations_changed(self, _change: AnnotationChange) -> None:
        current = self.current
        self._rebuild(current.id if current is not None else None)

    def _rebuild(self, keep_id: str | None) -> None:
        """Re-read the queue; stay on ``keep_id`` if it is still queued, else at the same place
        (where the next proposal has moved up)."""
        self._queue = self._session.annotations.review_queue() if self._session else []
        ids = [a.id for a in self._queue]
        if keep_id in ids:
            self._position = ids.index(keep_id)
        self._position = min(self._position, max(len(self._queue) - 1, 0))
        self._refresh()

    def _on_selection_changed(self, annotation_id: object) -> None:
        ids = [a.id for a in self._queue]
        if annotation_id in ids and ids.index(annotation_id) != self._position:
            self._position = ids.index(annotation_id)
            self._refresh()

    def _refresh(self) -> None:
        current, n_left = self.current, len(self._queue)
        if self._session is None:
            self.count_label.setText("No video open")
        elif current is None:
            self.count_label.setText("No proposals left to review")
        else:
            self.count_label.setText(f"{self._position + 1} of {n_left} left")
        self.current_label.setText("" if current is None else self._describe(current))
        for button in (self.show_button, self.skip_button, self.accept_button,
                       self.reject_button):
            button.setEnabled(current is not None)
        self.previous_button.setEnabled(current is not None and self._position > 0)
        self.skip_button.setEnabled(current is not None and self._position < n_left - 1)

    @staticmethod
    def _describe(annotation: Annotation) -> str:
        confidence = ("—" if annotation.confidence is None
                      else f"{annotation.confidence:.2f}")
        spot = "" if annotation.spot_score is None else f", spot {annotation.spot_score:.2f}"
        return (f"frames {annotation.onset_frame}–{annotation.apex_frame}–"
                f"{annotation.offset_frame}\nemotion {annotation.emotion or '(unlabelled)'}, "
                f"confidence {confidence}{spot}")

    # ---------------------------------------------------------- view → model

    def _show_current(self) -> None:
        current = self.current
        if current is not None:
            self._selection.select(current.id)
            self._playhead.set_frame(current.onset_frame)

    def _move(self, step: int) -> None:
        if self._queue:
            self._position = min(max(self._position + step, 0), len(self._queue) - 1)
            self._refresh()
            self._show_current()

    def _review(self, status: str) -> None:
        """Give the current proposal ``status``; the queue then moves up to the next one."""
        current, session = self.current, self._session
        if current is None or session is None:
            return
        self.message_label.clear()
        reviewed = edited(current, annotator=session.annotator, status=status)
        verb = "Accept" if status == "accepted" else "Reject"
        try:
            session.apply(session.annotations.replace_change(reviewed), f"{verb} proposal")
        except AnnotationError as exc:
            self.message_label.setText(str(exc))
            return
        self._show_current()

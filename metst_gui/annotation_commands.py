"""Undo steps for annotation edits: each wraps one :class:`core.annotations.AnnotationChange`.

Every edit the window makes goes through :class:`AnnotationChangeCommand` pushed on the session's
``QUndoStack``: redo applies the change, undo applies its inverse. A drag is one step (the views
preview while dragging and push one command on release). Consecutive threshold changes merge
into one step (:class:`ProposalsCommand` with ``mergeable=True``), so dragging the threshold
slider undoes in one go.
"""

from __future__ import annotations

from PySide6.QtGui import QUndoCommand

from core.annotations import AnnotationChange, AnnotationSet

__all__ = ["AnnotationChangeCommand", "ProposalsCommand", "THRESHOLD_COMMAND_ID"]

THRESHOLD_COMMAND_ID = 1001


class AnnotationChangeCommand(QUndoCommand):
    """One edit of an :class:`AnnotationSet`, named ``text`` in Edit → Undo <text>."""

    def __init__(self, annotations: AnnotationSet, change: AnnotationChange, text: str,
                 parent: QUndoCommand | None = None) -> None:
        super().__init__(text, parent)
        self._annotations = annotations
        self.change = change

    def redo(self) -> None:
        self._annotations.apply(self.change)

    def undo(self) -> None:
        self._annotations.apply(self.change.inverse())


class ProposalsCommand(AnnotationChangeCommand):
    """New model proposals replacing the unreviewed ones (analysis re-run or a new threshold)."""

    def __init__(self, annotations: AnnotationSet, change: AnnotationChange, text: str,
                 *, mergeable: bool = False) -> None:
        super().__init__(annotations, change, text)
        self._mergeable = mergeable

    def id(self) -> int:  # noqa: A003 (Qt's name)
        return THRESHOLD_COMMAND_ID if self._mergeable else -1

    def mergeWith(self, other: QUndoCommand) -> bool:  # noqa: N802 (Qt override)
        """Fold a following threshold change into this step (the set is already in its state)."""
        if not isinstance(other, ProposalsCommand) or other.id() != self.id():
            return False
        removed_ids = {a.id for a in other.change.removed}
        mine_added = {a.id: a for a in self.change.added}
        # removed by the other: mine that it removed cancel out; earlier ones stay removed.
        added = tuple(a for a in self.change.added if a.id not in removed_ids) + other.change.added
        removed = self.change.removed + tuple(a for a in other.change.removed
                                              if a.id not in mine_added)
        self.change = AnnotationChange(removed, added)
        self.setText(other.text())
        return True

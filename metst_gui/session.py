"""The open video as a document: its project entry, analysis result, annotations and undo stack.

:class:`VideoSession` is what the panels of the window show and edit. It holds no widgets. Every
annotation edit goes through :meth:`VideoSession.apply` (an undo step on :attr:`undo_stack`);
analysis results come in through :meth:`VideoSession.set_result`, which replaces only the
unreviewed model proposals (an undo step too), and a new threshold p through
:meth:`VideoSession.set_threshold` (post-processing only, no model run; consecutive threshold
changes merge into one undo step).
"""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoStack

from core.analysis import AnalysisResult, reinterpret
from core.annotations import (
    AnnotationChange,
    AnnotationError,
    AnnotationSet,
    annotation_from_detection,
)
from core.project import Project, ProjectVideo
from metst_gui.annotation_commands import AnnotationChangeCommand, ProposalsCommand
from metst_gui.frame_loader import VideoInfo

__all__ = ["VideoSession"]


class VideoSession(QObject):
    """One open video of a project.

    Signals:
        result_changed(object): the analysis result (``AnalysisResult``) was set or replaced.
        annotations_changed(object): an ``AnnotationChange`` was applied (edit, undo or redo).
        dirty_changed(bool): whether there are edits not yet saved.
    """

    result_changed = Signal(object)
    annotations_changed = Signal(object)
    dirty_changed = Signal(bool)

    def __init__(self, project: Project, video: ProjectVideo, info: VideoInfo,
                 annotations: AnnotationSet, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.project = project
        self.video = video
        self.info = info
        self.annotations = annotations
        self.result: AnalysisResult | None = None
        self.undo_stack = QUndoStack(self)
        self.annotations.subscribe(self._on_annotations_applied)
        self.undo_stack.cleanChanged.connect(self._on_clean_changed)

    @property
    def fps(self) -> float:
        return self.info.fps

    @property
    def n_frames(self) -> int:
        return self.info.n_frames

    @property
    def annotator(self) -> str:
        return self.project.settings.annotator

    @property
    def is_dirty(self) -> bool:
        """Edits not yet saved to the annotation file."""
        return not self.undo_stack.isClean()

    def apply(self, change: AnnotationChange, text: str) -> None:
        """Apply one edit as an undo step named ``text`` (nothing happens for an empty change).

        Raises AnnotationError (and pushes nothing) when the set refuses the change, e.g. a stale
        edit: a refused step left on the stack would break every undo before it.
        """
        if not change.is_empty:
            self.annotations.validate(change)
            self.undo_stack.push(AnnotationChangeCommand(self.annotations, change, text))

    def try_apply(self, change: AnnotationChange, text: str) -> str | None:
        """:meth:`apply`, but a refused change comes back as ``"<text>: <why>"`` (None: applied)
        for a view to show, instead of raising."""
        try:
            self.apply(change, text)
        except AnnotationError as exc:
            return f"{text}: {exc}"
        return None

    def set_result(self, result: AnalysisResult, *, replace_proposals: bool = True) -> None:
        """Show a new analysis result; its intervals replace the unreviewed proposals.

        ``replace_proposals=False`` only shows the curves (re-opening a stored result whose
        proposals are already in the annotation file).
        """
        self.result = result
        self.result_changed.emit(result)
        if replace_proposals:
            self._replace_proposals(result, f"Analysis ({result.model_name})", mergeable=False)

    def set_threshold(self, p: float) -> None:
        """Re-threshold the current result at ``p`` (post-processing only)."""
        if self.result is None:
            return
        if abs(self.result.postprocess.p - p) < 1e-9:
            return
        result = reinterpret(self.result, replace(self.result.postprocess, p=float(p)))
        self.result = result
        self.result_changed.emit(result)
        self._replace_proposals(result, f"Threshold p = {p:.2f}", mergeable=True)

    def mark_saved(self) -> None:
        """The annotation file now holds the current state (the title loses its ``*``)."""
        self.undo_stack.setClean()

    def close(self) -> None:
        """Stop observing the annotations (call before dropping the session)."""
        self.annotations.unsubscribe(self._on_annotations_applied)

    def _replace_proposals(self, result: AnalysisResult, text: str, *, mergeable: bool) -> None:
        proposals = [annotation_from_detection(i, result.model_name) for i in result.intervals]
        change = self.annotations.proposals_change(proposals)
        if not change.is_empty:
            self.annotations.validate(change)
            self.undo_stack.push(ProposalsCommand(self.annotations, change, text,
                                                  mergeable=mergeable))

    def _on_annotations_applied(self, change: AnnotationChange) -> None:
        self.annotations_changed.emit(change)

    def _on_clean_changed(self, clean: bool) -> None:
        self.dirty_changed.emit(not clean)

"""Never lose an edit: autosave after each burst of edits, and the explicit Save.

:class:`AutosaveController` watches the open :class:`~metst_gui.session.VideoSession`. Each
``annotations_changed`` restarts a single-shot timer, so a burst of edits (a drag, a run of
accept/reject keys) is written once, ``delay_ms`` after it ends, to the project's autosave file
(:meth:`core.project.Project.autosave_path`). The write runs on a one-thread pool, in order, off
the GUI thread (2,000 intervals take 20-50 ms to write and fsync); the GUI thread only takes a
snapshot of the immutable records. When undo brings the session back to its saved state the
autosave file is deleted instead.

:meth:`AutosaveController.save` is File → Save: the annotation file is replaced atomically, its
previous version kept as the backup, the session marked saved and the autosave deleted. A save
that fails (a read-only folder, a full disk) emits ``save_failed`` with a message naming the
file, keeps the session dirty and writes the autosave, so the edits survive in memory and on
disk.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, QRunnable, QThreadPool, QTimer, Signal

from core.annotation_store import (
    AnnotationFileError,
    discard_autosave,
    save_annotations,
)
from core.annotations import Annotation, AnnotationSet
from metst_gui.session import VideoSession

__all__ = ["AutosaveController", "DEFAULT_DELAY_MS"]

DEFAULT_DELAY_MS = 1500


class _JobSignals(QObject):
    """Carries a finished write back to the GUI thread: (path, error message or '', deleted)."""

    finished = Signal(object, str, bool)


class _AutosaveJob(QRunnable):
    """Write a snapshot of one video's records to its autosave file, or delete that file."""

    def __init__(self, signals: _JobSignals, path: Path,
                 snapshot: tuple[str, int, float, list[Annotation]] | None) -> None:
        super().__init__()
        self.setAutoDelete(True)
        self._signals = signals
        self._path = path
        self._snapshot = snapshot  # (video, n_frames, fps, records); None: delete the file

    def run(self) -> None:
        try:
            if self._snapshot is None:
                discard_autosave(self._path)
            else:
                video, n_frames, fps, records = self._snapshot
                save_annotations(AnnotationSet.from_annotations(video, n_frames, fps, records),
                                 self._path)
        except (OSError, ValueError) as error:
            self._signals.finished.emit(self._path, str(error), self._snapshot is None)
            return
        self._signals.finished.emit(self._path, "", self._snapshot is None)


class AutosaveController(QObject):
    """Autosaves the open session's annotations after each burst of edits; saves on request.

    Signals:
        autosaved(Path): the autosave file was written.
        save_failed(str): a save or an autosave failed; the message names the file and why.
    """

    autosaved = Signal(Path)
    save_failed = Signal(str)

    def __init__(self, parent: QObject | None = None, *, delay_ms: int = DEFAULT_DELAY_MS
                 ) -> None:
        super().__init__(parent)
        self._session: VideoSession | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(delay_ms)
        self._timer.timeout.connect(self._on_timer_timeout)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)  # writes land in the order they were asked for
        self._signals = _JobSignals(self)
        self._signals.finished.connect(self._on_job_finished)

    @property
    def is_pending(self) -> bool:
        """Edits are waiting for the end of their burst to be autosaved."""
        return self._timer.isActive()

    def set_session(self, session: VideoSession | None) -> None:
        """Watch ``session`` (None: none); pending edits of the previous one are written first."""
        if self._session is not None:
            self.flush()
            self._session.annotations_changed.disconnect(self._on_annotations_changed)
        self._session = session
        if session is not None:
            session.annotations_changed.connect(self._on_annotations_changed)

    def flush(self) -> None:
        """Write pending edits now and wait until every autosave has landed (call on close)."""
        if self._timer.isActive():
            self._timer.stop()
            self._start_autosave()
        self._pool.waitForDone()

    def save(self, session: VideoSession) -> Path | None:
        """File → Save: write ``session``'s annotation file (keeping the previous version as the
        backup), mark it saved and delete its autosave. Returns the path, or None when the save
        failed (``save_failed`` was emitted; the edits stay in memory and in the autosave)."""
        project, video = session.project, session.video
        if session is self._session:
            self._timer.stop()
        self._pool.waitForDone()  # an autosave in flight must not land after the delete below
        try:
            path = save_annotations(session.annotations, project.annotations_path(video),
                                    backup_path=project.backup_path(video))
        except AnnotationFileError as error:
            self.save_failed.emit(f"Could not save the annotations of {video.key}: {error}. "
                                  f"The edits are kept (and autosaved).")
            self._pool.start(_AutosaveJob(self._signals, project.autosave_path(video),
                                          _snapshot(session)))
            return None
        session.mark_saved()
        try:
            discard_autosave(project.autosave_path(video))
        except OSError as error:  # harmless: it now equals the saved file
            self.save_failed.emit(f"Saved {path}, but could not delete the autosave "
                                  f"{project.autosave_path(video)} ({error.strerror})")
        return path

    def shutdown(self) -> None:
        """Write what is pending and stop watching (the window's closeEvent calls this)."""
        self.set_session(None)
        self._pool.waitForDone()

    # ------------------------------------------------------------------------------ slots

    def _on_annotations_changed(self, _change: object) -> None:
        self._timer.start()  # restarts: one write per burst

    def _on_timer_timeout(self) -> None:
        self._start_autosave()

    def _start_autosave(self) -> None:
        session = self._session
        if session is None:
            return
        snapshot = _snapshot(session) if session.is_dirty else None
        self._pool.start(_AutosaveJob(self._signals,
                                      session.project.autosave_path(session.video), snapshot))

    def _on_job_finished(self, path: Path, error: str, deleted: bool) -> None:
        if error:
            self.save_failed.emit(f"Autosave failed: {error}")
        elif not deleted:
            self.autosaved.emit(path)


def _snapshot(session: VideoSession) -> tuple[str, int, float, list[Annotation]]:
    """What the worker needs to write the session's records (immutable, safe to share)."""
    annotations = session.annotations
    return annotations.video, annotations.n_frames, annotations.fps, list(annotations)

"""Opening, switching and closing the window's document: a project and one of its videos.

:class:`SessionManager` turns "open this path" into a :class:`~metst_gui.session.VideoSession`:

* a folder that is a project (``project.json`` or ``.metst`` inside, or subject folders of videos)
  opens as a project, and its first video (or none) is shown;
* a video file or a folder of frames opens in its project: the project it lies in, else an
  implicit project in the user's data folder that links it (:func:`core.project.project_for_video`).

Opening a video loads its saved annotations, offers to recover a newer autosave (one undo step),
and shows its stored analysis without recomputing. Leaving a video with unsaved edits asks Save /
Discard / Cancel (the autosave keeps the edits on disk either way until the user discards them).
The video itself opens asynchronously through the :class:`~metst_gui.video_view.VideoView`; the
session switches only when the new video opened, so a file that fails leaves the old video and its
session (edits included) as they were.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtWidgets import QMessageBox, QWidget

from core.analysis import AnalysisResult
from core.annotation_store import (
    AnnotationFileError,
    change_to,
    discard_autosave,
    has_newer_autosave,
    load_annotations,
)
from core.annotations import AnnotationSet
from core.project import (
    PROJECT_FILE,
    STATE_DIR,
    Project,
    ProjectError,
    ProjectVideo,
    project_for_video,
)
from metst_gui.analysis_worker import load_stored_result
from metst_gui.autosave import AutosaveController
from metst_gui.background import run_in_background
from metst_gui.frame_loader import VideoInfo
from metst_gui.recovery_dialog import ask_recover
from metst_gui.session import VideoSession
from metst_gui.user_paths import projects_dir
from metst_gui.video_view import VideoView

__all__ = ["SessionManager", "is_project_folder"]

_log = logging.getLogger(__name__)
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")


def is_project_folder(path: Path) -> bool:
    """A folder to open as a project rather than as a folder of frames."""
    if (path / PROJECT_FILE).is_file() or (path / STATE_DIR).is_dir():
        return True
    try:
        entries = list(path.iterdir())
    except OSError:
        return False
    has_images = any(e.suffix.lower() in _IMAGE_SUFFIXES for e in entries if e.is_file())
    return not has_images and not (path / "color").is_dir()


class SessionManager(QObject):
    """The open project and video of the window.

    Signals:
        project_changed(object): the open ``Project`` (or None).
        session_changed(object): the open ``VideoSession`` (or None); panels follow it.
        status(str): a short message for the status bar.
        error(str title, str message): something the user must read (shown in a message box).
    """

    project_changed = Signal(object)
    session_changed = Signal(object)
    status = Signal(str)
    error = Signal(str, str)

    def __init__(self, video_view: VideoView, autosave: AutosaveController,
                 dialog_parent: QWidget) -> None:
        super().__init__(dialog_parent)
        self._video_view = video_view
        self._autosave = autosave
        self._dialog_parent = dialog_parent
        self.project: Project | None = None
        self.session: VideoSession | None = None
        self._pending: tuple[Project, ProjectVideo] | None = None
        self._load_token = 0
        self._discard_autosave_on_leave = False
        video_view.video_opened.connect(self._on_video_opened)
        video_view.open_failed.connect(self._on_open_failed)

    # ----------------------------------------------------------------- opening

    def open_path(self, path: str | Path, *, as_video: bool = False) -> None:
        """Open a project folder, a video file or a folder of frames (``as_video``: a folder is
        a folder of frames, never a project — File → Open folder of frames)."""
        path = Path(path).expanduser()
        if not path.exists():
            self.error.emit("Cannot open", f"{path}: no such file or folder")
            return
        if path.is_dir() and not as_video and is_project_folder(path):
            self.open_project(path)
            return
        try:
            project, video = project_for_video(path, projects_dir())
        except (ProjectError, OSError) as exc:
            self.error.emit("Cannot open", str(exc))
            return
        self.open_video(project, video)

    def open_project(self, root: str | Path) -> None:
        """Open the project at ``root`` and show its first video (if any)."""
        try:
            project = Project.open(root)
        except ProjectError as exc:
            self.error.emit("Cannot open project", str(exc))
            return
        if not self.close_session():
            return
        self._set_project(project)
        videos = [v for v in project.videos() if v.path.exists()]
        if videos:
            self.open_video(project, videos[0])
        else:
            self.status.emit(f"{project.root}: no videos yet (put them in subject folders)")

    def open_video(self, project: Project, video: ProjectVideo) -> None:
        """Open ``video`` of ``project`` (asynchronously; ``session_changed`` when it opened)."""
        if self.session is not None and self.session.video == video \
                and self.session.project.root == project.root:
            return
        if not self._confirm_leave():
            return
        self._pending = (project, video)
        self.status.emit(f"Opening {video.path}…")
        self._video_view.open_video(video.path)

    # ------------------------------------------------------------ saving/closing

    def save(self) -> bool:
        """File → Save; False when it failed (the failure was reported, edits kept)."""
        if self.session is None:
            return True
        path = self._autosave.save(self.session)
        if path is not None:
            self.status.emit(f"Saved {path}")
        return path is not None

    def close_session(self) -> bool:
        """Leave the open video, asking about unsaved edits; False if the user cancelled."""
        if not self._confirm_leave():
            return False
        self._teardown()
        return True

    def _confirm_leave(self) -> bool:
        """Ask Save / Discard / Cancel when the open video has unsaved edits; False: stay.

        Nothing is torn down yet: a video that then fails to open leaves this one as it was.
        """
        session = self.session
        self._discard_autosave_on_leave = False
        if session is None or not session.is_dirty:
            return True
        answer = QMessageBox.question(
            self._dialog_parent, "Unsaved edits",
            f"Save the edits of {session.video.name} before closing it?",
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Save)
        if answer == QMessageBox.StandardButton.Cancel:
            return False
        if answer == QMessageBox.StandardButton.Save:
            return self.save()
        self._discard_autosave_on_leave = True
        return True

    def _teardown(self) -> None:
        """Drop the open session (its pending autosave is written, or deleted if discarded)."""
        session = self.session
        if session is None:
            return
        self._autosave.set_session(None)          # writes what is pending, waits for it
        if self._discard_autosave_on_leave:
            discard_autosave(session.project.autosave_path(session.video))
        self._discard_autosave_on_leave = False
        self.session = None
        self.session_changed.emit(None)
        session.close()
        session.deleteLater()

    # -------------------------------------------------------------- internals

    def _set_project(self, project: Project) -> None:
        if self.project is None or self.project.root != project.root:
            self.project = project
            self.project_changed.emit(project)

    @Slot(object)
    def _on_video_opened(self, info: VideoInfo) -> None:
        if self._pending is None:
            return
        project, video = self._pending
        self._pending = None
        self._load_token += 1
        token = self._load_token
        self.status.emit(f"Reading the annotations and stored analysis of {video.name}…")
        run_in_background(self, lambda: _load_video_state(project, video, info),
                          lambda state: self._on_state_loaded(token, project, video, info, state),
                          lambda message: self.error.emit("Cannot open", message))

    def _on_state_loaded(self, token: int, project: Project, video: ProjectVideo,
                         info: VideoInfo, state: _VideoState) -> None:
        if token != self._load_token:
            return  # another video was opened meanwhile
        if state.annotation_error:
            self.error.emit("Cannot read the annotations",
                            f"{state.annotation_error}\n\nThe video opens without them; the file "
                            "is left as it is until you save.")
        for message in state.messages:
            self.status.emit(message)
        self._teardown()                          # the previous video, now that this one opened
        session = VideoSession(project, video, info, state.annotations, self)
        if state.newer_autosave:
            self._offer_recovery(session)
        if state.stored is not None:
            has_proposals = any(a.source == "model" for a in state.annotations)
            session.set_result(state.stored, replace_proposals=not has_proposals)
        self._set_project(project)
        self.session = session
        self._autosave.set_session(session)
        self.session_changed.emit(session)
        _log.info("opened %s (%s)", video.path, project.root)

    @Slot(str)
    def _on_open_failed(self, _message: str) -> None:
        self._pending = None  # the view reports the message; the old video and session stay
        self._discard_autosave_on_leave = False

    def _offer_recovery(self, session: VideoSession) -> None:
        saved = session.project.annotations_path(session.video)
        autosave = session.project.autosave_path(session.video)
        if not ask_recover(self._dialog_parent, saved, autosave):
            discard_autosave(autosave)
            return
        try:
            recovered, _warnings = load_annotations(autosave, video=session.video.name,
                                                    n_frames=session.n_frames, fps=session.fps)
        except AnnotationFileError as exc:
            self.error.emit("Cannot recover", str(exc))
            return
        session.apply(change_to(session.annotations, recovered), "Recover autosaved edits")


@dataclass
class _VideoState:
    """What opening a video reads from disk (off the GUI thread)."""

    annotations: AnnotationSet
    annotation_error: str
    messages: list[str]
    stored: AnalysisResult | None
    newer_autosave: bool


def _load_video_state(project: Project, video: ProjectVideo, info: VideoInfo) -> _VideoState:
    """The saved annotations, the stored analysis and whether an autosave is newer."""
    path = project.annotations_path(video)
    messages: list[str] = []
    error = ""
    try:
        annotations, warnings = load_annotations(path, video=video.name,
                                                 n_frames=info.n_frames, fps=info.fps)
    except AnnotationFileError as exc:
        annotations, warnings, error = AnnotationSet(video.name, info.n_frames, info.fps), [], \
            str(exc)
    for warning in warnings:
        _log.warning("%s", warning)
    if warnings:
        messages.append(f"{path.name}: {len(warnings)} rows skipped (see the log)")
    stored = load_stored_result(project, video, n_frames=info.n_frames,
                                threshold_p=project.settings.threshold_p, warn=messages.append)
    newer = has_newer_autosave(path, project.autosave_path(video))
    return _VideoState(annotations, error, messages, stored, newer)

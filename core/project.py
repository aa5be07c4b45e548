"""A project: a folder holding videos (or links to them), features, results and annotations.

Layout (the dataset layout of :mod:`core.datasets.project`, plus a hidden state folder)::

    <root>/
        project.json                          settings and linked videos (optional)
        <subject>/<video>.mp4 | <video>/      videos (files or folders of frames)
        <subject>/<video>.intervals.csv       the video's annotations (the saved file)
        .metst/features.h5                    the feature store (flow traces, landmarks)
        .metst/results/<subject>/<video>/     the last analysis (curves.h5, intervals.csv)
        .metst/autosave/<subject>/<video>.intervals.csv   edits not yet saved
        .metst/backup/<subject>/<video>.intervals.csv     the previous saved version
        .metst/models/                        checkpoints trained from this project
        .metst/app.log                        the window's log

A video outside the folder is *linked*: ``project.json`` lists its path and subject, and its
annotations still live at ``<root>/<subject>/<video>.intervals.csv`` so that ``load_project``
and training read them like any other. Opening a bare video in the app makes an implicit project
for it (:func:`project_for_video`) in the user's data folder, linking the video.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from core.atomic import atomic_write_text
from core.datasets.project import INTERVALS_SUFFIX, project_entries
from core.store import FeatureStore

__all__ = ["Project", "ProjectVideo", "ProjectSettings", "ProjectError", "project_for_video",
           "PROJECT_FILE", "STATE_DIR"]

PROJECT_FILE = "project.json"
STATE_DIR = ".metst"
_FORMAT = "metst-project"


class ProjectError(ValueError):
    """A project folder or project file that cannot be used; the message names it."""


@dataclass(frozen=True)
class ProjectVideo:
    """One video of a project: ``subject`` (the LOSO unit), ``name`` (stem or folder name)."""

    subject: str
    name: str
    path: Path
    linked: bool = False

    @property
    def key(self) -> str:
        """``<subject>/<name>``: unique within a project."""
        return f"{self.subject}/{self.name}"


@dataclass(frozen=True)
class ProjectSettings:
    """What the window remembers per project (stored in ``project.json``).

    Attributes:
        model: ``"flow"`` (training-free) or a checkpoint path.
        roi_set: ROI set for the training-free spotter (a checkpoint fixes its own).
        threshold_p: the post-processing threshold p.
        annotator: the reviewer's name, written on each edit.
        tsfmicro: a TSFmicro checkpoint for second opinions ('' for none).
    """

    model: str = "flow"
    roi_set: str = "metst_plus"
    threshold_p: float = 0.55
    annotator: str = ""
    tsfmicro: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ProjectSettings:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


@dataclass
class Project:
    """An open project folder (created on first write when it does not exist)."""

    root: Path
    settings: ProjectSettings = field(default_factory=ProjectSettings)
    _linked: list[ProjectVideo] = field(default_factory=list, repr=False)

    @classmethod
    def open(cls, root: str | os.PathLike[str], *, create: bool = False) -> Project:
        """Open the project at ``root`` (``create``: make the folder if it is missing).

        Raises ProjectError when ``root`` is not a folder or its ``project.json`` is unreadable.
        """
        root = Path(root).absolute()
        if create:
            root.mkdir(parents=True, exist_ok=True)
        if not root.is_dir():
            raise ProjectError(f"{root}: not a folder (a project is a folder of subject folders)")
        project = cls(root)
        path = root / PROJECT_FILE
        if path.is_file():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                if data.get("format") != _FORMAT:
                    raise ProjectError(f"{path}: not an ME-TST Studio project file")
                project.settings = ProjectSettings.from_dict(data.get("settings", {}))
                project._linked = [ProjectVideo(str(v["subject"]), str(v["name"]),
                                                Path(v["path"]), linked=True)
                                   for v in data.get("linked_videos", [])]
            except (OSError, ValueError, KeyError, TypeError) as exc:
                if isinstance(exc, ProjectError):
                    raise
                raise ProjectError(f"{path}: unreadable project file ({exc})") from exc
        return project

    # ------------------------------------------------------------------ paths

    @property
    def state_dir(self) -> Path:
        return self.root / STATE_DIR

    @property
    def feature_store_path(self) -> Path:
        return self.state_dir / "features.h5"

    def feature_store(self) -> FeatureStore:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        return FeatureStore(self.feature_store_path)

    @property
    def models_dir(self) -> Path:
        return self.state_dir / "models"

    @property
    def log_path(self) -> Path:
        return self.state_dir / "app.log"

    def result_dir(self, video: ProjectVideo) -> Path:
        return self.state_dir / "results" / video.subject / video.name

    def annotations_path(self, video: ProjectVideo) -> Path:
        return self.root / video.subject / f"{video.name}{INTERVALS_SUFFIX}"

    def autosave_path(self, video: ProjectVideo) -> Path:
        return self.state_dir / "autosave" / video.subject / f"{video.name}{INTERVALS_SUFFIX}"

    def backup_path(self, video: ProjectVideo) -> Path:
        return self.state_dir / "backup" / video.subject / f"{video.name}{INTERVALS_SUFFIX}"

    # ----------------------------------------------------------------- videos

    def videos(self) -> list[ProjectVideo]:
        """The videos in the subject folders (the dataset reader's listing, natural order; folders
        only when they hold frames), then the linked ones (missing links included)."""
        entries, _warnings = project_entries(
            self.root, linked=[(v.subject, v.name, v.path) for v in self._linked])
        return [ProjectVideo(e.subject, e.name, e.path, e.linked) for e in entries
                if e.linked or not e.path.is_dir() or _is_frame_folder(e.path)]

    def find_video(self, path: str | os.PathLike[str]) -> ProjectVideo | None:
        """The project video at ``path`` (compared as absolute, resolved paths)."""
        wanted = Path(path).resolve()
        return next((v for v in self.videos() if v.path.resolve() == wanted), None)

    def link_video(self, path: str | os.PathLike[str], subject: str | None = None
                   ) -> ProjectVideo:
        """Add a video outside the folder (kept as its absolute path); returns its entry.

        ``subject`` defaults to the name of the video's folder. Names are made unique.
        """
        path = Path(path).absolute()
        existing = self.find_video(path)
        if existing is not None:
            return existing
        subject = _safe_name(subject or path.parent.name or "subject")
        name = _safe_name(path.name if path.is_dir() else path.stem)
        keys = {v.key for v in self.videos()}
        unique, n = name, 2
        while f"{subject}/{unique}" in keys:
            unique, n = f"{name}-{n}", n + 1
        video = ProjectVideo(subject, unique, path, linked=True)
        self._linked.append(video)
        self.save()
        return video

    def save(self) -> Path:
        """Write ``project.json`` (atomically)."""
        self.root.mkdir(parents=True, exist_ok=True)
        data = {"format": _FORMAT, "format_version": 1, "settings": self.settings.to_dict(),
                "linked_videos": [{"subject": v.subject, "name": v.name, "path": str(v.path)}
                                  for v in self._linked]}
        return atomic_write_text(self.root / PROJECT_FILE, json.dumps(data, indent=2) + "\n")

    def set_settings(self, settings: ProjectSettings) -> None:
        self.settings = settings
        self.save()


def project_for_video(video_path: str | os.PathLike[str], projects_dir: str | os.PathLike[str]
                      ) -> tuple[Project, ProjectVideo]:
    """The project a bare video belongs to.

    A video inside a project layout (``<root>/<subject>/<video>`` where ``<root>`` holds a
    ``project.json`` or a ``.metst`` folder) opens that project; any other video gets an implicit
    project ``<projects_dir>/<name>-<hash of its path>`` linking it.
    """
    path = Path(video_path).absolute()
    candidate_root = path.parent.parent
    if (candidate_root / PROJECT_FILE).is_file() or (candidate_root / STATE_DIR).is_dir():
        project = Project.open(candidate_root)
        video = project.find_video(path)
        if video is not None:
            return project, video
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:8]
    project = Project.open(Path(projects_dir) / f"{_safe_name(path.stem)}-{digest}", create=True)
    return project, project.link_video(path)


def _is_frame_folder(path: Path) -> bool:
    """A folder of numbered images (directly or in a ``color/`` subfolder, CAS(ME)³ style)."""
    for folder in (path, path / "color"):
        try:
            if any(p.suffix.lower() in (".jpg", ".jpeg", ".png", ".bmp") for p in folder.iterdir()):
                return True
        except OSError:
            continue
    return False


def _safe_name(name: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "-_. " else "_" for c in name).strip(" .")
    return cleaned or "video"

"""App projects: a folder of people's videos with their reviewed intervals → a Dataset.

Layout (the GUI, ``metst`` commands and the synthetic-data generator all use it)::

    <root>/
        <subject>/                        one folder per person (the LOSO unit)
            <video>.mp4                   a video file (any of VIDEO_EXTENSIONS), or
            <video>/                      a folder of numbered frames (see core.video)
            <video>.intervals.csv         the video's intervals (optional)
        project.json                      videos linked from elsewhere (optional, see core.project)

A linked video (listed in ``project.json`` by the app) is read like the others; its intervals
file is ``<root>/<subject>/<name>.intervals.csv``.

The intervals file has the columns of :data:`core.intervals_csv.INTERVAL_COLUMNS` (only
``onset_frame``, ``apex_frame`` and ``offset_frame`` are required): one row per interval,
0-based frames of the video's FrameSource, inclusive; ``emotion`` a raw label or class name;
``source`` ``model`` | ``human``; ``status`` ``proposed`` | ``accepted`` | ``rejected`` |
``edited``. Text cells that :func:`core.intervals_csv.escape_cell` protected with a leading
apostrophe are read back without it.

Rules: rejected intervals are never loaded (a reviewer said they are not expressions). With
``reviewed_only`` only intervals a human made or reviewed are kept (``source == human`` or
``status`` accepted/edited); unreviewed proposals are left out. A row that does not parse (a
frame that is not a number, offset before onset, past the video's end, an unknown source or
status) is reported with its row number (1-based, header counted) and skipped, or repaired as
reported (no apex: the midpoint; no offset: the apex). ``expression_type`` is "micro" when the
interval lasts at most 0.5 s (``(offset - onset) / fps <= 0.5``, the MEGC definition), else
"macro". fps comes from each video (each is opened once to read it and its length).

Hidden entries (``.name``) are ignored; a video directly in ``<root>``, a video that does not
open, two videos with the same name in one subject folder and an intervals file without its
video are reported and skipped.
"""

from __future__ import annotations

import csv
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from core.datasets.base import (
    Dataset,
    DatasetError,
    DatasetVideo,
    DatasetWarning,
    LabeledInterval,
    natural_key,
    resolve_frames,
)
from core.intervals_csv import unescape_cell
from core.video import VideoError, open_source

__all__ = ["load_project", "project_entries", "ProjectEntry", "was_reviewed",
           "read_project_intervals", "intervals_csv_path",
           "VIDEO_EXTENSIONS", "INTERVALS_SUFFIX", "MICRO_MAX_SECONDS"]

VIDEO_EXTENSIONS = frozenset({".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".wmv", ".mpg",
                              ".mpeg", ".flv", ".mts", ".m2ts", ".ts", ".3gp", ".ogv"})
INTERVALS_SUFFIX = ".intervals.csv"
MICRO_MAX_SECONDS = 0.5
_REQUIRED_COLUMNS = ("onset_frame", "apex_frame", "offset_frame")
_SOURCES = ("model", "human")
_STATUSES = ("proposed", "accepted", "rejected", "edited")
_REVIEWED_STATUSES = ("accepted", "edited")
_INTEGER_TEXT = re.compile(r"\d+(?:\.0*)?")


@dataclass(frozen=True)
class ProjectEntry:
    """One video of a project folder: where it is and where its intervals file is."""

    subject: str
    name: str
    path: Path
    csv_path: Path
    linked: bool = False


def intervals_csv_path(video_path: str | os.PathLike[str]) -> Path:
    """Where a project video's intervals live: ``<folder>/<video stem>.intervals.csv``."""
    path = Path(video_path)
    stem = path.name if path.is_dir() else path.stem
    return path.parent / f"{stem}{INTERVALS_SUFFIX}"


def load_project(root: str | os.PathLike[str], *, reviewed_only: bool = False,
                 reviewed_videos_only: bool = False) -> Dataset:
    """The videos of a project folder and their intervals (see the module docstring).

    ``reviewed_videos_only``: leave out (with a warning) every video nobody has reviewed yet — no
    row of its intervals file is human, accepted, edited or rejected. Training needs this: a video
    never looked at would otherwise teach that its expressions are background.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(root, "no such folder (a project folder holds one folder per subject)")
    warnings: list[DatasetWarning] = []
    videos = []
    for entry in _video_entries(root, warnings):
        if reviewed_videos_only and not was_reviewed(entry.csv_path):
            warnings.append(DatasetWarning(str(entry.path), None, (
                "nobody has reviewed this video yet (no human, accepted, edited or rejected "
                "interval): left out")))
            continue
        video = _open_video(entry, reviewed_only, warnings)
        if video is not None:
            videos.append(video)
    return Dataset(f"project {root.name}", videos, warnings)


def was_reviewed(csv_path: str | os.PathLike[str]) -> bool:
    """Whether a reviewer worked on this intervals file: some row is human or has a reviewed
    status (accepted, edited, rejected). A missing or unreadable file counts as not reviewed."""
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as stream:
            for record in csv.DictReader(stream):
                fields = {(k or "").strip().lower(): _unescaped(v or "").lower()
                          for k, v in record.items() if isinstance(v, str)}
                if fields.get("source") == "human" or fields.get("status") in (
                        "accepted", "edited", "rejected"):
                    return True
    except (OSError, UnicodeDecodeError, csv.Error):
        return False
    return False


def read_project_intervals(csv_path: str | os.PathLike[str], *, subject: str, video: str,
                           fps: float, n_frames: int | None = None, reviewed_only: bool = False
                           ) -> tuple[list[LabeledInterval], list[DatasetWarning]]:
    """The intervals of one ``.intervals.csv`` (rows that do not parse become warnings).

    ``fps`` decides micro/macro; ``n_frames`` (when known) rejects frames past the video's end.
    """
    path = Path(csv_path)
    file = str(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as stream:
            rows = list(csv.reader(stream))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        return [], [DatasetWarning(file, None, f"cannot read this file ({error}): skipped")]
    if not rows:
        return [], [DatasetWarning(file, None, "empty file (no header): skipped")]
    header = [_unescaped(name).lower() for name in rows[0]]
    missing = [name for name in _REQUIRED_COLUMNS if name not in header]
    if missing:
        return [], [DatasetWarning(file, 1, f"no column {', '.join(missing)} (the columns are "
                                            f"{rows[0]}): the file is skipped")]
    intervals, warnings = [], []
    for row_number, cells in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in cells):
            continue
        record = {name: _unescaped(cells[col]) if col < len(cells) else ""
                  for col, name in enumerate(header)}
        interval, messages = _row_interval(record, subject, video, fps, n_frames, reviewed_only)
        warnings.extend(DatasetWarning(file, row_number, message) for message in messages)
        if interval is not None:
            intervals.append(LabeledInterval(**interval, source_row=row_number, source_file=file))
    return intervals, warnings


# ----------------------------------------------------------------------------- the folders


def project_entries(root: str | os.PathLike[str], *,
                    linked: Sequence[tuple[str, str, Path]] | None = None
                    ) -> tuple[list[ProjectEntry], list[DatasetWarning]]:
    """The videos of a project folder (no video is opened) and the anomalies met.

    ``linked``: the linked videos as ``(subject, name, path)``; None reads them from
    ``<root>/project.json``.
    """
    root = Path(root)
    warnings: list[DatasetWarning] = []
    return _video_entries(root, warnings, linked), warnings


def _video_entries(root: Path, warnings: list[DatasetWarning],
                   linked_videos: Sequence[tuple[str, str, Path]] | None = None
                   ) -> list[ProjectEntry]:
    """Every video of every subject folder in natural order, then the linked videos of
    ``project.json`` (or ``linked_videos``); anomalies appended."""
    linked = (_linked_entries(root, warnings) if linked_videos is None
              else [_linked_entry(root, *video) for video in linked_videos])
    linked_csvs = {entry.csv_path for entry in linked}
    entries = []
    for path in _listing(root):
        if path.is_dir():
            entries += _subject_videos(path, warnings, linked_csvs)
        elif path.suffix.lower() in VIDEO_EXTENSIONS:
            warnings.append(DatasetWarning(str(path), None, (
                "a video directly in the project folder: put it in a subject folder; skipped")))
    keys = {(entry.subject, entry.name) for entry in entries}
    return entries + [entry for entry in linked if (entry.subject, entry.name) not in keys]


def _linked_entries(root: Path, warnings: list[DatasetWarning]) -> list[ProjectEntry]:
    """Videos outside the folder that the app linked in ``<root>/project.json``; their
    intervals live at ``<root>/<subject>/<name>.intervals.csv``."""
    path = root / "project.json"
    if not path.is_file():
        return []
    try:
        linked = json.loads(path.read_text(encoding="utf-8")).get("linked_videos", [])
        return [_linked_entry(root, str(v["subject"]), str(v["name"]), Path(v["path"]))
                for v in linked]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        warnings.append(DatasetWarning(str(path), None,
                                       f"unreadable project file ({error}): linked videos "
                                       "are skipped"))
        return []


def _linked_entry(root: Path, subject: str, name: str, path: Path) -> ProjectEntry:
    return ProjectEntry(subject, name, Path(path), root / subject / f"{name}{INTERVALS_SUFFIX}",
                        linked=True)


def _subject_videos(subject_dir: Path, warnings: list[DatasetWarning],
                    linked_csvs: set[Path]) -> list[ProjectEntry]:
    videos: dict[str, ProjectEntry] = {}
    csv_names = []
    for path in _listing(subject_dir):
        if path.is_file() and path.name.endswith(INTERVALS_SUFFIX):
            csv_names.append(path.name[: -len(INTERVALS_SUFFIX)])
            continue
        if not (path.is_dir() or path.suffix.lower() in VIDEO_EXTENSIONS):
            continue
        name = path.name if path.is_dir() else path.stem
        if name in videos:
            warnings.append(DatasetWarning(str(path), None, (
                f"another video of {subject_dir.name} is also named '{name}' "
                f"({videos[name].path.name}): skipped")))
            continue
        videos[name] = ProjectEntry(subject_dir.name, name, path, intervals_csv_path(path))
    for name in csv_names:
        if name not in videos and subject_dir / f"{name}{INTERVALS_SUFFIX}" not in linked_csvs:
            warnings.append(DatasetWarning(str(subject_dir / f"{name}{INTERVALS_SUFFIX}"), None,
                                           f"no video named '{name}' beside it: ignored"))
    return list(videos.values())


def _listing(folder: Path) -> list[Path]:
    """The non-hidden entries of ``folder`` in natural order."""
    return sorted((path for path in folder.iterdir() if not path.name.startswith(".")),
                  key=lambda path: natural_key(path.name))


def _open_video(entry: ProjectEntry, reviewed_only: bool,
                warnings: list[DatasetWarning]) -> DatasetVideo | None:
    """The DatasetVideo of one entry, or None (reported) if the video does not open."""
    csv_path = entry.csv_path
    try:
        with open_source(entry.path) as source:
            fps, n_frames = source.fps, source.n_frames
    except VideoError as error:
        what = ("the video and its intervals file are skipped" if csv_path.is_file()
                else "skipped")
        warnings.append(DatasetWarning(str(entry.path), None,
                                       f"cannot open this video ({error.problem}): {what}"))
        return None
    intervals: list[LabeledInterval] = []
    if csv_path.is_file():
        intervals, csv_warnings = read_project_intervals(
            csv_path, subject=entry.subject, video=entry.name, fps=fps, n_frames=n_frames,
            reviewed_only=reviewed_only)
        warnings += csv_warnings
    return DatasetVideo(entry.subject, entry.name, entry.path, fps, intervals)


# -------------------------------------------------------------------------------- the rows


def _unescaped(cell: str) -> str:
    """A CSV cell without the apostrophe escape_cell puts before formula-like text, stripped."""
    return unescape_cell(cell).strip()


def _frame_cell(record: dict[str, str], column: str) -> tuple[int | None, str | None]:
    """``(frame, None)``, ``(None, None)`` for an empty cell, or ``(None, problem)``."""
    text = record.get(column, "")
    if not text:
        return None, None
    if _INTEGER_TEXT.fullmatch(text):
        return int(float(text)), None
    return None, f"{column} {text!r} is not a frame number (0 or more)"


def _review_state(record: dict[str, str]) -> tuple[str, str, list[str]]:
    """(source, status, messages): unknown values are reported and read as an unreviewed
    model proposal."""
    source, status = record.get("source", "").lower(), record.get("status", "").lower()
    messages = []
    if source and source not in _SOURCES:
        messages.append(f"unknown source {source!r} (expected model or human): read as model")
        source = "model"
    if status and status not in _STATUSES:
        messages.append(f"unknown status {status!r} (expected {', '.join(_STATUSES)}): read as "
                        f"proposed")
        status = "proposed"
    return source, status, messages


def _row_interval(record: dict[str, str], subject: str, video: str, fps: float,
                  n_frames: int | None, reviewed_only: bool
                  ) -> tuple[dict[str, object] | None, list[str]]:
    """One CSV record → LabeledInterval fields (None: skipped) and the messages to report."""
    source, status, messages = _review_state(record)
    if status == "rejected":
        return None, messages
    if reviewed_only and not (source == "human" or status in _REVIEWED_STATUSES):
        return None, messages
    parsed = [_frame_cell(record, column) for column in _REQUIRED_COLUMNS]
    problems = [problem for _frame, problem in parsed if problem is not None]
    if problems:
        return None, [*messages, f"{'; '.join(problems)}: the row is skipped"]
    frames, repairs = resolve_frames(*(frame for frame, _problem in parsed))
    messages += repairs
    if frames is None:
        return None, messages
    onset_frame, apex_frame, offset_frame = frames
    if n_frames is not None and offset_frame >= n_frames:
        return None, [*messages, f"offset_frame {offset_frame} is past the video's last frame "
                                 f"{n_frames - 1}: the row is skipped"]
    named = record.get("video", "")
    if named and video not in (named, _without_video_extension(named)):
        messages.append(f"video column says '{named}', but this file belongs to '{video}': "
                        f"read as '{video}'")
    micro = (offset_frame - onset_frame) / fps <= MICRO_MAX_SECONDS
    return {"subject": subject, "video": video, "onset_frame": onset_frame,
            "apex_frame": apex_frame, "offset_frame": offset_frame,
            "emotion": record.get("emotion", "").lower(),
            "expression_type": "micro" if micro else "macro"}, messages


def _without_video_extension(name: str) -> str:
    """'clip.mp4' → 'clip'; a name without a video extension is returned as it is."""
    path = Path(name)
    return path.stem if path.suffix.lower() in VIDEO_EXTENSIONS else name

"""Saving and loading one video's annotation file so that no edit is ever lost.

The file is a CSV with :data:`core.annotations.ANNOTATION_COLUMNS` (the ``metst analyze``
columns, then the review bookkeeping), one row per interval, text cells escaped with
:func:`core.intervals_csv.escape_cell` so a spreadsheet never runs them as formulas.
:func:`core.datasets.project.read_project_intervals` (training, ``load_project``) reads it.

:func:`save_annotations` replaces the file atomically (a temporary file in the same folder,
flushed and fsynced, renamed over the target, the folder fsynced): a crash or a kill at any
moment leaves either the previous or the new version, complete. With ``backup_path`` the
previous version is first kept there (hard-linked, else copied), itself atomically.
:func:`load_annotations` reads the file back, skipping (and reporting) rows it cannot use.
The window also autosaves edits to a second file (:meth:`core.project.Project.autosave_path`);
:func:`has_newer_autosave` tells whether that file holds edits the saved file lacks.
"""

from __future__ import annotations

import csv
import glob
import io
import os
import time
import uuid
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from core.annotations import (
    ANNOTATION_COLUMNS,
    Annotation,
    AnnotationChange,
    AnnotationSet,
    annotation_from_row,
    new_annotation_id,
)
from core.atomic import atomic_path, atomic_write_text, fsync_directory
from core.intervals_csv import escape_cell, unescape_cell

__all__ = ["AnnotationFileError", "save_annotations", "load_annotations", "annotations_to_csv",
           "has_newer_autosave", "discard_autosave", "change_to"]

#: Age after which a temporary file left by a killed save is deleted by the next save.
STALE_TEMPORARY_S = 60.0


class AnnotationFileError(ValueError):
    """An annotation file that cannot be read or written; the message names it and says why."""

    def __init__(self, path: str | os.PathLike[str], problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = Path(path)
        self.problem = problem


def annotations_to_csv(annotations: AnnotationSet) -> str:
    """The annotation file's text: a header of :data:`ANNOTATION_COLUMNS`, one row per interval
    by onset; text cells formula-escaped."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(ANNOTATION_COLUMNS)
    for row in annotations.rows():
        writer.writerow([escape_cell(row.get(column)) for column in ANNOTATION_COLUMNS])
    return buffer.getvalue()


def save_annotations(annotations: AnnotationSet, path: str | os.PathLike[str], *,
                     backup_path: str | os.PathLike[str] | None = None) -> Path:
    """Write ``annotations`` to ``path`` atomically; returns ``path``.

    With ``backup_path``, the version ``path`` held until now is first kept there (a hard link
    where possible, else a copy; atomically too), unless it already holds exactly what is being
    written, so the backup is always the previous *different* version. Folders are created as
    needed.

    Raises AnnotationFileError (naming the file) when a file cannot be written, e.g. a read-only
    folder; ``path`` then still holds its previous version.
    """
    target = Path(path)
    text = annotations_to_csv(annotations)
    _remove_stale_temporaries(target)
    if backup_path is not None:
        _back_up(target, Path(backup_path), text)
    try:
        return atomic_write_text(target, text)
    except OSError as error:
        raise AnnotationFileError(target, f"cannot write the annotations "
                                          f"({error.strerror or error})") from error


def _remove_stale_temporaries(target: Path) -> None:
    """Delete temporaries of ``target`` that a killed save left behind (older than a minute, so
    a save running elsewhere is never disturbed)."""
    cutoff = time.time() - STALE_TEMPORARY_S
    for leftover in target.parent.glob(f"{glob.escape(target.name)}.*.tmp"):
        try:
            if leftover.stat().st_mtime < cutoff:
                leftover.unlink()
        except OSError:
            continue


def _back_up(target: Path, backup: Path, new_text: str) -> None:
    """Keep ``target``'s current version as ``backup``, atomically (nothing to do if it is
    missing or already holds ``new_text``)."""
    try:
        previous = target.read_bytes()
    except FileNotFoundError:
        return
    except OSError as error:
        raise AnnotationFileError(target, f"cannot read the previous version to back it up "
                                          f"({error.strerror or error})") from error
    if previous == new_text.encode("utf-8"):
        return
    try:
        if not _link_over(target, backup):
            with atomic_path(backup) as tmp:
                tmp.write_bytes(previous)
    except OSError as error:
        raise AnnotationFileError(backup, f"cannot write the backup of {target.name} "
                                          f"({error.strerror or error})") from error


def _link_over(target: Path, backup: Path) -> bool:
    """Make ``backup`` a hard link to ``target``'s current file, atomically (no data is copied:
    the next save gives ``target`` a new file). False where hard links are not possible."""
    backup.parent.mkdir(parents=True, exist_ok=True)
    tmp = backup.with_name(f"{backup.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        os.link(target, tmp)
    except OSError:
        return False  # another file system, or one without hard links: copy instead
    try:
        os.replace(tmp, backup)
        fsync_directory(backup.parent)
    finally:
        tmp.unlink(missing_ok=True)
    return True


def load_annotations(path: str | os.PathLike[str], *, video: str, n_frames: int, fps: float
                     ) -> tuple[AnnotationSet, list[str]]:
    """The annotation set stored at ``path`` and the problems met (one message per skipped or
    repaired row, naming the file and the row: 1-based, header counted).

    A missing file is an empty set. Rows that do not parse, and intervals ending at or past
    ``n_frames`` (when ``n_frames > 0``), are skipped; a repeated id gets a new one. Raises
    AnnotationFileError when the file as a whole is unusable (not UTF-8 text, not CSV, no
    ``onset_frame`` column).
    """
    path = Path(path)
    empty = AnnotationSet(video, n_frames, fps)
    try:
        with open(path, newline="", encoding="utf-8-sig") as stream:
            rows = list(csv.reader(stream))
    except FileNotFoundError:
        return empty, []
    except UnicodeDecodeError:
        raise AnnotationFileError(path, "not a CSV text file (it is not UTF-8 text)") from None
    except (OSError, csv.Error) as error:
        raise AnnotationFileError(path, f"cannot read this file ({error})") from error
    if not rows:
        return empty, [f"{path}: empty file (no header): no intervals"]
    header = [unescape_cell(name).strip().lower() for name in rows[0]]
    if "onset_frame" not in header:
        found = [name for name in rows[0] if name.strip()]
        raise AnnotationFileError(path, f"not an annotation file: no column 'onset_frame' in its "
                                        f"first row (found {found[:12]})")
    warnings: list[str] = []
    annotations: dict[str, Annotation] = {}
    for row_number, cells in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in cells):
            continue
        record = {name: unescape_cell(cells[col]) if col < len(cells) else ""
                  for col, name in enumerate(header)}
        where = f"{path}, row {row_number}"
        try:
            annotation = annotation_from_row(record)
        except ValueError as error:
            warnings.append(f"{where}: {error}: the row is skipped")
            continue
        if n_frames > 0 and annotation.offset_frame >= n_frames:
            warnings.append(f"{where}: offset_frame {annotation.offset_frame} is past the video's "
                            f"last frame {n_frames - 1}: the row is skipped")
            continue
        if annotation.id in annotations:
            new_id = new_annotation_id()
            warnings.append(f"{where}: id {annotation.id} is used by an earlier row: "
                            f"given the new id {new_id}")
            annotation = replace(annotation, id=new_id)
        annotations[annotation.id] = annotation
    return AnnotationSet.from_annotations(video, n_frames, fps, annotations.values()), warnings


def has_newer_autosave(saved_path: str | os.PathLike[str],
                       autosave_path: str | os.PathLike[str]) -> bool:
    """Whether ``autosave_path`` holds edits the saved file lacks: it exists, the saved file is
    missing or not newer, and their contents differ."""
    saved, autosave = Path(saved_path), Path(autosave_path)
    try:
        autosave_stat = autosave.stat()
        autosave_bytes = autosave.read_bytes()
    except OSError:
        return False
    try:
        if saved.stat().st_mtime_ns > autosave_stat.st_mtime_ns:
            return False
        return saved.read_bytes() != autosave_bytes
    except OSError:
        return True


def discard_autosave(autosave_path: str | os.PathLike[str]) -> None:
    """Delete the autosave file (nothing happens if there is none)."""
    Path(autosave_path).unlink(missing_ok=True)


def change_to(current: AnnotationSet, target: Iterable[Annotation]) -> AnnotationChange:
    """The change turning ``current`` into exactly ``target`` (only differing records move), e.g.
    to recover an autosave as one undo step."""
    wanted = {annotation.id: annotation for annotation in target}
    removed = tuple(a for a in current if wanted.get(a.id) != a)
    added = tuple(a for a in wanted.values() if current.find(a.id) != a)
    return AnnotationChange(removed, added)

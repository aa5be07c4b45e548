"""Import labelled intervals into the open video: an interval CSV or a dataset's label sheet.

Accepted files (told apart by their first bytes, not their extension):

- an interval CSV: ours (:data:`core.annotations.ANNOTATION_COLUMNS`), the ``metst analyze``
  columns (:data:`core.intervals_csv.INTERVAL_COLUMNS`), or any CSV with ``onset_frame``,
  ``apex_frame`` and ``offset_frame`` columns (0-based frames; without them ``onset_s``,
  ``apex_s``, ``offset_s`` times ``fps``, rounded). Rows whose ``video`` cell names
  another video (``clip``, ``clip.mp4`` and ``<subject>/clip`` name ``clip``) are left out;
  an empty cell means this video. Rows marked ``rejected`` are left out (a reviewer said they
  are not expressions).
- a CAS(ME)³ Part A ME label sheet (``..._JpgIndex_v2.xlsx``, sheet ``label``), read by
  :func:`core.datasets.casme3.read_casme3_labels`. Video letters repeat across subjects, so a
  row is this video's when its Filename matches ``video`` and its Subject matches ``subject``
  (both case-insensitively); without ``subject`` the video must be in one subject only.
- a SAMM Long Videos sheet (``SAMM_LongVideos_V3_Release.xlsx``, or the micro-expression FACS
  sheet, which also gives emotions), read by :func:`core.datasets.samm_lv.read_samm_lv_labels`,
  micro- and macro-expressions. SAMM video names (``006_1``) carry the subject, so a row is
  this video's when its video name matches ``video``.

Every imported interval becomes a human annotation (``source="human"``, ``status="accepted"``,
``annotator="import:<file name>"``, a new id) with the file's emotion. Every row left out is
reported as a :class:`RejectedRow` (its 1-based row number, header counted, and why: another
video, offset before onset, past the video's end …); rows kept after a repair (no apex: the
midpoint) are listed in ``ImportReport.repaired``. A file that cannot be read at all raises
:class:`core.datasets.base.DatasetError` naming the file, sheet and column.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from core.annotations import Annotation, AnnotationChange, AnnotationSet, new_annotation_id
from core.datasets.base import (
    DatasetError,
    DatasetWarning,
    LabeledInterval,
    natural_key,
    read_sheet,
    resolve_frames,
)
from core.datasets.casme3 import LABEL_SHEET, read_casme3_labels
from core.datasets.project import VIDEO_EXTENSIONS
from core.datasets.samm_lv import HEADER_SEARCH_ROWS as SAMM_HEADER_SEARCH_ROWS
from core.datasets.samm_lv import read_samm_lv_labels
from core.intervals_csv import unescape_cell

__all__ = ["import_intervals", "import_change", "ImportReport", "RejectedRow", "SOURCE_KINDS",
           "REQUIRED_CSV_COLUMNS", "SECONDS_CSV_COLUMNS"]

#: ``ImportReport.source_kind`` → what the file was read as, for messages.
SOURCE_KINDS = {"csv": "interval CSV", "casme3": "CAS(ME)3 Part A label sheet",
                "samm_lv": "SAMM Long Videos sheet"}
REQUIRED_CSV_COLUMNS = ("onset_frame", "apex_frame", "offset_frame")
#: Read (times ``fps``, rounded) when a CSV has no frame columns.
SECONDS_CSV_COLUMNS = ("onset_s", "apex_s", "offset_s")
_WORKBOOK_MAGICS = (b"PK\x03\x04", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")  # .xlsx, .xls
_FRAME_TEXT = re.compile(r"\d+(?:\.0*)?")
_SECONDS_TEXT = re.compile(r"\d+(?:\.\d*)?|\.\d+")
_SAMM_FILENAME = re.compile(r"(?P<subject>\d+)_(?P<take>\d+)(?:_\w+)?")  # 006_1_1 → 006, 006_1


@dataclass(frozen=True)
class RejectedRow:
    """A row of the imported file that was left out (or, in ``repaired``, kept after a repair).

    ``row``: 1-based, header counted, as a spreadsheet shows it (None: about the whole file).
    ``other_video``: the row belongs to another video (nothing wrong with it).
    """

    row: int | None
    reason: str
    other_video: bool = False

    def __str__(self) -> str:
        return self.reason if self.row is None else f"row {self.row}: {self.reason}"


@dataclass
class ImportReport:
    """What :func:`import_intervals` found: the intervals to add and every row left out."""

    annotations: list[Annotation]
    rejected: list[RejectedRow]
    source_kind: str
    file: Path = Path()
    repaired: list[RejectedRow] = field(default_factory=list)

    @property
    def n_other_video_rows(self) -> int:
        return sum(rejected.other_video for rejected in self.rejected)

    @property
    def problems(self) -> list[RejectedRow]:
        """Rejected rows of this video (the rows of other videos left out)."""
        return [rejected for rejected in self.rejected if not rejected.other_video]


def import_intervals(path: str | os.PathLike[str], *, video: str, n_frames: int, fps: float,
                     subject: str | None = None) -> ImportReport:
    """The intervals of ``video`` (``n_frames`` long; 0: unchecked) in the file at ``path``.

    ``subject``: the open video's subject (CAS(ME)³ needs it when the video letter is used by
    several subjects). ``fps``: turns a CSV's seconds into frames when it has no frame columns
    (0: such a CSV is refused). Raises DatasetError when the file is not one of the accepted
    kinds (see the module docstring), naming the file, sheet and column.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(path, "no such file" if not path.exists() else "is not a file")
    with open(path, "rb") as stream:
        magic = stream.read(8)
    annotator = f"import:{path.name}"
    if magic.startswith(_WORKBOOK_MAGICS):
        return _import_sheet(path, video, subject, n_frames, annotator)
    return _import_csv(path, video, subject, n_frames, fps, annotator)


def import_change(annotations: AnnotationSet, imported: Iterable[Annotation]
                  ) -> tuple[AnnotationChange, int]:
    """The change adding ``imported`` to ``annotations``, leaving out intervals it already holds
    (same frames and emotion, e.g. a file imported twice); returns it and how many were left
    out."""
    held = {(a.onset_frame, a.apex_frame, a.offset_frame, a.emotion) for a in annotations}
    added, n_repeated = [], 0
    for annotation in imported:
        key = (annotation.onset_frame, annotation.apex_frame, annotation.offset_frame,
               annotation.emotion)
        if key in held:
            n_repeated += 1
            continue
        held.add(key)
        added.append(annotation)
    return AnnotationChange((), tuple(added)), n_repeated


# ---------------------------------------------------------------------------------- CSV files


def _import_csv(path: Path, video: str, subject: str | None, n_frames: int, fps: float,
                annotator: str) -> ImportReport:
    try:
        with open(path, newline="", encoding="utf-8-sig") as stream:
            rows = list(csv.reader(stream))
    except UnicodeDecodeError:
        raise DatasetError(path, "neither an Excel workbook (.xlsx, .xls) nor a CSV text file "
                                 "(it is not UTF-8 text)") from None
    except (OSError, csv.Error) as error:
        raise DatasetError(path, f"cannot read this file ({error})") from error
    if not rows:
        raise DatasetError(path, "the file is empty (an interval CSV starts with a header row)")
    header = [unescape_cell(name).strip().lower() for name in rows[0]]
    columns = _frame_columns(path, header, rows[0], fps)
    report = ImportReport([], [], "csv", path)
    for row_number, cells in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in cells):
            continue
        record = {name: unescape_cell(cells[col]) if col < len(cells) else ""
                  for col, name in enumerate(header)}
        named = record.get("video", "").strip()
        if named and not _names_video(named, video, subject):
            report.rejected.append(RejectedRow(row_number, f"other video ({named})",
                                               other_video=True))
            continue
        if record.get("status", "").strip().lower() == "rejected":
            report.rejected.append(RejectedRow(row_number, "marked rejected in the file (a "
                                                           "reviewer said it is no expression)"))
            continue
        frames, problems = _row_frames(record, columns, fps)
        if problems:
            report.rejected.append(RejectedRow(row_number, "; ".join(problems)))
            continue
        resolved, messages = resolve_frames(*frames)
        if resolved is None:
            report.rejected.append(RejectedRow(row_number, "; ".join(messages)))
            continue
        report.repaired.extend(RejectedRow(row_number, message) for message in messages)
        _add(report, row_number, resolved, record.get("emotion", ""), record.get("note", ""),
             n_frames, annotator)
    return report


def _frame_columns(path: Path, header: list[str], raw_header: list[str],
                   fps: float) -> tuple[str, ...]:
    """The columns giving the frames: the frame columns, else (with ``fps``) the seconds ones."""
    if all(name in header for name in REQUIRED_CSV_COLUMNS):
        return REQUIRED_CSV_COLUMNS
    if fps > 0 and all(name in header for name in SECONDS_CSV_COLUMNS):
        return SECONDS_CSV_COLUMNS
    missing = [name for name in REQUIRED_CSV_COLUMNS if name not in header]
    found = [name for name in raw_header if name.strip()]
    raise DatasetError(path, f"no column {', '.join(repr(m) for m in missing)} (an interval CSV "
                             f"gives 0-based frames in {', '.join(REQUIRED_CSV_COLUMNS)}, or "
                             f"seconds in {', '.join(SECONDS_CSV_COLUMNS)}); the columns found "
                             f"are {found[:12]}", row=1)


def _row_frames(record: dict[str, str], columns: tuple[str, ...], fps: float
                ) -> tuple[list[int | None], list[str]]:
    """One row's 0-based (onset, apex, offset) frames (None: empty) and what is wrong in it."""
    frames: list[int | None] = []
    problems = []
    for column in columns:
        text = record[column].strip()
        if not text:
            frames.append(None)
        elif column in REQUIRED_CSV_COLUMNS and _FRAME_TEXT.fullmatch(text):
            frames.append(int(float(text)))
        elif column in SECONDS_CSV_COLUMNS and _SECONDS_TEXT.fullmatch(text):
            frames.append(round(float(text) * fps))
        else:
            what = "frame number" if column in REQUIRED_CSV_COLUMNS else "time in seconds"
            problems.append(f"{column} {text!r} is not a {what} (0 or more)")
            frames.append(None)
    return frames, problems


def _names_video(named: str, video: str, subject: str | None) -> bool:
    """Whether a CSV ``video`` cell (``clip``, ``clip.mp4``, ``<subject>/clip``) names ``video``."""
    named_subject, _slash, name = named.replace("\\", "/").rpartition("/")
    if named_subject and subject is not None and named_subject.lower() != subject.lower():
        return False
    stem = Path(name).stem if Path(name).suffix.lower() in VIDEO_EXTENSIONS else name
    return stem.lower() == video.lower()


def _add(report: ImportReport, row_number: int | None, frames: tuple[int, int, int],
         emotion: str, note: str, n_frames: int, annotator: str) -> None:
    """Add the interval of one row (0-based, already repaired) to ``report``, or reject the row
    when it ends past the video."""
    onset_frame, apex_frame, offset_frame = frames
    if n_frames > 0 and offset_frame >= n_frames:
        report.rejected.append(RejectedRow(row_number, (
            f"out of range: offset frame {offset_frame} is past the video's last frame "
            f"{n_frames - 1}")))
        return
    report.annotations.append(Annotation(
        id=new_annotation_id(), onset_frame=onset_frame, apex_frame=apex_frame,
        offset_frame=offset_frame, emotion=emotion.strip().lower(), source="human",
        status="accepted", annotator=annotator, note=note))


# ------------------------------------------------------------------------------ label sheets


def _import_sheet(path: Path, video: str, subject: str | None, n_frames: int,
                  annotator: str) -> ImportReport:
    """A CAS(ME)³ label sheet, else a SAMM sheet; DatasetError naming both tries if neither."""
    try:
        intervals, warnings = read_casme3_labels(path)
        kind = "casme3"
    except DatasetError as casme_error:
        try:
            intervals, warnings = _read_samm(path)
            kind = "samm_lv"
        except DatasetError as samm_error:
            raise DatasetError(path, (
                f"not a label sheet this app imports: as a CAS(ME)3 Part A ME label sheet, "
                f"{_detail(casme_error)}; as a SAMM Long Videos sheet, {_detail(samm_error)}")
            ) from None
    row_videos = _row_videos(path, kind)
    if kind == "casme3" and subject is None:
        subjects = sorted({s for s, v in row_videos.values() if v.lower() == video.lower()},
                          key=natural_key)
        if len(subjects) > 1:
            named = ", ".join(subjects[:6]) + (" …" if len(subjects) > 6 else "")
            raise DatasetError(path, f"video '{video}' is labelled for {len(subjects)} subjects "
                                     f"({named}): say which subject the open video is",
                               sheet=LABEL_SHEET)
    return _sheet_report(path, kind, intervals, warnings, row_videos,
                         lambda s, v: _is_open_video(kind, s, v, video, subject), n_frames,
                         annotator)


def _read_samm(path: Path) -> tuple[list[LabeledInterval], list[DatasetWarning]]:
    """A SAMM sheet with its own emotions (the FACS sheet), else without emotions."""
    try:
        return read_samm_lv_labels(path, facs_file=path, include_macro=True)
    except DatasetError:
        return read_samm_lv_labels(path, include_macro=True)


def _detail(error: DatasetError) -> str:
    """A DatasetError's message without its leading file name."""
    return str(error).removeprefix(f"{error.file}: ")


def _row_videos(path: Path, kind: str) -> dict[int, tuple[str, str]]:
    """Sheet row number → (subject, video) of every data row ('' where it cannot be told)."""
    if kind == "casme3":
        sheet = read_sheet(path, sheet=LABEL_SHEET,
                           columns={"subject": ("Subject",), "video": ("Filename",)})
        return {row.number: (sheet.text(row, "subject"), sheet.text(row, "video"))
                for row in sheet.rows}
    sheet = read_sheet(path, sheet=None, columns={"filename": ("Filename",)},
                       header_within=SAMM_HEADER_SEARCH_ROWS)
    videos = {}
    for row in sheet.rows:
        match = _SAMM_FILENAME.fullmatch(sheet.text(row, "filename"))
        videos[row.number] = (match["subject"], f"{match['subject']}_{match['take']}") \
            if match else ("", "")
    return videos


def _is_open_video(kind: str, row_subject: str, row_video: str, video: str,
                   subject: str | None) -> bool:
    if row_video.lower() != video.lower():
        return False
    return kind == "samm_lv" or subject is None or row_subject.lower() == subject.lower()


def _sheet_report(path: Path, kind: str, intervals: list[LabeledInterval],
                  warnings: list[DatasetWarning], row_videos: dict[int, tuple[str, str]],
                  is_open_video: Callable[[str, str], bool], n_frames: int,
                  annotator: str) -> ImportReport:
    """Sort the sheet's rows into this video's intervals, repairs and rejections."""
    report = ImportReport([], [], kind, path)
    by_row = {interval.source_row: interval for interval in intervals
              if Path(interval.source_file) == path}
    messages: dict[int | None, list[str]] = {}
    for warning in warnings:
        if Path(warning.file) == path:
            messages.setdefault(warning.row, []).append(warning.message)
    for row_number, (row_subject, row_video) in sorted(row_videos.items()):
        interval = by_row.get(row_number)
        if row_video and not is_open_video(row_subject, row_video):
            report.rejected.append(RejectedRow(row_number, (
                f"other video ({row_subject}/{row_video})" if kind == "casme3"
                else f"other video ({row_video})"), other_video=True))
        elif interval is None:
            reason = "; ".join(messages.get(row_number, [])) or "not an interval of this video"
            report.rejected.append(RejectedRow(row_number, reason))
        else:
            report.repaired.extend(RejectedRow(row_number, message)
                                   for message in messages.get(row_number, []))
            _add(report, row_number, (interval.onset_frame, interval.apex_frame,
                                      interval.offset_frame), interval.emotion, "", n_frames,
                 annotator)
    return report

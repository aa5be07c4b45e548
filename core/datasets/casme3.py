"""CAS(ME)^3 Part A: label sheets, damaged-frame list and frame folders → a :class:`Dataset`.

Files (the official annotations, ``jingtingEmmaLi/CAS-ME-3``; read as they are):

- ``cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx``, sheet ``label``: Subject (``spNO.1``), Filename
  (the video letter a-m; one row writes ``J``), Onset, Apex, Offset (JPG file numbers, i.e. our
  frame indices), AU, Objective class, emotion. Every cell is text. 860 micro-expressions of 94
  subjects. Anomalies in v2: row 752 has onset = apex = 0 (kept, reported); rows 798 and 800
  have Offset 0 (the apex is used, reported); row 130 has its Apex (83) before its Onset (112)
  (the midpoint is used, reported); row 751 has Onset 3647 after Offset 2694 (skipped, reported).
- ``CAS(ME)3_part_A_v2.xls``, sheet ``AU+Emotion`` (it holds no emotion column despite its name):
  Subject, Filename, Onset, Apex, Offset, AU, Expression type (``Micro-expression`` /
  ``Macro-expression``), Objective class. 4,206 expressions (860 micro, 3,346 macro) of 98
  subjects; four cells are numbers, not text: they are the corrections of the label sheet's
  anomalies above (apex 160, onset 2647, offsets 1845 and 2403). Sheet ``eye blink`` (Subject,
  Filename, Onset, Offset) is not read.
- ``error_info_damaged_image_partA.txt``: lines ``spNO.3 J 498.jpg  the image cannot open``
  (130 lines, 121 distinct frames of spNO.3 j and spNO.4 j: nine lines repeat). They become
  ``DatasetVideo.damaged_frames``, which :meth:`DatasetVideo.open` reads as their nearest good
  neighbour.

With the all-expressions file, its rows give the frames (micro rows, plus macro rows with
``include_macro``) and each micro row takes its emotion from the label-sheet row of the same
subject and video that agrees on at least two of onset, apex and offset (disagreements are
reported; label rows that match nothing are reported and added from the label sheet). Without
it, the label sheet's rows are read with the repair rules of
:func:`core.datasets.base.resolve_frames` (Offset 0 counts as "not set").

Frames: ``<root>/<spNO.X>/<video letter>/color/<n>.jpg``, ``frame_idx == n`` (see
:mod:`core.video`), 30 fps. Video letters and subject names match folders case-insensitively;
video names are stored lower-case. With a root, every video folder found is in the dataset
(those without labels with no intervals: spotting scores them too); labelled videos without a
folder are reported and kept with ``path=None``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from core.datasets.base import (
    Dataset,
    DatasetError,
    DatasetVideo,
    DatasetWarning,
    LabeledInterval,
    Sheet,
    SheetRow,
    natural_key,
    read_sheet,
    resolve_frames,
)
from core.video import CASME3_FPS

__all__ = ["load_casme3", "read_casme3_labels", "read_casme3_damaged", "LABEL_SHEET",
           "ALL_EXPRESSIONS_SHEET", "DATASET_NAME"]

DATASET_NAME = "CAS(ME)3 Part A"
LABEL_SHEET = "label"
ALL_EXPRESSIONS_SHEET = "AU+Emotion"

_FRAME_COLUMNS = {"subject": ("Subject",), "video": ("Filename",), "onset": ("Onset",),
                  "apex": ("Apex",), "offset": ("Offset",)}
_LABEL_COLUMNS = {**_FRAME_COLUMNS, "emotion": ("emotion", "Estimated Emotion")}
_ALL_EXPRESSIONS_COLUMNS = {**_FRAME_COLUMNS, "type": ("Expression type", "Type")}
_AU_COLUMN = {"action_units": ("AU", "Action Units")}
_DAMAGED_LINE = re.compile(r"\s*(?P<subject>\S+)\s+(?P<video>\S+)\s+(?P<number>\d+)\.\w+\b.*")


@dataclass(frozen=True)
class _Row:
    """One expression row as the sheet gives it (frame numbers None when empty or not set)."""

    subject: str
    video: str
    onset: int | None
    apex: int | None
    offset: int | None
    action_units: str
    emotion: str
    expression_type: str
    file: str
    number: int

    @property
    def frames(self) -> tuple[int | None, int | None, int | None]:
        return self.onset, self.apex, self.offset

    @property
    def video_key(self) -> tuple[str, str]:
        return self.subject.lower(), self.video


def read_casme3_labels(label_file: str | os.PathLike[str], *,
                       all_expressions_file: str | os.PathLike[str] | None = None,
                       include_macro: bool = False
                       ) -> tuple[list[LabeledInterval], list[DatasetWarning]]:
    """The labelled intervals of CAS(ME)^3 Part A and the anomalies met (no frames needed).

    ``label_file``: the ME label sheet (``..._JpgIndex_v2.xlsx``, sheet ``label``).
    ``all_expressions_file``: ``CAS(ME)3_part_A_v2.xls`` (sheet ``AU+Emotion``); needed for
    ``include_macro``. See the module docstring for how the two are combined.
    """
    if include_macro and all_expressions_file is None:
        raise ValueError("include_macro needs all_expressions_file (CAS(ME)3_part_A_v2.xls): "
                         "the ME label sheet holds micro-expressions only")
    sheet = read_sheet(label_file, sheet=LABEL_SHEET, columns=_LABEL_COLUMNS,
                       optional=_AU_COLUMN)
    label_rows, warnings = _read_rows(sheet, expression_type="micro")
    if all_expressions_file is None:
        return _intervals(label_rows, warnings), warnings
    all_sheet = read_sheet(all_expressions_file, sheet=ALL_EXPRESSIONS_SHEET,
                           columns=_ALL_EXPRESSIONS_COLUMNS, optional=_AU_COLUMN)
    expression_rows, all_warnings = _read_rows(all_sheet, expression_type=None)
    warnings += all_warnings
    kept = [row for row in expression_rows if include_macro or row.expression_type == "micro"]
    merged = _with_label_emotions(kept, label_rows, warnings)
    return _intervals(merged, warnings), warnings


def read_casme3_damaged(damaged_file: str | os.PathLike[str]
                        ) -> tuple[dict[tuple[str, str], tuple[int, ...]], list[DatasetWarning]]:
    """Damaged frames by ``(subject.lower(), video.lower())`` → sorted frame indices.

    Lines look like ``spNO.3 J 498.jpg  the image cannot open``; blank lines are skipped, and
    a line that does not parse or repeats an earlier one is reported.
    """
    path = Path(damaged_file)
    if not path.is_file():
        raise DatasetError(path, "no such file" if not path.exists() else "is not a file")
    damaged: dict[tuple[str, str], dict[int, int]] = {}  # frame index → first line
    warnings = []
    with open(path, encoding="utf-8", errors="replace") as stream:
        for line_number, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            match = _DAMAGED_LINE.fullmatch(line.rstrip("\r\n"))
            if match is None:
                warnings.append(DatasetWarning(str(path), line_number,
                                               f"not a '<subject> <video> <n>.jpg ...' line: "
                                               f"{line.strip()!r}; ignored"))
                continue
            key = (match["subject"].lower(), match["video"].lower())
            frames = damaged.setdefault(key, {})
            number = int(match["number"])
            if number in frames:
                warnings.append(DatasetWarning(str(path), line_number,
                                               f"listed again (first on line {frames[number]})"))
            frames.setdefault(number, line_number)
    return {key: tuple(sorted(frames)) for key, frames in damaged.items()}, warnings


def load_casme3(root: str | os.PathLike[str] | None, label_file: str | os.PathLike[str], *,
                all_expressions_file: str | os.PathLike[str] | None = None,
                damaged_file: str | os.PathLike[str] | None = None,
                include_macro: bool = False) -> Dataset:
    """CAS(ME)^3 Part A as a :class:`Dataset` (30 fps).

    ``root``: the folder holding ``spNO.X/<letter>/color/<n>.jpg``, or None to read the labels
    only (every video's ``path`` is then None). The other arguments are those of
    :func:`read_casme3_labels`, plus ``damaged_file`` (``error_info_damaged_image_partA.txt``).
    """
    intervals, warnings = read_casme3_labels(label_file, all_expressions_file=all_expressions_file,
                                             include_macro=include_macro)
    damaged: dict[tuple[str, str], tuple[int, ...]] = {}
    if damaged_file is not None:
        damaged, damaged_warnings = read_casme3_damaged(damaged_file)
        warnings += damaged_warnings
    root_path = Path(root) if root is not None else None
    folders = _video_folders(root_path) if root_path is not None else None
    videos = _assemble_videos(intervals, folders, damaged, warnings, root=root_path)
    return Dataset(DATASET_NAME, videos, warnings)


# ------------------------------------------------------------------------------ sheet rows


def _read_rows(sheet: Sheet,
               expression_type: str | None) -> tuple[list[_Row], list[DatasetWarning]]:
    """Sheet rows as :class:`_Row` (``expression_type`` None: read it from the Type column)."""
    rows, warnings = [], []
    for row in sheet.rows:
        problem = _row_problem(sheet, row)
        row_type = expression_type or _expression_type(sheet.text(row, "type"))
        if problem is None and row_type is None:
            problem = f"unknown expression type {sheet.text(row, 'type')!r}"
        if problem is not None:
            warnings.append(DatasetWarning(str(sheet.file), row.number,
                                           f"{problem}: the row is skipped"))
            continue
        onset, apex, offset = (sheet.frame_number(row, key) for key in ("onset", "apex", "offset"))
        rows.append(_Row(
            subject=sheet.text(row, "subject"), video=sheet.text(row, "video").lower(),
            onset=_set_or_none(onset), apex=_set_or_none(apex),
            offset=None if offset == 0 else _set_or_none(offset),  # Offset 0: not set
            action_units=sheet.text(row, "action_units"),
            emotion=sheet.text(row, "emotion").lower(), expression_type=str(row_type),
            file=str(sheet.file), number=row.number))
    return rows, warnings


def _row_problem(sheet: Sheet, row: SheetRow) -> str | None:
    for key in ("subject", "video"):
        if not sheet.text(row, key):
            return f"no {sheet.columns[key]}"
    return None


def _set_or_none(number: int | None) -> int | None:
    return None if number is None or number < 0 else number


def _expression_type(text: str) -> str | None:
    """'Micro-expression' → 'micro', 'Macro-expression' → 'macro', anything else → None."""
    lowered = text.strip().lower()
    return next((kind for kind in ("micro", "macro") if lowered.startswith(kind)), None)


def _intervals(rows: Iterable[_Row], warnings: list[DatasetWarning]) -> list[LabeledInterval]:
    """Rows → intervals by the repair rules; every repair or skip appended to ``warnings``."""
    intervals = []
    for row in rows:
        frames, messages = resolve_frames(*row.frames)
        if frames is not None and frames[0] == frames[1] == 0:
            messages.append("Onset and Apex are both 0 (JPG 0; most videos start at 7-8): "
                            "kept as labelled")
        warnings.extend(DatasetWarning(row.file, row.number, message) for message in messages)
        if frames is None:
            continue
        intervals.append(LabeledInterval(
            subject=row.subject, video=row.video, onset_frame=frames[0], apex_frame=frames[1],
            offset_frame=frames[2], emotion=row.emotion, expression_type=row.expression_type,
            action_units=row.action_units, source_row=row.number, source_file=row.file))
    return intervals


# -------------------------------------------------------------- label sheet ↔ all expressions


def _agreement(a: _Row, b: _Row) -> int:
    """How many of onset, apex and offset two rows share (an unset value shares nothing)."""
    return sum(x is not None and x == y for x, y in zip(a.frames, b.frames, strict=True))


def _with_label_emotions(expression_rows: Sequence[_Row], label_rows: Sequence[_Row],
                         warnings: list[DatasetWarning]) -> list[_Row]:
    """Expression rows with their micro rows' emotions from the label sheet, plus unmatched
    label rows; exact matches are paired first, then rows agreeing on two of three frames."""
    by_video: dict[tuple[str, str], list[int]] = {}
    for label_idx, label in enumerate(label_rows):
        by_video.setdefault(label.video_key, []).append(label_idx)
    paired: dict[int, int] = {}  # expression row index → label row index
    used: set[int] = set()
    for min_agreement in (3, 2):
        for row_idx, row in enumerate(expression_rows):
            if row.expression_type != "micro" or row_idx in paired:
                continue
            candidates = [label_idx for label_idx in by_video.get(row.video_key, [])
                          if label_idx not in used
                          and _agreement(row, label_rows[label_idx]) >= min_agreement]
            if candidates:
                paired[row_idx] = candidates[0]
                used.add(candidates[0])
    merged = []
    for row_idx, row in enumerate(expression_rows):
        if row_idx in paired:
            label = label_rows[paired[row_idx]]
            if label.frames != row.frames:
                warnings.append(DatasetWarning(label.file, label.number, (
                    f"Onset/Apex/Offset {_frames_text(label)} differ from "
                    f"{_frames_text(row)} in row {row.number} of {row.file}: those are used")))
            row = replace(row, emotion=label.emotion)
        elif row.expression_type == "micro":
            warnings.append(DatasetWarning(row.file, row.number,
                                           "no row of the label sheet matches this "
                                           "micro-expression: it has no emotion"))
        merged.append(row)
    for label_idx, label in enumerate(label_rows):
        if label_idx not in used:
            warnings.append(DatasetWarning(label.file, label.number,
                                           "not in the all-expressions file: added from the "
                                           "label sheet"))
            merged.append(label)
    return merged


def _frames_text(row: _Row) -> str:
    return "/".join("(not set)" if value is None else str(value) for value in row.frames)


# ------------------------------------------------------------------------------ frame folders


def _video_folders(root: Path) -> dict[tuple[str, str], tuple[str, str, Path]]:
    """``(subject.lower(), video.lower())`` → (subject, video, folder) of every video folder
    (a folder holding a ``color`` folder) under ``root``."""
    if not root.is_dir():
        raise DatasetError(root, "no such folder (the CAS(ME)3 Part A frames root)")
    folders = {}
    for subject_dir in sorted(root.iterdir(), key=lambda path: natural_key(path.name)):
        if subject_dir.name.startswith(".") or not subject_dir.is_dir():
            continue
        for video_dir in sorted(subject_dir.iterdir(), key=lambda path: natural_key(path.name)):
            if not video_dir.name.startswith(".") and (video_dir / "color").is_dir():
                key = (subject_dir.name.lower(), video_dir.name.lower())
                folders[key] = (subject_dir.name, video_dir.name.lower(), video_dir)
    return folders


def _assemble_videos(intervals: Sequence[LabeledInterval],
                     folders: dict[tuple[str, str], tuple[str, str, Path]] | None,
                     damaged: dict[tuple[str, str], tuple[int, ...]],
                     warnings: list[DatasetWarning], root: Path | None) -> list[DatasetVideo]:
    """One DatasetVideo per labelled video and per video folder, in natural order."""
    videos: dict[tuple[str, str], DatasetVideo] = {}
    for interval in intervals:
        key = (interval.subject.lower(), interval.video)
        if key not in videos:
            videos[key] = DatasetVideo(interval.subject, interval.video, None, CASME3_FPS)
        videos[key].intervals.append(interval)
    if folders is not None:
        for key, (subject, video, path) in folders.items():
            videos.setdefault(key, DatasetVideo(subject, video, None, CASME3_FPS)).path = path
        for key, video in videos.items():
            if key not in folders:
                warnings.append(DatasetWarning(str(root), None, (
                    f"no frames folder {video.subject}/{video.video}/color: its "
                    f"{len(video.intervals)} intervals have no frames (path None)")))
    for key, video in videos.items():
        video.damaged_frames = damaged.get(key, ())
    return sorted(videos.values(),
                  key=lambda video: (natural_key(video.subject), natural_key(video.video)))

"""SAMM Long Videos: label sheet, micro-expression FACS sheet and frame folders → a Dataset.

The sheets are licensed and not in this repository; their layout was taken from the public
readers of the MEGC spotting baselines (MEAN_Spot-then-recognize and ME-TST ``load_excel.py``,
which read the first sheet with ``header=None, skiprows=range(10)``; an MM-MEGC reader uses
``skiprows=9`` with the header; a V1 reader loops from row index 10 of sheet
``FACS_Movement_Only``):

- ``SAMM_LongVideos_V3_Release.xlsx``, first sheet: a preamble (9 rows in V3), the header
  (row 10), then one row per expression: Subject, Filename (``006_1_1`` = subject 006, video
  ``006_1``, expression 1), Inducement Code, Onset, Apex, Offset (1-based frame numbers),
  Duration, Type (``Micro - 1/2`` or ``Macro``), Action Units, Notes. 343 macro- and 159
  micro-expressions in 147 videos. The header row is searched in the first 30 rows, so a
  preamble of another length reads too. Apex may be -1 or empty: the midpoint is used.
- ``SAMM_Micro_FACS_Codes_v2.xlsx``, first sheet: Subject, Filename, Inducement Code, Onset
  Frame, Apex Frame, Offset Frame, Duration, Type, Action Units, Estimated Emotion, Objective
  Classes, Notes (readers differ on the header's row: it is searched too). Emotions (Anger,
  Contempt, Disgust, Fear, Happiness, Sadness, Surprise, Other) are merged onto the
  long-video rows on (Filename, Type), as the baselines do; a micro-expression with no FACS row
  is reported and has no emotion.

Frame numbers ``n`` (1-based, as in the frame files ``<SSS_V>_<NNNN>.jpg``) become
``frame_idx = n - 1``; 0 or -1 means "not set" and the repair rules of
:func:`core.datasets.base.resolve_frames` apply. Frames:
``<root>/SAMM_longvideos/<SSS_V>/<SSS_V>_<NNNN>.jpg`` (``root`` may also be the
``SAMM_longvideos`` folder itself), 200 fps.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
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
from core.video import SAMM_FPS

__all__ = ["load_samm_lv", "read_samm_lv_labels", "DATASET_NAME", "FRAMES_FOLDER"]

DATASET_NAME = "SAMM Long Videos"
FRAMES_FOLDER = "SAMM_longvideos"
HEADER_SEARCH_ROWS = 30

_LV_COLUMNS = {"filename": ("Filename",), "onset": ("Onset", "Onset Frame"),
               "apex": ("Apex", "Apex Frame"), "offset": ("Offset", "Offset Frame"),
               "type": ("Type",)}
_LV_OPTIONAL = {"action_units": ("Action Units", "AU")}
_FACS_COLUMNS = {"filename": ("Filename",), "emotion": ("Estimated Emotion", "Emotion")}
_FACS_OPTIONAL = {"type": ("Type",)}
_FILENAME = re.compile(r"(?P<subject>\d+)_(?P<take>\d+)(?:_\w+)?")
_VIDEO_FOLDER = re.compile(r"\d+_\d+")


@dataclass(frozen=True)
class _FacsEmotion:
    type_key: str | None  # the normalised Type, None when the FACS sheet has no Type column
    emotion: str
    row: int


def read_samm_lv_labels(label_file: str | os.PathLike[str], *,
                        facs_file: str | os.PathLike[str] | None = None,
                        include_macro: bool = False
                        ) -> tuple[list[LabeledInterval], list[DatasetWarning]]:
    """The labelled intervals of SAMM Long Videos (0-based frames) and the anomalies met.

    ``facs_file``: ``SAMM_Micro_FACS_Codes_v2.xlsx``, the source of the micro-expressions'
    emotions (without it every emotion is ''). Macro-expressions are read with
    ``include_macro``.
    """
    sheet = read_sheet(label_file, sheet=None, columns=_LV_COLUMNS, optional=_LV_OPTIONAL,
                       header_within=HEADER_SEARCH_ROWS)
    warnings: list[DatasetWarning] = []
    emotions = None
    if facs_file is not None:
        emotions, facs_warnings = _read_facs_emotions(facs_file)
        warnings += facs_warnings
    intervals = []
    for row in sheet.rows:
        interval = _interval(sheet, row, emotions, include_macro, warnings)
        if interval is not None:
            intervals.append(interval)
    return intervals, warnings


def load_samm_lv(root: str | os.PathLike[str] | None, label_file: str | os.PathLike[str], *,
                 facs_file: str | os.PathLike[str] | None = None,
                 include_macro: bool = False) -> Dataset:
    """SAMM Long Videos as a :class:`Dataset` (200 fps).

    ``root``: the folder holding ``SAMM_longvideos/<SSS_V>/`` (or that folder itself), or None
    to read the labels only. Every video folder found is in the dataset; labelled videos with no
    folder are reported and kept with ``path=None``.
    """
    intervals, warnings = read_samm_lv_labels(label_file, facs_file=facs_file,
                                              include_macro=include_macro)
    videos: dict[str, DatasetVideo] = {}
    for interval in intervals:
        video = videos.setdefault(interval.video, DatasetVideo(interval.subject, interval.video,
                                                               None, SAMM_FPS))
        video.intervals.append(interval)
    if root is not None:
        frames_root = _frames_root(Path(root))
        for folder in _video_folders(frames_root):
            subject = folder.name.split("_")[0]
            videos.setdefault(folder.name, DatasetVideo(subject, folder.name, None,
                                                        SAMM_FPS)).path = folder
        for video in videos.values():
            if video.path is None:
                warnings.append(DatasetWarning(str(frames_root), None, (
                    f"no frames folder {video.video}: its {len(video.intervals)} intervals "
                    f"have no frames (path None)")))
    ordered = sorted(videos.values(), key=lambda video: natural_key(video.video))
    return Dataset(DATASET_NAME, ordered, warnings)


def _read_facs_emotions(facs_file: str | os.PathLike[str]
                            ) -> tuple[dict[str, list[_FacsEmotion]], list[DatasetWarning]]:
    """Emotions of the FACS sheet by Filename (lower-case labels), and its anomalies."""
    sheet = read_sheet(facs_file, sheet=None, columns=_FACS_COLUMNS, optional=_FACS_OPTIONAL,
                       header_within=HEADER_SEARCH_ROWS)
    emotions: dict[str, list[_FacsEmotion]] = {}
    warnings = []
    for row in sheet.rows:
        filename = sheet.text(row, "filename")
        if not filename:
            warnings.append(DatasetWarning(str(sheet.file), row.number,
                                           "no Filename: the row is skipped"))
            continue
        type_key = _type_key(sheet.text(row, "type")) if "type" in sheet.columns else None
        entry = _FacsEmotion(type_key, sheet.text(row, "emotion").lower(), row.number)
        same = [known for known in emotions.get(filename, []) if known.type_key == type_key]
        if same:
            warnings.append(DatasetWarning(str(sheet.file), row.number, (
                f"{filename} is also in row {same[0].row}: this row is ignored")))
            continue
        emotions.setdefault(filename, []).append(entry)
    return emotions, warnings


def _type_key(text: str) -> str:
    """'Micro - 1/2' → 'micro-1/2': lower-case, spaces removed (for matching Type cells)."""
    return "".join(text.lower().split())


def _expression_type(text: str) -> str | None:
    key = _type_key(text)
    return next((kind for kind in ("micro", "macro") if key.startswith(kind)), None)


def _frame_idx(number: int | None) -> int | None:
    """A 1-based frame number → 0-based index; empty, 0 and negative numbers → None."""
    return None if number is None or number < 1 else number - 1


def _interval(sheet: Sheet, row: SheetRow, emotions: dict[str, list[_FacsEmotion]] | None,
              include_macro: bool, warnings: list[DatasetWarning]) -> LabeledInterval | None:
    """One long-video row → an interval (None: skipped or a macro left out), warnings appended."""
    file = str(sheet.file)
    filename = sheet.text(row, "filename")
    match = _FILENAME.fullmatch(filename)
    type_text = sheet.text(row, "type")
    expression_type = _expression_type(type_text)
    if match is None or expression_type is None:
        problem = (f"Filename {filename!r} is not like '006_1_1'" if match is None
                   else f"unknown Type {type_text!r}")
        warnings.append(DatasetWarning(file, row.number, f"{problem}: the row is skipped"))
        return None
    if expression_type == "macro" and not include_macro:
        return None
    frames, messages = resolve_frames(
        *(_frame_idx(sheet.frame_number(row, key)) for key in ("onset", "apex", "offset")),
        first_number=1)
    warnings.extend(DatasetWarning(file, row.number, message) for message in messages)
    if frames is None:
        return None
    emotion = ""
    if emotions is not None and expression_type == "micro":
        emotion = _facs_emotion(emotions, filename, _type_key(type_text))
        if emotion is None:
            warnings.append(DatasetWarning(file, row.number, (
                f"{filename} ({type_text}) is not in the FACS sheet: it has no emotion")))
            emotion = ""
    return LabeledInterval(
        subject=match["subject"], video=f"{match['subject']}_{match['take']}",
        onset_frame=frames[0], apex_frame=frames[1], offset_frame=frames[2], emotion=emotion,
        expression_type=expression_type, action_units=sheet.text(row, "action_units"),
        source_row=row.number, source_file=file)


def _facs_emotion(emotions: dict[str, list[_FacsEmotion]], filename: str,
                  type_key: str) -> str | None:
    """The FACS emotion of (Filename, Type); a FACS sheet without Type matches on Filename."""
    for entry in emotions.get(filename, []):
        if entry.type_key is None or entry.type_key == type_key:
            return entry.emotion
    return None


def _frames_root(root: Path) -> Path:
    if not root.is_dir():
        raise DatasetError(root, "no such folder (the SAMM Long Videos frames root)")
    nested = root / FRAMES_FOLDER
    return nested if nested.is_dir() else root


def _video_folders(frames_root: Path) -> list[Path]:
    """Folders named like ``006_1`` under the frames root, in natural order."""
    return sorted((path for path in frames_root.iterdir()
                   if path.is_dir() and _VIDEO_FOLDER.fullmatch(path.name)),
                  key=lambda path: natural_key(path.name))

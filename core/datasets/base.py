"""The common model of a labelled dataset, and the spreadsheet reading the readers share.

A :class:`Dataset` is a list of :class:`DatasetVideo` (subject, video name, frames path, fps,
labelled intervals) plus every anomaly met while reading it, as :class:`DatasetWarning` records
naming the file and the row (1-based, header counted, as a spreadsheet shows it). A reader
never hides an anomaly: it repairs or skips the row and says so in ``Dataset.warnings``. What
cannot be read at all (no such file, not a workbook, a sheet or column missing, text in a frame
column) raises one :class:`DatasetError` naming the file, sheet, row and column.

Frame indices in a :class:`LabeledInterval` are the 0-based ``frame_idx`` of the video's
:class:`~core.video.FrameSource`, inclusive at both ends; the readers convert the sheets'
numbering. Damaged frames (listed by a dataset, present on disk but undecodable) are read as
their nearest good neighbour by :class:`MaskedFrameSource`, like frames missing from a folder.

Spreadsheets: ``.xlsx`` through openpyxl, ``.xls`` through xlrd, told apart by their first bytes
(not their extension). :func:`read_sheet` finds the header row (optionally below a preamble),
maps the wanted columns by name (case and spacing ignored, aliases allowed) and returns the rows
that are not empty.
"""

from __future__ import annotations

import os
import re
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from core.video import FrameSource, VideoError, open_source

__all__ = [
    "DatasetError",
    "DatasetWarning",
    "LabeledInterval",
    "DatasetVideo",
    "Dataset",
    "MaskedFrameSource",
    "Sheet",
    "SheetRow",
    "read_sheet",
    "resolve_frames",
    "natural_key",
]

_XLSX_MAGIC = b"PK\x03\x04"  # a zip archive (Office Open XML)
_XLS_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # an OLE2 compound document (BIFF .xls)
_INTEGER_TEXT = re.compile(r"[+-]?\d+(?:\.0*)?")
_EXPRESSION_TYPES = ("micro", "macro")


class DatasetError(ValueError):
    """A label file that cannot be read; the message names the file, sheet, row and column.

    The message is ``"<file>: sheet '<sheet>', row <row>, column '<column>': <problem>"`` with the
    parts that do not apply left out. The parts are kept as attributes.
    """

    def __init__(self, file: str | os.PathLike[str], problem: str, *, sheet: str | None = None,
                 row: int | None = None, column: str | None = None) -> None:
        where = [f"sheet '{sheet}'" if sheet is not None else "",
                 f"row {row}" if row is not None else "",
                 f"column '{column}'" if column is not None else ""]
        location = ", ".join(part for part in where if part)
        super().__init__(f"{file}: {location + ': ' if location else ''}{problem}")
        self.file = Path(file)
        self.problem = problem
        self.sheet = sheet
        self.row = row
        self.column = column

    def __reduce__(self) -> tuple[object, ...]:  # picklable across worker processes
        return _rebuild_dataset_error, (self.file, self.problem, self.sheet, self.row,
                                        self.column)


def _rebuild_dataset_error(file: Path, problem: str, sheet: str | None, row: int | None,
                           column: str | None) -> DatasetError:
    return DatasetError(file, problem, sheet=sheet, row=row, column=column)


@dataclass(frozen=True)
class DatasetWarning:
    """An anomaly met while reading a dataset: the row was repaired or skipped, as ``message`` says.

    ``row`` is the spreadsheet (or CSV, or text) line as a human sees it: 1-based, header counted;
    None when the warning is about a whole file or folder.
    """

    file: str
    row: int | None
    message: str

    def __str__(self) -> str:
        where = self.file if self.row is None else f"{self.file}, row {self.row}"
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class LabeledInterval:
    """One labelled expression: 0-based inclusive frame indices of its video's FrameSource.

    ``emotion`` is the sheet's label, lower-case and stripped ('' if none; map it to classes with
    :mod:`core.datasets.emotions`). ``expression_type`` is "micro" or "macro". ``source_file`` and
    ``source_row`` say where the frames were read (row 1-based, header counted).
    """

    subject: str
    video: str
    onset_frame: int
    apex_frame: int
    offset_frame: int
    emotion: str
    expression_type: str
    action_units: str = ""
    source_row: int | None = None
    source_file: str = ""

    def __post_init__(self) -> None:
        if not 0 <= self.onset_frame <= self.apex_frame <= self.offset_frame:
            raise ValueError(f"{self.subject}/{self.video}: frames must satisfy 0 <= onset <= "
                             f"apex <= offset, got {self.onset_frame}, {self.apex_frame}, "
                             f"{self.offset_frame}")
        if self.expression_type not in _EXPRESSION_TYPES:
            raise ValueError(f"expression_type must be one of {_EXPRESSION_TYPES}, "
                             f"got {self.expression_type!r}")

    @property
    def n_frames(self) -> int:
        """Frames from onset to offset, both included."""
        return self.offset_frame - self.onset_frame + 1


@dataclass
class DatasetVideo:
    """One video of a dataset and its labelled intervals.

    ``path``: the video file or frame folder (None when only the labels were read, or its frames
    were not found). ``damaged_frames``: frame indices whose images exist but cannot be decoded;
    :meth:`open` reads them as their nearest good neighbour and lists them as missing.
    """

    subject: str
    video: str
    path: Path | None
    fps: float
    intervals: list[LabeledInterval] = field(default_factory=list)
    damaged_frames: tuple[int, ...] = ()

    def open(self) -> FrameSource:
        """The video's frames (a :class:`MaskedFrameSource` when some are damaged)."""
        if self.path is None:
            raise DatasetError(f"{self.subject}/{self.video}",
                               "this video has no frames (only its labels were read, or its "
                               "frames folder was not found)")
        source = open_source(self.path, fps=self.fps)
        return MaskedFrameSource(source, self.damaged_frames) if self.damaged_frames else source


@dataclass
class Dataset:
    """Videos with labelled intervals, and the warnings met while reading them."""

    name: str
    videos: list[DatasetVideo]
    warnings: list[DatasetWarning] = field(default_factory=list)

    @property
    def subjects(self) -> list[str]:
        """Subject names, unique, in natural order (spNO.2 before spNO.10)."""
        return sorted({video.subject for video in self.videos}, key=natural_key)

    @property
    def intervals(self) -> list[LabeledInterval]:
        """Every interval of every video, in video order."""
        return [interval for video in self.videos for interval in video.intervals]

    def micro_only(self) -> Dataset:
        """The same videos (all kept, for spotting) with only their micro-expression intervals."""
        videos = [replace(video, intervals=[interval for interval in video.intervals
                                            if interval.expression_type == "micro"])
                  for video in self.videos]
        return Dataset(self.name, videos, list(self.warnings))

    def video(self, subject: str, video: str) -> DatasetVideo:
        """The video named ``video`` of ``subject`` (KeyError if there is none)."""
        for candidate in self.videos:
            if candidate.subject == subject and candidate.video == video:
                return candidate
        raise KeyError(f"{self.name} has no video {subject}/{video}")


def natural_key(text: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key that orders the digit runs of ``text`` as numbers ('spNO.2' < 'spNO.10')."""
    return tuple((0, int(part)) if part.isdigit() else (1, part.lower())
                 for part in re.split(r"(\d+)", text) if part)


# ------------------------------------------------------------------------- damaged frames


class MaskedFrameSource(FrameSource):
    """A frame source in which some frames count as missing (e.g. damaged images).

    A masked frame keeps its index, reads as the nearest frame that is neither masked nor missing
    in ``source`` (the previous one, else the next) and is listed in ``missing_indices``.
    Out-of-range masked indices are ignored. ``source`` stays reachable as ``.source``.
    """

    def __init__(self, source: FrameSource, masked_indices: Iterable[int]) -> None:
        self.source = source
        self.path, self.fps, self.n_frames = source.path, source.fps, source.n_frames
        self.width, self.height = source.width, source.height
        masked = {int(i) for i in masked_indices if 0 <= int(i) < source.n_frames}
        self.masked_indices = tuple(sorted(masked))
        self.missing_indices = tuple(sorted(masked | set(source.missing_indices)))
        has_image = np.ones(self.n_frames, bool)  # (n_frames,)
        has_image[list(self.missing_indices)] = False
        available = np.flatnonzero(has_image)  # (A,) frame indices with an image of their own
        if available.size == 0:
            raise VideoError(source.path, "every frame is missing or damaged")
        previous = np.searchsorted(available, np.arange(self.n_frames), side="right") - 1
        self._read_idx = available[np.maximum(previous, 0)]  # (n_frames,) frame each index reads

    def close(self) -> None:
        self.source.close()

    def _read(self, frame_idx: int, gray: bool) -> np.ndarray:
        read_idx = int(self._read_idx[frame_idx])
        return self.source.read_gray(read_idx) if gray else self.source.read(read_idx)

    def _iter(self, start: int, stop: int, gray: bool) -> Iterator[tuple[int, np.ndarray]]:
        for frame_idx in range(start, stop):
            yield frame_idx, self._read(frame_idx, gray)


# ----------------------------------------------------------------------- frame repair rules


def resolve_frames(onset: int | None, apex: int | None, offset: int | None, *,
                   first_number: int = 0) -> tuple[tuple[int, int, int] | None, list[str]]:
    """Apply the label-sheet repair rules to one row's 0-based frames (None: missing/not set).

    Rules, each reported in the returned messages (which quote frames in the sheet's numbering,
    ``frame_idx + first_number``):

    - no onset: the row is skipped;
    - no offset: the apex is used as the offset (the row is skipped if there is no apex either);
    - offset before onset: the row is skipped (which of the two is wrong cannot be told);
    - no apex, or an apex outside [onset, offset]: the midpoint of onset and offset is used.

    Returns ``((onset, apex, offset), messages)``, or ``(None, messages)`` for a skipped row.
    """
    def number(frame_idx: int) -> int:
        return frame_idx + first_number

    if onset is None:
        return None, ["no Onset: the row is skipped"]
    messages = []
    if offset is None:
        if apex is None or apex < onset:
            return None, ["no Offset and no usable Apex: the row is skipped"]
        offset = apex
        messages.append(f"no Offset (empty, 0 or -1): the Apex {number(apex)} is used as the "
                        f"offset")
    if offset < onset:
        return None, [*messages, f"Offset {number(offset)} is before Onset {number(onset)}: "
                                 f"the row is skipped"]
    midpoint = (onset + offset) // 2
    if apex is None:
        messages.append(f"no Apex (empty or -1): the midpoint {number(midpoint)} of onset and "
                        f"offset is used")
        apex = midpoint
    elif not onset <= apex <= offset:
        messages.append(f"Apex {number(apex)} is outside Onset {number(onset)} to Offset "
                        f"{number(offset)}: the midpoint {number(midpoint)} is used")
        apex = midpoint
    return (onset, apex, offset), messages


# ---------------------------------------------------------------------------- spreadsheets


@dataclass(frozen=True)
class SheetRow:
    """One non-empty data row: its 1-based number and its cells by column key (None: empty)."""

    number: int
    cells: Mapping[str, object]


@dataclass(frozen=True)
class Sheet:
    """The rows of one worksheet below its header, with the wanted columns mapped by key.

    ``columns`` maps each column key to the header text found in the sheet (absent optional
    columns are left out); ``header_row`` is 1-based.
    """

    file: Path
    name: str
    header_row: int
    columns: Mapping[str, str]
    rows: Sequence[SheetRow]

    def text(self, row: SheetRow, key: str) -> str:
        """A cell as stripped text ('' when empty or the column is absent); 5.0 reads '5'."""
        value = row.cells.get(key)
        return "" if value is None else str(value).strip()

    def frame_number(self, row: SheetRow, key: str) -> int | None:
        """A cell as an integer frame number, None when empty; text raises DatasetError."""
        value = row.cells.get(key)
        if value is None:
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and _INTEGER_TEXT.fullmatch(value.strip()):
            return int(float(value.strip()))
        raise DatasetError(self.file, f"{value!r} is not a frame number", sheet=self.name,
                           row=row.number, column=self.columns[key])


def read_sheet(file: str | os.PathLike[str], *, sheet: str | None,
               columns: Mapping[str, Sequence[str]],
               optional: Mapping[str, Sequence[str]] | None = None,
               header_within: int = 1) -> Sheet:
    """Read one worksheet of an ``.xlsx`` or ``.xls`` workbook.

    ``sheet``: the worksheet's name (case and surrounding spaces ignored), or None for the first.
    ``columns``/``optional``: column key → accepted header names (case and spacing ignored); a
    required column that is missing raises DatasetError naming it and listing the columns found.
    ``header_within``: the header is the first of the first ``header_within`` rows that holds
    every required column (1: the header is row 1). Rows whose wanted cells are all empty are
    left out.
    """
    path = Path(file)
    sheet_name, grid = _load_sheet_grid(path, sheet)
    optional = optional or {}
    header_idx, header = _find_header(path, sheet_name, grid, columns, header_within)
    found = _match_columns({**columns, **optional}, header)
    rows = []
    for row_idx in range(header_idx + 1, len(grid)):
        values = grid[row_idx]
        cells = {key: values[col] if col < len(values) else None for key, col in found.items()}
        if any(value is not None for value in cells.values()):
            rows.append(SheetRow(row_idx + 1, cells))
    return Sheet(path, sheet_name, header_idx + 1,
                 {key: str(header[col]).strip() for key, col in found.items()}, rows)


def _normalized_name(value: object) -> str:
    return " ".join(str(value).split()).lower() if value is not None else ""


def _match_columns(wanted: Mapping[str, Sequence[str]], header: Sequence[object]) -> dict[str, int]:
    """Column key → position in ``header`` for the wanted columns that are there."""
    positions = {}
    names = [_normalized_name(value) for value in header]
    for key, aliases in wanted.items():
        accepted = {_normalized_name(alias) for alias in aliases}
        position = next((col for col, name in enumerate(names) if name in accepted), None)
        if position is not None:
            positions[key] = position
    return positions


def _find_header(path: Path, sheet: str, grid: Sequence[Sequence[object]],
                 columns: Mapping[str, Sequence[str]],
                 header_within: int) -> tuple[int, Sequence[object]]:
    """The 0-based index and cells of the header row, or DatasetError naming what is missing."""
    candidates = list(range(min(header_within, len(grid))))
    if not candidates:
        raise DatasetError(path, "the sheet is empty", sheet=sheet)
    for row_idx in candidates:
        if len(_match_columns(columns, grid[row_idx])) == len(columns):
            return row_idx, grid[row_idx]
    best = max(candidates, key=lambda idx: (len(_match_columns(columns, grid[idx])), -idx))
    present = _match_columns(columns, grid[best])
    missing = [aliases[0] for key, aliases in columns.items() if key not in present]
    found = [str(value).strip() for value in grid[best] if value is not None]
    scope = "" if header_within == 1 else f" (header searched in rows 1-{len(candidates)})"
    raise DatasetError(path, f"no column {', '.join(repr(name) for name in missing)}{scope}; "
                             f"the columns found are {found}", sheet=sheet, row=best + 1)


def _load_sheet_grid(path: Path, sheet: str | None) -> tuple[str, list[list[object]]]:
    """The worksheet's name and cell values (None: empty; whole-number floats as int)."""
    if not path.exists():
        raise DatasetError(path, "no such file")
    if path.is_dir():
        raise DatasetError(path, "is a folder, not a spreadsheet")
    with open(path, "rb") as stream:
        magic = stream.read(8)
    if magic.startswith(_XLSX_MAGIC):
        return _load_xlsx(path, sheet)
    if magic == _XLS_MAGIC:
        return _load_xls(path, sheet)
    raise DatasetError(path, "is not an Excel workbook (.xlsx or .xls)")


def _chosen_sheet(path: Path, names: Sequence[str], sheet: str | None) -> str:
    if not names:
        raise DatasetError(path, "the workbook has no worksheets")
    if sheet is None:
        return names[0]
    for name in names:
        if name.strip().lower() == sheet.strip().lower():
            return name
    raise DatasetError(path, f"no sheet named '{sheet}'; the sheets are {list(names)}")


def _cell_value(value: object) -> object:
    """Empty text → None, whole-number floats → int, text stripped; other values unchanged."""
    if isinstance(value, str):
        value = value.strip()
        return value or None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _load_xlsx(path: Path, sheet: str | None) -> tuple[str, list[list[object]]]:
    import openpyxl  # lazy: only label readers need it
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, OSError, KeyError, ValueError) as error:
        raise DatasetError(path, f"cannot read the workbook ({error})") from None
    try:
        name = _chosen_sheet(path, workbook.sheetnames, sheet)
        grid = [[_cell_value(value) for value in row]
                for row in workbook[name].iter_rows(values_only=True)]
    finally:
        workbook.close()
    return name, grid


def _load_xls(path: Path, sheet: str | None) -> tuple[str, list[list[object]]]:
    import xlrd  # lazy: only label readers need it

    try:
        workbook = xlrd.open_workbook(path, on_demand=True)
    except (xlrd.XLRDError, OSError, ValueError, AssertionError) as error:
        raise DatasetError(path, f"cannot read the workbook ({error})") from None
    try:
        name = _chosen_sheet(path, workbook.sheet_names(), sheet)
        worksheet = workbook.sheet_by_name(name)
        grid = [[_xls_cell_value(cell) for cell in worksheet.row(row_idx)]
                for row_idx in range(worksheet.nrows)]
    finally:
        workbook.release_resources()
    return name, grid


def _xls_cell_value(cell: object) -> object:
    import xlrd

    ctype, value = cell.ctype, cell.value  # type: ignore[attr-defined]
    if ctype in (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK):
        return None
    if ctype == xlrd.XL_CELL_ERROR:
        return xlrd.error_text_from_code.get(value, "#ERROR")
    if ctype == xlrd.XL_CELL_BOOLEAN:
        return bool(value)
    return _cell_value(value)

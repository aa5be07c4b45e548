"""Export what a reviewer made: intervals as the ``metst analyze`` CSV, and per-frame curves.

:func:`export_intervals_csv` writes the columns of :data:`core.intervals_csv.INTERVAL_COLUMNS`
(text cells formula-escaped) for one video or many, keeping only the statuses and sources asked
for; :func:`project_annotation_sets` gathers every video of a project with its saved
annotations (or the open video's in-memory set). :mod:`core.interval_import` reads the file
back. :func:`export_curves_csv` writes one row per frame of an analysis result: the spotting
score (raw and smoothed as post-processing smooths it), the class probabilities, the ROI flow
channels and the eye openness.

Both write atomically (a temporary file renamed over the target), so a failed export never
leaves half a file.
"""

from __future__ import annotations

import csv
import math
import os
import re
from collections.abc import Callable, Collection, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from core.annotation_store import AnnotationFileError, load_annotations
from core.annotations import AnnotationSet
from core.atomic import atomic_path
from core.intervals_csv import INTERVAL_COLUMNS, write_intervals_csv
from core.postprocess import smooth_curve
from core.project import Project, ProjectVideo
from core.video import VideoError, open_source

if TYPE_CHECKING:  # the analysis stack (h5py, flow) is not needed to export
    from core.analysis import AnalysisResult

__all__ = ["export_intervals_csv", "project_annotation_sets", "export_curves_csv",
           "curve_columns"]

#: Significant digits of the curve values written (float32 holds about 7).
CURVE_DIGITS = 7
_ROWS_PER_WRITE = 10_000
_NAN_CELL = re.compile(r"(?<=,)nan(?=[,\n])")  # a NaN value becomes an empty cell


def export_intervals_csv(path: str | os.PathLike[str],
                         items: Iterable[tuple[str, AnnotationSet]], *,
                         statuses: Collection[str] | None = None,
                         sources: Collection[str] | None = None) -> int:
    """Write the intervals of every ``(video name, annotation set)`` to ``path``; returns the
    number of rows written.

    ``statuses`` / ``sources``: keep only intervals with these (None: all). The ``video`` column
    holds the given name (e.g. ``ProjectVideo.name``, or ``ProjectVideo.key`` for a project
    whose subjects share video names). Rows of a video are by onset.
    """
    rows = []
    for video_name, annotation_set in items:
        for annotation in annotation_set:
            if statuses is not None and annotation.status not in statuses:
                continue
            if sources is not None and annotation.source not in sources:
                continue
            row = annotation.to_row(video_name, annotation_set.fps)
            rows.append({column: row[column] for column in INTERVAL_COLUMNS})
    write_intervals_csv(path, rows)
    return len(rows)


def project_annotation_sets(project: Project, *, open_video: ProjectVideo | None = None,
                            open_annotations: AnnotationSet | None = None,
                            on_warning: Callable[[str], None] | None = None
                            ) -> list[tuple[ProjectVideo, AnnotationSet]]:
    """Every video of ``project`` that has annotations, with its saved set (videos in project
    order; ``n_frames``/``fps`` from the video itself).

    ``open_video``/``open_annotations``: the open video and its in-memory set, used instead of
    its saved file (unsaved edits are exported too). Problems (a damaged row, an unreadable
    file, a video that no longer opens: its intervals are kept with unknown fps) go to
    ``on_warning`` and never stop the export. Opens each annotated video once: run it off the
    GUI thread for big projects.
    """
    warn = on_warning or (lambda _message: None)
    found = []
    for video in project.videos():
        if open_video is not None and open_annotations is not None and video.key == open_video.key:
            found.append((video, open_annotations))
            continue
        path = project.annotations_path(video)
        if not path.is_file():
            continue
        n_frames, fps = _video_length(video, warn)
        try:
            annotations, warnings = load_annotations(path, video=video.name, n_frames=n_frames,
                                                     fps=fps)
        except AnnotationFileError as error:
            warn(f"{error}: this video is left out")
            continue
        for message in warnings:
            warn(message)
        if len(annotations):
            found.append((video, annotations))
    return found


def _video_length(video: ProjectVideo, warn: Callable[[str], None]) -> tuple[int, float]:
    """``(n_frames, fps)`` of a project video; ``(0, nan)`` (reported) if it does not open."""
    try:
        with open_source(video.path) as source:
            return int(source.n_frames), float(source.fps)
    except VideoError as error:
        warn(f"{video.path}: cannot open this video ({error.problem}): its intervals are "
             f"exported without times in seconds")
        return 0, math.nan


def curve_columns(result: AnalysisResult) -> list[str]:
    """The header of :func:`export_curves_csv` for ``result``."""
    columns = ["frame_idx", "t_s", "face_valid", "spot", "spot_smoothed"]
    if result.curves.recog is not None:
        columns += [f"prob_{name}" for name in _class_names(result)]
    columns += list(result.traces.channel_names)
    if result.traces.eye_openness is not None:
        columns.append("eye_openness")
    return columns


def _class_names(result: AnalysisResult) -> list[str]:
    recog = result.curves.recog
    names = list(result.curves.class_names)
    n_classes = 0 if recog is None else recog.shape[1]
    return names if len(names) == n_classes else [f"class{i}" for i in range(n_classes)]


def export_curves_csv(result: AnalysisResult, path: str | os.PathLike[str]) -> Path:
    """Write one row per frame of ``result`` (columns: :func:`curve_columns`); returns ``path``.

    ``spot_smoothed`` is the curve the threshold is applied to (the box smoothing with the
    result's ``k_p``). Values keep 7 significant digits; NaN (no face) is an empty cell. The
    header goes through the csv module; the numeric rows need no quoting and are formatted a
    block at a time (108,000 frames × 46 columns: 1-3 s): run it off the GUI thread.
    """
    path = Path(path)
    spot = np.asarray(result.curves.spot, dtype=np.float64)  # (T,)
    n_frames = spot.shape[0]
    if n_frames != result.traces.n_frames or not result.fps > 0:
        raise ValueError(f"{result.video}: cannot export curves of {n_frames} frames with traces "
                         f"of {result.traces.n_frames} frames at {result.fps} fps")
    k_p = result.postprocess.resolve_k_p(result.fps)
    smoothed = smooth_curve(np.nan_to_num(spot), k_p) if n_frames else spot  # (T,)
    values = [spot[:, None], smoothed[:, None]]  # each (T, K)
    if result.curves.recog is not None:
        values.append(np.asarray(result.curves.recog, dtype=np.float64))  # (T, E+1)
    values.append(np.asarray(result.traces.values, dtype=np.float64).T)  # (T, C)
    if result.traces.eye_openness is not None:
        values.append(np.asarray(result.traces.eye_openness, dtype=np.float64)[:, None])
    table = np.concatenate(values, axis=1)  # (T, K)
    frame_idx = np.arange(n_frames)
    t_s = np.round(frame_idx / result.fps, 4)
    valid = np.asarray(result.traces.valid, dtype=np.float64)
    rows = np.column_stack([frame_idx, t_s, valid, table])  # (T, 3 + K)
    row_format = "%d,%.10g,%d" + f",%.{CURVE_DIGITS}g" * table.shape[1] + "\n"
    has_nan = bool(np.isnan(table).any())
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as stream:
        csv.writer(stream, lineterminator="\n").writerow(curve_columns(result))
        for start in range(0, n_frames, _ROWS_PER_WRITE):
            text = "".join(row_format % tuple(row)
                           for row in rows[start:start + _ROWS_PER_WRITE].tolist())
            stream.write(_NAN_CELL.sub("", text) if has_nan else text)
    return path

"""``metst evaluate``: score predicted intervals against ground truth the MEGC way.

Both sides are interval CSVs in the app's columns (:data:`core.intervals_csv.INTERVAL_COLUMNS`;
only ``onset_frame`` and ``offset_frame`` are required) — a file, or a folder searched for
``intervals.csv`` (what ``metst analyze`` writes per video) and ``<video>.intervals.csv`` (a
project). The ground truth may also be a dataset, ``KIND:ROOT[:LABEL_FILE,...]`` (kinds as in
``metst train``; its micro-expressions are the ground truth). Rows with status ``rejected`` are
left out. A row's video is its ``video`` cell (extension dropped), else its file's name; a
prediction's video is matched to a ground-truth video by that name, or by ``subject/video``.
Emotions are mapped to the classes (``--emotions``; raw labels such as "happy" are accepted);
a label outside the classes counts as missing.
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

from core.atomic import atomic_write_text
from core.datasets.project import VIDEO_EXTENSIONS
from core.metrics import MATCH_METHODS, EvalInterval, EvaluationReport, evaluate
from training.data import DATA_KINDS, DataSpec, load_dataset
from training.labels import EMOTION_MAPPINGS, LabelConfig, is_micro

__all__ = ["add_parser", "run", "read_intervals", "summary_lines"]

_INTERVALS_FILE = "intervals.csv"
_INTERVALS_SUFFIX = ".intervals.csv"
_FRAME = re.compile(r"\d+(?:\.0*)?")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="score predicted intervals against ground truth",
                       description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--predictions", required=True, metavar="CSV|DIR",
                   help="predicted intervals: a CSV or a folder of them")
    p.add_argument("--ground-truth", required=True, metavar="CSV|DIR|KIND:ROOT[:LABELS]",
                   help="ground-truth intervals: a CSV, a folder, or a dataset "
                        f"({', '.join(DATA_KINDS)})")
    p.add_argument("--iou", type=float, default=0.5, help="IoU threshold (default 0.5)")
    p.add_argument("--method", choices=MATCH_METHODS, default="greedy",
                   help="one-to-one matching (default greedy)")
    p.add_argument("--emotions", choices=sorted(EMOTION_MAPPINGS), default="4-class",
                   help="maps raw emotion labels to classes (default 4-class)")
    p.add_argument("--classes", nargs="+", metavar="CLASS",
                   help="recognition classes (default: the --emotions classes)")
    p.add_argument("--json", type=Path, metavar="OUT", help="write the full report as JSON")


def run(args: argparse.Namespace) -> int:
    try:
        labels = LabelConfig(emotions=args.emotions)
        classes = tuple(args.classes) if args.classes else labels.mapping.classes
        ground_truth = _ground_truth(args.ground_truth, labels, classes)
        predictions = _with_known_videos(
            _relabelled(read_intervals(_csv_files(args.predictions)), labels, classes),
            ground_truth)
        report = evaluate(predictions, ground_truth, class_names=classes,
                          iou_threshold=args.iou, method=args.method)
        if args.json is not None:
            atomic_write_text(args.json, report.to_json() + "\n")
    except (ValueError, OSError) as error:
        print(f"error: {' '.join(str(error).split())}", file=sys.stderr, flush=True)
        return 1
    for line in summary_lines(report):
        print(line)
    return 0


# ---------------------------------------------------------------------------- reading CSVs


def _csv_files(location: str) -> list[Path]:
    """The interval CSVs a ``--predictions`` / ``--ground-truth`` argument names."""
    path = Path(location)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise ValueError(f"{path}: no such file or folder")
    files = sorted(p for p in path.rglob("*.csv")
                   if p.name == _INTERVALS_FILE or p.name.endswith(_INTERVALS_SUFFIX))
    if not files:
        raise ValueError(f"{path}: no {_INTERVALS_FILE} or *{_INTERVALS_SUFFIX} files in it")
    return files


def _video_name(text: str) -> str:
    """A video cell or file name without its video extension ('clip.mp4' → 'clip')."""
    path = Path(text.strip())
    return path.stem if path.suffix.lower() in VIDEO_EXTENSIONS else text.strip()


def _file_video(path: Path) -> str:
    """The video a CSV belongs to by its name (``<video>.intervals.csv``,
    ``<video>/intervals.csv``)."""
    if path.name.endswith(_INTERVALS_SUFFIX):
        return path.name[: -len(_INTERVALS_SUFFIX)]
    return path.parent.name if path.name == _INTERVALS_FILE else path.stem


def _frame(cell: str, column: str, where: str) -> int:
    text = cell.strip()
    if text.startswith("'"):
        text = text[1:]
    if not _FRAME.fullmatch(text):
        raise ValueError(f"{where}: {column} {cell!r} is not a frame number (0 or more)")
    return int(float(text))


def read_intervals(files: Iterable[Path]) -> list[EvalInterval]:
    """Every non-rejected row of the CSVs as an :class:`EvalInterval` (label = raw emotion).

    Raises ValueError naming the file (and row) of an unreadable file, a missing column or a
    cell that is not a frame number.
    """
    intervals = []
    for path in files:
        try:
            with open(path, newline="", encoding="utf-8-sig") as stream:
                reader = csv.DictReader(stream)
                header = [name.strip().lower() for name in reader.fieldnames or []]
                rows = list(reader)
        except (OSError, UnicodeDecodeError, csv.Error) as error:
            raise ValueError(f"{path}: cannot read this CSV ({error})") from None
        if not {"onset_frame", "offset_frame"} <= set(header):
            raise ValueError(f"{path}: not an interval CSV (it needs the columns onset_frame "
                             f"and offset_frame; the header is {header})")
        for row_number, raw in enumerate(rows, start=2):
            row = {str(k).strip().lower(): (v or "") for k, v in raw.items() if k is not None}
            if row.get("status", "").strip().lower() == "rejected":
                continue
            intervals.append(_row_interval(row, path, row_number))
    return intervals


def _row_interval(row: dict[str, str], path: Path, row_number: int) -> EvalInterval:
    where = f"{path}, row {row_number}"
    onset = _frame(row["onset_frame"], "onset_frame", where)
    offset = _frame(row["offset_frame"], "offset_frame", where)
    apex = row.get("apex_frame", "").strip()
    if offset < onset:
        raise ValueError(f"{where}: offset_frame {offset} is before onset_frame {onset}")
    video = _video_name(row.get("video", "")) or _file_video(path)
    label = row.get("emotion", "").strip().lstrip("'") or None
    return EvalInterval(video, onset, offset, label, "",
                        _frame(apex, "apex_frame", where) if apex else None)


# ----------------------------------------------------------------------------- ground truth


def _ground_truth(location: str, labels: LabelConfig,
                  classes: Sequence[str]) -> list[EvalInterval]:
    kind, sep, _rest = location.partition(":")
    if sep and kind in DATA_KINDS and not Path(location).exists():
        return _dataset_ground_truth(DataSpec.parse(location), labels, classes)
    if sep and len(kind) > 1 and not Path(location).exists():
        raise ValueError(f"{location}: unknown data kind {kind!r} (expected one of "
                         f"{', '.join(DATA_KINDS)}), and no such file or folder")
    return _relabelled(read_intervals(_csv_files(location)), labels, classes)


def _dataset_ground_truth(spec: DataSpec, labels: LabelConfig,
                          classes: Sequence[str]) -> list[EvalInterval]:
    dataset = load_dataset(spec)
    intervals = [EvalInterval(f"{video.subject}/{video.video}", i.onset_frame, i.offset_frame,
                              i.emotion or None, video.subject, i.apex_frame)
                 for video in dataset.videos for i in video.intervals
                 if is_micro(i, labels.macro_policy)]
    return _relabelled(intervals, labels, classes)


def _class_of(label: str | None, labels: LabelConfig, classes: Sequence[str]) -> str | None:
    """A class name for a raw or class label (None when it maps outside the classes)."""
    if label is None:
        return None
    text = label.strip().lower()
    if text in classes:
        return text
    mapped = labels.mapping.map(text)
    return mapped if mapped in classes else None


def _relabelled(intervals: Iterable[EvalInterval], labels: LabelConfig,
                classes: Sequence[str]) -> list[EvalInterval]:
    return [EvalInterval(i.video, i.onset_frame, i.offset_frame,
                         _class_of(i.label, labels, classes), i.subject, i.apex_frame)
            for i in intervals]


def _with_known_videos(predictions: Sequence[EvalInterval],
                       ground_truth: Sequence[EvalInterval]) -> list[EvalInterval]:
    """Predictions with their video renamed to the ground truth's id when it is known by
    its bare name (``subject/video`` ids of datasets; a name that two subjects share is
    left as it is)."""
    by_name: dict[str, set[str]] = {}
    for interval in ground_truth:
        by_name.setdefault(interval.video, set()).add(interval.video)
        by_name.setdefault(interval.video.rpartition("/")[2], set()).add(interval.video)
    renamed = []
    for interval in predictions:
        known = by_name.get(interval.video, set())
        video = next(iter(known)) if len(known) == 1 else interval.video
        renamed.append(EvalInterval(video, interval.onset_frame, interval.offset_frame,
                                    interval.label, interval.subject, interval.apex_frame))
    return renamed


# ---------------------------------------------------------------------------------- output


def summary_lines(report: EvaluationReport) -> list[str]:
    """The spotting and recognition summary as a small text table."""
    s, r = report.spotting, report.recognition
    settings = report.settings
    return [
        f"{report.n_predictions} predictions, {report.n_ground_truth} ground-truth intervals, "
        f"{len(report.per_video)} videos (IoU >= {settings.iou_threshold:g}, "
        f"{settings.method} matching)",
        "",
        f"{'spotting':<12} {'TP':>5} {'FP':>5} {'FN':>5} {'precision':>10} {'recall':>8} "
        f"{'F1':>8}",
        f"{'':<12} {s.tp:>5} {s.fp:>5} {s.fn:>5} {s.precision:>10.4f} {s.recall:>8.4f} "
        f"{s.f1:>8.4f}",
        "",
        f"{'recognition':<12} {'pairs':>5} {'UF1':>8} {'UAR':>8} {'F1':>8} {'STRS':>8}",
        f"{'':<12} {r.n_pairs:>5} {r.uf1:>8.4f} {r.uar:>8.4f} {r.f1_recog:>8.4f} "
        f"{report.strs:>8.4f}",
    ]

"""Datasets → training samples: each video's flow traces (cached in the store) and intervals.

:class:`DataSpec` names a dataset as the command line does (``casme3``, ``samm_lv``,
``project``, ``synthetic`` with a root and label files); :func:`load_dataset` reads it:

- ``casme3``: ``labels`` = the ME label sheet, then optionally ``CAS(ME)3_part_A_v2.xls`` (all
  expressions; needed for macro-expressions) and ``error_info_damaged_image_partA.txt``;
- ``samm_lv``: ``labels`` = the long-video sheet, then optionally the micro FACS sheet
  (emotions);
- ``project``: an app project folder; ONLY the intervals a human made, accepted or edited are
  used (``load_project(reviewed_only=True)``): proposals and rejected rows are left out, and so
  are the videos nobody reviewed yet (their expressions would be taught as background);
- ``synthetic``: a folder written by ``metst synth`` (a project with ``synth.json``).

:func:`load_samples` extracts every video's traces once (or finds them in the
:class:`~core.store.FeatureStore`) and returns :class:`VideoSample` records; videos without
frames are skipped and reported. :func:`combine` joins datasets, prefixing the subjects of the
extra ones with their kind when a name is taken (``samm_lv:006``), so LOSO folds stay apart.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from core.datasets.base import Dataset, DatasetVideo, DatasetWarning, LabeledInterval
from core.datasets.casme3 import load_casme3
from core.datasets.project import load_project
from core.datasets.samm_lv import load_samm_lv
from core.flow import FlowConfig, extract_flow
from core.progress import CancelToken, Progress, ProgressCallback, report
from core.store import FeatureStore
from core.synth import MANIFEST_NAME
from core.traces import FlowTraces
from training.labels import FrameLabels, LabelConfig, frame_labels, is_micro
from training.sequences import LabeledSequence

__all__ = ["DATA_KINDS", "DataSpec", "VideoSample", "load_dataset", "combine", "load_samples",
           "to_sequences", "dataset_summary", "fps_of"]

DATA_KINDS = ("casme3", "samm_lv", "project", "synthetic")


@dataclass(frozen=True)
class DataSpec:
    """One dataset to train on.

    Attributes:
        kind: one of :data:`DATA_KINDS`.
        root: the frames / project folder.
        labels: label files (casme3 and samm_lv; see the module docstring), in order.
    """

    kind: str
    root: Path
    labels: tuple[Path, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in DATA_KINDS:
            raise ValueError(f"unknown data kind {self.kind!r}; expected one of "
                             f"{', '.join(DATA_KINDS)}")
        object.__setattr__(self, "root", Path(self.root))
        object.__setattr__(self, "labels", tuple(Path(p) for p in self.labels))

    @classmethod
    def parse(cls, text: str) -> DataSpec:
        """``KIND:ROOT[:LABEL_FILE,...]`` (as ``--include-dataset`` takes it) → a DataSpec."""
        kind, sep, rest = text.partition(":")
        if not sep or not rest:
            raise ValueError(f"expected KIND:ROOT[:LABELS,...], got {text!r}")
        root, _, labels = rest.partition(":")
        return cls(kind, Path(root), tuple(Path(p) for p in labels.split(",") if p))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "root": str(self.root),
                "labels": [str(path) for path in self.labels]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DataSpec:
        return cls(str(data["kind"]), Path(data["root"]),
                   tuple(Path(p) for p in data.get("labels", ())))


@dataclass(frozen=True)
class VideoSample:
    """One video ready for training: its traces and labelled intervals.

    Attributes:
        subject: the LOSO unit.
        video: the video's name in its dataset.
        path: the video file or frame folder.
        traces: (C, T) ROI flow.
        intervals: every labelled interval (micro and macro).
        dataset: the name of the dataset it came from.
    """

    subject: str
    video: str
    path: Path
    traces: FlowTraces
    intervals: tuple[LabeledInterval, ...]
    dataset: str

    @property
    def key(self) -> str:
        """``subject/video``: unique among the samples (the metrics' video id)."""
        return f"{self.subject}/{self.video}"

    @property
    def fps(self) -> float:
        return self.traces.fps

    @property
    def n_frames(self) -> int:
        return self.traces.n_frames

    def labels(self, config: LabelConfig) -> FrameLabels:
        """Per-frame targets (invalid trace frames masked)."""
        return frame_labels(self.intervals, self.n_frames, config, valid=self.traces.valid)

    def expressions(self, macro_policy: str) -> list[LabeledInterval]:
        """The intervals labelled as expressions (micro; macro too with policy "expression")."""
        return [i for i in self.intervals if is_micro(i, macro_policy)]


def load_dataset(spec: DataSpec, *, include_macro: bool = False) -> Dataset:
    """Read one dataset (see the module docstring); a bad root or label file raises ValueError."""
    if spec.kind in ("project", "synthetic"):
        if spec.kind == "synthetic" and not (spec.root / MANIFEST_NAME).is_file():
            raise ValueError(f"{spec.root}: not a synthetic dataset (no {MANIFEST_NAME}; make "
                             f"one with 'metst synth', or use --data project)")
        return load_project(spec.root, reviewed_only=True,
                            reviewed_videos_only=spec.kind == "project")
    if not spec.root.is_dir():
        raise ValueError(f"{spec.root}: no such folder (the {spec.kind} frames root)")
    if not spec.labels:
        raise ValueError(f"--data {spec.kind} needs its label file(s) (--labels FILE ...)")
    sheets = [path for path in spec.labels if path.suffix.lower() != ".txt"]
    damaged = next((path for path in spec.labels if path.suffix.lower() == ".txt"), None)
    if not sheets:
        raise ValueError(f"--data {spec.kind}: the label sheet (.xlsx or .xls) is missing from "
                         f"--labels")
    if spec.kind == "casme3":
        extra = sheets[1] if len(sheets) > 1 else None
        return load_casme3(spec.root, sheets[0], all_expressions_file=extra,
                           damaged_file=damaged, include_macro=include_macro and extra is not None)
    return load_samm_lv(spec.root, sheets[0], facs_file=sheets[1] if len(sheets) > 1 else None,
                        include_macro=include_macro)


def combine(datasets: Sequence[tuple[str, Dataset]]) -> Dataset:
    """One dataset of several ``(kind, dataset)``; a subject name already taken by an earlier
    dataset is prefixed with ``<kind>:`` (in its videos and intervals)."""
    if len(datasets) == 1:
        return datasets[0][1]
    taken: set[str] = set()
    videos: list[DatasetVideo] = []
    warnings: list[DatasetWarning] = []
    for kind, dataset in datasets:
        subjects = set(dataset.subjects)
        rename = {s: f"{kind}:{s}" if s in taken else s for s in subjects}
        for video in dataset.videos:
            subject = rename[video.subject]
            intervals = [replace(i, subject=subject) for i in video.intervals]
            videos.append(replace(video, subject=subject, intervals=intervals))
        warnings += dataset.warnings
        taken |= set(rename.values())
    return Dataset(" + ".join(d.name for _, d in datasets), videos, warnings)


def load_samples(dataset: Dataset, flow_config: FlowConfig, store: FeatureStore, *,
                 workers: int = 1, progress: ProgressCallback | None = None,
                 cancel: CancelToken | None = None,
                 on_skip: Callable[[str], None] | None = None) -> list[VideoSample]:
    """Every video of ``dataset`` with its traces, extracted once and cached in ``store``.

    Reports stage ``"features"`` per video (``done``/``total`` videos, message = the video) and
    stage ``"flow"`` per frame while extracting. Videos without frames, or whose extraction
    fails (no face, unreadable), are passed to ``on_skip`` with the reason and left out.
    """
    samples = []
    videos = dataset.videos
    for done, video in enumerate(videos):
        report(progress, "features", done, len(videos), f"{video.subject}/{video.video}")
        if video.path is None:
            _skip(on_skip, f"{video.subject}/{video.video}: no frames, skipped")
            continue
        try:
            traces = _traces(video, flow_config, store, workers, progress, cancel)
        except (ValueError, OSError) as error:      # VideoError, NoFaceError, StoreError …
            _skip(on_skip, f"{video.subject}/{video.video}: {' '.join(str(error).split())}")
            continue
        samples.append(VideoSample(video.subject, video.video, Path(video.path), traces,
                                   tuple(video.intervals), dataset.name))
    report(progress, "features", len(videos), len(videos))
    return samples


def _skip(on_skip: Callable[[str], None] | None, message: str) -> None:
    if on_skip is not None:
        on_skip(message)


def _traces(video: DatasetVideo, flow_config: FlowConfig, store: FeatureStore, workers: int,
            progress: ProgressCallback | None, cancel: CancelToken | None) -> FlowTraces:
    """The video's traces from the store, else extracted and stored."""
    path = Path(video.path)  # type: ignore[arg-type]
    entry = store.find(path, flow_config)
    if entry is not None:
        return entry.traces
    name = f"{video.subject}/{video.video}"

    def frames_done(p: Progress) -> None:
        report(progress, p.stage, p.done, p.total, name)

    with video.open() as source:
        extraction = extract_flow(source, flow_config, workers=workers, progress=frames_done,
                                  cancel=cancel)
    store.save(path, extraction)
    return extraction.traces


def to_sequences(samples: Sequence[VideoSample], config: LabelConfig) -> list[LabeledSequence]:
    """Traces and per-frame targets of each sample, for :mod:`training.sequences`."""
    return [LabeledSequence(np.ascontiguousarray(s.traces.values, dtype=np.float32),
                            s.labels(config), s.fps, s.traces.channel_names) for s in samples]


def dataset_summary(samples: Sequence[VideoSample], macro_policy: str) -> dict[str, Any]:
    """What a model was trained on: datasets, subjects, #videos, #intervals (for checkpoints)."""
    return {
        "datasets": sorted({s.dataset for s in samples}),
        "subjects": sorted({s.subject for s in samples}),
        "n_videos": len(samples),
        "n_intervals": sum(len(s.expressions(macro_policy)) for s in samples),
        "n_frames": sum(s.n_frames for s in samples),
    }


def fps_of(samples: Sequence[VideoSample]) -> float:
    """The most common frame rate of the samples (the one a checkpoint records)."""
    if not samples:
        raise ValueError("no video samples")
    values, counts = np.unique([round(s.fps, 3) for s in samples], return_counts=True)
    return float(values[np.argmax(counts)])

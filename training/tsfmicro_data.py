"""TSFmicro training data: aligned (onset, apex) face-crop pairs of labelled micro-expressions.

:func:`build_pairs` turns a :class:`~core.datasets.base.Dataset` into a :class:`PairSet`: for
every micro-expression interval whose emotion the mapping keeps, the onset and apex frames are
cropped with ONE affine — the normalised face crop (:mod:`core.face_crop`) of the landmarks found
at the onset — so the two crops are pixel-aligned and ``apex − onset`` shows the facial motion
(the same crop ``metst recognize`` feeds the model). Crops are stored ``margin_px`` larger than
the face crop on every side, so training can take random crops (small translations) around it;
the central ``image_size`` square is exactly the inference crop. Intervals whose onset frame shows
no face, whose frames are missing, or whose video cannot be read are skipped and listed.

:func:`random_views` and :func:`center_views` cut the model-sized views out of the stored crops:
random ones (the same translation, flip and brightness for onset and apex) for training, the
central one for validation and evaluation.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from core.atomic import atomic_path
from core.datasets.base import Dataset, DatasetError, DatasetVideo, LabeledInterval
from core.datasets.emotions import FOUR_CLASS, THREE_CLASS, EmotionMapping
from core.face import FaceTracker
from core.face_crop import crop_affine, warp_to_crop
from core.progress import CancelToken, ProgressCallback, report
from core.video import FrameSource, VideoError

__all__ = [
    "DEFAULT_CROP_JITTER",
    "MAPPINGS",
    "SkippedInterval",
    "PairSet",
    "resolve_mapping",
    "margin_for",
    "build_pairs",
    "center_views",
    "random_views",
]

#: Default random translation (fraction of the face crop side), also the stored crop margin.
DEFAULT_CROP_JITTER = 0.0625
#: Emotion mappings by name; "three_class" (negative, positive, surprise) is TSFmicro's default.
MAPPINGS: dict[str, EmotionMapping] = {
    "three_class": THREE_CLASS, THREE_CLASS.name: THREE_CLASS,
    "four_class": FOUR_CLASS, FOUR_CLASS.name: FOUR_CLASS,
}
_CACHE_VERSION = 1  # bump when the crops change for the same inputs
_STAGE = "tsfmicro-pairs"
_NO_FACE = "no face at the onset frame"


@dataclass(frozen=True)
class SkippedInterval:
    """A labelled interval left out of a :class:`PairSet`, and why (``reason``)."""

    subject: str
    video: str
    onset_frame: int
    reason: str


@dataclass(frozen=True, eq=False)
class PairSet:
    """N aligned (onset, apex) crop pairs with their labels.

    Attributes:
        onset, apex: (N, S', S', 3) uint8 BGR crops, S' = ``image_size + 2 * margin_px``.
        labels: (N,) int64 class index into ``class_names``.
        subjects, videos: (N,) str, where each pair comes from.
        onset_frames, apex_frames: (N,) int64 0-based frame indices.
        class_names: the classes, in label order.
        image_size: side of the aligned face crop at the centre of each stored crop.
        fps: frame rate of the source videos (their median; recorded in checkpoints).
        dataset_name: the dataset the pairs came from.
        skipped: intervals that were left out, with the reason.
    """

    onset: np.ndarray
    apex: np.ndarray
    labels: np.ndarray
    subjects: np.ndarray
    videos: np.ndarray
    onset_frames: np.ndarray
    apex_frames: np.ndarray
    class_names: tuple[str, ...]
    image_size: int
    fps: float = 30.0
    dataset_name: str = ""
    skipped: tuple[SkippedInterval, ...] = field(default=())

    def __post_init__(self) -> None:
        n_pairs = len(self.labels)
        crops = np.asarray(self.onset)
        if (crops.dtype != np.uint8 or crops.ndim != 4 or crops.shape[0] != n_pairs
                or crops.shape[1] != crops.shape[2] or crops.shape[3] != 3):
            raise ValueError(f"onset must be (N, S', S', 3) uint8 with N = {n_pairs} labels, "
                             f"got {crops.dtype} {crops.shape}")
        if np.asarray(self.apex).shape != crops.shape or np.asarray(self.apex).dtype != np.uint8:
            raise ValueError(f"apex must match onset {crops.shape} uint8, got "
                             f"{np.asarray(self.apex).dtype} {np.asarray(self.apex).shape}")
        for name in ("subjects", "videos", "onset_frames", "apex_frames"):
            shape = np.shape(getattr(self, name))
            if shape != (n_pairs,):
                raise ValueError(f"{name} must be ({n_pairs},), got {shape}")
        labels = np.asarray(self.labels, dtype=np.int64)
        if n_pairs and not (0 <= labels.min() and labels.max() < len(self.class_names)):
            raise ValueError(f"labels must index class_names {list(self.class_names)}")
        if not 0 < self.image_size <= crops.shape[1]:
            raise ValueError(f"image_size {self.image_size} must lie in [1, crop side "
                             f"{crops.shape[1]}]")
        object.__setattr__(self, "labels", labels)
        object.__setattr__(self, "subjects", np.asarray(self.subjects, dtype=str))
        object.__setattr__(self, "videos", np.asarray(self.videos, dtype=str))
        object.__setattr__(self, "onset_frames", np.asarray(self.onset_frames, dtype=np.int64))
        object.__setattr__(self, "apex_frames", np.asarray(self.apex_frames, dtype=np.int64))
        object.__setattr__(self, "class_names", tuple(self.class_names))
        object.__setattr__(self, "skipped", tuple(self.skipped))

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def crop_size(self) -> int:
        """S', the side of the stored crops."""
        return int(self.onset.shape[1])

    @property
    def margin_px(self) -> int:
        """Pixels of context around the central ``image_size`` face crop (left/top side)."""
        return (self.crop_size - self.image_size) // 2

    @property
    def keys(self) -> list[tuple[str, int]]:
        """``(video, onset_frame)`` of every pair."""
        return [(str(video), int(onset))
                for video, onset in zip(self.videos, self.onset_frames, strict=True)]

    @property
    def subject_names(self) -> list[str]:
        """Subjects that have pairs, unique, in first-seen order."""
        return list(dict.fromkeys(str(subject) for subject in self.subjects))

    @property
    def n_no_face(self) -> int:
        """Intervals skipped because their onset frame shows no face."""
        return sum(skip.reason == _NO_FACE for skip in self.skipped)

    def skipped_counts(self) -> dict[str, int]:
        """Number of skipped intervals per reason."""
        return dict(Counter(skip.reason for skip in self.skipped))

    def class_counts(self, indices: Sequence[int] | np.ndarray | None = None) -> dict[str, int]:
        """Pairs per class (all, or those at ``indices``), every class listed."""
        labels = self.labels if indices is None else self.labels[np.asarray(indices, dtype=int)]
        counts = np.bincount(labels, minlength=len(self.class_names))
        return {name: int(count) for name, count in zip(self.class_names, counts, strict=True)}

    def indices_of(self, subjects: Iterable[str]) -> np.ndarray:
        """(n,) int64 indices of the pairs of ``subjects``, in pair order."""
        return np.flatnonzero(np.isin(self.subjects, list(subjects))).astype(np.int64)

    def select(self, indices: Sequence[int] | np.ndarray) -> PairSet:
        """The pairs at ``indices`` (a new PairSet; ``skipped`` is kept)."""
        idx = np.asarray(indices, dtype=np.int64)
        return PairSet(self.onset[idx], self.apex[idx], self.labels[idx], self.subjects[idx],
                       self.videos[idx], self.onset_frames[idx], self.apex_frames[idx],
                       self.class_names, self.image_size, self.fps, self.dataset_name,
                       self.skipped)

    def save(self, path: Path, fingerprint: str = "") -> None:
        """Write the pairs to an uncompressed ``.npz`` atomically (no pickled objects)."""
        skipped = self.skipped
        arrays = {
            "onset": self.onset, "apex": self.apex, "labels": self.labels,
            "subjects": self.subjects, "videos": self.videos,
            "onset_frames": self.onset_frames, "apex_frames": self.apex_frames,
            "class_names": np.asarray(self.class_names, dtype=str),
            "image_size": np.int64(self.image_size), "fps": np.float64(self.fps),
            "dataset_name": np.asarray(self.dataset_name), "fingerprint": np.asarray(fingerprint),
            "skipped_subjects": np.asarray([s.subject for s in skipped], dtype=str),
            "skipped_videos": np.asarray([s.video for s in skipped], dtype=str),
            "skipped_onsets": np.asarray([s.onset_frame for s in skipped], dtype=np.int64),
            "skipped_reasons": np.asarray([s.reason for s in skipped], dtype=str),
        }
        with atomic_path(Path(path)) as tmp, open(tmp, "wb") as file:
            np.savez(file, **arrays)

    @classmethod
    def load(cls, path: Path) -> PairSet:
        """Read a file written by :meth:`save`; ValueError if it is not one."""
        data = _read_npz(Path(path))
        skipped = tuple(
            SkippedInterval(str(subject), str(video), int(onset), str(reason))
            for subject, video, onset, reason in zip(
                data["skipped_subjects"], data["skipped_videos"], data["skipped_onsets"],
                data["skipped_reasons"], strict=True))
        return cls(data["onset"], data["apex"], data["labels"], data["subjects"], data["videos"],
                   data["onset_frames"], data["apex_frames"],
                   tuple(str(name) for name in data["class_names"]), int(data["image_size"]),
                   float(data["fps"]), str(data["dataset_name"]), skipped)


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {key: npz[key] for key in npz.files}
    except (OSError, ValueError, EOFError) as exc:
        raise ValueError(f"{path}: not a TSFmicro pair file ({exc})") from exc


def resolve_mapping(mapping: str | EmotionMapping) -> EmotionMapping:
    """An :class:`EmotionMapping` itself, or one of :data:`MAPPINGS` by name."""
    if isinstance(mapping, EmotionMapping):
        return mapping
    if mapping not in MAPPINGS:
        raise ValueError(f"unknown emotion mapping {mapping!r}; known: {sorted(MAPPINGS)}")
    return MAPPINGS[mapping]


def margin_for(image_size: int, crop_jitter: float = DEFAULT_CROP_JITTER) -> int:
    """Stored context (pixels per side) for random translations up to ``crop_jitter`` × side."""
    return round(crop_jitter * image_size)


# --- building --------------------------------------------------------------------------------


@dataclass
class _Collected:
    """Pairs gathered so far (lists, stacked at the end)."""

    onset: list[np.ndarray] = field(default_factory=list)
    apex: list[np.ndarray] = field(default_factory=list)
    rows: list[tuple[int, str, str, int, int]] = field(default_factory=list)
    skipped: list[SkippedInterval] = field(default_factory=list)


def _wanted_intervals(video: DatasetVideo,
                      mapping: EmotionMapping) -> list[tuple[LabeledInterval, int]]:
    """(interval, class index) of a video's micro-expressions the mapping keeps, by onset."""
    wanted = []
    for interval in video.intervals:
        class_idx = mapping.class_index(interval.emotion)
        if interval.expression_type == "micro" and class_idx is not None:
            wanted.append((interval, class_idx))
    return sorted(wanted, key=lambda item: (item[0].onset_frame, item[0].apex_frame))


def _fingerprint(dataset: Dataset, mapping: EmotionMapping, image_size: int,
                 margin_px: int) -> str:
    """Hash of everything the pairs depend on (videos, intervals, mapping, crop geometry)."""
    videos = [[video.subject, video.video, str(video.path), video.fps,
               list(video.damaged_frames),
               [[i.onset_frame, i.apex_frame, i.emotion, i.expression_type]
                for i in video.intervals]]
              for video in dataset.videos]
    description = {"version": _CACHE_VERSION, "dataset": dataset.name, "videos": videos,
                   "mapping": mapping.to_dict(), "image_size": image_size, "margin": margin_px}
    return hashlib.sha256(json.dumps(description, sort_keys=True).encode()).hexdigest()


def _crop_pair(source: FrameSource, interval: LabeledInterval, image_size: int,
               margin_px: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Onset and apex crops ``(S', S', 3) uint8`` with the onset's affine; None without a face."""
    observation = FaceTracker().update(source.read_gray(interval.onset_frame))
    if observation is None:
        return None
    affine = crop_affine(observation.landmarks, image_size)
    affine[:, 2] += margin_px  # the face crop sits margin_px in from each side
    crop_size = image_size + 2 * margin_px
    return (warp_to_crop(source.read(interval.onset_frame), affine, crop_size),
            warp_to_crop(source.read(interval.apex_frame), affine, crop_size))


class _ProgressTick:
    """Counts intervals done, reporting each and checking for cancellation first."""

    def __init__(self, total: int, progress: ProgressCallback | None,
                 cancel: CancelToken | None) -> None:
        self.total, self.done = total, 0
        self.progress, self.cancel = progress, cancel

    def __call__(self) -> None:
        if self.cancel is not None:
            self.cancel.raise_if_cancelled()
        self.done += 1
        report(self.progress, _STAGE, self.done, self.total, "cropping onset and apex")


def _collect_video(video: DatasetVideo, wanted: list[tuple[LabeledInterval, int]],
                   image_size: int, margin_px: int, collected: _Collected,
                   tick: _ProgressTick) -> None:
    """Crop every wanted interval of one video into ``collected`` (or list it as skipped)."""
    def skip(interval: LabeledInterval, reason: str) -> None:
        collected.skipped.append(
            SkippedInterval(video.subject, video.video, interval.onset_frame, reason))

    try:
        source = video.open()
    except (DatasetError, VideoError, OSError) as exc:
        for interval, _ in wanted:
            skip(interval, f"video unreadable: {' '.join(str(exc).split())}")
            tick()
        return
    with source:
        for interval, class_idx in wanted:
            tick()
            if interval.apex_frame >= source.n_frames:
                skip(interval, f"apex frame beyond the video's {source.n_frames} frames")
                continue
            crops = _crop_pair(source, interval, image_size, margin_px)
            if crops is None:
                skip(interval, _NO_FACE)
                continue
            collected.onset.append(crops[0])
            collected.apex.append(crops[1])
            collected.rows.append((class_idx, video.subject, video.video, interval.onset_frame,
                                   interval.apex_frame))


def build_pairs(dataset: Dataset, mapping: str | EmotionMapping, image_size: int, *,
                margin_px: int | None = None, cache_path: Path | None = None,
                progress: ProgressCallback | None = None,
                cancel: CancelToken | None = None) -> PairSet:
    """Aligned (onset, apex) crop pairs of the dataset's mapped micro-expressions.

    Args:
        dataset: videos with labelled intervals; only ``micro`` intervals whose emotion
            ``mapping`` maps to a class are used.
        mapping: an :class:`EmotionMapping` or a name in :data:`MAPPINGS`.
        image_size: side of the aligned face crop (the model input size).
        margin_px: context kept around it on each side for random crops; default
            :func:`margin_for` ``(image_size)``.
        cache_path: an ``.npz`` to reuse when it was built from the same dataset, mapping and
            sizes, and to (re)write otherwise.
        progress: called per interval with stage ``"tsfmicro-pairs"``.
        cancel: checked per interval; raises :class:`~core.progress.Cancelled`.

    Returns:
        The pairs, ``(N, image_size + 2 margin_px, …, 3) uint8`` crops; skipped intervals (no
        face at the onset, frames missing, video unreadable) in ``PairSet.skipped``.
    """
    mapping = resolve_mapping(mapping)
    if image_size < 1:
        raise ValueError(f"image_size must be positive, got {image_size}")
    margin_px = margin_for(image_size) if margin_px is None else int(margin_px)
    if margin_px < 0:
        raise ValueError(f"margin_px must be >= 0, got {margin_px}")
    fingerprint = _fingerprint(dataset, mapping, image_size, margin_px)
    if cache_path is not None and Path(cache_path).is_file():
        cached = _cached_pairs(Path(cache_path), fingerprint)
        if cached is not None:
            report(progress, _STAGE, 1, 1, f"pairs loaded from {cache_path}")
            return cached
    per_video = [(video, _wanted_intervals(video, mapping)) for video in dataset.videos]
    tick = _ProgressTick(sum(len(wanted) for _, wanted in per_video), progress, cancel)
    collected = _Collected()
    for video, wanted in per_video:
        if wanted:
            _collect_video(video, wanted, image_size, margin_px, collected, tick)
    pairs = _stack(collected, mapping, image_size, margin_px, dataset)
    if cache_path is not None:
        pairs.save(Path(cache_path), fingerprint)
    return pairs


def _cached_pairs(path: Path, fingerprint: str) -> PairSet | None:
    """The pairs in ``path`` if its fingerprint matches, else None (also for a broken file)."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            if str(npz["fingerprint"]) != fingerprint:
                return None
        return PairSet.load(path)
    except (OSError, ValueError, KeyError, EOFError):
        return None


def _stack(collected: _Collected, mapping: EmotionMapping, image_size: int, margin_px: int,
           dataset: Dataset) -> PairSet:
    crop_size = image_size + 2 * margin_px
    empty = np.zeros((0, crop_size, crop_size, 3), np.uint8)
    onset = np.stack(collected.onset) if collected.onset else empty
    apex = np.stack(collected.apex) if collected.apex else empty.copy()
    rows = collected.rows
    fps_values = [video.fps for video in dataset.videos if video.fps > 0]
    return PairSet(
        onset, apex,
        labels=np.asarray([row[0] for row in rows], np.int64),
        subjects=np.asarray([row[1] for row in rows], str),
        videos=np.asarray([row[2] for row in rows], str),
        onset_frames=np.asarray([row[3] for row in rows], np.int64),
        apex_frames=np.asarray([row[4] for row in rows], np.int64),
        class_names=mapping.classes, image_size=image_size,
        fps=float(np.median(fps_values)) if fps_values else 30.0, dataset_name=dataset.name,
        skipped=tuple(collected.skipped))


# --- views for the model ---------------------------------------------------------------------


def _resize_views(views: np.ndarray, size: int) -> np.ndarray:
    """(B, s, s, 3) → (B, size, size, 3), resized like ``preprocess_pair`` when s ≠ size."""
    if views.shape[1] == size:
        return views
    interpolation = cv2.INTER_AREA if views.shape[1] > size else cv2.INTER_LINEAR
    return np.stack([cv2.resize(view, (size, size), interpolation=interpolation)
                     for view in views])


def center_views(pairs: PairSet, indices: Sequence[int] | np.ndarray,
                 size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The central face crops of the pairs at ``indices`` (the inference crop).

    Returns:
        onset, apex: (B, size, size, 3) uint8 BGR; ``size`` defaults to ``pairs.image_size``
        (another size resizes the face crop, like ``preprocess_pair``).
    """
    idx = np.asarray(indices, dtype=np.int64)
    start, side = pairs.margin_px, pairs.image_size
    window = np.s_[:, start:start + side, start:start + side]
    size = side if size is None else size
    return (_resize_views(pairs.onset[idx][window], size),
            _resize_views(pairs.apex[idx][window], size))


def random_views(pairs: PairSet, indices: Sequence[int] | np.ndarray, rng: np.random.Generator,
                 *, max_shift_px: int, flip: bool, brightness: float,
                 size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Augmented face crops of the pairs at ``indices``, the same augmentation for both frames.

    Each pair gets a random translation of up to ``max_shift_px`` (capped by the stored margin)
    in x and y, a horizontal flip with probability 1/2 when ``flip``, and a brightness factor
    uniform in ``[1 − brightness, 1 + brightness]``, all shared by its onset and apex so they
    stay aligned.

    Returns:
        onset, apex: (B, size, size, 3) float32 BGR in [0, 255].
    """
    idx = np.asarray(indices, dtype=np.int64)
    side, n_views = pairs.image_size, len(idx)
    shift = min(max(int(max_shift_px), 0), pairs.margin_px,
                pairs.crop_size - side - pairs.margin_px)
    offsets = pairs.margin_px + rng.integers(-shift, shift + 1, size=(n_views, 2))
    flips = rng.random(n_views) < 0.5 if flip else np.zeros(n_views, dtype=bool)
    gains = rng.uniform(1.0 - brightness, 1.0 + brightness, size=n_views).astype(np.float32)
    views = []
    for frames in (pairs.onset, pairs.apex):
        batch = np.stack([frames[k, y:y + side, x:x + side]
                          for k, (y, x) in zip(idx, offsets, strict=True)])  # (B, s, s, 3)
        batch[flips] = batch[flips, :, ::-1]
        batch = _resize_views(batch, side if size is None else size).astype(np.float32)
        views.append(np.clip(batch * gains[:, None, None, None], 0.0, 255.0))
    return views[0], views[1]

"""The intervals of one video as a reviewer edits them: :class:`Annotation`, :class:`AnnotationSet`.

An :class:`Annotation` is one interval record (0-based inclusive frames — never a start/stop event
pair) with its emotion, where it came from (``source``: ``model`` | ``human``) and how far it was
reviewed (``status``: ``proposed`` | ``accepted`` | ``rejected`` | ``edited``). Records are
immutable; an edit replaces a record by a new one with the same ``id``.

An :class:`AnnotationSet` holds the records of one video and changes only through
:meth:`AnnotationSet.apply`, which removes some records and adds others in one step and tells its
listeners what changed. Every edit the app offers (add, move an edge, relabel, accept, reject,
split, merge, re-run analysis) is expressed as such a change, so an undo step is simply the
inverse change (the GUI's undo commands wrap :meth:`apply`; this module imports no Qt).

Status rules:

* A human-created interval is ``source="human"``, ``status="accepted"``.
* Editing a model proposal (frames or emotion) makes it ``edited``; ``proposal_id`` keeps the id of
  the proposal it came from (a split's halves and a merge keep it too).
* Re-running analysis (:meth:`AnnotationSet.proposals_change`) replaces only unreviewed proposals
  (``source="model"`` and ``status="proposed"``); a new proposal that overlaps a reviewed record
  (IoU ≥ 0.5, the spotting TP criterion) is not added again, so a rejected proposal stays rejected.
"""

from __future__ import annotations

import bisect
import math
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from core.intervals_csv import INTERVAL_COLUMNS

__all__ = ["Annotation", "AnnotationSet", "AnnotationChange", "AnnotationError", "SOURCES",
           "STATUSES", "REVIEWED_STATUSES", "ANNOTATION_COLUMNS", "new_annotation_id",
           "annotation_from_detection", "annotation_from_row", "edited", "split_annotation",
           "merge_annotations", "interval_iou"]

SOURCES = ("model", "human")
STATUSES = ("proposed", "accepted", "rejected", "edited")
#: Statuses a reviewer gave (everything but an untouched proposal).
REVIEWED_STATUSES = ("accepted", "rejected", "edited")
#: The annotation file's columns: the ``metst analyze`` columns, then the review bookkeeping.
ANNOTATION_COLUMNS = (*INTERVAL_COLUMNS, "id", "annotator", "proposal_id", "spot_score", "model")
#: IoU at or above which a new proposal repeats a reviewed interval (the MEGC TP criterion).
SAME_INTERVAL_IOU = 0.5


class AnnotationError(ValueError):
    """An edit that would make an annotation set inconsistent (the message says why)."""


def new_annotation_id() -> str:
    """A fresh, unique annotation id (12 hex digits)."""
    return uuid.uuid4().hex[:12]


@dataclass(frozen=True)
class Annotation:
    """One interval of one video, 0-based inclusive frames ``onset ≤ apex ≤ offset``.

    Attributes:
        id: unique within its set; kept through edits.
        emotion: class name ('' while unlabelled).
        confidence: the model's confidence in ``emotion`` (None for human intervals).
        source: ``model`` or ``human``. status: see the module docstring.
        annotator: who last reviewed or made it ('' for untouched proposals).
        note: free text. proposal_id: id of the model proposal it came from ('' if none).
        spot_score: the smoothed spotting score at the apex when the model proposed it.
        model_name: the model that proposed it ('' for human intervals).
    """

    id: str
    onset_frame: int
    apex_frame: int
    offset_frame: int
    emotion: str = ""
    confidence: float | None = None
    source: str = "human"
    status: str = "accepted"
    annotator: str = ""
    note: str = ""
    proposal_id: str = ""
    spot_score: float | None = None
    model_name: str = ""

    def __post_init__(self) -> None:
        if not 0 <= self.onset_frame <= self.apex_frame <= self.offset_frame:
            raise AnnotationError(f"interval frames must satisfy 0 <= onset <= apex <= offset, "
                                  f"got {self.onset_frame}, {self.apex_frame}, "
                                  f"{self.offset_frame}")
        if self.source not in SOURCES:
            raise AnnotationError(f"source must be one of {SOURCES}, got {self.source!r}")
        if self.status not in STATUSES:
            raise AnnotationError(f"status must be one of {STATUSES}, got {self.status!r}")
        if not self.id:
            raise AnnotationError("an annotation needs an id")

    @property
    def n_frames(self) -> int:
        """Length in frames, both ends included."""
        return self.offset_frame - self.onset_frame + 1

    def duration_s(self, fps: float) -> float:
        """Onset to offset in seconds (the MEGC micro criterion is ≤ 0.5 s)."""
        return (self.offset_frame - self.onset_frame) / fps

    @property
    def is_unreviewed_proposal(self) -> bool:
        return self.source == "model" and self.status == "proposed"

    def to_row(self, video: str, fps: float) -> dict[str, Any]:
        """A row of the annotation file (:data:`ANNOTATION_COLUMNS`)."""
        def seconds(frame_idx: int) -> float:
            return round(frame_idx / fps, 4) if fps > 0 else math.nan

        return {"video": video, "onset_frame": self.onset_frame, "apex_frame": self.apex_frame,
                "offset_frame": self.offset_frame, "onset_s": seconds(self.onset_frame),
                "apex_s": seconds(self.apex_frame), "offset_s": seconds(self.offset_frame),
                "emotion": self.emotion,
                "confidence": None if self.confidence is None else round(self.confidence, 4),
                "source": self.source, "status": self.status, "note": self.note, "id": self.id,
                "annotator": self.annotator, "proposal_id": self.proposal_id,
                "spot_score": None if self.spot_score is None else round(self.spot_score, 4),
                "model": self.model_name}


def interval_iou(a: Annotation, b: Annotation) -> float:
    """IoU of two intervals over inclusive frames (the MEGC spotting criterion)."""
    overlap = min(a.offset_frame, b.offset_frame) - max(a.onset_frame, b.onset_frame) + 1
    if overlap <= 0:
        return 0.0
    return overlap / (a.n_frames + b.n_frames - overlap)


def annotation_from_detection(detection: Any, model_name: str) -> Annotation:
    """A model proposal from a :class:`core.postprocess.DetectedInterval`."""
    return Annotation(id=new_annotation_id(), onset_frame=int(detection.onset_frame),
                      apex_frame=int(detection.apex_frame),
                      offset_frame=int(detection.offset_frame),
                      emotion=detection.emotion or "", confidence=float(detection.confidence),
                      source="model", status="proposed", spot_score=float(detection.spot_score),
                      model_name=model_name)


def edited(annotation: Annotation, *, annotator: str = "", **changes: Any) -> Annotation:
    """``annotation`` with ``changes`` (frames, emotion, note …) applied as a reviewer's edit.

    A model interval becomes ``edited`` (unless ``status`` is among the changes) and keeps a link
    to its proposal; a human interval stays as it is otherwise. ``annotator`` is recorded.
    """
    if annotation.source == "model" and "status" not in changes:
        frame_or_label = {"onset_frame", "apex_frame", "offset_frame", "emotion"} & changes.keys()
        if any(changes[key] != getattr(annotation, key) for key in frame_or_label):
            changes["status"] = "edited"
    if annotation.source == "model" and not annotation.proposal_id:
        changes.setdefault("proposal_id", annotation.id)
    if annotator:
        changes["annotator"] = annotator
    return replace(annotation, **changes)


def split_annotation(annotation: Annotation, frame_idx: int, *, annotator: str = ""
                     ) -> tuple[Annotation, Annotation]:
    """Two intervals ``[onset, frame_idx - 1]`` and ``[frame_idx, offset]``; apexes clamped.

    Raises AnnotationError unless ``onset < frame_idx <= offset``.
    """
    if not annotation.onset_frame < frame_idx <= annotation.offset_frame:
        raise AnnotationError(f"cannot split [{annotation.onset_frame}, "
                              f"{annotation.offset_frame}] at frame {frame_idx}: the split frame "
                              f"must lie after the onset and not after the offset")
    left_apex = min(annotation.apex_frame, frame_idx - 1)
    right_apex = max(annotation.apex_frame, frame_idx)
    left = edited(annotation, annotator=annotator, offset_frame=frame_idx - 1,
                  apex_frame=left_apex)
    right = edited(annotation, annotator=annotator, onset_frame=frame_idx, apex_frame=right_apex)
    right = replace(right, id=new_annotation_id())
    return left, right


def merge_annotations(annotations: Sequence[Annotation], *, annotator: str = "") -> Annotation:
    """One interval spanning ``annotations`` (≥ 2); it keeps the first one's id and labels and
    takes the apex of the most confident (else the first)."""
    if len(annotations) < 2:
        raise AnnotationError("merging needs at least two intervals")
    ordered = sorted(annotations, key=lambda a: (a.onset_frame, a.offset_frame))
    first = ordered[0]
    apex_from = max(ordered, key=lambda a: (a.spot_score or 0.0, a.confidence or 0.0))
    proposal_id = next((a.proposal_id or (a.id if a.source == "model" else "")
                        for a in ordered if a.source == "model"), "")
    merged = edited(first, annotator=annotator,
                    onset_frame=min(a.onset_frame for a in ordered),
                    offset_frame=max(a.offset_frame for a in ordered),
                    apex_frame=apex_from.apex_frame)
    if first.source == "model":
        merged = replace(merged, status="edited")
    return replace(merged, proposal_id=proposal_id)


@dataclass(frozen=True)
class AnnotationChange:
    """One step of edits: ``removed`` records go, ``added`` records come (same id = replaced).

    The inverse step is ``AnnotationChange(added, removed)``.
    """

    removed: tuple[Annotation, ...] = ()
    added: tuple[Annotation, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not self.removed and not self.added

    def inverse(self) -> AnnotationChange:
        return AnnotationChange(self.added, self.removed)

    @property
    def touched_ids(self) -> frozenset[str]:
        return frozenset(a.id for a in (*self.removed, *self.added))


Listener = Callable[[AnnotationChange], None]


@dataclass
class AnnotationSet:
    """The intervals of one video, changed only through :meth:`apply` (listeners are told).

    Attributes:
        video: the video's name (written in the file's ``video`` column).
        n_frames: the video's length; every interval must end before it (0: unknown, unchecked).
        fps: frames per second, for the seconds columns and durations.
    """

    video: str
    n_frames: int
    fps: float
    _by_id: dict[str, Annotation] = field(default_factory=dict, repr=False)
    _listeners: list[Listener] = field(default_factory=list, repr=False)
    # by (onset, offset, id), their onsets and the longest length: rebuilt after a change
    _ordered: list[Annotation] | None = field(default=None, repr=False, compare=False)
    _onsets: list[int] = field(default_factory=list, repr=False, compare=False)
    _max_n_frames: int = field(default=0, repr=False, compare=False)

    @classmethod
    def from_annotations(cls, video: str, n_frames: int, fps: float,
                         annotations: Iterable[Annotation]) -> AnnotationSet:
        annotation_set = cls(video, n_frames, fps)
        annotation_set.apply(AnnotationChange((), tuple(annotations)), notify=False)
        return annotation_set

    # ------------------------------------------------------------------ reading

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self) -> Iterator[Annotation]:
        return iter(self.annotations)

    def __contains__(self, annotation_id: object) -> bool:
        return annotation_id in self._by_id

    @property
    def annotations(self) -> list[Annotation]:
        """All records by onset, then offset, then id."""
        return list(self._order())

    def _order(self) -> list[Annotation]:
        """The records in :attr:`annotations` order (kept sorted between changes)."""
        if self._ordered is None:
            self._ordered = sorted(self._by_id.values(),
                                   key=lambda a: (a.onset_frame, a.offset_frame, a.id))
            self._onsets = [a.onset_frame for a in self._ordered]
            self._max_n_frames = max((a.n_frames for a in self._ordered), default=0)
        return self._ordered

    def get(self, annotation_id: str) -> Annotation:
        """The record with this id (KeyError if there is none)."""
        return self._by_id[annotation_id]

    def find(self, annotation_id: str) -> Annotation | None:
        return self._by_id.get(annotation_id)

    def at_frame(self, frame_idx: int) -> list[Annotation]:
        """The records covering ``frame_idx``, by onset."""
        return self.in_range(frame_idx, frame_idx)

    def in_range(self, first_frame: int, last_frame: int) -> list[Annotation]:
        """The records overlapping ``[first_frame, last_frame]``, by onset (a binary search:
        fast for a short range of a long video)."""
        ordered = self._order()
        # a record that overlaps starts at most its length before first_frame
        start = bisect.bisect_left(self._onsets, first_frame - self._max_n_frames + 1)
        stop = bisect.bisect_right(self._onsets, last_frame)
        return [a for a in ordered[start:stop] if a.offset_frame >= first_frame]

    def rows(self) -> list[dict[str, Any]]:
        """Rows of the annotation file (:data:`ANNOTATION_COLUMNS`), by onset."""
        return [a.to_row(self.video, self.fps) for a in self.annotations]

    # ---------------------------------------------------------------- changing

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener(change)`` after every applied change."""
        self._listeners.append(listener)

    def unsubscribe(self, listener: Listener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def check(self, annotation: Annotation) -> None:
        """Raise AnnotationError if ``annotation`` does not fit this video."""
        if self.n_frames > 0 and annotation.offset_frame >= self.n_frames:
            raise AnnotationError(f"{self.video}: offset_frame {annotation.offset_frame} is past "
                                  f"the last frame {self.n_frames - 1}")

    def validate(self, change: AnnotationChange) -> None:
        """Raise AnnotationError if :meth:`apply` would refuse ``change`` (nothing changes)."""
        removed_ids = [a.id for a in change.removed]
        if len(set(removed_ids)) != len(removed_ids):
            raise AnnotationError(f"{self.video}: the change removes an interval twice")
        for annotation in change.removed:
            current = self._by_id.get(annotation.id)
            if current != annotation:
                raise AnnotationError(f"{self.video}: interval {annotation.id} is not in the set "
                                      "as the change expects (stale edit)")
        remaining = set(self._by_id) - set(removed_ids)
        added_ids = [a.id for a in change.added]
        if len(set(added_ids)) != len(added_ids) or remaining & set(added_ids):
            raise AnnotationError(f"{self.video}: duplicate interval ids in the change")
        for annotation in change.added:
            self.check(annotation)

    def apply(self, change: AnnotationChange, *, notify: bool = True) -> None:
        """Remove ``change.removed`` (by id, which must be present and unchanged) and add
        ``change.added`` (ids must then be free), atomically: on error nothing changes."""
        self.validate(change)
        for annotation in change.removed:
            del self._by_id[annotation.id]
        for annotation in change.added:
            self._by_id[annotation.id] = annotation
        self._ordered = None
        if notify and not change.is_empty:
            for listener in list(self._listeners):
                listener(change)

    # ------------------------------------------------------- changes to apply

    def replace_change(self, annotation: Annotation) -> AnnotationChange:
        """The change that puts ``annotation`` in place of the record with its id."""
        return AnnotationChange((self.get(annotation.id),), (annotation,))

    def proposals_change(self, proposals: Sequence[Annotation]) -> AnnotationChange:
        """Re-running analysis: drop the unreviewed proposals, add ``proposals`` except those
        repeating a reviewed or human interval (IoU ≥ 0.5). Human edits are never touched."""
        kept = [a for a in self._by_id.values() if not a.is_unreviewed_proposal]
        removed = tuple(a for a in self.annotations if a.is_unreviewed_proposal)
        added = tuple(p for p in proposals
                      if all(interval_iou(p, k) < SAME_INTERVAL_IOU for k in kept))
        return AnnotationChange(removed, added)

    def review_queue(self) -> list[Annotation]:
        """Unreviewed proposals from the least certain (lowest confidence, then spot score)."""
        def certainty(a: Annotation) -> tuple[float, float, int]:
            return (a.confidence if a.confidence is not None else 1.0,
                    a.spot_score if a.spot_score is not None else 1.0, a.onset_frame)
        return sorted((a for a in self._by_id.values() if a.is_unreviewed_proposal),
                      key=certainty)


def annotation_from_row(row: Mapping[str, str], *, default_source: str = "human",
                        default_status: str | None = None) -> Annotation:
    """An :class:`Annotation` from a row of the annotation file (cells already unescaped).

    Raises AnnotationError or ValueError with what is wrong in the row.
    """
    def frame(column: str) -> int | None:
        text = row.get(column, "").strip()
        if not text:
            return None
        value = float(text)
        if not math.isfinite(value) or value != int(value) or value < 0:
            raise AnnotationError(f"{column} {text!r} is not a frame number (0 or more)")
        return int(value)

    def number(column: str) -> float | None:
        text = row.get(column, "").strip()
        return float(text) if text else None

    onset, apex, offset = frame("onset_frame"), frame("apex_frame"), frame("offset_frame")
    if onset is None:
        raise AnnotationError("onset_frame is empty")
    offset = offset if offset is not None else (apex if apex is not None else onset)
    apex = apex if apex is not None else (onset + offset) // 2
    source = row.get("source", "").strip().lower() or default_source
    status = row.get("status", "").strip().lower() or default_status or (
        "proposed" if source == "model" else "accepted")
    return Annotation(id=row.get("id", "").strip() or new_annotation_id(), onset_frame=onset,
                      apex_frame=apex, offset_frame=offset,
                      emotion=row.get("emotion", "").strip().lower(),
                      confidence=number("confidence"), source=source, status=status,
                      annotator=row.get("annotator", "").strip(), note=row.get("note", ""),
                      proposal_id=row.get("proposal_id", "").strip(),
                      spot_score=number("spot_score"),
                      model_name=row.get("model", "").strip())


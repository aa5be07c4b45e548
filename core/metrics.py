"""MEGC-style evaluation: interval spotting (P/R/F1), recognition over spotted TPs, STRS.

Input: predicted and ground-truth :class:`EvalInterval` lists (0-based, inclusive frames,
several videos and subjects mixed). Output: an :class:`EvaluationReport` with pooled spotting
counts, recognition scores, the Spot-Then-Recognize Score and per-video / per-subject
breakdowns. Pure numpy/scipy.

Spotting rules (MEGC, Li et al. 2019 "Spotting micro-expressions on long videos sequences"):

1. IoU over inclusive frames: ``|[a1, a2]| = a2 − a1 + 1``; the intersection likewise, 0 when
   disjoint.
2. Only a prediction and a ground truth of the SAME video can match; a pair is eligible when
   ``IoU ≥ iou_threshold`` (0.5 by default; the bound is inclusive).
3. Matching is one-to-one. ``method="greedy"`` (default): all eligible pairs sorted by IoU
   descending, ties by earlier prediction onset, then earlier ground-truth onset, then
   prediction index, then ground-truth index; a pair is taken when both ends are still free.
   ``method="hungarian"``: ``scipy.optimize.linear_sum_assignment`` maximising the number of
   matches first and the total IoU second (among equal optima scipy's choice, deterministic
   for a given input). The two can differ in TP count: when prediction P1 fits ground truth
   A best but is also the only one that can take B, while P2 can take only A, greedy pairs
   P1–A and leaves P2 and B unmatched (1 TP); Hungarian pairs P1–B and P2–A (2 TP).
4. TP = matched predictions; FP = unmatched predictions, including every prediction of a video
   without ground truth; FN = unmatched ground truths, including those of videos and subjects
   without any prediction. N predictions on one ground truth give 1 TP and N − 1 FP.
5. Precision, recall and F1 are pooled over the dataset: TP/FP/FN are summed over videos first
   (never an average of per-video F1s). Every 0/0 is defined as 0.

Recognition rules (over the spotted TPs only; a missed interval is already in the spotting F1):

6. One ``(ground-truth label, predicted label)`` pair per matched TP, in prediction order. A
   pair with a missing label (``None``) on either side, or whose ground-truth label is not in
   ``class_names``, is left out and counted in ``n_excluded_pairs`` (MEGC's "analysis
   emotions" filter). A predicted label outside ``class_names`` raises ``ValueError``.
7. Classes: ``class_names`` in the given order, else the sorted labels of all ground truths and
   predictions. Per class: precision = TP/predicted, recall = TP/support, F1 = 2·TP/(support +
   predicted), 0/0 → 0. A class with no pair on either side is *absent*: listed in
   ``absent_classes``, reported with support 0 and ``None`` scores, and left out of the means.
   A class that is predicted but never true keeps recall 0 and counts in the means.
8. UF1 = mean per-class F1, UAR = mean per-class RECALL, macro precision = mean per-class
   precision, all over the non-absent classes (0 when there are none);
   F1_recog = harmonic mean of macro precision and UAR. Confusion matrix: rows ground truth,
   columns prediction, in class order.
9. STRS = F1_spot × F1_recog (0 for spotting-only predictions, which carry no labels).

Where the published STRS script (Liong et al. 2023, "Spot-then-recognize", used for MEGC STR)
differs: it matches first-come in prediction order and does not stop a prediction at its first
ground truth (one prediction over two ground truths = 2 TP; here 1 TP, 1 FN); it visits only
subjects that have predictions (their other ground truths are never FN; here they are) and
only videos that have ground truth (predictions elsewhere are never FP; here they are); its
UAR is the mean per-class *precision*; absent classes enter its means as 0; and its F1_recog
is NaN when both macro scores are 0. Some papers average per-video F1 instead of pooling.

Pooling (leave-one-subject-out): a report keeps its raw per-video counts, its recognition pairs
and its matches, so :func:`pool_reports` sums counts and concatenates pairs exactly; for folds
with disjoint videos the result equals :func:`evaluate` on the concatenated inputs.
"""

from __future__ import annotations

import json
import math
import operator
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

import numpy as np
from scipy.optimize import linear_sum_assignment

from core.config_dict import config_from_dict

__all__ = [
    "MATCH_METHODS",
    "EvalInterval",
    "EvaluationConfig",
    "SpottingCounts",
    "ClassScores",
    "RecognitionReport",
    "EvaluationReport",
    "iou",
    "match_intervals",
    "evaluate_recognition",
    "evaluate",
    "pool_reports",
]

MatchMethod = Literal["greedy", "hungarian"]

#: Accepted values of ``method``.
MATCH_METHODS: tuple[str, ...] = ("greedy", "hungarian")

#: One match: (prediction index, ground-truth index, IoU).
Match = tuple[int, int, float]


def _safe_div(num: float, den: float) -> float:
    """``num / den`` with 0/0 (and x/0) defined as 0."""
    return num / den if den else 0.0


def _harmonic_mean(a: float, b: float) -> float:
    """``2ab / (a + b)``, 0 when both are 0."""
    return _safe_div(2.0 * a * b, a + b)


def _check_class_names(class_names: Sequence[str]) -> tuple[str, ...]:
    """``class_names`` as a tuple of distinct str, else ``ValueError``."""
    names = tuple(class_names)
    if isinstance(class_names, str) or not all(isinstance(n, str) for n in names):
        raise ValueError(f"class_names must be a sequence of str, got {class_names!r}")
    if len(set(names)) != len(names):
        raise ValueError(f"class_names has duplicates: {names}")
    return names


def _count(value: Any, name: str) -> int:
    """``value`` as a Python int >= 0, else ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
    return int(value)


def _frame(value: Any, name: str, owner: str) -> int:
    """``value`` as a Python int frame index, else ``ValueError`` naming ``owner``."""
    if isinstance(value, bool):
        raise ValueError(f"{owner}: {name} must be an integer frame index, got {value!r}")
    try:
        return operator.index(value)
    except TypeError:
        raise ValueError(
            f"{owner}: {name} must be an integer frame index, got {value!r}") from None


@dataclass(frozen=True)
class EvalInterval:
    """One interval to evaluate (0-based frames, both ends included).

    Attributes:
        video: video identifier; only intervals of the same video can match.
        onset_frame, offset_frame: ``0 ≤ onset_frame ≤ offset_frame``.
        label: emotion class, or ``None`` (spotting only).
        subject: subject identifier for the per-subject breakdown ("" = unknown: a prediction
            takes the subject of its video's ground truth).
        apex_frame: kept for the caller, not used by the metrics.
    """

    video: str
    onset_frame: int
    offset_frame: int
    label: str | None = None
    subject: str = ""
    apex_frame: int | None = None

    def __post_init__(self) -> None:
        owner = f"interval {self!r}"
        onset = _frame(self.onset_frame, "onset_frame", owner)
        offset = _frame(self.offset_frame, "offset_frame", owner)
        if onset < 0:
            raise ValueError(f"{owner}: onset_frame must be >= 0 (0-based frames)")
        if onset > offset:
            raise ValueError(f"{owner}: onset_frame {onset} > offset_frame {offset}")
        object.__setattr__(self, "onset_frame", onset)
        object.__setattr__(self, "offset_frame", offset)
        if self.apex_frame is not None:
            object.__setattr__(self, "apex_frame", _frame(self.apex_frame, "apex_frame", owner))

    @property
    def n_frames(self) -> int:
        """Length in frames, both ends included."""
        return self.offset_frame - self.onset_frame + 1


@dataclass(frozen=True)
class EvaluationConfig:
    """How predictions are scored (defaults: MEGC).

    Attributes:
        iou_threshold: a pair matches when IoU ≥ this, in (0, 1].
        method: ``"greedy"`` or ``"hungarian"`` one-to-one matching (module docstring, rule 3).
        class_names: recognition classes in report order; ``None`` → sorted labels found in the
            ground truth and predictions.
    """

    iou_threshold: float = 0.5
    method: MatchMethod = "greedy"
    class_names: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.iou_threshold) and 0.0 < self.iou_threshold <= 1.0):
            raise ValueError(f"iou_threshold must be in (0, 1], got {self.iou_threshold}")
        if self.method not in MATCH_METHODS:
            raise ValueError(f"method must be one of {MATCH_METHODS}, got {self.method!r}")
        if self.class_names is not None:
            object.__setattr__(self, "class_names", _check_class_names(self.class_names))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-safe dict."""
        names = None if self.class_names is None else list(self.class_names)
        return {"iou_threshold": self.iou_threshold, "method": self.method,
                "class_names": names}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> EvaluationConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise ``ValueError``."""
        return config_from_dict(cls, d)


@dataclass(frozen=True)
class SpottingCounts:
    """TP/FP/FN of interval spotting, with precision, recall and F1 (0/0 → 0)."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    def __post_init__(self) -> None:
        for name in ("tp", "fp", "fn"):
            object.__setattr__(self, name, _count(getattr(self, name), f"SpottingCounts.{name}"))

    def __add__(self, other: SpottingCounts) -> SpottingCounts:
        return SpottingCounts(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)

    @property
    def precision(self) -> float:
        """TP / (TP + FP)."""
        return _safe_div(self.tp, self.tp + self.fp)

    @property
    def recall(self) -> float:
        """TP / (TP + FN)."""
        return _safe_div(self.tp, self.tp + self.fn)

    @property
    def f1(self) -> float:
        """2·TP / (2·TP + FP + FN), the harmonic mean of precision and recall."""
        return _safe_div(2 * self.tp, 2 * self.tp + self.fp + self.fn)

    def to_dict(self) -> dict[str, Any]:
        """Counts and scores, JSON-safe."""
        return {"tp": self.tp, "fp": self.fp, "fn": self.fn, "precision": self.precision,
                "recall": self.recall, "f1": self.f1}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SpottingCounts:
        """Reads ``tp``, ``fp``, ``fn``; the derived scores are recomputed."""
        return cls(int(d["tp"]), int(d["fp"]), int(d["fn"]))


def _sum_counts(counts: Iterable[SpottingCounts]) -> SpottingCounts:
    total = SpottingCounts()
    for c in counts:
        total = total + c
    return total


@dataclass(frozen=True)
class ClassScores:
    """Recognition scores of one class; ``None`` scores mark an absent class (rule 7)."""

    precision: float | None
    recall: float | None
    f1: float | None
    support: int      # pairs whose ground truth is this class
    n_predicted: int  # pairs predicted as this class

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (absent scores → null)."""
        return {"precision": self.precision, "recall": self.recall, "f1": self.f1,
                "support": self.support, "n_predicted": self.n_predicted}


@dataclass(frozen=True)
class RecognitionReport:
    """Recognition over spotted TPs, computed from its raw ``pairs`` (rules 6–8).

    Attributes:
        class_names: class order of ``per_class`` and of the confusion matrix.
        pairs: ``(ground-truth label, predicted label)`` per counted TP, both in class_names.
        n_excluded_pairs: matched TPs left out (missing label, ground truth outside classes).
    """

    class_names: tuple[str, ...]
    pairs: tuple[tuple[str, str], ...] = ()
    n_excluded_pairs: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "class_names", _check_class_names(self.class_names))
        object.__setattr__(self, "pairs", tuple((g, p) for g, p in self.pairs))
        object.__setattr__(self, "n_excluded_pairs",
                           _count(self.n_excluded_pairs, "n_excluded_pairs"))
        unknown = sorted({label for pair in self.pairs for label in pair}
                         - set(self.class_names), key=str)
        if unknown:
            raise ValueError(f"labels {unknown} not in class_names {list(self.class_names)}")

    @property
    def n_pairs(self) -> int:
        """Number of (ground truth, prediction) pairs scored."""
        return len(self.pairs)

    @property
    def confusion(self) -> np.ndarray:
        """(K, K) int64 confusion matrix, rows ground truth, columns prediction (a new array)."""
        index = {name: k for k, name in enumerate(self.class_names)}
        matrix = np.zeros((len(self.class_names),) * 2, dtype=np.int64)
        for gt_label, pred_label in self.pairs:
            matrix[index[gt_label], index[pred_label]] += 1
        return matrix

    @cached_property
    def per_class(self) -> dict[str, ClassScores]:
        """Scores of every class in ``class_names`` order (absent classes: ``None`` scores)."""
        matrix = self.confusion
        support, n_predicted = matrix.sum(axis=1), matrix.sum(axis=0)
        scores = {}
        for k, name in enumerate(self.class_names):
            tp, sup, pred = int(matrix[k, k]), int(support[k]), int(n_predicted[k])
            if sup == 0 and pred == 0:
                scores[name] = ClassScores(None, None, None, 0, 0)
            else:
                scores[name] = ClassScores(_safe_div(tp, pred), _safe_div(tp, sup),
                                           _safe_div(2 * tp, sup + pred), sup, pred)
        return scores

    @property
    def absent_classes(self) -> tuple[str, ...]:
        """Classes with no pair on either side, left out of every mean."""
        return tuple(name for name, s in self.per_class.items() if s.f1 is None)

    def _mean_over_present(self, attribute: str) -> float:
        values = [getattr(s, attribute) for s in self.per_class.values() if s.f1 is not None]
        return float(np.mean(values)) if values else 0.0

    @property
    def macro_precision(self) -> float:
        """Mean per-class precision over the non-absent classes."""
        return self._mean_over_present("precision")

    @property
    def uar(self) -> float:
        """Unweighted average recall: mean per-class recall over the non-absent classes."""
        return self._mean_over_present("recall")

    @property
    def macro_recall(self) -> float:
        """Same number as :attr:`uar`."""
        return self.uar

    @property
    def uf1(self) -> float:
        """Unweighted F1: mean per-class F1 over the non-absent classes."""
        return self._mean_over_present("f1")

    @property
    def f1_recog(self) -> float:
        """Harmonic mean of macro precision and macro recall (the STRS recognition F1)."""
        return _harmonic_mean(self.macro_precision, self.uar)

    def to_dict(self) -> dict[str, Any]:
        """Raw pairs plus every derived score, JSON-safe (absent scores → null)."""
        return {
            "class_names": list(self.class_names),
            "per_class": {name: s.to_dict() for name, s in self.per_class.items()},
            "uf1": self.uf1, "uar": self.uar, "macro_precision": self.macro_precision,
            "macro_recall": self.macro_recall, "f1_recog": self.f1_recog,
            "confusion": self.confusion.tolist(), "absent_classes": list(self.absent_classes),
            "n_pairs": self.n_pairs, "n_excluded_pairs": self.n_excluded_pairs,
            "pairs": [list(pair) for pair in self.pairs],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RecognitionReport:
        """Reads the raw fields; the scores are recomputed."""
        return cls(tuple(d["class_names"]), tuple(tuple(p) for p in d["pairs"]),
                   int(d["n_excluded_pairs"]))


@dataclass(frozen=True)
class EvaluationReport:
    """Everything one evaluation produced, kept raw so that reports pool exactly.

    Attributes:
        per_video: spotting counts per video (every video with a prediction or a ground truth).
        video_subjects: subject of each video ("" when unknown).
        recognition: recognition over the spotted TPs.
        matches: ``(prediction index, ground-truth index, IoU)`` sorted by prediction index;
            indices into the evaluated sequences (the concatenation, after pooling).
        n_predictions, n_ground_truth: lengths of the evaluated sequences.
        settings: the :class:`EvaluationConfig` used.
    """

    per_video: dict[str, SpottingCounts]
    video_subjects: dict[str, str]
    recognition: RecognitionReport
    matches: tuple[Match, ...]
    n_predictions: int
    n_ground_truth: int
    settings: EvaluationConfig

    @property
    def spotting(self) -> SpottingCounts:
        """Dataset-pooled spotting counts (sum over videos)."""
        return _sum_counts(self.per_video.values())

    @property
    def per_subject(self) -> dict[str, SpottingCounts]:
        """Spotting counts summed over each subject's videos, subjects sorted."""
        totals: dict[str, SpottingCounts] = {}
        for video, counts in self.per_video.items():
            subject = self.video_subjects.get(video, "")
            totals[subject] = totals.get(subject, SpottingCounts()) + counts
        return dict(sorted(totals.items()))

    @property
    def strs(self) -> float:
        """Spot-Then-Recognize Score: spotting F1 × recognition F1."""
        return self.spotting.f1 * self.recognition.f1_recog

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict: raw data plus every derived score (never NaN)."""
        return {
            "spotting": self.spotting.to_dict(),
            "recognition": self.recognition.to_dict(),
            "strs": self.strs,
            "per_video": {v: c.to_dict() for v, c in self.per_video.items()},
            "per_subject": {s: c.to_dict() for s, c in self.per_subject.items()},
            "video_subjects": dict(self.video_subjects),
            "matches": [[p, g, value] for p, g, value in self.matches],
            "n_predictions": self.n_predictions,
            "n_ground_truth": self.n_ground_truth,
            "settings": self.settings.to_dict(),
        }

    def to_json(self, indent: int | None = 2) -> str:
        """:meth:`to_dict` as JSON text (``allow_nan=False``: a NaN would raise)."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> EvaluationReport:
        """Inverse of :meth:`to_dict` (derived scores are recomputed from the raw fields)."""
        return cls(
            per_video={v: SpottingCounts.from_dict(c) for v, c in d["per_video"].items()},
            video_subjects=dict(d["video_subjects"]),
            recognition=RecognitionReport.from_dict(d["recognition"]),
            matches=tuple((int(p), int(g), float(value)) for p, g, value in d["matches"]),
            n_predictions=int(d["n_predictions"]),
            n_ground_truth=int(d["n_ground_truth"]),
            settings=EvaluationConfig.from_dict(d["settings"]),
        )

    @classmethod
    def from_json(cls, text: str) -> EvaluationReport:
        """Inverse of :meth:`to_json`."""
        return cls.from_dict(json.loads(text))


# ---------------------------------------------------------------------------------------------
# Spotting


def _bounds(interval: EvalInterval | tuple[int, int]) -> tuple[int, int]:
    """(onset_frame, offset_frame) of an interval or a validated ``(onset, offset)`` tuple."""
    if isinstance(interval, EvalInterval):
        return interval.onset_frame, interval.offset_frame
    try:
        onset, offset = interval
    except (TypeError, ValueError):
        raise ValueError(
            f"expected an EvalInterval or an (onset, offset) tuple, got {interval!r}") from None
    onset = _frame(onset, "onset", f"interval {interval!r}")
    offset = _frame(offset, "offset", f"interval {interval!r}")
    if onset > offset:
        raise ValueError(f"interval {interval!r}: onset {onset} > offset {offset}")
    return onset, offset


def iou(a: EvalInterval | tuple[int, int], b: EvalInterval | tuple[int, int]) -> float:
    """Intersection over union of two inclusive frame intervals.

    ``[0, 9]`` vs ``[5, 14]`` → 5 / 15. Two :class:`EvalInterval` of different videos → 0.
    """
    if isinstance(a, EvalInterval) and isinstance(b, EvalInterval) and a.video != b.video:
        return 0.0
    (a1, a2), (b1, b2) = _bounds(a), _bounds(b)
    inter = max(0, min(a2, b2) - max(a1, b1) + 1)
    return inter / ((a2 - a1 + 1) + (b2 - b1 + 1) - inter)


def _iou_matrix(preds: Sequence[EvalInterval], gts: Sequence[EvalInterval]) -> np.ndarray:
    """(P, G) float64 IoU of every prediction with every ground truth (same video assumed)."""
    p = np.array([(x.onset_frame, x.offset_frame) for x in preds], dtype=np.int64).reshape(-1, 2)
    g = np.array([(x.onset_frame, x.offset_frame) for x in gts], dtype=np.int64).reshape(-1, 2)
    inter = np.minimum(p[:, None, 1], g[None, :, 1]) - np.maximum(p[:, None, 0], g[None, :, 0])
    inter = np.clip(inter + 1, 0, None)  # (P, G)
    len_p, len_g = p[:, 1] - p[:, 0] + 1, g[:, 1] - g[:, 0] + 1
    return inter / (len_p[:, None] + len_g[None, :] - inter)  # (P, G)


def _match_greedy(ious: np.ndarray, pred_onsets: np.ndarray, gt_onsets: np.ndarray,
                  threshold: float) -> list[tuple[int, int]]:
    """Greedy one-to-one matching of a (P, G) IoU matrix (module docstring, rule 3)."""
    pred_idx, gt_idx = np.nonzero(ious >= threshold)
    # np.lexsort: the LAST key is the primary one.
    order = np.lexsort((gt_idx, pred_idx, gt_onsets[gt_idx], pred_onsets[pred_idx],
                        -ious[pred_idx, gt_idx]))
    pred_free = np.ones(ious.shape[0], dtype=bool)
    gt_free = np.ones(ious.shape[1], dtype=bool)
    pairs = []
    for k in order:
        p, g = int(pred_idx[k]), int(gt_idx[k])
        if pred_free[p] and gt_free[g]:
            pred_free[p] = gt_free[g] = False
            pairs.append((p, g))
    return pairs


def _match_hungarian(ious: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    """Most matches, then most total IoU, of a (P, G) IoU matrix.

    Every eligible pair is worth ``bonus + IoU`` with ``bonus`` above any reachable total IoU,
    so one more match always beats any IoU gain; ineligible pairs are worth 0 and dropped.
    """
    eligible = ious >= threshold
    if not eligible.any():
        return []
    bonus = float(min(ious.shape)) + 1.0
    rows, cols = linear_sum_assignment(np.where(eligible, bonus + ious, 0.0), maximize=True)
    return [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if eligible[r, c]]


def _check_intervals(intervals: Sequence[EvalInterval], name: str) -> None:
    for k, interval in enumerate(intervals):
        if not isinstance(interval, EvalInterval):
            raise ValueError(f"{name}[{k}] must be an EvalInterval, got {interval!r}")


def _indices_by_video(intervals: Sequence[EvalInterval]) -> dict[str, list[int]]:
    by_video: dict[str, list[int]] = {}
    for k, interval in enumerate(intervals):
        by_video.setdefault(interval.video, []).append(k)
    return by_video


def match_intervals(predictions: Sequence[EvalInterval], ground_truth: Sequence[EvalInterval],
                    *, iou_threshold: float = 0.5,
                    method: MatchMethod = "greedy") -> list[Match]:
    """One-to-one matches between predictions and ground truths of the same video.

    Args:
        predictions, ground_truth: intervals of any number of videos.
        iou_threshold: a pair is eligible when IoU ≥ this.
        method: ``"greedy"`` or ``"hungarian"`` (module docstring, rule 3).

    Returns:
        ``(prediction index, ground-truth index, IoU)`` sorted by prediction index.
    """
    config = EvaluationConfig(iou_threshold=iou_threshold, method=method)
    _check_intervals(predictions, "predictions")
    _check_intervals(ground_truth, "ground_truth")
    gt_by_video = _indices_by_video(ground_truth)
    matches: list[Match] = []
    for video, pred_ids in _indices_by_video(predictions).items():
        gt_ids = gt_by_video.get(video, [])
        if not gt_ids:
            continue
        preds = [predictions[k] for k in pred_ids]
        gts = [ground_truth[k] for k in gt_ids]
        ious = _iou_matrix(preds, gts)  # (P, G)
        if config.method == "greedy":
            local = _match_greedy(ious, np.array([x.onset_frame for x in preds]),
                                  np.array([x.onset_frame for x in gts]), config.iou_threshold)
        else:
            local = _match_hungarian(ious, config.iou_threshold)
        matches += [(pred_ids[p], gt_ids[g], float(ious[p, g])) for p, g in local]
    return sorted(matches)


def _merge_video_subjects(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Subject of every video from ``(video, subject)`` pairs, videos sorted.

    "" means unknown and yields to a named subject; two different named subjects for one
    video raise ``ValueError``.
    """
    subjects: dict[str, str] = {}
    for video, subject in pairs:
        known = subjects.setdefault(video, subject)
        if not known:
            subjects[video] = subject
        elif subject and subject != known:
            raise ValueError(f"video {video!r} has intervals of two subjects: "
                             f"{known!r} and {subject!r}")
    return dict(sorted(subjects.items()))


def _per_video_counts(predictions: Sequence[EvalInterval], ground_truth: Sequence[EvalInterval],
                      matches: Sequence[Match]) -> dict[str, SpottingCounts]:
    """TP/FP/FN per video from the matches (unmatched = FP or FN)."""
    n_pred = {v: len(ids) for v, ids in _indices_by_video(predictions).items()}
    n_gt = {v: len(ids) for v, ids in _indices_by_video(ground_truth).items()}
    n_tp: dict[str, int] = {}
    for pred_idx, _, _ in matches:
        video = predictions[pred_idx].video
        n_tp[video] = n_tp.get(video, 0) + 1
    return {v: SpottingCounts(n_tp.get(v, 0), n_pred.get(v, 0) - n_tp.get(v, 0),
                              n_gt.get(v, 0) - n_tp.get(v, 0))
            for v in sorted(set(n_pred) | set(n_gt))}


# ---------------------------------------------------------------------------------------------
# Recognition


def evaluate_recognition(pairs: Iterable[tuple[str | None, str | None]],
                         class_names: Sequence[str]) -> RecognitionReport:
    """Recognition scores of ``(ground-truth label, predicted label)`` pairs (rules 6–8).

    Usable on its own, e.g. for a classifier run on ground-truth intervals.

    Raises:
        ValueError: a predicted label is not in ``class_names``.
    """
    classes = _check_class_names(class_names)
    known = set(classes)
    kept, n_excluded = [], 0
    for gt_label, pred_label in pairs:
        if pred_label is not None and pred_label not in known:
            raise ValueError(f"predicted label {pred_label!r} is not one of the classes "
                             f"{list(classes)}")
        if gt_label is None or pred_label is None or gt_label not in known:
            n_excluded += 1
        else:
            kept.append((gt_label, pred_label))
    return RecognitionReport(classes, tuple(kept), n_excluded)


def _class_names(config: EvaluationConfig, predictions: Sequence[EvalInterval],
                 ground_truth: Sequence[EvalInterval]) -> tuple[str, ...]:
    """The configured classes, else the sorted labels of all intervals."""
    if config.class_names is not None:
        return config.class_names
    return tuple(sorted({x.label for x in [*ground_truth, *predictions] if x.label is not None}))


def _check_predicted_labels(predictions: Sequence[EvalInterval], classes: Sequence[str]) -> None:
    known = set(classes)
    for k, interval in enumerate(predictions):
        if interval.label is not None and interval.label not in known:
            raise ValueError(f"predictions[{k}] label {interval.label!r} is not one of the "
                             f"classes {list(classes)}")


def evaluate(predictions: Sequence[EvalInterval], ground_truth: Sequence[EvalInterval], *,
             class_names: Sequence[str] | None = None, iou_threshold: float = 0.5,
             method: MatchMethod = "greedy") -> EvaluationReport:
    """Score predicted intervals against ground truth the MEGC way (module docstring).

    Args:
        predictions: spotted intervals of any number of videos (labels optional).
        ground_truth: labelled intervals of the same dataset; videos absent from
            ``predictions`` count as missed.
        class_names: recognition classes in report order; ``None`` → sorted labels found.
        iou_threshold: a pair matches when IoU ≥ this.
        method: ``"greedy"`` (default) or ``"hungarian"`` matching.

    Returns:
        The report: pooled spotting counts, recognition, STRS, per-video and per-subject counts.
    """
    config = EvaluationConfig(iou_threshold=iou_threshold, method=method,
                              class_names=None if class_names is None else tuple(class_names))
    matches = match_intervals(predictions, ground_truth, iou_threshold=config.iou_threshold,
                              method=config.method)
    classes = _class_names(config, predictions, ground_truth)
    _check_predicted_labels(predictions, classes)
    pairs = [(ground_truth[g].label, predictions[p].label) for p, g, _ in matches]
    return EvaluationReport(
        per_video=_per_video_counts(predictions, ground_truth, matches),
        video_subjects=_merge_video_subjects(
            (x.video, x.subject) for x in [*ground_truth, *predictions]),
        recognition=evaluate_recognition(pairs, classes),
        matches=tuple(matches),
        n_predictions=len(predictions),
        n_ground_truth=len(ground_truth),
        settings=config,
    )


# ---------------------------------------------------------------------------------------------
# Pooling


def _pooled_class_names(reports: Sequence[EvaluationReport]) -> tuple[str, ...]:
    configured = reports[0].settings.class_names
    if configured is not None:
        return configured
    return tuple(sorted({n for r in reports for n in r.recognition.class_names}))


def pool_reports(reports: Sequence[EvaluationReport]) -> EvaluationReport:
    """One report from several folds (e.g. leave-one-subject-out), pooled exactly.

    Per-video counts are summed (a video in two reports adds up), recognition pairs are
    concatenated in report order, and match indices are shifted so they index the
    concatenated predictions and ground truths. For folds with disjoint videos this equals
    :func:`evaluate` on the concatenated inputs — never an average of fold F1s.

    Raises:
        ValueError: no reports, or reports evaluated with different settings.
    """
    reports = list(reports)
    if not reports:
        raise ValueError("pool_reports needs at least one report")
    settings = reports[0].settings
    for k, report in enumerate(reports[1:], start=1):
        if report.settings != settings:
            raise ValueError(f"reports[{k}] settings {report.settings.to_dict()} differ from "
                             f"reports[0] settings {settings.to_dict()}")
    per_video: dict[str, SpottingCounts] = {}
    matches: list[Match] = []
    pred_offset = gt_offset = 0
    for report in reports:
        for video, counts in report.per_video.items():
            per_video[video] = per_video.get(video, SpottingCounts()) + counts
        matches += [(p + pred_offset, g + gt_offset, value) for p, g, value in report.matches]
        pred_offset += report.n_predictions
        gt_offset += report.n_ground_truth
    recognition = RecognitionReport(
        _pooled_class_names(reports),
        tuple(pair for r in reports for pair in r.recognition.pairs),
        sum(r.recognition.n_excluded_pairs for r in reports),
    )
    return EvaluationReport(
        per_video=dict(sorted(per_video.items())),
        video_subjects=_merge_video_subjects(
            item for r in reports for item in r.video_subjects.items()),
        recognition=recognition,
        matches=tuple(matches),
        n_predictions=pred_offset,
        n_ground_truth=gt_offset,
        settings=settings,
    )

"""Evaluation of trained models on held-out videos, and the LOSO reports (JSON + Markdown).

A held-out video is analysed exactly as the app analyses it: the fold's checkpoint is loaded
as a :class:`~core.curve_models.CheckpointCurveModel`, its curves over the WHOLE video go through
:func:`core.postprocess.spot_intervals` with the fold's ``k_p`` (from its training subjects
only) — the functions :func:`core.analysis.analyze` calls. The training-free flow spotter runs on
the same traces with the same post-processing as the baseline row; a reference checkpoint
(the model in use before a retraining, a fine-tuned model's base) is scored the same way.
Predictions and the
micro-expressions (ground truth, emotions mapped to the training classes) are scored by
:func:`core.metrics.evaluate`; folds are pooled with :func:`core.metrics.pool_reports` (TP/FP/FN
summed, recognition pairs concatenated: never an average of fold scores).

The Markdown summary has the ME-TST+ paper's tables: spotting (TP, FP, FN, precision, recall,
F1), recognition of the spotted MEs (UF1, UAR, F1) and STRS, per class, and per fold.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.atomic import atomic_write_text
from core.curve_models import CurveModel, FlowSpotterModel
from core.metrics import EvalInterval, EvaluationReport, evaluate, pool_reports
from core.postprocess import DetectedInterval, PostprocessConfig, spot_intervals
from core.traces import FlowTraces
from training.data import VideoSample
from training.labels import LabelConfig

__all__ = ["FoldReport", "predict_intervals", "ground_truth", "evaluate_model",
           "evaluate_baseline", "pool_fold_reports", "score_summary", "write_json",
           "read_fold_report", "markdown_report", "BASELINE_NAME", "REFERENCE_NAME"]

BASELINE_NAME = "flow spotter (training-free)"
REFERENCE_NAME = "reference checkpoint (as it was)"


@dataclass
class FoldReport:
    """One LOSO fold: its scores, the baseline's, and how it was trained.

    Attributes:
        fold: the held-out subject.
        k_p: interval half-width from the fold's training subjects.
        model: the trained model's evaluation on the held-out videos.
        baseline: the flow spotter's evaluation on the same videos.
        n_train_videos, n_test_videos: videos on each side.
        losses: mean training loss per epoch.
        seconds: wall time of training and evaluation.
        reference: a reference checkpoint's evaluation (``metst train --compare``, e.g. the
            model in use before this training) on the same videos; None without one.
    """

    fold: str
    k_p: int
    model: EvaluationReport
    baseline: EvaluationReport
    n_train_videos: int
    n_test_videos: int
    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0
    reference: EvaluationReport | None = None

    def to_dict(self) -> dict[str, Any]:
        data = {"fold": self.fold, "k_p": self.k_p, "model": self.model.to_dict(),
                "baseline": self.baseline.to_dict(), "n_train_videos": self.n_train_videos,
                "n_test_videos": self.n_test_videos, "losses": list(self.losses),
                "seconds": self.seconds}
        if self.reference is not None:
            data["reference"] = self.reference.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FoldReport:
        return cls(str(data["fold"]), int(data["k_p"]),
                   EvaluationReport.from_dict(data["model"]),
                   EvaluationReport.from_dict(data["baseline"]),
                   int(data["n_train_videos"]), int(data["n_test_videos"]),
                   [float(v) for v in data.get("losses", [])], float(data.get("seconds", 0.0)),
                   EvaluationReport.from_dict(data["reference"]) if data.get("reference") else None)


def predict_intervals(model: CurveModel, traces: FlowTraces,
                      postprocess: PostprocessConfig) -> list[DetectedInterval]:
    """What the app shows for a video: the model's curves, then the app's post-processing.

    ``postprocess.k_p`` None falls back to the model's training k_p, then to the video's fps
    (as :func:`core.analysis.analyze` does).
    """
    if postprocess.k_p is None:
        postprocess = replace(postprocess,
                              k_p=model.k_p or postprocess.resolve_k_p(traces.fps))
    curves = model.predict(traces)
    return spot_intervals(curves.spot, curves.recog, curves.class_names, postprocess,
                          fps=traces.fps)


def ground_truth(samples: Sequence[VideoSample], labels: LabelConfig) -> list[EvalInterval]:
    """The samples' expressions as evaluation intervals, emotions mapped to the classes (None:
    excluded from recognition)."""
    mapping = labels.mapping
    return [EvalInterval(sample.key, i.onset_frame, i.offset_frame, mapping.map(i.emotion),
                         sample.subject, i.apex_frame)
            for sample in samples for i in sample.expressions(labels.macro_policy)]


def _evaluate(model: CurveModel, samples: Sequence[VideoSample], postprocess: PostprocessConfig,
              labels: LabelConfig, iou_threshold: float) -> EvaluationReport:
    predictions = [EvalInterval(sample.key, i.onset_frame, i.offset_frame, i.emotion,
                                sample.subject, i.apex_frame)
                   for sample in samples
                   for i in predict_intervals(model, sample.traces, postprocess)]
    return evaluate(predictions, ground_truth(samples, labels),
                    class_names=labels.mapping.classes, iou_threshold=iou_threshold)


def evaluate_model(model: CurveModel, samples: Sequence[VideoSample], *, k_p: int,
                   postprocess: PostprocessConfig, labels: LabelConfig,
                   iou_threshold: float = 0.5) -> EvaluationReport:
    """A trained model's report on whole held-out videos (module docstring)."""
    return _evaluate(model, samples, replace(postprocess, k_p=k_p), labels, iou_threshold)


def evaluate_baseline(samples: Sequence[VideoSample], *, k_p: int,
                      postprocess: PostprocessConfig, labels: LabelConfig,
                      iou_threshold: float = 0.5) -> EvaluationReport:
    """The training-free flow spotter's report on the same videos and post-processing."""
    return _evaluate(FlowSpotterModel(), samples, replace(postprocess, k_p=k_p), labels,
                     iou_threshold)


def pool_fold_reports(folds: Sequence[FoldReport]) -> dict[str, EvaluationReport]:
    """``{"model": pooled, "baseline": pooled}`` over the folds (exact pooling), and
    ``"reference"`` (the reference checkpoint) when every fold evaluated one."""
    if not folds:
        raise ValueError("no finished folds to pool")
    pooled = {"model": pool_reports([f.model for f in folds]),
              "baseline": pool_reports([f.baseline for f in folds])}
    references = [f.reference for f in folds if f.reference is not None]
    if len(references) == len(folds):
        pooled["reference"] = pool_reports(references)
    return pooled


def score_summary(report: Mapping[str, Any]) -> dict[str, float | int]:
    """The headline numbers of an :meth:`EvaluationReport.to_dict` (the app's comparison
    table): spotting TP, FP, FN, precision, recall, F1; recognition UF1, UAR; STRS."""
    spotting, recognition = report["spotting"], report["recognition"]
    return {"tp": spotting["tp"], "fp": spotting["fp"], "fn": spotting["fn"],
            "precision": spotting["precision"], "recall": spotting["recall"],
            "f1": spotting["f1"], "uf1": recognition["uf1"], "uar": recognition["uar"],
            "strs": report["strs"]}


def write_json(path: str | os.PathLike[str], data: Mapping[str, Any]) -> Path:
    """Write ``data`` as indented JSON, atomically."""
    return atomic_write_text(Path(path), json.dumps(data, indent=2, allow_nan=False) + "\n")


def read_fold_report(path: str | os.PathLike[str]) -> FoldReport:
    """A fold's ``report.json`` (ValueError naming the file when unreadable)."""
    try:
        return FoldReport.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{path}: not a readable fold report ({error})") from error


# ------------------------------------------------------------------------------- Markdown


def _score(value: float | None) -> str:
    return "–" if value is None else f"{value:.4f}"


def _spotting_row(name: str, report: EvaluationReport) -> str:
    s = report.spotting
    return (f"| {name} | {s.tp} | {s.fp} | {s.fn} | {_score(s.precision)} | {_score(s.recall)} | "
            f"**{_score(s.f1)}** |")


def _class_rows(report: EvaluationReport) -> list[str]:
    rows = ["| Class | Support | Predicted | Precision | Recall | F1 |",
            "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for name, s in report.recognition.per_class.items():
        rows.append(f"| {name} | {s.support} | {s.n_predicted} | {_score(s.precision)} | "
                    f"{_score(s.recall)} | {_score(s.f1)} |")
    return rows


def _confusion_rows(report: EvaluationReport) -> list[str]:
    names = report.recognition.class_names
    rows = ["| ground truth \\ predicted | " + " | ".join(names) + " |",
            "| --- |" + " ---: |" * len(names)]
    for name, counts in zip(names, report.recognition.confusion.tolist(), strict=True):
        rows.append(f"| {name} | " + " | ".join(str(c) for c in counts) + " |")
    return rows


def _fold_rows(folds: Sequence[FoldReport]) -> list[str]:
    rows = ["| Held-out subject | Videos | k_p | TP | FP | FN | F1 | Baseline F1 | UF1 | "
            "Final loss | Seconds |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for f in folds:
        s = f.model.spotting
        loss = f"{f.losses[-1]:.4f}" if f.losses else "–"
        rows.append(f"| {f.fold} | {f.n_test_videos} | {f.k_p} | {s.tp} | {s.fp} | {s.fn} | "
                    f"{_score(s.f1)} | {_score(f.baseline.spotting.f1)} | "
                    f"{_score(f.model.recognition.uf1)} | {loss} | {f.seconds:.0f} |")
    return rows


def markdown_report(folds: Sequence[FoldReport], *, model_name: str,
                    run_info: Mapping[str, Any]) -> str:
    """The pooled and per-fold tables as Markdown (module docstring)."""
    pooled = pool_fold_reports(folds)
    model, baseline = pooled["model"], pooled["baseline"]
    rec = model.recognition
    iou = model.settings.iou_threshold
    held_out = len(folds) == 1 and folds[0].fold == "holdout"   # training.holdout.HOLDOUT_FOLD
    title = "Held-out videos report" if held_out else "Leave-one-subject-out report"
    lines = [f"# {title}: {model_name}", ""]
    lines += [f"- {key}: {value}" for key, value in run_info.items()]
    lines += [f"- folds: {len(folds)}; written {datetime.now(UTC).isoformat(timespec='seconds')}",
              "",
              f"## Spotting (pooled over {len(folds)} folds, IoU ≥ {iou:g})", "",
              "| Method | TP | FP | FN | Precision | Recall | F1 |",
              "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
              _spotting_row(BASELINE_NAME, baseline),
              *([_spotting_row(REFERENCE_NAME, pooled["reference"])] if "reference" in pooled
                else []),
              _spotting_row(model_name, model), "",
              "## Recognition of the spotted micro-expressions and STRS", "",
              "| Method | Pairs | UF1 | UAR | F1 | STRS |",
              "| --- | ---: | ---: | ---: | ---: | ---: |",
              f"| {model_name} | {rec.n_pairs} | {_score(rec.uf1)} | {_score(rec.uar)} | "
              f"{_score(rec.f1_recog)} | **{_score(model.strs)}** |", "",
              f"Chance UF1 with {len(rec.class_names)} balanced classes is about "
              f"{1 / max(1, len(rec.class_names)):.2f}. Pairs with an unknown or excluded "
              f"ground-truth emotion: {rec.n_excluded_pairs}.", "",
              "### Per class", "", *_class_rows(model), "",
              "### Confusion matrix (rows ground truth, columns prediction)", "",
              *_confusion_rows(model), "",
              "## Per fold", "", *_fold_rows(folds), ""]
    return "\n".join(lines)

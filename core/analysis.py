"""One call from a video to what a reviewer sees: curves and intervals.

:func:`analyze` runs the flow extraction (reusing the feature store), the per-frame model over the
whole video at once (video-level, linear in T) and the post-processing, reporting progress and
honouring cancellation. :func:`save_result` / :func:`load_result` keep a result in a folder:
``curves.h5`` (curves, traces, settings, and the analysed file's identity) and ``intervals.csv``;
re-opening shows them without recomputing (:func:`result_source` tells whether the file has
changed since), and changing the threshold re-runs only :func:`reinterpret`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import h5py

from core import __version__
from core.atomic import atomic_path
from core.curve_models import CurveModel, Curves
from core.flow import FlowConfig, extract_flow
from core.intervals_csv import write_intervals_csv
from core.postprocess import DetectedInterval, PostprocessConfig, spot_intervals
from core.progress import CancelToken, ProgressCallback, report
from core.store import FeatureStore
from core.traces import FlowTraces
from core.video import FrameSource, open_source, source_identity

__all__ = ["AnalysisResult", "analyze", "reinterpret", "interval_rows", "save_result",
           "load_result", "result_source", "ResultError"]


class ResultError(ValueError):
    """A stored result that cannot be read; the message names the file."""


@dataclass
class AnalysisResult:
    """Everything one analysis produced.

    Attributes:
        video: the analysed file or folder.
        traces: (C, T) aligned ROI flow.
        curves: model output (spot (T,), recog (T, E+1) or None).
        intervals: detected intervals, 0-based inclusive frames.
        model_name: which model made the curves ("flow" or "<model>:<checkpoint file>").
        postprocess: the post-processing settings, with ``k_p`` resolved.
    """

    video: Path
    traces: FlowTraces
    curves: Curves
    intervals: list[DetectedInterval]
    model_name: str
    postprocess: PostprocessConfig

    @property
    def fps(self) -> float:
        return self.traces.fps


def analyze(source: FrameSource | str | os.PathLike[str], model: CurveModel, *,
            store: FeatureStore | None = None, flow_config: FlowConfig | None = None,
            postprocess: PostprocessConfig | None = None, workers: int = 1,
            progress: ProgressCallback | None = None,
            cancel: CancelToken | None = None) -> AnalysisResult:
    """Analyse one video with one model.

    Args:
        source: video file, frame folder or an open FrameSource.
        model: per-frame model (see :func:`core.curve_models.load_curve_model`).
        store: feature store to reuse and fill (None: always extract).
        flow_config: extraction settings; the ROI set defaults to the model's.
        postprocess: interval settings; ``k_p`` defaults to the model's training value, else fps.
        workers: extraction processes.
        progress: receives "flow" then "model" reports.
        cancel: stops at the next frame / step.
    Raises:
        ValueError (VideoError, NoFaceError, CheckpointError …) with a message naming the file.
    """
    if not isinstance(source, FrameSource):
        source = open_source(source)
    video = Path(source.path)
    flow_config = flow_config or FlowConfig(roi_set=model.roi_set or "metst_plus")
    if model.roi_set is not None and flow_config.roi_set != model.roi_set:
        raise ValueError(f"{model.name}: needs the {model.roi_set!r} ROI set, "
                         f"not {flow_config.roi_set!r}")
    entry = store.find(video, flow_config) if store is not None else None
    if entry is not None:
        traces = entry.traces
        report(progress, "flow", traces.n_frames, traces.n_frames, "features from the store")
    else:
        extraction = extract_flow(source, flow_config, workers=workers, progress=progress,
                                  cancel=cancel)
        traces = extraction.traces
        if store is not None:
            store.save(video, extraction)
    if cancel is not None:
        cancel.raise_if_cancelled()
    report(progress, "model", 0, 1, model.name)
    curves = model.predict(traces)
    report(progress, "model", 1, 1, model.name)
    postprocess = postprocess or PostprocessConfig()
    if postprocess.k_p is None:
        postprocess = replace(postprocess, k_p=model.k_p or postprocess.resolve_k_p(traces.fps))
    result = AnalysisResult(video, traces, curves, [], model.name, postprocess)
    return reinterpret(result, postprocess)


def reinterpret(result: AnalysisResult, postprocess: PostprocessConfig) -> AnalysisResult:
    """The same curves with other post-processing settings (a new threshold p): no model run."""
    if postprocess.k_p is None:
        postprocess = replace(postprocess, k_p=result.postprocess.k_p)
    intervals = spot_intervals(result.curves.spot, result.curves.recog, result.curves.class_names,
                               postprocess, fps=result.fps)
    return replace(result, intervals=intervals, postprocess=postprocess)


def interval_rows(result: AnalysisResult) -> list[dict[str, Any]]:
    """CSV rows (``core.intervals_csv`` columns) of a result's intervals, model proposals."""
    fps = result.fps
    return [{
        "video": result.video.name,
        "onset_frame": i.onset_frame, "apex_frame": i.apex_frame, "offset_frame": i.offset_frame,
        "onset_s": round(i.onset_frame / fps, 4), "apex_s": round(i.apex_frame / fps, 4),
        "offset_s": round(i.offset_frame / fps, 4),
        "emotion": i.emotion or "", "confidence": round(float(i.confidence), 4),
        "source": "model", "status": "proposed", "note": result.model_name,
    } for i in result.intervals]


def save_result(result: AnalysisResult, folder: str | os.PathLike[str]) -> Path:
    """Write ``curves.h5`` and ``intervals.csv`` into ``folder`` (each atomically)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(folder / "curves.h5") as tmp, h5py.File(tmp, "w") as f:
        f.attrs["format"] = "metst-curves"
        f.attrs["format_version"] = 1
        f.attrs["video"] = str(result.video)
        f.attrs["model_name"] = result.model_name
        f.attrs["fps"] = result.fps
        f.attrs["postprocess"] = json.dumps(result.postprocess.to_dict())
        f.attrs["class_names"] = json.dumps(list(result.curves.class_names))
        f.attrs["code_version"] = __version__
        f.attrs["created"] = datetime.now(UTC).isoformat(timespec="seconds")
        identity = _source_identity_or_none(result.video)
        if identity is not None:
            f.attrs["source"] = json.dumps(identity, sort_keys=True)
        f.create_dataset("spot", data=result.curves.spot)
        if result.curves.recog is not None:
            f.create_dataset("recog", data=result.curves.recog, compression="lzf")
        traces = f.create_group("traces")
        traces.create_dataset("values", data=result.traces.values, compression="lzf")
        traces.create_dataset("valid", data=result.traces.valid)
        if result.traces.eye_openness is not None:
            traces.create_dataset("eye_openness", data=result.traces.eye_openness)
        traces.attrs["channel_names"] = json.dumps(list(result.traces.channel_names))
        traces.attrs["roi_set"] = result.traces.roi_set
        traces.attrs["params"] = json.dumps(result.traces.params, sort_keys=True)
    write_intervals_csv(folder / "intervals.csv", interval_rows(result))
    return folder


def result_source(folder: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The :func:`core.video.source_identity` of the file a stored result was made from (None
    for results written without one). Compare with :func:`core.video.same_content`."""
    path = Path(folder) / "curves.h5"
    try:
        with h5py.File(path, "r") as f:
            text = f.attrs.get("source")
    except OSError as exc:
        raise ResultError(f"{path}: unreadable curves file ({exc})") from exc
    return None if text is None else json.loads(str(text))


def _source_identity_or_none(video: Path) -> dict[str, Any] | None:
    """The analysed file's identity; None when it cannot be read (a result of a deleted file)."""
    try:
        return source_identity(video)
    except (OSError, ValueError):
        return None


def load_result(folder: str | os.PathLike[str]) -> AnalysisResult:
    """Read a result written by :func:`save_result` (intervals recomputed from the curves)."""
    path = Path(folder) / "curves.h5"
    try:
        with h5py.File(path, "r") as f:
            if f.attrs.get("format") != "metst-curves":
                raise ResultError(f"{path}: not a curves file of ME-TST Studio")
            group = f["traces"]
            names = tuple(json.loads(group.attrs["channel_names"]))
            openness = group["eye_openness"][()] if "eye_openness" in group else None
            traces = FlowTraces(group["values"][()], names, group["valid"][()],
                                float(f.attrs["fps"]), str(group.attrs["roi_set"]),
                                json.loads(group.attrs["params"]), openness)
            curves = Curves(f["spot"][()], f["recog"][()] if "recog" in f else None,
                            tuple(json.loads(f.attrs["class_names"])))
            postprocess = PostprocessConfig.from_dict(json.loads(f.attrs["postprocess"]))
            video, model_name = Path(str(f.attrs["video"])), str(f.attrs["model_name"])
    except (OSError, KeyError) as exc:
        raise ResultError(f"{path}: unreadable curves file ({exc})") from exc
    result = AnalysisResult(video, traces, curves, [], model_name, postprocess)
    return reinterpret(result, postprocess)

"""The one-hour benchmark project of ``bench_gui.py``: a 108,000-frame recording, a stored
analysis with curves for every frame and 2,000 intervals.

``write_hour_video`` plays the sample's frames forth and back into a 30 fps 640×360 mp4;
``prepare_project`` (re)writes ``<cache>/project/s01/hour.mp4`` (a link to the recording) with its
stored result (spot (T,), 5 emotion probabilities (T, 5), 36 ROI-flow channels (36, T)) and its
annotation file.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import cv2
import numpy as np

from core.analysis import AnalysisResult, reinterpret, save_result
from core.annotation_store import save_annotations
from core.annotations import Annotation, AnnotationSet, new_annotation_id
from core.curve_models import Curves
from core.postprocess import PostprocessConfig
from core.project import Project
from core.rois import load_roi_set
from core.traces import FlowTraces
from core.video import open_source
from resources import SAMPLE_VIDEO

__all__ = ["write_hour_video", "prepare_project", "HOUR_FPS", "HOUR_N_FRAMES", "N_INTERVALS"]

HOUR_FPS, HOUR_N_FRAMES = 30.0, 108_000
CLASS_NAMES = ("negative", "positive", "surprise", "others", "neutral")
N_INTERVALS = 2_000

# ------------------------------------------------------------------ the one-hour recording


def write_hour_video(path: Path, n_frames: int = HOUR_N_FRAMES, fps: float = HOUR_FPS) -> None:
    """Write ``n_frames`` of the sample played forth and back (mp4v) to ``path``, atomically."""
    source = open_source(SAMPLE_VIDEO)
    frames = [frame for _, frame in source.iter_frames()]  # 472 × (360, 640, 3) uint8, ~330 MB
    source.close()
    cycle = list(range(len(frames))) + list(range(len(frames) - 2, 0, -1))
    height, width = frames[0].shape[:2]
    partial = path.with_name(path.stem + ".partial.mp4")
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(partial), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    if not writer.isOpened():
        raise OSError(f"{partial}: cv2.VideoWriter cannot write mp4v")
    started = time.perf_counter()
    for frame_idx in range(n_frames):
        writer.write(frames[cycle[frame_idx % len(cycle)]])
        if frame_idx % 10_800 == 0 or frame_idx == n_frames - 1:
            print(f"  writing {path.name}: {frame_idx + 1:6d} / {n_frames} frames "
                  f"({time.perf_counter() - started:5.1f} s)", flush=True)
    writer.release()
    os.replace(partial, path)


def smooth_noise(rng: np.random.Generator, n_rows: int, n_frames: int,
                 sigma_frames: float) -> np.ndarray:
    """(n_rows, n_frames) float32 Gaussian-smoothed white noise of unit std."""
    half = int(3 * sigma_frames)
    kernel = np.exp(-0.5 * (np.arange(-half, half + 1) / sigma_frames) ** 2)
    rows = [np.convolve(rng.normal(size=n_frames), kernel, mode="same") for _ in range(n_rows)]
    values = np.asarray(rows, dtype=np.float32)
    return values / values.std(axis=1, keepdims=True)


def make_annotations(video: str, n_frames: int, fps: float,
                     rng: np.random.Generator) -> AnnotationSet:
    """``N_INTERVALS`` micro-length intervals spread over the video: model proposals (some
    accepted or rejected) and human ones."""
    spacing = n_frames // N_INTERVALS
    records = []
    for k in range(N_INTERVALS):
        onset = k * spacing + int(rng.integers(0, spacing // 2))
        offset = min(onset + int(rng.integers(6, 16)), n_frames - 1)
        kind = rng.choice(["proposed", "accepted", "rejected", "human"], p=[.5, .2, .1, .2])
        model = kind != "human"
        records.append(Annotation(
            id=new_annotation_id(), onset_frame=onset, apex_frame=(onset + offset) // 2,
            offset_frame=offset, emotion=str(rng.choice(CLASS_NAMES[:-1])),
            confidence=float(rng.uniform(0.3, 1.0)) if model else None,
            source="model" if model else "human", status="accepted" if kind == "human" else kind,
            annotator="" if kind == "proposed" else "bench",
            spot_score=float(rng.uniform(0.5, 1.0)) if model else None,
            model_name="synthetic" if model else ""))
    return AnnotationSet.from_annotations(video, n_frames, fps, records)


def make_result(video_path: Path, annotations: AnnotationSet, fps: float,
                rng: np.random.Generator) -> AnalysisResult:
    """Curves for every frame: spot (T,) peaking at the model intervals' apexes, recog (T, 5)
    softmax of smooth noise, and metst_plus ROI flow (36, T)."""
    n_frames = annotations.n_frames
    spot = 0.1 + 0.03 * smooth_noise(rng, 1, n_frames, 4.0)[0]
    bump = 0.7 * np.exp(-0.5 * (np.arange(-9, 10) / 3.0) ** 2)
    for annotation in annotations:
        if annotation.source == "model":
            apex = annotation.apex_frame
            lo, hi = max(apex - 9, 0), min(apex + 10, n_frames)
            spot[lo:hi] += bump[lo - apex + 9: hi - apex + 9]
    logits = 1.5 * smooth_noise(rng, len(CLASS_NAMES), n_frames, 10.0).T  # (T, 5)
    recog = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    roi_set = load_roi_set("metst_plus")
    values = 0.5 * smooth_noise(rng, len(roi_set.channel_names), n_frames, 2.0)  # (36, T)
    traces = FlowTraces(values, roi_set.channel_names, np.ones(n_frames, bool), fps,
                        "metst_plus", {"synthetic": True})
    curves = Curves(np.clip(spot, 0, 1).astype(np.float32), recog.astype(np.float32),
                    CLASS_NAMES)
    result = AnalysisResult(video_path, traces, curves, [], "synthetic",
                            PostprocessConfig(p=0.55, k_p=6))
    return reinterpret(result, result.postprocess)


def prepare_project(cache: Path, video_path: Path) -> Path:
    """Write ``<cache>/project`` for ``video_path``; returns the project video's path."""
    project = Project.open(cache / "project", create=True)
    project.save()
    link = project.root / "s01" / "hour.mp4"
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() or link.exists():
        if link.resolve() != video_path.resolve():
            link.unlink()
    if not link.exists():
        link.symlink_to(video_path.resolve())
    video = project.find_video(link)
    source = open_source(link)
    n_frames, fps = source.n_frames, source.fps
    source.close()
    rng = np.random.default_rng(0)
    annotations = make_annotations(video.name, n_frames, fps, rng)
    save_result(make_result(link, annotations, fps, rng), project.result_dir(video))
    save_annotations(annotations, project.annotations_path(video))
    project.autosave_path(video).unlink(missing_ok=True)  # no recovery question
    return link

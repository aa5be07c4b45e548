"""Exports: intervals as the ``metst analyze`` CSV (filters, whole project, formula-safe) that
imports back equal, and per-frame curves with every channel, fast enough for long videos."""

from __future__ import annotations

import csv
import time
from pathlib import Path

import numpy as np
import pytest

from core.analysis import AnalysisResult
from core.annotation_store import save_annotations
from core.annotations import Annotation, AnnotationSet
from core.curve_models import Curves
from core.interval_export import (
    curve_columns,
    export_curves_csv,
    export_intervals_csv,
    project_annotation_sets,
)
from core.interval_import import import_intervals
from core.intervals_csv import INTERVAL_COLUMNS
from core.postprocess import PostprocessConfig, smooth_curve
from core.project import Project
from core.traces import FlowTraces
from tests.fixtures.datasets import small_frames, write_video_file

FPS = 25.0


def _set(video: str = "clip", n_frames: int = 400) -> AnnotationSet:
    return AnnotationSet.from_annotations(video, n_frames, FPS, [
        Annotation(id="p", onset_frame=10, apex_frame=12, offset_frame=15, emotion="happy",
                   source="model", status="proposed", confidence=0.61, model_name="flow"),
        Annotation(id="a", onset_frame=30, apex_frame=35, offset_frame=41, emotion="surprise",
                   source="model", status="accepted"),
        Annotation(id="e", onset_frame=50, apex_frame=50, offset_frame=60, emotion="fear",
                   source="model", status="edited", proposal_id="x"),
        Annotation(id="r", onset_frame=70, apex_frame=71, offset_frame=72, source="model",
                   status="rejected"),
        Annotation(id="h", onset_frame=80, apex_frame=90, offset_frame=99, emotion="disgust",
                   note='=HYPERLINK("http://evil.example","click")'),
    ])


def _read(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as stream:
        return list(csv.DictReader(stream))


def _key(a: Annotation) -> tuple[int, int, int, str, str]:
    return (a.onset_frame, a.apex_frame, a.offset_frame, a.emotion, a.note)


def test_export_then_import_gives_the_same_intervals(tmp_path: Path) -> None:
    annotations = _set()
    kept = [a for a in annotations if a.status != "rejected"]
    path = tmp_path / "out" / "clip.csv"

    n_rows = export_intervals_csv(path, [("clip", annotations)],
                                  statuses=("proposed", "accepted", "edited"), sources=None)
    report = import_intervals(path, video="clip", n_frames=400, fps=FPS)

    assert n_rows == len(kept) == 4
    assert sorted(map(_key, report.annotations)) == sorted(map(_key, kept))
    assert report.rejected == [] and report.repaired == []


def test_export_writes_the_analyze_columns_with_formulas_escaped(tmp_path: Path) -> None:
    path = tmp_path / "clip.csv"
    export_intervals_csv(path, [("clip", _set())], statuses=None, sources=("human",))

    rows = _read(path)
    assert list(rows[0]) == list(INTERVAL_COLUMNS)
    assert rows[0]["note"] == "'=HYPERLINK(\"http://evil.example\",\"click\")"  # inert in Excel
    assert (rows[0]["onset_s"], rows[0]["offset_s"]) == ("3.2", "3.96")
    assert [a.note for a in import_intervals(path, video="clip", n_frames=400,
                                             fps=FPS).annotations] == \
        ['=HYPERLINK("http://evil.example","click")']


@pytest.mark.parametrize("statuses, sources, expected", [
    (None, None, ["p", "a", "e", "r", "h"]),
    (("accepted", "edited"), None, ["a", "e", "h"]),
    (None, ("model",), ["p", "a", "e", "r"]),
    (("proposed",), ("human",), []),
])
def test_status_and_source_filters(tmp_path: Path, statuses, sources, expected) -> None:
    annotations = _set()
    onsets = {a.id: str(a.onset_frame) for a in annotations}
    path = tmp_path / "clip.csv"
    assert export_intervals_csv(path, [("clip", annotations)], statuses=statuses,
                                sources=sources) == len(expected)
    assert [row["onset_frame"] for row in _read(path)] == [onsets[i] for i in expected]


def test_whole_project_export_reads_saved_files_and_the_open_videos_edits(tmp_path: Path) -> None:
    frames = small_frames(12)
    project = Project.open(tmp_path / "proj", create=True)
    for subject, name in (("alice", "one"), ("bob", "two"), ("bob", "three")):
        write_video_file(project.root / subject / f"{name}.mp4", frames, FPS)
    one, three, two = project.videos()
    saved_one = AnnotationSet.from_annotations("one", 12, FPS, [
        Annotation(id="s", onset_frame=1, apex_frame=2, offset_frame=3, emotion="happy")])
    save_annotations(saved_one, project.annotations_path(one))
    save_annotations(AnnotationSet.from_annotations("two", 12, FPS, [
        Annotation(id="old", onset_frame=5, apex_frame=6, offset_frame=7)]),
        project.annotations_path(two))
    edited_two = AnnotationSet.from_annotations("two", 12, FPS, [
        Annotation(id="new", onset_frame=8, apex_frame=9, offset_frame=11, emotion="sad")])
    warnings: list[str] = []

    sets = project_annotation_sets(project, open_video=two, open_annotations=edited_two,
                                   on_warning=warnings.append)
    path = tmp_path / "all.csv"
    n_rows = export_intervals_csv(path, [(v.key, s) for v, s in sets], statuses=None,
                                  sources=None)

    assert [(v.key, [a.id for a in s]) for v, s in sets] == [("alice/one", ["s"]),
                                                             ("bob/two", ["new"])]
    assert sets[0][1].n_frames == 12 and sets[0][1].fps == pytest.approx(FPS)
    assert n_rows == 2 and warnings == [] and three.name == "three"
    assert [(r["video"], r["onset_frame"], r["emotion"]) for r in _read(path)] == \
        [("alice/one", "1", "happy"), ("bob/two", "8", "sad")]
    assert _key(import_intervals(path, video="two", subject="bob", n_frames=12,
                                 fps=FPS).annotations[0])[:4] == (8, 9, 11, "sad")


# ---------------------------------------------------------------------------------- curves


def _result(n_frames: int, n_rois: int = 2, *, recog: bool = True,
            eyes: bool = True) -> AnalysisResult:
    rng = np.random.default_rng(0)
    names = tuple(f"roi{i // 2}_{'xy'[i % 2]}" for i in range(2 * n_rois))
    valid = np.ones(n_frames, bool)
    valid[:2] = False
    openness = rng.random(n_frames).astype(np.float32)
    openness[:2] = np.nan
    traces = FlowTraces(rng.normal(size=(2 * n_rois, n_frames)).astype(np.float32), names, valid,
                        FPS, "metst", eye_openness=openness if eyes else None)
    probs = rng.random((n_frames, 3)).astype(np.float32) if recog else None
    curves = Curves(rng.random(n_frames).astype(np.float32), probs,
                    ("negative", "positive", "neutral") if recog else ())
    return AnalysisResult(Path("clip.mp4"), traces, curves, [], "flow", PostprocessConfig(k_p=3))


def test_curves_csv_has_one_row_per_frame_with_every_channel(tmp_path: Path) -> None:
    result = _result(50)

    rows = _read(export_curves_csv(result, tmp_path / "curves.csv"))

    assert list(rows[0]) == ["frame_idx", "t_s", "face_valid", "spot", "spot_smoothed",
                             "prob_negative", "prob_positive", "prob_neutral",
                             "roi0_x", "roi0_y", "roi1_x", "roi1_y", "eye_openness"]
    assert len(rows) == 50 and rows[49]["frame_idx"] == "49" and rows[25]["t_s"] == "1"
    column = np.array([float(row["spot_smoothed"]) for row in rows])
    np.testing.assert_allclose(column, smooth_curve(result.curves.spot, 3), rtol=1e-6)
    np.testing.assert_allclose([float(row["roi1_y"]) for row in rows],
                               result.traces.values[3], rtol=1e-6)
    np.testing.assert_allclose([float(row["prob_positive"]) for row in rows],
                               result.curves.recog[:, 1], rtol=1e-6)
    assert (rows[0]["face_valid"], rows[0]["eye_openness"]) == ("0", "")  # no face: empty cell
    assert rows[2]["face_valid"] == "1" and float(rows[2]["eye_openness"]) >= 0


def test_curves_without_recognition_or_eyes_have_no_such_columns() -> None:
    columns = curve_columns(_result(10, recog=False, eyes=False))
    assert columns == ["frame_idx", "t_s", "face_valid", "spot", "spot_smoothed",
                       "roi0_x", "roi0_y", "roi1_x", "roi1_y"]


def test_an_hour_of_curves_exports_in_seconds(tmp_path: Path) -> None:
    result = _result(108_000, n_rois=17)  # 30 fps × 1 h; 3 + 2 + 3 + 34 + 1 = 43 columns

    started = time.perf_counter()
    path = export_curves_csv(result, tmp_path / "curves.csv")
    elapsed_s = time.perf_counter() - started

    with open(path, encoding="utf-8") as stream:
        n_lines = sum(1 for _line in stream)
    assert n_lines == 108_001 and len(curve_columns(result)) == 43
    assert elapsed_s < 10.0, f"{elapsed_s:.1f} s"

"""``metst evaluate`` on hand-made interval CSVs: counts computed by hand."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest

from tests.fixtures.datasets import small_frames
from training.cli import main

HEADER = "video,onset_frame,apex_frame,offset_frame,emotion,source,status\n"

# Ground truth: two videos, three MEs.
GROUND_TRUTH = HEADER + (
    "clip1.mp4,10,12,19,happy,human,accepted\n"     # A: [10, 19]
    "clip1.mp4,50,52,59,disgust,human,accepted\n"   # B: [50, 59]
    "clip2.mp4,30,33,39,surprise,human,accepted\n"  # C: [30, 39]
    "clip2.mp4,70,72,79,surprise,human,rejected\n"  # rejected: not ground truth
)
# Predictions, by hand:
#   [10, 19] positive  vs A: IoU 1            → TP, pair (positive, positive)
#   [52, 61] negative  vs B: 8 / 12 = 0.67    → TP, pair (negative, negative)
#   [36, 45] positive  vs C: 4 / 16 = 0.25    → FP (C stays a FN)
#   [5, 9]   (none)    in clip1, no overlap   → FP
#   [0, 9]   others    in clip3 (no GT)       → FP
#   [30, 39] surprise  rejected               → ignored
PREDICTIONS = HEADER + (
    "clip1.mp4,10,14,19,positive,model,proposed\n"
    "clip1.mp4,52,55,61,negative,model,proposed\n"
    "clip2.mp4,36,40,45,positive,model,proposed\n"
    "clip1.mp4,5,7,9,,model,proposed\n"
    "clip3.mp4,0,4,9,others,model,proposed\n"
    "clip2.mp4,30,33,39,surprise,model,rejected\n"
)


@pytest.fixture
def csvs(tmp_path: Path) -> tuple[Path, Path]:
    truth, predicted = tmp_path / "truth.csv", tmp_path / "predicted.csv"
    truth.write_text(GROUND_TRUTH)
    predicted.write_text(PREDICTIONS)
    return predicted, truth


def test_hand_computed_counts(csvs: tuple[Path, Path], tmp_path: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:
    predicted, truth = csvs
    out = tmp_path / "report.json"
    code = main(["evaluate", "--predictions", str(predicted), "--ground-truth", str(truth),
                 "--json", str(out)])
    stdout = capsys.readouterr().out
    assert code == 0
    assert "5 predictions, 3 ground-truth intervals, 3 videos" in stdout
    report = json.loads(out.read_text())
    spotting = report["spotting"]
    assert (spotting["tp"], spotting["fp"], spotting["fn"]) == (2, 3, 1)
    assert spotting["f1"] == pytest.approx(4 / 8)
    assert report["per_video"]["clip3"] == {"tp": 0, "fp": 1, "fn": 0, "precision": 0.0,
                                            "recall": 0.0, "f1": 0.0}
    recognition = report["recognition"]
    assert recognition["pairs"] == [["positive", "positive"], ["negative", "negative"]]
    assert recognition["uf1"] == pytest.approx(1.0)
    assert report["strs"] == pytest.approx(0.5)
    assert "    2     3     1" in stdout


def test_iou_threshold_and_hungarian_options(csvs: tuple[Path, Path], tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    predicted, truth = csvs
    out = tmp_path / "report.json"
    assert main(["evaluate", "--predictions", str(predicted), "--ground-truth", str(truth),
                 "--iou", "0.2", "--method", "hungarian", "--json", str(out)]) == 0
    spotting = json.loads(out.read_text())["spotting"]
    assert (spotting["tp"], spotting["fp"], spotting["fn"]) == (3, 2, 0)
    assert json.loads(out.read_text())["settings"]["method"] == "hungarian"


def test_folders_of_analysis_results_and_project_files(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    results, project = tmp_path / "results", tmp_path / "project" / "anna"
    (results / "clip1").mkdir(parents=True)
    project.mkdir(parents=True)
    (results / "clip1" / "intervals.csv").write_text(
        "video,onset_frame,apex_frame,offset_frame,emotion,confidence,source,status,note\n"
        "clip1.mp4,10,14,19,positive,0.8,model,proposed,\n")
    (project / "clip1.intervals.csv").write_text(GROUND_TRUTH.replace("clip2.mp4", "clip1.mp4"))
    (project / "clip1.distractors.csv").write_text(HEADER + "clip1.mp4,0,1,2,,human,accepted\n")
    out = tmp_path / "report.json"
    assert main(["evaluate", "--predictions", str(results), "--ground-truth",
                 str(tmp_path / "project"), "--json", str(out)]) == 0
    spotting = json.loads(out.read_text())["spotting"]
    assert (spotting["tp"], spotting["fp"], spotting["fn"]) == (1, 0, 2)


@pytest.mark.parametrize("content, message", [
    ("onset,offset\n1,2\n", "onset_frame"),
    (HEADER + "clip1,ten,12,19,happy,human,accepted\n", "row 2"),
    (HEADER + "clip1,20,12,19,happy,human,accepted\n", "before onset_frame"),
    ("", "onset_frame"),
])
def test_unreadable_csv_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                            content: str, message: str) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(content)
    truth = tmp_path / "truth.csv"
    truth.write_text(GROUND_TRUTH)
    code = main(["evaluate", "--predictions", str(bad), "--ground-truth", str(truth)])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("error: ") and message in err and "bad.csv" in err
    assert len(err.strip().splitlines()) == 1


def test_missing_inputs_and_unknown_dataset_kinds(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    truth = tmp_path / "truth.csv"
    truth.write_text(GROUND_TRUTH)
    for predictions, ground_truth, message in [
            (tmp_path / "none.csv", truth, "none.csv"),
            (truth, "kinect:/data", "kinect"),
            (truth, "project:/no/such/project", "/no/such/project"),
            (tmp_path, truth, "no intervals.csv")]:
        code = main(["evaluate", "--predictions", str(predictions), "--ground-truth",
                     str(ground_truth)])
        err = capsys.readouterr().err
        assert code == 1 and message in err and len(err.strip().splitlines()) == 1


def test_a_dataset_as_ground_truth(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "project" / "anna" / "take"
    folder.mkdir(parents=True)
    for k, frame in enumerate(small_frames(40)):
        cv2.imwrite(str(folder / f"{k:04d}.jpg"), frame)
    (folder.parent / "take.intervals.csv").write_text(
        HEADER + "take,5,7,9,happy,human,accepted\n"
                 "take,20,22,24,fear,model,proposed\n"     # unreviewed: not ground truth
                 "take,30,31,33,sad,model,edited\n")
    predicted = tmp_path / "predicted.csv"
    predicted.write_text(HEADER + "take.mp4,5,7,9,positive,model,proposed\n"
                                  "take.mp4,20,22,24,negative,model,proposed\n")
    out = tmp_path / "report.json"
    assert main(["evaluate", "--predictions", str(predicted), "--ground-truth",
                 f"project:{tmp_path / 'project'}", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert (report["spotting"]["tp"], report["spotting"]["fp"], report["spotting"]["fn"]) == (
        1, 1, 1)
    assert report["video_subjects"] == {"anna/take": "anna"}

"""``metst train`` end to end on a two-subject project made from the sample video."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import pytest
import torch

from core.flow import FlowConfig
from core.models.checkpoint import load_checkpoint, read_checkpoint_meta
from core.store import FeatureStore
from tests.fixtures.videos import sample_frames
from training.cli import main
from training.data import DataSpec, load_dataset, load_samples

SUBJECTS = ("anna", "ben")
N_FRAMES = 90
INTERVALS = ("video,onset_frame,apex_frame,offset_frame,emotion,source,status\n"
             "take,20,24,28,happy,human,accepted\n"
             "take,50,53,57,surprise,model,edited\n"
             "take,70,72,75,fear,model,proposed\n")      # a proposal: not trained on
TINY = ["--size", "tiny", "--epochs", "2", "--batch", "4", "--crop-seconds", "1"]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(project root, feature store): two subjects, one 90-frame video each (sample frames;
    ben's mirrored), features of the ME-TST+ ROI set extracted once."""
    root = tmp_path_factory.mktemp("project")
    frames = sample_frames(N_FRAMES)
    for k, subject in enumerate(SUBJECTS):
        folder = root / subject / "take"
        folder.mkdir(parents=True)
        for frame_idx, frame in enumerate(frames):
            image = cv2.flip(frame, 1) if k else frame
            cv2.imwrite(str(folder / f"{frame_idx:04d}.jpg"), image)
        (root / subject / "take.intervals.csv").write_text(INTERVALS)
    store = root.parent / f"{root.name}-features.h5"
    dataset = load_dataset(DataSpec("project", root))
    samples = load_samples(dataset, FlowConfig(roi_set="metst_plus"), FeatureStore(store))
    assert len(samples) == 2
    return root, store


def train(project: tuple[Path, Path], out: Path, *extra: str) -> int:
    root, store = project
    return main(["train", "--data", "project", "--root", str(root), "--out", str(out),
                 "--store", str(store), *TINY, *extra])


def events(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def test_loso_run_writes_reports_and_checkpoints_the_app_loads(
        project: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = tmp_path / "run"
    assert train(project, run_dir) == 0
    stdout = capsys.readouterr().out
    assert "pooled over 2 folds" in stdout
    for subject in SUBJECTS:
        assert (run_dir / "folds" / subject / "model.pt").is_file()
        fold = json.loads((run_dir / "folds" / subject / "report.json").read_text())
        assert fold["model"]["n_ground_truth"] == 2          # the proposal is not ground truth
    report = json.loads((run_dir / "report.json").read_text())
    assert report["model"]["n_ground_truth"] == 4 and set(report["folds"]) == set(SUBJECTS)
    markdown = (run_dir / "report.md").read_text()
    assert "| flow spotter (training-free) |" in markdown and "| Held-out subject |" in markdown
    meta = read_checkpoint_meta(run_dir / "folds" / "anna" / "model.pt")
    summary = meta.training_summary
    assert summary["subjects"] == ["ben"] and summary["n_intervals"] == 2
    assert summary["config"]["model_config"]["d_model"] == 16 and summary["k_p"] >= 1
    assert meta.roi_set == "metst_plus" and meta.class_names[-1] == "neutral"

    root, store = project
    out = tmp_path / "analysed"
    code = main(["analyze", str(root / "anna" / "take"), "--model",
                 str(run_dir / "folds" / "anna" / "model.pt"), "-o", str(out),
                 "--store", str(store)])
    assert code == 0 and (out / "take" / "intervals.csv").is_file()


def test_final_model_is_deterministic_and_can_be_fine_tuned(
        project: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("a", "b"):
        assert train(project, tmp_path / name, "--protocol", "all", "--seed", "5") == 0
    model_a, meta = load_checkpoint(tmp_path / "a" / "model.pt")
    model_b, _ = load_checkpoint(tmp_path / "b" / "model.pt")
    weights_a, weights_b = model_a.state_dict(), model_b.state_dict()
    assert all(torch.equal(weights_a[key], weights_b[key]) for key in weights_a)
    summary = meta.training_summary
    assert summary["seed"] == 5 and summary["subjects"] == list(SUBJECTS)
    assert summary["n_videos"] == 2 and summary["n_intervals"] == 4
    assert summary["data"]["specs"][0]["kind"] == "project" and summary["date"]
    assert summary["base_checkpoint"] is None

    base = tmp_path / "a" / "model.pt"
    assert train(project, tmp_path / "tuned", "--protocol", "all", "--base", str(base)) == 0
    tuned = read_checkpoint_meta(tmp_path / "tuned" / "model.pt").training_summary
    assert tuned["base_checkpoint"] == str(base)
    capsys.readouterr()
    code = train(project, tmp_path / "wrong", "--protocol", "all", "--model", "metst",
                 "--base", str(base))
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("error: ") and len(err.strip().splitlines()) == 1


def test_resume_keeps_finished_folds(project: tuple[Path, Path], tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = tmp_path / "run"
    assert train(project, run_dir, "--json-progress") == 0
    capsys.readouterr()
    first_model = run_dir / "folds" / "anna" / "model.pt"
    first_mtime = first_model.stat().st_mtime_ns
    (run_dir / "folds" / "ben" / "report.json").unlink()     # as if killed during fold 2
    (run_dir / "folds" / "ben" / "model.pt").unlink()

    assert train(project, run_dir) == 1
    assert "--resume" in capsys.readouterr().err

    assert train(project, run_dir, "--resume", "--json-progress") == 0
    lines = events(capsys.readouterr().out)
    assert [e["fold"] for e in lines if e["event"] == "fold_skipped"] == ["anna"]
    assert [e["fold"] for e in lines if e["event"] == "fold_start"] == ["ben"]
    assert lines[-1]["event"] == "done" and 0 <= lines[-1]["f1"] <= 1
    assert first_model.stat().st_mtime_ns == first_mtime
    assert (run_dir / "folds" / "ben" / "report.json").is_file()


@pytest.mark.slow
def test_a_killed_run_resumes_from_its_last_epoch(project: tuple[Path, Path],
                                                  tmp_path: Path) -> None:
    root, store = project
    run_dir = tmp_path / "run"
    command = [sys.executable, "-m", "training.cli", "train", "--data", "project", "--root",
               str(root), "--out", str(run_dir), "--store", str(store), "--size", "tiny",
               "--epochs", "40", "--batch", "4", "--crop-seconds", "1", "--json-progress"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    try:
        for line in process.stdout:  # type: ignore[union-attr]
            event = json.loads(line)
            if event["event"] == "epoch" and event["fold"] == "ben" and event["epoch"] >= 3:
                break
    finally:
        process.kill()
        process.wait()
    assert (run_dir / "folds" / "ben" / "state.pt").is_file()
    assert not (run_dir / "folds" / "ben" / "report.json").exists()
    done = subprocess.run([*command, "--resume"], capture_output=True, text=True, env=env,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    lines = events(done.stdout)
    assert [e["fold"] for e in lines if e["event"] == "fold_skipped"] == ["anna"]
    ben_epochs = [e["epoch"] for e in lines if e["event"] == "epoch"]
    assert ben_epochs[0] >= 4 and ben_epochs[-1] == 40
    assert next(e for e in lines if e["event"] == "fold_done")["resumed_from_epoch"] >= 3


def test_auto_protocol_holds_out_videos_then_trains_the_final_model_and_compares(
        project: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert train(project, tmp_path / "old", "--protocol", "all") == 0
    old = tmp_path / "old" / "model.pt"
    capsys.readouterr()
    run_dir = tmp_path / "run"
    assert train(project, run_dir, "--protocol", "auto", "--final-model", "--compare", str(old),
                 "--json-progress") == 0
    lines = events(capsys.readouterr().out)
    protocol = next(e for e in lines if e["event"] == "protocol")
    assert protocol["protocol"] == "holdout" and protocol["test_videos"] == ["ben/take"]
    assert [e["fold"] for e in lines if e["event"] == "fold_start"] == ["holdout", "all"]
    done = lines[-1]
    assert done["event"] == "done" and done["checkpoint"] == str(run_dir / "model.pt")
    assert (run_dir / "model.pt").is_file() and (run_dir / "folds" / "holdout").is_dir()
    scores = done["scores"]
    assert set(scores) == {"model", "baseline", "reference"}
    assert scores["reference"]["tp"] + scores["reference"]["fn"] == 2   # ben's reviewed two
    report = json.loads((run_dir / "report.json").read_text())
    assert report["reference"]["spotting"]["f1"] == scores["reference"]["f1"]
    summary = read_checkpoint_meta(run_dir / "model.pt").training_summary
    assert summary["subjects"] == list(SUBJECTS) and summary["n_videos"] == 2


def test_size_and_model_default_to_the_base_checkpoints(
        project: tuple[Path, Path], tmp_path: Path) -> None:
    assert train(project, tmp_path / "base", "--protocol", "all", "--model", "metst") == 0
    root, store = project
    base = tmp_path / "base" / "model.pt"
    code = main(["train", "--data", "project", "--root", str(root), "--out",
                 str(tmp_path / "tuned"), "--store", str(store), "--protocol", "all",
                 "--base", str(base), "--epochs", "1", "--batch", "4", "--crop-seconds", "1"])
    assert code == 0
    meta = read_checkpoint_meta(tmp_path / "tuned" / "model.pt")
    assert meta.model_name == "metst" and meta.config["d_model"] == 16      # tiny, like the base


def test_a_project_without_reviewed_intervals_is_refused_before_extraction(
        project: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root, _store = project
    unreviewed = tmp_path / "unreviewed"
    shutil.copytree(root / "anna", unreviewed / "anna")
    (unreviewed / "anna" / "take.intervals.csv").write_text(
        "onset_frame,apex_frame,offset_frame,source,status\n20,24,28,model,proposed\n")
    code = main(["train", "--data", "project", "--root", str(unreviewed), "--out",
                 str(tmp_path / "run"), *TINY])
    err = capsys.readouterr().err
    assert code == 1 and "no micro-expression intervals" in err and str(unreviewed) in err
    assert not (tmp_path / "run" / "features.h5").exists()


@pytest.mark.parametrize("arguments, message", [
    (["--data", "project", "--root", "/no/such/folder"], "/no/such/folder"),
    (["--data", "synthetic", "--root", "{root}"], "synth.json"),
    (["--data", "casme3", "--root", "{root}"], "--labels"),
    (["--data", "project", "--root", "{root}", "--include-dataset", "kinect:/x"], "kinect"),
    (["--data", "project", "--root", "{root}", "--subjects", "zoe"], "zoe"),
])
def test_bad_input_is_a_one_line_error(project: tuple[Path, Path], tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str], arguments: list[str],
                                       message: str) -> None:
    root, _store = project
    filled = [a.replace("{root}", str(root)) for a in arguments]
    code = main(["train", *filled, "--out", str(tmp_path / "run"), *TINY])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("error: ") and message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


@pytest.mark.slow
def test_tsfmicro_is_trained_through_its_own_trainer(project: tuple[Path, Path],
                                                     tmp_path: Path) -> None:
    root, _store = project
    out = tmp_path / "tsfmicro"
    code = main(["train", "--data", "project", "--root", str(root), "--model", "tsfmicro",
                 "--protocol", "all", "--epochs", "1", "--batch", "2", "--out", str(out)])
    assert code == 0
    meta = read_checkpoint_meta(out / "model.pt")
    assert meta.model_name == "tsfmicro"
    assert meta.class_names == ["negative", "positive", "surprise"]

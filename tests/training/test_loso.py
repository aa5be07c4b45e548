"""Leave-one-subject-out: folds never share a subject, k_p comes from the training folds only,
fold runs write checkpoints and reports, and run folders refuse to be mixed up."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from core.curve_models import load_curve_model
from core.datasets.base import LabeledInterval
from core.models.checkpoint import read_checkpoint_meta
from core.traces import FlowTraces
from training.data import VideoSample
from training.loso import (
    Fold,
    FoldJob,
    RunDirError,
    fold_dir,
    loso_folds,
    prepare_run_dir,
    run_folds,
    split_samples,
    training_k_p,
    write_run_reports,
)
from training.sequences import CropConfig
from training.trainer import MODEL_SIZES, TrainConfig

CHANNELS = tuple(f"{roi}_{axis}" for roi in ("right_brow", "left_brow", "mouth",
                                             "right_nose_wing", "left_nose_wing")
                 for axis in "xy")


def sample(subject: str, me_frames: int, n_frames: int = 240, seed: int = 0,
           video: str = "v1") -> VideoSample:
    """A video of noise traces with three MEs of ``me_frames`` frames."""
    rng = np.random.default_rng(seed)
    values = rng.normal(0, 0.1, (10, n_frames)).astype(np.float32)
    intervals = []
    for k, onset in enumerate((20, 80, 140)):
        values[2 * (k % 4):2 * (k % 4) + 2, onset:onset + me_frames] += 1.5
        intervals.append(LabeledInterval(subject, video, onset, onset + me_frames // 2,
                                         onset + me_frames - 1, ("happy", "fear")[k % 2],
                                         "micro"))
    traces = FlowTraces(values, CHANNELS, np.ones(n_frames, bool), 30.0, "metst")
    return VideoSample(subject, video, Path(f"/videos/{subject}/{video}.mp4"), traces,
                       tuple(intervals), "test")


def tiny_config(**overrides: object) -> TrainConfig:
    values = {"model": "metst", "model_config": MODEL_SIZES["tiny"]["metst"], "epochs": 1,
              "batch_size": 8, "crops": CropConfig(crop_seconds=2.0)}
    return TrainConfig(**{**values, **overrides})


def test_a_loso_split_never_shares_a_subject() -> None:
    samples = [sample(s, 10, seed=k, video=f"v{k}") for k, s in
               enumerate(["ann", "bob", "ann", "cy", "bob"])]
    folds = loso_folds([s.subject for s in samples])
    assert [f.name for f in folds] == ["ann", "bob", "cy"]
    for fold in folds:
        train, test = split_samples(samples, fold)
        assert {s.subject for s in test} == {fold.name}
        assert fold.name not in {s.subject for s in train}
        assert len(train) + len(test) == len(samples)
    with pytest.raises(ValueError, match="both trained and tested"):
        Fold("ann", ("ann", "bob"), ("ann",))
    with pytest.raises(ValueError, match="at least 2 subjects"):
        loso_folds(["ann", "ann"])


def test_k_p_comes_from_the_training_subjects_only() -> None:
    samples = [sample("a", 10), sample("b", 20), sample("c", 30)]
    expected = {"a": 12, "b": 10, "c": 7}   # floor(mean of the OTHER subjects' lengths / 2)
    for fold in loso_folds(["a", "b", "c"]):
        train, _test = split_samples(samples, fold)
        assert training_k_p(train, 30.0, "background") == expected[fold.name]
    assert training_k_p([sample("a", 10)], 60.0, "background") == 10   # lengths in seconds


def test_loso_folds_train_evaluate_and_record_their_k_p(tmp_path: Path) -> None:
    samples = [sample("a", 10, seed=1), sample("b", 20, seed=2), sample("c", 30, seed=3)]
    config = tiny_config()
    jobs = [FoldJob(fold, k, 3, fold_dir(tmp_path, fold), tuple(samples), config,
                    {"roi_set": "metst"}, {"specs": []}, device="cpu")
            for k, fold in enumerate(loso_folds(["a", "b", "c"]))]
    events: list[dict] = []
    reports = run_folds(jobs, on_event=events.append)
    assert [r.fold for r in reports] == ["a", "b", "c"]
    assert {r.fold: r.k_p for r in reports} == {"a": 12, "b": 10, "c": 7}
    for report in reports:
        directory = tmp_path / "folds" / report.fold
        summary = read_checkpoint_meta(directory / "model.pt").training_summary
        assert summary["k_p"] == report.k_p
        assert sorted(summary["subjects"]) == sorted({"a", "b", "c"} - {report.fold})
        assert summary["held_out_subjects"] == [report.fold]
        assert summary["n_videos"] == 2 and summary["seed"] == config.seed
        assert not (directory / "state.pt").exists()
        assert report.model.n_ground_truth == 3 == report.baseline.n_ground_truth
        model = load_curve_model(directory / "model.pt")
        assert model.k_p == report.k_p
        curves = model.predict(samples[0].traces)
        assert curves.spot.shape == (240,) and curves.recog.shape == (240, 5)
    kinds = [e["event"] for e in events]
    assert kinds.count("fold_start") == 3 and kinds.count("fold_done") == 3
    assert {e["fold"] for e in events if e["event"] == "epoch"} == {"a", "b", "c"}
    data = write_run_reports(tmp_path, reports, model_name="metst", run_info={"config": {}})
    pooled = data["model"]["spotting"]
    assert pooled["tp"] + pooled["fn"] == sum(len(s.intervals) for s in samples)
    assert data["baseline"]["n_ground_truth"] == pooled["tp"] + pooled["fn"]
    markdown = (tmp_path / "report.md").read_text()
    assert "flow spotter (training-free)" in markdown and "| a |" in markdown
    assert markdown.startswith("# Leave-one-subject-out report")
    assert json.loads((tmp_path / "report.json").read_text())["folds"].keys() == {"a", "b", "c"}


def test_finished_folds_are_not_run_again(tmp_path: Path) -> None:
    samples = [sample("a", 10, seed=1), sample("b", 12, seed=2)]
    jobs = [FoldJob(fold, k, 2, fold_dir(tmp_path, fold), tuple(samples), tiny_config(),
                    {}, {}, device="cpu") for k, fold in enumerate(loso_folds(["a", "b"]))]
    run_folds(jobs)
    first_a = (tmp_path / "folds" / "a" / "model.pt").stat().st_mtime_ns
    (tmp_path / "folds" / "b" / "report.json").unlink()
    events: list[dict] = []
    reports = run_folds(jobs, on_event=events.append)
    assert [r.fold for r in reports] == ["a", "b"]
    assert (tmp_path / "folds" / "a" / "model.pt").stat().st_mtime_ns == first_a
    assert [e["fold"] for e in events if e["event"] == "fold_skipped"] == ["a"]
    assert [e["fold"] for e in events if e["event"] == "fold_start"] == ["b"]


def test_a_run_folder_is_not_reused_without_resume(tmp_path: Path) -> None:
    info = {"protocol": "loso", "config": TrainConfig().to_dict()}
    prepare_run_dir(tmp_path / "run", info, resume=False)
    prepare_run_dir(tmp_path / "run", info, resume=False)     # nothing trained yet: fine
    (tmp_path / "run" / "folds" / "a").mkdir(parents=True)
    (tmp_path / "run" / "folds" / "a" / "state.pt").write_bytes(b"")
    with pytest.raises(RunDirError, match="--resume"):
        prepare_run_dir(tmp_path / "run", info, resume=False)
    prepare_run_dir(tmp_path / "run", info, resume=True)
    other = {"protocol": "loso", "config": TrainConfig(epochs=3).to_dict()}
    with pytest.raises(RunDirError, match="config"):
        prepare_run_dir(tmp_path / "run", other, resume=True)


@pytest.mark.slow
def test_parallel_folds_give_the_checkpoints_of_a_sequential_run(tmp_path: Path) -> None:
    samples = [sample("a", 10, seed=1), sample("b", 12, seed=2)]

    def jobs(run_dir: Path) -> list[FoldJob]:
        return [FoldJob(fold, k, 2, fold_dir(run_dir, fold), tuple(samples), tiny_config(),
                        {}, {}, device="cpu", threads=1)
                for k, fold in enumerate(loso_folds(["a", "b"]))]

    sequential = run_folds(jobs(tmp_path / "sequential"))
    events: list[dict] = []
    parallel = run_folds(jobs(tmp_path / "parallel"), parallel_folds=2, on_event=events.append)
    assert [r.to_dict()["model"] for r in parallel] == [r.to_dict()["model"] for r in sequential]
    assert {e["fold"] for e in events if e["event"] == "fold_done"} == {"a", "b"}
    for fold in ("a", "b"):
        first = torch.load(tmp_path / "sequential" / "folds" / fold / "model.pt")
        second = torch.load(tmp_path / "parallel" / "folds" / fold / "model.pt")
        assert all(torch.equal(first["state_dict"][k], second["state_dict"][k])
                   for k in first["state_dict"])

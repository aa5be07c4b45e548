"""The held-out split: the last 20 % of each subject's videos are tested and never trained, the
rule is deterministic, and the held-out fold trains, evaluates and scores a reference model."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.models.checkpoint import read_checkpoint_meta
from tests.training.test_loso import sample, tiny_config
from training.holdout import choose_protocol, holdout_fold
from training.loso import Fold, FoldJob, fold_dir, run_folds, split_samples, write_run_reports


def videos(subject: str, n: int) -> list:
    return [sample(subject, 10, n_frames=200, seed=k, video=f"v{k + 1}") for k in range(n)]


def test_the_last_fifth_of_each_subjects_videos_is_held_out() -> None:
    samples = [*videos("b", 10), *videos("a", 2), *videos("c", 1)]
    fold = holdout_fold(list(reversed(samples)))           # the input order does not matter
    assert fold.test_videos == ("a/v2", "b/v9", "b/v10")   # natural order: v10 after v9
    train, test = split_samples(samples, fold)
    assert sorted(s.key for s in test) == ["a/v2", "b/v10", "b/v9"]
    assert {s.key for s in train} == {s.key for s in samples} - set(fold.test_videos)
    assert "c/v1" in {s.key for s in train}                 # a single video always trains


def test_with_one_video_per_subject_the_last_subjects_video_is_held_out() -> None:
    samples = [*videos("s2", 1), *videos("s1", 1)]
    fold = holdout_fold(samples)
    assert fold.test_videos == ("s2/v1",)
    train, test = split_samples(samples, fold)
    assert [s.key for s in train] == ["s1/v1"] and [s.key for s in test] == ["s2/v1"]
    with pytest.raises(ValueError, match="at least 2 videos"):
        holdout_fold(videos("s1", 1))


def test_auto_protocol_needs_three_subjects_with_expressions() -> None:
    quiet = sample("d", 10, seed=4)
    quiet = type(quiet)(quiet.subject, quiet.video, quiet.path, quiet.traces, (), quiet.dataset)
    two = [*videos("a", 1), *videos("b", 1), quiet]
    assert choose_protocol(two, "background") == "holdout"
    assert choose_protocol([*two, *videos("c", 1)], "background") == "loso"


def test_the_held_out_fold_trains_and_scores_a_reference_beside_it(tmp_path: Path) -> None:
    samples = [*videos("a", 2), *videos("b", 2)]
    config = tiny_config()
    reference_job = FoldJob(Fold("all", ("a", "b"), ()), 0, 1, tmp_path / "reference",
                            tuple(samples), config, {"roi_set": "metst"}, {"specs": []},
                            device="cpu")
    run_folds([reference_job])
    reference = tmp_path / "reference" / "model.pt"
    fold = holdout_fold(samples)
    job = FoldJob(fold, 0, 1, fold_dir(tmp_path / "run", fold), tuple(samples), config,
                  {"roi_set": "metst"}, {"specs": []}, device="cpu",
                  reference_checkpoint=reference)
    (report,) = run_folds([job])
    assert report.n_train_videos == 2 and report.n_test_videos == 2
    assert report.reference is not None
    assert report.reference.n_ground_truth == report.model.n_ground_truth == 6
    summary = read_checkpoint_meta(tmp_path / "run" / "folds" / "holdout" / "model.pt"
                                   ).training_summary
    assert summary["held_out_videos"] == ["a/v2", "b/v2"] and summary["n_videos"] == 2
    data = write_run_reports(tmp_path / "run", [report], model_name="metst", run_info={})
    assert data["reference"]["n_ground_truth"] == 6
    markdown = (tmp_path / "run" / "report.md").read_text()
    assert "reference checkpoint" in markdown
    assert markdown.startswith("# Held-out videos report")

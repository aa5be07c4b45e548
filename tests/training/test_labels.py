"""Per-frame training targets from hand-made intervals, and from a project's reviewed rows."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from core.datasets.base import LabeledInterval
from tests.fixtures.datasets import small_frames
from training.data import DataSpec, load_dataset
from training.labels import IGNORE_INDEX, LabelConfig, frame_labels

NEGATIVE, POSITIVE, SURPRISE, OTHERS, NEUTRAL = range(5)


def interval(onset: int, apex: int, offset: int, emotion: str = "happy",
             kind: str = "micro") -> LabeledInterval:
    return LabeledInterval("s1", "v1", onset, apex, offset, emotion, kind)


def test_hard_targets_mark_the_expression_and_its_emotion() -> None:
    labels = frame_labels([interval(3, 5, 7, "happy"), interval(12, 12, 14, "disgust")], 20)
    expected_spot = np.zeros(20, np.float32)
    expected_spot[3:8] = 1
    expected_spot[12:15] = 1
    np.testing.assert_array_equal(labels.spot, expected_spot)
    expected_recog = np.full(20, NEUTRAL)
    expected_recog[3:8] = POSITIVE
    expected_recog[12:15] = NEGATIVE
    np.testing.assert_array_equal(labels.recog, expected_recog)
    assert labels.mask.all()


def test_soft_targets_rise_to_the_apex_and_fall_to_the_offset() -> None:
    spot = frame_labels([interval(10, 13, 20)], 30, LabelConfig(spot_target="soft")).spot
    inside = spot[10:21]
    assert spot[13] == 1.0 and inside.min() > 0
    assert np.all(np.diff(spot[10:14]) > 0) and np.all(np.diff(spot[13:21]) < 0)
    assert not spot[:10].any() and not spot[21:].any()
    np.testing.assert_allclose(spot[10], 1 / 4)      # 4 frames from onset to apex


@pytest.mark.parametrize("policy, spot, recog, mask", [
    ("background", 0.0, NEUTRAL, True),
    ("ignore", 0.0, IGNORE_INDEX, False),
    ("expression", 1.0, POSITIVE, True),
])
def test_macro_expressions_follow_the_policy(policy: str, spot: float, recog: int,
                                             mask: bool) -> None:
    macro = interval(4, 8, 15, "happy", kind="macro")
    labels = frame_labels([macro], 20, LabelConfig(macro_policy=policy))
    assert np.all(labels.spot[4:16] == spot)
    assert np.all(labels.recog[4:16] == recog)
    assert np.all(labels.mask[4:16] == mask)
    assert labels.recog[0] == NEUTRAL and labels.mask[0]


def test_invalid_trace_frames_are_masked_out_of_both_losses() -> None:
    valid = np.ones(12, bool)
    valid[[2, 6]] = False
    labels = frame_labels([interval(5, 6, 8)], 12, valid=valid)
    assert not labels.mask[2] and not labels.mask[6] and labels.mask.sum() == 10
    assert labels.recog[2] == IGNORE_INDEX and labels.recog[6] == IGNORE_INDEX
    assert labels.recog[7] == POSITIVE


def test_unknown_or_excluded_emotions_are_ignored_by_recognition_only() -> None:
    no_label = frame_labels([interval(2, 3, 4, "")], 10)
    assert np.all(no_label.spot[2:5] == 1) and np.all(no_label.recog[2:5] == IGNORE_INDEX)
    three = frame_labels([interval(2, 3, 4, "others")], 10, LabelConfig(emotions="3-class"))
    assert np.all(three.recog[2:5] == IGNORE_INDEX) and three.recog[0] == 3  # neutral of 3+1
    four = frame_labels([interval(2, 3, 4, "tense")], 10)
    assert np.all(four.recog[2:5] == OTHERS)


def test_overlapping_expressions_that_disagree_are_ignored_on_the_overlap() -> None:
    labels = frame_labels([interval(2, 4, 6, "happy"), interval(5, 7, 9, "surprise")], 12)
    assert list(labels.recog[2:10]) == [POSITIVE] * 3 + [IGNORE_INDEX] * 2 + [SURPRISE] * 3


def test_official_trim_and_intervals_past_the_end() -> None:
    trimmed = frame_labels([interval(2, 4, 6)], 10, LabelConfig(trim_edges=True))
    assert list(np.flatnonzero(trimmed.spot)) == [3, 4, 5]
    clipped = frame_labels([interval(8, 9, 14), interval(20, 21, 22)], 10)
    assert list(np.flatnonzero(clipped.spot)) == [8, 9]


def test_label_config_round_trip_and_bad_values() -> None:
    config = LabelConfig(spot_target="soft", macro_policy="ignore", emotions="3-class")
    assert LabelConfig.from_dict(config.to_dict()) == config
    assert config.class_names == ("negative", "positive", "surprise", "neutral")
    with pytest.raises(ValueError, match="spot_target"):
        LabelConfig(spot_target="gaussian")
    with pytest.raises(ValueError, match="unknown LabelConfig keys"):
        LabelConfig.from_dict({"colour": 1})


def _write_frames(folder: Path, n_frames: int) -> None:
    folder.mkdir(parents=True)
    for k, frame in enumerate(small_frames(n_frames)):
        cv2.imwrite(str(folder / f"{k:04d}.jpg"), frame)


def test_project_labels_use_only_accepted_and_edited_intervals(tmp_path: Path) -> None:
    root = tmp_path / "project"
    _write_frames(root / "anna" / "take1", 40)
    (root / "anna" / "take1.intervals.csv").write_text(
        "video,onset_frame,apex_frame,offset_frame,emotion,source,status\n"
        "take1,2,3,5,happy,model,proposed\n"          # unreviewed proposal: out
        "take1,8,9,11,disgust,model,rejected\n"       # rejected: out
        "take1,14,15,17,surprise,model,accepted\n"    # accepted: in
        "take1,20,22,24,sad,model,edited\n"           # edited: in
        "take1,28,29,30,,human,\n"                    # drawn by a human, no emotion: in
        "take1,33,34,36,happy,human,rejected\n")      # a human rejected it: out
    dataset = load_dataset(DataSpec("project", root))
    (video,) = dataset.videos
    labels = frame_labels(video.intervals, 40)
    expected_spot = np.zeros(40, np.float32)
    expected_recog = np.full(40, NEUTRAL)
    for (onset, offset), target in [((14, 17), SURPRISE), ((20, 24), NEGATIVE),
                                    ((28, 30), IGNORE_INDEX)]:
        expected_spot[onset:offset + 1] = 1
        expected_recog[onset:offset + 1] = target
    np.testing.assert_array_equal(labels.spot, expected_spot)
    np.testing.assert_array_equal(labels.recog, expected_recog)

"""Emotion mappings: the datasets' raw labels land in the MEGC classes; unknown labels are
reported; mappings round-trip through dicts (as stored in checkpoints)."""

from __future__ import annotations

import json
import pickle
from collections import Counter
from pathlib import Path

import pytest

from core.datasets import (
    FOUR_CLASS,
    THREE_CLASS,
    EmotionMapping,
    LabeledInterval,
    map_emotions,
    read_casme3_labels,
)


@pytest.mark.parametrize(("label", "four", "three"), [
    ("disgust", "negative", "negative"), ("fear", "negative", "negative"),
    ("anger", "negative", "negative"), ("sad", "negative", "negative"),
    ("Sadness", "negative", "negative"), ("Contempt", "negative", "negative"),
    ("repression", "negative", "negative"),
    ("happy", "positive", "positive"), ("Happiness", "positive", "positive"),
    ("surprise", "surprise", "surprise"), (" Surprise ", "surprise", "surprise"),
    ("others", "others", None), ("Others", "others", None), ("Other", "others", None),
    ("tense", "others", None),
    ("bewildered", "others", None),  # unknown: the default
    ("", None, None),  # no label (a macro-expression)
])
def test_raw_labels_map_to_megc_classes(label: str, four: str | None, three: str | None) -> None:
    assert FOUR_CLASS.map(label) == four
    assert THREE_CLASS.map(label) == three


def test_class_order_and_indices() -> None:
    assert FOUR_CLASS.classes == ("negative", "positive", "surprise", "others")
    assert THREE_CLASS.classes == ("negative", "positive", "surprise")
    assert FOUR_CLASS.class_index("happy") == 1 and THREE_CLASS.class_index("others") is None


def _interval(emotion: str, row: int) -> LabeledInterval:
    return LabeledInterval("s1", "v1", 1, 2, 3, emotion, "micro", source_row=row,
                           source_file="labels.xlsx")


def test_unknown_labels_are_reported_with_their_row() -> None:
    intervals = [_interval("happy", 2), _interval("bewildered", 3), _interval("", 4)]

    classes, warnings = map_emotions(intervals, FOUR_CLASS)

    assert classes == ["positive", "others", None]
    assert [(w.file, w.row) for w in warnings] == [("labels.xlsx", 3)]
    assert "'bewildered'" in warnings[0].message and "'others'" in warnings[0].message


def test_mapping_round_trips_through_json_and_pickle() -> None:
    for mapping in (FOUR_CLASS, THREE_CLASS):
        restored = EmotionMapping.from_dict(json.loads(json.dumps(mapping.to_dict())))
        assert restored == mapping and restored.map("sad") == mapping.map("sad")
        assert pickle.loads(pickle.dumps(mapping)) == mapping


def test_a_custom_mapping_is_configurable_and_checked() -> None:
    mapping = EmotionMapping("binary", ("negative", "positive"),
                             {"Disgust": "negative", "happy": "positive"}, default=None)

    assert mapping.map("disgust") == "negative" and mapping.map("surprise") is None
    with pytest.raises(ValueError, match="not among its classes"):
        EmotionMapping("bad", ("negative",), {"happy": "positive"})
    with pytest.raises(ValueError, match="unique"):
        EmotionMapping("bad", ("negative", "negative"), {})


def test_every_casme3_label_is_known_to_the_four_class_protocol(real_casme3_labels: Path) -> None:
    intervals, _warnings = read_casme3_labels(
        real_casme3_labels / "cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx",
        all_expressions_file=real_casme3_labels / "CAS(ME)3_part_A_v2.xls")

    classes, warnings = map_emotions(intervals, FOUR_CLASS)

    assert warnings == []
    assert Counter(classes) == {"negative": 457, "surprise": 187, "others": 161, "positive": 55}

"""Emotion classes for recognition: the sheets' raw labels mapped to a small protocol.

:data:`FOUR_CLASS` (negative, positive, surprise, others) follows the MEGC composite protocol
(MEGC 2019: negative = repression, anger, contempt, disgust, fear, sadness; positive =
happiness; surprise) with CAS(ME)^3's own "others" class kept as a fourth class, as the
CAS(ME)^3 and ME-TST papers do:

- negative ← anger, angry, contempt, disgust, fear, sad, sadness, repression (MEGC counts
  CASME II's "repression" as negative), and "negative" itself;
- positive ← happy, happiness, and "positive";
- surprise ← surprise;
- others ← others, other (SAMM writes "Other"), tense (CASME's "tense" is in no MEGC class),
  and every label the mapping does not know (the default).

:data:`THREE_CLASS` drops "others": those intervals map to None (excluded from training and
scoring), and so do unknown labels. The raw labels met in the real sheets: CAS(ME)^3 Part A
``disgust, surprise, others, fear, anger, sad, happy`` (and three "Others"); SAMM ``Anger,
Contempt, Disgust, Fear, Happiness, Sadness, Surprise, Other``.

An empty label ('' — e.g. a macro-expression, which the sheets give no emotion) maps to None
without a warning. An unknown label maps to the mapping's default, and :func:`map_emotions`
reports it as a :class:`~core.datasets.base.DatasetWarning` with the interval's file and row.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from core.datasets.base import DatasetWarning, LabeledInterval

__all__ = ["EmotionMapping", "FOUR_CLASS", "THREE_CLASS", "map_emotions"]


def _normalized_label(label: str) -> str:
    return " ".join(str(label).split()).lower()


@dataclass(frozen=True)
class EmotionMapping:
    """Raw emotion label → class name (or None: excluded from recognition).

    ``classes``: the class names in model output order. ``labels``: raw label (matched
    lower-case, spacing ignored) → a class in ``classes`` or None. ``default``: the class of a
    label not in ``labels`` (a class or None).
    """

    name: str
    classes: tuple[str, ...]
    labels: Mapping[str, str | None] = field(hash=False)
    default: str | None = None

    def __post_init__(self) -> None:
        classes = tuple(self.classes)
        if not classes or len(set(classes)) != len(classes):
            raise ValueError(f"emotion mapping '{self.name}': classes must be unique and not "
                             f"empty, got {list(classes)}")
        labels = {_normalized_label(raw): target for raw, target in self.labels.items()}
        unknown = sorted({str(target) for target in [*labels.values(), self.default]
                          if target is not None and target not in classes})
        if unknown:
            raise ValueError(f"emotion mapping '{self.name}': {unknown} are not among its "
                             f"classes {list(classes)}")
        object.__setattr__(self, "classes", classes)
        object.__setattr__(self, "labels", labels)  # a copy: picklable, not shared

    def map(self, label: str) -> str | None:
        """The class of a raw label: '' → None, a known label → its class, else the default."""
        normalized = _normalized_label(label)
        if not normalized:
            return None
        return self.labels.get(normalized, self.default)

    def knows(self, label: str) -> bool:
        """Whether ``label`` is empty or listed (an unknown label falls back to the default)."""
        normalized = _normalized_label(label)
        return not normalized or normalized in self.labels

    def class_index(self, label: str) -> int | None:
        """The position of ``label``'s class in ``classes``, or None when it is excluded."""
        target = self.map(label)
        return None if target is None else self.classes.index(target)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "classes": list(self.classes), "labels": dict(self.labels),
                "default": self.default}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EmotionMapping:
        return cls(name=str(data["name"]), classes=tuple(data["classes"]),
                   labels=dict(data["labels"]), default=data.get("default"))


_NEGATIVE = ("anger", "angry", "contempt", "disgust", "fear", "sad", "sadness", "repression",
             "negative")
_POSITIVE = ("happy", "happiness", "positive")
_OTHERS = ("others", "other", "tense")

FOUR_CLASS = EmotionMapping(
    name="4-class",
    classes=("negative", "positive", "surprise", "others"),
    labels={**dict.fromkeys(_NEGATIVE, "negative"), **dict.fromkeys(_POSITIVE, "positive"),
            "surprise": "surprise", **dict.fromkeys(_OTHERS, "others")},
    default="others",
)

THREE_CLASS = EmotionMapping(
    name="3-class",
    classes=("negative", "positive", "surprise"),
    labels={**dict.fromkeys(_NEGATIVE, "negative"), **dict.fromkeys(_POSITIVE, "positive"),
            "surprise": "surprise", **dict.fromkeys(_OTHERS, None)},
    default=None,
)


def map_emotions(intervals: Iterable[LabeledInterval], mapping: EmotionMapping
                 ) -> tuple[list[str | None], list[DatasetWarning]]:
    """The class of each interval's emotion (None: excluded) and a warning per unknown label."""
    classes, warnings = [], []
    for interval in intervals:
        classes.append(mapping.map(interval.emotion))
        if not mapping.knows(interval.emotion):
            warnings.append(DatasetWarning(
                interval.source_file or f"{interval.subject}/{interval.video}",
                interval.source_row,
                f"unknown emotion '{interval.emotion}': mapped to "
                f"{mapping.default!r} by the {mapping.name} mapping"))
    return classes, warnings

"""The held-out split: evaluation for data with too few subjects for leave-one-subject-out.

Rule (deterministic, no random draw): each subject's videos in natural order of their names;
the last ``ceil(fraction × n)`` videos (default fraction 0.2) of every subject with at least two
videos are held out for testing, the rest train. When no subject has two videos, the last video
of the last subject (in natural order) is held out. A split needs at least two videos and
leaves at least one to train on.

:func:`choose_protocol` is the rule ``metst train --protocol auto`` follows: leave-one-subject-out
when at least :data:`MIN_LOSO_SUBJECTS` subjects have expressions, else this held-out split.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from core.datasets.base import natural_key
from training.data import VideoSample
from training.loso import Fold

__all__ = ["holdout_fold", "choose_protocol", "HOLDOUT_FOLD", "HOLDOUT_FRACTION",
           "MIN_LOSO_SUBJECTS"]

HOLDOUT_FOLD = "holdout"
HOLDOUT_FRACTION = 0.2
MIN_LOSO_SUBJECTS = 3


def holdout_fold(samples: Sequence[VideoSample], fraction: float = HOLDOUT_FRACTION) -> Fold:
    """The held-out :class:`~training.loso.Fold` of ``samples`` (module docstring for the rule).

    Raises ValueError when there are fewer than two videos or ``fraction`` is not in (0, 1).
    """
    if not 0 < fraction < 1:
        raise ValueError(f"the held-out fraction must be in (0, 1), got {fraction}")
    if len(samples) < 2:
        raise ValueError(f"a held-out split needs at least 2 videos, got {len(samples)}")
    by_subject: dict[str, list[VideoSample]] = {}
    for sample in samples:
        by_subject.setdefault(sample.subject, []).append(sample)
    subjects = sorted(by_subject, key=natural_key)
    held_out: list[str] = []
    for subject in subjects:
        videos = sorted(by_subject[subject], key=lambda s: natural_key(s.video))
        if len(videos) >= 2:
            n_test = min(len(videos) - 1, math.ceil(fraction * len(videos)))
            held_out += [s.key for s in videos[-n_test:]]
    if not held_out:
        last = sorted(by_subject[subjects[-1]], key=lambda s: natural_key(s.video))[-1]
        held_out = [last.key]
    return Fold(HOLDOUT_FOLD, tuple(subjects), (), tuple(held_out))


def choose_protocol(samples: Sequence[VideoSample], macro_policy: str) -> str:
    """``"loso"`` when at least :data:`MIN_LOSO_SUBJECTS` subjects have an expression in
    ``samples``, else ``"holdout"``."""
    with_expressions = {s.subject for s in samples if s.expressions(macro_policy)}
    return "loso" if len(with_expressions) >= MIN_LOSO_SUBJECTS else "holdout"

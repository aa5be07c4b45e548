"""Readers for micro-expression datasets (CAS(ME)³, SAMM Long Videos, app projects).

Each reader returns a :class:`Dataset`: videos with 0-based labelled intervals, plus every anomaly
met as a :class:`DatasetWarning` with its row number; an unreadable sheet raises one
:class:`DatasetError`. :mod:`core.datasets.emotions` maps raw emotion labels to classes.
"""

from core.datasets.base import (
    Dataset,
    DatasetError,
    DatasetVideo,
    DatasetWarning,
    LabeledInterval,
    MaskedFrameSource,
)
from core.datasets.casme3 import load_casme3, read_casme3_damaged, read_casme3_labels
from core.datasets.emotions import FOUR_CLASS, THREE_CLASS, EmotionMapping, map_emotions
from core.datasets.project import intervals_csv_path, load_project, read_project_intervals
from core.datasets.samm_lv import load_samm_lv, read_samm_lv_labels

__all__ = [
    "Dataset",
    "DatasetError",
    "DatasetVideo",
    "DatasetWarning",
    "LabeledInterval",
    "MaskedFrameSource",
    "load_casme3",
    "read_casme3_labels",
    "read_casme3_damaged",
    "load_samm_lv",
    "read_samm_lv_labels",
    "load_project",
    "read_project_intervals",
    "intervals_csv_path",
    "EmotionMapping",
    "FOUR_CLASS",
    "THREE_CLASS",
    "map_emotions",
]

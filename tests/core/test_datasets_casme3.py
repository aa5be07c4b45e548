"""CAS(ME)^3 Part A: the real label sheets read with their anomalies reported, frames map to
labels, damaged frames read as their neighbour, and bad sheets fail with one clear error."""

from __future__ import annotations

import pickle
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.datasets import (
    Dataset,
    DatasetError,
    load_casme3,
    read_casme3_damaged,
    read_casme3_labels,
)
from core.video import VideoError
from tests.fixtures.datasets import CASME3_HEADER, write_casme3_labels, write_sheet

LABEL_XLSX = "cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx"
ALL_XLS = "CAS(ME)3_part_A_v2.xls"
DAMAGED_TXT = "error_info_damaged_image_partA.txt"


def _rows_warned(warnings, file_name: str) -> set[int]:
    return {w.row for w in warnings if Path(w.file).name == file_name}


# ----------------------------------------------------------------------- the real sheets


def test_real_label_sheet_has_860_mes_of_94_subjects_and_reports_its_anomalies(
        real_casme3_labels: Path) -> None:
    intervals, warnings = read_casme3_labels(real_casme3_labels / LABEL_XLSX)

    assert len(intervals) + 1 == 860  # row 751 (offset before onset) is skipped
    assert len({i.subject for i in intervals}) == 94
    assert {i.expression_type for i in intervals} == {"micro"}
    assert _rows_warned(warnings, LABEL_XLSX) == {130, 751, 752, 798, 800}
    by_row = {i.source_row: i for i in intervals}
    assert 751 not in by_row
    assert (by_row[798].apex_frame, by_row[798].offset_frame) == (1824, 1824)  # Offset 0
    assert (by_row[130].onset_frame, by_row[130].apex_frame, by_row[130].offset_frame) == \
        (112, 235, 358)  # Apex 83 before onset → midpoint
    assert (by_row[752].onset_frame, by_row[752].apex_frame) == (0, 0)  # kept, reported
    assert by_row[61].video == "j"  # written 'J' in the sheet
    assert by_row[2].emotion == "others" and by_row[2].action_units == "5"
    assert all(i.emotion == i.emotion.lower() != "" for i in intervals)


def test_real_all_expressions_file_gives_4206_micro_and_macro_expressions(
        real_casme3_labels: Path) -> None:
    intervals, warnings = read_casme3_labels(
        real_casme3_labels / LABEL_XLSX, all_expressions_file=real_casme3_labels / ALL_XLS,
        include_macro=True)

    assert Counter(i.expression_type for i in intervals) == {"macro": 3346, "micro": 860}
    assert len({i.subject for i in intervals}) == 98
    micro = [i for i in intervals if i.expression_type == "micro"]
    assert all(i.emotion for i in micro)  # every ME found its label row
    assert all(i.emotion == "" for i in intervals if i.expression_type == "macro")
    assert Counter(i.emotion for i in micro)["disgust"] == 250
    # the .xls holds the corrected frames of the label sheet's four bad rows
    corrected = {i.source_row: i for i in micro if Path(i.source_file).name == ALL_XLS}
    assert corrected[697].apex_frame == 160 and corrected[3649].onset_frame == 2647
    assert corrected[3897].offset_frame == 1845 and corrected[3906].offset_frame == 2403
    assert _rows_warned(warnings, LABEL_XLSX) == {130, 751, 798, 800}
    assert _rows_warned(warnings, ALL_XLS) == {3651}  # onset = apex = 0


def test_real_all_expressions_without_macro_keeps_the_860_mes(real_casme3_labels: Path) -> None:
    intervals, _warnings = read_casme3_labels(
        real_casme3_labels / LABEL_XLSX, all_expressions_file=real_casme3_labels / ALL_XLS)

    assert len(intervals) == 860 and {i.expression_type for i in intervals} == {"micro"}


def test_real_damaged_list_names_frames_of_two_videos(real_casme3_labels: Path) -> None:
    damaged, warnings = read_casme3_damaged(real_casme3_labels / DAMAGED_TXT)

    assert set(damaged) == {("spno.3", "j"), ("spno.4", "j")}
    assert sum(len(frames) for frames in damaged.values()) == 121
    assert len(warnings) == 9 and all("listed again" in w.message for w in warnings)
    assert damaged[("spno.3", "j")][:2] == (498, 499)


def test_labels_only_dataset_groups_intervals_by_video(real_casme3_labels: Path) -> None:
    dataset = load_casme3(None, real_casme3_labels / LABEL_XLSX,
                          damaged_file=real_casme3_labels / DAMAGED_TXT)

    assert isinstance(dataset, Dataset) and len(dataset.intervals) == 859
    assert len(dataset.subjects) == 94 and dataset.subjects[:3] == ["spNO.1", "spNO.2", "spNO.3"]
    assert all(video.path is None and video.fps == 30 for video in dataset.videos)
    assert len({(v.subject, v.video) for v in dataset.videos}) == len(dataset.videos)
    with pytest.raises(DatasetError, match="no frames"):
        dataset.videos[0].open()


# ------------------------------------------------------------------- frames ↔ labels


@pytest.fixture(scope="module")
def tiny_dataset(casme3_root: Path) -> Dataset:
    return load_casme3(casme3_root / "frames", casme3_root / "labels.xlsx",
                       damaged_file=casme3_root / "damaged.txt")


def test_every_video_folder_and_labelled_video_is_in_the_dataset(tiny_dataset: Dataset) -> None:
    found = {(v.subject, v.video): v for v in tiny_dataset.videos}

    assert list(found) == [("spNO.1", "a"), ("spNO.1", "j"), ("spNO.2", "b"), ("spNO.3", "c")]
    assert found[("spNO.2", "b")].intervals == []  # frames without labels: still scored
    assert found[("spNO.3", "c")].path is None  # labels without frames: reported
    assert [w for w in tiny_dataset.warnings if "spNO.3/c" in w.message]
    happy = found[("spNO.1", "j")].intervals[0]  # 'J' in the sheet, folder 'j'
    assert (happy.onset_frame, happy.apex_frame, happy.offset_frame, happy.emotion) == \
        (2, 3, 6, "happy")


def test_label_frames_are_the_jpg_numbers(tiny_dataset: Dataset, casme3_root: Path) -> None:
    video = tiny_dataset.video("spNO.1", "a")
    interval = video.intervals[0]
    color = casme3_root / "frames" / "spNO.1" / "a" / "color"

    with video.open() as source:
        assert (interval.onset_frame, interval.apex_frame, interval.offset_frame) == (5, 7, 10)
        assert source.fps == 30 and source.n_frames == 15
        for frame_idx in (interval.onset_frame, interval.apex_frame, interval.offset_frame):
            assert np.array_equal(source.read(frame_idx),
                                  cv2.imread(str(color / f"{frame_idx}.jpg")))


def test_damaged_frames_read_as_their_neighbour_and_count_as_missing(
        tiny_dataset: Dataset, casme3_root: Path) -> None:
    video = tiny_dataset.video("spNO.1", "a")
    color = casme3_root / "frames" / "spNO.1" / "a" / "color"

    assert video.damaged_frames == (9,)
    with video.open() as source:
        assert source.missing_indices == (0, 1, 2, 9)
        assert np.array_equal(source.read(9), cv2.imread(str(color / "8.jpg")))
        assert source.read_gray(9).shape == (90, 160)
        assert [idx for idx, _frame in source.iter_frames(8, 11)] == [8, 9, 10]


def test_without_the_damaged_list_a_damaged_frame_fails_to_read(casme3_root: Path) -> None:
    dataset = load_casme3(casme3_root / "frames", casme3_root / "labels.xlsx")

    with dataset.video("spNO.1", "a").open() as source, pytest.raises(VideoError):
        source.read(9)


def test_a_label_row_matches_the_all_expressions_row_sharing_two_frames(tmp_path: Path) -> None:
    labels = write_casme3_labels(tmp_path / "labels.xlsx", [
        ("spNO.1", "a", "5", "7", "0", "4", "III", "fear"),  # offset 0: corrected below
        ("spNO.1", "b", "20", "22", "24", "4", "III", "sad"),  # in no expression row
    ])
    all_file = write_sheet(tmp_path / "all.xlsx", [
        ("Subject", "Filename", "Onset", "Apex", "Offset", "AU", "Expression type"),
        ("spNO.1", "A", "5", "7", "12", "4", "Micro-expression"),
        ("spNO.1", "a", "30", "40", "90", "12", "Macro-expression"),
        ("spNO.2", "c", "1", "2", "3", "4", "Micro-expression"),  # no label row
        ("spNO.2", "c", "1", "2", "3", "4", "Blink"),
    ], sheet="AU+Emotion")

    intervals, warnings = read_casme3_labels(labels, all_expressions_file=all_file,
                                             include_macro=True)

    summary = [(i.subject, i.video, i.onset_frame, i.offset_frame, i.emotion, i.expression_type)
               for i in intervals]
    assert summary == [("spNO.1", "a", 5, 12, "fear", "micro"),
                       ("spNO.1", "a", 30, 90, "", "macro"),
                       ("spNO.2", "c", 1, 3, "", "micro"),
                       ("spNO.1", "b", 20, 24, "sad", "micro")]
    assert _rows_warned(warnings, "labels.xlsx") == {2, 3}  # frames differ; not matched
    assert _rows_warned(warnings, "all.xlsx") == {4, 5}  # no emotion; unknown type


def test_macro_expressions_need_the_all_expressions_file(casme3_root: Path) -> None:
    with pytest.raises(ValueError, match="all_expressions_file"):
        read_casme3_labels(casme3_root / "labels.xlsx", include_macro=True)


def test_a_missing_frames_root_is_an_error(casme3_root: Path, tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no such folder"):
        load_casme3(tmp_path / "nowhere", casme3_root / "labels.xlsx")


# ------------------------------------------------------------------------- bad sheets


def test_missing_column_is_named_with_the_columns_found(tmp_path: Path) -> None:
    header = tuple(name for name in CASME3_HEADER if name != "Apex")
    path = write_casme3_labels(tmp_path / "l.xlsx", [("spNO.1", "a", "1", "2", "4", "I", "x")],
                               header=header)

    with pytest.raises(DatasetError) as caught:
        read_casme3_labels(path)

    message = str(caught.value)
    assert str(path) in message and "sheet 'label'" in message and "row 1" in message
    assert "no column 'Apex'" in message and "'Onset'" in message and "'emotion'" in message


def test_wrong_sheet_name_lists_the_sheets(tmp_path: Path) -> None:
    path = write_casme3_labels(tmp_path / "l.xlsx", sheet="labels_v1")

    with pytest.raises(DatasetError, match=r"no sheet named 'label'; the sheets are "
                                           r"\['labels_v1', 'Sheet1'\]"):
        read_casme3_labels(path)


def test_text_in_a_frame_column_names_row_column_and_value(tmp_path: Path) -> None:
    path = write_casme3_labels(tmp_path / "l.xlsx", [
        ("spNO.1", "a", "5", "7", "10", "4", "III", "fear"),
        ("spNO.1", "a", "n/a", "7", "10", "4", "III", "fear"),
    ])

    with pytest.raises(DatasetError) as caught:
        read_casme3_labels(path)

    error = caught.value
    assert (error.sheet, error.row, error.column) == ("label", 3, "Onset")
    assert "'n/a' is not a frame number" in str(error)
    assert str(pickle.loads(pickle.dumps(error))) == str(error)  # crosses worker processes


@pytest.mark.parametrize(("name", "content", "problem"), [
    ("missing.xlsx", None, "no such file"),
    ("notes.xlsx", b"Subject,Filename\nspNO.1,a\n", "is not an Excel workbook"),
    ("labels.csv", b"Subject,Filename,Onset\n", "is not an Excel workbook"),
    ("broken.xlsx", b"PK\x03\x04 not really a zip", "cannot read the workbook"),
])
def test_unreadable_files_give_one_clear_error(tmp_path: Path, name: str, content: bytes | None,
                                               problem: str) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)

    with pytest.raises(DatasetError, match=problem) as caught:
        read_casme3_labels(path)

    assert str(caught.value).startswith(str(path))


def test_damaged_list_lines_that_do_not_parse_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "damaged.txt"
    path.write_text("frames that cannot open:\nspNO.1 A 9.jpg  the image cannot open\n")

    damaged, warnings = read_casme3_damaged(path)

    assert damaged == {("spno.1", "a"): (9,)}
    assert [w.row for w in warnings] == [1]
    with pytest.raises(DatasetError, match="no such file"):
        read_casme3_damaged(tmp_path / "missing.txt")

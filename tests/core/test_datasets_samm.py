"""SAMM Long Videos: 1-based sheet frames become 0-based indices of the frame files, micro and
macro are told apart, emotions come from the FACS sheet, and anomalies are reported."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from core.datasets import DatasetError, load_samm_lv, read_samm_lv_labels
from tests.fixtures.datasets import write_samm_facs, write_samm_lv_labels, write_sheet

# Subject, Filename, Inducement Code, Onset, Apex, Offset, Duration, Type, Action Units, Notes
LV_ROWS = [
    (6, "006_1_1", 1, 3, 5, 8, 6, "Micro - 1/2", "R12", None),
    (6, "006_1_2", 1, 2, -1, 11, 10, "Macro", "4+7", "apex not coded"),
    (7, "007_2_1", 2, 2, 3, 5, 4, "Micro - 1/2", "14", None),  # not in the FACS sheet
    (7, "007_2_2", 2, 1, None, 5, 5, "Micro - 1/2", "R14", None),  # no apex
    (7, "007_2_3", 2, 4, 5, 6, 3, "Blink", "45", None),  # not an expression type
    (9, "009_3_1", 3, 100, 110, 120, 21, "Micro - 1/2", "12", None),  # no frames folder
]
FACS_ROWS = [
    (6, "006_1_1", 1, 3, 5, 8, 6, "Micro - 1/2", "R12", "Happiness", "I", None),
    (7, "007_2_2", 2, 1, 3, 5, 5, "Micro - 1/2", "R14", "Other", "VII", None),
    (9, "009_3_1", 3, 100, 110, 120, 21, "Micro - 1/2", "12", "Contempt", "IV", None),
]
LV_HEADER_ROW = 10  # 9 preamble rows, then the header, as in the V3 release


@pytest.fixture(scope="module")
def sheets(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("samm_sheets")
    return (write_samm_lv_labels(folder / "SAMM_LongVideos_V3_Release.xlsx", LV_ROWS),
            write_samm_facs(folder / "SAMM_Micro_FACS_Codes_v2.xlsx", FACS_ROWS))


def _frames(intervals) -> dict[str, tuple[int, int, int]]:
    return {f"{i.video}/{i.source_row}": (i.onset_frame, i.apex_frame, i.offset_frame)
            for i in intervals}


def _sheet_row(index: int) -> int:
    """The spreadsheet row of LV_ROWS[index]."""
    return LV_HEADER_ROW + 1 + index


@pytest.mark.parametrize("preamble_rows", [9, 10, 0])
def test_micro_expressions_are_read_below_any_preamble_with_0_based_frames(
        tmp_path: Path, preamble_rows: int) -> None:
    path = write_samm_lv_labels(tmp_path / "lv.xlsx", LV_ROWS, preamble_rows=preamble_rows)

    intervals, _warnings = read_samm_lv_labels(path)

    first = intervals[0]
    assert (first.subject, first.video, first.expression_type) == ("006", "006_1", "micro")
    assert (first.onset_frame, first.apex_frame, first.offset_frame) == (2, 4, 7)
    assert first.source_row == preamble_rows + 2 and first.action_units == "R12"
    assert {i.expression_type for i in intervals} == {"micro"}
    assert [i.video for i in intervals] == ["006_1", "007_2", "007_2", "009_3"]


def test_macro_expressions_with_apex_minus_one_take_the_midpoint(sheets) -> None:
    intervals, warnings = read_samm_lv_labels(sheets[0], include_macro=True)

    macro = [i for i in intervals if i.expression_type == "macro"]
    assert len(macro) == 1 and len(intervals) == 5
    assert (macro[0].onset_frame, macro[0].apex_frame, macro[0].offset_frame) == (1, 5, 10)
    assert any(w.row == _sheet_row(1) and "midpoint 6" in w.message for w in warnings)


def test_anomalies_are_reported_with_their_rows(sheets) -> None:
    intervals, warnings = read_samm_lv_labels(sheets[0])

    no_apex = next(i for i in intervals if i.source_row == _sheet_row(3))
    assert (no_apex.onset_frame, no_apex.apex_frame, no_apex.offset_frame) == (0, 2, 4)
    assert {w.row for w in warnings} == {_sheet_row(3), _sheet_row(4)}
    assert "unknown Type 'Blink'" in next(w.message for w in warnings if w.row == _sheet_row(4))


def test_emotions_are_merged_from_the_facs_sheet_on_filename_and_type(sheets) -> None:
    intervals, warnings = read_samm_lv_labels(sheets[0], facs_file=sheets[1], include_macro=True)

    emotions = {(i.video, i.source_row): i.emotion for i in intervals}
    assert emotions == {("006_1", _sheet_row(0)): "happiness", ("006_1", _sheet_row(1)): "",
                        ("007_2", _sheet_row(2)): "", ("007_2", _sheet_row(3)): "other",
                        ("009_3", _sheet_row(5)): "contempt"}
    missing = [w for w in warnings if "not in the FACS sheet" in w.message]
    assert [w.row for w in missing] == [_sheet_row(2)]  # the macro row is not expected there


def test_a_facs_sheet_without_type_merges_on_filename(tmp_path: Path, sheets) -> None:
    facs = write_sheet(tmp_path / "facs.xlsx", [["Notes on the coding"], [],
                                                ["Filename", "Emotion"], ["006_1_1", "Fear"]])

    intervals, _warnings = read_samm_lv_labels(sheets[0], facs_file=facs)

    assert intervals[0].emotion == "fear"


@pytest.mark.parametrize("root_level", ["dataset", "frames_folder"])
def test_labels_map_to_the_frame_files(samm_root: Path, sheets, root_level: str) -> None:
    root = samm_root if root_level == "dataset" else samm_root / "SAMM_longvideos"

    dataset = load_samm_lv(root, sheets[0], facs_file=sheets[1])

    assert [v.video for v in dataset.videos] == ["006_1", "007_2", "009_3"]
    assert dataset.subjects == ["006", "007", "009"]
    assert dataset.video("009", "009_3").path is None
    assert any("009_3" in w.message and w.row is None for w in dataset.warnings)
    video = dataset.video("006", "006_1")
    interval = video.intervals[0]
    with video.open() as source:
        assert source.fps == 200 and source.n_frames == 12
        for frame_idx in (interval.onset_frame, interval.apex_frame, interval.offset_frame):
            expected = cv2.imread(str(video.path / f"006_1_{frame_idx + 1:04d}.jpg"))
            assert np.array_equal(source.read(frame_idx), expected)


def test_micro_only_keeps_every_video(samm_root: Path, sheets) -> None:
    dataset = load_samm_lv(samm_root, sheets[0], include_macro=True)

    micro = dataset.micro_only()
    assert len(dataset.intervals) == 5 and len(micro.intervals) == 4
    assert [v.video for v in micro.videos] == [v.video for v in dataset.videos]


def test_a_missing_frame_column_names_the_rows_searched(tmp_path: Path) -> None:
    path = write_sheet(tmp_path / "lv.xlsx", [["release notes"], ["Subject", "Filename", "Onset",
                                                                  "Offset", "Type"]])

    with pytest.raises(DatasetError, match=r"row 2: no column 'Apex' \(header searched in rows "
                                           r"1-2\); the columns found are \['Subject'"):
        read_samm_lv_labels(path)


def test_text_in_a_frame_column_is_an_error(tmp_path: Path) -> None:
    rows = [(6, "006_1_1", 1, 3, "about 5", 8, 6, "Micro - 1/2", "R12", None)]
    path = write_samm_lv_labels(tmp_path / "lv.xlsx", rows)

    with pytest.raises(DatasetError) as caught:
        read_samm_lv_labels(path)

    assert (caught.value.row, caught.value.column) == (LV_HEADER_ROW + 1, "Apex")
    assert "'about 5'" in str(caught.value)

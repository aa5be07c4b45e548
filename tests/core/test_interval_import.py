"""Importing intervals into the open video: our CSVs and the CAS(ME)³ / SAMM label sheets become
accepted human intervals, and every row left out is reported with its row number and why."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.annotation_store import save_annotations
from core.annotations import Annotation, AnnotationSet
from core.datasets.base import DatasetError
from core.interval_import import import_change, import_intervals
from tests.fixtures.datasets import (
    write_casme3_labels,
    write_samm_facs,
    write_samm_lv_labels,
    write_sheet,
)

LABEL_XLSX = "cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx"
CASME3_LABEL_ROWS = 860  # data rows of the real ME label sheet


def _frames(report) -> list[tuple[int, int, int, str]]:
    return sorted((a.onset_frame, a.apex_frame, a.offset_frame, a.emotion)
                  for a in report.annotations)


def _reasons(report) -> dict[int | None, str]:
    return {rejected.row: rejected.reason for rejected in report.rejected}


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# ------------------------------------------------------------------------------------- CSV


def test_our_annotation_file_imports_as_accepted_human_intervals(tmp_path: Path) -> None:
    annotations = AnnotationSet.from_annotations("clip", 500, 30.0, [
        Annotation(id="m1", onset_frame=10, apex_frame=12, offset_frame=15, emotion="happy",
                   source="model", status="proposed", confidence=0.7, model_name="flow"),
        Annotation(id="h1", onset_frame=40, apex_frame=44, offset_frame=50, emotion="fear",
                   note="=cmd|' /C calc'!A0"),
        Annotation(id="r1", onset_frame=90, apex_frame=91, offset_frame=92, source="model",
                   status="rejected")])
    path = save_annotations(annotations, tmp_path / "clip.intervals.csv")

    report = import_intervals(path, video="clip", n_frames=500, fps=30.0)

    assert report.source_kind == "csv"
    assert _frames(report) == [(10, 12, 15, "happy"), (40, 44, 50, "fear")]
    assert {(a.source, a.status, a.annotator) for a in report.annotations} == \
        {("human", "accepted", "import:clip.intervals.csv")}
    assert not {"m1", "h1"} & {a.id for a in report.annotations}  # new ids: no clash on import
    assert [a.note for a in report.annotations if a.emotion == "fear"] == ["=cmd|' /C calc'!A0"]
    assert "rejected" in _reasons(report)[4]  # the rejected interval is not imported


def test_bad_rows_are_rejected_with_their_row_number_and_reason(tmp_path: Path) -> None:
    path = _write(tmp_path / "marks.csv",
                  "onset_frame,apex_frame,offset_frame,emotion\n"
                  "1,2,3,Happy\n"       # row 2: fine (emotion lower-cased)
                  "5,,9,\n"             # row 3: no apex → midpoint, reported as a repair
                  "20,21,12,sad\n"      # row 4: offset before onset
                  "30,31,120,sad\n"     # row 5: past the end
                  "x,31,32,sad\n"       # row 6: not a number
                  ",,,\n")              # blank: ignored

    report = import_intervals(path, video="clip", n_frames=100, fps=25.0)

    assert _frames(report) == [(1, 2, 3, "happy"), (5, 7, 9, "")]
    reasons = _reasons(report)
    assert set(reasons) == {4, 5, 6}
    assert "before Onset" in reasons[4]
    assert "out of range" in reasons[5] and "99" in reasons[5]
    assert "not a frame number" in reasons[6]
    assert [r.row for r in report.repaired] == [3] and "midpoint" in report.repaired[0].reason


def test_rows_of_other_videos_are_left_out_and_named(tmp_path: Path) -> None:
    path = _write(tmp_path / "project.csv",
                  "video,onset_frame,apex_frame,offset_frame,emotion\n"
                  "clip.mp4,1,2,3,a\n"
                  "alice/clip,4,5,6,b\n"
                  "bob/clip,7,8,9,c\n"
                  "other.mp4,10,11,12,d\n"
                  ",13,14,15,e\n")

    report = import_intervals(path, video="clip", subject="alice", n_frames=100, fps=25.0)

    assert [a.emotion for a in sorted(report.annotations, key=lambda a: a.onset_frame)] == \
        ["a", "b", "e"]
    assert {r.row: r.other_video for r in report.rejected} == {4: True, 5: True}
    assert report.n_other_video_rows == 2 and report.problems == []
    assert "other.mp4" in _reasons(report)[5]


def test_a_csv_in_seconds_is_read_with_the_video_fps(tmp_path: Path) -> None:
    path = _write(tmp_path / "seconds.csv", "onset_s,apex_s,offset_s\n0.5,0.6,1.0\n")
    report = import_intervals(path, video="clip", n_frames=100, fps=30.0)
    assert _frames(report) == [(15, 18, 30, "")]


@pytest.mark.parametrize("content, problem", [
    (b"name,start\nclip,3\n", "no column 'onset_frame', 'apex_frame', 'offset_frame'"),
    (b"\xff\xfe\x00\x00garbage\x81", "not UTF-8"),
    (b"", "empty"),
])
def test_a_file_of_no_known_kind_fails_naming_it(tmp_path: Path, content: bytes,
                                                 problem: str) -> None:
    path = tmp_path / "marks.csv"
    path.write_bytes(content)
    with pytest.raises(DatasetError, match=problem) as caught:
        import_intervals(path, video="clip", n_frames=100, fps=30.0)
    assert str(path) in str(caught.value)


def test_importing_twice_adds_nothing_the_second_time(tmp_path: Path) -> None:
    path = _write(tmp_path / "marks.csv", "onset_frame,apex_frame,offset_frame\n1,2,3\n5,6,7\n")
    annotations = AnnotationSet("clip", 100, 30.0)
    change, n_repeated = import_change(annotations, import_intervals(
        path, video="clip", n_frames=100, fps=30.0).annotations)
    annotations.apply(change)
    assert len(annotations) == 2 and n_repeated == 0

    change, n_repeated = import_change(annotations, import_intervals(
        path, video="clip", n_frames=100, fps=30.0).annotations)
    assert change.is_empty and n_repeated == 2


# --------------------------------------------------------------------------- CAS(ME)3 sheets


def test_real_casme3_sheet_gives_this_videos_rows_and_reports_every_other_row(
        real_casme3_labels: Path) -> None:
    sheet = real_casme3_labels / LABEL_XLSX

    report = import_intervals(sheet, video="e", subject="SPno.40", n_frames=3000, fps=30.0)

    assert report.source_kind == "casme3"
    assert len(report.annotations) + len(report.rejected) == CASME3_LABEL_ROWS
    assert report.n_other_video_rows == len(report.rejected)  # nothing wrong with this video
    by_onset = {a.onset_frame: a for a in report.annotations}
    assert (by_onset[1812].apex_frame, by_onset[1812].offset_frame) == (1824, 1824)  # row 798
    assert {r.row for r in report.repaired} >= {798, 800}  # Offset 0: the apex is used
    assert {a.emotion for a in report.annotations} <= {"others", "happy", "disgust", "surprise",
                                                       "fear", "anger", "sad"}
    assert _reasons(report)[2].startswith("other video (spNO.")


def test_real_casme3_rows_that_cannot_be_used_are_rejected_with_the_sheet_reason(
        real_casme3_labels: Path) -> None:
    sheet = real_casme3_labels / LABEL_XLSX

    skipped = import_intervals(sheet, video="d", subject="spNO.216", n_frames=5000, fps=30.0)
    short = import_intervals(sheet, video="d", subject="spNO.149", n_frames=300, fps=30.0)

    assert "Offset 2694 is before Onset 3647" in _reasons(skipped)[751]  # onset > offset
    assert "out of range" in _reasons(short)[130]  # (112, 235, 358) ends past frame 299
    assert all(r.other_video for r in skipped.rejected if r.row != 751)


def test_casme3_video_letter_shared_by_subjects_needs_the_subject(
        real_casme3_labels: Path) -> None:
    with pytest.raises(DatasetError, match="say which subject") as caught:
        import_intervals(real_casme3_labels / LABEL_XLSX, video="a", n_frames=9000, fps=30.0)
    assert "spNO.1," in str(caught.value) and "sheet 'label'" in str(caught.value)


def test_casme3_sheet_matches_video_letters_case_insensitively(tmp_path: Path) -> None:
    sheet = write_casme3_labels(tmp_path / "labels.xlsx")  # spNO.1 'J' 2,3,6 Happy
    report = import_intervals(sheet, video="j", subject="spno.1", n_frames=10, fps=30.0)
    assert _frames(report) == [(2, 3, 6, "happy")]
    assert report.n_other_video_rows == 2


# ------------------------------------------------------------------------------ SAMM sheets

# Subject, Filename, Inducement Code, Onset, Apex, Offset (1-based), Duration, Type, AU, Notes
SAMM_ROWS = [
    (6, "006_1_1", 1, 3, 5, 8, 6, "Micro - 1/2", "R12", None),
    (6, "006_1_2", 1, 2, -1, 11, 10, "Macro", "4+7", None),
    (6, "006_1_3", 1, 9, 8, 4, 0, "Micro - 1/2", "4", None),  # offset before onset
    (7, "007_2_1", 2, 2, 3, 5, 4, "Micro - 1/2", "14", None),
]
SAMM_FACS_ROWS = [(6, "006_1_1", 1, 3, 5, 8, 6, "Micro - 1/2", "R12", "Happiness", "I", None)]


def test_samm_sheet_gives_this_videos_micro_and_macro_expressions(tmp_path: Path) -> None:
    sheet = write_samm_lv_labels(tmp_path / "SAMM_LongVideos_V3_Release.xlsx", SAMM_ROWS)

    report = import_intervals(sheet, video="006_1", subject="SAMM_longvideos", n_frames=20,
                              fps=200.0)

    assert report.source_kind == "samm_lv"
    assert _frames(report) == [(1, 5, 10, ""), (2, 4, 7, "")]  # 0-based; macro apex → midpoint
    reasons = _reasons(report)
    assert "before Onset" in reasons[13] and not report.rejected[0].other_video
    assert reasons[14] == "other video (007_2)"


def test_samm_facs_sheet_brings_its_emotions(tmp_path: Path) -> None:
    sheet = write_samm_facs(tmp_path / "SAMM_Micro_FACS_Codes_v2.xlsx", SAMM_FACS_ROWS)
    report = import_intervals(sheet, video="006_1", n_frames=20, fps=200.0)
    assert _frames(report) == [(2, 4, 7, "happiness")]


def test_a_sheet_of_neither_dataset_fails_naming_file_sheet_and_column(tmp_path: Path) -> None:
    sheet = write_sheet(tmp_path / "mine.xlsx", [("Who", "Start", "End"), ("a", 1, 2)],
                        sheet="marks")
    with pytest.raises(DatasetError) as caught:
        import_intervals(sheet, video="clip", n_frames=20, fps=30.0)
    message = str(caught.value)
    assert str(sheet) in message and "no sheet named 'label'" in message
    assert "sheet 'marks'" in message and "no column 'Filename'" in message

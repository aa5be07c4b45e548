"""core.annotations without Qt: records, the status rules, split and merge, the one change
primitive (atomic, undone by its inverse), re-running analysis, and the file rows round trip."""

from __future__ import annotations

import csv
import io
import math
import random

import pytest

from core.annotations import (
    ANNOTATION_COLUMNS,
    Annotation,
    AnnotationChange,
    AnnotationError,
    AnnotationSet,
    annotation_from_detection,
    annotation_from_row,
    edited,
    interval_iou,
    merge_annotations,
    split_annotation,
)
from core.intervals_csv import escape_cell, unescape_cell
from core.postprocess import DetectedInterval


def human(annotation_id: str, onset: int, apex: int, offset: int, **fields) -> Annotation:
    return Annotation(annotation_id, onset, apex, offset, **fields)


def proposal(annotation_id: str, onset: int, apex: int, offset: int, **fields) -> Annotation:
    fields = {"source": "model", "status": "proposed", "confidence": 0.5, "spot_score": 0.5,
              "model_name": "flow", **fields}
    return Annotation(annotation_id, onset, apex, offset, **fields)


def a_set(*annotations: Annotation, n_frames: int = 1000) -> AnnotationSet:
    return AnnotationSet.from_annotations("clip", n_frames, 25.0, annotations)


# ------------------------------------------------------------------ records


@pytest.mark.parametrize("frames", [(10, 9, 12), (10, 13, 12), (-1, 0, 2)])
def test_frames_out_of_order_are_refused(frames):
    with pytest.raises(AnnotationError, match="onset <= apex <= offset"):
        human("a", *frames)


def test_unknown_source_status_and_empty_id_are_refused():
    with pytest.raises(AnnotationError, match="source"):
        human("a", 1, 2, 3, source="robot")
    with pytest.raises(AnnotationError, match="status"):
        human("a", 1, 2, 3, status="maybe")
    with pytest.raises(AnnotationError, match="id"):
        human("", 1, 2, 3)


def test_length_duration_and_iou_count_both_ends():
    a = human("a", 10, 12, 19)
    assert a.n_frames == 10
    assert a.duration_s(25.0) == pytest.approx(9 / 25)
    assert interval_iou(a, human("b", 15, 16, 24)) == pytest.approx(5 / 15)
    assert interval_iou(a, human("c", 20, 20, 30)) == 0.0
    assert interval_iou(a, a) == 1.0


def test_detection_becomes_an_unreviewed_proposal():
    detection = DetectedInterval(5, 8, 12, "positive", 0.7, 0.9, {})
    a = annotation_from_detection(detection, "flow")
    assert (a.onset_frame, a.apex_frame, a.offset_frame) == (5, 8, 12)
    assert (a.source, a.status, a.emotion, a.model_name) == ("model", "proposed", "positive",
                                                             "flow")
    assert a.confidence == pytest.approx(0.7) and a.spot_score == pytest.approx(0.9)
    assert a.is_unreviewed_proposal
    unlabelled = annotation_from_detection(DetectedInterval(5, 8, 12, None, 0.7, 0.9, {}), "m")
    assert unlabelled.emotion == "" and unlabelled.id != a.id


# ------------------------------------------------------------- status rules


def test_editing_a_proposal_makes_it_edited_and_keeps_its_origin():
    p = proposal("p", 10, 15, 20)
    moved = edited(p, annotator="ana", offset_frame=22)
    assert (moved.id, moved.status, moved.annotator, moved.proposal_id) == ("p", "edited", "ana",
                                                                            "p")
    relabelled = edited(p, emotion="surprise")
    assert relabelled.status == "edited" and relabelled.source == "model"


def test_accepting_or_rejecting_keeps_the_status_given():
    p = proposal("p", 10, 15, 20)
    assert edited(p, annotator="ana", status="accepted").status == "accepted"
    assert edited(p, status="rejected").status == "rejected"
    assert edited(p, note="looks fine").status == "proposed"  # no frame or label change
    assert edited(p, onset_frame=10).status == "proposed"  # the same value is no change


def test_editing_a_human_interval_keeps_it_human_and_accepted():
    h = human("h", 10, 15, 20, annotator="bob")
    moved = edited(h, annotator="ana", onset_frame=12, emotion="negative")
    assert (moved.source, moved.status, moved.proposal_id) == ("human", "accepted", "")
    assert moved.annotator == "ana"
    assert edited(h, onset_frame=11).annotator == "bob"  # no annotator given: kept


# ----------------------------------------------------------- split, merge


def test_split_makes_two_adjacent_intervals_with_clamped_apexes():
    a = human("a", 10, 12, 30, emotion="positive")
    left, right = split_annotation(a, 20, annotator="ana")
    assert (left.id, left.onset_frame, left.apex_frame, left.offset_frame) == ("a", 10, 12, 19)
    assert (right.onset_frame, right.apex_frame, right.offset_frame) == (20, 20, 30)
    assert right.id != "a" and right.emotion == "positive" and right.annotator == "ana"
    _, right_of_late_apex = split_annotation(human("b", 10, 25, 30), 20)
    assert right_of_late_apex.apex_frame == 25


def test_splitting_a_proposal_edits_both_halves_and_links_them_to_it():
    left, right = split_annotation(proposal("p", 10, 15, 30), 20)
    assert {left.status, right.status} == {"edited"}
    assert left.proposal_id == right.proposal_id == "p"


@pytest.mark.parametrize("frame_idx", [10, 9, 31])
def test_split_outside_the_interval_is_refused(frame_idx):
    with pytest.raises(AnnotationError, match="cannot split"):
        split_annotation(human("a", 10, 12, 30), frame_idx)


def test_merge_spans_all_keeps_the_first_id_and_the_most_confident_apex():
    first = proposal("p1", 10, 12, 20, spot_score=0.4, emotion="negative")
    second = proposal("p2", 18, 25, 40, spot_score=0.9)
    merged = merge_annotations([second, first], annotator="ana")
    assert (merged.id, merged.onset_frame, merged.apex_frame, merged.offset_frame) == (
        "p1", 10, 25, 40)
    assert (merged.status, merged.emotion, merged.proposal_id) == ("edited", "negative", "p1")
    mixed = merge_annotations([human("h", 5, 6, 8), proposal("p", 9, 10, 12)])
    assert (mixed.id, mixed.source, mixed.status, mixed.proposal_id) == ("h", "human",
                                                                         "accepted", "p")
    with pytest.raises(AnnotationError, match="at least two"):
        merge_annotations([first])


# ------------------------------------------------------------ AnnotationSet


def test_apply_adds_replaces_and_removes_and_its_inverse_undoes_it():
    a, b = human("a", 10, 12, 20), proposal("b", 30, 35, 40)
    annotations = a_set(a, b)
    seen: list[AnnotationChange] = []
    annotations.subscribe(seen.append)
    c = human("c", 50, 55, 60)
    change = AnnotationChange((a, b), (edited(a, onset_frame=11), c))
    annotations.apply(change)
    assert [x.id for x in annotations] == ["a", "c"] and annotations.get("a").onset_frame == 11
    assert seen == [change] and change.touched_ids == {"a", "b", "c"}
    annotations.apply(change.inverse())
    assert annotations.annotations == [a, b]
    annotations.unsubscribe(seen.append)
    annotations.apply(AnnotationChange((), (c,)))
    assert len(seen) == 2 and "c" in annotations


@pytest.mark.parametrize("bad_change, message", [
    (lambda a, b: AnnotationChange((edited(a, onset_frame=11),), ()), "stale"),
    (lambda a, b: AnnotationChange((human("zz", 1, 1, 1),), ()), "stale"),
    (lambda a, b: AnnotationChange((), (human("a", 1, 1, 1),)), "duplicate"),
    (lambda a, b: AnnotationChange((), (human("n", 1, 1, 1), human("n", 2, 2, 2))), "duplicate"),
    (lambda a, b: AnnotationChange((a, a), ()), "twice"),
    (lambda a, b: AnnotationChange((b,), (human("late", 990, 995, 1000),)), "past the last"),
])
def test_a_refused_change_changes_nothing_and_tells_no_one(bad_change, message):
    a, b = human("a", 10, 12, 20), proposal("b", 30, 35, 40)
    annotations = a_set(a, b)
    seen: list[AnnotationChange] = []
    annotations.subscribe(seen.append)
    change = bad_change(a, b)
    with pytest.raises(AnnotationError, match=message):
        annotations.validate(change)
    with pytest.raises(AnnotationError, match=message):
        annotations.apply(change)
    assert annotations.annotations == [a, b] and seen == []


def test_reading_by_frame_range_and_order():
    a, b, c = human("a", 10, 12, 20), human("b", 15, 16, 30), proposal("c", 40, 41, 45)
    annotations = a_set(c, b, a)
    assert [x.id for x in annotations.annotations] == ["a", "b", "c"]
    assert [x.id for x in annotations.at_frame(18)] == ["a", "b"]
    assert annotations.at_frame(35) == []
    assert [x.id for x in annotations.in_range(20, 40)] == ["a", "b", "c"]
    assert [x.id for x in annotations.in_range(31, 39)] == []
    assert annotations.find("zz") is None and len(annotations) == 3
    with pytest.raises(KeyError):
        annotations.get("zz")
    assert annotations.replace_change(edited(a, note="x")).removed == (a,)


def test_range_queries_match_a_plain_scan_after_every_change():
    rng = random.Random(7)
    annotations = a_set(n_frames=0)
    for step in range(200):
        if len(annotations) and rng.random() < 0.3:
            victim = rng.choice(annotations.annotations)
            annotations.apply(AnnotationChange((victim,), ()))
        else:
            onset = rng.randrange(0, 5000)
            offset = onset + rng.choice((0, 3, 40, 900))
            annotations.apply(AnnotationChange((), (human(f"a{step}", onset, onset, offset),)))
        first = rng.randrange(0, 6000)
        last = first + rng.choice((0, 10, 500))
        expected = [a for a in annotations.annotations
                    if a.offset_frame >= first and a.onset_frame <= last]
        assert annotations.in_range(first, last) == expected
        assert annotations.at_frame(first) == [a for a in annotations.annotations
                                               if a.onset_frame <= first <= a.offset_frame]


def test_review_queue_starts_with_the_least_certain_unreviewed_proposal():
    sure, unsure = proposal("sure", 1, 2, 3, confidence=0.9), proposal("unsure", 5, 6, 7,
                                                                       confidence=0.2)
    annotations = a_set(sure, unsure, human("h", 10, 11, 12),
                        proposal("done", 20, 21, 22, status="accepted"))
    assert [a.id for a in annotations.review_queue()] == ["unsure", "sure"]


def test_rerunning_analysis_replaces_only_unreviewed_proposals():
    old = proposal("old", 10, 12, 20)
    rejected = proposal("rej", 100, 105, 110, status="rejected")
    accepted = proposal("acc", 200, 205, 210, status="accepted")
    moved = proposal("moved", 300, 305, 310, status="edited")
    by_hand = human("h", 400, 405, 410)
    annotations = a_set(old, rejected, accepted, moved, by_hand)
    new = [proposal(f"n{i}", s, s + 3, s + 10) for i, s in
           enumerate((11, 101, 201, 301, 401, 600))]
    change = annotations.proposals_change(new)
    assert change.removed == (old,)
    assert [a.id for a in change.added] == ["n0", "n5"]  # the others repeat reviewed intervals
    annotations.apply(change)
    assert {a.id for a in annotations} == {"rej", "acc", "moved", "h", "n0", "n5"}
    assert annotations.get("rej").status == "rejected"  # a rejected proposal stays rejected
    assert annotations.get("h") == by_hand and annotations.get("moved") == moved
    annotations.apply(change.inverse())
    assert annotations.get("old") == old and "n0" not in annotations


# --------------------------------------------------------------- file rows


def test_rows_survive_a_csv_round_trip():
    annotations = a_set(
        human("h1", 10, 12, 20, emotion="positive", annotator="ana", note="=SUM(A1) looks, odd"),
        proposal("p1", 30, 33, 40, confidence=0.8125, spot_score=0.5, emotion="surprise"),
        proposal("p2", 50, 50, 50, status="edited", proposal_id="p0", annotator="bob"))
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(ANNOTATION_COLUMNS)
    for row in annotations.rows():
        assert tuple(row) == ANNOTATION_COLUMNS
        writer.writerow([escape_cell(row[column]) for column in ANNOTATION_COLUMNS])
    buffer.seek(0)
    records = [{k: unescape_cell(v) for k, v in r.items()} for r in csv.DictReader(buffer)]
    assert [annotation_from_row(r) for r in records] == annotations.annotations
    assert annotations.rows()[0]["onset_s"] == pytest.approx(0.4)


def test_a_sparse_row_gets_defaults():
    a = annotation_from_row({"onset_frame": "10", "offset_frame": "20", "emotion": " Positive "})
    assert (a.apex_frame, a.source, a.status, a.emotion) == (15, "human", "accepted", "positive")
    p = annotation_from_row({"onset_frame": "7", "source": "model"})
    assert (p.offset_frame, p.status) == (7, "proposed")
    assert math.isnan(human("x", 1, 1, 1).to_row("clip", 0.0)["onset_s"])


@pytest.mark.parametrize("row, message", [
    ({"onset_frame": ""}, "onset_frame is empty"),
    ({"onset_frame": "-3"}, "not a frame number"),
    ({"onset_frame": "2.5"}, "not a frame number"),
    ({"onset_frame": "inf"}, "not a frame number"),
    ({"onset_frame": "5", "offset_frame": "3"}, "onset <= apex <= offset"),
    ({"onset_frame": "5", "status": "done"}, "status"),
])
def test_a_bad_row_says_what_is_wrong(row, message):
    with pytest.raises(AnnotationError, match=message):
        annotation_from_row(row)

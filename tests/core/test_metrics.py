"""MEGC evaluation: IoU, one-to-one matching (greedy vs Hungarian), pooled spotting F1,
recognition (UF1, UAR, F1_recog, confusion, absent classes), STRS, JSON, LOSO pooling."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.metrics import (
    EvalInterval,
    EvaluationConfig,
    EvaluationReport,
    SpottingCounts,
    evaluate,
    evaluate_recognition,
    iou,
    match_intervals,
    pool_reports,
)


def _iv(video: str, onset: int, offset: int, label: str | None = None,
        subject: str = "") -> EvalInterval:
    return EvalInterval(video, onset, offset, label=label, subject=subject)


# --- IoU ----------------------------------------------------------------------------------------

def test_iou_counts_both_ends_of_each_interval() -> None:
    # [0,9] ∩ [5,14] = frames 5..9 → 5; union 0..14 → 15.
    assert iou((0, 9), (5, 14)) == pytest.approx(5 / 15)
    assert iou((3, 3), (3, 3)) == 1.0            # one shared frame is a full overlap
    assert iou((0, 4), (5, 9)) == 0.0            # adjacent, no shared frame
    assert iou(_iv("a", 0, 9), _iv("a", 5, 14)) == pytest.approx(5 / 15)
    assert iou(_iv("a", 0, 9), _iv("b", 0, 9)) == 0.0  # different videos never overlap


def test_onset_after_offset_raises_naming_the_interval() -> None:
    with pytest.raises(ValueError, match="EP01_video"):
        EvalInterval("EP01_video", 20, 10)
    with pytest.raises(ValueError, match=r"\(9, 3\)"):
        iou((9, 3), (0, 5))
    with pytest.raises(ValueError, match="onset_frame"):
        EvalInterval("v", 1.5, 10)


# --- Matching -----------------------------------------------------------------------------------

def test_threshold_is_inclusive_and_configurable() -> None:
    gt = [_iv("v", 0, 9)]
    # IoU([0,19],[0,9]) = 10/20 = 0.5 exactly → a TP at 0.5.
    assert evaluate([_iv("v", 0, 19)], gt).spotting == SpottingCounts(1, 0, 0)
    # IoU([5,14],[0,9]) = 5/15 = 1/3 → FP+FN at 0.5, TP at 0.3.
    assert evaluate([_iv("v", 5, 14)], gt).spotting == SpottingCounts(0, 1, 1)
    assert evaluate([_iv("v", 5, 14)], gt, iou_threshold=0.3).spotting == SpottingCounts(1, 0, 0)


@pytest.mark.parametrize("method", ["greedy", "hungarian"])
def test_several_predictions_on_one_gt_give_one_tp(method: str) -> None:
    gt = [_iv("v", 10, 29)]                          # 20 frames
    preds = [_iv("v", 8, 27),                        # ∩ 10..27 = 18, ∪ 8..29 = 22 → 0.818
             _iv("v", 10, 29),                       # 1.0
             _iv("v", 12, 29)]                       # 18 / 20 = 0.9
    report = evaluate(preds, gt, method=method)
    assert report.spotting == SpottingCounts(tp=1, fp=2, fn=0)
    assert [(p, g) for p, g, _ in report.matches] == [(1, 0)]  # the best one is kept
    assert report.matches[0][2] == 1.0


@pytest.mark.parametrize("method", ["greedy", "hungarian"])
def test_one_prediction_over_two_gts_is_one_tp(method: str) -> None:
    # [0,19] vs [0,9] and vs [10,19]: IoU 10/20 = 0.5 each. The STRS script counts 2 TP.
    gt = [_iv("v", 0, 9), _iv("v", 10, 19)]
    report = evaluate([_iv("v", 0, 19)], gt, method=method)
    assert report.spotting == SpottingCounts(tp=1, fp=0, fn=1)
    if method == "greedy":                           # IoU tie → earlier ground-truth onset
        assert report.matches == ((0, 0, 0.5),)


def test_greedy_tie_goes_to_the_earlier_prediction_onset() -> None:
    gt = [_iv("v", 10, 19)]
    # [12,21]: ∩ 12..19 = 8, ∪ 10..21 = 12 → 2/3; [8,17]: ∩ 10..17 = 8, ∪ 8..19 = 12 → 2/3.
    preds = [_iv("v", 12, 21), _iv("v", 8, 17)]
    assert match_intervals(preds, gt) == [(1, 0, pytest.approx(2 / 3))]


def test_video_without_prediction_counts_its_gts_as_fn() -> None:
    gt = [_iv("v1", 0, 9, subject="s1"), _iv("v2", 0, 9, subject="s2"),
          _iv("v2", 50, 59, subject="s2")]
    report = evaluate([_iv("v1", 0, 9)], gt)         # subject s2 has no prediction at all
    assert report.spotting == SpottingCounts(tp=1, fp=0, fn=2)
    assert report.per_video["v2"] == SpottingCounts(0, 0, 2)
    assert report.per_subject == {"s1": SpottingCounts(1, 0, 0), "s2": SpottingCounts(0, 0, 2)}


def test_video_without_gt_counts_its_predictions_as_fp() -> None:
    gt = [_iv("v1", 0, 9)]
    preds = [_iv("v1", 0, 9), _iv("v3", 0, 9), _iv("v3", 40, 49)]
    report = evaluate(preds, gt)
    assert report.spotting == SpottingCounts(tp=1, fp=2, fn=0)
    assert report.per_video == {"v1": SpottingCounts(1, 0, 0), "v3": SpottingCounts(0, 2, 0)}


def test_predictions_only_match_gts_of_their_own_video() -> None:
    report = evaluate([_iv("a", 0, 9)], [_iv("b", 0, 9)])
    assert report.spotting == SpottingCounts(tp=0, fp=1, fn=1)
    assert report.matches == ()


def test_greedy_and_hungarian_differ_in_tp_count() -> None:
    gt = [_iv("v", 0, 9),    # A
          _iv("v", 5, 14)]   # B
    preds = [_iv("v", 2, 11),  # P0: IoU A = 8/12 = 0.667, IoU B = 7/13 = 0.538
             _iv("v", 0, 5)]   # P1: IoU A = 6/10 = 0.6,   IoU B = 1/15
    # Greedy: P0–A first (0.667); P1–A and P0–B are then blocked → 1 TP, 1 FP, 1 FN.
    greedy = evaluate(preds, gt, method="greedy")
    assert greedy.spotting == SpottingCounts(tp=1, fp=1, fn=1)
    assert [(p, g) for p, g, _ in greedy.matches] == [(0, 0)]
    # Hungarian: P0–B and P1–A → 2 TP.
    hungarian = evaluate(preds, gt, method="hungarian")
    assert hungarian.spotting == SpottingCounts(tp=2, fp=0, fn=0)
    assert [(p, g) for p, g, _ in hungarian.matches] == [(0, 1), (1, 0)]


def test_hungarian_maximises_match_count_before_total_iou() -> None:
    gt = [_iv("v", 0, 9),     # A
          _iv("v", 4, 13)]    # B
    preds = [_iv("v", 0, 9),  # P0: IoU A = 1.0, IoU B = 6/14 = 0.429
             _iv("v", 0, 4)]  # P1: IoU A = 5/10 = 0.5, IoU B = 1/14
    # At threshold 0.4, P0–A alone has total IoU 1.0; P0–B + P1–A has 0.929 but 2 matches.
    hungarian = match_intervals(preds, gt, iou_threshold=0.4, method="hungarian")
    assert [(p, g) for p, g, _ in hungarian] == [(0, 1), (1, 0)]
    greedy = match_intervals(preds, gt, iou_threshold=0.4, method="greedy")
    assert [(p, g) for p, g, _ in greedy] == [(0, 0)]


def test_hungarian_finds_a_maximum_matching_on_random_intervals() -> None:
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import maximum_bipartite_matching

    rng = np.random.default_rng(0)
    for _ in range(50):
        def draw(n: int) -> list[EvalInterval]:
            onsets = rng.integers(0, 60, n)
            return [_iv("v", int(o), int(o + rng.integers(3, 15))) for o in onsets]

        preds, gt = draw(int(rng.integers(1, 8))), draw(int(rng.integers(1, 8)))
        eligible = np.array([[iou(p, g) >= 0.5 for g in gt] for p in preds])
        n_max = int((maximum_bipartite_matching(csr_matrix(eligible)) >= 0).sum())
        hungarian = match_intervals(preds, gt, method="hungarian")
        greedy = match_intervals(preds, gt, method="greedy")
        assert len(hungarian) == n_max >= len(greedy)
        for matches in (hungarian, greedy):   # one-to-one, every pair eligible
            assert len({p for p, _, _ in matches}) == len({g for _, g, _ in matches})
            assert len({p for p, _, _ in matches}) == len(matches)
            assert all(value >= 0.5 for _, _, value in matches)


def test_hungarian_prefers_higher_total_iou_among_maximum_matchings() -> None:
    gt = [_iv("v", 0, 9), _iv("v", 0, 11)]
    # P0 = [0,9]: IoU 1.0 with G0, 10/12 with G1; P1 = [0,11]: 10/12 with G0, 1.0 with G1.
    preds = [_iv("v", 0, 9), _iv("v", 0, 11)]
    matches = match_intervals(preds, gt, method="hungarian")
    assert [(p, g, value) for p, g, value in matches] == [(0, 0, 1.0), (1, 1, 1.0)]


def test_matching_indices_refer_to_the_input_sequences_across_videos() -> None:
    gt = [_iv("b", 100, 109), _iv("a", 0, 9)]
    preds = [_iv("a", 0, 9), _iv("c", 0, 9), _iv("b", 100, 109)]
    assert match_intervals(preds, gt) == [(0, 1, 1.0), (2, 0, 1.0)]


def test_unknown_method_and_bad_threshold_raise() -> None:
    with pytest.raises(ValueError, match="method"):
        evaluate([], [], method="first-come")
    with pytest.raises(ValueError, match="iou_threshold"):
        evaluate([], [], iou_threshold=0.0)


# --- Pooled spotting ----------------------------------------------------------------------------

def test_spotting_f1_is_pooled_over_videos_not_averaged() -> None:
    gt = [_iv("v1", 0, 9), _iv("v1", 30, 39), _iv("v2", 0, 9)]
    preds = [_iv("v1", 0, 9), _iv("v1", 30, 39), _iv("v2", 60, 69)]
    report = evaluate(preds, gt)
    # v1: 2 TP; v2: 1 FP, 1 FN → pooled TP 2, FP 1, FN 1: P = R = F1 = 2/3.
    assert report.spotting == SpottingCounts(2, 1, 1)
    assert report.spotting.precision == pytest.approx(2 / 3)
    assert report.spotting.recall == pytest.approx(2 / 3)
    assert report.spotting.f1 == pytest.approx(2 / 3)
    # The mean of per-video F1s would be (1 + 0) / 2 = 0.5.
    assert [c.f1 for c in report.per_video.values()] == [1.0, 0.0]


def test_empty_inputs_give_zero_scores_not_errors() -> None:
    report = evaluate([], [])
    assert report.spotting == SpottingCounts(0, 0, 0)
    assert (report.spotting.precision, report.spotting.recall, report.spotting.f1) == (0, 0, 0)
    assert report.strs == 0.0


def test_prediction_subject_comes_from_its_video() -> None:
    gt = [_iv("v1", 0, 9, subject="s7")]
    report = evaluate([_iv("v1", 0, 9), _iv("v1", 50, 59)], gt)
    assert report.per_subject == {"s7": SpottingCounts(1, 1, 0)}
    with pytest.raises(ValueError, match="two subjects"):
        evaluate([_iv("v1", 0, 9, subject="s8")], gt)


# --- Recognition --------------------------------------------------------------------------------

def _recognition_case() -> tuple[list[EvalInterval], list[EvalInterval]]:
    """Five TPs with (gt, pred) = (a,a) (a,a) (a,b) (b,b) (c,c), one per 20-frame slot."""
    pairs = [("a", "a"), ("a", "a"), ("a", "b"), ("b", "b"), ("c", "c")]
    gt = [_iv("v", 20 * k, 20 * k + 9, label=g) for k, (g, _) in enumerate(pairs)]
    preds = [_iv("v", 20 * k, 20 * k + 9, label=p) for k, (_, p) in enumerate(pairs)]
    return preds, gt


def test_uar_is_mean_recall_and_differs_from_macro_precision() -> None:
    preds, gt = _recognition_case()
    rec = evaluate(preds, gt).recognition
    # a: TP 2, support 3, predicted 2 → P 1,   R 2/3, F1 4/5
    # b: TP 1, support 1, predicted 2 → P 1/2, R 1,   F1 2/3
    # c: TP 1, support 1, predicted 1 → P 1,   R 1,   F1 1
    assert rec.per_class["a"].recall == pytest.approx(2 / 3)
    assert rec.per_class["b"].precision == pytest.approx(1 / 2)
    assert rec.per_class["a"].support == 3
    assert rec.macro_precision == pytest.approx(5 / 6)          # (1 + 1/2 + 1) / 3
    assert rec.uar == pytest.approx(8 / 9)                      # (2/3 + 1 + 1) / 3
    assert rec.uf1 == pytest.approx((4 / 5 + 2 / 3 + 1) / 3)    # 0.8222
    # 2 · (5/6) · (8/9) / (5/6 + 8/9) = 80/93
    assert rec.f1_recog == pytest.approx(80 / 93)
    assert rec.n_pairs == 5


def test_confusion_matrix_rows_gt_columns_prediction_in_given_order() -> None:
    preds, gt = _recognition_case()
    rec = evaluate(preds, gt, class_names=["c", "b", "a"]).recognition
    assert rec.class_names == ("c", "b", "a")
    np.testing.assert_array_equal(rec.confusion, [[1, 0, 0],
                                                  [0, 1, 0],
                                                  [0, 1, 2]])   # gt a predicted b once
    assert evaluate(preds, gt).recognition.class_names == ("a", "b", "c")  # sorted by default


def test_absent_class_is_reported_and_left_out_of_the_means() -> None:
    preds, gt = _recognition_case()
    with_absent = evaluate(preds, gt, class_names=["a", "b", "c", "surprise"]).recognition
    assert with_absent.absent_classes == ("surprise",)
    absent = with_absent.per_class["surprise"]
    assert (absent.support, absent.precision, absent.recall, absent.f1) == (0, None, None, None)
    without = evaluate(preds, gt).recognition
    assert with_absent.uf1 == pytest.approx(without.uf1)
    assert with_absent.uar == pytest.approx(without.uar)


def test_predicted_but_never_true_class_counts_with_zero_recall() -> None:
    rec = evaluate_recognition([("a", "a"), ("a", "b")], ["a", "b"])
    # a: P 1, R 1/2, F1 2/3; b: support 0, predicted 1 → P 0, R 0 (0/0 → 0), F1 0.
    assert rec.absent_classes == ()
    assert rec.per_class["b"].recall == 0.0
    assert rec.uar == pytest.approx(0.25)
    assert rec.uf1 == pytest.approx(1 / 3)


def test_unmatched_and_unlabelled_intervals_stay_out_of_recognition() -> None:
    gt = [_iv("v", 0, 9, "a"), _iv("v", 30, 39, "b"), _iv("v", 60, 69, "others")]
    preds = [_iv("v", 0, 9, "a"), _iv("v", 30, 39, None), _iv("v", 60, 69, "a"),
             _iv("v", 90, 99, "b")]  # the last one is an FP: not a recognition pair
    rec = evaluate(preds, gt, class_names=["a", "b"]).recognition
    # Pair 2 has no predicted label, pair 3's ground truth is outside the classes.
    assert rec.pairs == (("a", "a"),)
    assert rec.n_excluded_pairs == 2


def test_predicted_label_outside_classes_raises() -> None:
    with pytest.raises(ValueError, match="'fear'"):
        evaluate([_iv("v", 0, 9, "fear")], [_iv("v", 0, 9, "a")], class_names=["a", "b"])


def test_strs_is_spotting_f1_times_recognition_f1() -> None:
    preds, gt = _recognition_case()
    preds = [*preds, _iv("v", 200, 209, "a")]        # one FP: TP 5, FP 1, FN 0
    gt = [*gt, _iv("w", 0, 9, "c")]                   # one FN: TP 5, FP 1, FN 1
    report = evaluate(preds, gt)
    assert report.spotting.f1 == pytest.approx(10 / 12)  # 2·5 / (2·5 + 1 + 1)
    assert report.strs == pytest.approx(10 / 12 * 80 / 93)
    # Spotting-only predictions carry no label, so there is nothing to recognise.
    unlabelled = [_iv(x.video, x.onset_frame, x.offset_frame) for x in preds]
    assert evaluate(unlabelled, gt).strs == 0.0


# --- Reports ------------------------------------------------------------------------------------

def test_json_round_trip_has_no_nan() -> None:
    preds, gt = _recognition_case()
    report = evaluate(preds, gt, class_names=["a", "b", "c", "fear"], method="hungarian")
    text = report.to_json()

    def reject(constant: str) -> None:
        raise AssertionError(f"{constant} in JSON")

    data = json.loads(text, parse_constant=reject)
    assert data["recognition"]["per_class"]["fear"]["f1"] is None
    assert data["recognition"]["absent_classes"] == ["fear"]
    assert data["strs"] == pytest.approx(report.strs)
    assert EvaluationReport.from_json(text) == report


def test_settings_round_trip() -> None:
    config = EvaluationConfig(iou_threshold=0.3, method="hungarian", class_names=("x", "y"))
    assert EvaluationConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    with pytest.raises(ValueError, match="unknown"):
        EvaluationConfig.from_dict({"threshold": 0.5})


def _fold(subject: str, n_hits: int, n_false: int, n_missed: int,
          ) -> tuple[list[EvalInterval], list[EvalInterval]]:
    """One subject's video: hits labelled (pos → pos / neg), false alarms, missed MEs."""
    video = f"{subject}_video"
    preds, gt = [], []
    for k in range(n_hits):
        gt.append(_iv(video, 20 * k, 20 * k + 9, "pos", subject))
        preds.append(_iv(video, 20 * k, 20 * k + 9, "pos" if k % 2 == 0 else "neg"))
    for k in range(n_false):
        preds.append(_iv(video, 1000 + 20 * k, 1009 + 20 * k, "neg"))
    for k in range(n_missed):
        gt.append(_iv(video, 2000 + 20 * k, 2009 + 20 * k, "neg", subject))
    return preds, gt


def test_pooling_folds_equals_evaluating_the_concatenation() -> None:
    preds1, gt1 = _fold("s1", n_hits=3, n_false=0, n_missed=0)  # F1 1
    preds2, gt2 = _fold("s2", n_hits=1, n_false=4, n_missed=2)  # 1 TP, 4 FP, 2 FN: F1 2/8
    folds = [evaluate(preds1, gt1), evaluate(preds2, gt2)]
    pooled = pool_reports(folds)
    assert pooled == evaluate([*preds1, *preds2], [*gt1, *gt2])
    # Pooled: TP 4, FP 4, FN 2 → F1 8/14, not the mean of fold F1s (1 + 0.25) / 2.
    assert pooled.spotting == SpottingCounts(4, 4, 2)
    assert pooled.spotting.f1 == pytest.approx(8 / 14)
    assert set(pooled.per_subject) == {"s1", "s2"}


def test_pooling_rejects_mixed_settings_and_nothing() -> None:
    preds, gt = _fold("s1", 1, 0, 0)
    with pytest.raises(ValueError, match="settings"):
        pool_reports([evaluate(preds, gt), evaluate(preds, gt, method="hungarian")])
    with pytest.raises(ValueError, match="at least one"):
        pool_reports([])

"""Curves → intervals: smoothing, threshold, peak spacing, clipping, emotion vote, synergy."""

from __future__ import annotations

import numpy as np
import pytest

from core.postprocess import (
    DetectedInterval,
    PostprocessConfig,
    detect_peaks,
    k_p_from_fps,
    k_p_from_intervals,
    smooth_curve,
    spot_intervals,
)

EMOTIONS = ["negative", "positive", "surprise", "others"]
ALL_CLASSES = [*EMOTIONS, "neutral"]


def _bump_curve(n_frames: int, centres: list[int], half_width: int = 3,
                height: float = 1.0) -> np.ndarray:
    """(T,) zeros with triangular bumps of ``height`` at ``centres``."""
    frame_idx = np.arange(n_frames)
    curve = np.zeros(n_frames)
    for centre in centres:
        curve = np.maximum(curve, height * np.clip(1 - abs(frame_idx - centre) / half_width, 0, 1))
    return curve


def _probs(n_frames: int, winner_per_frame: np.ndarray, n_classes: int = 5,
           winner_prob: float = 0.7) -> np.ndarray:
    """(T, n_classes) probabilities whose per-frame argmax is ``winner_per_frame``."""
    rest = (1 - winner_prob) / (n_classes - 1)
    probs = np.full((n_frames, n_classes), rest)
    probs[np.arange(n_frames), winner_per_frame] = winner_prob
    return probs


# --- k_p helpers ------------------------------------------------------------------------------

def test_k_p_from_fps_is_half_a_typical_me_length() -> None:
    assert k_p_from_fps(30.0) == 6          # 0.4 s · 30 fps = 12 frames → 6
    assert k_p_from_fps(200.0) == 40
    assert k_p_from_fps(30.0, mean_me_seconds=0.5) == 7
    assert k_p_from_fps(2.0) == 1           # never below one frame


def test_k_p_from_intervals_matches_reference_formula() -> None:
    lengths = [10, 14, 19]                   # onset..offset inclusive
    n_mean = np.mean([length - 1 for length in lengths])  # reference: mean(offset - onset)
    assert k_p_from_intervals(lengths) == int((n_mean + 1) / 2) == 7


@pytest.mark.parametrize("bad", [[], [0, 5], [float("nan")]])
def test_k_p_from_intervals_rejects_bad_lengths(bad: list[float]) -> None:
    with pytest.raises(ValueError):
        k_p_from_intervals(bad)


def test_k_p_from_fps_rejects_non_positive_fps() -> None:
    with pytest.raises(ValueError, match="fps"):
        k_p_from_fps(0.0)


def test_missing_k_p_and_fps_is_an_error() -> None:
    with pytest.raises(ValueError, match="fps"):
        spot_intervals(_bump_curve(50, [25]), None, [], PostprocessConfig())


def test_k_p_derived_from_fps_sets_interval_width() -> None:
    intervals = spot_intervals(_bump_curve(200, [100]), None, [], PostprocessConfig(), fps=30.0)
    assert len(intervals) == 1
    assert intervals[0].n_frames == 2 * 6 + 1


# --- config -------------------------------------------------------------------------------------

def test_config_round_trips_through_dict() -> None:
    config = PostprocessConfig(p=0.4, k_p=9, synergy=False)
    assert PostprocessConfig.from_dict(config.to_dict()) == config


def test_config_rejects_unknown_keys_and_bad_values() -> None:
    with pytest.raises(ValueError, match="unknown"):
        PostprocessConfig.from_dict({"p": 0.5, "threshold": 3})
    with pytest.raises(ValueError, match="p must be"):
        PostprocessConfig(p=1.5)
    with pytest.raises(ValueError, match="k_p"):
        PostprocessConfig(k_p=0)


# --- smoothing and peaks ------------------------------------------------------------------------

def test_smoothing_box_width_and_even_centring() -> None:
    impulse = np.zeros(21)
    impulse[10] = 1.0
    smoothed = smooth_curve(impulse, k_p=2)
    # Width 2·k_p = 4: frame t averages t-2 … t+1, so the impulse reaches frames 9 … 12.
    np.testing.assert_allclose(np.flatnonzero(smoothed), [9, 10, 11, 12])
    np.testing.assert_allclose(smoothed[9:13], 0.25)


def test_smoothing_keeps_a_constant_curve_constant() -> None:
    np.testing.assert_allclose(smooth_curve(np.full(30, 0.3), k_p=4), 0.3)


def test_threshold_is_mean_plus_p_of_range() -> None:
    curve = np.array([0.0, 0.0, 1.0, 0.0, 0.0, 0.5, 0.0, 0.0])
    peak_frames, threshold = detect_peaks(curve, k_p=1, p=0.55)
    mean = curve.mean()
    assert threshold == pytest.approx(mean + 0.55 * (1.0 - mean))
    assert peak_frames.tolist() == [2]      # 0.5 is below the threshold


def test_two_peaks_closer_than_k_p_keep_only_the_higher() -> None:
    curve = np.zeros(60)
    curve[[20, 24]] = [0.9, 1.0]
    peak_frames, _ = detect_peaks(curve, k_p=5, p=0.2)
    assert peak_frames.tolist() == [24]


def test_two_peaks_farther_than_k_p_both_survive() -> None:
    curve = np.zeros(60)
    curve[[20, 27]] = [0.9, 1.0]
    peak_frames, _ = detect_peaks(curve, k_p=5, p=0.2)
    assert peak_frames.tolist() == [20, 27]


def test_flat_curve_gives_no_interval() -> None:
    assert detect_peaks(np.full(40, 0.7), k_p=3, p=0.55)[0].size == 0
    assert spot_intervals(np.full(40, 0.7), None, [], PostprocessConfig(k_p=3)) == []
    assert spot_intervals(np.zeros(40), None, [], PostprocessConfig(k_p=3)) == []


def test_nan_in_curve_is_an_error() -> None:
    curve = _bump_curve(50, [25])
    curve[7] = np.nan
    with pytest.raises(ValueError, match="frame 7"):
        spot_intervals(curve, None, [], PostprocessConfig(k_p=3))


# --- intervals ------------------------------------------------------------------------------------

def test_interval_is_peak_plus_minus_k_p_without_recognition() -> None:
    curve = _bump_curve(100, [30, 70])
    intervals = spot_intervals(curve, None, [], PostprocessConfig(k_p=4))
    # Width-8 smoothing turns each bump into a plateau over frames c-1 … c+2 (the even box
    # lags half a frame); find_peaks reports the plateau's left-middle frame, c.
    assert [(i.onset_frame, i.apex_frame, i.offset_frame) for i in intervals] == [
        (26, 30, 34), (66, 70, 74)]
    first = intervals[0]
    assert first.emotion is None and first.class_probs == {}
    assert first.confidence == first.spot_score == pytest.approx(smooth_curve(curve, 4)[30])


def test_peak_near_the_start_is_clipped_at_frame_zero() -> None:
    curve = _bump_curve(60, [3], half_width=6)
    [interval] = spot_intervals(curve, None, [], PostprocessConfig(k_p=5))
    assert interval.apex_frame < 5
    assert (interval.onset_frame, interval.offset_frame) == (0, interval.apex_frame + 5)


def test_peak_near_the_end_is_clipped_at_last_frame() -> None:
    curve = _bump_curve(60, [55], half_width=6)
    [interval] = spot_intervals(curve, None, [], PostprocessConfig(k_p=5))
    assert interval.apex_frame > 54
    assert (interval.onset_frame, interval.offset_frame) == (interval.apex_frame - 5, 59)


def test_emotion_is_majority_of_non_neutral_argmax() -> None:
    n_frames = 80
    curve = _bump_curve(n_frames, [40])
    winners = np.full(n_frames, 4)                    # neutral outside
    winners[34:47] = 1                                # positive over the interval …
    winners[38:41] = 2                                # … except three surprise frames
    probs = _probs(n_frames, winners)
    [interval] = spot_intervals(curve, probs, EMOTIONS, PostprocessConfig(k_p=5))
    assert interval.emotion == "positive"
    window = probs[interval.onset_frame:interval.offset_frame + 1]
    assert interval.confidence == pytest.approx(window[:, 1].mean())
    assert set(interval.class_probs) == set(ALL_CLASSES)
    assert interval.class_probs["neutral"] == pytest.approx(window[:, 4].mean())


def test_emotion_vote_ignores_neutral_and_breaks_ties_by_mean_probability() -> None:
    n_frames = 60
    curve = _bump_curve(n_frames, [30])
    probs = np.zeros((n_frames, 5))
    probs[:, 4] = 0.5                                  # neutral never wins the synergy vote …
    probs[:, 0] = 0.1
    probs[25:36, 4] = 0.1                              # … inside the interval
    odd = np.arange(25, 36) % 2 == 1
    probs[25:36, 0] = np.where(odd, 0.5, 0.25)        # negative wins the 6 odd frames
    probs[25:36, 3] = np.where(odd, 0.2, 0.65)        # others wins the 5 even frames
    config = PostprocessConfig(k_p=5)
    [interval] = spot_intervals(curve, probs, ALL_CLASSES, config)
    assert (interval.onset_frame, interval.offset_frame) == (25, 35)
    assert interval.emotion == "negative"             # 6 frames to 5
    # Frame 35 votes positive instead: 5 to 5, and others has the higher mean probability.
    probs[35, 0], probs[35, 3] = 0.0, 0.0
    probs[35, 1] = 0.6                                 # frame 35 now votes positive
    [interval] = spot_intervals(curve, probs, ALL_CLASSES, config)
    assert interval.emotion == "others"


def test_synergy_drops_neutral_majority_interval_and_keeps_it_when_off() -> None:
    n_frames = 80
    curve = _bump_curve(n_frames, [20, 60])
    winners = np.full(n_frames, 4)                    # neutral everywhere …
    winners[14:27] = 0                                # … but negative around the first peak
    probs = _probs(n_frames, winners)
    on = spot_intervals(curve, probs, EMOTIONS, PostprocessConfig(k_p=5))
    off = spot_intervals(curve, probs, EMOTIONS, PostprocessConfig(k_p=5, synergy=False))
    assert [i.apex_frame for i in on] == [20]
    assert [i.apex_frame for i in off] == [20, 60]
    assert on[0].emotion == "negative"
    assert off[1].emotion is not None and off[1].emotion != "neutral"


def test_neutral_index_can_be_the_first_column() -> None:
    n_frames = 60
    curve = _bump_curve(n_frames, [30])
    winners = np.zeros(n_frames, dtype=int)           # column 0 = neutral everywhere
    winners[24:37] = 3
    probs = _probs(n_frames, winners)
    config = PostprocessConfig(k_p=5, neutral_index=0)
    [interval] = spot_intervals(curve, probs, EMOTIONS, config)
    assert interval.emotion == "surprise"             # column 3 = EMOTIONS[2] after neutral
    assert list(interval.class_probs)[0] == "neutral"


def test_recognition_shape_and_names_are_checked() -> None:
    curve = _bump_curve(40, [20])
    config = PostprocessConfig(k_p=3)
    with pytest.raises(ValueError, match="recog_probs must be"):
        spot_intervals(curve, np.zeros((39, 5)), EMOTIONS, config)
    with pytest.raises(ValueError, match="class names"):
        spot_intervals(curve, np.full((40, 5), 0.2), ["a", "b"], config)


def test_detected_interval_length() -> None:
    interval = DetectedInterval(3, 5, 9, None, 0.5, 0.5, {})
    assert interval.n_frames == 7

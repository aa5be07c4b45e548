"""Training-free flow spotter: ME-like bursts score high, drifts and macro steps lower."""

from __future__ import annotations

import numpy as np
import pytest

from core.models.flow_spotter import FlowSpotter, FlowSpotterConfig
from core.traces import FlowTraces

N_ROIS = 5
BUMP_START_SEC = 4.0
BUMP_SECONDS = 0.3
BUMP_CENTRE_SEC = BUMP_START_SEC + BUMP_SECONDS / 2


def _traces(
    fps: float,
    duration_sec: float = 10.0,
    bump_px: float = 1.0,
    step: tuple[float, float] | None = None,
    noise_px: float = 0.05,
    seed: int = 0,
) -> FlowTraces:
    """Noisy, slowly drifting ROI traces with a 0.3-s raised-cosine bump in ROI 1.

    ``step`` = (start_sec, height_px) adds a sustained 3-s step to ROI 2's x channel.
    """
    n_frames = int(round(duration_sec * fps))
    t_sec = np.arange(n_frames) / fps
    rng = np.random.default_rng(seed)
    values = rng.normal(0.0, noise_px, (2 * N_ROIS, n_frames))
    values += 0.8 * np.sin(2 * np.pi * t_sec / 9.0) + 0.1 * t_sec  # slow head drift
    phase = (t_sec - BUMP_START_SEC) / BUMP_SECONDS
    bump = np.where((phase >= 0) & (phase <= 1), 0.5 * (1 - np.cos(2 * np.pi * phase)), 0.0)
    values[2] += 0.8 * bump_px * bump                                # ROI 1, x
    values[3] += 0.6 * bump_px * bump                                # ROI 1, y
    if step is not None:
        start_sec, height_px = step
        values[4] += height_px * ((t_sec >= start_sec) & (t_sec < start_sec + 3.0))
    names = [f"roi{r}_{axis}" for r in range(N_ROIS) for axis in "xy"]
    return FlowTraces(values, names, np.ones(n_frames, dtype=bool), fps, "metst")


@pytest.mark.parametrize("fps", [24.0, 30.0, 200.0])
def test_bump_peaks_at_the_same_time_at_any_fps(fps: float) -> None:
    spot = FlowSpotter()(_traces(fps))
    assert spot.shape == (int(10 * fps),) and spot.dtype == np.float32
    assert spot.min() >= 0.0 and spot.max() <= 1.0
    peak_sec = np.argmax(spot) / fps
    assert abs(peak_sec - BUMP_CENTRE_SEC) <= 1.0 / 24.0 + 1e-9
    # Away from the bump (noise and drift only) the curve stays low.
    t_sec = np.arange(spot.size) / fps
    quiet = np.abs(t_sec - BUMP_CENTRE_SEC) > 0.5
    assert spot[quiet].max() < 0.25 < spot.max()


def test_sustained_step_scores_lower_than_a_short_bump() -> None:
    traces = _traces(30.0, step=(6.0, 1.0))
    spot = FlowSpotter()(traces)
    t_sec = np.arange(spot.size) / 30.0
    bump_score = spot[np.abs(t_sec - BUMP_CENTRE_SEC) < 0.3].max()
    step_score = spot[(t_sec > 5.5) & (t_sec < 9.5)].max()
    assert step_score > 0.05                       # the step's edges are seen …
    assert bump_score > 1.5 * step_score           # … but well below the ME-like burst


def test_invalid_frames_and_their_neighbours_score_zero() -> None:
    traces = _traces(30.0)
    traces.values += 3.0                           # so the gap is a big jump in every ROI
    invalid = slice(200, 230)                      # 6.7–7.7 s, after the bump
    traces.valid[invalid] = False
    traces.values[:, invalid] = 0.0                # FlowTraces: values are 0 where invalid
    spot = FlowSpotter()(traces)
    k_frames = FlowSpotterConfig().k_frames(30.0)
    assert np.all(spot[200 - k_frames:230 + k_frames] == 0.0)
    assert np.count_nonzero(spot[200 - 3 * k_frames:200 - k_frames]) > 0
    # The jump to 0 at the gap does not outscore the real burst.
    assert np.argmax(spot) / 30.0 == pytest.approx(BUMP_CENTRE_SEC, abs=1 / 30)


def test_all_frames_invalid_gives_all_zeros() -> None:
    traces = _traces(30.0)
    traces.valid[:] = False
    assert np.all(FlowSpotter()(traces) == 0.0)


def test_constant_input_gives_zeros_without_nan() -> None:
    n_frames = 300
    traces = FlowTraces(np.full((2 * N_ROIS, n_frames), 0.7, dtype=np.float32),
                        [f"r{i}" for i in range(2 * N_ROIS)], np.ones(n_frames, bool), 30.0,
                        "metst")
    spot = FlowSpotter()(traces)
    assert spot.shape == (n_frames,) and spot.dtype == np.float32
    assert np.all(spot == 0.0)


def test_empty_video_and_bad_channel_count() -> None:
    empty = FlowTraces(np.zeros((4, 0), np.float32), ["a_x", "a_y", "b_x", "b_y"],
                       np.zeros(0, bool), 30.0, "metst")
    assert FlowSpotter()(empty).shape == (0,)
    odd = FlowTraces(np.zeros((3, 10), np.float32), ["a", "b", "c"], np.ones(10, bool), 30.0,
                     "metst")
    with pytest.raises(ValueError, match="even"):
        FlowSpotter()(odd)


def test_config_round_trip_and_frames_from_seconds() -> None:
    config = FlowSpotterConfig(k_seconds=0.15, top_roi_fraction=0.5)
    assert FlowSpotterConfig.from_dict(config.to_dict()) == config
    assert config.k_frames(200.0) == 30 and config.k_frames(24.0) == 4
    with pytest.raises(ValueError, match="unknown"):
        FlowSpotterConfig.from_dict({"k_frames": 6})
    with pytest.raises(ValueError, match="k_seconds"):
        FlowSpotterConfig(k_seconds=0.0)


def _raised_cosine(t_sec: np.ndarray, start_sec: float, seconds: float) -> np.ndarray:
    phase = (t_sec - start_sec) / seconds
    return np.where((phase >= 0) & (phase <= 1), 0.5 * (1 - np.cos(2 * np.pi * phase)), 0.0)


def test_a_large_slow_macro_movement_scores_far_below_the_micro_burst() -> None:
    traces = _traces(30.0)
    t_sec = np.arange(traces.n_frames) / 30.0
    traces.values[4] += 4.0 * _raised_cosine(t_sec, 6.5, 2.0)     # ROI 2: 4 px over 2 s
    spot = FlowSpotter()(traces)
    bump_score = spot[np.abs(t_sec - BUMP_CENTRE_SEC) < 0.3].max()
    macro_score = spot[(t_sec > 6.0) & (t_sec < 9.0)].max()
    assert bump_score > 0.5 and macro_score < 0.3 * bump_score


def test_motion_of_the_whole_face_scores_below_the_same_motion_in_one_region() -> None:
    t_sec = np.arange(300) / 30.0
    local, everywhere = _traces(30.0), _traces(30.0)
    burst = 0.8 * _raised_cosine(t_sec, 7.0, 0.3)
    local.values[6] += burst                                        # ROI 3 only
    everywhere.values[0::2] += burst                                # every ROI's x
    window = (t_sec > 6.8) & (t_sec < 7.5)
    assert FlowSpotter()(everywhere)[window].max() < 0.5 * FlowSpotter()(local)[window].max()


def test_a_blink_and_its_reach_score_zero() -> None:
    traces = _traces(30.0)
    openness = np.full(traces.n_frames, 0.3, dtype=np.float32)
    openness[118:126] = 0.05                                        # closed at 3.93–4.2 s
    traces.eye_openness = openness
    spot = FlowSpotter()(traces)
    k_frames = FlowSpotterConfig().k_frames(30.0)
    assert np.all(spot[118 - k_frames:126 + k_frames] == 0.0)      # the bump under the blink
    assert FlowSpotter(FlowSpotterConfig(suppress_blinks=False))(traces).max() > 0.5

"""Blinks are found from eye openness and do not count as micro-expressions."""

from __future__ import annotations

import numpy as np

from core.blinks import blink_frames, eye_openness
from core.models.flow_spotter import FlowSpotter
from core.traces import FlowTraces

FPS = 30.0


def _openness_with_blinks(n_frames: int, blink_starts: list[int]) -> np.ndarray:
    rng = np.random.default_rng(0)
    openness = 0.3 + rng.normal(0, 0.005, n_frames)
    for start in blink_starts:
        openness[start:start + 6] -= np.array([0.05, 0.12, 0.2, 0.2, 0.12, 0.05])
    return openness.astype(np.float32)


def test_blinks_are_found_with_a_margin() -> None:
    openness = _openness_with_blinks(300, [50, 200])
    blinks = blink_frames(openness, FPS)
    assert blinks[51:55].all() and blinks[201:205].all()
    assert blinks[48] and blinks[58], "blinks are widened by 0.1 s"
    assert not blinks[100:180].any() and not blinks[260:].any()


def test_no_face_frames_are_not_blinks() -> None:
    openness = _openness_with_blinks(120, [])
    openness[40:60] = np.nan
    assert not blink_frames(openness, FPS).any()
    assert not blink_frames(np.full(10, np.nan, np.float32), FPS).any()


def test_eye_openness_drops_when_the_lids_close() -> None:
    landmarks = np.zeros((2, 68, 2), np.float32)
    for eye in (np.arange(36, 42), np.arange(42, 48)):
        x0 = 0.0 if eye[0] == 36 else 40.0
        open_eye = np.array([[x0, 0], [x0 + 6, -4], [x0 + 14, -4], [x0 + 20, 0],
                             [x0 + 14, 4], [x0 + 6, 4]], np.float32)
        landmarks[0, eye] = open_eye
        landmarks[1, eye] = open_eye * np.array([1.0, 0.25], np.float32)
    ratio = eye_openness(landmarks)
    np.testing.assert_allclose(ratio[0], 16 / 40)
    assert ratio[1] < 0.3 * ratio[0]


def test_the_flow_spotter_ignores_motion_during_a_blink() -> None:
    n_frames = 300
    t = np.arange(n_frames)
    values = np.random.default_rng(1).normal(0, 0.02, (10, n_frames)).astype(np.float32)
    burst = np.exp(-0.5 * ((t - 53) / 2.0) ** 2).astype(np.float32)   # at the blink
    values[0] += 1.5 * burst
    names = tuple(f"roi{r}_{a}" for r in range(5) for a in "xy")
    valid = np.ones(n_frames, bool)
    without = FlowSpotter()(FlowTraces(values, names, valid, FPS, "metst"))
    with_blink = FlowSpotter()(FlowTraces(values, names, valid, FPS, "metst",
                                          eye_openness=_openness_with_blinks(n_frames, [50])))
    assert without[50:57].max() > 0.5
    assert with_blink[50:57].max() == 0.0

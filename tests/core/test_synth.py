"""The synthetic micro-expression benchmark: exact, reproducible ground truth in the project
layout, expressions that move the right part of the face, and a spotter that sees them."""

from __future__ import annotations

import csv
import dataclasses
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.datasets import load_project
from core.face import FaceTracker, NoFaceError
from core.flow import FlowConfig, extract_flow
from core.intervals_csv import INTERVAL_COLUMNS
from core.metrics import EvalInterval, evaluate
from core.models.flow_spotter import FlowSpotter, feature_difference
from core.postprocess import PostprocessConfig, spot_intervals
from core.progress import Cancelled, CancelToken, Progress
from core.synth import (
    EMOTIONS,
    PRESETS,
    SynthConfig,
    SynthEvent,
    SynthManifest,
    generate,
    plan_events,
)
from core.synth.looks import MIRRORED_LANDMARKS
from core.synth.patterns import PATTERNS, FaceGeometry, displacement_field
from core.video import open_source
from tests.fixtures.videos import sample_frames

# 2 subjects × 8 s at 15 fps with every kind of event (macro-expressions kept short to fit).
LAYOUT_CONFIG = SynthConfig(seconds=8.0, fps=15.0, me_per_minute=22.5, blinks_per_minute=7.5,
                            macros_per_minute=7.5, macro_seconds=(0.5, 1.0),
                            head_jerks_per_minute=7.5, edge_seconds=0.5)
# 1 subject × 4 s at 15 fps: 2 MEs and a blink.
TINY_CONFIG = SynthConfig(n_subjects=1, seconds=4.0, fps=15.0, me_per_minute=30.0,
                          blinks_per_minute=15.0, macros_per_minute=0.0,
                          head_jerks_per_minute=0.0, edge_seconds=0.5)


def _read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, newline="", encoding="utf-8") as stream:
        rows = list(csv.reader(stream))
    return rows[0], [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


def _frames(path: Path) -> list[np.ndarray]:
    with open_source(path) as source:
        return [frame for _idx, frame in source.iter_frames()]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> SynthManifest:
    return generate(LAYOUT_CONFIG, tmp_path_factory.mktemp("synth") / "layout")


@pytest.fixture(scope="module")
def sample_landmarks() -> np.ndarray:
    """(68, 2) landmarks of a frontal sample frame (eyes open)."""
    frame = sample_frames(323)[322]
    observation = FaceTracker().update(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY))
    assert observation is not None
    return observation.landmarks.astype(np.float64)


# ---------------------------------------------------------------------------- the dataset


def test_the_project_reader_finds_every_video_and_its_micro_expressions(
        dataset: SynthManifest) -> None:
    project = load_project(dataset.root)

    assert project.warnings == []
    assert project.subjects == ["s01", "s02"]
    assert [(v.subject, v.video) for v in project.videos] == [("s01", "s01_v01"),
                                                              ("s02", "s02_v01")]
    for video, synth in zip(project.videos, dataset.videos, strict=True):
        assert video.path == dataset.root / synth.subject / f"{synth.video}.mkv"
        assert video.fps == pytest.approx(15.0)
        assert [(i.onset_frame, i.apex_frame, i.offset_frame, i.emotion, i.expression_type)
                for i in video.intervals] == [
            (e.onset_frame, e.apex_frame, e.offset_frame, e.emotion, "micro")
            for e in synth.micro_expressions]
    assert SynthManifest.load(dataset.root) == dataset


def test_interval_csvs_hold_the_micro_expressions_in_frames(dataset: SynthManifest) -> None:
    for video in dataset.videos:
        header, rows = _read_csv(video.path.with_suffix(".intervals.csv"))

        assert tuple(header) == INTERVAL_COLUMNS
        assert len(rows) == 3 == len(video.micro_expressions)
        for row in rows:
            onset, apex, offset = (int(row[k]) for k in ("onset_frame", "apex_frame",
                                                          "offset_frame"))
            assert 0 <= onset <= apex <= offset < video.n_frames
            assert 0.2 <= (offset - onset) / video.fps <= 0.5
            assert float(row["onset_s"]) == pytest.approx(onset / video.fps, abs=1e-4)
            assert float(row["offset_s"]) == pytest.approx(offset / video.fps, abs=1e-4)
            assert row["video"] == video.path.name and row["emotion"] in EMOTIONS
            assert (row["confidence"], row["source"], row["status"]) == \
                ("1.0", "human", "accepted")
            assert row["note"].startswith("synthetic ME (") and " px)" in row["note"]


def test_distractors_are_listed_apart_with_their_kind(dataset: SynthManifest) -> None:
    for video in dataset.videos:
        header, rows = _read_csv(video.path.with_suffix(".distractors.csv"))

        assert tuple(header) == INTERVAL_COLUMNS
        kinds = sorted(row["note"].split(" ")[0] for row in rows)
        assert kinds == ["blink", "head_jerk", "macro"]
        for row in rows:
            is_macro = row["note"].startswith("macro")
            assert (row["emotion"] in EMOTIONS) if is_macro else row["emotion"] == ""
            assert int(row["offset_frame"]) < video.n_frames


def test_events_never_overlap_and_keep_their_distance(dataset: SynthManifest) -> None:
    gap_frames = math.ceil(LAYOUT_CONFIG.min_gap_seconds * LAYOUT_CONFIG.fps)
    for video in dataset.videos:
        events = sorted(video.events, key=lambda e: e.onset_frame)
        for before, after in zip(events, events[1:], strict=False):
            assert after.onset_frame - before.offset_frame >= gap_frames


def test_videos_read_back_with_their_length_rate_and_size(dataset: SynthManifest) -> None:
    for video in dataset.videos:
        with open_source(video.path) as source:
            assert (source.n_frames, source.fps) == (video.n_frames, video.fps) == (120, 15.0)
            assert (source.width, source.height) == (video.width, video.height) == (512, 288)
            last = source.read(video.n_frames - 1)
        assert np.array_equal(last, _frames(video.path)[-1])   # random access = sequential


def test_subjects_derived_from_one_base_look_different(dataset: SynthManifest) -> None:
    first, second = dataset.videos
    assert (first.look.mirror, second.look.mirror) == (False, True)
    assert first.look.scale != second.look.scale
    with open_source(first.path) as a, open_source(second.path) as b:
        difference = np.abs(a.read(0).astype(np.int16) - b.read(0).astype(np.int16))
    assert difference.mean() > 10


@pytest.mark.slow
def test_the_same_seed_gives_the_same_csvs_and_frames(tmp_path: Path) -> None:
    runs = {name: generate(config, tmp_path / name) for name, config in [
        ("a", TINY_CONFIG), ("b", TINY_CONFIG),
        ("png", dataclasses.replace(TINY_CONFIG, video_format="png")),
        ("other", dataclasses.replace(TINY_CONFIG, seed=1))]}
    paths = {name: manifest.videos[0].path for name, manifest in runs.items()}

    def csv_text(name: str, suffix: str) -> str:
        return (tmp_path / name / "s01" / f"s01_v01{suffix}").read_text(encoding="utf-8")

    for suffix in (".intervals.csv", ".distractors.csv"):
        assert csv_text("a", suffix) == csv_text("b", suffix)
        assert csv_text("a", suffix) != csv_text("other", suffix)
    assert (tmp_path / "a" / "synth.json").read_bytes() == \
        (tmp_path / "b" / "synth.json").read_bytes()
    frames = {name: _frames(path) for name, path in paths.items()}
    assert len(frames["a"]) == 60
    assert all(np.array_equal(x, y) for x, y in zip(frames["a"], frames["b"], strict=True))
    assert paths["png"] == tmp_path / "png" / "s01" / "s01_v01"
    assert (paths["png"] / "frame_0000.png").is_file()
    assert all(np.array_equal(x, y) for x, y in zip(frames["a"], frames["png"], strict=True))
    assert not np.array_equal(frames["a"][30], frames["other"][30])


def test_a_photo_is_a_base_too(tmp_path: Path) -> None:
    photo = tmp_path / "face.png"
    cv2.imwrite(str(photo), sample_frames(323)[322])
    still = dataclasses.replace(TINY_CONFIG, bases=(str(photo),), me_per_minute=0.0,
                                blinks_per_minute=0.0, head_motion_px=0.0,
                                head_rotation_deg=0.0, head_scale=0.0, brightness_drift=0.0,
                                noise_sigma=0.0)

    video = generate(still, tmp_path / "out").videos[0]

    frames = _frames(video.path)
    assert len(frames) == 60 and video.base_n_frames == 1
    assert all(np.array_equal(frames[0], frame) for frame in frames)


def test_a_base_without_a_face_is_refused_by_name(tmp_path: Path, no_face_path: Path) -> None:
    config = dataclasses.replace(TINY_CONFIG, bases=(str(no_face_path),))

    with pytest.raises(NoFaceError, match="no_face.mp4: no face found"):
        generate(config, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_cancel_leaves_no_half_written_video(tmp_path: Path) -> None:
    token = CancelToken()

    def cancel_once_frames_flow(p: Progress) -> None:
        if p.stage == "synth" and p.done > 0:
            token.cancel()

    with pytest.raises(Cancelled):
        generate(TINY_CONFIG, tmp_path / "out", progress=cancel_once_frames_flow, cancel=token)
    assert [p.name for p in (tmp_path / "out").rglob("*")] == ["s01"]


def test_a_non_empty_folder_is_not_overwritten_unless_asked(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")

    with pytest.raises(FileExistsError, match="not empty"):
        generate(TINY_CONFIG, tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


# ---------------------------------------------------------------------------- the pieces


def test_config_round_trips_and_presets_have_their_sizes() -> None:
    config = SynthConfig.preset("loso", seed=7, bases=("a.mp4",))

    assert SynthConfig.from_dict(config.to_dict()) == config
    assert (config.n_subjects, config.videos_per_subject, config.seconds, config.seed) == \
        (6, 2, 60.0, 7)
    small = PRESETS["small"]
    assert (small.n_subjects, small.videos_per_subject, small.seconds, small.fps) == \
        (2, 1, 20.0, 30.0)
    assert round(small.me_per_minute * small.seconds / 60) == 6
    with pytest.raises(ValueError, match="unknown preset"):
        SynthConfig.preset("huge")
    with pytest.raises(ValueError, match="me_seconds"):
        SynthConfig(me_seconds=(0.5, 0.2))
    with pytest.raises(ValueError, match="emotions"):
        SynthConfig(emotions=("happy",))
    with pytest.raises(ValueError, match="unknown SynthConfig keys"):
        SynthConfig.from_dict({"subjects": 3})


@pytest.mark.parametrize("fps", [30.0, 200.0])
def test_planned_events_fit_their_ranges(fps: float) -> None:
    config = SynthConfig(seconds=60.0, fps=fps)
    n_frames = config.n_frames

    events = plan_events(config, n_frames, fps, face_width_px=250.0, eye_opening_px=12.0,
                         rng=np.random.default_rng(3))

    kinds = [e.kind for e in events]
    assert [kinds.count(k) for k in ("me", "blink", "macro", "head_jerk")] == [18, 6, 3, 3]
    for event in events:
        seconds = (event.offset_frame - event.onset_frame) / fps
        assert event.onset_frame >= fps and event.offset_frame < n_frames - fps   # edges
        if event.kind == "me":
            assert 0.2 <= seconds <= 0.5 and 0.5 <= event.amplitude_px <= 2.0
            assert event.onset_frame < event.apex_frame < event.offset_frame
        elif event.kind == "macro":
            assert 0.5 - 1 / fps <= seconds <= 4.0 and 3.0 <= event.amplitude_px <= 8.0
    me_emotions = [e.emotion for e in events if e.kind == "me"]
    assert sorted(set(me_emotions)) == sorted(EMOTIONS)
    assert max(map(me_emotions.count, EMOTIONS)) - min(map(me_emotions.count, EMOTIONS)) <= 1


def test_too_many_events_for_the_video_is_an_error() -> None:
    config = SynthConfig(seconds=5.0, me_per_minute=120.0)

    with pytest.raises(ValueError, match="lower the event densities"):
        plan_events(config, config.n_frames, config.fps, 250.0, 12.0, np.random.default_rng(0))


def test_intensity_rises_to_the_apex_and_falls_more_slowly() -> None:
    event = SynthEvent("me", onset_frame=10, apex_frame=14, release_frame=14, offset_frame=22)
    profile = [event.intensity(frame_idx) for frame_idx in range(8, 25)]

    assert profile[:3] == [0.0, 0.0, 0.0] and profile[-3:] == [0.0, 0.0, 0.0]
    assert event.intensity(14) == 1.0
    rise, fall = np.diff(profile[2:7]), np.diff(profile[6:15])
    assert (rise > 0).all() and (fall < 0).all() and rise.max() > -fall.min()


def _field_at(face: FaceGeometry, pattern: str, point: np.ndarray) -> np.ndarray:
    """(dx, dy) of a 2-px ``pattern`` at full intensity at image ``point`` (x, y)."""
    event = SynthEvent("me", 0, 1, 1, 2, pattern=pattern, amplitude_px=2.0)
    y0, x0, field = displacement_field(face, event, 1.0, (640, 360))
    row, col = int(round(point[1])) - y0, int(round(point[0])) - x0
    inside = 0 <= row < field.shape[0] and 0 <= col < field.shape[1]
    return field[row, col] if inside else np.zeros(2, dtype=np.float32)


@pytest.mark.parametrize("mirrored", [False, True])
def test_each_pattern_moves_the_skin_its_action_unit_moves(sample_landmarks: np.ndarray,
                                                           mirrored: bool) -> None:
    landmarks = sample_landmarks
    if mirrored:   # the subject seen in a mirror: x flipped, points renamed
        landmarks = (landmarks * [-1, 1] + [639, 0])[MIRRORED_LANDMARKS]
    face = FaceGeometry.from_landmarks(landmarks)
    right_corner, left_corner = landmarks[48], landmarks[54]      # the subject's right / left
    outward = np.sign(right_corner[0] - left_corner[0])          # image x towards their right

    lip = _field_at(face, "AU12", right_corner)                  # lip corner: up and out
    assert lip[1] < -0.8 and lip[0] * outward > 0.8
    brow = _field_at(face, "AU4", landmarks[21])                 # inner brow: down and in
    assert brow[1] > 0.8 and brow[0] * outward < -0.5
    assert _field_at(face, "AU1+2", landmarks[19])[1] < -1.5     # brow raised
    assert _field_at(face, "blink", landmarks[[37, 38]].mean(0))[1] > 1.5   # lid down
    assert np.abs(_field_at(face, "AU12", landmarks[19])).max() < 0.01   # brows stay still


@pytest.mark.parametrize("pattern", sorted(PATTERNS))
def test_no_pattern_folds_the_image_at_its_largest(sample_landmarks: np.ndarray,
                                                   pattern: str) -> None:
    face = FaceGeometry.from_landmarks(sample_landmarks)
    eye_opening_px = np.mean([np.linalg.norm(sample_landmarks[a] - sample_landmarks[b])
                              for a, b in [(37, 41), (38, 40), (43, 47), (44, 46)]])
    amplitude_px = (0.9 * eye_opening_px if pattern == "blink"
                    else 8.0 * face.width_px / 250.0)
    event = SynthEvent("macro", 0, 1, 1, 2, pattern=pattern, amplitude_px=amplitude_px,
                       spread=0.85)

    _y0, _x0, field = displacement_field(face, event, 1.0, (640, 360))

    dx_by_row, dx_by_col = np.gradient(field[..., 0])
    dy_by_row, dy_by_col = np.gradient(field[..., 1])
    jacobian_det = (1 - dx_by_col) * (1 - dy_by_row) - dx_by_row * dy_by_col   # of p − d(p)
    assert np.linalg.norm(field, axis=-1).max() >= 0.95 * amplitude_px
    assert jacobian_det.min() > 0.1


# ---------------------------------------------------------------------------- seen by flow


def _brow_and_mouth(channel_names: tuple[str, ...]) -> tuple[list[int], list[int]]:
    rois = [name[:-2] for name in channel_names[::2]]
    brow = [r for r, name in enumerate(rois) if "brow" in name]
    mouth = [r for r, name in enumerate(rois) if "mouth" in name or "lip" in name]
    return brow, mouth


@pytest.mark.slow
def test_expressions_move_the_rois_their_emotion_names(tmp_path: Path) -> None:
    config = SynthConfig(n_subjects=1, seconds=6.0, me_per_minute=20.0,
                         emotions=("positive", "surprise"), me_amplitude_px=(1.5, 2.0),
                         blinks_per_minute=0.0, macros_per_minute=0.0,
                         head_jerks_per_minute=0.0)
    video = generate(config, tmp_path / "out").videos[0]
    traces = extract_flow(video.path, FlowConfig(roi_set="metst_plus")).traces

    motion = feature_difference(traces.values, round(0.2 * video.fps))          # (R, T)
    brow, mouth = _brow_and_mouth(traces.channel_names)
    assert len(brow) >= 2 and len(mouth) >= 2
    by_emotion = {e.emotion: e for e in video.micro_expressions}
    assert sorted(by_emotion) == ["positive", "surprise"]
    for emotion, moving, still in [("positive", mouth, brow), ("surprise", brow, mouth)]:
        event = by_emotion[emotion]
        around = slice(event.onset_frame - 10, event.offset_frame + 11)
        moving_curve = motion[moving, around].mean(axis=0)
        still_curve = motion[still, around].mean(axis=0)
        peak = event.onset_frame - 10 + int(np.argmax(moving_curve))
        assert event.onset_frame <= peak <= event.offset_frame, emotion
        assert moving_curve.max() > 2.0 * still_curve.max(), emotion


@pytest.fixture(scope="module")
def spotted_small(tmp_path_factory: pytest.TempPathFactory
                  ) -> tuple[SynthManifest, dict[str, np.ndarray]]:
    """The small preset (one subject) and the training-free spotter's curve per video."""
    manifest = generate(SynthConfig.preset("small", n_subjects=1),
                        tmp_path_factory.mktemp("synth") / "small")
    curves = {video.video: FlowSpotter()(extract_flow(video.path, FlowConfig()).traces)
              for video in manifest.videos}
    return manifest, curves


@pytest.mark.slow
def test_the_spotter_curve_rises_at_the_micro_expressions(spotted_small) -> None:
    manifest, curves = spotted_small
    risen = []
    for video in manifest.videos:
        curve = curves[video.video]
        quiet = np.ones(video.n_frames, dtype=bool)     # ≥ 0.5 s from every event and the ends
        margin = round(0.5 * video.fps)
        for event in video.events:
            quiet[max(0, event.onset_frame - margin):event.offset_frame + margin + 1] = False
        quiet[:margin] = quiet[-margin:] = False
        background = np.percentile(curve[quiet], 95)
        risen += [curve[e.onset_frame:e.offset_frame + 1].max() > background
                  for e in video.micro_expressions]
    assert np.mean(risen) >= 0.8


@pytest.mark.slow
def test_the_training_free_spotter_finds_most_micro_expressions(spotted_small) -> None:
    manifest, curves = spotted_small
    predictions = [
        EvalInterval(video.video, interval.onset_frame, interval.offset_frame, None,
                     video.subject)
        for video in manifest.videos
        for interval in spot_intervals(curves[video.video], None, [], PostprocessConfig(),
                                       fps=video.fps)]

    report = evaluate(predictions, manifest.ground_truth())

    assert report.spotting.recall >= 0.5          # 4 of the 6 MEs at IoU 0.5 (default p)
    assert report.spotting.precision >= 0.5       # and few false alarms (1 measured)

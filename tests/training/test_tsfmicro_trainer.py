"""TSFmicro training: aligned crop pairs from a real video, learning, checkpoints, LOSO, cancel."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from core.datasets.base import Dataset, DatasetVideo, LabeledInterval
from core.face import FaceTracker
from core.face_crop import crop_affine, warp_to_crop
from core.models.checkpoint import load_checkpoint, read_checkpoint_meta
from core.models.tsfmicro import predict_interval
from core.progress import Cancelled, CancelToken, Progress
from core.video import open_source
from training import tsfmicro_data
from training.cli_recognize import recognize_interval
from training.tsfmicro_data import PairSet, build_pairs, center_views, random_views
from training.tsfmicro_trainer import (
    TsfMicroTrainConfig,
    evaluate_tsfmicro,
    loso_tsfmicro,
    train_tsfmicro,
)

TINY = dict(widths=(8, 16, 16, 32), depths=(1, 1, 1, 1), heads=(1, 2, 2, 4), spatial_heads=4,
            head_width=32, dropout=0.0)
CLASSES = ("negative", "positive", "surprise")
IMAGE_SIZE, MARGIN = 32, 2
# (onset, apex, emotion, type) per subject; every subject reads the sample video.
SUBJECT_INTERVALS = {
    "s1": [(20, 26, "disgust", "micro"), (120, 120, "surprise", "micro"),  # apex == onset
           (200, 206, "happiness", "micro"), (240, 250, "happiness", "macro")],
    "s2": [(60, 64, "fear", "micro"), (160, 165, "happy", "micro"),
           (300, 304, "surprise", "micro"), (340, 345, "others", "micro")],
    "s3": [(100, 103, "sadness", "micro"), (260, 266, "happiness", "micro"),
           (400, 406, "surprise", "micro")],
}


def tiny_train_config(**overrides) -> TsfMicroTrainConfig:
    settings = dict(epochs=2, lr=3e-3, batch_size=16, weight_decay=0.01, image_size=IMAGE_SIZE,
                    model=TINY, crop_jitter=MARGIN / IMAGE_SIZE, device="cpu")
    return TsfMicroTrainConfig(**{**settings, **overrides})


def interval(subject: str, video: str, onset: int, apex: int, emotion: str,
             kind: str = "micro") -> LabeledInterval:
    return LabeledInterval(subject, video, onset, apex, apex + 4, emotion, kind)


def sample_dataset(video_path: Path) -> Dataset:
    videos = [DatasetVideo(subject, f"{subject}_clip", video_path, 23.976,
                           [interval(subject, f"{subject}_clip", *row) for row in rows])
              for subject, rows in SUBJECT_INTERVALS.items()]
    return Dataset("sample", videos)


@pytest.fixture(scope="module")
def sample_pairs_cache(sample_video_path: Path, tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("pairs") / "pairs.npz"


@pytest.fixture(scope="module")
def sample_pairs(sample_video_path: Path, sample_pairs_cache: Path) -> PairSet:
    return build_pairs(sample_dataset(sample_video_path), "three_class", IMAGE_SIZE,
                       margin_px=MARGIN, cache_path=sample_pairs_cache)


def synthetic_pairs(subjects: list[str], n_per_subject: int, seed: int) -> PairSet:
    """Onsets of smooth noise; the apex moves the onset 3 px down inside one horizontal band
    (top, middle, bottom: the class), a pattern horizontal flips leave alone."""
    rng = np.random.default_rng(seed)
    side = IMAGE_SIZE + 2 * MARGIN
    ys, xs = np.mgrid[0:side, 0:side].astype(np.float32)
    onsets, apexes, labels, names = [], [], [], []
    for subject in subjects:
        for k in range(n_per_subject):
            label = k % 3
            noise = cv2.GaussianBlur(rng.normal(size=(side, side, 3)).astype(np.float32),
                                     (0, 0), 1.5)
            onset = np.clip(128 + 50 * noise / noise.std(), 0, 255).astype(np.uint8)
            band = ((ys >= label * side / 3) & (ys < (label + 1) * side / 3)).astype(np.float32)
            shift_y = 3.0 * cv2.GaussianBlur(band, (0, 0), 1.0)
            apexes.append(cv2.remap(onset, xs, ys - shift_y, cv2.INTER_LINEAR,
                                    borderMode=cv2.BORDER_REPLICATE))
            onsets.append(onset)
            labels.append(label)
            names.append(subject)
    n_pairs = len(labels)
    return PairSet(np.stack(onsets), np.stack(apexes), np.array(labels), np.array(names),
                   np.array([f"{name}_v" for name in names]), np.arange(n_pairs),
                   np.arange(n_pairs) + 3, CLASSES, IMAGE_SIZE, fps=30.0,
                   dataset_name="synthetic")


# --- pairs ------------------------------------------------------------------------------------


def test_build_pairs_keeps_mapped_micro_intervals_with_labels_and_keys(
        sample_pairs: PairSet) -> None:
    # 11 intervals: the macro one and "others" (not a three-class emotion) are left out
    assert len(sample_pairs) == 9
    assert sample_pairs.onset.shape == sample_pairs.apex.shape == (9, 36, 36, 3)
    assert sample_pairs.onset.dtype == np.uint8
    assert sample_pairs.class_names == CLASSES
    assert sample_pairs.class_counts() == {"negative": 3, "positive": 3, "surprise": 3}
    assert sample_pairs.keys[:3] == [("s1_clip", 20), ("s1_clip", 120), ("s1_clip", 200)]
    by_key = dict(zip(sample_pairs.keys, sample_pairs.labels.tolist(), strict=True))
    assert by_key[("s2_clip", 60)] == 0  # fear → negative
    assert by_key[("s2_clip", 160)] == 1  # happy → positive
    assert ("s2_clip", 340) not in by_key and ("s1_clip", 240) not in by_key
    assert sample_pairs.subject_names == ["s1", "s2", "s3"]
    assert sample_pairs.skipped == ()
    assert sample_pairs.fps == pytest.approx(23.976)


def test_onset_and_apex_crops_share_the_onset_affine(sample_pairs: PairSet,
                                                      sample_video_path: Path) -> None:
    same_frame = sample_pairs.keys.index(("s1_clip", 120))  # apex == onset
    np.testing.assert_array_equal(sample_pairs.onset[same_frame], sample_pairs.apex[same_frame])
    moving = sample_pairs.keys.index(("s1_clip", 20))
    assert not np.array_equal(sample_pairs.onset[moving], sample_pairs.apex[moving])
    # the central crop is what `metst recognize` feeds the model (up to warp rounding)
    source = open_source(sample_video_path)
    landmarks = FaceTracker().update(source.read_gray(20)).landmarks
    affine = crop_affine(landmarks, IMAGE_SIZE)
    onset_view, apex_view = center_views(sample_pairs, [moving])
    for view, frame_idx in ((onset_view[0], 20), (apex_view[0], 26)):
        expected = warp_to_crop(source.read(frame_idx), affine, IMAGE_SIZE)
        np.testing.assert_allclose(view.astype(int), expected.astype(int), atol=1)


def test_build_pairs_skips_faceless_onsets_and_missing_videos(face_noface_path: Path) -> None:
    rows = [(10, 14, "happiness"), (140, 144, "disgust")]  # no face from about frame 100 on
    videos = [DatasetVideo("p1", "clip", face_noface_path, 30.0,
                           [interval("p1", "clip", *row) for row in rows]),
              DatasetVideo("p2", "gone", None, 30.0, [interval("p2", "gone", 5, 6, "surprise")])]
    pairs = build_pairs(Dataset("mixed", videos), "three_class", IMAGE_SIZE)
    assert pairs.keys == [("clip", 10)]
    assert pairs.n_no_face == 1
    assert [(s.video, s.onset_frame) for s in pairs.skipped] == [("clip", 140), ("gone", 5)]
    assert "video unreadable" in pairs.skipped[1].reason
    assert sum(pairs.skipped_counts().values()) == 2


def test_build_pairs_honours_cancel(sample_video_path: Path, tmp_path: Path) -> None:
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        build_pairs(sample_dataset(sample_video_path), "three_class", IMAGE_SIZE,
                    cache_path=tmp_path / "pairs.npz", cancel=token)
    assert not (tmp_path / "pairs.npz").exists()


class DetectorCalled(Exception):
    pass


def test_build_pairs_reuses_its_cache_only_for_the_same_inputs(
        sample_pairs: PairSet, sample_pairs_cache: Path, sample_video_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    def no_detection(*args, **kwargs):
        raise DetectorCalled

    monkeypatch.setattr(tsfmicro_data, "FaceTracker", no_detection)
    dataset = sample_dataset(sample_video_path)
    cached = build_pairs(dataset, "three_class", IMAGE_SIZE, margin_px=MARGIN,
                         cache_path=sample_pairs_cache)
    np.testing.assert_array_equal(cached.onset, sample_pairs.onset)
    np.testing.assert_array_equal(cached.apex, sample_pairs.apex)
    assert cached.keys == sample_pairs.keys
    assert list(cached.subjects) == list(sample_pairs.subjects)
    with pytest.raises(DetectorCalled):  # another crop size: rebuilt, not the stale cache
        build_pairs(dataset, "three_class", 48, cache_path=sample_pairs_cache)
    dataset.videos[0].intervals.pop(0)
    with pytest.raises(DetectorCalled):  # other labels: rebuilt
        build_pairs(dataset, "three_class", IMAGE_SIZE, margin_px=MARGIN,
                    cache_path=sample_pairs_cache)


def test_augmented_views_treat_onset_and_apex_alike() -> None:
    pairs = synthetic_pairs(["a"], 6, seed=0)
    still = PairSet(pairs.onset, pairs.onset.copy(), pairs.labels, pairs.subjects, pairs.videos,
                    pairs.onset_frames, pairs.apex_frames, CLASSES, IMAGE_SIZE)
    rng = np.random.default_rng(0)
    onset, apex = random_views(still, np.arange(6), rng, max_shift_px=2, flip=True,
                               brightness=0.2)
    assert onset.shape == (6, IMAGE_SIZE, IMAGE_SIZE, 3)
    np.testing.assert_array_equal(onset, apex)  # no motion stays no motion
    plain_onset, _ = random_views(pairs, np.arange(6), rng, max_shift_px=0, flip=False,
                                  brightness=0.0)
    np.testing.assert_array_equal(plain_onset, center_views(pairs, np.arange(6))[0])
    center = center_views(pairs, [0])[0][0].astype(np.float32)
    seen_flip = seen_shift = False
    for _ in range(20):
        view = random_views(pairs, [0], rng, max_shift_px=2, flip=True, brightness=0.0)[0][0]
        seen_flip |= np.array_equal(view, center[:, ::-1])
        seen_shift |= not (np.array_equal(view, center) or np.array_equal(view, center[:, ::-1]))
    assert seen_flip and seen_shift


# --- config -----------------------------------------------------------------------------------


def test_train_config_round_trips_through_json() -> None:
    config = tiny_train_config(mapping="four_class", schedule="onecycle")
    restored = TsfMicroTrainConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert restored == config
    assert restored.model_config().class_names == ("negative", "positive", "surprise", "others")
    assert restored.model_config().widths == TINY["widths"]


@pytest.mark.parametrize("bad", [{"epochs": 0}, {"val_fraction": 1.0}, {"device": "tpu"},
                                 {"mapping": "seven_class"}, {"model": {"fusion": "middle"}},
                                 {"model": {"image_size": 64}}, {"schedule": "step"}])
def test_invalid_train_config_raises(bad: dict) -> None:
    with pytest.raises(ValueError):
        tiny_train_config(**bad)


def test_from_dict_rejects_unknown_keys() -> None:
    with pytest.raises(ValueError, match="unknown"):
        TsfMicroTrainConfig.from_dict({**tiny_train_config().to_dict(), "momentum": 0.9})


# --- training ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_learns_class_patterns_and_validates_on_training_subjects_only(tmp_path: Path) -> None:
    pairs = synthetic_pairs(["s1", "s2", "s3", "s4", "held_out"], 24, seed=0)
    train_subjects = ["s1", "s2", "s3", "s4"]
    messages: list[Progress] = []
    checkpoint = train_tsfmicro(pairs, tiny_train_config(epochs=6, val_fraction=0.25),
                                tmp_path, subjects=train_subjects, progress=messages.append)
    assert checkpoint == tmp_path / "model.pt"
    assert [(p.stage, p.done, p.total) for p in messages] == [("tsfmicro", e, 6)
                                                              for e in range(1, 7)]
    summary = read_checkpoint_meta(checkpoint).training_summary
    assert len(summary["val_subjects"]) == 1
    assert set(summary["val_subjects"]) | set(summary["fit_subjects"]) == set(train_subjects)
    assert not set(summary["val_subjects"]) & set(summary["fit_subjects"])
    assert summary["n_pairs"]["fit"] == {"negative": 24, "positive": 24, "surprise": 24}
    assert len(summary["history"]) == 6
    assert summary["best_val_uf1"] == max(row["val_uf1"] for row in summary["history"])

    held_out = pairs.select(pairs.indices_of(["held_out"]))
    scores = evaluate_tsfmicro(checkpoint, held_out, device="cpu")
    assert scores["accuracy"] >= 0.8  # chance is 1/3
    assert scores["uar"] >= 0.8
    assert np.asarray(scores["confusion"]).sum() == len(held_out) == 24


def test_checkpoint_loads_and_recognises_real_intervals(sample_pairs: PairSet,
                                                        sample_video_path: Path,
                                                        tmp_path: Path) -> None:
    checkpoint = train_tsfmicro(sample_pairs, tiny_train_config(epochs=1), tmp_path,
                                subjects=["s1", "s2"])
    model, meta = load_checkpoint(checkpoint, expected_class_names=CLASSES)
    assert meta.model_name == "tsfmicro" and meta.roi_set is None
    assert meta.fps == pytest.approx(23.976)
    summary = meta.training_summary
    assert summary["subjects"] == ["s1", "s2"] and "s3" not in summary["val_subjects"]
    assert summary["config"] == tiny_train_config(epochs=1).to_dict()
    assert summary["base_checkpoint"] is None

    onsets, apexes = center_views(sample_pairs, np.arange(len(sample_pairs)))
    probabilities = [predict_interval(model, onset, apex)
                     for onset, apex in zip(onsets, apexes, strict=True)]
    assert all(list(p) == list(CLASSES) and sum(p.values()) == pytest.approx(1.0)
               for p in probabilities)
    # evaluation uses the same crops and preprocessing as predict_interval
    scores = evaluate_tsfmicro(checkpoint, sample_pairs, device="cpu")
    assert [row["predicted"] for row in scores["predictions"]] == [
        max(p, key=p.get) for p in probabilities]
    # and `metst recognize` reads the checkpoint
    cli = recognize_interval(sample_video_path, 20, 26, checkpoint)
    assert cli == pytest.approx(probabilities[sample_pairs.keys.index(("s1_clip", 20))],
                                abs=1e-5)


def test_fine_tunes_from_a_base_checkpoint(tmp_path: Path) -> None:
    pairs = synthetic_pairs(["a", "b"], 6, seed=2)
    base = train_tsfmicro(pairs, tiny_train_config(epochs=1), tmp_path / "base")
    tuned = train_tsfmicro(pairs, tiny_train_config(epochs=1, model={}), tmp_path / "tuned",
                           base_checkpoint=base)
    meta = read_checkpoint_meta(tuned)
    assert meta.training_summary["base_checkpoint"] == str(base)
    assert meta.config["widths"] == list(TINY["widths"])  # the base's architecture


def test_training_is_deterministic_for_a_seed(tmp_path: Path) -> None:
    pairs = synthetic_pairs(["a", "b", "c"], 6, seed=1)

    def weights(seed: int, run: str) -> dict[str, torch.Tensor]:
        path = train_tsfmicro(pairs, tiny_train_config(), tmp_path / run, seed=seed)
        return load_checkpoint(path)[0].state_dict()

    first, again, other = weights(3, "first"), weights(3, "again"), weights(4, "other")
    assert all(torch.equal(first[name], again[name]) for name in first)
    assert not all(torch.equal(first[name], other[name]) for name in first)


def test_cancel_stops_training_without_a_checkpoint(tmp_path: Path) -> None:
    pairs = synthetic_pairs(["a", "b"], 6, seed=0)
    token = CancelToken()
    epochs_done: list[int] = []

    def cancel_after_first_epoch(progress: Progress) -> None:
        epochs_done.append(progress.done)
        token.cancel()

    with pytest.raises(Cancelled):
        train_tsfmicro(pairs, tiny_train_config(epochs=50), tmp_path,
                       progress=cancel_after_first_epoch, cancel=token)
    assert epochs_done == [1]
    assert not (tmp_path / "model.pt").exists()


def test_loso_holds_each_subject_out_and_pools_predictions(tmp_path: Path) -> None:
    pairs = synthetic_pairs(["a", "b", "c"], 6, seed=3)
    result = loso_tsfmicro(pairs, tiny_train_config(epochs=1, val_fraction=0.5), tmp_path)
    assert [fold["subject"] for fold in result["folds"]] == ["a", "b", "c"]
    for fold in result["folds"]:
        summary = read_checkpoint_meta(fold["checkpoint"]).training_summary
        assert fold["subject"] not in summary["subjects"] + summary["val_subjects"]
        assert len(summary["val_subjects"]) == 1
        assert fold["n_pairs"] == 6
    assert result["pooled"]["n_pairs"] == len(pairs) == len(result["predictions"])
    assert np.asarray(result["pooled"]["confusion"]).sum() == len(pairs)
    written = json.loads((tmp_path / "report.json").read_text())
    assert written["pooled"]["uf1"] == pytest.approx(result["pooled"]["uf1"])
    assert written["class_names"] == list(CLASSES)


def test_loso_needs_two_subjects(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="2 or more subjects"):
        loso_tsfmicro(synthetic_pairs(["only"], 3, seed=0), tiny_train_config(), tmp_path)

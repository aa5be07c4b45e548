"""Crops, class weights, the training loop: determinism, resume, configs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from core.datasets.base import LabeledInterval
from training.labels import IGNORE_INDEX, LabelConfig, frame_labels
from training.sequences import (
    CropConfig,
    LabeledSequence,
    crop_length,
    make_batch,
    mirror_channels,
    sample_crops,
    tile_starts,
)
from training.trainer import MODEL_SIZES, LossConfig, TrainConfig, class_weights, train_model

CLASS_NAMES = LabelConfig().class_names
EMOTIONS = ("disgust", "happy", "surprise", "others")
CHANNELS = tuple(f"{roi}_{axis}" for roi in ("right_brow", "left_brow", "mouth",
                                             "right_nose_wing", "left_nose_wing")
                 for axis in "xy")


def synthetic_sequence(seed: int, n_frames: int = 300, fps: float = 30.0,
                       me_every: int = 60) -> LabeledSequence:
    """Noise traces (10 channels) with a bump in the emotion's channel pair at each ME."""
    rng = np.random.default_rng(seed)
    values = rng.normal(0, 0.1, (10, n_frames)).astype(np.float32)
    intervals = []
    for k, onset in enumerate(range(20, n_frames - 20, me_every)):
        emotion = k % 4
        values[2 * emotion:2 * emotion + 2, onset:onset + 10] += np.hanning(10) * 2
        intervals.append(LabeledInterval("s", "v", onset, onset + 5, onset + 9,
                                         EMOTIONS[emotion], "micro"))
    return LabeledSequence(values, frame_labels(intervals, n_frames), fps, CHANNELS)


def tiny_config(**overrides: object) -> TrainConfig:
    values = {"model": "metst", "model_config": MODEL_SIZES["tiny"]["metst"], "epochs": 3,
              "batch_size": 4, "lr": 3e-3, "crops": CropConfig(crop_seconds=2.0)}
    return TrainConfig(**{**values, **overrides})


# ------------------------------------------------------------------------------ crops


def test_tiles_cover_the_video_and_end_at_its_last_frame() -> None:
    assert tile_starts(100, 40, 20) == [0, 20, 40, 60]
    assert tile_starts(100, 40, 20, offset=7) == [0, 7, 27, 47, 60]
    assert tile_starts(30, 40, 20) == [0]
    assert crop_length(CropConfig(crop_seconds=1.0), 25.0, 500) == 26   # even
    assert crop_length(CropConfig(crop_seconds=None), 25.0, 500) == 500


def test_background_crops_are_down_sampled_to_the_ratio() -> None:
    sequences = [synthetic_sequence(seed, n_frames=1200, me_every=300) for seed in range(3)]
    config = CropConfig(crop_seconds=1.0, background_ratio=0.5)
    crops = sample_crops(sequences, config, np.random.default_rng(0))
    n_expression = sum(crop.has_expression for crop in crops)
    assert n_expression > 0
    assert len(crops) - n_expression == round(0.5 * n_expression)
    for crop in crops:
        labels = sequences[crop.sequence_idx].labels
        inside = labels.spot[crop.start:crop.start + crop.length] > 0
        assert crop.has_expression == bool(inside.any())
    again = sample_crops(sequences, config, np.random.default_rng(0))
    assert again == crops


def test_batches_pad_short_videos_and_mask_the_padding() -> None:
    short = synthetic_sequence(0, n_frames=50)
    long = synthetic_sequence(1, n_frames=300)
    crops = sample_crops([short, long], CropConfig(crop_seconds=2.0, background_ratio=10),
                         np.random.default_rng(0))
    short_crop = next(c for c in crops if c.sequence_idx == 0)
    batch = make_batch([short, long], [short_crop])
    assert batch.traces.shape == (1, 10, 60)
    assert batch.mask[0, :50].all() and not batch.mask[0, 50:].any()
    assert np.all(batch.recog[0, 50:] == IGNORE_INDEX)
    np.testing.assert_array_equal(batch.traces[0, :, :50], short.values)


def test_mirroring_swaps_left_and_right_and_flips_x() -> None:
    source, sign = mirror_channels(CHANNELS)
    names = [CHANNELS[k] for k in source]
    assert names[:4] == ["left_brow_x", "left_brow_y", "right_brow_x", "right_brow_y"]
    assert names[4:6] == ["mouth_x", "mouth_y"]
    assert list(sign[:2]) == [-1.0, 1.0]
    sequence = synthetic_sequence(0, n_frames=60)
    crops = sample_crops([sequence], CropConfig(crop_seconds=2.0), np.random.default_rng(0))
    mirrored = make_batch([sequence], crops[:1], np.random.default_rng(0), 0.0, 1.0)
    start = crops[0].start
    np.testing.assert_allclose(mirrored.traces[0, 0], -sequence.values[2, start:start + 60])


# ------------------------------------------------------------------------- class weights


def test_class_weights_are_balanced_with_the_neutral_factor() -> None:
    sequence = synthetic_sequence(0)
    recog = sequence.labels.recog
    counts = np.bincount(recog[recog != IGNORE_INDEX], minlength=5).astype(float)
    balanced = counts.sum() / (5 * counts)
    weights = class_weights([sequence], 5, neutral_weight_factor=6.0)
    np.testing.assert_allclose(weights[:4], balanced[:4], rtol=1e-6)
    np.testing.assert_allclose(weights[4], 6 * balanced[4], rtol=1e-6)
    assert class_weights([sequence], 5, neutral_weight_factor=0.0)[4] == 0.0


def test_without_synergy_a_neutral_only_batch_has_a_finite_loss() -> None:
    quiet = LabeledSequence(np.zeros((10, 120), np.float32), frame_labels([], 120), 30.0)
    config = tiny_config(epochs=1, loss=LossConfig(neutral_weight_factor=0.0))
    result = train_model([quiet], config, class_names=CLASS_NAMES)
    assert np.isfinite(result.losses).all()


# ------------------------------------------------------------------------------ training


def _weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: value.detach().clone() for name, value in model.state_dict().items()}


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_training_reduces_the_loss() -> None:
    sequences = [synthetic_sequence(seed) for seed in range(3)]
    result = train_model(sequences, tiny_config(epochs=8), class_names=CLASS_NAMES)
    assert result.losses[-1] < 0.7 * result.losses[0]
    assert not result.model.training


def test_same_seed_same_weights_other_seed_other_weights() -> None:
    sequences = [synthetic_sequence(seed) for seed in range(2)]
    first = _weights(train_model(sequences, tiny_config(seed=3), class_names=CLASS_NAMES).model)
    second = _weights(train_model(sequences, tiny_config(seed=3), class_names=CLASS_NAMES).model)
    other = _weights(train_model(sequences, tiny_config(seed=4), class_names=CLASS_NAMES).model)
    assert _same(first, second)
    assert not _same(first, other)


class _Killed(Exception):
    pass


def test_an_interrupted_run_resumes_to_the_same_weights(tmp_path: Path) -> None:
    sequences = [synthetic_sequence(seed) for seed in range(2)]
    config = tiny_config(epochs=4)
    uninterrupted = train_model(sequences, config, class_names=CLASS_NAMES)
    state = tmp_path / "state.pt"

    def kill_after_two(epoch: int, epochs: int, loss: float) -> None:
        if epoch == 2:
            raise _Killed

    with pytest.raises(_Killed):
        train_model(sequences, config, class_names=CLASS_NAMES, state_path=state,
                    on_epoch=kill_after_two)
    assert state.is_file()
    epochs_run = []
    resumed = train_model(sequences, config, class_names=CLASS_NAMES, state_path=state,
                          on_epoch=lambda epoch, epochs, loss: epochs_run.append(epoch))
    assert resumed.resumed_from_epoch == 2 and epochs_run == [3, 4]
    assert resumed.losses == pytest.approx(uninterrupted.losses)
    assert _same(_weights(resumed.model), _weights(uninterrupted.model))


def test_a_state_of_other_settings_is_not_resumed(tmp_path: Path) -> None:
    sequences = [synthetic_sequence(0)]
    state = tmp_path / "state.pt"
    with pytest.raises(_Killed):
        train_model(sequences, tiny_config(epochs=3), class_names=CLASS_NAMES, state_path=state,
                    on_epoch=lambda *_: (_ for _ in ()).throw(_Killed()))
    result = train_model(sequences, tiny_config(epochs=2, lr=1e-3), class_names=CLASS_NAMES,
                         state_path=state)
    assert result.resumed_from_epoch == 0 and len(result.losses) == 2


def test_train_config_round_trips_through_json() -> None:
    config = TrainConfig.for_data("samm_lv", model="metst", epochs=7,
                                  model_config={"d_model": 16},
                                  labels=LabelConfig(spot_target="soft"),
                                  crops=CropConfig.official(0.5))
    restored = TrainConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert restored == config
    assert restored.batch_size == 32 and restored.crops.background_ratio == 0.5
    with pytest.raises(ValueError, match="unknown TrainConfig keys"):
        TrainConfig.from_dict({"epochz": 3})
    with pytest.raises(ValueError, match="epochs"):
        TrainConfig(epochs=0)
    with pytest.raises(ValueError, match="model"):
        TrainConfig(model="resnet")

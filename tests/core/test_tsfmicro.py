"""TSFmicro recogniser: shapes, gradients, the Manhattan decay, a tiny overfit, IO checks."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from core.models.tsfmicro import (
    FUSION_MODES,
    ManhattanRetention,
    TsfMicro,
    TsfMicroConfig,
    axial_log_decay,
    head_decay_rates,
    manhattan_log_decay,
    predict_interval,
    preprocess_pair,
)

TINY = dict(image_size=32, widths=(8, 16, 16, 32), depths=(1, 1, 1, 1), heads=(1, 2, 2, 4),
            spatial_heads=4, head_width=32, dropout=0.0)


@pytest.fixture(autouse=True, scope="module")
def single_torch_thread():
    """Tiny models gain nothing from threads, and on a busy shared CPU threads spin for minutes."""
    n_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n_threads)


def tiny_config(**overrides) -> TsfMicroConfig:
    return TsfMicroConfig(**{**TINY, **overrides})


def random_pair(batch: int, size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(batch)
    onset = torch.randn(batch, 3, size, size, generator=generator)
    return onset, onset + 0.1 * torch.randn(batch, 3, size, size, generator=generator)


@pytest.mark.parametrize("fusion", FUSION_MODES)
def test_forward_gives_logits_per_class_for_every_fusion(fusion: str) -> None:
    model = TsfMicro.from_config(tiny_config(fusion=fusion))
    logits = model(*random_pair(2))
    assert logits.shape == (2, 3)
    assert logits.dtype == torch.float32
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize("fusion", FUSION_MODES)
def test_gradients_reach_first_layer_of_both_branches(fusion: str) -> None:
    model = TsfMicro.from_config(tiny_config(fusion=fusion))
    model(*random_pair(2)).logsumexp(-1).sum().backward()
    first_layers = {
        "temporal stem": model.temporal_stem.net[0][0].weight,
        "spatial patch embedding": model.spatial_embed.proj.weight,
    }
    for name, weight in first_layers.items():
        assert weight.grad is not None and weight.grad.abs().sum() > 0, name


def test_manhattan_decay_is_gamma_to_the_city_block_distance() -> None:
    gamma = torch.tensor([0.5, 0.9])
    decay = manhattan_log_decay(2, 3, gamma.log()).exp()  # tokens row-major on a 2 × 3 grid
    coords = [(y, x) for y in range(2) for x in range(3)]
    distance = torch.tensor([[abs(yi - yj) + abs(xi - xj) for yj, xj in coords]
                             for yi, xi in coords])
    torch.testing.assert_close(decay, gamma[:, None, None] ** distance)
    torch.testing.assert_close(decay[:, 0, 5], gamma ** 3)  # (0, 0) ↔ (1, 2)


def test_axial_decay_matches_rows_of_the_2d_mask() -> None:
    log_gamma = head_decay_rates(3, 2.0, 4.0).log()
    row = axial_log_decay(4, log_gamma)
    torch.testing.assert_close(row, manhattan_log_decay(1, 4, log_gamma))


def test_head_decay_rates_differ_per_head_and_lie_in_unit_interval() -> None:
    gamma = head_decay_rates(4, 2.0, 4.0)
    assert torch.all((gamma > 0) & (gamma < 1))
    assert torch.all(gamma[1:] > gamma[:-1])
    torch.testing.assert_close(gamma[0], torch.tensor(0.75))


def decay_row_sum(position: int, length: int, gamma: float) -> float:
    """Σ_j γ^|position − j| over one axis: the normaliser of a blank-query retention."""
    return sum(gamma ** abs(position - j) for j in range(length))


@pytest.mark.parametrize("axial", [False, True])
def test_retention_weights_follow_the_decay_when_queries_are_blank(axial: bool) -> None:
    # Zero queries make every logit equal, so the weights are the normalised decay itself: a
    # one-hot value at (1, 1) reaches token (y, x) with weight
    # γ^(|y−1| + |x−1|) / Σ_(v, u) γ^(|y−v| + |x−u|).
    # That sum factorises over the axes, so the full and the axial (row then column) forms agree.
    dim, grid_h, grid_w, gamma = 4, 2, 5, 0.5
    retention = ManhattanRetention(dim, n_heads=1, decay_initial=1.0, decay_spread=0.0,
                                   axial=axial)
    with torch.no_grad():
        for param in retention.parameters():
            param.zero_()
        retention.qkv.weight[2 * dim:].copy_(torch.eye(dim))  # values = inputs
        retention.out_proj.weight.copy_(torch.eye(dim))
    x = torch.zeros(1, grid_h, grid_w, dim)
    x[0, 1, 1, 0] = 1.0
    out = retention(x)[0, :, :, 0]  # (grid_h, grid_w)
    expected = torch.tensor([
        [gamma ** (abs(y - 1) + abs(x - 1))
         / (decay_row_sum(y, grid_h, gamma) * decay_row_sum(x, grid_w, gamma))
         for x in range(grid_w)]
        for y in range(grid_h)
    ])
    torch.testing.assert_close(out, expected)


def class_pattern_pairs(n_pairs: int, seed: int,
                        size: int = 32) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Onsets of noise; each apex adds a bright square in its class's quadrant (3 classes)."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(n_pairs) % 3
    onset = torch.randn(n_pairs, 3, size, size, generator=generator)
    apex = onset.clone()
    half = size // 2
    for idx, label in enumerate(labels.tolist()):
        y0, x0 = divmod(label, 2)
        apex[idx, :, y0 * half:(y0 + 1) * half, x0 * half:(x0 + 1) * half] += 2.0
    return onset, apex, labels


def test_overfits_a_tiny_batch_and_reads_the_difference_frame() -> None:
    torch.manual_seed(0)
    model = TsfMicro.from_config(tiny_config())
    onset, apex, labels = class_pattern_pairs(8, seed=0)
    optimiser = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(60):
        optimiser.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(onset, apex), labels)
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 * losses[0]
    model.eval()
    fresh_onset, fresh_apex, fresh_labels = class_pattern_pairs(12, seed=1)  # unseen noise
    with torch.no_grad():
        assert torch.equal(model(onset, apex).argmax(-1), labels)
        accuracy = (model(fresh_onset, fresh_apex).argmax(-1) == fresh_labels).float().mean()
    assert accuracy >= 0.8


@pytest.mark.parametrize(
    ("onset_shape", "apex_shape"),
    [
        ((2, 3, 64, 64), (2, 3, 64, 64)),  # wrong image size
        ((2, 1, 32, 32), (2, 1, 32, 32)),  # grey
        ((3, 32, 32), (3, 32, 32)),  # no batch axis
        ((2, 3, 32, 32), (1, 3, 32, 32)),  # batch mismatch
    ],
)
def test_bad_input_shape_raises_naming_expected_shape(onset_shape, apex_shape) -> None:
    model = TsfMicro.from_config(tiny_config())
    with pytest.raises(ValueError, match=r"\(B, 3, 32, 32\)"):
        model(torch.zeros(onset_shape), torch.zeros(apex_shape))


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float64])
def test_non_float32_input_raises(dtype: torch.dtype) -> None:
    model = TsfMicro.from_config(tiny_config())
    frames = torch.zeros(1, 3, 32, 32, dtype=dtype)
    with pytest.raises(ValueError, match=r"\(B, 3, 32, 32\) float32"):
        model(frames, frames)


def test_config_round_trips_through_json() -> None:
    config = tiny_config(fusion="s2t", class_names=("a", "b"))
    restored = TsfMicroConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert restored == config
    assert TsfMicro.from_config(restored).config == config


@pytest.mark.parametrize(
    "bad",
    [
        {"fusion": "middle"},
        {"image_size": 30},
        {"widths": (8, 16, 32)},  # depths etc. still have 4 entries
        {"heads": (3, 2, 2, 4)},  # 3 does not divide 8
        {"class_names": ("a", "a")},
    ],
)
def test_invalid_config_raises(bad: dict) -> None:
    with pytest.raises(ValueError):
        tiny_config(**bad)


def test_from_dict_rejects_unknown_keys() -> None:
    with pytest.raises(ValueError, match="unknown"):
        TsfMicroConfig.from_dict({**tiny_config().to_dict(), "n_layers": 3})


def test_preprocess_pair_resizes_and_standardises() -> None:
    config = tiny_config()
    onset_bgr = np.zeros((50, 40, 3), np.uint8)
    onset_bgr[..., 2] = 255  # pure red in BGR
    apex_bgr = np.full((20, 20, 3), 128, np.uint8)
    onset, apex = preprocess_pair(onset_bgr, apex_bgr, config)
    assert onset.shape == apex.shape == (3, 32, 32)
    assert onset.dtype == apex.dtype == torch.float32
    mean, std = torch.tensor(config.pixel_mean), torch.tensor(config.pixel_std)
    torch.testing.assert_close(onset[:, 5, 5], (torch.tensor([1.0, 0.0, 0.0]) - mean) / std)
    torch.testing.assert_close(apex[:, 5, 5], (128 / 255 - mean) / std)


@pytest.mark.parametrize(
    "crop",
    [np.zeros((32, 32), np.uint8), np.zeros((32, 32, 3), np.float32),
     np.zeros((32, 32, 4), np.uint8), np.zeros((0, 32, 3), np.uint8)],
)
def test_preprocess_pair_rejects_non_bgr_uint8(crop: np.ndarray) -> None:
    good = np.zeros((32, 32, 3), np.uint8)
    with pytest.raises(ValueError, match=r"\(H, W, 3\) uint8"):
        preprocess_pair(crop, good, tiny_config())


def test_predict_interval_returns_probabilities_and_keeps_training_flag() -> None:
    model = TsfMicro.from_config(tiny_config(class_names=("negative", "positive")))
    model.train()
    rng = np.random.default_rng(0)
    onset = rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)
    apex = rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)
    probabilities = predict_interval(model, onset, apex)
    assert list(probabilities) == ["negative", "positive"]
    assert all(0.0 <= p <= 1.0 for p in probabilities.values())
    assert sum(probabilities.values()) == pytest.approx(1.0)
    assert model.training

"""Tests for the ME-TST and ME-TST+ models: shapes, gradients, overfitting, configs, and loading
checkpoints in the layout of the authors' code (github.com/zizheng-guo/ME-TST)."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from core.models import metst, metst_plus
from core.models.metst import MeTst, MeTstConfig, SpotRecogOutput
from core.models.metst_plus import MeTstPlus, MeTstPlusConfig
from core.models.ssm import Mamba

SMALL_METST = MeTstConfig(d_model=16, n_layers=2, d_state=8, drop_path_rate=0.0)
SMALL_METST_PLUS = MeTstPlusConfig(
    d_model=16, n_blocks=2, layers_per_block=1, d_state=8, drop_path_rate=0.0
)
MODEL_CASES = [
    pytest.param(MeTst, SMALL_METST, id="metst"),
    pytest.param(MeTstPlus, SMALL_METST_PLUS, id="metst_plus"),
]


def build(model_cls: type[nn.Module], config: MeTstConfig | MeTstPlusConfig) -> nn.Module:
    torch.manual_seed(0)
    return model_cls.from_config(config)


@pytest.mark.parametrize(
    ("model_cls", "config"),
    [*MODEL_CASES, pytest.param(MeTst, MeTstConfig(), id="metst-default"),
     pytest.param(MeTstPlus, MeTstPlusConfig(), id="metst_plus-default")],
)
@pytest.mark.parametrize("n_frames", [37, 1])
def test_output_shapes_and_ranges(
    model_cls: type[nn.Module], config: MeTstConfig | MeTstPlusConfig, n_frames: int
) -> None:
    model = build(model_cls, config).eval()
    with torch.no_grad():
        out = model(torch.randn(2, config.in_channels, n_frames))
    assert isinstance(out, SpotRecogOutput)
    assert out.spot.shape == (2, n_frames) and out.spot.dtype == torch.float32
    assert out.recog_logits.shape == (2, n_frames, config.n_classes)
    assert out.recog_logits.dtype == torch.float32
    assert ((out.spot >= 0) & (out.spot <= 1)).all()
    assert model.config is config


@pytest.mark.parametrize(("model_cls", "config"), MODEL_CASES)
def test_gradients_reach_the_stem(
    model_cls: type[nn.Module], config: MeTstConfig | MeTstPlusConfig
) -> None:
    model = build(model_cls, config)
    out = model(torch.randn(2, config.in_channels, 37))
    (out.spot.mean() + out.recog_logits.square().mean()).backward()
    stem_grad = model.stem[0].weight.grad
    assert stem_grad is not None and torch.isfinite(stem_grad).all() and stem_grad.abs().sum() > 0


@pytest.mark.parametrize(("model_cls", "config"), MODEL_CASES)
def test_streamed_inference_equals_the_differentiable_forward(
    model_cls: type[nn.Module], config: MeTstConfig | MeTstPlusConfig
) -> None:
    model = build(model_cls, config).eval()
    for module in model.modules():
        if isinstance(module, Mamba):
            module.segment_len, module.chunk_len = 40, 16  # several segments and chunks
    traces = torch.randn(2, config.in_channels, 133)
    differentiable = model(traces)
    with torch.inference_mode():
        streamed = model(traces)
    assert differentiable.spot.requires_grad
    torch.testing.assert_close(streamed.spot, differentiable.spot.detach(), atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(
        streamed.recog_logits, differentiable.recog_logits.detach(), atol=1e-5, rtol=1e-4
    )


@pytest.mark.parametrize(("model_cls", "config"), MODEL_CASES)
def test_overfits_a_tiny_batch(
    model_cls: type[nn.Module], config: MeTstConfig | MeTstPlusConfig
) -> None:
    model = build(model_cls, config)
    generator = torch.Generator().manual_seed(1)
    traces = torch.randn(2, config.in_channels, 32, generator=generator)
    spot_target = torch.rand(2, 32, generator=generator)
    labels = torch.randint(0, config.n_classes, (2, 32), generator=generator)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(80):
        out = model(traces)
        loss = F.mse_loss(out.spot, spot_target) + F.cross_entropy(
            out.recog_logits.flatten(0, 1), labels.flatten()
        )
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] <= 0.1 * losses[0], losses[::10]


BAD_SHAPES = {  # from the expected channel count C
    "wrong-channels": lambda c: (2, c + 1, 37),
    "1d": lambda c: (37,),
    "2d": lambda c: (c, 37),
    "4d": lambda c: (1, 1, c, 37),
    "no-frames": lambda c: (2, c, 0),
    "no-batch": lambda c: (0, c, 5),
}


@pytest.mark.parametrize(("model_cls", "config"), MODEL_CASES)
@pytest.mark.parametrize("bad_shape", BAD_SHAPES.values(), ids=BAD_SHAPES.keys())
def test_bad_input_shape_raises_value_error(
    model_cls: type[nn.Module],
    config: MeTstConfig | MeTstPlusConfig,
    bad_shape: Callable[[int], tuple[int, ...]],
) -> None:
    model = build(model_cls, config)
    with pytest.raises(ValueError, match=rf"\(B, {config.in_channels}, T\)"):
        model(torch.zeros(bad_shape(config.in_channels)))


@pytest.mark.parametrize(("model_cls", "config"), MODEL_CASES)
def test_wrong_dtype_raises_value_error(
    model_cls: type[nn.Module], config: MeTstConfig | MeTstPlusConfig
) -> None:
    with pytest.raises(ValueError, match="float32"):
        build(model_cls, config)(torch.zeros(1, config.in_channels, 8, dtype=torch.float64))


@pytest.mark.parametrize("config", [SMALL_METST, SMALL_METST_PLUS], ids=["metst", "metst_plus"])
def test_config_round_trips_through_json(config: MeTstConfig | MeTstPlusConfig) -> None:
    restored = type(config).from_dict(json.loads(json.dumps(config.to_dict())))
    assert restored == config
    with pytest.raises(ValueError, match="unknown"):
        type(config).from_dict({**config.to_dict(), "n_heads": 4})
    with pytest.raises(ValueError, match="class_names"):
        type(config)(n_classes=3)


def test_branches_have_separate_weights() -> None:
    model = build(MeTst, SMALL_METST)
    spot_ids = {id(p) for p in model.spot_branch.parameters()}
    assert spot_ids.isdisjoint(id(p) for p in model.recog_branch.parameters())
    plus = build(MeTstPlus, SMALL_METST_PLUS)
    spot_ids = {id(p) for p in plus.spot_pathway.parameters()}
    assert spot_ids.isdisjoint(id(p) for p in plus.recog_pathway.parameters())


def test_slow_pathway_runs_at_half_rate_and_double_width() -> None:
    pathway = build(MeTstPlus, SMALL_METST_PLUS).spot_pathway.eval()
    seen: list[tuple[int, ...]] = []
    pathway.slow_blocks[0].register_forward_hook(lambda _m, _i, out: seen.append(out.shape))
    with torch.no_grad():
        fused = pathway(torch.randn(1, 16, 37))
    assert seen == [(1, 19, 32)] and fused.shape == (1, 37, 48)


# --- checkpoints in the authors' layout --------------------------------------------------------


def _conv(sd: dict[str, Tensor], prefix: str, c_in: int, c_out: int) -> None:
    sd[prefix + "weight"] = torch.randn(c_out, c_in, 3) * 0.3
    sd[prefix + "bias"] = torch.randn(c_out) * 0.1


def _batch_norm(sd: dict[str, Tensor], prefix: str, width: int) -> None:
    sd[prefix + "weight"] = 1 + 0.1 * torch.randn(width)
    sd[prefix + "bias"] = 0.1 * torch.randn(width)
    sd[prefix + "running_mean"] = 0.1 * torch.randn(width)
    sd[prefix + "running_var"] = 1 + torch.rand(width)
    sd[prefix + "num_batches_tracked"] = torch.tensor(7)


def _official_mamba_block(sd: dict[str, Tensor], prefix: str, width: int, d_state: int) -> None:
    """Their MambaBlock: norm1, norm2 (unused), attn = MambaLayer(norm, mamba)."""
    for norm in ("norm1.", "norm2.", "attn.norm."):
        sd[prefix + norm + "weight"] = 1 + 0.1 * torch.randn(width)
        sd[prefix + norm + "bias"] = 0.1 * torch.randn(width)
    for key, value in Mamba(width, d_state=d_state).state_dict().items():
        sd[prefix + "attn.mamba." + key] = value + 0.01 * torch.randn_like(value)


def _official_stem(sd: dict[str, Tensor], in_channels: int, dim: int) -> None:
    """The authors' shared conv stem: Conv, BN, ReLU, Conv, BN (ReLU and dropout hold none)."""
    _conv(sd, "Stem.0.", in_channels, dim)
    _batch_norm(sd, "Stem.1.", dim)
    _conv(sd, "Stem.3.", dim, dim)
    _batch_norm(sd, "Stem.4.", dim)


def official_metst_state_dict(
    in_channels: int = 10, dim: int = 16, n_layers: int = 2, d_state: int = 8, n_classes: int = 4
) -> dict[str, Tensor]:
    """A ``torch.save(nn.DataParallel(network.METST(...)).state_dict())`` look-alike."""
    torch.manual_seed(3)
    sd: dict[str, Tensor] = {}
    _official_stem(sd, in_channels, dim)
    for pathway in ("spot_pathway", "recog_pathway"):
        for layer_idx in range(n_layers):
            _official_mamba_block(sd, f"{pathway}.block.{layer_idx}.", dim, d_state)
    sd["fc_spot.weight"], sd["fc_spot.bias"] = torch.randn(1, dim), torch.randn(1)
    sd["fc_recog.weight"], sd["fc_recog.bias"] = torch.randn(n_classes, dim), torch.randn(n_classes)
    return {"module." + key: value for key, value in sd.items()}


def official_metst_forward(sd: dict[str, Tensor], traces: Tensor) -> tuple[Tensor, Tensor]:
    """``network.METST.forward`` in eval mode, written against their key names."""
    sd = {key.removeprefix("module."): value for key, value in sd.items()}
    x = traces
    for conv, bn in (("Stem.0.", "Stem.1."), ("Stem.3.", "Stem.4.")):
        x = F.conv1d(x, sd[conv + "weight"], sd[conv + "bias"], padding=1)
        x = F.relu(F.batch_norm(x, sd[bn + "running_mean"], sd[bn + "running_var"],
                                sd[bn + "weight"], sd[bn + "bias"]))
    x = x.transpose(1, 2)  # (B, T, D)
    n_layers = len({key.split(".")[2] for key in sd if key.startswith("spot_pathway.block.")})
    for layer_idx in range(n_layers):
        prefix = f"spot_pathway.block.{layer_idx}."
        mamba_prefix = prefix + "attn.mamba."
        width = x.shape[-1]
        mamba = Mamba(width, d_state=sd[mamba_prefix + "A_log"].shape[1])
        mamba.load_state_dict({key.removeprefix(mamba_prefix): value
                               for key, value in sd.items() if key.startswith(mamba_prefix)})
        norm, norm1 = (prefix + "attn.norm.", prefix + "norm1.")
        inner = mamba(F.layer_norm(x, (width,), sd[norm + "weight"], sd[norm + "bias"]))
        x = x + F.layer_norm(inner, (width,), sd[norm1 + "weight"], sd[norm1 + "bias"])
    spot = torch.sigmoid(F.linear(x, sd["fc_spot.weight"], sd["fc_spot.bias"])).squeeze(-1)
    return spot, F.linear(x, sd["fc_recog.weight"], sd["fc_recog.bias"])  # recog reuses spot x


def test_official_metst_checkpoint_loads_and_reproduces_their_forward() -> None:
    sd = official_metst_state_dict()
    config = metst.official_config_from_state_dict(sd)
    assert (config.in_channels, config.d_model, config.n_layers, config.d_state) == (10, 16, 2, 8)
    assert config.n_classes == 4 and config.class_names[-1] == "neutral"
    assert config.official_compat
    model = MeTst.from_config(config).eval()
    metst.load_official_state_dict(model, sd)
    torch.testing.assert_close(
        model.spot_branch[1].out_norm.weight, sd["module.spot_pathway.block.1.norm1.weight"]
    )
    torch.testing.assert_close(
        model.recog_branch[0].mixer.A_log, sd["module.recog_pathway.block.0.attn.mamba.A_log"]
    )
    traces = torch.randn(2, 10, 41)
    with torch.no_grad():
        out = model(traces)
        expected_spot, expected_recog = official_metst_forward(sd, traces)
        torch.testing.assert_close(out.spot, expected_spot, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(out.recog_logits, expected_recog, atol=1e-5, rtol=1e-4)
        for parameter in model.recog_branch.parameters():
            parameter.add_(1.0)  # their recog_pathway is never used
        torch.testing.assert_close(model(traces).recog_logits, out.recog_logits)


def test_official_metst_checkpoint_needs_compat_mode() -> None:
    sd = official_metst_state_dict()
    config = metst.official_config_from_state_dict(sd)
    model = MeTst.from_config(MeTstConfig.from_dict({**config.to_dict(), "official_compat": False}))
    with pytest.raises(ValueError, match="official_compat"):
        metst.load_official_state_dict(model, sd)


def test_official_metst_checkpoint_errors_are_value_errors() -> None:
    sd = official_metst_state_dict()
    model = MeTst.from_config(metst.official_config_from_state_dict(sd))
    with pytest.raises(ValueError, match="official layout"):
        metst.load_official_state_dict(model, {**sd, "module.extra_head.weight": torch.zeros(1)})
    wider = MeTst.from_config(MeTstConfig(n_layers=2, d_state=8, n_classes=4,
                                          class_names=("a", "b", "c", "neutral"),
                                          official_compat=True))  # d_model 64 ≠ 16
    with pytest.raises(ValueError, match="does not fit"):
        metst.load_official_state_dict(wider, sd)


def official_metst_plus_state_dict(
    in_channels: int = 36, dim: int = 8, layers: int = 2, d_state: int = 4, n_classes: int = 5
) -> dict[str, Tensor]:
    """A ``nn.DataParallel(network_sf.METST_SF(...)).state_dict()`` look-alike (3 blocks)."""
    torch.manual_seed(4)
    sd: dict[str, Tensor] = {}
    _official_stem(sd, in_channels, dim)
    for pathway in ("spot_pathway", "recog_pathway"):
        _conv(sd, f"{pathway}.Stem_slow.0.", dim, 2 * dim)
        _batch_norm(sd, f"{pathway}.Stem_slow.1.", 2 * dim)
        for block_no in (1, 2, 3):
            for layer_idx in range(layers):
                _official_mamba_block(sd, f"{pathway}.block{block_no}.{layer_idx}.", 2 * dim,
                                      d_state)
                _official_mamba_block(sd, f"{pathway}.block{block_no}_fast.{layer_idx}.", dim,
                                      d_state)
        for fuse_no in (1, 2):
            _conv(sd, f"{pathway}.fuse_{fuse_no}.conv.0.", dim, 2 * dim)
            _batch_norm(sd, f"{pathway}.fuse_{fuse_no}.conv.1.", 2 * dim)
    sd["fc_spot.weight"], sd["fc_spot.bias"] = torch.randn(1, 3 * dim), torch.randn(1)
    sd["fc_recog.weight"] = torch.randn(n_classes, 3 * dim)
    sd["fc_recog.bias"] = torch.randn(n_classes)
    return {"module." + key: value for key, value in sd.items()}


def test_official_metst_plus_checkpoint_loads_into_the_right_modules() -> None:
    sd = official_metst_plus_state_dict()
    config = metst_plus.official_config_from_state_dict(sd)
    assert (config.in_channels, config.d_model, config.n_blocks) == (36, 8, 3)
    assert (config.layers_per_block, config.d_state, config.n_classes) == (2, 4, 5)
    model = MeTstPlus.from_config(config).eval()
    metst_plus.load_official_state_dict(model, sd)
    pathway = model.recog_pathway
    pairs = [
        (pathway.slow_stem[1].running_var, "recog_pathway.Stem_slow.1.running_var"),
        (pathway.slow_blocks[2][1].out_norm.bias, "recog_pathway.block3.1.norm1.bias"),
        (pathway.fast_blocks[0][0].mixer.D, "recog_pathway.block1_fast.0.attn.mamba.D"),
        (pathway.fast_blocks[1][1].norm.weight, "recog_pathway.block2_fast.1.attn.norm.weight"),
        (pathway.laterals[1][0].weight, "recog_pathway.fuse_2.conv.0.weight"),
        (model.spot_head.weight, "fc_spot.weight"),
    ]
    for ours, theirs in pairs:
        torch.testing.assert_close(ours, sd["module." + theirs])
    with torch.no_grad():
        out = model(torch.randn(1, 36, 24))
    assert out.recog_logits.shape == (1, 24, 5) and torch.isfinite(out.recog_logits).all()

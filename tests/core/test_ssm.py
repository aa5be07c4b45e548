"""Tests for core.models.ssm: mamba_ssm's parameter layout, the chunked scan, streaming, memory."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from einops import rearrange

from core.models import ssm
from core.models.ssm import (
    Mamba,
    cuda_kernels_available,
    selective_scan_chunked,
    selective_scan_ref,
)

REPO_ROOT = Path(__file__).resolve().parents[2]

# mamba_ssm.modules.mamba_simple.Mamba(d_model=16, d_state=8) — d_inner 32, dt_rank ceil(16/16)=1.
MAMBA_SSM_KEYS_D16_N8 = [
    ("A_log", (32, 8)),
    ("D", (32,)),
    ("in_proj.weight", (64, 16)),
    ("conv1d.weight", (32, 1, 4)),
    ("conv1d.bias", (32,)),
    ("x_proj.weight", (1 + 2 * 8, 32)),
    ("dt_proj.weight", (32, 1)),
    ("dt_proj.bias", (32,)),
    ("out_proj.weight", (16, 32)),
]


def random_scan_inputs(
    batch: int, d_inner: int, d_state: int, seq_len: int, dtype: torch.dtype = torch.float32
) -> dict[str, torch.Tensor]:
    """Inputs of selective_scan_ref in mamba_ssm's layout, with realistic magnitudes."""
    generator = torch.Generator().manual_seed(seq_len)

    def randn(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=generator, dtype=dtype)

    return {
        "u": randn(batch, d_inner, seq_len),
        "delta": randn(batch, d_inner, seq_len) * 0.5,
        "A": -torch.exp(randn(d_inner, d_state)),
        "B": randn(batch, d_state, seq_len),
        "C": randn(batch, d_state, seq_len),
        "D": randn(d_inner),
        "z": randn(batch, d_inner, seq_len),
        "delta_bias": randn(d_inner) * 0.5 - 2.0,
    }


def mamba_simple_reference(layer: Mamba, hidden_states: torch.Tensor) -> torch.Tensor:
    """mamba_simple.Mamba.forward's slow path (torch conv1d + selective_scan_ref), verbatim
    in structure: (B, L, d_model) → (B, L, d_model)."""
    seq_len = hidden_states.shape[1]
    xz = rearrange(layer.in_proj(hidden_states), "b l d -> b d l")
    A = -torch.exp(layer.A_log.float())
    x, z = xz.chunk(2, dim=1)
    x = F.silu(layer.conv1d(x)[..., :seq_len])
    x_dbl = layer.x_proj(rearrange(x, "b d l -> (b l) d"))
    dt, B, C = torch.split(x_dbl, [layer.dt_rank, layer.d_state, layer.d_state], dim=-1)
    dt = rearrange(layer.dt_proj.weight @ dt.t(), "d (b l) -> b d l", l=seq_len)
    B = rearrange(B, "(b l) n -> b n l", l=seq_len)
    C = rearrange(C, "(b l) n -> b n l", l=seq_len)
    y = selective_scan_ref(
        x, dt, A, B, C, layer.D.float(), z=z, delta_bias=layer.dt_proj.bias.float(),
        delta_softplus=True,
    )
    return layer.out_proj(rearrange(y, "b d l -> b l d"))


def test_state_dict_keys_and_shapes_equal_mamba_ssm() -> None:
    layer = Mamba(16, d_state=8)
    assert [(k, tuple(v.shape)) for k, v in layer.state_dict().items()] == MAMBA_SSM_KEYS_D16_N8


def test_bias_option_adds_projection_biases_like_mamba_ssm() -> None:
    keys = set(Mamba(16, d_state=8, bias=True).state_dict())
    assert keys == {k for k, _ in MAMBA_SSM_KEYS_D16_N8} | {"in_proj.bias", "out_proj.bias"}


def test_initialisation_matches_mamba_ssm() -> None:
    dt_min, dt_max = 0.002, 0.05
    layer = Mamba(64, d_state=16, dt_min=dt_min, dt_max=dt_max)
    assert layer.dt_rank == 4
    expected_A_log = torch.log(torch.arange(1, 17, dtype=torch.float32)).expand(128, 16)
    torch.testing.assert_close(layer.A_log.detach(), expected_A_log)
    torch.testing.assert_close(layer.D.detach(), torch.ones(128))
    dt = F.softplus(layer.dt_proj.bias.detach())
    assert dt.min() >= dt_min * (1 - 1e-4) and dt.max() <= dt_max * (1 + 1e-4)
    assert layer.dt_proj.weight.abs().max() <= layer.dt_rank**-0.5
    assert layer.A_log._no_weight_decay and layer.D._no_weight_decay
    assert layer.dt_proj.bias._no_reinit
    constant = Mamba(64, dt_init="constant", dt_scale=2.0)
    torch.testing.assert_close(
        constant.dt_proj.weight.detach(), torch.full((128, 4), 2.0 * 4**-0.5)
    )


@pytest.mark.parametrize("seq_len", [1, 2, 3, 63, 64, 65, 257, 1000, 5000])
def test_chunked_scan_matches_reference(seq_len: int) -> None:
    batch, d_inner, d_state = (2, 6, 5) if seq_len <= 1000 else (1, 3, 4)
    inputs = random_scan_inputs(batch, d_inner, d_state, seq_len)
    expected = selective_scan_ref(**inputs, delta_softplus=True)
    for chunk_len, block_len in [(128, 8), (64, 64), (16, 4), (7, 3), (40, 1), (1, 1)]:
        with torch.no_grad():
            streamed = selective_scan_chunked(
                **inputs, delta_softplus=True, chunk_len=chunk_len, block_len=block_len
            )
        torch.testing.assert_close(streamed, expected, atol=1e-4, rtol=1e-4)
    differentiable = selective_scan_chunked(
        **{k: v.requires_grad_() for k, v in inputs.items()}, delta_softplus=True, chunk_len=16
    )
    torch.testing.assert_close(differentiable.detach(), expected, atol=1e-4, rtol=1e-4)


def test_chunked_scan_survives_strong_decay() -> None:
    """Δ·|A| of hundreds per step underflows the decay to 0 rather than overflowing."""
    inputs = random_scan_inputs(1, 4, 8, 300)
    inputs["A"] = inputs["A"] * 1000.0
    expected = selective_scan_ref(**inputs, delta_softplus=True)
    with torch.no_grad():
        streamed = selective_scan_chunked(**inputs, delta_softplus=True)
    assert torch.isfinite(streamed).all()
    torch.testing.assert_close(streamed, expected, atol=1e-4, rtol=1e-4)


def test_chunked_scan_gradients_are_exact() -> None:
    inputs = random_scan_inputs(1, 3, 2, 21, dtype=torch.float64)
    tensors = tuple(value.requires_grad_() for value in inputs.values())

    def scan(*args: torch.Tensor) -> torch.Tensor:
        kwargs = dict(zip(inputs, args, strict=True))
        return selective_scan_chunked(**kwargs, delta_softplus=True, chunk_len=8, block_len=3)

    assert torch.autograd.gradcheck(scan, tensors)


def test_chunked_scan_rejects_bad_chunk_len() -> None:
    with pytest.raises(ValueError, match="chunk_len"):
        selective_scan_chunked(**random_scan_inputs(1, 2, 2, 4), chunk_len=0)


@pytest.fixture()
def small_layer() -> Mamba:
    torch.manual_seed(0)
    layer = Mamba(16, d_state=8)
    layer.chunk_len, layer.block_len, layer.segment_len = 16, 4, 50
    return layer


def test_layer_matches_mamba_simple_forward(small_layer: Mamba) -> None:
    hidden = torch.randn(2, 137, 16)
    expected = mamba_simple_reference(small_layer, hidden)
    trained = small_layer(hidden)  # differentiable path
    with torch.no_grad():
        inferred = small_layer(hidden)  # streaming path, 3 segments
    assert trained.requires_grad and not inferred.requires_grad
    torch.testing.assert_close(trained, expected, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(inferred, expected.detach(), atol=1e-5, rtol=1e-4)


def test_forward_segment_continues_the_sequence(small_layer: Mamba) -> None:
    hidden = torch.randn(1, 90, 16)
    with torch.no_grad():
        whole = small_layer(hidden)
        state = small_layer.init_stream_state(batch_size=1)
        bounds = [(0, 1), (1, 3), (3, 40), (40, 90)]
        pieces = [small_layer.forward_segment(hidden[:, a:b], state) for a, b in bounds]
    torch.testing.assert_close(torch.cat(pieces, dim=1), whole, atol=1e-6, rtol=1e-5)


def test_state_dict_round_trip_gives_same_output(small_layer: Mamba) -> None:
    other = Mamba(16, d_state=8)
    other.load_state_dict(small_layer.state_dict(), strict=True)
    hidden = torch.randn(1, 20, 16)
    with torch.no_grad():
        torch.testing.assert_close(other(hidden), small_layer(hidden))


def test_gradients_reach_every_parameter(small_layer: Mamba) -> None:
    small_layer(torch.randn(2, 40, 16)).square().mean().backward()
    for name, parameter in small_layer.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


@pytest.mark.parametrize("shape", [(2, 10), (2, 10, 15), (10, 16, 2, 1), (2, 0, 16)])
def test_bad_input_shape_raises(small_layer: Mamba, shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match=r"\(B, L, 16\)"):
        small_layer(torch.zeros(shape))


def test_cpu_input_never_looks_for_mamba_ssm(
    small_layer: Mamba, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail() -> None:
        raise AssertionError("a CPU forward looked for mamba_ssm")

    monkeypatch.setattr(ssm, "_mamba_kernels", fail)
    small_layer(torch.randn(1, 5, 16))


def test_100k_frame_forward_has_bounded_memory() -> None:
    """A whole long video runs with memory far below one (B, L, D_in, N) tensor (410 MB here)."""
    n_frames, d_model, d_state = 100_000, 8, 64
    full_tensor_mb = n_frames * 2 * d_model * d_state * 4 / 2**20
    code = textwrap.dedent(
        f"""
        import resource, sys, torch
        from core.models.ssm import Mamba
        torch.manual_seed(0)
        layer = Mamba({d_model}, d_state={d_state}).eval()
        hidden = torch.randn(1, {n_frames}, {d_model})
        with torch.no_grad():
            layer(hidden[:, :3000])
            before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            out = layer(hidden)
            after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        scale = 2**20 if sys.platform == "darwin" else 2**10  # ru_maxrss: bytes vs KiB
        print((after - before) / scale, bool(torch.isfinite(out).all()), tuple(out.shape))
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr
    growth_mb, finite, shape = result.stdout.split(maxsplit=2)
    assert finite == "True" and shape.strip() == f"(1, {n_frames}, {d_model})"
    assert float(growth_mb) < full_tensor_mb / 8, f"peak RSS grew {growth_mb} MB"


requires_mamba_kernels = pytest.mark.skipif(
    not cuda_kernels_available(), reason="needs CUDA and mamba_ssm"
)


@pytest.mark.gpu
@requires_mamba_kernels
def test_fast_path_matches_torch_path_on_gpu() -> None:
    torch.manual_seed(0)
    layer = Mamba(64, d_state=16).cuda()
    hidden = torch.randn(2, 300, 64, device="cuda")
    fast = layer(hidden)
    layer.use_fast_path = False
    slow = layer(hidden)
    torch.testing.assert_close(fast, slow, atol=1e-3, rtol=1e-3)


@pytest.mark.gpu
@requires_mamba_kernels
def test_state_dict_loads_into_mamba_ssm_on_gpu() -> None:
    from mamba_ssm.modules.mamba_simple import Mamba as MambaSsm

    torch.manual_seed(0)
    ours = Mamba(32, d_state=16).cuda()
    theirs = MambaSsm(32, d_state=16).cuda()
    theirs.load_state_dict(ours.state_dict(), strict=True)
    ours.load_state_dict(theirs.state_dict(), strict=True)
    hidden = torch.randn(1, 100, 32, device="cuda")
    ours.use_fast_path = False
    torch.testing.assert_close(ours(hidden), theirs(hidden), atol=1e-3, rtol=1e-3)


def test_dt_rank_auto_is_ceil_d_model_over_16() -> None:
    assert Mamba(100).dt_rank == math.ceil(100 / 16)

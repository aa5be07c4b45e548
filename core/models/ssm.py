"""One Mamba layer (selective state space model) with a chunked PyTorch scan.

Gu & Dao, "Mamba: Linear-Time Sequence Modeling with Selective State Spaces" (2023). The layer has
exactly the parameters of ``mamba_ssm.modules.mamba_simple.Mamba`` (same names, shapes and
initialisation), so a state dict saved by either loads in the other. ``forward`` maps
``(B, L, d_model) float32 → (B, L, d_model) float32``.

Two paths read the same parameters:

- the CUDA kernels of ``mamba_ssm`` (``mamba_inner_fn`` / ``selective_scan_fn``), used only when
  the input is on a CUDA device and the package imports (imported lazily, once, in
  :func:`_mamba_kernels`; CPU-only machines never touch it);
- our PyTorch path, :func:`selective_scan_chunked`: time is cut into chunks of ``chunk_len``
  steps and the state ``h`` (B, D, N) is carried from chunk to chunk, so the (B, L, D, N)
  tensors of the textbook formulation exist only one chunk at a time and memory does not grow
  with N × L. Inside a chunk the recurrence ``h_t = exp(Δ_t A) h_{t-1} + Δ_t B_t u_t`` runs as a
  blocked scan (sequential within blocks of ``block_len`` steps, vectorised over all blocks,
  then one carry pass); it only multiplies decays ≤ 1, so no exponent can overflow. Without
  autograd (``torch.no_grad`` / ``inference_mode``) the whole layer runs segment by segment
  (:meth:`Mamba.forward_segment`, carrying a :class:`MambaStreamState`), in place and in
  reused buffers; with autograd each chunk is recomputed in the backward pass (checkpointing),
  so training memory holds no (B, L, D, N) tensor either.

:func:`selective_scan_ref` is the readable per-step loop the chunked scan is tested against.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from einops import rearrange, repeat
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

__all__ = [
    "DEFAULT_BLOCK_LEN",
    "DEFAULT_CHUNK_LEN",
    "DEFAULT_SEGMENT_LEN",
    "Mamba",
    "MambaStreamState",
    "cuda_kernels_available",
    "selective_scan_chunked",
    "selective_scan_ref",
]

DEFAULT_CHUNK_LEN = 128
"""Time steps per chunk: the (B, chunk_len, D, N) work tensors stay near the CPU's L2 cache."""

DEFAULT_BLOCK_LEN = 8
"""Time steps per sequential block inside a chunk (8 was fastest on CPU for D·N of 2k–16k)."""

DEFAULT_SEGMENT_LEN = 1024
"""Time steps per segment of the inference path: big enough for efficient matrix products,
small enough that no temporary is a fresh multi-MB allocation (those cost page faults)."""

_LOG2_E = math.log2(math.e)


class _MambaKernels(NamedTuple):
    """The CUDA entry points of mamba_ssm; ``mamba_inner_fn`` needs causal-conv1d as well."""

    selective_scan_fn: Callable[..., Tensor]
    mamba_inner_fn: Callable[..., Tensor] | None


@functools.cache
def _mamba_kernels() -> _MambaKernels | None:
    """Import mamba_ssm's kernels once; None where the package (or its CUDA build) is missing."""
    try:
        from mamba_ssm.ops.selective_scan_interface import mamba_inner_fn, selective_scan_fn
    except ImportError:
        return None
    try:
        import causal_conv1d  # noqa: F401  (mamba_inner_fn calls its CUDA extension)
    except ImportError:
        mamba_inner_fn = None
    return _MambaKernels(selective_scan_fn, mamba_inner_fn)


def cuda_kernels_available() -> bool:
    """True where CUDA is present and mamba_ssm's kernels import (checks CUDA first)."""
    return torch.cuda.is_available() and _mamba_kernels() is not None


def _discretise_delta(delta: Tensor, delta_bias: Tensor | None, delta_softplus: bool) -> Tensor:
    """Δ as mamba_ssm's scan sees it: ``softplus(delta + delta_bias)`` (bias over the D axis).

    Args:
        delta: (B, D, L) float32.
        delta_bias: (D,) or None.
        delta_softplus: apply softplus after adding the bias.
    """
    if delta_bias is not None:
        delta = delta + delta_bias[:, None]
    return F.softplus(delta) if delta_softplus else delta


def selective_scan_ref(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Tensor | None = None,
    z: Tensor | None = None,
    delta_bias: Tensor | None = None,
    delta_softplus: bool = False,
) -> Tensor:
    """Reference selective scan, one time step per loop iteration (slow; for tests).

    Same contract as ``mamba_ssm``'s ``selective_scan_ref`` for real A and input-dependent B, C:
    ``h_t = exp(Δ_t A) h_{t-1} + Δ_t B_t u_t``, ``y_t = C_t · h_t + D u_t``, ``y *= silu(z)``.

    Args:
        u: (B, D, L) float32 input.
        delta: (B, D, L) step sizes before bias and softplus.
        A: (D, N) state matrix (negative reals).
        B: (B, N, L) input matrix per step.
        C: (B, N, L) output matrix per step.
        D: (D,) skip connection or None.
        z: (B, D, L) gate or None.
        delta_bias: (D,) added to ``delta`` or None.
        delta_softplus: apply softplus to ``delta + delta_bias``.

    Returns:
        (B, D, L) float32.
    """
    delta = _discretise_delta(delta, delta_bias, delta_softplus)
    state = u.new_zeros(u.shape[0], A.shape[0], A.shape[1])  # (B, D, N)
    outputs = []
    for step in range(u.shape[2]):
        decay = torch.exp(delta[:, :, step, None] * A)  # (B, D, N)
        drive = (delta[:, :, step] * u[:, :, step])[:, :, None] * B[:, None, :, step]  # (B, D, N)
        state = decay * state + drive
        outputs.append(torch.einsum("bdn,bn->bd", state, C[:, :, step]))
    y = torch.stack(outputs, dim=2)  # (B, D, L)
    if D is not None:
        y = y + u * D[:, None]
    if z is not None:
        y = y * F.silu(z)
    return y


def _scan_blocks_(decay: Tensor, state: Tensor, h0: Tensor, block_len: int) -> Tensor:
    """Solve ``h_t = decay_t · h_{t-1} + state_t`` along dim 1, in place; returns ``state``.

    Both (B, n, D, N) tensors are overwritten: ``state[:, t]`` becomes ``h_t`` (with
    ``h_{-1} = h0``) and ``decay`` the running decay products within each block. Blocks of
    ``block_len`` steps are scanned side by side (one op per step of a block), then each block's
    end state is carried into the next block, then every block adds its carried-in state.

    Args:
        decay: (B, n, D, N) per-step decay in [0, 1].
        state: (B, n, D, N) per-step input.
        h0: (B, D, N) state before the first step.
        block_len: steps per block, ≥ 1.
    """
    batch, n_steps, d_inner, d_state = state.shape
    state[:, 0].addcmul_(decay[:, 0], h0)
    n_blocks = n_steps // block_len if block_len > 1 else 0  # blocks of 1: plain loop below
    n_blocked = n_blocks * block_len
    if n_blocks > 0:
        shape = (batch, n_blocks, block_len, d_inner, d_state)
        states = state[:, :n_blocked].view(shape)  # (B, n_blocks, block_len, D, N)
        decays = decay[:, :n_blocked].view(shape)  # (B, n_blocks, block_len, D, N)
        state_steps, decay_steps = states.unbind(2), decays.unbind(2)
        for i in range(1, block_len):
            state_steps[i].addcmul_(decay_steps[i], state_steps[i - 1])
            decay_steps[i].mul_(decay_steps[i - 1])
        end_states, end_decays = state_steps[-1].unbind(1), decay_steps[-1].unbind(1)
        for j in range(1, n_blocks):
            end_states[j].addcmul_(end_decays[j], end_states[j - 1])
        if n_blocks > 1:
            carried_in = states[:, :-1, -1:]  # (B, n_blocks-1, 1, D, N) final end states
            states[:, 1:, :-1].addcmul_(decays[:, 1:, :-1], carried_in)
    for step in range(max(n_blocked, 1), n_steps):
        state[:, step].addcmul_(decay[:, step], state[:, step - 1])
    return state


class _LinearRecurrence(torch.autograd.Function):
    """Differentiable ``h_t = a_t h_{t-1} + x_t`` over dim 1 of (B, n, D, N) tensors.

    The backward pass is the same recurrence run backwards in time:
    ``g_t = dL/dh_t + a_{t+1} g_{t+1}``; then ``dL/dx_t = g_t``, ``dL/da_t = g_t h_{t-1}``.
    """

    @staticmethod
    def forward(ctx, decay: Tensor, inputs: Tensor, h0: Tensor, block_len: int) -> Tensor:
        states = _scan_blocks_(decay.clone(), inputs.clone(), h0, block_len)
        ctx.save_for_backward(decay, states, h0)
        ctx.block_len = block_len
        return states

    @staticmethod
    def backward(ctx, grad_states: Tensor) -> tuple[Tensor, Tensor, Tensor, None]:
        decay, states, h0 = ctx.saved_tensors
        next_decay = torch.zeros_like(decay)
        next_decay[:, :-1] = decay[:, 1:]
        grad_inputs = _scan_blocks_(
            next_decay.flip(1), grad_states.flip(1), torch.zeros_like(h0), ctx.block_len
        ).flip(1)
        previous_states = torch.cat([h0[:, None], states[:, :-1]], dim=1)  # (B, n, D, N)
        grad_decay = grad_inputs * previous_states
        grad_h0 = decay[:, 0] * grad_inputs[:, 0]
        return grad_decay, grad_inputs, grad_h0, None


def _scan_chunk(
    u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, h0: Tensor, block_len: int
) -> tuple[Tensor, Tensor]:
    """Scan one chunk, time-major and differentiable.

    Args:
        u, delta: (B, n, D) input and (discretised) step sizes.
        A: (D, N). B, C: (B, n, N).
        h0: (B, D, N) state before the chunk.
        block_len: see :func:`_scan_blocks_`.

    Returns:
        y: (B, n, D) = C_t · h_t, and the state after the chunk, (B, D, N).
    """
    # exp2 is ~4x faster than exp on CPU; the log2(e) factor folds into A.
    decay = torch.exp2(delta[..., None] * (A * _LOG2_E))  # (B, n, D, N)
    drive = (delta * u)[..., None] * B[:, :, None, :]  # (B, n, D, N)
    states = _LinearRecurrence.apply(decay, drive, h0, block_len)  # (B, n, D, N)
    y = torch.einsum("btdn,btn->btd", states, C)  # (B, n, D)
    return y, states[:, -1]


def _scan_with_grad(
    u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, chunk_len: int, block_len: int
) -> Tensor:
    """Differentiable chunked scan; each chunk is recomputed in the backward pass (activation
    checkpointing), so training memory holds no (B, L, D, N) tensors either."""
    state = u.new_zeros(u.shape[0], A.shape[0], A.shape[1])  # (B, D, N)
    outputs = []
    for start in range(0, u.shape[1], chunk_len):
        chunk = slice(start, start + chunk_len)
        y, state = checkpoint(
            _scan_chunk,
            *(u[:, chunk], delta[:, chunk], A, B[:, chunk], C[:, chunk], state, block_len),
            use_reentrant=False,
        )
        outputs.append(y)
    return torch.cat(outputs, dim=1)  # (B, L, D)


def _scan_inference(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    state: Tensor,
    chunk_len: int,
    block_len: int,
) -> Tensor:
    """Chunked scan without autograd, starting from ``state`` (B, D, N), which it advances.

    Two (B, chunk_len, D, N) work buffers serve every chunk (fresh multi-MB tensors per chunk
    cost as much again in page faults).
    """
    batch, seq_len, d_inner = u.shape
    span = min(chunk_len, seq_len)
    decay_buffer = u.new_empty(batch, span, d_inner, A.shape[1])  # (B, span, D, N)
    state_buffer = torch.empty_like(decay_buffer)  # (B, span, D, N)
    y = torch.empty_like(u)  # (B, L, D)
    log2_A = A * _LOG2_E  # exp2 is ~4x faster than exp on CPU
    delta_u = delta * u  # (B, L, D)
    for start in range(0, seq_len, chunk_len):
        chunk = slice(start, start + chunk_len)
        n_steps = min(chunk_len, seq_len - start)
        decay, states = decay_buffer[:, :n_steps], state_buffer[:, :n_steps]
        torch.mul(delta[:, chunk, :, None], log2_A, out=decay).exp2_()
        torch.mul(delta_u[:, chunk, :, None], B[:, chunk, None, :], out=states)
        _scan_blocks_(decay, states, state, block_len)
        y[:, chunk] = torch.einsum("btdn,btn->btd", states, C[:, chunk])
        state.copy_(states[:, -1])
    return y


def _selective_scan_time_major(
    u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, chunk_len: int, block_len: int
) -> Tensor:
    """``y_t = C_t · h_t`` for the whole sequence, chunk by chunk, time-major.

    Args:
        u, delta: (B, L, D) float32, delta already discretised.
        A: (D, N). B, C: (B, L, N).
        chunk_len, block_len: ≥ 1.

    Returns:
        (B, L, D) float32.
    """
    inputs = (u, delta, A, B, C)
    if _needs_grad(*inputs):
        return _scan_with_grad(*inputs, chunk_len, block_len)
    state = u.new_zeros(u.shape[0], A.shape[0], A.shape[1])  # (B, D, N)
    return _scan_inference(*inputs, state, chunk_len, block_len)


def _needs_grad(*tensors: Tensor) -> bool:
    """True where autograd will record an op on ``tensors``."""
    return torch.is_grad_enabled() and any(tensor.requires_grad for tensor in tensors)


def _causal_depthwise_conv(
    x: Tensor, weight: Tensor, bias: Tensor | None, history: Tensor | None = None
) -> Tensor:
    """``conv1d(x, groups=D, padding=K-1)[..., :L]`` computed time-major (4x faster on CPU).

    Args:
        x: (B, L, D) float32.
        weight: (D, 1, K) depthwise kernel. bias: (D,) or None.
        history: (B, K-1, D), the inputs before ``x`` (zeros where None).

    Returns:
        (B, L, D) float32, output t reading inputs t-K+1 … t.
    """
    taps = weight[:, 0].t()  # (K, D)
    width, seq_len = taps.shape[0], x.shape[1]
    if history is None:
        padded = F.pad(x, (0, 0, width - 1, 0))  # (B, L+K-1, D)
    else:
        padded = torch.cat([history, x], dim=1)  # (B, L+K-1, D)
    out = padded[:, width - 1 :] * taps[-1]
    if bias is not None:
        out = out + bias
    for tap in range(width - 1):
        out = out.addcmul_(padded[:, tap : tap + seq_len], taps[tap])
    return out


def selective_scan_chunked(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Tensor | None = None,
    z: Tensor | None = None,
    delta_bias: Tensor | None = None,
    delta_softplus: bool = False,
    chunk_len: int = DEFAULT_CHUNK_LEN,
    block_len: int = DEFAULT_BLOCK_LEN,
) -> Tensor:
    """Selective scan with memory bounded in the sequence length; same result as the reference.

    Arguments and layout as :func:`selective_scan_ref` (``u``, ``delta``, ``z``: (B, D, L);
    ``A``: (D, N); ``B``, ``C``: (B, N, L)), plus:

    Args:
        chunk_len: time steps held as (B, chunk_len, D, N) tensors at once.
        block_len: time steps per sequential block inside a chunk.

    Returns:
        (B, D, L) float32.

    Raises:
        ValueError: if ``chunk_len`` or ``block_len`` is below 1.
    """
    if chunk_len < 1 or block_len < 1:
        raise ValueError(f"chunk_len and block_len must be ≥ 1, got {chunk_len}, {block_len}")
    delta = _discretise_delta(delta, delta_bias, delta_softplus)
    y = _selective_scan_time_major(
        rearrange(u, "b d l -> b l d"),
        rearrange(delta, "b d l -> b l d"),
        A,
        rearrange(B, "b n l -> b l n"),
        rearrange(C, "b n l -> b l n"),
        chunk_len,
        block_len,
    )
    y = rearrange(y, "b l d -> b d l")
    if D is not None:
        y = y + u * D[:, None]
    if z is not None:
        y = y * F.silu(z)
    return y


@dataclass
class MambaStreamState:
    """What a :class:`Mamba` layer carries from one segment of a sequence to the next.

    Attributes:
        conv_history: (B, K-1, D_in), the last K-1 convolution inputs.
        ssm: (B, D_in, N) float32, the state after the last step.
    """

    conv_history: Tensor
    ssm: Tensor


class Mamba(nn.Module):
    """Mamba block (``mamba_ssm.modules.mamba_simple.Mamba``'s parameters and initialisation).

    ``forward``: ``hidden_states (B, L, d_model) float32 → (B, L, d_model) float32``. Uses
    mamba_ssm's CUDA kernels when the input is on CUDA, ``use_fast_path`` is set and the package
    imports; otherwise our PyTorch path: differentiable when autograd records, else streamed
    segment by segment through :meth:`forward_segment`. mamba_ssm's token-by-token decoding
    (``inference_params``, ``step``) is not provided; :meth:`forward_segment` covers streaming.
    The attributes ``chunk_len``, ``block_len`` and ``segment_len`` tune the PyTorch path (they
    change speed and memory, not results).
    """

    def __init__(
        self,
        d_model: int,
        d_state: int = 16,
        d_conv: int = 4,
        expand: int = 2,
        dt_rank: int | str = "auto",
        dt_min: float = 0.001,
        dt_max: float = 0.1,
        dt_init: str = "random",
        dt_scale: float = 1.0,
        dt_init_floor: float = 1e-4,
        conv_bias: bool = True,
        bias: bool = False,
        use_fast_path: bool = True,
        layer_idx: int | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        factory_kwargs = {"device": device, "dtype": dtype}
        super().__init__()
        self.d_model = d_model
        self.d_state = d_state
        self.d_conv = d_conv
        self.expand = expand
        self.d_inner = int(expand * d_model)
        self.dt_rank = math.ceil(d_model / 16) if dt_rank == "auto" else int(dt_rank)
        self.use_fast_path = use_fast_path
        self.layer_idx = layer_idx
        self.chunk_len = DEFAULT_CHUNK_LEN
        self.block_len = DEFAULT_BLOCK_LEN
        self.segment_len = DEFAULT_SEGMENT_LEN

        self.in_proj = nn.Linear(d_model, self.d_inner * 2, bias=bias, **factory_kwargs)
        self.conv1d = nn.Conv1d(
            in_channels=self.d_inner,
            out_channels=self.d_inner,
            bias=conv_bias,
            kernel_size=d_conv,
            groups=self.d_inner,
            padding=d_conv - 1,
            **factory_kwargs,
        )
        self.x_proj = nn.Linear(
            self.d_inner, self.dt_rank + d_state * 2, bias=False, **factory_kwargs
        )
        self.dt_proj = nn.Linear(self.dt_rank, self.d_inner, bias=True, **factory_kwargs)
        self._init_dt_proj(dt_init, dt_scale, dt_min, dt_max, dt_init_floor)

        # S4D-real initialisation: A[d, n] = -(n + 1), stored as its log in float32.
        A = repeat(
            torch.arange(1, d_state + 1, dtype=torch.float32, device=device),
            "n -> d n",
            d=self.d_inner,
        ).contiguous()
        self.A_log = nn.Parameter(torch.log(A))
        self.A_log._no_weight_decay = True
        self.D = nn.Parameter(torch.ones(self.d_inner, device=device))  # skip, float32
        self.D._no_weight_decay = True

        self.out_proj = nn.Linear(self.d_inner, d_model, bias=bias, **factory_kwargs)

    def _init_dt_proj(
        self, dt_init: str, dt_scale: float, dt_min: float, dt_max: float, dt_init_floor: float
    ) -> None:
        """Weights keep the variance; ``softplus(bias)`` is log-uniform in [dt_min, dt_max]."""
        dt_init_std = self.dt_rank**-0.5 * dt_scale
        if dt_init == "constant":
            nn.init.constant_(self.dt_proj.weight, dt_init_std)
        elif dt_init == "random":
            nn.init.uniform_(self.dt_proj.weight, -dt_init_std, dt_init_std)
        else:
            raise NotImplementedError(f"dt_init must be 'constant' or 'random', got {dt_init!r}")
        bias = self.dt_proj.bias
        dt = torch.exp(
            torch.rand(self.d_inner, device=bias.device, dtype=bias.dtype)
            * (math.log(dt_max) - math.log(dt_min))
            + math.log(dt_min)
        ).clamp(min=dt_init_floor)
        inv_dt = dt + torch.log(-torch.expm1(-dt))  # inverse of softplus
        with torch.no_grad():
            bias.copy_(inv_dt)
        bias._no_reinit = True  # model-wide inits that zero Linear biases must skip this one

    def forward(self, hidden_states: Tensor) -> Tensor:
        """(B, L, d_model) float32 → (B, L, d_model) float32.

        Raises:
            ValueError: if the input is not (B, L, d_model) with L ≥ 1.
        """
        if hidden_states.ndim != 3 or hidden_states.shape[-1] != self.d_model or (
            hidden_states.shape[1] == 0
        ):
            raise ValueError(
                f"Mamba expects hidden_states of shape (B, L, {self.d_model}) with L >= 1, "
                f"got {tuple(hidden_states.shape)}"
            )
        if self.use_fast_path and hidden_states.is_cuda and cuda_kernels_available():
            return self._forward_cuda_kernels(hidden_states, _mamba_kernels())
        if _needs_grad(hidden_states, *self.parameters()):
            return self._forward_torch(hidden_states)
        state = self.init_stream_state(hidden_states.shape[0])
        out = hidden_states.new_empty(hidden_states.shape)  # (B, L, d_model)
        for start in range(0, hidden_states.shape[1], self.segment_len):
            segment = slice(start, start + self.segment_len)
            out[:, segment] = self.forward_segment(hidden_states[:, segment], state)
        return out

    def init_stream_state(self, batch_size: int) -> MambaStreamState:
        """Zero state for :meth:`forward_segment`, on the layer's device."""
        weight = self.in_proj.weight
        return MambaStreamState(
            conv_history=weight.new_zeros(batch_size, self.d_conv - 1, self.d_inner),
            ssm=weight.new_zeros(batch_size, self.d_inner, self.d_state, dtype=torch.float32),
        )

    def _split_in_proj(self, hidden_states: Tensor) -> tuple[Tensor, Tensor]:
        """x, z: (B, L, D_in) each, contiguous (in_proj as two products)."""
        weights = self.in_proj.weight.chunk(2, dim=0)
        biases = (None, None) if self.in_proj.bias is None else self.in_proj.bias.chunk(2)
        return F.linear(hidden_states, weights[0], biases[0]), F.linear(
            hidden_states, weights[1], biases[1]
        )

    def _ssm_inputs(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """delta (B, L, D_in), A (D_in, N), B and C (B, L, N) from the convolved x."""
        dt, B, C = torch.split(self.x_proj(x), [self.dt_rank, self.d_state, self.d_state], -1)
        delta = F.softplus(self.dt_proj(dt))  # (B, L, D_in)
        A = -torch.exp(self.A_log.float())  # (D_in, N)
        return delta, A, B, C

    def _forward_torch(self, hidden_states: Tensor) -> Tensor:
        """The differentiable PyTorch path: (B, L, d_model) → (B, L, d_model)."""
        x, z = self._split_in_proj(hidden_states)  # (B, L, D_in) each
        x = F.silu(_causal_depthwise_conv(x, self.conv1d.weight, self.conv1d.bias))
        delta, A, B, C = self._ssm_inputs(x)
        y = _selective_scan_time_major(x, delta, A, B, C, self.chunk_len, self.block_len)
        y = (y + x * self.D) * F.silu(z)  # (B, L, D_in)
        return self.out_proj(y)

    @torch.no_grad()
    def forward_segment(self, hidden_states: Tensor, state: MambaStreamState) -> Tensor:
        """Inference on the next ``S`` steps of a sequence, continuing from ``state``.

        Running a sequence segment by segment gives the same output as one :meth:`forward`.

        Args:
            hidden_states: (B, S, d_model) float32.
            state: from :meth:`init_stream_state` or the previous segment; advanced in place.

        Returns:
            (B, S, d_model) float32.
        """
        x, z = self._split_in_proj(hidden_states)  # (B, S, D_in) each
        history = torch.cat([state.conv_history, x], dim=1)[:, x.shape[1] :]
        x = F.silu(
            _causal_depthwise_conv(x, self.conv1d.weight, self.conv1d.bias, state.conv_history),
            inplace=True,
        )
        state.conv_history = history  # (B, K-1, D_in)
        delta, A, B, C = self._ssm_inputs(x)
        y = _scan_inference(x, delta, A, B, C, state.ssm, self.chunk_len, self.block_len)
        y.addcmul_(x, self.D).mul_(F.silu(z, inplace=True))  # (B, S, D_in)
        return self.out_proj(y)

    def _forward_cuda_kernels(self, hidden_states: Tensor, kernels: _MambaKernels) -> Tensor:
        """mamba_ssm's fused kernels, called as ``mamba_simple.Mamba.forward`` calls them."""
        seq_len = hidden_states.shape[1]
        xz = rearrange(self.in_proj(hidden_states), "b l d -> b d l")  # (B, 2·D_in, L)
        A = -torch.exp(self.A_log.float())  # (D_in, N)
        if kernels.mamba_inner_fn is not None:
            return kernels.mamba_inner_fn(
                xz,
                self.conv1d.weight,
                self.conv1d.bias,
                self.x_proj.weight,
                self.dt_proj.weight,
                self.out_proj.weight,
                self.out_proj.bias,
                A,
                None,  # input-dependent B
                None,  # input-dependent C
                self.D.float(),
                delta_bias=self.dt_proj.bias.float(),
                delta_softplus=True,
            )
        x, z = xz.chunk(2, dim=1)  # (B, D_in, L) each
        x = F.silu(self.conv1d(x)[..., :seq_len])
        x_dbl = self.x_proj(rearrange(x, "b d l -> (b l) d"))  # (B·L, R + 2N)
        dt, B, C = torch.split(x_dbl, [self.dt_rank, self.d_state, self.d_state], dim=-1)
        dt = rearrange(self.dt_proj.weight @ dt.t(), "d (b l) -> b d l", l=seq_len)
        B = rearrange(B, "(b l) n -> b n l", l=seq_len).contiguous()
        C = rearrange(C, "(b l) n -> b n l", l=seq_len).contiguous()
        y = kernels.selective_scan_fn(
            x,
            dt,
            A,
            B,
            C,
            self.D.float(),
            z=z,
            delta_bias=self.dt_proj.bias.float(),
            delta_softplus=True,
        )
        return self.out_proj(rearrange(y, "b d l -> b l d"))

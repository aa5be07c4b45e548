"""ME-TST: per-frame micro-expression spotting and recognition with two Mamba branches.

Zou, Guo, Qin, Li, Wang & Ma, "Synergistic Spotting and Recognition of Micro-Expression via
Temporal State Transition" (ICASSP 2025); authors' code at github.com/zizheng-guo/ME-TST.
Input: ROI optical-flow traces ``(B, C, T) float32`` (C = 10 for the 5-ROI set). A convolutional
stem widens them to ``d_model`` channels; a spotting branch and a recognition branch, each a stack
of residual Mamba layers with separate weights, read the stem output; per frame a spotting head
gives ``spot (B, T)`` in [0, 1] and a recognition head ``recog_logits (B, T, E+1)`` (E emotions,
then neutral last, as in the authors' code).

The building blocks (:class:`SpotRecogOutput`, :func:`check_traces`, :func:`conv_stem`,
:class:`MambaStack` of :class:`MambaResidualBlock`) are shared with :mod:`core.models.metst_plus`.
:func:`load_official_state_dict` reads checkpoints of the authors' code (``official_compat``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

import torch
from einops import rearrange
from torch import Tensor, nn

from core.config_dict import config_from_dict
from core.models.ssm import Mamba, MambaStreamState, cuda_kernels_available

__all__ = [
    "DEFAULT_CLASS_NAMES",
    "MambaResidualBlock",
    "MambaStack",
    "MeTst",
    "MeTstConfig",
    "SpotRecogOutput",
    "check_traces",
    "conv_stem",
    "drop_path_rates",
    "load_official_state_dict",
    "load_remapped",
    "official_config_from_state_dict",
    "remap_state_dict_keys",
]

DEFAULT_CLASS_NAMES: tuple[str, ...] = ("negative", "positive", "surprise", "others", "neutral")
"""MEGC emotion classes, neutral (no micro-expression) last."""


class SpotRecogOutput(NamedTuple):
    """Per-frame model output.

    Attributes:
        spot: (B, T) float32 in [0, 1], the spotting score of each frame.
        recog_logits: (B, T, E+1) float32, emotion logits per frame (neutral last).
    """

    spot: Tensor
    recog_logits: Tensor


def _check_class_names(n_classes: int, class_names: Sequence[str]) -> None:
    if len(class_names) != n_classes:
        raise ValueError(f"{len(class_names)} class_names for n_classes={n_classes}")


@dataclass(frozen=True)
class MeTstConfig:
    """ME-TST settings (defaults from the paper; stored in checkpoints).

    Attributes:
        in_channels: C, trace channels (2 per ROI; 10 for the 5-ROI set).
        d_model: D, width of the stem and the Mamba layers.
        n_layers: residual Mamba layers per branch.
        d_state: N, state size of each Mamba layer.
        d_conv: causal convolution width inside each Mamba layer.
        expand: Mamba inner width = expand × d_model.
        n_classes: E + 1 recognition classes, neutral last.
        class_names: n_classes names, neutral last.
        dropout: dropout on the features entering the two heads.
        drop_path_rate: stochastic depth of the last layer, rising linearly from 0 at the first
            (the authors' code uses 0.2).
        official_compat: run the recognition head on the *spotting* branch, as the authors'
            ``network.METST.forward`` does; needed to reproduce their released checkpoints.
    """

    in_channels: int = 10
    d_model: int = 64
    n_layers: int = 12
    d_state: int = 64
    d_conv: int = 4
    expand: int = 2
    n_classes: int = 5
    class_names: tuple[str, ...] = DEFAULT_CLASS_NAMES
    dropout: float = 0.0
    drop_path_rate: float = 0.2
    official_compat: bool = False

    def __post_init__(self) -> None:
        _check_class_names(self.n_classes, self.class_names)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (tuples as lists)."""
        data = asdict(self)
        data["class_names"] = list(self.class_names)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MeTstConfig:
        """Inverse of :meth:`to_dict`; raises ValueError on unknown keys."""
        return config_from_dict(cls, data)


def check_traces(traces: Tensor, in_channels: int, dtype: torch.dtype) -> None:
    """Raise ValueError unless ``traces`` is (B, in_channels, T) of ``dtype`` with B, T ≥ 1."""
    if traces.ndim != 3 or traces.shape[1] != in_channels or 0 in traces.shape:
        raise ValueError(
            f"expected traces of shape (B, {in_channels}, T) with B, T >= 1, "
            f"got {tuple(traces.shape)}"
        )
    if traces.dtype != dtype:
        raise ValueError(f"expected traces of dtype {dtype}, got {traces.dtype}")


def conv_stem(in_channels: int, width: int) -> nn.Sequential:
    """Two Conv1d(k=3, padding 1) + BatchNorm1d + ReLU: (B, in_channels, T) → (B, width, T)."""
    return nn.Sequential(
        nn.Conv1d(in_channels, width, kernel_size=3, padding=1),
        nn.BatchNorm1d(width),
        nn.ReLU(inplace=True),
        nn.Conv1d(width, width, kernel_size=3, padding=1),
        nn.BatchNorm1d(width),
        nn.ReLU(inplace=True),
    )


def drop_path_rates(max_rate: float, n_layers: int) -> list[float]:
    """Stochastic-depth rate per layer, linear from 0 to ``max_rate``."""
    return torch.linspace(0.0, max_rate, n_layers).tolist() if n_layers > 1 else [0.0] * n_layers


class MambaResidualBlock(nn.Module):
    """``x + drop_path(out_norm(Mamba(norm(x))))``: (B, T, D) → (B, T, D).

    Pre-norm residual Mamba layer; as in the authors' code the mixer output is layer-normalised
    again before the residual add.
    """

    def __init__(
        self, d_model: int, d_state: int, d_conv: int, expand: int, drop_path: float = 0.0
    ) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(d_model)
        self.mixer = Mamba(d_model, d_state=d_state, d_conv=d_conv, expand=expand)
        self.out_norm = nn.LayerNorm(d_model)
        self.drop_path = drop_path

    def forward(self, x: Tensor) -> Tensor:
        """(B, T, D) float32 → (B, T, D) float32."""
        update = self.out_norm(self.mixer(self.norm(x)))
        if self.training and self.drop_path > 0.0:
            keep = 1.0 - self.drop_path
            mask = x.new_empty(x.shape[0], 1, 1).bernoulli_(keep)  # one draw per sequence
            update = update * mask / keep
        return x + update

    def forward_segment(self, x: Tensor, state: MambaStreamState) -> Tensor:
        """Inference on the next S frames, continuing from ``state``: (B, S, D) → (B, S, D)."""
        return x + self.out_norm(self.mixer.forward_segment(self.norm(x), state))


class MambaStack(nn.Sequential):
    """Residual Mamba layers in sequence: (B, T, D) float32 → (B, T, D) float32.

    In inference (eval mode, no autograd, no mamba_ssm kernels) the sequence streams through all
    layers one segment at a time, each layer carrying its state, so intermediate activations
    never exist for the whole video (fresh video-length tensors per layer cost as much as the
    scan on CPU).
    """

    def __init__(
        self,
        n_layers: int,
        d_model: int,
        d_state: int,
        d_conv: int,
        expand: int,
        drop_path_rate: float,
    ) -> None:
        super().__init__(
            *(
                MambaResidualBlock(d_model, d_state, d_conv, expand, rate)
                for rate in drop_path_rates(drop_path_rate, n_layers)
            )
        )

    @classmethod
    def from_config(cls, config: MeTstConfig) -> MambaStack:
        """One ME-TST branch: ``config.n_layers`` layers of width ``config.d_model``."""
        return cls(
            config.n_layers,
            config.d_model,
            config.d_state,
            config.d_conv,
            config.expand,
            config.drop_path_rate,
        )

    def forward(self, x: Tensor) -> Tensor:
        """(B, T, D) float32 → (B, T, D) float32."""
        needs_grad = torch.is_grad_enabled() and (
            x.requires_grad or any(p.requires_grad for p in self.parameters())
        )
        uses_cuda_kernels = x.is_cuda and cuda_kernels_available()  # whole-sequence kernels
        if self.training or needs_grad or uses_cuda_kernels or len(self) == 0:
            return super().forward(x)
        blocks: list[MambaResidualBlock] = list(self)
        segment_len = blocks[0].mixer.segment_len
        states = [block.mixer.init_stream_state(x.shape[0]) for block in blocks]
        out = torch.empty_like(x)  # (B, T, D)
        for start in range(0, x.shape[1], segment_len):
            segment = slice(start, start + segment_len)
            hidden = x[:, segment]  # (B, S, D)
            for block, state in zip(blocks, states, strict=True):
                hidden = block.forward_segment(hidden, state)
            out[:, segment] = hidden
        return out


class MeTst(nn.Module):
    """ME-TST. ``forward``: ``traces (B, C, T) float32 → SpotRecogOutput(spot (B, T) in [0, 1],
    recog_logits (B, T, E+1))``. Build with :meth:`from_config`."""

    def __init__(self, config: MeTstConfig) -> None:
        super().__init__()
        self.config = config
        self.stem = conv_stem(config.in_channels, config.d_model)
        self.spot_branch = MambaStack.from_config(config)
        self.recog_branch = MambaStack.from_config(config)
        self.head_dropout = nn.Dropout(config.dropout)
        self.spot_head = nn.Linear(config.d_model, 1)
        self.recog_head = nn.Linear(config.d_model, config.n_classes)

    @classmethod
    def from_config(cls, config: MeTstConfig) -> MeTst:
        """The model for ``config``, freshly initialised."""
        return cls(config)

    def forward(self, traces: Tensor) -> SpotRecogOutput:
        """traces: (B, C, T) float32 → spot (B, T) in [0, 1], recog_logits (B, T, E+1).

        Raises:
            ValueError: if ``traces`` is not (B, in_channels, T) float32.
        """
        check_traces(traces, self.config.in_channels, self.spot_head.weight.dtype)
        features = rearrange(self.stem(traces), "b d t -> b t d")  # (B, T, D)
        spot_features = self.spot_branch(features)  # (B, T, D)
        if self.config.official_compat:
            recog_features = spot_features  # the authors' forward reuses the spotting branch
        else:
            recog_features = self.recog_branch(features)  # (B, T, D)
        spot = torch.sigmoid(self.spot_head(self.head_dropout(spot_features)))  # (B, T, 1)
        recog_logits = self.recog_head(self.head_dropout(recog_features))  # (B, T, E+1)
        return SpotRecogOutput(spot.squeeze(-1), recog_logits)


# Authors' layout (network.METST) → ours. Their MambaBlock is
# x + drop_path(norm1(attn.mamba(attn.norm(x)))); its norm2 is never used.
_OFFICIAL_METST_RULES: tuple[tuple[str, str | None], ...] = (
    (r"^Stem\.", "stem."),
    (r"^(spot|recog)_pathway\.block\.(\d+)\.attn\.norm\.", r"\1_branch.\2.norm."),
    (r"^(spot|recog)_pathway\.block\.(\d+)\.attn\.mamba\.", r"\1_branch.\2.mixer."),
    (r"^(spot|recog)_pathway\.block\.(\d+)\.norm1\.", r"\1_branch.\2.out_norm."),
    (r"^(spot|recog)_pathway\.block\.(\d+)\.norm2\.", None),
    (r"^fc_spot\.", "spot_head."),
    (r"^fc_recog\.", "recog_head."),
)


def remap_state_dict_keys(
    state_dict: Mapping[str, Tensor], rules: Sequence[tuple[str, str | None]]
) -> dict[str, Tensor]:
    """Rename keys by the first matching regex rule (replacement None drops the key).

    A leading ``module.`` (from ``nn.DataParallel``) is stripped first.

    Raises:
        ValueError: naming the keys no rule matches.
    """
    renamed: dict[str, Tensor] = {}
    unmatched = []
    for key, value in state_dict.items():
        key = key.removeprefix("module.")
        for pattern, replacement in rules:
            if re.match(pattern, key):
                if replacement is not None:
                    renamed[re.sub(pattern, replacement, key, count=1)] = value
                break
        else:
            unmatched.append(key)
    if unmatched:
        raise ValueError(f"keys not in the official layout: {unmatched[:5]} ({len(unmatched)})")
    return renamed


def load_remapped(model: nn.Module, state_dict: Mapping[str, Tensor]) -> None:
    """``load_state_dict(strict=True)``, with mismatches raised as ValueError."""
    try:
        model.load_state_dict(state_dict, strict=True)
    except RuntimeError as error:
        raise ValueError(
            f"checkpoint does not fit {type(model).__name__}({model.config}): {error}"
        ) from error


def official_config_from_state_dict(
    state_dict: Mapping[str, Tensor], class_names: Sequence[str] | None = None
) -> MeTstConfig:
    """The :class:`MeTstConfig` (``official_compat=True``) matching an authors' checkpoint.

    Sizes are read from the tensor shapes. ``class_names`` default to
    :data:`DEFAULT_CLASS_NAMES` when the checkpoint has 5 classes, else ``class_0 … neutral``.
    """
    sd = remap_state_dict_keys(state_dict, _OFFICIAL_METST_RULES)
    stem_weight = sd["stem.0.weight"]  # (D, C, 3)
    mixer = "spot_branch.0.mixer."
    d_model = int(stem_weight.shape[0])
    n_classes = int(sd["recog_head.weight"].shape[0])
    if class_names is None:
        class_names = DEFAULT_CLASS_NAMES if n_classes == len(DEFAULT_CLASS_NAMES) else (
            *(f"class_{i}" for i in range(n_classes - 1)), "neutral"
        )
    return MeTstConfig(
        in_channels=int(stem_weight.shape[1]),
        d_model=d_model,
        n_layers=len({key.split(".")[1] for key in sd if key.startswith("spot_branch.")}),
        d_state=int(sd[mixer + "A_log"].shape[1]),
        d_conv=int(sd[mixer + "conv1d.weight"].shape[-1]),
        expand=int(sd[mixer + "in_proj.weight"].shape[0]) // (2 * d_model),
        n_classes=n_classes,
        class_names=tuple(class_names),
        official_compat=True,
    )


def load_official_state_dict(model: MeTst, state_dict: Mapping[str, Tensor]) -> None:
    """Load a checkpoint of the authors' ME-TST code (``network.METST``) into ``model``.

    Their checkpoints come from ``nn.DataParallel`` (keys ``module.…``; stripped here) and were
    trained with the recognition head reading the spotting blocks (their ``recog_pathway`` is
    never called), so ``model`` must be built with ``official_compat=True`` — see
    :func:`official_config_from_state_dict`. Their code uses ``d_model=128`` and ``d_state=64``.

    Raises:
        ValueError: if ``model.config.official_compat`` is False, on keys outside the official
            layout, or on shape mismatches.
    """
    if not model.config.official_compat:
        raise ValueError(
            "official ME-TST checkpoints need MeTstConfig(official_compat=True): their "
            "recognition head reads the spotting branch"
        )
    load_remapped(model, remap_state_dict_keys(state_dict, _OFFICIAL_METST_RULES))

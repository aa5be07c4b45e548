"""ME-TST+: slow-fast Mamba pathways over multi-granularity ROI traces.

Guo, Zou, Zhuo & Ma, "ME-TST+: Micro-expression Analysis via Temporal State Transition with ROI
Relationship Awareness" (2025); authors' code at github.com/zizheng-guo/ME-TST (``network_sf``).
Input: ``traces (B, C, T) float32`` with C = 36 (18 multi-granularity ROIs × x, y). A
convolutional stem widens them to D = ``d_model``; a spotting and a recognition pathway (separate
weights) each run

- a fast stream at full rate, (B, T, D), and a slow stream at half rate and double width,
  (B, ⌈T/2⌉, 2D), made from the stem by a stride-2 convolution;
- ``n_blocks`` blocks of ``layers_per_block`` residual Mamba layers on each stream; after every
  block but the last, a lateral stride-2 Conv1d + BN + ReLU adds the fast stream into the slow
  one (as in the authors' code: after the last block the concatenation below already joins them);
- the slow stream upsampled ×2 (nearest, cropped to T for odd T) and concatenated with the fast
  one: (B, T, 3D);

then per frame the heads give ``spot (B, T)`` in [0, 1] and ``recog_logits (B, T, E+1)``.

``d_state`` defaults to 16, not the authors' 64: the scan costs B·T·D·N per layer, and N = 16
keeps an 18,000-frame video under 10 s on a 2-core CPU (see benchmarks/bench_models.py);
:func:`official_config_from_state_dict` gives the authors' sizes for their checkpoints.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
from einops import rearrange
from torch import Tensor, nn

from core.config_dict import config_from_dict
from core.models.metst import (
    DEFAULT_CLASS_NAMES,
    MambaStack,
    SpotRecogOutput,
    check_traces,
    conv_stem,
    load_remapped,
    remap_state_dict_keys,
)

__all__ = [
    "MeTstPlus",
    "MeTstPlusConfig",
    "SlowFastPathway",
    "load_official_state_dict",
    "official_config_from_state_dict",
]


@dataclass(frozen=True)
class MeTstPlusConfig:
    """ME-TST+ settings (paper defaults except ``d_state``; stored in checkpoints).

    Attributes:
        in_channels: C, trace channels (36 for the 18 multi-granularity ROIs).
        d_model: D, width of the stem and of the fast stream (the slow stream is 2D wide).
        n_blocks: blocks per stream; a lateral connection follows each but the last.
        layers_per_block: residual Mamba layers per block.
        d_state: N, state size of each Mamba layer (16 for CPU speed; the authors use 64).
        d_conv: causal convolution width inside each Mamba layer.
        expand: Mamba inner width = expand × layer width.
        n_classes: E + 1 recognition classes, neutral last.
        class_names: n_classes names, neutral last.
        dropout: dropout on the features entering the two heads.
        drop_path_rate: stochastic depth of each block's last layer, rising linearly from 0.
    """

    in_channels: int = 36
    d_model: int = 128
    n_blocks: int = 3
    layers_per_block: int = 4
    d_state: int = 16
    d_conv: int = 4
    expand: int = 2
    n_classes: int = 5
    class_names: tuple[str, ...] = DEFAULT_CLASS_NAMES
    dropout: float = 0.0
    drop_path_rate: float = 0.2

    def __post_init__(self) -> None:
        if len(self.class_names) != self.n_classes:
            raise ValueError(f"{len(self.class_names)} class_names for n_classes={self.n_classes}")
        if self.n_blocks < 1:
            raise ValueError(f"n_blocks must be >= 1, got {self.n_blocks}")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (tuples as lists)."""
        data = asdict(self)
        data["class_names"] = list(self.class_names)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MeTstPlusConfig:
        """Inverse of :meth:`to_dict`; raises ValueError on unknown keys."""
        return config_from_dict(cls, data)


def _downsample_conv(in_width: int, out_width: int) -> nn.Sequential:
    """Conv1d(k=3, stride 2, padding 1) + BN + ReLU: (B, in, T) → (B, out, ⌈T/2⌉)."""
    return nn.Sequential(
        nn.Conv1d(in_width, out_width, kernel_size=3, stride=2, padding=1),
        nn.BatchNorm1d(out_width),
        nn.ReLU(inplace=True),
    )


class SlowFastPathway(nn.Module):
    """Fast (T, D) and slow (⌈T/2⌉, 2D) Mamba streams with lateral fast → slow connections.

    ``forward``: stem features (B, D, T) float32 → fused features (B, T, 3D), slow first.
    """

    def __init__(self, config: MeTstPlusConfig) -> None:
        super().__init__()
        width = config.d_model

        def block(layer_width: int) -> MambaStack:
            return MambaStack(
                config.layers_per_block,
                layer_width,
                config.d_state,
                config.d_conv,
                config.expand,
                config.drop_path_rate,
            )

        self.slow_stem = _downsample_conv(width, 2 * width)
        self.fast_blocks = nn.ModuleList(block(width) for _ in range(config.n_blocks))
        self.slow_blocks = nn.ModuleList(block(2 * width) for _ in range(config.n_blocks))
        self.laterals = nn.ModuleList(
            _downsample_conv(width, 2 * width) for _ in range(config.n_blocks - 1)
        )

    def forward(self, features: Tensor) -> Tensor:
        """features: (B, D, T) float32 → (B, T, 3D) float32."""
        n_frames = features.shape[-1]
        fast = rearrange(features, "b d t -> b t d")  # (B, T, D)
        slow = rearrange(self.slow_stem(features), "b d t -> b t d")  # (B, ⌈T/2⌉, 2D)
        for block_idx, (fast_block, slow_block) in enumerate(
            zip(self.fast_blocks, self.slow_blocks, strict=True)
        ):
            fast = fast_block(fast)
            slow = slow_block(slow)
            if block_idx < len(self.laterals):
                lateral = self.laterals[block_idx](rearrange(fast, "b t d -> b d t"))
                slow = slow + rearrange(lateral, "b d t -> b t d")  # (B, ⌈T/2⌉, 2D)
        slow = slow.repeat_interleave(2, dim=1)[:, :n_frames]  # (B, T, 2D), nearest upsampling
        return torch.cat([slow, fast], dim=-1)  # (B, T, 3D)


class MeTstPlus(nn.Module):
    """ME-TST+. ``forward``: ``traces (B, C, T) float32 → SpotRecogOutput(spot (B, T) in [0, 1],
    recog_logits (B, T, E+1))``. Build with :meth:`from_config`."""

    def __init__(self, config: MeTstPlusConfig) -> None:
        super().__init__()
        self.config = config
        fused_width = 3 * config.d_model
        self.stem = conv_stem(config.in_channels, config.d_model)
        self.spot_pathway = SlowFastPathway(config)
        self.recog_pathway = SlowFastPathway(config)
        self.head_dropout = nn.Dropout(config.dropout)
        self.spot_head = nn.Linear(fused_width, 1)
        self.recog_head = nn.Linear(fused_width, config.n_classes)

    @classmethod
    def from_config(cls, config: MeTstPlusConfig) -> MeTstPlus:
        """The model for ``config``, freshly initialised."""
        return cls(config)

    def forward(self, traces: Tensor) -> SpotRecogOutput:
        """traces: (B, C, T) float32 → spot (B, T) in [0, 1], recog_logits (B, T, E+1).

        Raises:
            ValueError: if ``traces`` is not (B, in_channels, T) float32.
        """
        check_traces(traces, self.config.in_channels, self.spot_head.weight.dtype)
        features = self.stem(traces)  # (B, D, T)
        spot_features = self.spot_pathway(features)  # (B, T, 3D)
        recog_features = self.recog_pathway(features)  # (B, T, 3D)
        spot = torch.sigmoid(self.spot_head(self.head_dropout(spot_features)))  # (B, T, 1)
        recog_logits = self.recog_head(self.head_dropout(recog_features))  # (B, T, E+1)
        return SpotRecogOutput(spot.squeeze(-1), recog_logits)


_FAST_BLOCK_KEY = re.compile(r"spot_pathway\.block\d+_fast\.")


def _official_rules(n_blocks: int) -> list[tuple[str, str | None]]:
    """Authors' layout (``network_sf.METST_SF``, blocks and fuses numbered from 1) → ours."""
    rules: list[tuple[str, str | None]] = [
        (r"^Stem\.", "stem."),
        (r"^(spot|recog)_pathway\.Stem_slow\.", r"\1_pathway.slow_stem."),
        (r"^fc_spot\.", "spot_head."),
        (r"^fc_recog\.", "recog_head."),
    ]
    parts = (("attn.norm", "norm"), ("attn.mamba", "mixer"), ("norm1", "out_norm"))
    for block_no in range(1, n_blocks + 1):
        ours = block_no - 1
        for stream, theirs in (("slow", f"block{block_no}"), ("fast", f"block{block_no}_fast")):
            prefix = rf"^(spot|recog)_pathway\.{theirs}\.(\d+)\."
            for their_part, our_part in parts:
                rules.append(
                    (prefix + their_part.replace(".", r"\.") + r"\.",
                     rf"\1_pathway.{stream}_blocks.{ours}.\2.{our_part}.")
                )
            rules.append((prefix + r"norm2\.", None))  # defined but unused in their forward
        rules.append((rf"^(spot|recog)_pathway\.fuse_{block_no}\.conv\.",
                      rf"\1_pathway.laterals.{ours}."))
    return rules


def official_config_from_state_dict(
    state_dict: Mapping[str, Tensor], class_names: Sequence[str] | None = None
) -> MeTstPlusConfig:
    """The :class:`MeTstPlusConfig` matching an authors' ME-TST+ checkpoint (sizes from shapes).

    ``class_names`` default to :data:`DEFAULT_CLASS_NAMES` for 5 classes, else
    ``class_0 … neutral``.
    """
    keys = [key.removeprefix("module.") for key in state_dict]
    n_blocks = len({key.split(".")[1] for key in keys if _FAST_BLOCK_KEY.match(key)})
    sd = remap_state_dict_keys(state_dict, _official_rules(n_blocks))
    stem_weight = sd["stem.0.weight"]  # (D, C, 3)
    mixer = "spot_pathway.fast_blocks.0.0.mixer."
    d_model = int(stem_weight.shape[0])
    n_classes = int(sd["recog_head.weight"].shape[0])
    if class_names is None:
        class_names = DEFAULT_CLASS_NAMES if n_classes == len(DEFAULT_CLASS_NAMES) else (
            *(f"class_{i}" for i in range(n_classes - 1)), "neutral"
        )
    layer_ids = {key.split(".")[3] for key in sd if key.startswith("spot_pathway.fast_blocks.0.")}
    return MeTstPlusConfig(
        in_channels=int(stem_weight.shape[1]),
        d_model=d_model,
        n_blocks=n_blocks,
        layers_per_block=len(layer_ids),
        d_state=int(sd[mixer + "A_log"].shape[1]),
        d_conv=int(sd[mixer + "conv1d.weight"].shape[-1]),
        expand=int(sd[mixer + "in_proj.weight"].shape[0]) // (2 * d_model),
        n_classes=n_classes,
        class_names=tuple(class_names),
    )


def load_official_state_dict(model: MeTstPlus, state_dict: Mapping[str, Tensor]) -> None:
    """Load a checkpoint of the authors' ME-TST+ code (``network_sf.METST_SF``) into ``model``.

    ``module.`` prefixes (``nn.DataParallel``) are stripped. Their code uses ``d_model=128`` and
    ``d_state=64``; build ``model`` from :func:`official_config_from_state_dict`.

    Raises:
        ValueError: on keys outside the official layout or shape mismatches.
    """
    load_remapped(model, remap_state_dict_keys(state_dict, _official_rules(model.config.n_blocks)))

"""TSFmicro: emotion of one micro-expression interval from its onset and apex face crops.

After Liu et al., "TSFmicro: temporal-spatial fusion for micro-expression recognition". Two
branches each produce a (G, G, D) map, G = image_size / 16 (14 at 224) and D = ``widths[-1]``
(512 by default):

* **temporal** — a vision retention network (RMT-style "Manhattan self-attention") on the
  difference frame ``apex − onset``: a strided conv stem (1/4 resolution) and four stages of
  retention blocks, the later stages entered through a strided conv (1/8, 1/16, then a stride-1
  width change at 1/16). Retention is softmax attention whose weights are multiplied by
  ``γ_h ** (|Δx| + |Δy|)``, the Manhattan distance between the two tokens on the grid, with one
  decay rate ``γ_h`` per head (added as ``distance · log γ_h`` to the logits, then renormalised).
  Stages finer than 1/16 use the decomposed (axial) form — a row pass then a column pass, whose
  product of weights carries the same ``γ^|Δx| · γ^|Δy|`` decay — so 56 × 56 maps stay cheap.
* **spatial** — a shallow ViT on the onset frame: 16 × 16 patch embedding to the G × G grid,
  learnable position embedding, two pre-norm transformer encoder layers, LayerNorm.

Fusion modes (``TsfMicroConfig.fusion``):

* ``late`` (default) — both branches run on their own frame; their maps are summed element-wise.
* ``early`` — the difference and onset frames are concatenated channel-wise (6 channels) into one
  conv stem whose (D0, H/4, W/4) output feeds both branches: the retention stages directly, the
  ViT through a 4 × 4 patch embedding; the two maps are summed.
* ``t2s`` (T→S) — the temporal map is added to the spatial branch's tokens (after the position
  embedding, before its transformer layers); the spatial output is the fused map.
* ``s2t`` (S→T) — the spatial map is added to the temporal branch's tokens at the start of its
  last stage (after the width change, before its retention blocks); the temporal output is the
  fused map.

Head: per-position FC to 1024, LayerNorm, Swish (SiLU), average over the G × G positions,
dropout, linear classifier → logits (B, E).

Input contract: ``forward(onset, apex)`` takes two (B, 3, S, S) float32 RGB tensors, S =
``image_size``, each channel standardised as ``(rgb / 255 − pixel_mean) / pixel_std``
(ImageNet statistics by default); :func:`preprocess_pair` builds them from two aligned BGR uint8
face crops, and :func:`predict_interval` returns the class probabilities of one interval.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from core.config_dict import config_from_dict

__all__ = [
    "FUSION_MODES",
    "TsfMicroConfig",
    "TsfMicro",
    "ManhattanRetention",
    "head_decay_rates",
    "manhattan_log_decay",
    "axial_log_decay",
    "preprocess_pair",
    "predict_interval",
]

FUSION_MODES: tuple[str, ...] = ("early", "t2s", "s2t", "late")
GRID_STRIDE = 16  # pixels per cell of the fused G × G grid
STEM_STRIDE = 4  # the temporal stem's output resolution is 1 / STEM_STRIDE


@dataclass(frozen=True)
class TsfMicroConfig:
    """Settings of :class:`TsfMicro` (stored in checkpoints).

    Attributes:
        image_size: side S of the square face crops, a multiple of 16 (224 in the paper).
        class_names: the E emotion classes, in logit order.
        fusion: one of :data:`FUSION_MODES` (see the module docstring).
        widths: channel width of each temporal stage; the last is D, the width of both maps.
        depths: retention blocks per temporal stage.
        heads: retention heads per temporal stage (each divides its width).
        decay_initial: γ_h = 1 − 2 ** −(decay_initial + decay_range · h / n_heads).
        decay_ranges: per-stage spread of the decay exponents across heads.
        spatial_layers: transformer encoder layers of the spatial ViT.
        spatial_heads: attention heads of the spatial ViT (divides D).
        mlp_ratio: hidden width of every MLP relative to its input width.
        head_width: width of the FC layer before pooling (1024 in the paper).
        dropout: dropout in the ViT layers and before the classifier.
        pixel_mean: RGB mean subtracted from ``rgb / 255``.
        pixel_std: RGB standard deviation dividing the result.
    """

    image_size: int = 224
    class_names: tuple[str, ...] = ("negative", "positive", "surprise")
    fusion: str = "late"
    widths: tuple[int, ...] = (64, 128, 256, 512)
    depths: tuple[int, ...] = (1, 1, 2, 1)
    heads: tuple[int, ...] = (2, 4, 8, 8)
    decay_initial: float = 2.0
    decay_ranges: tuple[float, ...] = (4.0, 4.0, 6.0, 6.0)
    spatial_layers: int = 2
    spatial_heads: int = 8
    mlp_ratio: float = 3.0
    head_width: int = 1024
    dropout: float = 0.1
    pixel_mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    pixel_std: tuple[float, float, float] = (0.229, 0.224, 0.225)

    def __post_init__(self) -> None:
        if self.image_size <= 0 or self.image_size % GRID_STRIDE:
            raise ValueError(f"image_size must be a positive multiple of 16, got {self.image_size}")
        if not self.class_names or len(set(self.class_names)) != len(self.class_names):
            raise ValueError(f"class_names must be non-empty and unique, got {self.class_names}")
        if self.fusion not in FUSION_MODES:
            raise ValueError(f"fusion must be one of {FUSION_MODES}, got {self.fusion!r}")
        n_stages = len(self.widths)
        per_stage = (self.depths, self.heads, self.decay_ranges)
        if n_stages < 3 or any(len(values) != n_stages for values in per_stage):
            raise ValueError(
                "widths, depths, heads and decay_ranges need one entry per stage (at least 3), "
                f"got {self.widths}, {self.depths}, {self.heads}, {self.decay_ranges}")
        if any(width % n_heads for width, n_heads in zip(self.widths, self.heads, strict=True)):
            raise ValueError(f"each of heads {self.heads} must divide its width {self.widths}")
        if self.widths[-1] % self.spatial_heads:
            raise ValueError(
                f"spatial_heads {self.spatial_heads} must divide D = widths[-1] {self.widths[-1]}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if len(self.pixel_mean) != 3 or len(self.pixel_std) != 3 or min(self.pixel_std) <= 0:
            raise ValueError("pixel_mean and pixel_std need 3 values each, std > 0")

    @property
    def n_classes(self) -> int:
        """E, the number of emotion classes."""
        return len(self.class_names)

    @property
    def grid_size(self) -> int:
        """G, the side of the fused G × G map (image_size / 16)."""
        return self.image_size // GRID_STRIDE

    @property
    def embed_dim(self) -> int:
        """D, the channel width of both branch maps."""
        return self.widths[-1]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dict (tuples become lists)."""
        return {key: list(value) if isinstance(value, tuple) else value
                for key, value in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TsfMicroConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise ValueError."""
        return config_from_dict(cls, data)


# --- Manhattan decay ------------------------------------------------------------------------


def head_decay_rates(n_heads: int, initial: float, spread: float) -> torch.Tensor:
    """Per-head decay rates γ_h = 1 − 2 ** −(initial + spread · h / n_heads), h = 0 … n − 1.

    Returns:
        (n_heads,) float32 in (0, 1); later heads decay slower (attend further).
    """
    exponents = initial + spread * torch.arange(n_heads, dtype=torch.float32) / n_heads
    return 1.0 - 2.0 ** (-exponents)


def manhattan_log_decay(grid_h: int, grid_w: int, log_gamma: torch.Tensor) -> torch.Tensor:
    """Log of the 2-D decay mask: ``(|Δy| + |Δx|) · log γ_h`` between all token pairs.

    Tokens are numbered row-major (``y * grid_w + x``). ``exp`` of the result is
    ``γ_h ** (|Δx| + |Δy|)``, the factor each retention head multiplies its weights by.

    Args:
        grid_h, grid_w: token grid size.
        log_gamma: (n,) log of the per-head decay rates.

    Returns:
        (n, L, L) with L = grid_h · grid_w, dtype and device of ``log_gamma``.
    """
    ys, xs = torch.meshgrid(
        torch.arange(grid_h, device=log_gamma.device),
        torch.arange(grid_w, device=log_gamma.device),
        indexing="ij",
    )
    coords = torch.stack([ys.flatten(), xs.flatten()], dim=-1)  # (L, 2)
    distance = (coords[:, None, :] - coords[None, :, :]).abs().sum(-1)  # (L, L)
    return distance.to(log_gamma.dtype) * log_gamma[:, None, None]


def axial_log_decay(length: int, log_gamma: torch.Tensor) -> torch.Tensor:
    """Log of the 1-D decay mask ``|Δ| · log γ_h`` along one axis of the grid.

    Returns:
        (n, length, length), dtype and device of ``log_gamma``.
    """
    index = torch.arange(length, device=log_gamma.device)
    distance = (index[:, None] - index[None, :]).abs()  # (length, length)
    return distance.to(log_gamma.dtype) * log_gamma[:, None, None]


# --- temporal branch: vision retention ------------------------------------------------------


class ManhattanRetention(nn.Module):
    """Multi-head retention with a per-head Manhattan-distance decay (RMT's MaSA).

    ``full`` attends over all grid tokens with the 2-D mask of :func:`manhattan_log_decay`;
    ``axial`` attends along each row then each column with the 1-D masks (linear in the side,
    used at high resolution). A depthwise 5 × 5 conv of the values (LePE) adds local position.
    """

    def __init__(self, dim: int, n_heads: int, decay_initial: float, decay_spread: float,
                 axial: bool) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.axial = axial
        self.qkv = nn.Linear(dim, 3 * dim)
        self.local_pos = nn.Conv2d(dim, dim, kernel_size=5, padding=2, groups=dim)
        self.out_proj = nn.Linear(dim, dim)
        gamma = head_decay_rates(n_heads, decay_initial, decay_spread)
        self.register_buffer("log_gamma", torch.log(gamma), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, H, W, D) → (B, H, W, D)."""
        grid_h, grid_w = x.shape[1:3]
        q, k, v = rearrange(self.qkv(x), "b h w (three n d) -> three b n h w d",
                            three=3, n=self.n_heads)
        log_gamma = self.log_gamma.to(q.dtype)
        if self.axial:
            out = self._axial(q, k, v, log_gamma)
        else:
            mask = manhattan_log_decay(grid_h, grid_w, log_gamma)  # (n, L, L)
            flat = [rearrange(t, "b n h w d -> b n (h w) d") for t in (q, k, v)]
            out = F.scaled_dot_product_attention(*flat, attn_mask=mask)  # (B, n, L, d)
            out = rearrange(out, "b n (h w) d -> b n h w d", h=grid_h)
        out = rearrange(out, "b n h w d -> b h w (n d)")
        values = rearrange(v, "b n h w d -> b (n d) h w")
        out = out + rearrange(self.local_pos(values), "b c h w -> b h w c")
        return self.out_proj(out)

    @staticmethod
    def _axial(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
               log_gamma: torch.Tensor) -> torch.Tensor:
        """Row pass, then a column pass over its output; (B, n, H, W, d) each → (B, n, H, W, d).

        The two passes' weights multiply, so token pairs decay by γ^|Δx| · γ^|Δy|.
        """
        grid_h, grid_w = q.shape[2:4]
        rows = [rearrange(t, "b n h w d -> (b h) n w d") for t in (q, k, v)]
        mask_w = axial_log_decay(grid_w, log_gamma)  # (n, W, W)
        out = F.scaled_dot_product_attention(*rows, attn_mask=mask_w)  # (B*H, n, W, d)
        out = rearrange(out, "(b h) n w d -> (b w) n h d", h=grid_h)
        cols = [rearrange(t, "b n h w d -> (b w) n h d") for t in (q, k)]
        mask_h = axial_log_decay(grid_h, log_gamma)  # (n, H, H)
        out = F.scaled_dot_product_attention(*cols, out, attn_mask=mask_h)  # (B*W, n, H, d)
        return rearrange(out, "(b w) n h d -> b n h w d", w=grid_w)


class Mlp(nn.Module):
    """Linear → GELU → dropout → linear → dropout over the last axis."""

    def __init__(self, dim: int, hidden: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout),
                                 nn.Linear(hidden, dim), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (..., D) → (..., D)."""
        return self.net(x)


class RetentionBlock(nn.Module):
    """Conditional position conv, pre-norm Manhattan retention and MLP, each residual."""

    def __init__(self, dim: int, n_heads: int, decay_initial: float, decay_spread: float,
                 axial: bool, mlp_ratio: float) -> None:
        super().__init__()
        self.pos_conv = nn.Conv2d(dim, dim, kernel_size=3, padding=1, groups=dim)
        self.norm1 = nn.LayerNorm(dim)
        self.retention = ManhattanRetention(dim, n_heads, decay_initial, decay_spread, axial)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, round(dim * mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, H, W, D) → (B, H, W, D)."""
        channels_first = rearrange(x, "b h w c -> b c h w")
        x = x + rearrange(self.pos_conv(channels_first), "b c h w -> b h w c")
        x = x + self.retention(self.norm1(x))
        return x + self.mlp(self.norm2(x))


def conv_bn(in_channels: int, out_channels: int, stride: int) -> nn.Sequential:
    """3 × 3 conv (padding 1) followed by BatchNorm: (B, Cin, H, W) → (B, Cout, H/s, W/s)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride, padding=1),
        nn.BatchNorm2d(out_channels),
    )


class ConvStem(nn.Module):
    """Two stride-2 conv-BN layers (GELU between): (B, C, S, S) → (B, D0, S/4, S/4)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.net = nn.Sequential(conv_bn(in_channels, out_channels // 2, stride=2), nn.GELU(),
                                 conv_bn(out_channels // 2, out_channels, stride=2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C, S, S) → (B, D0, S/4, S/4)."""
        return self.net(x)


class RetentionStage(nn.Module):
    """Entry conv (stride 2 or a stride-1 width change) then retention blocks."""

    def __init__(self, in_dim: int, dim: int, stride: int, depth: int, n_heads: int,
                 decay_initial: float, decay_spread: float, axial: bool,
                 mlp_ratio: float) -> None:
        super().__init__()
        self.entry = conv_bn(in_dim, dim, stride) if stride > 1 or in_dim != dim else None
        self.blocks = nn.ModuleList(
            RetentionBlock(dim, n_heads, decay_initial, decay_spread, axial, mlp_ratio)
            for _ in range(depth))

    def forward(self, x: torch.Tensor, inject: torch.Tensor | None = None) -> torch.Tensor:
        """x: (B, Cin, H, W) → (B, D, H/s, W/s); ``inject`` (B, H/s, W/s, D) is added first."""
        if self.entry is not None:
            x = self.entry(x)
        x = rearrange(x, "b c h w -> b h w c")
        if inject is not None:
            x = x + inject
        for block in self.blocks:
            x = block(x)
        return rearrange(x, "b h w c -> b c h w")


class TemporalBranch(nn.Module):
    """Vision retention stages from the stem output to the (B, G, G, D) temporal map.

    Stage strides relative to the image are 8, 16, 16, … after the stem's 4: each stage halves
    the grid until it reaches 1/16, later stages keep it. Stages above 1/16 use axial retention.
    """

    def __init__(self, config: TsfMicroConfig) -> None:
        super().__init__()
        self.stages = nn.ModuleList()
        in_dim, image_stride = config.widths[0], STEM_STRIDE
        for stage_idx, dim in enumerate(config.widths):
            stride = 2 if 0 < stage_idx and image_stride < GRID_STRIDE else 1
            image_stride *= stride
            self.stages.append(RetentionStage(
                in_dim, dim, stride, config.depths[stage_idx], config.heads[stage_idx],
                config.decay_initial, config.decay_ranges[stage_idx],
                axial=image_stride < GRID_STRIDE, mlp_ratio=config.mlp_ratio))
            in_dim = dim

    def forward(self, stem: torch.Tensor, inject: torch.Tensor | None = None) -> torch.Tensor:
        """stem: (B, D0, S/4, S/4) → (B, G, G, D); ``inject`` (B, G, G, D) enters the last stage."""
        x = stem
        for stage in self.stages[:-1]:
            x = stage(x)
        x = self.stages[-1](x, inject)  # (B, D, G, G)
        return rearrange(x, "b c h w -> b h w c")


# --- spatial branch: shallow ViT ------------------------------------------------------------


class PatchEmbed(nn.Module):
    """Non-overlapping patch projection: (B, C, H, W) → (B, H/p, W/p, D)."""

    def __init__(self, in_channels: int, dim: int, patch_size: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_channels, dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C, H, W) → (B, H/p, W/p, D)."""
        return rearrange(self.proj(x), "b d h w -> b h w d")


class SpatialBranch(nn.Module):
    """Learnable position embedding, pre-norm transformer encoder layers and a final LayerNorm."""

    def __init__(self, config: TsfMicroConfig) -> None:
        super().__init__()
        dim = config.embed_dim
        self.pos_embed = nn.Parameter(torch.zeros(1, config.grid_size, config.grid_size, dim))
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        layer = nn.TransformerEncoderLayer(
            dim, config.spatial_heads, dim_feedforward=round(dim * config.mlp_ratio),
            dropout=config.dropout, activation="gelu", batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, config.spatial_layers,
                                             enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)

    def forward(self, tokens: torch.Tensor, inject: torch.Tensor | None = None) -> torch.Tensor:
        """tokens: (B, G, G, D) patch embeddings → (B, G, G, D); ``inject`` is added to them."""
        grid_h = tokens.shape[1]
        x = tokens + self.pos_embed
        if inject is not None:
            x = x + inject
        x = rearrange(x, "b h w d -> b (h w) d")
        x = self.norm(self.encoder(x))  # (B, G*G, D)
        return rearrange(x, "b (h w) d -> b h w d", h=grid_h)


class ClassifierHead(nn.Module):
    """Per-position FC, LayerNorm, Swish, average over positions, dropout, linear → logits."""

    def __init__(self, dim: int, width: int, n_classes: int, dropout: float) -> None:
        super().__init__()
        self.proj = nn.Linear(dim, width)
        self.norm = nn.LayerNorm(width)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(width, n_classes)

    def forward(self, fused: torch.Tensor) -> torch.Tensor:
        """fused: (B, G, G, D) → logits (B, E)."""
        x = F.silu(self.norm(self.proj(fused)))  # (B, G, G, width)
        pooled = x.mean(dim=(1, 2))  # (B, width)
        return self.classifier(self.dropout(pooled))


# --- the model ------------------------------------------------------------------------------


class TsfMicro(nn.Module):
    """TSFmicro interval recogniser: onset and apex crops → emotion logits.

    ``forward(onset, apex)``: two (B, 3, S, S) float32 standardised RGB tensors (see the module
    docstring) → logits (B, E) float32, E = ``len(config.class_names)``.
    """

    def __init__(self, config: TsfMicroConfig) -> None:
        super().__init__()
        self.config = config
        dim, early = config.embed_dim, config.fusion == "early"
        self.temporal_stem = ConvStem(6 if early else 3, config.widths[0])
        self.temporal = TemporalBranch(config)
        if early:
            self.spatial_embed = PatchEmbed(config.widths[0], dim, GRID_STRIDE // STEM_STRIDE)
        else:
            self.spatial_embed = PatchEmbed(3, dim, GRID_STRIDE)
        self.spatial = SpatialBranch(config)
        self.head = ClassifierHead(dim, config.head_width, config.n_classes, config.dropout)
        self.apply(_init_weights)

    @classmethod
    def from_config(cls, config: TsfMicroConfig) -> TsfMicro:
        """Build a freshly initialised model from its config."""
        return cls(config)

    def forward(self, onset: torch.Tensor, apex: torch.Tensor) -> torch.Tensor:
        """onset, apex: (B, 3, S, S) float32 → logits (B, E) float32."""
        self._check_inputs(onset, apex)
        difference = apex - onset
        fusion = self.config.fusion
        if fusion == "early":
            stem = self.temporal_stem(torch.cat([difference, onset], dim=1))  # (B, D0, S/4, S/4)
            fused = self.temporal(stem) + self.spatial(self.spatial_embed(stem))
        elif fusion == "late":
            temporal = self.temporal(self.temporal_stem(difference))  # (B, G, G, D)
            fused = temporal + self.spatial(self.spatial_embed(onset))
        elif fusion == "t2s":
            temporal = self.temporal(self.temporal_stem(difference))  # (B, G, G, D)
            fused = self.spatial(self.spatial_embed(onset), inject=temporal)
        else:  # s2t
            spatial = self.spatial(self.spatial_embed(onset))  # (B, G, G, D)
            fused = self.temporal(self.temporal_stem(difference), inject=spatial)
        return self.head(fused)

    def _check_inputs(self, onset: torch.Tensor, apex: torch.Tensor) -> None:
        size = self.config.image_size
        dtype = self.spatial_embed.proj.weight.dtype  # float32 unless the model was cast
        expected = f"(B, 3, {size}, {size}) {str(dtype).removeprefix('torch.')}"
        for name, frame in (("onset", onset), ("apex", apex)):
            if not isinstance(frame, torch.Tensor) or frame.dtype != dtype:
                raise ValueError(f"{name} must be a {expected} tensor, got {type(frame).__name__}"
                                 f" {getattr(frame, 'dtype', '')}")
            if frame.ndim != 4 or tuple(frame.shape[1:]) != (3, size, size):
                raise ValueError(f"{name} must be {expected}, got shape {tuple(frame.shape)}")
        if onset.shape != apex.shape:
            raise ValueError(f"onset {tuple(onset.shape)} and apex {tuple(apex.shape)} must match"
                             f" ({expected})")


def _init_weights(module: nn.Module) -> None:
    """Truncated-normal linear weights with zero bias; LayerNorm to identity."""
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


# --- inference helpers ----------------------------------------------------------------------


def preprocess_pair(onset_bgr: np.ndarray, apex_bgr: np.ndarray,
                    config: TsfMicroConfig | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Two aligned (H, W, 3) uint8 BGR face crops → the model's (3, S, S) float32 inputs.

    Each crop is resized to ``config.image_size`` (area interpolation when shrinking, bilinear
    when enlarging), converted to RGB in [0, 1] and standardised with ``pixel_mean`` /
    ``pixel_std``. Stack or ``unsqueeze(0)`` the results for :meth:`TsfMicro.forward`.
    """
    config = config or TsfMicroConfig()
    return _preprocess_crop(onset_bgr, "onset", config), _preprocess_crop(apex_bgr, "apex", config)


def _preprocess_crop(crop_bgr: np.ndarray, name: str, config: TsfMicroConfig) -> torch.Tensor:
    crop_bgr = np.asarray(crop_bgr)
    if crop_bgr.dtype != np.uint8 or crop_bgr.ndim != 3 or crop_bgr.shape[2] != 3 \
            or min(crop_bgr.shape[:2]) == 0:
        raise ValueError(f"{name} crop must be an (H, W, 3) uint8 BGR image, "
                         f"got {crop_bgr.dtype} array of shape {crop_bgr.shape}")
    size = config.image_size
    shrinking = crop_bgr.shape[0] * crop_bgr.shape[1] > size * size
    resized = cv2.resize(crop_bgr, (size, size),
                         interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    rgb = resized[:, :, ::-1].astype(np.float32) / 255.0  # (S, S, 3)
    mean = np.asarray(config.pixel_mean, dtype=np.float32)
    std = np.asarray(config.pixel_std, dtype=np.float32)
    standardised = (rgb - mean) / std
    return torch.from_numpy(np.ascontiguousarray(standardised.transpose(2, 0, 1)))  # (3, S, S)


def predict_interval(model: TsfMicro, onset_crop: np.ndarray,
                     apex_crop: np.ndarray) -> dict[str, float]:
    """Class probabilities (softmax) of one interval from its onset and apex BGR uint8 crops.

    Runs in eval mode without gradients on the model's device and restores its training flag.
    Returns ``{class_name: probability}`` in ``config.class_names`` order, summing to 1.
    """
    onset, apex = preprocess_pair(onset_crop, apex_crop, model.config)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            logits = model(onset[None].to(device), apex[None].to(device))  # (1, E)
            probabilities = torch.softmax(logits.float(), dim=-1)[0].cpu().tolist()
    finally:
        model.train(was_training)
    return {name: float(p) for name, p in zip(model.config.class_names, probabilities,
                                               strict=True)}

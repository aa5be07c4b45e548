"""Training ME-TST / ME-TST+ on labelled traces: losses, optimiser, epochs, resumable state.

The recipe is the official code's (``zizheng-guo/ME-TST``: ``main.py`` and ``train.py``):

- loss ``0.9 · MSE(spot) + 0.1 · CE(recog)``; the cross-entropy's class weights are
  scikit-learn's "balanced" weights ``n / (K · n_c)`` over the training frames' targets, and the
  neutral class's weight is multiplied by 6 (their feature-level synergy; a factor of 0 is their
  "without synergy" ablation, strategy 0);
- Adam, ``OneCycleLR`` with ``max_lr = lr`` over all steps; 50 epochs, ``lr = 3e-4``, batch
  256 on CAS(ME)^3 (32 on SAMM-LV, with a background ratio of 0.5): :meth:`TrainConfig.for_data`.

Differences, on purpose: the losses skip masked frames (no face, padding, ignored macros), the
cross-entropy ignores frames whose emotion is unknown, and crops are re-drawn every epoch
(:mod:`training.sequences`).

Determinism: the model is initialised under ``torch.manual_seed(seed)``; epoch ``e`` draws its
crops from ``numpy.random.default_rng([seed, e])`` and seeds torch (dropout, stochastic depth)
with ``seed · 100003 + e``, so the same seed gives the same weights on the CPU, and a run resumed
from an epoch checkpoint (:func:`train_model` with ``state_path``) ends with the weights of an
uninterrupted one. On CUDA the forward runs under ``torch.autocast`` (float16) with a
``GradScaler``.
"""

from __future__ import annotations

import contextlib
import math
import os
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from core.config_dict import checked_config_values
from core.postprocess import PostprocessConfig
from core.progress import CancelToken
from training.labels import IGNORE_INDEX, LabelConfig
from training.sequences import (
    Batch,
    CropConfig,
    LabeledSequence,
    batch_indices,
    make_batch,
    sample_crops,
)

__all__ = ["TRAINABLE_MODELS", "MODEL_SIZES", "LossConfig", "TrainConfig", "TrainResult",
           "build_model", "class_weights", "resolve_device", "train_model", "model_roi_set"]

#: Per-frame models this trainer trains → the ROI set their features use.
TRAINABLE_MODELS: dict[str, str] = {"metst": "metst", "metst_plus": "metst_plus"}
#: Model size presets → config overrides per model. "paper": the papers' sizes (for a GPU;
#: a paper-sized ME-TST+ takes minutes per batch on a 2-core CPU); "small": one block of
#: width 32, trains on a CPU in minutes (the size measured in docs/results.md); "tiny": tests.
MODEL_SIZES: dict[str, dict[str, dict[str, Any]]] = {
    "paper": {"metst": {}, "metst_plus": {}},
    "small": {"metst": {"d_model": 32, "n_layers": 2, "d_state": 8},
              "metst_plus": {"d_model": 32, "n_blocks": 1, "layers_per_block": 1,
                             "d_state": 8}},
    "tiny": {"metst": {"d_model": 16, "n_layers": 1, "d_state": 4},
             "metst_plus": {"d_model": 16, "n_blocks": 1, "layers_per_block": 1,
                            "d_state": 4}},
}
_TORCH_SEED_STRIDE = 100003


@dataclass(frozen=True)
class LossConfig:
    """``spot_weight · MSE + recog_weight · CE`` with balanced class weights.

    Attributes:
        spot_weight, recog_weight: the two terms' weights (official 0.9 and 0.1).
        neutral_weight_factor: multiplies the neutral class's balanced weight (official 6;
            0 reproduces the "without feature-level synergy" ablation).
    """

    spot_weight: float = 0.9
    recog_weight: float = 0.1
    neutral_weight_factor: float = 6.0

    def __post_init__(self) -> None:
        for name in ("spot_weight", "recog_weight", "neutral_weight_factor"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"LossConfig.{name} must be >= 0, got {value!r}")

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a trained model (stored in its checkpoint's training summary).

    Attributes:
        model: ``"metst"`` or ``"metst_plus"``.
        model_config: overrides of the model's config (e.g. ``{"d_model": 64}``); the input
            channels and classes come from the data.
        epochs, lr, batch_size: optimisation (official: 50, 3e-4, 256 on CAS(ME)^3).
        weight_decay: Adam's L2 penalty (official 0).
        crops: how crops are cut (:class:`~training.sequences.CropConfig`).
        labels: how intervals become targets (:class:`~training.labels.LabelConfig`).
        loss: the loss weights.
        postprocess: how the evaluation turns curves into intervals (``k_p`` is set per fold
            from its training subjects).
        iou_threshold: evaluation IoU (MEGC 0.5).
        seed: the random seed.
    """

    model: str = "metst_plus"
    model_config: Mapping[str, Any] = field(default_factory=dict)
    epochs: int = 50
    lr: float = 3e-4
    batch_size: int = 256
    weight_decay: float = 0.0
    crops: CropConfig = field(default_factory=CropConfig)
    labels: LabelConfig = field(default_factory=LabelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    postprocess: PostprocessConfig = field(default_factory=PostprocessConfig)
    iou_threshold: float = 0.5
    seed: int = 0

    def __post_init__(self) -> None:
        if self.model not in TRAINABLE_MODELS:
            raise ValueError(f"model must be one of {sorted(TRAINABLE_MODELS)}, "
                             f"got {self.model!r}")
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or int(value) != value or value < 1:
                raise ValueError(f"TrainConfig.{name} must be a positive integer, got {value!r}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"TrainConfig.lr must be > 0, got {self.lr!r}")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise ValueError(f"TrainConfig.weight_decay must be >= 0, got {self.weight_decay!r}")
        if not 0 < self.iou_threshold <= 1:
            raise ValueError(f"TrainConfig.iou_threshold must be in (0, 1], "
                             f"got {self.iou_threshold!r}")
        if isinstance(self.seed, bool) or int(self.seed) != self.seed or self.seed < 0:
            raise ValueError(f"TrainConfig.seed must be an integer >= 0, got {self.seed!r}")
        object.__setattr__(self, "model_config", dict(self.model_config))

    @classmethod
    def for_data(cls, kind: str, **overrides: Any) -> TrainConfig:
        """The official settings for a dataset kind, with ``overrides`` applied.

        ``casme3``: batch 256, background ratio 4 (``main.py``). ``samm_lv``: batch 32, ratio
        0.5. ``project`` / ``synthetic`` (a few subjects, a few hundred MEs): SAMM-LV's batch
        of 32, CAS(ME)^3's ratio of 4, and ``lr = 3e-3``: with 3e-4 the models had not
        learnt to spot after 50 epochs of such a set (docs/results.md).
        """
        base = {"casme3": cls(),
                "samm_lv": cls(batch_size=32, crops=CropConfig(background_ratio=0.5)),
                "project": cls(batch_size=32, lr=3e-3),
                "synthetic": cls(batch_size=32, lr=3e-3)}
        if kind not in base:
            raise ValueError(f"unknown data kind {kind!r}; expected one of {sorted(base)}")
        return replace(base[kind], **overrides)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-safe dict (nested configs as dicts)."""
        return {"model": self.model, "model_config": dict(self.model_config),
                "epochs": self.epochs, "lr": self.lr, "batch_size": self.batch_size,
                "weight_decay": self.weight_decay, "crops": self.crops.to_dict(),
                "labels": self.labels.to_dict(), "loss": self.loss.to_dict(),
                "postprocess": self.postprocess.to_dict(), "iou_threshold": self.iou_threshold,
                "seed": self.seed}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise ``ValueError``."""
        values = checked_config_values(cls, data)
        nested = {"crops": CropConfig.from_dict, "labels": LabelConfig.from_dict,
                  "loss": lambda d: LossConfig(**d),
                  "postprocess": PostprocessConfig.from_dict}
        for name, build in nested.items():
            if name in values:
                values[name] = build(values[name])
        return cls(**values)


@dataclass
class TrainResult:
    """A trained model and how its training went.

    Attributes:
        model: the trained model (eval mode, on the CPU).
        losses: mean training loss of every epoch.
        class_weights: the cross-entropy's class weights (neutral last).
        resumed_from_epoch: epochs already done when this call started (0: a fresh start).
    """

    model: nn.Module
    losses: list[float]
    class_weights: list[float]
    resumed_from_epoch: int = 0


def model_roi_set(model_name: str) -> str:
    """The ROI set a trainable model reads (``metst``: 5 ROIs, ``metst_plus``: 18)."""
    if model_name not in TRAINABLE_MODELS:
        raise ValueError(f"model must be one of {sorted(TRAINABLE_MODELS)}, got {model_name!r}")
    return TRAINABLE_MODELS[model_name]


def build_model(config: TrainConfig, in_channels: int, class_names: Sequence[str]) -> nn.Module:
    """A freshly initialised ME-TST / ME-TST+ for ``in_channels`` traces and ``class_names``."""
    overrides = {**config.model_config, "in_channels": in_channels,
                 "n_classes": len(class_names), "class_names": tuple(class_names)}
    if config.model == "metst":
        from core.models.metst import MeTst, MeTstConfig

        return MeTst.from_config(MeTstConfig.from_dict(overrides))
    from core.models.metst_plus import MeTstPlus, MeTstPlusConfig

    return MeTstPlus.from_config(MeTstPlusConfig.from_dict(overrides))


def resolve_device(name: str) -> torch.device:
    """``"auto"`` → CUDA when available, else the CPU; ``"cuda"`` without CUDA is an error."""
    if name not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device must be auto, cpu or cuda, got {name!r}")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA device is available (use auto or cpu)")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def class_weights(sequences: Sequence[LabeledSequence], n_classes: int,
                  neutral_weight_factor: float, crops: Sequence[Any] | None = None) -> np.ndarray:
    """(K,) float32 balanced weights ``n / (K · n_c)`` over the targets, neutral × factor.

    Counts the recognition targets of ``crops`` (their frames, as the official code counts its
    windows), or of every frame when ``crops`` is None; ignored frames do not count. A class
    with no frame gets weight 0 (it never is a target).
    """
    counts = np.zeros(n_classes, dtype=np.float64)
    spans = crops if crops is not None else [
        _WholeSequence(k, 0, seq.n_frames) for k, seq in enumerate(sequences)]
    for span in spans:
        targets = sequences[span.sequence_idx].labels.recog[span.start:span.start + span.length]
        counts += np.bincount(targets[targets != IGNORE_INDEX], minlength=n_classes)[:n_classes]
    total = counts.sum()
    weights = np.where(counts > 0, total / (n_classes * np.maximum(counts, 1)), 0.0)
    weights[-1] *= neutral_weight_factor
    return weights.astype(np.float32)


@dataclass(frozen=True)
class _WholeSequence:
    sequence_idx: int
    start: int
    length: int


def _losses(spot: Tensor, logits: Tensor, batch: dict[str, Tensor], weights: Tensor,
            loss: LossConfig) -> Tensor:
    """Masked ``spot_weight · MSE + recog_weight · weighted CE`` of one batch (a scalar)."""
    mask = batch["mask"].float()                                             # (B, L)
    spot_loss = ((spot.float() - batch["spot"]) ** 2 * mask).sum() / mask.sum().clamp(min=1)
    targets = batch["recog"].reshape(-1)                                     # (B·L,)
    per_frame = F.cross_entropy(logits.float().reshape(targets.shape[0], -1), targets,
                                weight=weights, ignore_index=IGNORE_INDEX, reduction="none")
    kept = targets != IGNORE_INDEX
    denominator = weights[targets[kept]].sum()
    recog_loss = per_frame.sum() / denominator if denominator > 0 else per_frame.sum() * 0.0
    return loss.spot_weight * spot_loss + loss.recog_weight * recog_loss


def _to_device(batch: Batch, device: torch.device) -> dict[str, Tensor]:
    return {"traces": torch.from_numpy(batch.traces).to(device),
            "spot": torch.from_numpy(batch.spot).to(device),
            "recog": torch.from_numpy(batch.recog).to(device),
            "mask": torch.from_numpy(batch.mask).to(device)}


def _epoch_rng(seed: int, epoch: int, config: CropConfig) -> np.random.Generator:
    """The crop generator of ``epoch`` (epoch 0's for every epoch without resampling)."""
    return np.random.default_rng([seed, epoch if config.resample_each_epoch else 0])


class _Optimisation:
    """Model, Adam, one-cycle schedule and AMP scaler: the state an epoch checkpoint keeps."""

    def __init__(self, model: nn.Module, config: TrainConfig, steps_per_epoch: int,
                 device: torch.device) -> None:
        self.model = model.to(device)
        self.device = device
        self.optimizer = torch.optim.Adam(model.parameters(), lr=config.lr,
                                          weight_decay=config.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.OneCycleLR(
            self.optimizer, max_lr=config.lr, epochs=config.epochs,
            steps_per_epoch=max(1, steps_per_epoch))
        self.amp = device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)

    def step(self, batch: dict[str, Tensor], weights: Tensor, loss: LossConfig) -> float:
        self.optimizer.zero_grad(set_to_none=True)
        with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.amp):
            spot, logits = self.model(batch["traces"])
        value = _losses(spot, logits, batch, weights, loss)
        self.scaler.scale(value).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        return float(value.detach())

    def state(self, epoch: int, losses: list[float]) -> dict[str, Any]:
        return {"epoch": epoch, "losses": list(losses),
                "model": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(), "scaler": self.scaler.state_dict()}

    def load(self, state: Mapping[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])


def _save_state(state: dict[str, Any], path: Path) -> None:
    """``torch.save`` atomically: a kill mid-write leaves the previous epoch's state."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        torch.save(state, tmp)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _load_state(path: Path | None, fingerprint: dict[str, Any]) -> dict[str, Any] | None:
    """The epoch state at ``path`` if it exists and belongs to this run (else None)."""
    if path is None or not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:          # a truncated or foreign file: start the fold afresh
        return None
    return state if state.get("fingerprint") == fingerprint else None


def train_model(sequences: Sequence[LabeledSequence], config: TrainConfig, *,
                class_names: Sequence[str], initial_state: Mapping[str, Tensor] | None = None,
                device: torch.device | str = "cpu", state_path: Path | None = None,
                on_epoch: Callable[[int, int, float], None] | None = None,
                cancel: CancelToken | None = None) -> TrainResult:
    """Train one model on ``sequences`` (module docstring for the recipe).

    Args:
        sequences: the training videos' traces and targets (all with the same C).
        config: the training settings.
        class_names: the E + 1 output classes, neutral last.
        initial_state: weights to start from (fine-tuning a base checkpoint).
        device: where to train.
        state_path: epoch checkpoint; written after every epoch, and read at the start when it
            belongs to the same run (same config and data size), which then resumes after its
            last epoch. Deleted when training ends.
        on_epoch: called with ``(epoch, epochs, mean loss)`` after each epoch (1-based).
        cancel: checked between batches.

    Returns:
        The trained model (eval mode, CPU) and its losses.
    """
    if not sequences:
        raise ValueError("no training videos")
    channels = {seq.values.shape[0] for seq in sequences}
    if len(channels) != 1:
        raise ValueError(f"training videos have different channel counts {sorted(channels)}")
    device = torch.device(device)
    cuda_devices = [torch.cuda.current_device()] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda_devices):     # the caller's RNG stays untouched
        return _train(sequences, config, class_names, channels.pop(), initial_state, device,
                      state_path, on_epoch, cancel)


def _train(sequences: Sequence[LabeledSequence], config: TrainConfig,
           class_names: Sequence[str], in_channels: int,
           initial_state: Mapping[str, Tensor] | None, device: torch.device,
           state_path: Path | None, on_epoch: Callable[[int, int, float], None] | None,
           cancel: CancelToken | None) -> TrainResult:
    """:func:`train_model` after the checks, under a forked torch RNG."""
    torch.manual_seed(config.seed)
    model = build_model(config, in_channels, class_names)
    if initial_state is not None:
        model.load_state_dict(initial_state)
    first_crops = sample_crops(sequences, config.crops, _epoch_rng(config.seed, 0, config.crops))
    if not first_crops:
        raise ValueError("the training videos give no crops")
    weights_np = class_weights(sequences, len(class_names), config.loss.neutral_weight_factor,
                               first_crops)
    steps = math.ceil(len(first_crops) / config.batch_size)
    optimisation = _Optimisation(model, config, steps, device)
    fingerprint = {"config": config.to_dict(), "n_sequences": len(sequences),
                   "n_frames": int(sum(seq.n_frames for seq in sequences))}
    losses: list[float] = []
    start_epoch = 0
    state = _load_state(state_path, fingerprint)
    if state is not None:
        optimisation.load(state)
        losses, start_epoch = list(state["losses"]), int(state["epoch"])
    weights = torch.from_numpy(weights_np).to(device)
    for epoch in range(start_epoch, config.epochs):
        losses.append(_run_epoch(optimisation, sequences, config, epoch, weights, steps, cancel))
        if state_path is not None:
            _save_state({**optimisation.state(epoch + 1, losses), "fingerprint": fingerprint},
                        state_path)
        if on_epoch is not None:
            on_epoch(epoch + 1, config.epochs, losses[-1])
    model = optimisation.model.cpu().eval()
    return TrainResult(model, losses, weights_np.tolist(), start_epoch)


def _run_epoch(optimisation: _Optimisation, sequences: Sequence[LabeledSequence],
               config: TrainConfig, epoch: int, weights: Tensor, max_steps: int,
               cancel: CancelToken | None) -> float:
    """One epoch over freshly drawn crops; returns the mean batch loss.

    The number of steps is capped at the one-cycle schedule's steps per epoch (drawn from
    epoch 0): a later epoch with more crops leaves its last batches out.
    """
    rng = _epoch_rng(config.seed, epoch, config.crops)
    crops = sample_crops(sequences, config.crops, rng)
    torch.manual_seed(config.seed * _TORCH_SEED_STRIDE + epoch)
    batch_rng = np.random.default_rng([config.seed, epoch, 1])
    optimisation.model.train()
    values = []
    for indices in batch_indices(crops, config.batch_size, batch_rng)[:max_steps]:
        if cancel is not None:
            cancel.raise_if_cancelled()
        batch = make_batch(sequences, [crops[k] for k in indices], batch_rng,
                           config.crops.amplitude_jitter, config.crops.mirror_probability)
        values.append(optimisation.step(_to_device(batch, optimisation.device), weights,
                                        config.loss))
    return float(np.mean(values)) if values else float("nan")

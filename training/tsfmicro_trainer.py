"""Training, evaluation and leave-one-subject-out runs of the TSFmicro interval recogniser.

:func:`train_tsfmicro` fits :class:`~core.models.tsfmicro.TsfMicro` on the aligned (onset, apex)
crop pairs of :mod:`training.tsfmicro_data` and writes ``out_dir/model.pt``. The epoch kept is
chosen on a validation split of the *training* subjects (whole subjects, never a test subject),
by validation UF1 (then UAR). Training uses a class-balanced cross-entropy (weight n / (E · n_c)),
AdamW (no weight decay on biases, norms and position embeddings) with a per-step cosine or
one-cycle schedule, and per-pair augmentation shared by onset and apex: random translation,
horizontal flip, mild brightness change. On CUDA it runs in mixed precision (bfloat16 where
supported, else float16 with gradient scaling); on the CPU in float32, deterministic for a seed.

TSFmicro's paper fixes the model (224 × 224 crops, the defaults of
:class:`~core.models.tsfmicro.TsfMicroConfig`) and the three-class protocol; its optimiser
settings could not be confirmed, so :class:`TsfMicroTrainConfig` uses the usual ones for
transformer training on small micro-expression sets (AdamW, lr 1e-4, weight decay 0.05,
batch 32, 100 epochs, cosine decay).

:func:`evaluate_tsfmicro` scores a checkpoint on pairs (UF1/UAR/confusion by
:func:`core.metrics.evaluate_recognition`); :func:`loso_tsfmicro` runs one fold per subject and
pools the predictions of all folds into one report (``out_dir/report.json``).
"""

from __future__ import annotations

import contextlib
import json
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from core.atomic import atomic_write_text
from core.config_dict import config_from_dict
from core.datasets.base import Dataset
from core.metrics import RecognitionReport, evaluate_recognition
from core.models.checkpoint import load_checkpoint, read_checkpoint_meta, save_checkpoint
from core.models.tsfmicro import TsfMicro, TsfMicroConfig
from core.progress import CancelToken, ProgressCallback, report
from training.tsfmicro_data import (
    DEFAULT_CROP_JITTER,
    PairSet,
    build_pairs,
    center_views,
    margin_for,
    random_views,
    resolve_mapping,
)

__all__ = [
    "SCHEDULES",
    "DEVICES",
    "TsfMicroTrainConfig",
    "train_tsfmicro",
    "evaluate_tsfmicro",
    "loso_tsfmicro",
]

SCHEDULES: tuple[str, ...] = ("cosine", "onecycle")
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda")
_STAGE = "tsfmicro"
_LOSO_STAGE = "tsfmicro-loso"
_PAIRS_FILE = "pairs.npz"
_CHECKPOINT_FILE = "model.pt"
_EVAL_BATCH = 64
# Set on TsfMicroTrainConfig itself, or taken from the emotion mapping: not model overrides.
_NOT_OVERRIDABLE = ("image_size", "class_names")


@dataclass(frozen=True)
class TsfMicroTrainConfig:
    """How :func:`train_tsfmicro` trains (stored in every checkpoint's training summary).

    Attributes:
        epochs: passes over the training pairs.
        lr: peak AdamW learning rate.
        batch_size: pairs per step.
        weight_decay: AdamW decoupled weight decay (not on biases, norms, position embeddings).
        val_fraction: fraction of the TRAINING subjects held out (whole subjects) to choose the
            epoch; 0, or a single subject, trains on all and keeps the last epoch.
        image_size: model input side S (a multiple of 16; 224 in the paper).
        model: :class:`TsfMicroConfig` overrides (e.g. ``{"fusion": "t2s"}``); ``image_size`` and
            ``class_names`` are not among them (set here and by ``mapping``).
        mapping: emotion mapping name (``"three_class"``: negative, positive, surprise;
            ``"four_class"`` adds others).
        crop_jitter: largest random translation as a fraction of S; pairs are built with this
            much context around the face crop.
        flip: random horizontal flips.
        brightness_jitter: brightness factors are drawn from ``[1 − b, 1 + b]``.
        schedule: ``"cosine"`` (decay to 0 per step) or ``"onecycle"`` (warm-up then anneal).
        amp: mixed precision on CUDA (ignored on the CPU).
        seed: seeds initialisation, the validation split, shuffling and augmentation.
        device: ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda"``.
    """

    epochs: int = 100
    lr: float = 1e-4
    batch_size: int = 32
    weight_decay: float = 0.05
    val_fraction: float = 0.2
    image_size: int = 224
    model: dict[str, Any] = field(default_factory=dict)
    mapping: str = "three_class"
    crop_jitter: float = DEFAULT_CROP_JITTER
    flip: bool = True
    brightness_jitter: float = 0.1
    schedule: str = "cosine"
    amp: bool = True
    seed: int = 0
    device: str = "auto"

    def __post_init__(self) -> None:
        checks = {
            "epochs": self.epochs >= 1, "lr": self.lr > 0, "batch_size": self.batch_size >= 1,
            "weight_decay": self.weight_decay >= 0, "val_fraction": 0 <= self.val_fraction < 1,
            "crop_jitter": 0 <= self.crop_jitter < 0.5,
            "brightness_jitter": 0 <= self.brightness_jitter < 1,
            "schedule": self.schedule in SCHEDULES, "device": self.device in DEVICES,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ValueError("invalid TsfMicroTrainConfig " + ", ".join(
                f"{name}={getattr(self, name)!r}" for name in bad) + " (see its docstring)")
        fixed = sorted(set(self.model) & set(_NOT_OVERRIDABLE))
        if fixed:
            raise ValueError(f"model overrides may not set {fixed}: image_size is a "
                             "TsfMicroTrainConfig field and class_names come from the mapping")
        plain = {key: list(value) if isinstance(value, tuple) else value
                 for key, value in dict(self.model).items()}
        object.__setattr__(self, "model", plain)
        self.model_config()  # validates the mapping and the overrides now

    def model_config(self, class_names: Sequence[str] | None = None) -> TsfMicroConfig:
        """The :class:`TsfMicroConfig` trained: overrides, ``image_size`` and the classes."""
        classes = resolve_mapping(self.mapping).classes if class_names is None else class_names
        return TsfMicroConfig.from_dict(
            {**self.model, "image_size": self.image_size, "class_names": list(classes)})

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TsfMicroTrainConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise ValueError."""
        return config_from_dict(cls, data)


# --- data ------------------------------------------------------------------------------------


def _pairs_for(dataset: Dataset | PairSet, config: TsfMicroTrainConfig, out_dir: Path,
               progress: ProgressCallback | None, cancel: CancelToken | None) -> PairSet:
    """The dataset's pairs (built, or reused from ``out_dir/pairs.npz``), checked against config."""
    mapping = resolve_mapping(config.mapping)
    if isinstance(dataset, PairSet):
        pairs = dataset
    else:
        pairs = build_pairs(dataset, mapping, config.image_size,
                            margin_px=margin_for(config.image_size, config.crop_jitter),
                            cache_path=out_dir / _PAIRS_FILE, progress=progress, cancel=cancel)
    if pairs.class_names != mapping.classes:
        raise ValueError(f"the pairs' classes {list(pairs.class_names)} are not those of the "
                         f"{config.mapping!r} mapping {list(mapping.classes)}")
    return pairs


def _split_validation(subjects: Sequence[str], val_fraction: float,
                      seed: int) -> tuple[list[str], list[str]]:
    """(fit subjects, validation subjects): a seeded random ``val_fraction`` of whole subjects,
    at least one each side when there are two or more subjects and ``val_fraction > 0``."""
    n_subjects = len(subjects)
    if val_fraction <= 0 or n_subjects < 2:
        return list(subjects), []
    n_val = min(max(1, round(val_fraction * n_subjects)), n_subjects - 1)
    order = np.random.default_rng(seed).permutation(n_subjects)
    val = {subjects[k] for k in order[:n_val]}
    return [s for s in subjects if s not in val], [s for s in subjects if s in val]


def _training_subjects(pairs: PairSet, subjects: Sequence[str] | None) -> list[str]:
    """The requested subjects that have pairs (all subjects with pairs by default)."""
    available = pairs.subject_names
    if subjects is None:
        chosen = available
    else:
        chosen = [s for s in dict.fromkeys(str(s) for s in subjects) if s in available]
    if not chosen:
        raise ValueError(f"no training pairs for subjects {list(subjects or [])}; subjects with "
                         f"pairs: {available}")
    return chosen


# --- tensors ---------------------------------------------------------------------------------


def _model_input(views_bgr: np.ndarray, config: TsfMicroConfig,
                 device: torch.device) -> torch.Tensor:
    """(B, S, S, 3) BGR in [0, 255] → (B, 3, S, S) float32 standardised RGB (as preprocess_pair)."""
    rgb = torch.from_numpy(np.ascontiguousarray(views_bgr[..., ::-1], dtype=np.float32))
    mean = torch.tensor(config.pixel_mean, dtype=torch.float32)
    std = torch.tensor(config.pixel_std, dtype=torch.float32)
    standardised = (rgb / 255.0 - mean) / std  # (B, S, S, 3)
    return standardised.permute(0, 3, 1, 2).contiguous().to(device)  # (B, 3, S, S)


def _pick_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for, but CUDA is not available")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _autocast(device: torch.device, amp: bool) -> contextlib.AbstractContextManager[Any]:
    """Mixed precision on CUDA (bfloat16 where supported, else float16); nothing on the CPU."""
    if device.type != "cuda" or not amp:
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast("cuda", dtype=dtype)


def _batches(indices: np.ndarray, batch_size: int) -> Iterator[np.ndarray]:
    for start in range(0, len(indices), batch_size):
        yield indices[start:start + batch_size]


def _predict(model: TsfMicro, pairs: PairSet, indices: np.ndarray, device: torch.device,
             amp: bool) -> np.ndarray:
    """(n,) int64 predicted class of the pairs at ``indices`` from their central crops."""
    model.eval()
    predictions = []
    with torch.inference_mode(), _autocast(device, amp):
        for batch in _batches(indices, _EVAL_BATCH):
            onset, apex = center_views(pairs, batch, model.config.image_size)
            logits = model(_model_input(onset, model.config, device),
                           _model_input(apex, model.config, device))  # (B, E)
            predictions.append(logits.argmax(dim=-1).cpu().numpy())
    return np.concatenate(predictions) if predictions else np.zeros(0, np.int64)


def _recognition(pairs: PairSet, indices: np.ndarray, predicted: np.ndarray,
                 class_names: Sequence[str]) -> RecognitionReport:
    """UF1/UAR of predicted class indices (into ``class_names``) against the pairs' labels."""
    truth = [pairs.class_names[label] for label in pairs.labels[indices]]
    return evaluate_recognition(
        zip(truth, (class_names[p] for p in predicted), strict=True), class_names)


# --- training --------------------------------------------------------------------------------


@dataclass
class _Run:
    """What one training run produced."""

    best_state: dict[str, torch.Tensor]
    best_epoch: int
    history: list[dict[str, Any]]


def _initial_model(config: TsfMicroTrainConfig, class_names: Sequence[str],
                   base_checkpoint: Path | None) -> TsfMicro:
    """A fresh model, or the base checkpoint's (its architecture and weights) to fine-tune."""
    if base_checkpoint is None:
        return TsfMicro.from_config(config.model_config(class_names))
    model, meta = load_checkpoint(base_checkpoint, expected_class_names=class_names)
    if meta.model_name != "tsfmicro" or not isinstance(model, TsfMicro):
        raise ValueError(f"{base_checkpoint}: a {meta.model_name} checkpoint, not TSFmicro")
    if model.config.image_size != config.image_size:
        raise ValueError(f"{base_checkpoint}: trained on {model.config.image_size}-px crops, "
                         f"but image_size is {config.image_size}")
    return model


def _optimiser(model: nn.Module, config: TsfMicroTrainConfig) -> torch.optim.AdamW:
    """AdamW without weight decay on biases, norm weights and the position embedding."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        (no_decay if param.ndim <= 1 or name.endswith("pos_embed") else decay).append(param)
    return torch.optim.AdamW([{"params": decay, "weight_decay": config.weight_decay},
                              {"params": no_decay, "weight_decay": 0.0}], lr=config.lr)


def _scheduler(optimiser: torch.optim.Optimizer, config: TsfMicroTrainConfig,
               total_steps: int) -> torch.optim.lr_scheduler.LRScheduler:
    if config.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=config.lr,
                                                   total_steps=total_steps)
    return torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=total_steps)


def _class_weights(pairs: PairSet, indices: np.ndarray) -> torch.Tensor:
    """(E,) float32 balanced weights n / (E · n_c); 0 for a class without training pairs."""
    counts = np.bincount(pairs.labels[indices], minlength=len(pairs.class_names))
    weights = np.where(counts > 0, len(indices) / (len(counts) * np.maximum(counts, 1)), 0.0)
    return torch.tensor(weights, dtype=torch.float32)


def _better(scores: dict[str, Any], best: dict[str, Any] | None) -> bool:
    """Higher validation UF1, then higher UAR (ties keep the earlier epoch)."""
    if best is None:
        return True
    return (scores["val_uf1"], scores["val_uar"]) > (best["val_uf1"], best["val_uar"])


class _Trainer:
    """One training run on fixed fit/validation indices (all randomness from ``seed``)."""

    def __init__(self, model: TsfMicro, pairs: PairSet, fit_idx: np.ndarray,
                 val_idx: np.ndarray, config: TsfMicroTrainConfig, seed: int,
                 device: torch.device) -> None:
        self.model = model.to(device)
        self.pairs, self.fit_idx, self.val_idx = pairs, fit_idx, val_idx
        self.config, self.device = config, device
        self.rng = np.random.default_rng(seed)
        self.optimiser = _optimiser(model, config)
        steps_per_epoch = math.ceil(len(fit_idx) / config.batch_size)
        self.scheduler = _scheduler(self.optimiser, config, config.epochs * steps_per_epoch)
        self.class_weights = _class_weights(pairs, fit_idx).to(device)
        use_scaler = (device.type == "cuda" and config.amp
                      and not torch.cuda.is_bf16_supported())
        self.scaler = torch.amp.GradScaler("cuda", enabled=use_scaler)

    def train_epoch(self, cancel: CancelToken | None) -> float:
        """One shuffled pass over the fit pairs; returns the mean training loss."""
        self.model.train()
        losses, max_shift = [], round(self.config.crop_jitter * self.config.image_size)
        model_config = self.model.config
        for batch in _batches(self.rng.permutation(self.fit_idx), self.config.batch_size):
            if cancel is not None:
                cancel.raise_if_cancelled()
            onset, apex = random_views(self.pairs, batch, self.rng, max_shift_px=max_shift,
                                       flip=self.config.flip,
                                       brightness=self.config.brightness_jitter,
                                       size=model_config.image_size)
            labels = torch.from_numpy(self.pairs.labels[batch]).to(self.device)
            with _autocast(self.device, self.config.amp):
                logits = self.model(_model_input(onset, model_config, self.device),
                                    _model_input(apex, model_config, self.device))  # (B, E)
                loss = F.cross_entropy(logits.float(), labels, weight=self.class_weights)
            self.optimiser.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimiser)
            self.scaler.update()
            self.scheduler.step()
            losses.append(float(loss.detach()))
        return float(np.mean(losses))

    def validate(self) -> tuple[float | None, float | None]:
        """(UF1, UAR) on the validation pairs, (None, None) without any."""
        if len(self.val_idx) == 0:
            return None, None
        predicted = _predict(self.model, self.pairs, self.val_idx, self.device, self.config.amp)
        scores = _recognition(self.pairs, self.val_idx, predicted, self.model.config.class_names)
        return scores.uf1, scores.uar

    def run(self, progress: ProgressCallback | None, cancel: CancelToken | None) -> _Run:
        """All epochs; keeps the weights of the best validation epoch (else the last)."""
        history: list[dict[str, Any]] = []
        best: dict[str, Any] | None = None
        best_state: dict[str, torch.Tensor] = {}
        epochs = self.config.epochs
        for epoch in range(1, epochs + 1):
            train_loss = self.train_epoch(cancel)
            val_uf1, val_uar = self.validate()
            scores = {"epoch": epoch, "train_loss": train_loss, "val_uf1": val_uf1,
                      "val_uar": val_uar}
            history.append(scores)
            if val_uf1 is None or _better(scores, best):
                best = scores
                best_state = {name: tensor.detach().to("cpu", copy=True)
                              for name, tensor in self.model.state_dict().items()}
            report(progress, _STAGE, epoch, epochs, _epoch_message(scores))
        return _Run(best_state, int(best["epoch"]) if best else epochs, history)


def _epoch_message(scores: Mapping[str, Any]) -> str:
    message = f"epoch {scores['epoch']}: loss {scores['train_loss']:.4f}"
    if scores["val_uf1"] is not None:
        message += f", val UF1 {scores['val_uf1']:.3f}, UAR {scores['val_uar']:.3f}"
    return message


def train_tsfmicro(dataset: Dataset | PairSet, config: TsfMicroTrainConfig, out_dir: Path, *,
                   subjects: Sequence[str] | None = None, seed: int | None = None,
                   progress: ProgressCallback | None = None, cancel: CancelToken | None = None,
                   base_checkpoint: Path | None = None) -> Path:
    """Train TSFmicro and write ``out_dir/model.pt``; returns its path.

    Args:
        dataset: a labelled dataset (its pairs are built, and cached as ``out_dir/pairs.npz``),
            or ready :class:`PairSet` pairs with the mapping's classes.
        config: training settings.
        out_dir: created if needed.
        subjects: the subjects to train on (default all with pairs); subjects without pairs
            are ignored (listed in the summary). The validation subjects are drawn from these.
        seed: overrides ``config.seed``.
        progress: reports ``("tsfmicro", epoch, epochs, message)`` after every epoch (and
            ``"tsfmicro-pairs"`` while building pairs).
        cancel: checked every batch; raises :class:`~core.progress.Cancelled` (no checkpoint).
        base_checkpoint: a TSFmicro checkpoint with the mapping's classes to fine-tune (its
            architecture replaces ``config.model``).

    Returns:
        ``out_dir / "model.pt"``; its training summary holds the config, subjects, pairs per
        class, validation UF1/UAR per epoch, the best epoch and the base checkpoint.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    seed = config.seed if seed is None else int(seed)
    pairs = _pairs_for(dataset, config, out_dir, progress, cancel)
    train_subjects = _training_subjects(pairs, subjects)
    fit_subjects, val_subjects = _split_validation(train_subjects, config.val_fraction, seed)
    fit_idx, val_idx = pairs.indices_of(fit_subjects), pairs.indices_of(val_subjects)
    device = _pick_device(config.device)
    cuda_devices = [torch.cuda.current_device()] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda_devices):
        torch.manual_seed(seed)
        model = _initial_model(config, pairs.class_names, base_checkpoint)
        run = _Trainer(model, pairs, fit_idx, val_idx, config, seed, device).run(progress, cancel)
    model.load_state_dict(run.best_state)
    best = run.history[run.best_epoch - 1]
    summary = {
        "config": config.to_dict(), "seed": seed, "device": device.type,
        "dataset": pairs.dataset_name, "subjects": train_subjects,
        "fit_subjects": fit_subjects, "val_subjects": val_subjects,
        "subjects_without_pairs": sorted(set(subjects or []) - set(train_subjects)),
        "n_pairs": {"fit": pairs.class_counts(fit_idx), "val": pairs.class_counts(val_idx)},
        "n_skipped": pairs.skipped_counts(), "history": run.history,
        "best_epoch": run.best_epoch, "best_val_uf1": best["val_uf1"],
        "best_val_uar": best["val_uar"],
        "base_checkpoint": None if base_checkpoint is None else str(base_checkpoint),
    }
    path = out_dir / _CHECKPOINT_FILE
    save_checkpoint(path, model.cpu(), model_name="tsfmicro", class_names=pairs.class_names,
                    fps=pairs.fps, roi_set=None, feature_params=_feature_params(pairs),
                    training_summary=summary)
    return path


def _feature_params(pairs: PairSet) -> dict[str, Any]:
    """What the model reads: aligned face crops, the onset's crop reused for the apex."""
    return {"input": "onset and apex face crops (BGR uint8)",
            "crop": "core.face_crop.crop_affine of the onset landmarks, used for both frames",
            "image_size": pairs.image_size}


# --- evaluation ------------------------------------------------------------------------------


def _load_tsfmicro(checkpoint: Path, device: torch.device) -> TsfMicro:
    model, meta = load_checkpoint(checkpoint, map_location=device)
    if meta.model_name != "tsfmicro" or not isinstance(model, TsfMicro):
        raise ValueError(f"{checkpoint}: a {meta.model_name} checkpoint, not TSFmicro")
    return model


def _prediction_rows(pairs: PairSet, predicted: np.ndarray,
                     class_names: Sequence[str]) -> list[dict[str, Any]]:
    return [{"subject": str(pairs.subjects[k]), "video": str(pairs.videos[k]),
             "onset_frame": int(pairs.onset_frames[k]),
             "apex_frame": int(pairs.apex_frames[k]),
             "label": pairs.class_names[pairs.labels[k]], "predicted": class_names[p]}
            for k, p in enumerate(predicted)]


def evaluate_tsfmicro(checkpoint: Path, pairs: PairSet, *, device: str = "auto") -> dict:
    """Recognition scores of a TSFmicro checkpoint on the central crops of ``pairs``.

    Ground truths are matched to the model's classes by name; a label the model does not know
    is excluded (``n_excluded_pairs``).

    Returns:
        :meth:`RecognitionReport.to_dict` (``uf1``, ``uar``, ``confusion`` rows truth / columns
        prediction, ``per_class``, …) plus ``accuracy``, ``checkpoint`` and ``predictions`` (one
        row per pair: subject, video, onset/apex frame, label, predicted).
    """
    torch_device = _pick_device(device)
    model = _load_tsfmicro(Path(checkpoint), torch_device)
    indices = np.arange(len(pairs))
    predicted = _predict(model, pairs, indices, torch_device, amp=True)
    class_names = model.config.class_names
    scores = _recognition_dict(_recognition(pairs, indices, predicted, class_names))
    return {**scores, "checkpoint": str(checkpoint),
            "predictions": _prediction_rows(pairs, predicted, class_names)}


def _recognition_dict(recognition: RecognitionReport) -> dict[str, Any]:
    """The report's dict plus plain accuracy (0 without pairs)."""
    n_correct = sum(truth == predicted for truth, predicted in recognition.pairs)
    return {**recognition.to_dict(),
            "accuracy": n_correct / recognition.n_pairs if recognition.n_pairs else 0.0}


def _fold_dir_name(subject: str) -> str:
    """A folder name for a subject (characters other than letters, digits, ``.-_`` → ``_``)."""
    return re.sub(r"[^\w.-]", "_", subject) or "_"


def loso_tsfmicro(dataset: Dataset | PairSet, config: TsfMicroTrainConfig, out_dir: Path, *,
                  progress: ProgressCallback | None = None,
                  cancel: CancelToken | None = None) -> dict:
    """Leave-one-subject-out TSFmicro: train without each subject, test on it, pool all folds.

    Pairs are built once (``out_dir/pairs.npz``); fold ``k`` trains with
    :func:`train_tsfmicro` on the other subjects (its validation split drawn from them only)
    into ``out_dir/folds/<subject>/model.pt``. Recognition is scored on the pooled predictions
    of all folds (never an average of fold scores).

    Returns:
        The report, also written to ``out_dir/report.json``: ``pooled`` (UF1, UAR, confusion …
        as :func:`evaluate_tsfmicro`), ``folds`` (subject, pairs, UF1, UAR, best epoch,
        checkpoint), ``config``, ``class_names``, ``n_pairs``, ``n_skipped`` and
        ``predictions``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    pairs = _pairs_for(dataset, config, out_dir, progress, cancel)
    subjects = pairs.subject_names
    if len(subjects) < 2:
        raise ValueError(f"leave-one-subject-out needs pairs of 2 or more subjects, got "
                         f"{subjects}")
    folds, rows = [], []
    for fold_idx, subject in enumerate(subjects):
        report(progress, _LOSO_STAGE, fold_idx, len(subjects), f"fold {subject}")
        others = [s for s in subjects if s != subject]
        checkpoint = train_tsfmicro(pairs, config, out_dir / "folds" / _fold_dir_name(subject),
                                    subjects=others, progress=progress, cancel=cancel)
        result = evaluate_tsfmicro(checkpoint, pairs.select(pairs.indices_of([subject])),
                                   device=config.device)
        summary = read_checkpoint_meta(checkpoint).training_summary
        folds.append({"subject": subject, "n_pairs": result["n_pairs"], "uf1": result["uf1"],
                      "uar": result["uar"], "accuracy": result["accuracy"],
                      "best_epoch": summary["best_epoch"],
                      "val_subjects": summary["val_subjects"], "checkpoint": str(checkpoint)})
        rows += result["predictions"]
    report(progress, _LOSO_STAGE, len(subjects), len(subjects), "done")
    pooled = evaluate_recognition(((row["label"], row["predicted"]) for row in rows),
                                  pairs.class_names)
    result = {"model": "tsfmicro", "protocol": "leave-one-subject-out",
              "dataset": pairs.dataset_name, "config": config.to_dict(),
              "class_names": list(pairs.class_names), "n_pairs": len(pairs),
              "n_skipped": pairs.skipped_counts(), "pooled": _recognition_dict(pooled),
              "folds": folds, "predictions": rows}
    atomic_write_text(out_dir / "report.json", json.dumps(result, indent=2))
    return result

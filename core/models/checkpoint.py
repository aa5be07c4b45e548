"""Model checkpoints: the weights of a ME-TST / ME-TST+ / TSFmicro model with what made them.

A checkpoint is ``torch.save`` of one plain dict::

    {"format": "metst-studio-checkpoint", "format_version": 1, "model_name": "metst",
     "config": {...}, "state_dict": {name: tensor}, "class_names": [...], "fps": 30.0,
     "roi_set": "metst", "feature_params": {...}, "training_summary": {...},
     "created": "2025-01-01T12:00:00+00:00"}

holding only tensors and plain data (dict, list, str, int, float, bool, None), so it loads with
``torch.load(..., weights_only=True)``: a checkpoint from a stranger cannot run code. Files are
written atomically (temporary file, fsync, rename), so a crash never leaves half a checkpoint
under the real name. Every loading problem — missing or corrupted file, a pickle with code, a
foreign format, an unknown model, a ROI set or class list that does not fit, weights that do not
match the config — raises :class:`CheckpointError` naming the file and the problem.

Models are found through :data:`MODEL_REGISTRY` and imported only when a checkpoint needs them.
Each registered config is a frozen dataclass with ``to_dict()`` / ``from_dict(d)``; each model
has ``from_config(config)`` and a ``config`` attribute.
"""

from __future__ import annotations

import contextlib
import importlib
import math
import os
import pickle
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_FORMAT_VERSION",
    "MODEL_REGISTRY",
    "CheckpointError",
    "CheckpointMeta",
    "save_checkpoint",
    "read_checkpoint_meta",
    "load_checkpoint",
]

CHECKPOINT_FORMAT = "metst-studio-checkpoint"
CHECKPOINT_FORMAT_VERSION = 1

#: Model name → (module, model class, config class), imported lazily.
MODEL_REGISTRY: dict[str, tuple[str, str, str]] = {
    "metst": ("core.models.metst", "MeTst", "MeTstConfig"),
    "metst_plus": ("core.models.metst_plus", "MeTstPlus", "MeTstPlusConfig"),
    "tsfmicro": ("core.models.tsfmicro", "TsfMicro", "TsfMicroConfig"),
}

_PathLike = str | os.PathLike[str]


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message names the file and what is wrong."""

    def __init__(self, path: _PathLike, problem: str) -> None:
        super().__init__(f"checkpoint {os.fspath(path)}: {problem}")
        self.path = Path(path)
        self.problem = problem


@dataclass(frozen=True)
class CheckpointMeta:
    """Everything in a checkpoint except the weights.

    Attributes:
        model_name: key of :data:`MODEL_REGISTRY`.
        config: the model config as a plain dict (``ConfigClass.from_dict`` rebuilds it).
        class_names: the emotion classes the model was trained on, in output order.
        fps: frame rate of the training features.
        roi_set: ROI set of the training features (``None`` for models that use none).
        feature_params: the feature-extraction parameters the model expects.
        training_summary: data and run summary (subjects, epochs, scores …).
        format_version: checkpoint format version.
        created: ISO-8601 UTC time of saving.
    """

    model_name: str
    config: dict[str, Any]
    class_names: list[str]
    fps: float
    roi_set: str | None
    feature_params: dict[str, Any]
    training_summary: dict[str, Any]
    format_version: int
    created: str


# --- saving ------------------------------------------------------------------------------------

def _plain(value: Any, where: str) -> Any:
    """``value`` as plain data ``weights_only`` loading accepts (tuples, numpy, paths converted)."""
    if isinstance(value, np.generic):  # before float: np.float64 is a float subclass
        return value.item()
    if value is None or isinstance(value, bool | int | float | str | torch.Tensor):
        return value
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, Mapping):
        plain = {}
        for key, item in value.items():
            if not isinstance(key, str | int) or isinstance(key, bool):
                raise ValueError(f"{where}: keys must be str or int, got {key!r}")
            plain[key] = _plain(item, f"{where}[{key!r}]")
        return plain
    if isinstance(value, list | tuple):
        return [_plain(item, f"{where}[{i}]") for i, item in enumerate(value)]
    raise ValueError(f"{where}: a {type(value).__name__} cannot be stored in a checkpoint")


def _registered(model_name: str) -> tuple[type, type]:
    """(model class, config class) of a registered name; ``KeyError``/``ImportError`` if not."""
    module_name, model_attr, config_attr = MODEL_REGISTRY[model_name]
    module = importlib.import_module(module_name)
    return getattr(module, model_attr), getattr(module, config_attr)


def _fsync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable (POSIX; a no-op where directories can't be opened)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _atomic_torch_save(payload: dict[str, Any], path: Path) -> None:
    """``torch.save`` to a temporary file beside ``path``, fsync, then rename over ``path``."""
    tmp_path = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as file:
            torch.save(payload, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_path)
        raise
    _fsync_directory(path.parent)


def save_checkpoint(
    path: _PathLike,
    model: torch.nn.Module,
    *,
    model_name: str,
    class_names: Sequence[str],
    fps: float,
    roi_set: str | None,
    feature_params: Mapping[str, Any],
    training_summary: Mapping[str, Any],
) -> None:
    """Write ``model`` (weights moved to CPU) and its metadata to ``path`` atomically.

    Args:
        path: target file (its directory must exist); an existing file is replaced.
        model: an instance of the class registered as ``model_name``, with a ``config``.
        model_name: key of :data:`MODEL_REGISTRY`.
        class_names: emotion classes in output order.
        fps: frame rate of the training features.
        roi_set: ROI set of the training features, or ``None``.
        feature_params: feature-extraction parameters (numpy values and tuples are converted).
        training_summary: summary of the training data and run.

    Raises:
        ValueError: unknown model name, a model of another class, or metadata that cannot be
            stored as plain data.
    """
    if model_name not in MODEL_REGISTRY:
        raise ValueError(f"unknown model name {model_name!r}; known: {sorted(MODEL_REGISTRY)}")
    model_cls, _ = _registered(model_name)
    if not isinstance(model, model_cls):
        raise ValueError(
            f"model_name {model_name!r} expects a {model_cls.__name__}, "
            f"got {type(model).__name__}")
    if not (math.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be a positive number, got {fps}")
    payload = {
        "format": CHECKPOINT_FORMAT,
        "format_version": CHECKPOINT_FORMAT_VERSION,
        "model_name": model_name,
        "config": _plain(model.config.to_dict(), "config"),
        "state_dict": {name: tensor.detach().cpu() for name, tensor in model.state_dict().items()},
        "class_names": [str(name) for name in class_names],
        "fps": float(fps),
        "roi_set": None if roi_set is None else str(roi_set),
        "feature_params": _plain(dict(feature_params), "feature_params"),
        "training_summary": _plain(dict(training_summary), "training_summary"),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    _atomic_torch_save(payload, Path(path))


# --- loading -----------------------------------------------------------------------------------

def _summary(exc: BaseException, limit: int = 200) -> str:
    """An exception's message on one line, at most ``limit`` characters."""
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _describe(exc: BaseException) -> str:
    """``"Type: message"`` (or just the type) of an exception."""
    message = _summary(exc)
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def _read_payload(path: Path, map_location: Any) -> dict[str, Any]:
    """The checkpoint dict, loaded with ``weights_only=True``; format tag and version checked."""
    if not path.exists():
        raise CheckpointError(path, "no such file")
    if not path.is_file():
        raise CheckpointError(path, "not a file")
    if path.stat().st_size == 0:
        raise CheckpointError(path, "the file is empty")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        if "weights only load failed" in str(exc).lower():
            raise CheckpointError(
                path, "refused: it holds Python objects that could run code when loaded "
                "(only tensors and plain data are accepted)") from exc
        raise CheckpointError(path, f"not a PyTorch checkpoint ({_describe(exc)})") from exc
    except Exception as exc:  # torch reports corrupt files as RuntimeError, EOFError, KeyError …
        raise CheckpointError(
            path, f"not a readable PyTorch checkpoint, truncated or corrupted? "
            f"({_describe(exc)})") from exc
    _check_format(path, payload)
    return payload


def _check_format(path: Path, payload: Any) -> None:
    """``CheckpointError`` unless ``payload`` is a dict with our format tag and a known version."""
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        if isinstance(payload, dict) and payload and all(
                isinstance(value, torch.Tensor) for value in payload.values()):
            raise CheckpointError(
                path, f"a bare state dict without model metadata, not a {CHECKPOINT_FORMAT!r} file")
        tag = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise CheckpointError(path, f"format {tag!r} is not {CHECKPOINT_FORMAT!r}")
    version = payload.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or not (
            1 <= version <= CHECKPOINT_FORMAT_VERSION):
        raise CheckpointError(
            path, f"format version {version!r} is not supported (this program reads versions "
            f"1 to {CHECKPOINT_FORMAT_VERSION}; a newer program may have written it)")


def _field(path: Path, payload: Mapping[str, Any], name: str, kinds: type | tuple[type, ...],
           what: str) -> Any:
    """``payload[name]`` if it is one of ``kinds`` (never a bool), else ``CheckpointError``."""
    value = payload.get(name)
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise CheckpointError(path, f"field {name!r} should be {what}, got {value!r:.80}")
    return value


def _meta_from_payload(path: Path, payload: Mapping[str, Any]) -> CheckpointMeta:
    """Checked :class:`CheckpointMeta` from a loaded payload."""
    class_names = _field(path, payload, "class_names", list, "a list of class names")
    if not all(isinstance(name, str) for name in class_names):
        raise CheckpointError(path, f"class_names should be strings, got {class_names!r:.80}")
    fps = float(_field(path, payload, "fps", (int, float), "a frame rate"))
    if not (math.isfinite(fps) and fps > 0):
        raise CheckpointError(path, f"fps should be positive, got {fps}")
    return CheckpointMeta(
        model_name=_field(path, payload, "model_name", str, "a model name"),
        config=_field(path, payload, "config", dict, "a config dict"),
        class_names=list(class_names),
        fps=fps,
        roi_set=_field(path, payload, "roi_set", (str, type(None)), "a ROI set name or None"),
        feature_params=_field(path, payload, "feature_params", dict, "a dict"),
        training_summary=_field(path, payload, "training_summary", dict, "a dict"),
        format_version=int(payload["format_version"]),
        created=_field(path, payload, "created", str, "an ISO time"),
    )


def read_checkpoint_meta(path: _PathLike) -> CheckpointMeta:
    """The metadata of a checkpoint, without building the model.

    Raises:
        CheckpointError: the file is missing, unreadable, refused or not a checkpoint.
    """
    path = Path(path)
    return _meta_from_payload(path, _read_payload(path, "cpu"))


def _check_expectations(
    path: Path,
    meta: CheckpointMeta,
    expected_roi_set: str | None,
    expected_class_names: Sequence[str] | None,
) -> None:
    """``CheckpointError`` when the checkpoint's ROI set or classes differ from the caller's."""
    if expected_roi_set is not None and meta.roi_set != expected_roi_set:
        raise CheckpointError(
            path, f"trained on ROI set {meta.roi_set!r}, but the features use "
            f"{expected_roi_set!r}; extract features with {meta.roi_set!r} or pick another "
            "checkpoint")
    if expected_class_names is not None and meta.class_names != list(expected_class_names):
        raise CheckpointError(
            path, f"its emotion classes are {meta.class_names}, but {list(expected_class_names)} "
            "were expected (same names in the same order)")


def _build_model(path: Path, meta: CheckpointMeta) -> torch.nn.Module:
    """An untrained model from the checkpoint's model name and config."""
    if meta.model_name not in MODEL_REGISTRY:
        raise CheckpointError(
            path, f"unknown model {meta.model_name!r}; known: {sorted(MODEL_REGISTRY)}")
    try:
        model_cls, config_cls = _registered(meta.model_name)
    except (ImportError, AttributeError) as exc:
        raise CheckpointError(
            path, f"model {meta.model_name!r} is not available here ({_describe(exc)})") from exc
    try:
        config = config_cls.from_dict(meta.config)
        return model_cls.from_config(config)
    except Exception as exc:  # a config from a file may break any validation rule
        raise CheckpointError(
            path, f"its {meta.model_name!r} config is invalid ({_describe(exc)})") from exc


def load_checkpoint(
    path: _PathLike,
    *,
    expected_roi_set: str | None = None,
    expected_class_names: Sequence[str] | None = None,
    map_location: Any = "cpu",
) -> tuple[torch.nn.Module, CheckpointMeta]:
    """Load a checkpoint safely (``weights_only=True``) and rebuild its model in eval mode.

    Args:
        path: checkpoint file.
        expected_roi_set: ROI set of the features the model will read; a different training
            ROI set is an error.
        expected_class_names: emotion classes the caller needs, in order; others are an error.
        map_location: where tensors load (``torch.load``'s argument); a device string or
            ``torch.device`` also moves the model there.

    Returns:
        ``(model, meta)``.

    Raises:
        CheckpointError: naming the file and the problem (see the module docstring).
    """
    path = Path(path)
    payload = _read_payload(path, map_location)
    meta = _meta_from_payload(path, payload)
    _check_expectations(path, meta, expected_roi_set, expected_class_names)
    state_dict = payload.get("state_dict")
    if not isinstance(state_dict, dict) or not all(
            isinstance(value, torch.Tensor) for value in state_dict.values()):
        raise CheckpointError(path, "field 'state_dict' should map names to tensors")
    model = _build_model(path, meta)
    try:
        model.load_state_dict(state_dict, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(
            path, f"the weights do not match its {meta.model_name!r} config: "
            f"{_summary(exc, 400)}") from exc
    if isinstance(map_location, str | torch.device):
        model.to(map_location)
    return model.eval(), meta

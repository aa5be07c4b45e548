"""Checkpoint IO: round trip, atomic writes, and every way a bad file is refused."""

from __future__ import annotations

import importlib.util
import os
import shlex
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from core.models import checkpoint
from core.models.checkpoint import (
    CHECKPOINT_FORMAT,
    CheckpointError,
    load_checkpoint,
    read_checkpoint_meta,
    save_checkpoint,
)

CLASSES = ["negative", "positive", "surprise", "others"]


@dataclass(frozen=True)
class TinyConfig:
    """Config of the test model (tuples become lists in checkpoints, like the real configs)."""

    n_in: int = 4
    hidden: tuple[int, ...] = (5,)
    n_out: int = 3

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TinyConfig:
        return cls(**{key: tuple(value) if isinstance(value, list) else value
                      for key, value in data.items()})


class TinyModel(nn.Module):
    """A two-layer MLP standing in for the real models."""

    def __init__(self, config: TinyConfig) -> None:
        super().__init__()
        self.config = config
        self.hidden = nn.Linear(config.n_in, config.hidden[0])
        self.norm = nn.BatchNorm1d(config.hidden[0])     # a buffer, to check eval mode
        self.out = nn.Linear(config.hidden[0], config.n_out)

    @classmethod
    def from_config(cls, config: TinyConfig) -> TinyModel:
        return cls(config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.relu(self.norm(self.hidden(x))))


class _RunsShellOnLoad:
    """Pickles as a call to ``os.system`` — what a malicious 'checkpoint' would contain."""

    def __init__(self, marker: Path) -> None:
        self.command = f"touch {shlex.quote(str(marker))}"

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return os.system, (self.command,)


@pytest.fixture(autouse=True)
def _tiny_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(checkpoint.MODEL_REGISTRY, "tiny",
                        (__name__, "TinyModel", "TinyConfig"))


def _trained_tiny(seed: int = 0) -> TinyModel:
    torch.manual_seed(seed)
    model = TinyModel(TinyConfig())
    model(torch.randn(16, 4))                     # moves the BatchNorm running statistics
    return model


def _save(path: Path, model: nn.Module | None = None, **overrides: Any) -> Path:
    kwargs: dict[str, Any] = {
        "model_name": "tiny", "class_names": CLASSES, "fps": 30.0, "roi_set": "metst",
        "feature_params": {"window_seconds": np.float64(50 / 30), "face_size": np.int64(320),
                           "top_fraction": (0.3, 0.7), "rois": np.arange(3)},
        "training_summary": {"subjects": ["s01", "s02"], "epochs": 3, "best": {"f1": 0.25}},
    }
    kwargs.update(overrides)
    save_checkpoint(path, model if model is not None else _trained_tiny(), **kwargs)
    return path


def _raw(path: Path) -> dict[str, Any]:
    return torch.load(path, weights_only=True)


def test_round_trip_restores_weights_config_and_metadata(tmp_path: Path) -> None:
    model = _trained_tiny()
    path = _save(tmp_path / "tiny.pt", model)
    loaded, meta = load_checkpoint(path, expected_roi_set="metst", expected_class_names=CLASSES)
    assert isinstance(loaded, TinyModel) and not loaded.training
    assert loaded.config == model.config                       # tuple restored by from_dict
    x = torch.randn(8, 4)
    model.eval()
    torch.testing.assert_close(loaded(x), model(x))
    assert meta.model_name == "tiny" and meta.class_names == CLASSES and meta.fps == 30.0
    assert meta.roi_set == "metst" and meta.format_version == 1
    assert meta.feature_params == {"window_seconds": 50 / 30, "face_size": 320,
                                   "top_fraction": [0.3, 0.7], "rois": [0, 1, 2]}
    assert meta.training_summary["best"] == {"f1": 0.25}
    assert datetime.fromisoformat(meta.created).tzinfo is not None
    assert read_checkpoint_meta(path) == meta


def test_saved_file_is_a_plain_dict_with_cpu_tensors(tmp_path: Path) -> None:
    payload = _raw(_save(tmp_path / "tiny.pt"))
    assert payload["format"] == CHECKPOINT_FORMAT and payload["format_version"] == 1
    assert payload["config"] == {"n_in": 4, "hidden": [5], "n_out": 3}
    assert all(t.device.type == "cpu" for t in payload["state_dict"].values())
    assert "norm.running_mean" in payload["state_dict"]


def test_saving_replaces_atomically_and_leaves_no_temporary_files(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _save(tmp_path / "tiny.pt", fps=25.0)
    _save(path, fps=30.0)
    assert read_checkpoint_meta(path).fps == 30.0
    original = path.read_bytes()

    def failing_save(obj: Any, file: Any) -> None:
        file.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint.torch, "save", failing_save)
    with pytest.raises(OSError, match="disk full"):
        _save(path, fps=60.0)
    assert path.read_bytes() == original                       # the old file is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.pt"]


def test_save_rejects_unknown_name_wrong_class_and_unstorable_values(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown model name"):
        _save(tmp_path / "a.pt", model_name="resnet")
    with pytest.raises(ValueError, match="expects a TinyModel"):
        _save(tmp_path / "b.pt", model=nn.Linear(2, 2))
    with pytest.raises(ValueError, match=r"training_summary\['callback'\]"):
        _save(tmp_path / "c.pt", training_summary={"callback": object()})
    assert list(tmp_path.iterdir()) == []


def test_malicious_pickle_is_refused_and_never_runs(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"format": CHECKPOINT_FORMAT, "payload": _RunsShellOnLoad(marker)}, path)
    with pytest.raises(CheckpointError, match="could run code") as info:
        load_checkpoint(path)
    assert str(path) in str(info.value)
    with pytest.raises(CheckpointError, match="could run code"):
        read_checkpoint_meta(path)
    assert not marker.exists()


def test_the_malicious_file_really_runs_code_without_weights_only(tmp_path: Path) -> None:
    """Guards the test above: its file must be a live payload, not a harmless one."""
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save(_RunsShellOnLoad(marker), path)
    torch.load(path, weights_only=False)
    assert marker.exists()


def test_wrong_roi_set_is_refused_naming_both(tmp_path: Path) -> None:
    path = _save(tmp_path / "tiny.pt")
    with pytest.raises(CheckpointError, match="'metst'.*'metst_plus'") as info:
        load_checkpoint(path, expected_roi_set="metst_plus")
    assert str(path) in str(info.value) and "ROI set" in str(info.value)


def test_wrong_class_list_is_refused_naming_both(tmp_path: Path) -> None:
    path = _save(tmp_path / "tiny.pt")
    expected = ["negative", "positive", "surprise"]
    with pytest.raises(CheckpointError, match="emotion classes") as info:
        load_checkpoint(path, expected_class_names=expected)
    assert str(CLASSES) in str(info.value) and str(expected) in str(info.value)
    with pytest.raises(CheckpointError, match="same order"):
        load_checkpoint(path, expected_class_names=list(reversed(CLASSES)))


def test_truncated_file_is_a_checkpoint_error(tmp_path: Path) -> None:
    path = _save(tmp_path / "tiny.pt")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupted") as info:
        load_checkpoint(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    "content", [b"", b"hello, I am a text file\n", b"PK\x03\x04 not really a zip"])
def test_non_torch_files_are_checkpoint_errors(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "not_a_checkpoint.pt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match="not_a_checkpoint.pt"):
        load_checkpoint(path)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="no such file"):
        load_checkpoint(tmp_path / "missing.pt")
    with pytest.raises(CheckpointError, match="not a file"):
        read_checkpoint_meta(tmp_path)


def test_foreign_format_and_bare_state_dict(tmp_path: Path) -> None:
    foreign = tmp_path / "foreign.pt"
    torch.save({"format": "someone-else", "weights": {}}, foreign)
    with pytest.raises(CheckpointError, match="'someone-else'"):
        load_checkpoint(foreign)
    bare = tmp_path / "bare.pt"
    torch.save(_trained_tiny().state_dict(), bare)
    with pytest.raises(CheckpointError, match="bare state dict"):
        load_checkpoint(bare)


def test_newer_format_version_is_refused(tmp_path: Path) -> None:
    path = _save(tmp_path / "tiny.pt")
    payload = _raw(path)
    payload["format_version"] = 2
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="version 2"):
        load_checkpoint(path)


def test_unknown_model_name_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _save(tmp_path / "tiny.pt")
    monkeypatch.delitem(checkpoint.MODEL_REGISTRY, "tiny")
    with pytest.raises(CheckpointError, match="unknown model 'tiny'"):
        load_checkpoint(path)
    assert read_checkpoint_meta(path).model_name == "tiny"    # metadata stays readable


def test_unimportable_model_module_is_a_checkpoint_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _save(tmp_path / "tiny.pt")
    monkeypatch.setitem(checkpoint.MODEL_REGISTRY, "tiny",
                        ("core.models.no_such_module", "TinyModel", "TinyConfig"))
    with pytest.raises(CheckpointError, match="not available"):
        load_checkpoint(path)


def test_state_dict_that_does_not_fit_the_config_is_refused(tmp_path: Path) -> None:
    path = _save(tmp_path / "tiny.pt")
    payload = _raw(path)
    payload["config"]["hidden"] = [6]
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="do not match") as info:
        load_checkpoint(path)
    assert "size mismatch" in str(info.value)


def test_invalid_config_is_refused(tmp_path: Path) -> None:
    path = _save(tmp_path / "tiny.pt")
    payload = _raw(path)
    payload["config"]["dropout_rate"] = 0.5
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="config is invalid"):
        load_checkpoint(path)


def test_malformed_metadata_is_refused(tmp_path: Path) -> None:
    path = _save(tmp_path / "tiny.pt")
    payload = _raw(path)
    payload["class_names"] = "negative,positive"
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="class_names"):
        read_checkpoint_meta(path)


@pytest.mark.skipif(importlib.util.find_spec("core.models.metst") is None,
                    reason="core.models.metst not written yet")
def test_round_trip_with_metst(tmp_path: Path) -> None:
    from core.models.metst import MeTst, MeTstConfig

    model = MeTst.from_config(MeTstConfig.from_dict(MeTstConfig().to_dict()))
    path = _save(tmp_path / "metst.pt", model, model_name="metst")
    loaded, meta = load_checkpoint(path, expected_roi_set="metst")
    assert isinstance(loaded, MeTst) and not loaded.training
    assert loaded.config == model.config and meta.model_name == "metst"
    for name, tensor in model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[name], tensor)


@pytest.mark.skipif(importlib.util.find_spec("core.models.tsfmicro") is None,
                    reason="core.models.tsfmicro not written yet")
def test_round_trip_with_tsfmicro(tmp_path: Path) -> None:
    from core.models.tsfmicro import TsfMicro, TsfMicroConfig

    config = TsfMicroConfig(image_size=32, widths=(8, 16, 32), depths=(1, 1, 1),
                            heads=(1, 2, 4), decay_ranges=(4.0, 4.0, 6.0), spatial_layers=1,
                            spatial_heads=4, head_width=16)
    model = TsfMicro.from_config(config)
    path = _save(tmp_path / "tsf.pt", model, model_name="tsfmicro",
                 class_names=list(config.class_names), roi_set=None)
    loaded, meta = load_checkpoint(path, expected_class_names=list(config.class_names))
    assert isinstance(loaded, TsfMicro) and not loaded.training
    assert loaded.config == config and meta.roi_set is None
    for name, tensor in model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[name], tensor)

"""Per-frame models behind one interface: traces in, spotting (and recognition) curves out.

Two kinds: the training-free :class:`~core.models.flow_spotter.FlowSpotter` (the default, works on
any ROI set, gives a spotting curve only) and trained ME-TST / ME-TST+ checkpoints (spotting and
recognition over emotions + neutral, tied to the ROI set they were trained on).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from core.models.flow_spotter import FlowSpotter, FlowSpotterConfig
from core.traces import FlowTraces

__all__ = ["Curves", "CurveModel", "FlowSpotterModel", "CheckpointCurveModel",
           "load_curve_model", "FLOW_MODEL"]

#: The model spec naming the training-free flow spotter.
FLOW_MODEL = "flow"


@dataclass
class Curves:
    """Model output for one video.

    Attributes:
        spot: (T,) float32 spotting score in [0, 1].
        recog: (T, E+1) float32 class probabilities (neutral last), or None (spotting only).
        class_names: the E+1 column names of ``recog`` (empty without recognition).
    """

    spot: np.ndarray
    recog: np.ndarray | None
    class_names: tuple[str, ...]


class CurveModel(Protocol):
    """What analysis needs from a per-frame model."""

    name: str                 # shown to the user and written to result files
    roi_set: str | None       # the feature layout it needs; None = any
    k_p: int | None           # interval half-width from its training set, if known

    def predict(self, traces: FlowTraces) -> Curves: ...


class FlowSpotterModel:
    """The training-free flow spotter as a :class:`CurveModel` (spotting curve only)."""

    name = FLOW_MODEL
    roi_set = None
    k_p = None

    def __init__(self, config: FlowSpotterConfig | None = None) -> None:
        self._spotter = FlowSpotter(config or FlowSpotterConfig())

    def predict(self, traces: FlowTraces) -> Curves:
        return Curves(self._spotter(traces), None, ())


class CheckpointCurveModel:
    """A trained ME-TST / ME-TST+ checkpoint as a :class:`CurveModel`."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        from core.models.checkpoint import CheckpointError, load_checkpoint

        self.path = Path(path)
        self._model, self.meta = load_checkpoint(self.path)
        if self.meta.model_name not in ("metst", "metst_plus"):
            raise CheckpointError(self.path, f"a {self.meta.model_name} model does not give "
                                  "per-frame curves (TSFmicro recognises one interval: use "
                                  "'metst recognize')")
        self.name = f"{self.meta.model_name}:{self.path.name}"
        self.roi_set = self.meta.roi_set
        k_p = self.meta.training_summary.get("k_p")
        self.k_p = int(k_p) if k_p else None
        names = list(self.meta.class_names)
        self.class_names = tuple(names if "neutral" in names else [*names, "neutral"])

    def predict(self, traces: FlowTraces) -> Curves:
        """Whole video at once (the models are linear in T): (C, T) → spot (T,), recog (T, E+1)."""
        import torch

        if traces.roi_set != self.roi_set:
            raise ValueError(f"{self.path}: trained on ROI set {self.roi_set!r}, but the "
                             f"features are {traces.roi_set!r}")
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(traces.values))[None]   # (1, C, T)
            spot, logits = self._model(x)
            recog = torch.softmax(logits[0].float(), dim=-1)                  # (T, E+1)
        spot_np = spot[0].float().numpy().astype(np.float32)
        spot_np[~traces.valid] = 0.0
        return Curves(spot_np, recog.numpy().astype(np.float32), self.class_names)


def load_curve_model(spec: str | os.PathLike[str]) -> CurveModel:
    """``"flow"`` → the training-free spotter; anything else is a checkpoint path."""
    if str(spec) == FLOW_MODEL:
        return FlowSpotterModel()
    return CheckpointCurveModel(spec)

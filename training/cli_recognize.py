"""``metst recognize``: TSFmicro's emotion probabilities for one interval (onset, apex)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core.interval_stats import tsfmicro_probabilities
from core.models.checkpoint import load_checkpoint
from core.video import open_source

__all__ = ["add_parser", "run", "recognize_interval"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("recognize", help="TSFmicro probabilities for one interval",
                       description=__doc__)
    p.add_argument("video", type=Path, help="video file or frame folder")
    p.add_argument("--onset", type=int, required=True, help="onset frame (0-based)")
    p.add_argument("--apex", type=int, required=True, help="apex frame (0-based)")
    p.add_argument("--model", type=Path, required=True, help="TSFmicro checkpoint")


def recognize_interval(video: Path, onset_frame: int, apex_frame: int,
                       checkpoint: Path) -> dict[str, float]:
    """Class probabilities of TSFmicro for the interval, from aligned face crops."""
    model, meta = load_checkpoint(checkpoint)
    if meta.model_name != "tsfmicro":
        raise ValueError(f"{checkpoint}: a {meta.model_name} checkpoint, not TSFmicro")
    with open_source(video) as source:
        return tsfmicro_probabilities(model, source, onset_frame, apex_frame)


def run(args: argparse.Namespace) -> int:
    try:
        probabilities = recognize_interval(args.video, args.onset, args.apex, args.model)
    except (ValueError, OSError, IndexError) as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1
    for name, probability in sorted(probabilities.items(), key=lambda kv: -kv[1]):
        print(f"{name}\t{probability:.3f}")
    return 0

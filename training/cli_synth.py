"""``metst synth``: make a synthetic micro-expression dataset with exact ground truth.

Writes the app's project layout (``<out>/<subject>/<video>.mkv`` with ``.intervals.csv`` and
``.distractors.csv`` beside each video) and ``<out>/synth.json``; see :mod:`core.synth`.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tqdm import tqdm

from core.progress import Progress
from core.synth import PRESETS, VIDEO_FORMATS, SynthConfig, SynthManifest, generate

__all__ = ["add_parser", "run", "config_from_args"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("synth", help="make a synthetic micro-expression dataset",
                       description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out_dir", type=Path, metavar="OUT_DIR", help="dataset folder to create")
    p.add_argument("--preset", choices=sorted(PRESETS), default="small",
                   help="size preset: small (2 subjects x 20 s), loso (6 x 2 x 60 s), "
                        "large (10 x 2 x 120 s); default small")
    p.add_argument("--subjects", type=int, help="number of subjects")
    p.add_argument("--videos-per-subject", type=int, help="videos per subject")
    p.add_argument("--seconds", type=float, help="length of each video in seconds")
    p.add_argument("--fps", type=float, help="output frame rate (default 30)")
    p.add_argument("--seed", type=int, help="random seed (default 0)")
    p.add_argument("--base", nargs="+", action="extend", type=Path, metavar="VIDEO_OR_PHOTO",
                   help="base face footage: videos, frame folders or photos "
                        "(default: the bundled sample video)")
    p.add_argument("--format", choices=VIDEO_FORMATS, dest="video_format",
                   help="ffv1: lossless .mkv (default); png: folders of PNG frames")
    p.add_argument("--force", action="store_true",
                   help="write into a non-empty folder (same-named files are replaced)")


def config_from_args(args: argparse.Namespace) -> SynthConfig:
    """The preset with the options given on the command line applied."""
    overrides: dict[str, Any] = {
        "n_subjects": args.subjects, "videos_per_subject": args.videos_per_subject,
        "seconds": args.seconds, "fps": args.fps, "seed": args.seed,
        "video_format": args.video_format,
        "bases": tuple(str(path) for path in args.base) if args.base else None}
    return SynthConfig.preset(args.preset, **{key: value for key, value in overrides.items()
                                              if value is not None})


def run(args: argparse.Namespace) -> int:
    try:
        config = config_from_args(args)
        started = time.perf_counter()
        with tqdm(total=0, unit="frame", desc="synth", leave=False, file=sys.stderr,
                  disable=None) as bar:
            manifest = generate(config, args.out_dir, progress=_bar_updater(bar),
                                overwrite=args.force)
    except (ValueError, OSError) as exc:   # VideoError, NoFaceError, FileExistsError, …
        print(f"error: {_one_line(exc)}", file=sys.stderr, flush=True)
        return 1
    for line in _summary(manifest, time.perf_counter() - started):
        print(line, flush=True)
    return 0


def _bar_updater(bar: tqdm) -> Callable[[Progress], None]:
    """A progress callback that drives ``bar`` through each stage (landmarks, then frames)."""
    stage = ""

    def on_progress(p: Progress) -> None:
        nonlocal stage
        if p.stage != stage:
            stage = p.stage
            bar.set_description(stage)
            bar.reset(total=p.total)
        bar.total = p.total
        bar.update(p.done - bar.n)
        if p.message:
            bar.set_postfix_str(p.message, refresh=False)

    return on_progress


def _summary(manifest: SynthManifest, seconds: float) -> list[str]:
    """One line per video, then a total."""
    lines = []
    for video in manifest.videos:
        counts = Counter(event.kind for event in video.distractors)
        distractors = ", ".join(f"{n} {kind}" for kind, n in counts.items()) or "none"
        lines.append(f"{video.subject}/{video.path.name}: {video.n_frames} frames at "
                     f"{video.fps:g} fps, {len(video.micro_expressions)} MEs, "
                     f"distractors: {distractors}")
    n_mes = sum(len(video.micro_expressions) for video in manifest.videos)
    lines.append(f"wrote {len(manifest.videos)} videos of {len(manifest.subjects)} subjects "
                 f"({n_mes} MEs) to {manifest.root} in {seconds:.1f} s")
    return lines


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__

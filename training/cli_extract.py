"""``metst extract``: video files / frame folders → ROI flow traces in an HDF5 feature store."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from tqdm import tqdm

from core.flow import FlowConfig, extract_flow, preview_config
from core.progress import Progress
from core.rois import ROI_SET_NAMES
from core.store import FeatureStore
from core.video import open_source

__all__ = ["add_parser", "run", "extract_one"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("extract", help="extract ROI optical-flow traces into a feature store",
                       description=__doc__)
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="video files or frame folders")
    p.add_argument("-o", "--output", required=True, type=Path, help="feature store (.h5)")
    p.add_argument("--rois", choices=ROI_SET_NAMES, default="metst_plus",
                   help="ROI set: metst (5 ROIs) or metst_plus (18 ROIs, default)")
    p.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    p.add_argument("--preview", action="store_true",
                   help="fast preview mode: DIS flow on a 112-px face crop (coarser)")
    p.add_argument("--force", action="store_true", help="recompute even if stored")


def run(args: argparse.Namespace) -> int:
    config = preview_config(args.rois) if args.preview else FlowConfig(roi_set=args.rois)
    store = FeatureStore(args.output)
    failures = 0
    for path in args.inputs:
        try:
            print(extract_one(Path(path), config, store, args.workers, args.force), flush=True)
        except (ValueError, OSError) as exc:   # VideoError, NoFaceError, StoreError, …
            failures += 1
            print(f"error: {_one_line(exc)}", file=sys.stderr, flush=True)
    return 1 if failures else 0


def extract_one(path: Path, config: FlowConfig, store: FeatureStore, workers: int,
                force: bool) -> str:
    """Extract (or reuse) one input; returns its summary line."""
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or folder")
    if not force and store.find(path, config) is not None:
        return f"{path.name}: already in {store.path.name} with these parameters, skipped"
    source = open_source(path)
    started = time.perf_counter()
    with tqdm(total=source.n_frames, unit="frame", desc=path.name, leave=False,
              file=sys.stderr, disable=None) as bar:

        def on_progress(p: Progress) -> None:
            bar.total = p.total
            bar.update(p.done - bar.n)

        extraction = extract_flow(source, config, workers=workers, progress=on_progress)
    seconds = time.perf_counter() - started
    store.save(path, extraction)
    n_frames = extraction.traces.n_frames
    valid_pct = 100.0 * float(extraction.traces.valid.mean())
    return (f"{path.name}: {n_frames} frames, {valid_pct:.1f} % valid, {seconds:.1f} s, "
            f"{n_frames / seconds:.0f} frames/s")


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__

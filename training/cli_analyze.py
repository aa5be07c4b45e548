"""``metst analyze``: videos → spotting/recognition curves and intervals (one folder per video)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from tqdm import tqdm

from core.analysis import analyze, save_result
from core.curve_models import FLOW_MODEL, load_curve_model
from core.flow import FlowConfig, preview_config
from core.postprocess import PostprocessConfig
from core.progress import Progress
from core.rois import ROI_SET_NAMES
from core.store import FeatureStore
from core.video import open_source

__all__ = ["add_parser", "run"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("analyze", help="spot and recognise micro-expressions in videos",
                       description=__doc__)
    p.add_argument("inputs", nargs="+", metavar="VIDEO", help="video files or frame folders")
    p.add_argument("--model", default=FLOW_MODEL,
                   help="'flow' (training-free spotter, default) or a ME-TST/ME-TST+ checkpoint")
    p.add_argument("-o", "--output", required=True, type=Path,
                   help="output folder: OUTPUT/<video>/intervals.csv and curves.h5")
    p.add_argument("--store", type=Path, help="feature store (default OUTPUT/features.h5)")
    p.add_argument("--rois", choices=ROI_SET_NAMES,
                   help="ROI set (default: the checkpoint's, else metst_plus)")
    p.add_argument("-p", "--threshold-p", type=float, default=PostprocessConfig().p,
                   help="peak threshold p in mean + p·(max − mean) (default 0.55)")
    p.add_argument("--no-synergy", action="store_true",
                   help="keep intervals the recognition branch calls neutral")
    p.add_argument("--workers", type=int, default=1, help="extraction processes (default 1)")
    p.add_argument("--preview", action="store_true", help="fast preview extraction (DIS flow)")


def run(args: argparse.Namespace) -> int:
    try:
        model = load_curve_model(args.model)
    except (ValueError, OSError) as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1
    roi_set = args.rois or model.roi_set or "metst_plus"
    flow_config = preview_config(roi_set) if args.preview else FlowConfig(roi_set=roi_set)
    postprocess = PostprocessConfig(p=args.threshold_p, synergy=not args.no_synergy)
    store = FeatureStore(args.store or args.output / "features.h5")
    failures = 0
    for path in map(Path, args.inputs):
        try:
            started = time.perf_counter()
            source = open_source(path)
            with tqdm(total=source.n_frames, unit="frame", desc=path.name, leave=False,
                      file=sys.stderr, disable=None) as bar:

                def on_progress(p: Progress, bar: tqdm = bar) -> None:
                    if p.stage == "flow":
                        bar.total = p.total
                        bar.update(p.done - bar.n)

                result = analyze(source, model, store=store, flow_config=flow_config,
                                 postprocess=postprocess, workers=args.workers,
                                 progress=on_progress)
            folder = save_result(result, _result_folder(args.output, path))
            print(f"{path.name}: {len(result.intervals)} intervals, "
                  f"{result.traces.n_frames} frames, {time.perf_counter() - started:.1f} s "
                  f"→ {folder}", flush=True)
        except (ValueError, OSError) as exc:
            failures += 1
            print(f"error: {' '.join(str(exc).split())}", file=sys.stderr, flush=True)
    return 1 if failures else 0


def _result_folder(output: Path, video: Path) -> Path:
    """OUTPUT/<video file name without suffix>; folders of frames keep their name."""
    return output / (video.stem if video.is_file() else video.name)

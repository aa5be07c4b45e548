"""Extraction speed on a real video: frames/s of ROI-flow extraction vs decoding alone.

Run on demand (not in the test suite)::

    .venv/bin/python benchmarks/bench_extract.py [VIDEO] [--rois metst_plus] [--workers 2]
                                                 [--preview]

Prints decode-only frames/s of the same video (the baseline, measured in the same run),
extraction frames/s, and their ratio. Target (issue 2): ≥ 150 frames/s for ``metst_plus`` on
the 640×360 sample on a 2-core machine; the official ME-TST code runs at about 35 frames/s
with 5 ROIs.
"""

from __future__ import annotations

import argparse
import time

from core.face import FaceTracker
from core.flow import FlowConfig, extract_flow, preview_config
from core.video import open_source
from resources import SAMPLE_VIDEO


def decode_fps(path: str) -> float:
    """Frames/s of a plain sequential grayscale decode (the baseline)."""
    source = open_source(path)
    started = time.perf_counter()
    n = sum(1 for _ in source.iter_frames(gray=True))
    return n / (time.perf_counter() - started)


def extract_fps(path: str, config: FlowConfig, workers: int) -> tuple[float, float]:
    source = open_source(path)
    started = time.perf_counter()
    extraction = extract_flow(source, config, workers=workers)
    seconds = time.perf_counter() - started
    return extraction.traces.n_frames / seconds, float(extraction.traces.valid.mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", nargs="?", default=str(SAMPLE_VIDEO))
    parser.add_argument("--rois", default="metst_plus", choices=("metst", "metst_plus"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--preview", action="store_true", help="also time the preview mode")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--face-size", type=int, default=FlowConfig().face_size)
    args = parser.parse_args()

    started = time.perf_counter()
    FaceTracker()          # dlib's models load once per process (forked workers inherit them)
    print(f"dlib model load        : {time.perf_counter() - started:8.2f} s (once per process, "
          "not in the figures below)")
    baseline = max(decode_fps(args.video) for _ in range(args.repeats))
    print(f"decode only            : {baseline:8.1f} frames/s (baseline)")
    configs = [("farneback (paper)", FlowConfig(roi_set=args.rois, face_size=args.face_size))]
    if args.preview:
        configs.append(("preview (DIS)", preview_config(args.rois)))
    for name, config in configs:
        fps, valid = max(extract_fps(args.video, config, args.workers) for _ in range(args.repeats))
        print(f"extract {name:<15}: {fps:8.1f} frames/s  = {fps / baseline:.3f} × decode "
              f"({args.rois}, {args.workers} workers, face size {config.face_size}, "
              f"{100 * valid:.1f} % valid)")


if __name__ == "__main__":
    main()

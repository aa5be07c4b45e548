"""Inference speed of the per-frame models on one long video (CPU, ``torch.no_grad``).

Run on demand (not in the test suite)::

    .venv/bin/python -m benchmarks.bench_models [--frames 18000] [--repeats 3]

Prints frames/s (best of ``--repeats``) for ME-TST (10 channels), ME-TST+ (36 channels), the
training-free flow spotter where :mod:`core.models.flow_spotter` exists, and — measured in the
same run — how much faster our chunked selective scan is than the plain per-step loop
(:func:`core.models.ssm.selective_scan_ref`) on one ME-TST+ layer's worth of scan.
Target: ME-TST+ over 18,000 frames (B=1) in under 10 s on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import torch

from core.models.metst import MeTst, MeTstConfig
from core.models.metst_plus import MeTstPlus, MeTstPlusConfig
from core.models.ssm import selective_scan_chunked, selective_scan_ref


def best_seconds(run: Callable[[], object], repeats: int) -> float:
    """Fastest wall time of ``repeats`` calls of ``run`` (after one warm-up on the same input)."""
    run()
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        timings.append(time.perf_counter() - started)
    return min(timings)


def model_seconds(model: torch.nn.Module, n_channels: int, n_frames: int, repeats: int) -> float:
    traces = torch.randn(1, n_channels, n_frames, generator=torch.Generator().manual_seed(0))
    model.eval()
    with torch.no_grad():
        return best_seconds(lambda: model(traces), repeats)


def flow_spotter_seconds(n_frames: int, repeats: int) -> float | None:
    """Seconds of the training-free spotter on random 36-channel traces; None if absent."""
    try:
        from core.models.flow_spotter import FlowSpotter, FlowSpotterConfig
        from core.traces import FlowTraces
    except ImportError:
        return None
    rng = np.random.default_rng(0)
    names = tuple(f"roi{r}_{axis}" for r in range(18) for axis in "xy")
    traces = FlowTraces(
        values=rng.normal(size=(36, n_frames)).astype(np.float32),
        channel_names=names,
        valid=np.ones(n_frames, dtype=bool),
        fps=30.0,
        roi_set="metst_plus",
    )
    spotter = FlowSpotter(FlowSpotterConfig())
    return best_seconds(lambda: spotter(traces), repeats)


def scan_speedup(n_steps: int, d_inner: int, d_state: int) -> tuple[float, float]:
    """(chunked seconds, per-step-loop seconds) of one selective scan, no autograd."""
    generator = torch.Generator().manual_seed(0)
    inputs = {
        "u": torch.randn(1, d_inner, n_steps, generator=generator),
        "delta": torch.randn(1, d_inner, n_steps, generator=generator),
        "A": -torch.exp(torch.randn(d_inner, d_state, generator=generator)),
        "B": torch.randn(1, d_state, n_steps, generator=generator),
        "C": torch.randn(1, d_state, n_steps, generator=generator),
        "D": torch.ones(d_inner),
    }
    with torch.no_grad():
        chunked = best_seconds(lambda: selective_scan_chunked(**inputs, delta_softplus=True), 3)
        loop = best_seconds(lambda: selective_scan_ref(**inputs, delta_softplus=True), 1)
    return chunked, loop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=18_000, help="video length T")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per model (best)")
    args = parser.parse_args()
    n_frames = args.frames
    print(f"T = {n_frames} frames, B = 1, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")
    torch.manual_seed(0)
    for name, model, n_channels in (
        ("ME-TST ", MeTst.from_config(MeTstConfig()), 10),
        ("ME-TST+", MeTstPlus.from_config(MeTstPlusConfig()), 36),
    ):
        seconds = model_seconds(model, n_channels, n_frames, args.repeats)
        print(f"{name}  {seconds:7.2f} s  {n_frames / seconds:9.0f} frames/s  "
              f"(d_state={model.config.d_state})")
    spotter_seconds = flow_spotter_seconds(n_frames, args.repeats)
    if spotter_seconds is None:
        print("flow spotter: core.models.flow_spotter not available")
    else:
        print(f"flow spotter {spotter_seconds:7.2f} s  {n_frames / spotter_seconds:9.0f} frames/s")
    n_steps, d_inner, d_state = 2_000, 256, 16  # one ME-TST+ fast-stream layer, 2k frames
    chunked, loop = scan_speedup(n_steps, d_inner, d_state)
    print(f"selective scan (L={n_steps}, D={d_inner}, N={d_state}): chunked {chunked * 1e3:.1f} ms,"
          f" per-step loop {loop * 1e3:.1f} ms, speed-up {loop / chunked:.1f}x")


if __name__ == "__main__":
    main()

"""Review-window speed on a one-hour recording (issue 6): open, seek, zoom/pan, offscreen Qt.

Run on demand (not in the test suite)::

    nice -n 10 .venv/bin/python benchmarks/bench_gui.py [--cache DIR] [--video HOUR.mp4]
        [--repeats 3] [--seeks 30] [--zooms 50] [--profile open|seek|zoom]

The first run writes a 108,000-frame, 30 fps, 640×360 recording (the sample's frames played
forth and back; ~100 s, progress printed) into ``--cache`` (default
``~/.cache/metst-studio-bench``) and later runs reuse it; ``--video`` uses a ready one instead.
Each run (re)writes a project beside it: ``project/s01/hour.mp4`` (a link to the recording) with a
stored analysis (spot, 5 emotion and 36 ROI-flow curves for every frame) and 2,000 intervals.

Figures, each as a ratio to a baseline measured in the same run, with the target verdicts:

1. open with stored results: ``MainWindow.open_path`` until the session is set, the rows hold
   the curves and frame 0 is shown (then + one full paint of the window) — vs a bare
   ``VideoView`` opening the same file until frame 0 is shown. Target: < 2 s.
2. seek-to-frame-shown on the 640×360 sample (``Playhead.set_frame`` → ``VideoView.frame_shown``),
   random seeks and ±1 steps — vs ``core.video`` reading the same frames (decode only).
   Target: median < 50 ms.
3. zoom/pan redraw of the window's timeline on the one-hour project (``set_visible_range``,
   ``processEvents``, ``grab``), 10-s to 10-min windows — vs an empty ``TimelineView``.
   Target: median < 30 ms. Also counts the interval-band items at a 10-s zoom.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before any Qt import

import argparse
import cProfile
import pstats
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from _hour_project import N_INTERVALS, prepare_project, write_hour_video
from PySide6.QtCore import (
    QCoreApplication,
    QEvent,
    QEventLoop,
    QMessageLogContext,
    QSettings,
    QTimer,
    QtMsgType,
    qInstallMessageHandler,
)
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from core.video import open_source
from metst_gui.main_window import MainWindow
from metst_gui.timeline import TimelineView
from metst_gui.timeline.interval_band import IntervalBand
from metst_gui.video_view import VideoView
from metst_gui.view_state import Playhead
from resources import SAMPLE_VIDEO

TARGET_OPEN_S, TARGET_SEEK_MS, TARGET_REDRAW_MS = 2.0, 50.0, 30.0




# -------------------------------------------------------------------------------- helpers


def seconds_until(signals: list, done: Callable[[], bool], trigger: Callable[[], None],
                  timeout_s: float = 60.0) -> float:
    """Seconds from ``trigger()`` until ``done()`` holds, checked whenever a signal fires."""
    loop, reached = QEventLoop(), []

    def check(*_args: object) -> None:
        if not reached and done():
            reached.append(time.perf_counter())
            loop.quit()

    for signal in signals:
        signal.connect(check)
    timer = QTimer(singleShot=True, interval=int(timeout_s * 1000))
    timer.timeout.connect(loop.quit)
    started = time.perf_counter()
    try:
        trigger()
        check()
        if not reached:
            timer.start()
            loop.exec()
    finally:
        timer.stop()
        for signal in signals:
            signal.disconnect(check)
    if not reached:
        raise TimeoutError(f"not done within {timeout_s} s")
    return reached[0] - started


def idle(ms: int) -> None:
    """Run the event loop for ``ms`` milliseconds (the workers' answers arrive meanwhile)."""
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def dispose(widget: QWidget) -> None:
    """Close ``widget`` and delete it now (no crash at interpreter exit)."""
    widget.close()
    widget.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


def no_dialogs(seen: list[str]) -> None:
    """Message boxes would block offscreen: note their text and answer at once."""
    def answer(*args: object, **_kwargs: object) -> QMessageBox.StandardButton:
        seen.append(" | ".join(a for a in args if isinstance(a, str)))
        print(f"  (message box: {seen[-1]})", file=sys.stderr)
        return QMessageBox.StandardButton.Discard
    for name in ("question", "warning", "critical", "information"):
        setattr(QMessageBox, name, answer)


def quiet_offscreen(kind: QtMsgType, _context: QMessageLogContext, message: str) -> None:
    """Qt's messages on stderr, but the offscreen platform's note on every new window."""
    if "propagateSizeHints" not in message:
        print(message, file=sys.stderr)


def stats_ms(seconds: list[float]) -> tuple[float, float]:
    """(median, p90) in milliseconds."""
    return 1e3 * statistics.median(seconds), 1e3 * float(np.percentile(seconds, 90))


def verdict(value: float, target: float, unit: str) -> str:
    return f"target < {target:g} {unit}: {'MET' if value < target else 'MISSED'}"


# ----------------------------------------------------------------------------- the figures


def open_with_result(app: QApplication, video: Path) -> tuple[float, float, MainWindow]:
    """(seconds to ready, seconds to ready + one full paint, the window) for one fresh window."""
    window = MainWindow()
    window.show()
    app.processEvents()
    timeline = window.timeline

    def ready() -> bool:
        return (window.session is not None and window.video_view.shown_frame_idx == 0
                and timeline.spotting_row.smoothed is not None
                and bool(timeline.emotion_row.emotion_curves)
                and bool(timeline.roi_row.trace_curves))

    started = time.perf_counter()
    ready_s = seconds_until([window.sessions.session_changed, window.video_view.frame_shown],
                            ready, lambda: window.open_path(video))
    window.grab()
    return ready_s, time.perf_counter() - started, window


def open_bare(video: Path) -> float:
    """Seconds for a lone VideoView to open ``video`` and show frame 0 (the baseline)."""
    view = VideoView(Playhead())
    view.resize(800, 500)
    view.show()
    seconds = seconds_until([view.frame_shown], lambda: view.shown_frame_idx == 0,
                            lambda: view.open_video(video))
    view.shutdown()
    dispose(view)
    return seconds


def seek_plan(n_frames: int, n_seeks: int, rng: np.random.Generator) -> list[tuple[str, int]]:
    """Random seeks, each followed by two ±1 steps in one direction: ("seek"|"step", frame)."""
    plan, frame_idx = [], 0
    for _ in range(n_seeks):
        target = int(rng.integers(1, n_frames - 1))
        frame_idx = target if target != frame_idx else target + 1
        plan.append(("seek", frame_idx))
        direction = 1 if rng.random() < 0.5 else -1
        for _ in range(2):
            frame_idx = min(max(frame_idx + direction, 0), n_frames - 1)
            plan.append(("step", frame_idx))
    return plan


def seek_times(plan: list[tuple[str, int]], rest_ms: int) -> list[float]:
    """Seconds from ``Playhead.set_frame`` to ``frame_shown`` of each planned frame (sample),
    resting ``rest_ms`` after each (a reviewer looking at the frame)."""
    window = MainWindow()
    window.show()
    view = window.video_view
    seconds_until([view.frame_shown], lambda: view.shown_frame_idx == 0,
                  lambda: window.open_path(SAMPLE_VIDEO))
    idle(500)
    times = []
    for _, frame_idx in plan:
        times.append(seconds_until([view.frame_shown], lambda f=frame_idx: view.shown_frame_idx
                                   == f, lambda f=frame_idx: window.playhead.set_frame(f)))
        idle(rest_ms)
    dispose(window)
    return times


def decode_times(plan: list[tuple[str, int]]) -> list[float]:
    """Seconds of ``FrameSource.read`` for the same frames in the same order (the baseline)."""
    source = open_source(SAMPLE_VIDEO)
    source.read(0)
    times = []
    for _, frame_idx in plan:
        started = time.perf_counter()
        source.read(frame_idx)
        times.append(time.perf_counter() - started)
    source.close()
    return times


def zoom_plan(n_frames: int, fps: float, n_calls: int,
              rng: np.random.Generator) -> list[tuple[int, int]]:
    """Visible ranges: zooms to 10 s … 10 min windows (log-uniform) and pans of 10–50 %."""
    plan, width, first = [], int(30 * fps), 0
    for call in range(n_calls):
        if call % 2 == 0:
            centre = first + width // 2
            width = int(np.exp(rng.uniform(np.log(10 * fps), np.log(600 * fps))))
            first = centre - width // 2
        else:
            first += int(rng.choice([-1, 1]) * rng.uniform(0.1, 0.5) * width)
        first = min(max(first, 0), n_frames - 1 - width)
        plan.append((first, first + width))
    return plan


def redraw_times(app: QApplication, timeline: TimelineView,
                 plan: list[tuple[int, int]]) -> list[float]:
    """Seconds per ``set_visible_range`` + ``processEvents`` + ``grab`` of ``timeline``."""
    app.processEvents()
    timeline.grab()  # first paint (caches) not timed
    times = []
    for first_frame, last_frame in plan:
        started = time.perf_counter()
        timeline.set_visible_range(first_frame, last_frame)
        app.processEvents()
        timeline.grab()
        times.append(time.perf_counter() - started)
    return times


def band_counts(app: QApplication, window: MainWindow, width_frames: int) -> str:
    """Intervals in a ``width_frames`` window at mid-video and the band items made for them."""
    session, track = window.session, window.interval_track
    first = min(session.n_frames // 2, session.n_frames - 1 - width_frames)
    window.timeline.set_visible_range(first, first + width_frames)
    app.processEvents()
    in_view = len(session.annotations.in_range(first, first + width_frames))
    bands = [i for i in track.getViewBox().childGroup.childItems() if isinstance(i, IntervalBand)]
    return (f"{in_view:4d} intervals in view → {len(track.shown_bands())} bands + "
            f"{len(track.shown_runs())} runs shown; band items: "
            f"{sum(b.isVisible() for b in bands)} visible, {len(bands)} in all (pool included)")


def profiled(name: str, wanted: str | None, run: Callable[[], object]) -> object:
    """``run()``, under cProfile when ``wanted == name`` (prints the top 25 by cumulative time)."""
    if wanted != name:
        return run()
    profile = cProfile.Profile()
    value = profile.runcall(run)
    pstats.Stats(profile).sort_stats("cumulative").print_stats(25)
    return value


def report_open(app: QApplication, video: Path, project_video: Path, args: argparse.Namespace
                ) -> None:
    """Figure 1: fresh windows opening the project video vs a bare VideoView."""
    bare = [open_bare(video) for _ in range(args.repeats)]
    opened = []
    for repeat in range(args.repeats):
        wanted = args.profile if repeat == 0 else None
        ready_s, painted_s, window = profiled("open", wanted,
                                              lambda: open_with_result(app, project_video))
        opened.append((ready_s, painted_s))
        dispose(window)
    bare_s = statistics.median(bare)
    ready_s = statistics.median(r for r, _ in opened)
    painted_s = statistics.median(p for _, p in opened)
    print(f"\n1. open the 1-h video with its stored result ({args.repeats} fresh windows, median)")
    print(f"   bare VideoView to frame 0 : {bare_s:6.2f} s (baseline; "
          f"{', '.join(f'{s:.2f}' for s in bare)})")
    print(f"   window ready              : {ready_s:6.2f} s = {ready_s / bare_s:5.1f} × baseline "
          f"({', '.join(f'{r:.2f}' for r, _ in opened)})")
    print(f"   window ready + painted    : {painted_s:6.2f} s = {painted_s / bare_s:5.1f} × "
          f"baseline — {verdict(painted_s, TARGET_OPEN_S, 's')}")


def report_seek(args: argparse.Namespace) -> None:
    """Figure 2: seek-to-frame-shown on the sample vs decoding the same frames."""
    source = open_source(SAMPLE_VIDEO)
    plan = seek_plan(source.n_frames, args.seeks, np.random.default_rng(0))
    source.close()
    decoded = decode_times(plan)
    shown = profiled("seek", args.profile, lambda: seek_times(plan, args.rest_ms))
    print(f"\n2. seek-to-frame-shown on {SAMPLE_VIDEO.name} ({len(plan)} moves, "
          f"{args.rest_ms} ms rest after each)")
    for kind in ("seek", "step"):
        picked = [i for i, (k, _) in enumerate(plan) if k == kind]
        d_med, d_p90 = stats_ms([decoded[i] for i in picked])
        s_med, s_p90 = stats_ms([shown[i] for i in picked])
        print(f"   {kind}s ({len(picked)}): decode only median {d_med:5.1f} ms, p90 {d_p90:5.1f}"
              f" ms (baseline)\n      shown median {s_med:5.1f} ms, p90 {s_p90:5.1f} ms = "
              f"{s_med / d_med:.1f} × decode — {verdict(s_med, TARGET_SEEK_MS, 'ms')}")
    (all_med, all_p90), (dec_med, _) = stats_ms(shown), stats_ms(decoded)
    print(f"   all moves: shown median {all_med:5.1f} ms, p90 {all_p90:5.1f} ms = "
          f"{all_med / dec_med:.2f} × decode — {verdict(all_med, TARGET_SEEK_MS, 'ms')}")


def report_zoom(app: QApplication, project_video: Path, args: argparse.Namespace) -> None:
    """Figure 3: zoom/pan redraw of the window's timeline vs an empty TimelineView."""
    _, _, window = open_with_result(app, project_video)
    n_frames, fps = window.session.n_frames, window.session.fps
    first_count = band_counts(app, window, int(10 * fps))  # before any wider zoom filled the pool
    plan = zoom_plan(n_frames, fps, args.zooms, np.random.default_rng(0))
    empty_playhead = Playhead()
    empty = TimelineView(empty_playhead)
    empty.resize(window.timeline.size())
    empty.show()
    empty_playhead.set_video(n_frames, fps)
    empty_med, empty_p90 = stats_ms(redraw_times(app, empty, plan))
    empty.shutdown()
    dispose(empty)
    full_med, full_p90 = stats_ms(profiled("zoom", args.profile,
                                           lambda: redraw_times(app, window.timeline, plan)))
    size = window.timeline.size()
    print(f"\n3. zoom/pan redraw, {args.zooms} calls, 10-s to 10-min windows, timeline "
          f"{size.width()}×{size.height()} px")
    print(f"   empty TimelineView        : median {empty_med:6.1f} ms, p90 {empty_p90:6.1f} ms "
          "(baseline)")
    print(f"   window, 108k-point curves : median {full_med:6.1f} ms, p90 {full_p90:6.1f} ms = "
          f"{full_med / empty_med:.1f} × baseline — {verdict(full_med, TARGET_REDRAW_MS, 'ms')}")
    print(f"   {len(window.session.annotations)} intervals; at a 10-s zoom (fresh window):\n"
          f"      {first_count}")
    for label, seconds in (("10-min zoom", 600), ("whole video", n_frames / fps)):
        print(f"   {label}:\n      {band_counts(app, window, int(seconds * fps) - 1)}")
    dispose(window)


def isolate_user_files() -> Path:
    """The data folder and QSettings in a new temporary folder (the user's stay untouched)."""
    user_dir = Path(tempfile.mkdtemp(prefix="metst-bench-gui-"))
    os.environ["METST_STUDIO_DATA_DIR"] = str(user_dir / "data")
    QCoreApplication.setOrganizationName("ME-TST-bench")
    QCoreApplication.setApplicationName("ME-TST Studio bench")
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope,
                      str(user_dir / "settings"))
    return user_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache/metst-studio-bench")
    parser.add_argument("--video", type=Path, help="a ready one-hour recording to use")
    parser.add_argument("--repeats", type=int, default=3, help="fresh windows opened (median)")
    parser.add_argument("--seeks", type=int, default=30, help="random seeks (each + 2 steps)")
    parser.add_argument("--rest-ms", type=int, default=200, help="pause after each seek")
    parser.add_argument("--zooms", type=int, default=50, help="set_visible_range calls")
    parser.add_argument("--profile", choices=("open", "seek", "zoom"),
                        help="print a cProfile of one phase")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f} (1 min) on {os.cpu_count()} CPUs")
    cache = args.cache.expanduser()
    video = (args.video or cache / "hour.mp4").expanduser()
    if not video.is_file():
        print(f"writing the one-hour recording {video} (once; ~100 s)")
        write_hour_video(video)
    started = time.perf_counter()
    project_video = prepare_project(cache, video)
    print(f"project {project_video.parent.parent}: stored result and {N_INTERVALS} intervals "
          f"written in {time.perf_counter() - started:.1f} s")
    user_dir = isolate_user_files()
    qInstallMessageHandler(quiet_offscreen)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    dialogs: list[str] = []
    no_dialogs(dialogs)
    report_open(app, video, project_video, args)
    report_seek(args)
    report_zoom(app, project_video, args)
    shutil.rmtree(user_dir, ignore_errors=True)
    print(f"\nload average {os.getloadavg()[0]:.2f} (1 min) at the end")
    if dialogs:
        print(f"message boxes during the run: {dialogs}")


if __name__ == "__main__":
    main()

"""TrainProcess runs a command in a child process: JSON lines become progress events, other
output the log; a failure reports the command's own message; Cancel and shutdown end it fast."""

from __future__ import annotations

import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from metst_gui.train_process import TrainProcess

pytestmark = pytest.mark.gui

END_TIMEOUT_MS = 20_000


def python_script(source: str) -> list[str]:
    """A command prefix that runs ``source`` (its arguments in ``sys.argv[1:]``)."""
    return [sys.executable, "-c", textwrap.dedent(source)]


@pytest.fixture
def processes() -> Iterator[list[TrainProcess]]:
    """The test's TrainProcesses; none may still be running at the end (killed if so)."""
    made: list[TrainProcess] = []
    yield made
    running = [p for p in made if p.is_running]
    for process in made:
        process.shutdown()
    assert not running, "a process was left running"


def make(processes: list[TrainProcess], source: str, **kwargs: int) -> TrainProcess:
    process = TrainProcess(command=python_script(source), **kwargs)
    processes.append(process)
    return process


def record(process: TrainProcess) -> dict[str, list]:
    seen: dict[str, list] = {"progress": [], "log": [], "failed": [], "finished": []}
    process.progress.connect(seen["progress"].append)
    process.log_line.connect(seen["log"].append)
    process.failed.connect(seen["failed"].append)
    process.finished.connect(seen["finished"].append)
    return seen


def cancel_after_first_progress(qtbot: QtBot, process: TrainProcess) -> float:
    """Start ``process``, cancel it once it reports progress: the seconds until it finished."""
    with qtbot.waitSignal(process.progress, timeout=END_TIMEOUT_MS):
        process.start([])
    started = time.perf_counter()
    with qtbot.waitSignal(process.finished, timeout=END_TIMEOUT_MS):
        process.cancel()
    return time.perf_counter() - started


def test_json_lines_become_progress_and_the_rest_the_log(
        qtbot: QtBot, processes: list[TrainProcess]) -> None:
    process = make(processes, """
        import sys, time
        print('{"event": "features", "done": 0, "total": 2, "video": "s1/v1"}', flush=True)
        sys.stdout.write('{"event": "epoch", "fold": "s1", '); sys.stdout.flush()
        time.sleep(0.2)                                       # a line split across two reads
        print('"epoch": 1, "epochs": 3, "loss": 0.5}', flush=True)
        print('{"event": "note", "message": "warning: s2/v1 skipped"}', flush=True)
        print("a plain line", flush=True)
        print("{not json", flush=True)
        print("progress on stderr", file=sys.stderr, flush=True)
        print(" ".join(sys.argv[1:]), flush=True)
    """)
    seen = record(process)
    with qtbot.waitSignal(process.finished, timeout=END_TIMEOUT_MS):
        process.start(["train", "--epochs", "3"])
        assert process.is_running
    assert seen["finished"] == [0] and seen["failed"] == []
    assert [e["event"] for e in seen["progress"]] == ["features", "epoch", "note"]
    assert seen["progress"][1] == {"event": "epoch", "fold": "s1", "epoch": 1, "epochs": 3,
                                   "loss": 0.5}
    for line in ("warning: s2/v1 skipped", "a plain line", "{not json",
                 "progress on stderr", "train --epochs 3"):
        assert line in seen["log"]
    assert not process.is_running


def test_a_failing_command_reports_its_own_error_message(
        qtbot: QtBot, processes: list[TrainProcess]) -> None:
    process = make(processes, """
        import sys
        print('{"event": "error", "message": "/p/a.intervals.csv: no column onset_frame"}')
        print("error: /p/a.intervals.csv: no column onset_frame", file=sys.stderr)
        sys.exit(1)
    """)
    seen = record(process)
    with qtbot.waitSignal(process.finished, timeout=END_TIMEOUT_MS):
        process.start([])
    assert seen["failed"] == ["/p/a.intervals.csv: no column onset_frame"]
    assert seen["finished"] == [1]


def test_a_crash_names_the_exception_not_a_traceback(
        qtbot: QtBot, processes: list[TrainProcess]) -> None:
    process = make(processes, "raise RuntimeError('CUDA out of memory')")
    seen = record(process)
    with qtbot.waitSignal(process.finished, timeout=END_TIMEOUT_MS):
        process.start([])
    (message,) = seen["failed"]
    assert "RuntimeError: CUDA out of memory" in message and "exit code 1" in message
    assert "Traceback" not in message
    assert any(line.startswith("Traceback") for line in seen["log"])   # the log has it all


def test_cancel_ends_the_process_promptly_without_a_failure(
        qtbot: QtBot, processes: list[TrainProcess]) -> None:
    process = make(processes, """
        import time
        print('{"event": "features", "done": 0, "total": 1, "video": "v"}', flush=True)
        time.sleep(60)
    """)
    seen = record(process)
    assert cancel_after_first_progress(qtbot, process) < 3.0
    assert seen["finished"] == [-1] and seen["failed"] == []
    assert process.was_cancelled and not process.is_running


def test_cancel_kills_a_process_that_ignores_sigterm(
        qtbot: QtBot, processes: list[TrainProcess]) -> None:
    process = make(processes, """
        import signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print('{"event": "note", "message": "ready"}', flush=True)
        time.sleep(60)
    """, grace_ms=300)
    seen = record(process)
    assert 0.25 < cancel_after_first_progress(qtbot, process) < 5.0
    assert seen["finished"] == [-1] and seen["failed"] == []


def test_shutdown_kills_and_returns(qtbot: QtBot, processes: list[TrainProcess]) -> None:
    process = make(processes, """
        import time
        print('{"event": "note", "message": "ready"}', flush=True)
        time.sleep(60)
    """)
    seen = record(process)
    with qtbot.waitSignal(process.progress, timeout=END_TIMEOUT_MS):
        process.start([])
    with pytest.raises(RuntimeError, match="already running"):
        process.start([])
    started = time.perf_counter()
    process.shutdown()
    assert time.perf_counter() - started < 3.5
    assert not process.is_running and seen["finished"] == [-1] and seen["failed"] == []


def test_a_program_that_does_not_exist_is_a_failure(qtbot: QtBot, tmp_path: Path) -> None:
    process = TrainProcess(command=[str(tmp_path / "no-such-program")])
    seen = record(process)
    with qtbot.waitSignal(process.finished, timeout=END_TIMEOUT_MS):
        process.start(["train"])
    (message,) = seen["failed"]
    assert "could not start" in message and "no-such-program" in message
    assert seen["finished"] == [-1] and not process.is_running


def test_the_real_cli_runs_as_a_module_and_its_error_arrives(
        qtbot: QtBot, tmp_path: Path, processes: list[TrainProcess]) -> None:
    process = TrainProcess()
    processes.append(process)
    seen = record(process)
    missing = tmp_path / "no-such-project"
    with qtbot.waitSignal(process.finished, timeout=60_000):
        process.start(["train", "--data", "project", "--root", str(missing),
                       "--out", str(tmp_path / "run"), "--json-progress"])
    assert seen["finished"] == [1]
    (message,) = seen["failed"]
    assert str(missing) in message and "Traceback" not in message
    assert seen["progress"][-1]["event"] == "error"

"""The ``metst`` command line in a separate process, followed through its JSON lines.

:class:`TrainProcess` runs ``python -m training.cli <args>`` (the interpreter running the app) in
a :class:`QProcess`, so training never shares the window's event loop, memory or GIL. With
``--json-progress`` the command prints one JSON object per line on stdout (the events of
:mod:`training.cli_progress`); each becomes a :attr:`TrainProcess.progress` signal. Every other
stdout or stderr line, and the message of each ``note`` event, becomes a ``log_line``.

Cancel sends SIGTERM, then SIGKILL after a grace period. Nothing here waits on the GUI thread
except :meth:`TrainProcess.shutdown` (window closing), which waits a bounded time.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, QTimer, Signal

__all__ = ["TrainProcess", "CLI_MODULE", "CANCEL_GRACE_MS"]

CLI_MODULE = "training.cli"
CANCEL_GRACE_MS = 2000
_SHUTDOWN_WAIT_MS = 3000
_MAX_REMEMBERED_ERRORS = 20


def _package_root() -> Path | None:
    """The folder holding the ``training`` package (for PYTHONPATH), without importing it."""
    spec = importlib.util.find_spec("training")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))).parent


class TrainProcess(QObject):
    """One ``metst`` command at a time in a child process.

    Signals:
        progress(dict): a JSON event line of the command (``{"event": "epoch", ...}``).
        log_line(str): a plain stdout line, a stderr line, or a ``note`` event's message.
        failed(str): the command did not succeed (exit code ≠ 0, crashed, could not start);
            the message is the command's own error text. Not emitted after :meth:`cancel`.
        finished(int): the process ended (after ``failed`` when it failed): its exit code, or
            -1 when it crashed, was cancelled or could not start.
    """

    progress = Signal(dict)
    log_line = Signal(str)
    failed = Signal(str)
    finished = Signal(int)

    def __init__(self, parent: QObject | None = None, *, command: Sequence[str] | None = None,
                 grace_ms: int = CANCEL_GRACE_MS) -> None:
        """``command``: what runs before the arguments (default ``[sys.executable, "-m",
        "training.cli"]``; a frozen app passes its own launcher); ``grace_ms``: how long
        :meth:`cancel` waits after SIGTERM before it kills."""
        super().__init__(parent)
        self._command = list(command) if command else [sys.executable, "-m", CLI_MODULE]
        self._grace_ms = grace_ms
        self._process: QProcess | None = None
        self._stdout_buffer = b""
        self._stderr_buffer = b""
        self._errors: list[str] = []
        self._last_stderr = ""
        self._cancelled = False
        self._kill_timer = QTimer(self)
        self._kill_timer.setSingleShot(True)
        self._kill_timer.timeout.connect(self._kill)

    @property
    def is_running(self) -> bool:
        """Whether a command is starting or running."""
        return self._process is not None

    @property
    def was_cancelled(self) -> bool:
        """Whether the last command was stopped by :meth:`cancel` or :meth:`shutdown`."""
        return self._cancelled

    def start(self, args: Sequence[str]) -> None:
        """Run the command with ``args`` (``["train", "--data", ...]``); RuntimeError if a
        command is still running."""
        if self._process is not None:
            raise RuntimeError("a training process is already running")
        self._stdout_buffer, self._stderr_buffer = b"", b""
        self._errors, self._last_stderr, self._cancelled = [], "", False
        process = QProcess(self)
        environment = QProcessEnvironment.systemEnvironment()
        environment.insert("PYTHONUNBUFFERED", "1")
        root = _package_root()
        if root is not None:
            paths = [str(root), environment.value("PYTHONPATH", "")]
            environment.insert("PYTHONPATH", os.pathsep.join(p for p in paths if p))
        process.setProcessEnvironment(environment)
        process.readyReadStandardOutput.connect(self._read_stdout)
        process.readyReadStandardError.connect(self._read_stderr)
        process.finished.connect(self._on_finished)
        process.errorOccurred.connect(self._on_error)
        self._process = process
        process.start(self._command[0], [*self._command[1:], *args])

    def cancel(self) -> None:
        """Ask the command to stop (SIGTERM), and kill it if it is still there after the grace
        period. ``finished(-1)`` follows; ``failed`` does not."""
        if self._process is None:
            return
        self._cancelled = True
        self._process.terminate()
        self._kill_timer.start(self._grace_ms)

    def shutdown(self) -> None:
        """Kill a running command and wait a few seconds for it to end (window closing)."""
        process = self._process
        if process is None:
            return
        self._cancelled = True
        process.kill()
        process.waitForFinished(_SHUTDOWN_WAIT_MS)
        if self._process is process:            # finished was not delivered while waiting
            self._end(-1)

    # ------------------------------------------------------------------ output

    def _read_stdout(self) -> None:
        if self._process is None:
            return
        self._stdout_buffer += bytes(self._process.readAllStandardOutput().data())
        *lines, self._stdout_buffer = self._stdout_buffer.split(b"\n")
        for line in lines:
            self._stdout_line(line.decode("utf-8", errors="replace").rstrip("\r"))

    def _read_stderr(self) -> None:
        if self._process is None:
            return
        self._stderr_buffer += bytes(self._process.readAllStandardError().data())
        *lines, self._stderr_buffer = self._stderr_buffer.split(b"\n")
        for line in lines:
            self._stderr_line(line.decode("utf-8", errors="replace").rstrip("\r"))

    def _stdout_line(self, line: str) -> None:
        if not line.strip():
            return
        event = None
        if line.startswith("{"):
            try:
                event = json.loads(line)
            except ValueError:
                event = None
        if not isinstance(event, dict) or "event" not in event:
            self.log_line.emit(line)
            return
        if event["event"] == "note":
            self.log_line.emit(str(event.get("message", "")))
        elif event["event"] == "error":
            self._remember_error(str(event.get("message", "")))
        self.progress.emit(event)

    def _stderr_line(self, line: str) -> None:
        if not line.strip():
            return
        self.log_line.emit(line)
        if line.startswith("error:"):
            self._remember_error(line.removeprefix("error:").strip())
        elif not line.startswith(" "):          # the last line of a traceback, say
            self._last_stderr = line

    def _remember_error(self, message: str) -> None:
        if message and message not in self._errors:
            self._errors = [*self._errors, message][-_MAX_REMEMBERED_ERRORS:]

    # -------------------------------------------------------------------- end

    def _on_finished(self, exit_code: int, status: QProcess.ExitStatus) -> None:
        if self._process is None:
            return
        self._read_stdout()
        self._read_stderr()
        for leftover in (self._stdout_buffer, self._stderr_buffer):
            if leftover.strip():
                self.log_line.emit(leftover.decode("utf-8", errors="replace"))
        crashed = status != QProcess.ExitStatus.NormalExit
        self._end(-1 if crashed or self._cancelled else exit_code)

    def _on_error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart and self._process is not None:
            self._errors = [f"could not start {self._command[0]} "
                            f"({self._process.errorString()})"]
            self._end(-1)

    def _end(self, exit_code: int) -> None:
        """Forget the process, then report (``failed`` first when it did not succeed)."""
        process, self._process = self._process, None
        self._kill_timer.stop()
        if process is not None:
            process.deleteLater()
        if exit_code != 0 and not self._cancelled:
            self.failed.emit(self._failure_message(exit_code))
        self.finished.emit(exit_code)

    def _failure_message(self, exit_code: int) -> str:
        if self._errors:
            return "\n".join(self._errors)
        reason = f"exit code {exit_code}" if exit_code >= 0 else "it crashed"
        last = f": {self._last_stderr}" if self._last_stderr else ""
        return f"the training process stopped ({reason}){last}"

    def _kill(self) -> None:
        if self._process is not None:
            self._process.kill()

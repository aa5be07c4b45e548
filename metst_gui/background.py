"""Run a short blocking job (file import/export, a spreadsheet read) off the GUI thread.

``run_in_background(owner, job, on_result, on_error)`` queues ``job()`` on Qt's global thread
pool and calls ``on_result(value)`` or ``on_error(message)`` back on the GUI thread. Errors that
the job's code expects (``ValueError``, ``OSError``) arrive as their message; anything else is
logged with its traceback and arrives as a one-line message pointing to the log.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

__all__ = ["run_in_background", "BackgroundTask"]

_log = logging.getLogger(__name__)


class _Relay(QObject):
    """Lives on the GUI thread; the runnable emits through it (queued across threads)."""

    succeeded = Signal(object)
    failed = Signal(str)


class BackgroundTask(QRunnable):
    """One queued job; keep no reference: the pool deletes it when done."""

    def __init__(self, job: Callable[[], Any], relay: _Relay) -> None:
        super().__init__()
        self._job = job
        self._relay = relay

    def run(self) -> None:
        try:
            value = self._job()
        except (ValueError, OSError) as exc:
            self._relay.failed.emit(" ".join(str(exc).split("\n\n")[:1]) or type(exc).__name__)
            return
        except Exception as exc:  # noqa: BLE001 (reported to the user, traceback logged)
            _log.exception("background job failed")
            self._relay.failed.emit(f"{type(exc).__name__}: {exc} (details in the log)")
            return
        self._relay.succeeded.emit(value)


def run_in_background(owner: QObject, job: Callable[[], Any],
                      on_result: Callable[[Any], None],
                      on_error: Callable[[str], None]) -> None:
    """Run ``job`` on the global thread pool; the callbacks run on ``owner``'s (GUI) thread."""
    relay = _Relay(owner)

    def finished_ok(value: object) -> None:
        relay.deleteLater()
        on_result(value)

    def finished_error(message: str) -> None:
        relay.deleteLater()
        on_error(message)

    relay.succeeded.connect(finished_ok)
    relay.failed.connect(finished_error)
    QThreadPool.globalInstance().start(BackgroundTask(job, relay))

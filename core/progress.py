"""Progress reports and cancellation for long work (extraction, analysis, training).

Long work in ``core`` is written as functions that accept ``progress`` (a callable taking a
:class:`Progress`) and ``cancel`` (a :class:`CancelToken`); the CLI wraps them in a tqdm bar,
the GUI in a worker thread with a progress bar and a Cancel button.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Progress", "ProgressCallback", "CancelToken", "Cancelled", "report"]


@dataclass(frozen=True)
class Progress:
    """One progress report: ``done`` of ``total`` units of ``stage`` (e.g. frames of "flow")."""

    stage: str
    done: int
    total: int
    message: str = ""

    @property
    def fraction(self) -> float:
        """Completed fraction in [0, 1] (0 when the total is unknown)."""
        return min(1.0, self.done / self.total) if self.total > 0 else 0.0


ProgressCallback = Callable[[Progress], None]


class Cancelled(Exception):
    """Raised inside long work when its :class:`CancelToken` was set; nothing half-done is kept."""


class CancelToken:
    """Thread-safe flag a caller sets to stop long work at its next check."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled("cancelled by the user")


def report(progress: ProgressCallback | None, stage: str, done: int, total: int,
           message: str = "") -> None:
    """Send a report if a callback is given (saves an ``if`` at every call site)."""
    if progress is not None:
        progress(Progress(stage, done, total, message))

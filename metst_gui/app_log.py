"""The window's log file and its last line of defence against uncaught exceptions.

:func:`setup_logging` sends the root logger (INFO and above) to a rotating file (1 MB × 3 backups),
usually :func:`metst_gui.user_paths.log_file_path`. :func:`install_excepthook` replaces
``sys.excepthook`` (which PySide6 calls for an exception escaping a slot) and
``threading.excepthook``: the exception goes to the log with its traceback, and the user gets one
short sentence through ``show_message`` (the window shows it in a message box) — never a raw
traceback. ``show_message`` always runs on the GUI thread, whichever thread failed.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable
from logging.handlers import RotatingFileHandler
from pathlib import Path
from types import TracebackType

from PySide6.QtCore import QObject, Signal, Slot

__all__ = ["setup_logging", "stop_logging", "current_log_path", "install_excepthook",
           "unexpected_error_message", "LOG_MAX_BYTES", "LOG_BACKUPS"]

LOG_MAX_BYTES = 1_000_000
LOG_BACKUPS = 3
_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(threadName)s]: %(message)s"

_logger = logging.getLogger(__name__)
_handler: RotatingFileHandler | None = None
_relay: _MessageRelay | None = None


def setup_logging(log_path: Path, level: int = logging.INFO) -> Path:
    """Log to ``log_path`` (rotating, 1 MB × 3); idempotent. Returns the log file's path.

    Calling it again with the same path changes nothing; with another path, the log moves there.

    Raises:
        OSError: the log file cannot be opened (the message names it).
    """
    global _handler
    log_path = Path(log_path).absolute()
    root = logging.getLogger()
    if root.level == logging.NOTSET or root.level > level:
        root.setLevel(level)
    if _handler is not None and Path(_handler.baseFilename) == log_path:
        return log_path
    log_path.parent.mkdir(parents=True, exist_ok=True)
    handler = RotatingFileHandler(log_path, maxBytes=LOG_MAX_BYTES, backupCount=LOG_BACKUPS,
                                  encoding="utf-8", delay=False)
    handler.setLevel(level)
    handler.setFormatter(logging.Formatter(_FORMAT))
    stop_logging()
    root.addHandler(handler)
    _handler = handler
    logging.captureWarnings(True)
    _logger.info("logging to %s", log_path)
    return log_path


def stop_logging() -> None:
    """Detach and close the log file set up by :func:`setup_logging` (nothing if none)."""
    global _handler
    if _handler is not None:
        logging.getLogger().removeHandler(_handler)
        _handler.close()
        _handler = None


def current_log_path() -> Path | None:
    """The file :func:`setup_logging` writes to, or None before it is called."""
    return Path(_handler.baseFilename) if _handler is not None else None


def unexpected_error_message(what: str, exc: BaseException) -> str:
    """``"<what> failed: <Type>: <message> (details in <log>)"`` for an unexpected exception."""
    log_path = current_log_path()
    where = f"details in {log_path}" if log_path is not None else "details in the error output"
    text = " ".join(str(exc).split()) or "(no message)"
    return f"{what} failed: {type(exc).__name__}: {text} ({where})"


class _MessageRelay(QObject):
    """Lives on the GUI thread: a message emitted from any thread is shown on the GUI thread."""

    message = Signal(str)

    def __init__(self, show_message: Callable[[str], None]) -> None:
        super().__init__()
        self._show_message = show_message
        self.message.connect(self._show)

    @Slot(str)
    def _show(self, text: str) -> None:
        try:
            self._show_message(text)
        except Exception:  # a failing message box must not re-enter the hook forever
            _logger.exception("could not show the error message: %s", text)


def install_excepthook(show_message: Callable[[str], None]) -> None:
    """Log uncaught exceptions (with traceback) and tell the user in one sentence.

    Call it on the GUI thread once the ``QApplication`` exists. ``show_message`` receives
    ``"<what> failed: <Type>: <message> (details in <log>)"``.
    """
    global _relay
    _relay = _MessageRelay(show_message)
    relay = _relay

    def hook(exc_type: type[BaseException], exc: BaseException,
             tb: TracebackType | None) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            sys.__excepthook__(exc_type, exc, tb)
            return
        _logger.critical("uncaught exception", exc_info=(exc_type, exc, tb))
        relay.message.emit(unexpected_error_message("an action", exc))

    def thread_hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_value is not None:
            hook(args.exc_type, args.exc_value, args.exc_traceback)

    sys.excepthook = hook
    threading.excepthook = thread_hook

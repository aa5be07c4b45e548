"""``metst-studio [VIDEO | PROJECT_DIR]``: start ME-TST Studio's window, optionally opening a
video (file or folder of frames) or a project folder.

Errors opening it are shown in the window (a message box naming the file), never as a traceback;
the log goes to a file in the user's data folder (Help → Show the log file), and an unexpected
exception in a slot is logged with its traceback and shown as one line.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QEvent
from PySide6.QtWidgets import QApplication, QMessageBox

import core
from metst_gui.app_log import install_excepthook, setup_logging
from metst_gui.main_window import APP_TITLE, MainWindow
from metst_gui.user_paths import log_file_path

__all__ = ["main", "build_parser", "ORGANIZATION_NAME"]

ORGANIZATION_NAME = "ME-TST"


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``metst-studio``."""
    parser = argparse.ArgumentParser(
        prog="metst-studio",
        description="Review long facial videos for micro-expressions.")
    parser.add_argument("path", nargs="?", type=Path, default=None, metavar="VIDEO | PROJECT_DIR",
                        help="a video file, a folder of frames or a project folder to open")
    parser.add_argument("--version", action="version", version=f"%(prog)s {core.__version__}")
    return parser


def _application() -> QApplication:
    """The running ``QApplication``, created (and named, for QSettings) if there is none."""
    QCoreApplication.setApplicationName(APP_TITLE)
    QCoreApplication.setOrganizationName(ORGANIZATION_NAME)
    QCoreApplication.setApplicationVersion(core.__version__)
    app = QApplication.instance()
    if app is None:
        app = QApplication(sys.argv[:1])
    if not isinstance(app, QApplication):
        raise RuntimeError("a QCoreApplication without widgets is already running")
    return app


def main(argv: list[str] | None = None) -> int:
    """Run the window until it is closed; ``argv`` excludes the program name (default: sys.argv).

    Returns the exit status (0 when the window was closed normally).
    """
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    app = _application()
    try:
        setup_logging(log_file_path())
    except OSError as exc:
        print(f"metst-studio: cannot write the log file ({exc}); continuing without it",
              file=sys.stderr)
    window = MainWindow()
    main_window = window
    install_excepthook(
        lambda message: QMessageBox.critical(main_window, "Unexpected error", message))
    window.show()
    if args.path is not None:
        window.open_path(args.path)
    status = app.exec()
    # Delete the window (and its pyqtgraph scenes) before the interpreter tears Qt down:
    # PySide6 6.11 + pyqtgraph 0.14 can crash at exit when a scene outlives the application.
    window.deleteLater()
    del window
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    return status


if __name__ == "__main__":
    sys.exit(main())

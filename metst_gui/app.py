"""``metst-studio [VIDEO]``: start ME-TST Studio's window, optionally opening a video.

The same window opens a video file or a folder of frames later through File → Open. Errors
opening the video are shown in the window (a message box naming the file), never as a traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PySide6.QtCore import QCoreApplication
from PySide6.QtWidgets import QApplication

import core
from metst_gui.main_window import APP_TITLE, MainWindow

__all__ = ["main", "build_parser", "ORGANIZATION_NAME"]

ORGANIZATION_NAME = "ME-TST"


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``metst-studio``."""
    parser = argparse.ArgumentParser(
        prog="metst-studio",
        description="Review long facial videos for micro-expressions.")
    parser.add_argument("video", nargs="?", type=Path, default=None,
                        help="a video file or a folder of frames to open")
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
    window = MainWindow()
    window.show()
    if args.video is not None:
        window.open_path(args.video)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())

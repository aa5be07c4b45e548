"""Where ME-TST Studio keeps its own files: the user's data folder.

The data folder is Qt's ``QStandardPaths.AppDataLocation`` for the application name and
organisation set in :mod:`metst_gui.app` (e.g. ``~/.local/share/ME-TST/ME-TST Studio`` on Linux),
or the folder named by the environment variable ``METST_STUDIO_DATA_DIR`` (tests and portable
installs). It holds the implicit projects of bare videos (:func:`projects_dir`, see
:func:`core.project.project_for_video`) and the window's log (:func:`log_file_path`).
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QStandardPaths

__all__ = ["DATA_DIR_ENV", "LOG_FILE_NAME", "data_dir", "projects_dir", "log_file_path"]

#: Environment variable that overrides the data folder.
DATA_DIR_ENV = "METST_STUDIO_DATA_DIR"
LOG_FILE_NAME = "metst-studio.log"
_FALLBACK_DIR_NAME = ".metst-studio"


def data_dir() -> Path:
    """The user's data folder (created if missing).

    Raises:
        OSError: the folder cannot be created (its message names the folder).
    """
    override = os.environ.get(DATA_DIR_ENV, "").strip()
    if override:
        folder = Path(override).expanduser()
    else:
        location = QStandardPaths.writableLocation(
            QStandardPaths.StandardLocation.AppDataLocation)
        folder = Path(location) if location else Path.home() / _FALLBACK_DIR_NAME
    folder.mkdir(parents=True, exist_ok=True)
    return folder.absolute()


def projects_dir() -> Path:
    """``<data>/projects``: the implicit projects made for videos opened on their own."""
    folder = data_dir() / "projects"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def log_file_path() -> Path:
    """``<data>/metst-studio.log``: the window's log (:func:`metst_gui.app_log.setup_logging`)."""
    return data_dir() / LOG_FILE_NAME

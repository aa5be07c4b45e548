"""The recently opened videos and projects, kept in ``QSettings``, and the "Open recent" menu.

:class:`RecentFiles` keeps at most :data:`MAX_RECENT` paths, most recent first, without
duplicates; paths that no longer exist are dropped whenever the list is read. Its :attr:`menu`
(rebuilt each time it is about to show) lists them and ends with "Clear"; choosing one emits
``path_chosen``.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QObject, QSettings, Signal, Slot
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QWidget

__all__ = ["RecentFiles", "MAX_RECENT", "SETTINGS_KEY"]

MAX_RECENT = 10
SETTINGS_KEY = "recent_files"


class RecentFiles(QObject):
    """The recent-files list and its menu.

    Args:
        settings: where the list lives (default: the application's ``QSettings()``; tests pass
            an INI file's ``QSettings``).
        menu_parent: parent widget of :attr:`menu`.

    Signals:
        path_chosen(Path): the user chose a path in the menu.
        changed(): the list changed (added to or cleared).
    """

    path_chosen = Signal(object)
    changed = Signal()

    def __init__(self, settings: QSettings | None = None, menu_parent: QWidget | None = None,
                 *, max_entries: int = MAX_RECENT, key: str = SETTINGS_KEY) -> None:
        super().__init__(menu_parent)
        self._settings = settings if settings is not None else QSettings()
        self._max_entries, self._key = max_entries, key
        self.menu = QMenu("Open &recent", menu_parent)
        self.menu.aboutToShow.connect(self.rebuild_menu)
        self.rebuild_menu()

    def paths(self) -> list[Path]:
        """The existing recent paths, most recent first (missing ones are pruned for good)."""
        stored = self._stored()
        existing = [path for path in stored if path.exists()]
        if len(existing) != len(stored):
            self._write(existing)
        return existing

    def add(self, path: str | os.PathLike[str]) -> None:
        """Put ``path`` first (moving it up if it is already listed)."""
        path = Path(path).absolute()
        paths = [path, *(p for p in self._stored() if p != path)]
        self._write(paths[: self._max_entries])
        self.rebuild_menu()
        self.changed.emit()

    def clear(self) -> None:
        self._write([])
        self.rebuild_menu()
        self.changed.emit()

    @Slot()
    def rebuild_menu(self) -> None:
        """Fill :attr:`menu` with the current paths (numbered 1…), a separator and "Clear"."""
        self.menu.clear()
        paths = self.paths()
        for number, path in enumerate(paths, start=1):
            label = path.name.replace("&", "&&")
            prefix = f"&{number} " if number < 10 else f"{number} "
            action = QAction(f"{prefix}{label}", self.menu)
            action.setToolTip(str(path))
            action.setStatusTip(str(path))
            action.setData(str(path))
            action.triggered.connect(lambda _checked=False, chosen=path: self._choose(chosen))
            self.menu.addAction(action)
        if paths:
            self.menu.addSeparator()
        self.clear_action = QAction("&Clear", self.menu)
        self.clear_action.setEnabled(bool(paths))
        self.clear_action.triggered.connect(self.clear)
        self.menu.addAction(self.clear_action)
        self.menu.setEnabled(bool(paths))
        self.menu.setToolTipsVisible(True)

    def path_actions(self) -> list[QAction]:
        """The menu's actions that open a path, in menu order."""
        return [action for action in self.menu.actions() if action.data()]

    def _stored(self) -> list[Path]:
        value = self._settings.value(self._key, [])
        if isinstance(value, str):       # QSettings gives a lone string for one-item lists
            value = [value] if value else []
        return [Path(str(item)) for item in (value or []) if str(item)]

    def _write(self, paths: list[Path]) -> None:
        self._settings.setValue(self._key, [str(path) for path in paths])
        self._settings.sync()

    def _choose(self, path: Path) -> None:
        if path.exists():
            self.path_chosen.emit(path)
        else:                            # gone since the menu was built
            self.rebuild_menu()

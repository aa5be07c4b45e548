"""Help → Keyboard and mouse: every shortcut of the window's menus, and the mouse gestures.

The shortcut table is read from the menus themselves, so it cannot drift from what the keys do.
"""

from __future__ import annotations

from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QMainWindow,
    QMenu,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

__all__ = ["ShortcutsDialog", "show_shortcuts", "MOUSE_HELP", "menu_shortcuts"]

MOUSE_HELP = (
    "<b>Timeline rows</b>: click or drag to seek · wheel to zoom around the cursor · "
    "middle- or right-drag to pan · Shift+drag to draw a new interval · drag the overview "
    "strip's window to move through the video.<br>"
    "<b>Interval track</b>: click a band to select it (double-click: go to its apex) · drag "
    "its edges, apex line or body to change it (one undo step, whole frames) · drag on an empty "
    "part to create an interval · Esc cancels a drag.<br>"
    "<b>Files</b>: drop a video or a project folder on the window to open it.")


def menu_shortcuts(window: QMainWindow) -> list[tuple[str, str, str]]:
    """(menu, action text, shortcut) for every menu action that has a shortcut, in menu order."""
    rows = []

    def walk(menu: QMenu, title: str) -> None:
        for action in menu.actions():
            if action.menu() is not None:
                walk(action.menu(), f"{title} › {action.text().replace('&', '')}")
            elif not action.isSeparator() and not action.shortcut().isEmpty():
                keys = ", ".join(s.toString(QKeySequence.SequenceFormat.NativeText)
                                 for s in action.shortcuts())
                rows.append((title, action.text().replace("&", ""), keys))

    for top in window.menuBar().actions():
        if top.menu() is not None:
            walk(top.menu(), top.text().replace("&", ""))
    return rows


class ShortcutsDialog(QDialog):
    """A table of the window's shortcuts and a paragraph on the mouse."""

    def __init__(self, window: QMainWindow) -> None:
        super().__init__(window)
        self.setWindowTitle("Keyboard and mouse")
        rows = menu_shortcuts(window)
        self.table = QTableWidget(len(rows), 3, self)
        self.table.setHorizontalHeaderLabels(["Menu", "Action", "Keys"])
        for row, cells in enumerate(rows):
            for column, text in enumerate(cells):
                self.table.setItem(row, column, QTableWidgetItem(text))
        self.table.resizeColumnsToContents()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        mouse = QLabel(MOUSE_HELP, self)
        mouse.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(mouse)
        layout.addWidget(buttons)
        self.resize(620, 560)


def show_shortcuts(window: QMainWindow) -> ShortcutsDialog:
    """Open the dialog (non-modal) and return it."""
    dialog = ShortcutsDialog(window)
    dialog.setModal(False)
    dialog.show()
    return dialog

"""Ask whether to recover autosaved edits that the saved annotation file lacks.

Shown when a video opens and :func:`core.annotation_store.has_newer_autosave` is true (the app
was closed without saving, or crashed). The question names when each file was written and how
many intervals each holds. "Recover edits" is the default and what Escape does: recovery is
applied as one undo step, so it can be undone, while discarding cannot.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from PySide6.QtWidgets import QMessageBox, QWidget

from core.annotation_store import AnnotationFileError, load_annotations

__all__ = ["ask_recover", "recovery_message_box", "describe_file"]


def describe_file(path: Path) -> str:
    """'12 intervals, written 2025-11-21 14:03:22' (or why it cannot be told)."""
    try:
        written = datetime.fromtimestamp(path.stat().st_mtime).strftime("%Y-%m-%d %H:%M:%S")
    except OSError:
        return "none yet"
    try:
        annotations, _warnings = load_annotations(path, video=path.stem, n_frames=0, fps=0.0)
    except AnnotationFileError:
        return f"unreadable, written {written}"
    count = len(annotations)
    return f"{count} interval{'' if count == 1 else 's'}, written {written}"


def recovery_message_box(parent: QWidget | None, saved_path: Path, autosave_path: Path
                         ) -> QMessageBox:
    """The question, built but not shown (Yes: recover, No: keep the saved file)."""
    saved_path, autosave_path = Path(saved_path), Path(autosave_path)
    name = saved_path.name.removesuffix(".intervals.csv")
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Question)
    box.setWindowTitle("Recover unsaved edits?")
    box.setText(f"Edits of {name} were autosaved but never saved.")
    box.setInformativeText(
        f"Autosaved edits: {describe_file(autosave_path)}\n"
        f"Saved file: {describe_file(saved_path)}\n\n"
        "Recover the autosaved edits? Recovering can be undone (Edit → Undo); discarding "
        "deletes them.")
    box.setDetailedText(f"Autosave: {autosave_path}\nSaved file: {saved_path}")
    box.setStandardButtons(QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No)
    box.button(QMessageBox.StandardButton.Yes).setText("Recover edits")
    box.button(QMessageBox.StandardButton.No).setText("Discard edits")
    box.setDefaultButton(QMessageBox.StandardButton.Yes)
    box.setEscapeButton(QMessageBox.StandardButton.Yes)
    return box


def ask_recover(parent: QWidget | None, saved_path: Path, autosave_path: Path) -> bool:
    """Ask (modally) whether to recover the autosave; True: recover, False: discard it."""
    box = recovery_message_box(parent, saved_path, autosave_path)
    try:
        return box.exec() == QMessageBox.StandardButton.Yes
    finally:
        box.deleteLater()

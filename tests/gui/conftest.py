"""GUI tests never touch the user's real data folder or settings: both go to a temporary folder."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QCoreApplication, QSettings


@pytest.fixture(scope="session", autouse=True)
def isolated_user_data(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """METST_STUDIO_DATA_DIR (implicit projects, the log) and QSettings in a temporary folder."""
    root = tmp_path_factory.mktemp("user_data")
    previous = os.environ.get("METST_STUDIO_DATA_DIR")
    os.environ["METST_STUDIO_DATA_DIR"] = str(root / "data")
    QCoreApplication.setOrganizationName("ME-TST-tests")
    QCoreApplication.setApplicationName("ME-TST Studio tests")
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(root / "settings"))
    yield root
    if previous is None:
        os.environ.pop("METST_STUDIO_DATA_DIR", None)
    else:
        os.environ["METST_STUDIO_DATA_DIR"] = previous


@pytest.fixture(autouse=True)
def no_unexpected_message_box(monkeypatch: pytest.MonkeyPatch) -> None:
    """A modal message box would block an offscreen test until CI's timeout: fail at once
    instead. Tests that expect one patch these again (their patch wins)."""
    from PySide6.QtWidgets import QMessageBox

    def unexpected(*args: object, **kwargs: object) -> None:
        texts = [a for a in args if isinstance(a, str)]
        raise AssertionError(f"unexpected modal message box: {texts}")

    for name in ("question", "warning", "critical", "information"):
        monkeypatch.setattr(QMessageBox, name, unexpected)
    monkeypatch.setattr(QMessageBox, "exec", unexpected)

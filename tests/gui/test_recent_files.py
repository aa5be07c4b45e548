"""The recent-files list keeps ten paths, newest first, once each, forgets the ones that are gone,
survives a restart (QSettings), and its menu opens a path or clears the list."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QSettings

from metst_gui.recent_files import MAX_RECENT, RecentFiles

pytestmark = pytest.mark.gui


@pytest.fixture
def settings_path(tmp_path: Path) -> Path:
    return tmp_path / "settings.ini"


def _recent(qtbot, settings_path: Path) -> RecentFiles:
    """A RecentFiles over an INI file (a fresh QSettings each time, like a restarted app)."""
    return RecentFiles(QSettings(str(settings_path), QSettings.Format.IniFormat))


def _files(tmp_path: Path, n: int) -> list[Path]:
    paths = []
    for i in range(n):
        path = tmp_path / f"video_{i:02d}.mp4"
        path.write_bytes(b"x")
        paths.append(path)
    return paths


def test_newest_first_without_duplicates_and_at_most_ten(qtbot, tmp_path: Path,
                                                         settings_path: Path) -> None:
    recent = _recent(qtbot, settings_path)
    paths = _files(tmp_path, MAX_RECENT + 2)
    for path in paths:
        recent.add(path)
    recent.add(paths[5])
    assert recent.paths() == [paths[i] for i in (5, 11, 10, 9, 8, 7, 6, 4, 3, 2)]
    assert len(recent.paths()) == MAX_RECENT
    assert _recent(qtbot, settings_path).paths() == recent.paths()   # kept across restarts


def test_missing_paths_are_pruned_when_read(qtbot, tmp_path: Path, settings_path: Path) -> None:
    recent = _recent(qtbot, settings_path)
    kept, gone = _files(tmp_path, 2)
    folder = tmp_path / "project"
    folder.mkdir()
    for path in (kept, gone, folder):
        recent.add(path)
    gone.unlink()
    assert recent.paths() == [folder, kept]
    stored = QSettings(str(settings_path), QSettings.Format.IniFormat).value("recent_files")
    assert [Path(p) for p in stored] == [folder, kept]


def test_single_entry_survives_a_restart(qtbot, tmp_path: Path, settings_path: Path) -> None:
    (path,) = _files(tmp_path, 1)
    _recent(qtbot, settings_path).add(path)
    assert _recent(qtbot, settings_path).paths() == [path]


def test_menu_opens_a_path_and_clears(qtbot, tmp_path: Path, settings_path: Path) -> None:
    recent = _recent(qtbot, settings_path)
    assert not recent.menu.isEnabled()
    first, second = _files(tmp_path, 2)
    recent.add(first)
    recent.add(second)
    actions = recent.path_actions()
    assert recent.menu.isEnabled()
    assert [a.text() for a in actions] == ["&1 video_01.mp4", "&2 video_00.mp4"]
    with qtbot.waitSignal(recent.path_chosen) as blocker:
        actions[1].trigger()
    assert blocker.args == [first]
    recent.clear_action.trigger()
    assert recent.paths() == [] and recent.path_actions() == []
    assert not recent.menu.isEnabled()


def test_ampersands_in_names_are_shown_not_taken_as_shortcuts(qtbot, tmp_path: Path,
                                                              settings_path: Path) -> None:
    path = tmp_path / "Tom & Jerry.mp4"
    path.write_bytes(b"x")
    recent = _recent(qtbot, settings_path)
    recent.add(path)
    assert recent.path_actions()[0].text() == "&1 Tom && Jerry.mp4"
    assert recent.path_actions()[0].toolTip() == str(path)

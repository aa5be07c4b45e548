"""The project panel lists a project's videos by subject with their review state, opens one on
double-click or Enter and marks the open one; the user data folder can be moved for tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from core.intervals_csv import write_intervals_csv
from core.project import Project, ProjectVideo
from metst_gui.project_panel import ProjectPanel, video_state
from metst_gui.user_paths import DATA_DIR_ENV, data_dir, log_file_path, projects_dir

pytestmark = pytest.mark.gui


def _annotation_row(onset_frame: int, status: str) -> dict[str, object]:
    return {"video": "a", "onset_frame": onset_frame, "apex_frame": onset_frame + 2,
            "offset_frame": onset_frame + 4, "emotion": "", "confidence": 0.9,
            "source": "model", "status": status, "note": ""}


@pytest.fixture
def project(tmp_path: Path) -> Project:
    """S1/a.mp4 (3 annotations: accepted, proposed, rejected), S1/b.avi (analysed), S2/c.mp4,
    and two linked videos from ``outside/``: ``kept.mp4`` and ``gone.mp4`` (deleted since)."""
    root = tmp_path / "study"
    for relative in ("S1/a.mp4", "S1/b.avi", "S2/c.mp4", "../outside/kept.mp4",
                     "../outside/gone.mp4"):
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"video bytes")
    project = Project.open(root)
    project.link_video(tmp_path / "outside" / "kept.mp4")
    project.link_video(tmp_path / "outside" / "gone.mp4")
    (tmp_path / "outside" / "gone.mp4").unlink()
    videos = {v.name: v for v in project.videos()}
    write_intervals_csv(project.annotations_path(videos["a"]),
                        [_annotation_row(10, "accepted"), _annotation_row(40, "proposed"),
                         _annotation_row(80, "rejected")])
    result_dir = project.result_dir(videos["b"])
    result_dir.mkdir(parents=True)
    (result_dir / "curves.h5").write_bytes(b"")
    return project


@pytest.fixture
def panel(qtbot, project: Project) -> ProjectPanel:
    widget = ProjectPanel()
    qtbot.addWidget(widget)
    widget.set_project(project)
    widget.show()
    return widget


def _rows(panel: ProjectPanel) -> dict[str, tuple[str, str, str]]:
    """``subject/name`` → the row's (name, analysed, annotations) texts."""
    rows = {}
    for item in panel.video_items():
        video: ProjectVideo = item.data(0, Qt.ItemDataRole.UserRole)
        rows[video.key] = (item.text(0), item.text(1), item.text(2))
    return rows


def _item(panel: ProjectPanel, name: str):
    return next(i for i in panel.video_items() if i.text(0) == name)


def test_lists_videos_by_subject_with_their_state(panel: ProjectPanel) -> None:
    subjects = [panel.tree.topLevelItem(i).text(0) for i in range(panel.tree.topLevelItemCount())]
    assert subjects == ["S1", "S2", "outside"]
    assert _rows(panel) == {"S1/a": ("a", "", "2 (1 to review)"), "S1/b": ("b", "✓", ""),
                            "S2/c": ("c", "", ""), "outside/gone": ("gone", "", ""),
                            "outside/kept": ("kept", "", "")}
    assert "missing" in _item(panel, "gone").toolTip(0)
    assert "missing" not in _item(panel, "kept").toolTip(0)


def test_refresh_shows_new_annotations(panel: ProjectPanel, project: Project) -> None:
    video = project.find_video(project.root / "S2" / "c.mp4")
    write_intervals_csv(project.annotations_path(video), [_annotation_row(5, "accepted")])
    assert _rows(panel)["S2/c"][2] == ""
    panel.refresh()
    assert _rows(panel)["S2/c"][2] == "1"
    assert video_state(project, video).n_annotations == 1


def test_double_click_and_enter_open_a_video(qtbot, panel: ProjectPanel) -> None:
    item = _item(panel, "b")
    rect = panel.tree.visualItemRect(item)
    with qtbot.waitSignal(panel.video_activated) as blocker:
        # QTest's double click alone lacks the press an item view expects before it
        qtbot.mouseClick(panel.tree.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
        qtbot.mouseDClick(panel.tree.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert blocker.args[0].key == "S1/b"
    panel.tree.setCurrentItem(_item(panel, "c"))
    panel.tree.setFocus()
    with qtbot.waitSignal(panel.video_activated) as blocker:
        qtbot.keyClick(panel.tree, Qt.Key.Key_Return)
    assert blocker.args[0].path.name == "c.mp4"


def test_subject_rows_open_nothing(qtbot, panel: ProjectPanel) -> None:
    with qtbot.assertNotEmitted(panel.video_activated):
        panel.tree.itemActivated.emit(panel.tree.topLevelItem(0), 0)


def test_current_video_is_bold_and_selected(panel: ProjectPanel, project: Project) -> None:
    video = project.find_video(project.root / "S2" / "c.mp4")
    panel.set_current(video)
    assert _item(panel, "c").font(0).bold() and not _item(panel, "a").font(0).bold()
    assert panel.tree.currentItem() is _item(panel, "c")
    panel.refresh()                             # still marked after re-reading the folder
    assert _item(panel, "c").font(0).bold()
    panel.set_project(None)
    assert panel.tree.topLevelItemCount() == 0


def test_data_folder_follows_the_environment(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "data"))
    assert data_dir() == tmp_path / "data" and data_dir().is_dir()
    assert projects_dir() == tmp_path / "data" / "projects" and projects_dir().is_dir()
    assert log_file_path() == tmp_path / "data" / "metst-studio.log"
    monkeypatch.delenv(DATA_DIR_ENV)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert data_dir().is_relative_to(tmp_path / "xdg")

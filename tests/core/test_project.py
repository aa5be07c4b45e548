"""Projects: videos found in the folder layout and linked from elsewhere, settings kept in
project.json, and linked videos' annotations read by the project dataset reader."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from core.datasets.project import load_project
from core.intervals_csv import write_intervals_csv
from core.project import (
    PROJECT_FILE,
    Project,
    ProjectError,
    ProjectSettings,
    project_for_video,
)


def _copy_sample(sample_video_path: Path, dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(sample_video_path, dest)
    return dest


def test_videos_of_the_folder_layout_are_listed_by_subject(tmp_path: Path,
                                                           sample_video_path: Path) -> None:
    _copy_sample(sample_video_path, tmp_path / "s01" / "clip.mp4")
    _copy_sample(sample_video_path, tmp_path / "s02" / "other.mp4")
    (tmp_path / "s02" / "notes.txt").write_text("not a video")

    videos = Project.open(tmp_path).videos()

    assert [(v.subject, v.name, v.linked) for v in videos] == [
        ("s01", "clip", False), ("s02", "other", False)]


def test_a_bare_video_gets_an_implicit_project_that_links_it(tmp_path: Path,
                                                             sample_video_path: Path) -> None:
    video_path = _copy_sample(sample_video_path, tmp_path / "footage" / "interview.mp4")

    project, video = project_for_video(video_path, tmp_path / "projects")
    again, same = project_for_video(video_path, tmp_path / "projects")

    assert video.linked and video.path == video_path.absolute()
    assert (video.subject, video.name) == ("footage", "interview")
    assert again.root == project.root and same == video      # the same project every time
    assert project.annotations_path(video) == project.root / "footage" / \
        "interview.intervals.csv"
    assert project.result_dir(video).is_relative_to(project.state_dir)


def test_a_video_inside_a_project_opens_that_project(tmp_path: Path,
                                                     sample_video_path: Path) -> None:
    video_path = _copy_sample(sample_video_path, tmp_path / "study" / "s01" / "clip.mp4")
    Project.open(tmp_path / "study").save()

    project, video = project_for_video(video_path, tmp_path / "projects")

    assert project.root == (tmp_path / "study").absolute()
    assert not video.linked and video.key == "s01/clip"


def test_settings_survive_reopening(tmp_path: Path) -> None:
    project = Project.open(tmp_path / "p", create=True)
    project.set_settings(ProjectSettings(model="/models/a.pt", threshold_p=0.7, annotator="kim"))

    reopened = Project.open(tmp_path / "p")

    assert reopened.settings == ProjectSettings(model="/models/a.pt", threshold_p=0.7,
                                                annotator="kim")


def test_a_damaged_project_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / PROJECT_FILE).write_text("{ not json")
    with pytest.raises(ProjectError, match="project.json"):
        Project.open(tmp_path)
    (tmp_path / PROJECT_FILE).write_text(json.dumps({"format": "something else"}))
    with pytest.raises(ProjectError, match="not an ME-TST Studio project"):
        Project.open(tmp_path)


def test_linked_names_are_made_unique(tmp_path: Path, sample_video_path: Path) -> None:
    first = _copy_sample(sample_video_path, tmp_path / "a" / "same" / "clip.mp4")
    second = _copy_sample(sample_video_path, tmp_path / "b" / "same" / "clip.mp4")
    project = Project.open(tmp_path / "p", create=True)

    keys = [project.link_video(first).key, project.link_video(second).key]

    assert keys == ["same/clip", "same/clip-2"]
    assert [v.key for v in Project.open(tmp_path / "p").videos()] == keys


def test_the_dataset_reader_reads_linked_videos_and_their_annotations(
        tmp_path: Path, sample_video_path: Path) -> None:
    video_path = _copy_sample(sample_video_path, tmp_path / "elsewhere" / "clip.mp4")
    project = Project.open(tmp_path / "p", create=True)
    video = project.link_video(video_path, subject="s07")
    write_intervals_csv(project.annotations_path(video), [
        {"onset_frame": 10, "apex_frame": 14, "offset_frame": 18, "emotion": "positive",
         "source": "human", "status": "accepted"}])

    dataset = load_project(project.root)

    assert [(v.subject, v.video, v.path) for v in dataset.videos] == [
        ("s07", "clip", video_path.absolute())]
    assert [(i.onset_frame, i.offset_frame, i.emotion) for i in dataset.videos[0].intervals] \
        == [(10, 18, "positive")]
    assert not [w for w in dataset.warnings if "no video named" in w.message]

"""App projects: videos are found per subject, intervals come from their CSVs, reviewed-only
keeps what a human made or approved, and rows that do not parse are reported, not fatal."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.datasets import DatasetError, intervals_csv_path, load_project, read_project_intervals
from core.intervals_csv import write_intervals_csv
from tests.fixtures.datasets import small_frames, write_frames, write_video_file

CLIP_FPS = 25.0
CLIP_N_FRAMES = 20


def _row(onset, apex, offset, source="human", status="", emotion="",
         video="clip.mp4") -> dict[str, object]:
    return {"video": video, "onset_frame": onset, "apex_frame": apex,
            "offset_frame": offset, "emotion": emotion, "source": source, "status": status}


# spreadsheet row number → CSV row of alice/clip (row 1 is the header)
CLIP_ROWS = {
    2: _row(2, 4, 6, emotion="Happy"),
    3: _row(5, 6, 8, "model", "proposed", "surprise"),
    4: _row(1, 2, 3, "model", "rejected", "fear"),
    5: _row(0, 8, 16, "model", "accepted", "negative"),  # 0.64 s: a macro-expression
    6: _row(9, 10, 11, "model", "edited", "positive"),
    7: _row("abc", 4, 6),  # not a frame number
    8: _row(12, None, 14),  # no apex: the midpoint
    9: _row(15, 16, 30),  # past the last frame (19)
    10: _row(9, 9, 7),  # offset before onset
    11: _row(3, 4, 5, "model", "maybe"),  # unknown status: read as proposed
    12: _row(13, 14, 15, "human", "accepted", "=positive"),  # escaped when written
}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """alice/clip.mp4 (+ CSV), bob/seq/ frame folder (+ CSV), and things to report."""
    root = tmp_path_factory.mktemp("project")
    frames = small_frames(CLIP_N_FRAMES)
    write_video_file(root / "alice" / "clip.mp4", frames, CLIP_FPS)
    write_intervals_csv(root / "alice" / "clip.intervals.csv", CLIP_ROWS.values())
    write_frames(root / "bob" / "seq", [f"img_{n:04d}.png" for n in range(1, 9)], frames[:8])
    write_intervals_csv(root / "bob" / "seq.intervals.csv",
                        [_row(1, 2, 3, emotion="fear", video="seq")])
    write_intervals_csv(root / "bob" / "orphan.intervals.csv", [_row(1, 2, 3)])
    (root / "bob" / "notes.txt").write_text("not a video\n")
    (root / "carol").mkdir()
    (root / "carol" / "broken.mp4").write_text("not a video\n")
    write_intervals_csv(root / "carol" / "broken.intervals.csv", [_row(1, 2, 3)])
    write_video_file(root / "stray.mp4", frames[:3], CLIP_FPS)
    (root / ".cache").mkdir()
    return root


def _kept_rows(dataset, subject: str = "alice", video: str = "clip") -> list[int]:
    return [interval.source_row for interval in dataset.video(subject, video).intervals]


def test_videos_are_found_per_subject_with_fps_from_the_video(project: Path) -> None:
    dataset = load_project(project)

    assert [(v.subject, v.video) for v in dataset.videos] == [("alice", "clip"), ("bob", "seq")]
    assert dataset.subjects == ["alice", "bob"]
    clip, seq = dataset.videos
    assert clip.path == project / "alice" / "clip.mp4" and clip.fps == pytest.approx(CLIP_FPS)
    assert seq.fps == 30 and seq.intervals[0].emotion == "fear"
    with seq.open() as source:
        assert np.array_equal(source.read(0), cv2.imread(str(seq.path / "img_0001.png")))


def test_every_interval_but_the_rejected_ones_loads(project: Path) -> None:
    dataset = load_project(project)

    assert _kept_rows(dataset) == [2, 3, 5, 6, 8, 11, 12]


def test_reviewed_only_keeps_what_a_human_made_or_approved(project: Path) -> None:
    dataset = load_project(project, reviewed_only=True)

    assert _kept_rows(dataset) == [2, 5, 6, 8, 12]
    assert _kept_rows(dataset, "bob", "seq") == [2]  # source human, no status


def test_rows_that_do_not_parse_are_reported_with_their_row(project: Path) -> None:
    dataset = load_project(project)

    csv_file = str(project / "alice" / "clip.intervals.csv")
    messages = {w.row: w.message for w in dataset.warnings if w.file == csv_file}
    assert sorted(messages) == [7, 8, 9, 10, 11]
    assert "'abc' is not a frame number" in messages[7]
    assert "midpoint 13" in messages[8]
    assert "past the video's last frame 19" in messages[9]
    assert "before Onset" in messages[10]
    assert "unknown status 'maybe'" in messages[11]


def test_intervals_keep_frames_emotions_and_micro_or_macro(project: Path) -> None:
    intervals = {i.source_row: i for i in load_project(project).video("alice", "clip").intervals}

    assert (intervals[2].onset_frame, intervals[2].apex_frame, intervals[2].offset_frame) == \
        (2, 4, 6)
    assert intervals[2].emotion == "happy" and intervals[2].expression_type == "micro"
    assert intervals[5].expression_type == "macro"  # 16 frames at 25 fps: 0.64 s
    assert intervals[12].emotion == "=positive"  # the CSV's formula escape is undone


def test_folder_anomalies_are_reported(project: Path) -> None:
    warnings = load_project(project).warnings

    by_file = {Path(w.file).name: w.message for w in warnings if w.row is None}
    assert set(by_file) == {"orphan.intervals.csv", "broken.mp4", "stray.mp4"}
    assert "video and its intervals file are skipped" in by_file["broken.mp4"]
    assert "subject folder" in by_file["stray.mp4"]


def test_a_csv_without_frame_columns_is_skipped_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "clip.intervals.csv"
    path.write_text("video,onset,offset\nclip.mp4,1,3\n")

    intervals, warnings = read_project_intervals(path, subject="s", video="clip", fps=25.0)

    assert intervals == []
    assert [(w.row, "no column onset_frame, apex_frame, offset_frame" in w.message)
            for w in warnings] == [(1, True)]


def test_intervals_file_sits_beside_its_video(project: Path) -> None:
    assert intervals_csv_path(project / "alice" / "clip.mp4") == \
        project / "alice" / "clip.intervals.csv"
    assert intervals_csv_path(project / "bob" / "seq") == project / "bob" / "seq.intervals.csv"


def test_a_missing_project_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no such folder"):
        load_project(tmp_path / "nowhere")


def test_a_video_column_naming_another_video_is_reported(tmp_path: Path) -> None:
    path = write_intervals_csv(tmp_path / "clip.intervals.csv",
                               [_row(1, 2, 3, video="clip.mp4"), _row(4, 5, 6, video="other.mp4")])

    intervals, warnings = read_project_intervals(path, subject="s", video="clip", fps=25.0)

    assert [i.video for i in intervals] == ["clip", "clip"]
    assert [(w.row, "'other.mp4'" in w.message) for w in warnings] == [(3, True)]


def test_training_can_leave_out_videos_nobody_reviewed(tmp_path: Path,
                                                       sample_video_path: Path) -> None:
    for name in ("reviewed", "untouched", "rejected_only"):
        (tmp_path / "s01").mkdir(exist_ok=True)
        shutil.copy(sample_video_path, tmp_path / "s01" / f"{name}.mp4")
    proposal = {"onset_frame": 10, "apex_frame": 12, "offset_frame": 14, "source": "model",
                "status": "proposed"}
    write_intervals_csv(tmp_path / "s01" / "reviewed.intervals.csv",
                        [proposal, {**proposal, "onset_frame": 30, "apex_frame": 32,
                                    "offset_frame": 34, "status": "accepted"}])
    write_intervals_csv(tmp_path / "s01" / "untouched.intervals.csv", [proposal])
    write_intervals_csv(tmp_path / "s01" / "rejected_only.intervals.csv",
                        [{**proposal, "status": "rejected"}])

    dataset = load_project(tmp_path, reviewed_only=True, reviewed_videos_only=True)

    assert [v.video for v in dataset.videos] == ["rejected_only", "reviewed"]
    assert [(i.onset_frame, i.offset_frame) for i in dataset.videos[1].intervals] == [(30, 34)]
    assert [w for w in dataset.warnings if "untouched" in w.file and "left out" in w.message]

"""The annotation file survives anything: atomic saves (checked by killing a saving process at
random moments), a backup of the previous version, damaged rows reported by row, unusable
files refused with the file named, and autosaves told apart from the saved file."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from pathlib import Path

import pytest

from core.annotation_store import (
    AnnotationFileError,
    change_to,
    discard_autosave,
    has_newer_autosave,
    load_annotations,
    save_annotations,
)
from core.annotations import Annotation, AnnotationChange, AnnotationSet
from core.datasets.project import read_project_intervals

REPO_ROOT = Path(__file__).resolve().parents[2]
N_FRAMES, FPS = 100_000, 30.0


# The growing set the kill test saves, shared with the saving subprocess (which imports no test
# code, to start fast): version n is intervals 0 … n-1, each fixed by its index.
_VERSION_SOURCE = textwrap.dedent("""
    from core.annotations import Annotation, AnnotationSet

    def annotation(i):
        model = i % 3 == 0
        return Annotation(
            id=f"{i:012x}", onset_frame=10 * i, apex_frame=10 * i + 3, offset_frame=10 * i + 6,
            emotion=("happy", "surprise", "")[i % 3], confidence=0.5 if model else None,
            source="model" if model else "human", status="proposed" if model else "accepted",
            annotator="ann", note=f'note {i}, with "quotes"\\nand a newline',
            model_name="flow" if model else "")

    def version(n):
        return AnnotationSet.from_annotations("clip", 100_000, 30.0, map(annotation, range(n)))
""")
_versions: dict[str, object] = {}
exec(_VERSION_SOURCE, _versions)  # noqa: S102 (the same source the subprocess runs)
_annotation = _versions["annotation"]
_version = _versions["version"]


def test_saved_file_loads_back_equal(tmp_path: Path) -> None:
    annotations = _version(7)
    path = save_annotations(annotations, tmp_path / "alice" / "clip.intervals.csv")

    loaded, warnings = load_annotations(path, video="clip", n_frames=N_FRAMES, fps=FPS)

    assert warnings == []
    assert loaded.annotations == annotations.annotations
    assert not list(path.parent.glob("*.tmp"))


def test_saved_file_is_read_by_the_training_reader(tmp_path: Path) -> None:
    annotations = _version(6)
    rejected = Annotation(id="r1", onset_frame=500, apex_frame=501, offset_frame=502,
                          source="model", status="rejected", emotion="fear")
    annotations.apply(AnnotationChange((), (rejected,)))
    path = save_annotations(annotations, tmp_path / "clip.intervals.csv")

    intervals, warnings = read_project_intervals(path, subject="alice", video="clip", fps=FPS,
                                                 n_frames=N_FRAMES)

    assert warnings == []
    expected = [(a.onset_frame, a.apex_frame, a.offset_frame, a.emotion)
                for a in annotations if a.status != "rejected"]
    assert [(i.onset_frame, i.apex_frame, i.offset_frame, i.emotion) for i in intervals] == \
        expected


def test_formula_like_notes_are_escaped_on_disk_and_read_back_exactly(tmp_path: Path) -> None:
    note = '=HYPERLINK("http://x.example","click")'
    annotations = AnnotationSet.from_annotations("clip", 100, FPS, [
        Annotation(id="a", onset_frame=1, apex_frame=2, offset_frame=3, note=note,
                   emotion="-x")])
    path = save_annotations(annotations, tmp_path / "clip.intervals.csv")

    assert "'=HYPERLINK" in path.read_text(encoding="utf-8")
    loaded, _warnings = load_annotations(path, video="clip", n_frames=100, fps=FPS)
    assert loaded.get("a").note == note and loaded.get("a").emotion == "-x"


def test_backup_keeps_the_previous_different_version(tmp_path: Path) -> None:
    path, backup = tmp_path / "clip.intervals.csv", tmp_path / "backup" / "clip.intervals.csv"
    save_annotations(_version(2), path, backup_path=backup)
    assert not backup.exists()  # nothing to back up yet

    save_annotations(_version(3), path, backup_path=backup)
    save_annotations(_version(3), path, backup_path=backup)  # unchanged: backup stays v2

    loaded, _ = load_annotations(backup, video="clip", n_frames=N_FRAMES, fps=FPS)
    assert len(loaded) == 2


def test_missing_file_is_an_empty_set(tmp_path: Path) -> None:
    loaded, warnings = load_annotations(tmp_path / "none.csv", video="clip", n_frames=10, fps=FPS)
    assert len(loaded) == 0 and warnings == [] and loaded.video == "clip"


def test_bad_rows_are_skipped_and_reported_with_file_and_row(tmp_path: Path) -> None:
    path = tmp_path / "clip.intervals.csv"
    path.write_text("onset_frame,apex_frame,offset_frame,emotion,id,status\n"
                    "1,2,3,happy,a,accepted\n"       # row 2: fine
                    "x,2,3,happy,b,accepted\n"       # row 3: not a number
                    "8,9,7,happy,c,accepted\n"       # row 4: offset before onset
                    "5,6,150,happy,d,accepted\n"     # row 5: past the end
                    "4,5,6,sad,a,accepted\n"         # row 6: repeated id
                    "4,5,6,sad,e,weird\n"            # row 7: unknown status
                    "\n", encoding="utf-8")

    loaded, warnings = load_annotations(path, video="clip", n_frames=100, fps=FPS)

    assert sorted((a.onset_frame, a.emotion) for a in loaded) == [(1, "happy"), (4, "sad")]
    assert len(set(a.id for a in loaded)) == 2
    for row in (3, 4, 5, 6, 7):
        assert any(f"{path}, row {row}:" in w for w in warnings), (row, warnings)
    assert any("past the video's last frame 99" in w for w in warnings)
    assert any("new id" in w for w in warnings)


@pytest.mark.parametrize("content, problem", [
    (b"PK\x03\x04\x14\x00\x00\x00\x08\x00\xff\xfe\x00\x81", "not UTF-8"),
    (b"name,frames\nclip,12\n", "no column 'onset_frame'"),
])
def test_unusable_file_raises_naming_it(tmp_path: Path, content: bytes, problem: str) -> None:
    path = tmp_path / "clip.intervals.csv"
    path.write_bytes(content)
    with pytest.raises(AnnotationFileError, match=problem) as caught:
        load_annotations(path, video="clip", n_frames=100, fps=FPS)
    assert str(path) in str(caught.value)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="needs POSIX permissions (root ignores them)")
def test_save_to_a_read_only_folder_fails_naming_the_file(tmp_path: Path) -> None:
    folder = tmp_path / "locked"
    folder.mkdir()
    path = save_annotations(_version(1), folder / "clip.intervals.csv")
    folder.chmod(0o500)
    try:
        with pytest.raises(AnnotationFileError, match="cannot write") as caught:
            save_annotations(_version(2), path)
        assert str(path) in str(caught.value)
        assert len(load_annotations(path, video="clip", n_frames=N_FRAMES, fps=FPS)[0]) == 1
    finally:
        folder.chmod(0o700)


def test_save_where_the_folder_cannot_be_made_fails_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "alice").write_text("a file where the subject folder should be")
    path = tmp_path / "alice" / "clip.intervals.csv"
    with pytest.raises(AnnotationFileError, match="cannot write") as caught:
        save_annotations(_version(2), path)
    assert str(path) in str(caught.value)


def test_newer_autosave_is_detected_only_when_it_differs(tmp_path: Path) -> None:
    saved, autosave = tmp_path / "clip.intervals.csv", tmp_path / "auto" / "clip.intervals.csv"
    assert not has_newer_autosave(saved, autosave)  # neither exists
    save_annotations(_version(2), autosave)
    assert has_newer_autosave(saved, autosave)  # never saved
    save_annotations(_version(2), saved)
    os.utime(saved, ns=(autosave.stat().st_mtime_ns,) * 2)
    assert not has_newer_autosave(saved, autosave)  # same content
    save_annotations(_version(3), autosave)
    os.utime(saved, ns=(autosave.stat().st_mtime_ns - 10**9,) * 2)
    assert has_newer_autosave(saved, autosave)
    os.utime(saved, ns=(autosave.stat().st_mtime_ns + 10**9,) * 2)
    assert not has_newer_autosave(saved, autosave)  # the saved file is newer

    discard_autosave(autosave)
    discard_autosave(autosave)  # twice is fine
    assert not autosave.exists() and not has_newer_autosave(saved, autosave)


def test_change_to_turns_one_set_into_another_as_one_undoable_step() -> None:
    current, target = _version(4), _version(6)
    target.apply(target.replace_change(replace(_annotation(1), emotion="fear")))
    before = current.annotations

    change = change_to(current, target)
    current.apply(change)
    assert current.annotations == target.annotations
    assert len(change.added) == 3 and len(change.removed) == 1
    current.apply(change.inverse())
    assert current.annotations == before


# ------------------------------------------------------------------------------ the kill test

_SAVER = _VERSION_SOURCE + textwrap.dedent("""
    import sys
    from pathlib import Path
    from core.annotation_store import load_annotations, save_annotations

    path, backup = Path(sys.argv[1]), Path(sys.argv[2])
    n = len(load_annotations(path, video="clip", n_frames=10**5, fps=30.0)[0]) + 1
    print("ready", flush=True)
    while True:
        save_annotations(version(n), path, backup_path=backup)
        print(n, flush=True)
        n += 1
""")
N_KILLS = 30
FIRST_VERSION = 300  # rows in the first saved version: big enough that kills land mid-write


def _assert_is_a_saved_version(path: Path) -> int:
    """``path`` loads without a warning and equals version n of the growing set; returns n."""
    loaded, warnings = load_annotations(path, video="clip", n_frames=N_FRAMES, fps=FPS)
    assert warnings == [], warnings[:3]
    assert loaded.annotations == _version(len(loaded)).annotations  # complete, last row intact
    return len(loaded)


def test_killing_a_saving_process_at_random_moments_never_damages_the_file(
        tmp_path: Path) -> None:
    path, backup = tmp_path / "alice" / "clip.intervals.csv", tmp_path / "bk" / "clip.csv"
    save_annotations(_version(FIRST_VERSION), path)
    rng = random.Random(7)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    n_saves, started = 0, time.monotonic()
    for _kill in range(N_KILLS):
        before = _assert_is_a_saved_version(path)
        saver = subprocess.Popen([sys.executable, "-c", _SAVER, str(path), str(backup)],
                                 cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, text=True)
        assert saver.stdout is not None and saver.stdout.readline() == "ready\n"
        for _save in range(rng.randrange(15)):  # let it save a while, then kill mid-anything
            n_saves += saver.stdout.readline() != ""
        time.sleep(rng.uniform(0.005, 0.080))
        saver.kill()  # SIGKILL: no cleanup runs
        saver.wait()
        n_saves += len(saver.stdout.read().split())
        saver.stdout.close()

        after = _assert_is_a_saved_version(path)
        assert after >= before
        if backup.exists():
            assert _assert_is_a_saved_version(backup) <= after  # == : killed between the two
    assert n_saves >= 100, f"only {n_saves} saves completed: the kills tested too little"
    assert list(tmp_path.rglob("*.tmp")), "no kill landed inside a write (no temporary left)"
    assert time.monotonic() - started < 60


def test_temporaries_left_by_a_killed_save_are_cleaned_by_the_next_save(tmp_path: Path) -> None:
    path = tmp_path / "clip.intervals.csv"
    stale, fresh = tmp_path / "clip.intervals.csv.abc123.tmp", tmp_path / "clip.intervals.csv.x.tmp"
    for leftover in (stale, fresh):
        leftover.write_text("onset_frame\n1")
    old = time.time() - 3600
    os.utime(stale, (old, old))

    save_annotations(_version(1), path)

    assert not stale.exists() and fresh.exists()  # a recent one may belong to a running save

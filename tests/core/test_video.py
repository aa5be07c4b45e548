"""Frame sources return exactly the frames a sequential decode gives, and fail clearly."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import pickle
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

import core.video as video
from core.video import (
    CASME3_FPS,
    SAMM_FPS,
    ImageFolderSource,
    VideoError,
    VideoFileSource,
    open_source,
    source_identity,
)
from tests.fixtures.videos import CASME3_GAP, CASME3_LOST_LEADING, CASME3_N_FRAMES, SAMM_N_FRAMES

VIDEOS = ["sample_video_path", "face_noface_path", "no_face_path"]
# (width, height, frames that decode, fps) of each test video
EXPECTED_METADATA = {
    "sample_video_path": (640, 360, 472, 23.976),
    "face_noface_path": (960, 540, 169, 26.398),
    "no_face_path": (960, 540, 95, 23.672),
}


def _digest(frame: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(frame).tobytes()).hexdigest()


@pytest.fixture(scope="module")
def sequential_digests(request: pytest.FixtureRequest) -> dict[str, list[str]]:
    """SHA-1 of every frame of each test video, from a plain sequential cv2 decode."""
    digests = {}
    for name in VIDEOS:
        capture = cv2.VideoCapture(str(request.getfixturevalue(name)), cv2.CAP_FFMPEG)
        digests[name] = []
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            digests[name].append(_digest(frame))
        capture.release()
    return digests


def _access_pattern(n_frames: int, seed: int) -> list[int]:
    """~20 indices: ends, backward jumps by 1 and by many, small forward steps, random."""
    mid = n_frames // 2
    fixed = [0, n_frames - 1, mid, mid - 1, mid + 3, 1, n_frames - 2, mid + 40, 5, mid + 2]
    rng = np.random.default_rng(seed)
    return fixed + rng.integers(0, n_frames, 10).tolist()


def _landed_on(digests: list[str], frame: np.ndarray) -> list[int]:
    return [idx for idx, digest in enumerate(digests) if digest == _digest(frame)]


# ---------------------------------------------------------------------------- video files


@pytest.mark.parametrize("video_name", VIDEOS)
def test_read_returns_the_frame_of_a_sequential_decode(video_name, request, sequential_digests):
    digests = sequential_digests[video_name]
    with open_source(request.getfixturevalue(video_name)) as source:
        assert source.n_frames == len(digests)
        for frame_idx in _access_pattern(source.n_frames, seed=len(digests)):
            frame = source.read(frame_idx)
            assert _digest(frame) == digests[frame_idx], (
                f"read({frame_idx}) returned frame(s) {_landed_on(digests, frame)}")
        assert source._index.seekable, "seeking fell back to decoding from the start"


@pytest.mark.parametrize("video_name", VIDEOS)
def test_iter_frames_matches_sequential_decode(video_name, request, sequential_digests):
    digests = sequential_digests[video_name]
    with open_source(request.getfixturevalue(video_name)) as source:
        start, stop = len(digests) // 3, len(digests) // 3 + 25
        indices = []
        for frame_idx, frame in source.iter_frames(start, stop):
            assert _digest(frame) == digests[frame_idx]
            indices.append(frame_idx)
        assert indices == list(range(start, stop))
        assert sum(1 for _ in source.iter_frames(len(digests) - 10)) == 10


@pytest.mark.parametrize("video_name", VIDEOS)
def test_video_metadata(video_name, request):
    width, height, n_frames, fps = EXPECTED_METADATA[video_name]
    with open_source(request.getfixturevalue(video_name)) as source:
        assert isinstance(source, VideoFileSource)
        assert (source.width, source.height, source.n_frames, len(source)) == (
            width, height, n_frames, n_frames)
        assert source.fps == pytest.approx(fps, abs=1e-3)
        assert source.missing_indices == () and source.gaps() == []
        assert source.read(n_frames - 1).shape == (height, width, 3)
        assert source.read(0).dtype == np.uint8
        assert source.path.is_absolute()


def test_container_frame_count_is_not_trusted(no_face_path):
    with open_source(no_face_path) as source:
        assert source.claimed_n_frames == 98
        assert source.n_frames == 95
        assert source.read(94).shape == (540, 960, 3)
        with pytest.raises(IndexError, match="out of range"):
            source.read(95)


def test_fps_argument_overrides_container(sample_video_path):
    assert open_source(sample_video_path, fps=30).fps == 30.0
    with pytest.raises(ValueError, match="fps"):
        open_source(sample_video_path, fps=0)


def test_read_gray_is_cvtcolor_of_read(face_noface_path):
    with open_source(face_noface_path) as source:
        for frame_idx in (0, 77, 12, 168):
            gray = source.read_gray(frame_idx)
            assert gray.shape == (540, 960) and gray.dtype == np.uint8
            np.testing.assert_array_equal(
                gray, cv2.cvtColor(source.read(frame_idx), cv2.COLOR_BGR2GRAY))
        for frame_idx, gray in source.iter_frames(60, 64, gray=True):
            np.testing.assert_array_equal(gray, source.read_gray(frame_idx))


def test_gray_reads_are_independent_arrays(sample_video_path):
    with open_source(sample_video_path) as source:
        first, second = source.read_gray(0), source.read_gray(200)
        assert not np.shares_memory(first, second)
        np.testing.assert_array_equal(first, source.read_gray(0))


def test_frames_read_while_iterating_do_not_disturb_the_iteration(sample_video_path,
                                                                    sequential_digests):
    digests = sequential_digests["sample_video_path"]
    with open_source(sample_video_path) as source:
        for frame_idx, frame in source.iter_frames(100, 110):
            assert _digest(source.read(400 - frame_idx)) == digests[400 - frame_idx]
            assert _digest(frame) == digests[frame_idx]


def test_one_source_shared_by_threads_reads_exact_frames(sample_video_path, sequential_digests):
    digests = sequential_digests["sample_video_path"]
    source = open_source(sample_video_path)
    patterns = [[400, 10, 250, 251], [30, 300, 5, 460]]
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda pattern: [source.read(idx) for idx in pattern], patterns))
    for pattern, frames in zip(patterns, results, strict=True):
        assert [_digest(frame) for frame in frames] == [digests[idx] for idx in pattern]
    source.close()


def test_pickled_source_reopens_and_reads_the_same_frames(face_noface_path):
    with open_source(face_noface_path) as source:
        expected = source.read(120)
        copy = pickle.loads(pickle.dumps(source))
    assert copy.n_frames == 169
    np.testing.assert_array_equal(copy.read(120), expected)
    copy.close()


def test_source_reads_in_a_spawned_worker_process(sample_video_path):
    source = open_source(sample_video_path)
    expected = source.read_gray(300)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        np.testing.assert_array_equal(pool.submit(source.read_gray, 300).result(), expected)


def test_packet_table_that_disagrees_with_the_decoder_is_repaired(
        no_face_path, sequential_digests, monkeypatch):
    """A container that lists a frame the decoder never produces, mid-stream."""
    packet_index = video._index_from_packets

    def index_with_a_phantom_frame(path: Path) -> video._FrameIndex:
        index = packet_index(path)
        times = index.times_ms
        phantom = np.insert(times, 50, (times[49] + times[50]) / 2)
        return replace(index, times_ms=phantom)

    monkeypatch.setattr(video, "_index_from_packets", index_with_a_phantom_frame)
    digests = sequential_digests["no_face_path"]
    with open_source(no_face_path) as source:
        frames = list(source.iter_frames())
        assert source.n_frames == len(frames) == len(digests)
        assert [_digest(frame) for _idx, frame in frames] == digests
        assert _digest(source.read(70)) == digests[70]


def test_random_access_is_exact_without_seeking(no_face_path, sequential_digests):
    digests = sequential_digests["no_face_path"]
    with open_source(no_face_path) as source:
        source._index = replace(source._index, seekable=False)  # as for unusable timestamps
        for frame_idx in (80, 10, 11, 94, 0):
            assert _digest(source.read(frame_idx)) == digests[frame_idx]


def test_truncated_video_reports_the_frames_that_decode(truncated_video):
    with open_source(truncated_video) as source:
        assert source.claimed_n_frames == 472
        assert 0 < source.n_frames < 472
        last = source.read(source.n_frames - 1)
        assert last.shape == (360, 640, 3)
        assert sum(1 for _ in source.iter_frames(source.n_frames - 30)) == 30


# -------------------------------------------------------------------------- frame folders


def _color_file(casme3_folder: Path, number: int) -> Path:
    return casme3_folder / "color" / f"{number}.jpg"


def test_casme3_folder_keeps_the_time_axis(casme3_folder):
    source = open_source(casme3_folder)
    assert isinstance(source, ImageFolderSource)
    assert source.layout == "casme3" and source.fps == CASME3_FPS
    assert source.n_frames == CASME3_N_FRAMES and (source.width, source.height) == (640, 360)
    missing = list(range(CASME3_LOST_LEADING)) + list(range(*CASME3_GAP))
    assert source.missing_indices == tuple(missing)
    assert source.gaps() == [(0, CASME3_LOST_LEADING), CASME3_GAP]
    for frame_idx in (7, 9, 10, 19, 23, 39):  # 9 and 10 sort the other way lexically
        np.testing.assert_array_equal(source.read(frame_idx),
                                      cv2.imread(str(_color_file(casme3_folder, frame_idx))))


def test_missing_frame_reads_as_previous_else_next(casme3_folder):
    source = open_source(casme3_folder)
    first_image = cv2.imread(str(_color_file(casme3_folder, CASME3_LOST_LEADING)))
    before_gap = cv2.imread(str(_color_file(casme3_folder, CASME3_GAP[0] - 1)))
    np.testing.assert_array_equal(source.read(0), first_image)
    np.testing.assert_array_equal(source.read(21), before_gap)
    assert source.image_path(22) == _color_file(casme3_folder, 19)
    frames = dict(source.iter_frames(18, 24))
    assert list(frames) == list(range(18, 24))
    for frame_idx in (20, 21, 22):
        np.testing.assert_array_equal(frames[frame_idx], before_gap)
    assert not np.shares_memory(frames[20], frames[21])


def test_casme3_color_folder_and_video_folder_are_the_same_source(casme3_folder):
    by_video = open_source(casme3_folder)
    by_color = open_source(casme3_folder / "color")
    assert by_color.frames_dir == by_video.frames_dir == casme3_folder / "color"
    assert by_color.missing_indices == by_video.missing_indices
    np.testing.assert_array_equal(by_color.read(30), by_video.read(30))


def test_folder_gray_is_decoded_straight_to_gray(casme3_folder):
    source = open_source(casme3_folder)
    gray = source.read_gray(12)
    np.testing.assert_array_equal(
        gray, cv2.imread(str(_color_file(casme3_folder, 12)), cv2.IMREAD_GRAYSCALE))
    from_color = cv2.cvtColor(source.read(12), cv2.COLOR_BGR2GRAY).astype(int)
    assert np.abs(gray.astype(int) - from_color).max() <= 8
    assert [idx for idx, _ in source.iter_frames(35, gray=True)] == [35, 36, 37, 38, 39]


def test_samm_folder_is_one_based(samm_folder):
    source = open_source(samm_folder)
    assert source.layout == "samm" and source.fps == SAMM_FPS
    assert source.n_frames == SAMM_N_FRAMES and source.missing_indices == ()
    np.testing.assert_array_equal(source.read(0),
                                  cv2.imread(str(samm_folder / "006_1_0001.jpg")))
    np.testing.assert_array_equal(source.read(SAMM_N_FRAMES - 1),
                                  cv2.imread(str(samm_folder / f"006_1_{SAMM_N_FRAMES:04d}.jpg")))
    assert open_source(samm_folder, fps=100).fps == 100.0


def _write_pngs(folder: Path, names: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for value, name in enumerate(names):
        cv2.imwrite(str(folder / name), np.full((8, 12, 3), 10 * value, np.uint8))


@pytest.mark.parametrize(("names", "first_number", "value_at_idx0"), [
    (["img_0001.png", "img_0002.png", "img_0003.png"], 1, 0),   # no 0 image: 1-based
    (["img_0000.png", "img_0001.png", "img_0002.png"], 0, 0),   # a 0 image: 0-based
    (["1.png", "2.png", "3.png"], 0, 0),                         # bare numbers: 0-based, 0 missing
])
def test_generic_folder_numbering(tmp_path, names, first_number, value_at_idx0):
    _write_pngs(tmp_path / "seq", names)
    source = open_source(tmp_path / "seq")
    assert source.layout == "generic" and source.first_number == first_number
    assert source.fps == 30.0
    assert int(source.read(0)[0, 0, 0]) == value_at_idx0


def test_generic_folder_first_number_override(tmp_path):
    _write_pngs(tmp_path / "seq", ["f1.png", "f2.png", "f10.png"])
    zero_based = ImageFolderSource(tmp_path / "seq", first_number=0)
    assert zero_based.n_frames == 11 and zero_based.missing_indices == (0, *range(3, 10))
    one_based = ImageFolderSource(tmp_path / "seq")
    assert one_based.n_frames == 10 and int(one_based.read(9)[0, 0, 0]) == 20  # f10 sorts last
    with pytest.raises(VideoError, match="first_number=1"):
        ImageFolderSource(tmp_path / "seq", first_number=2)


# --------------------------------------------------------------------------------- errors


def _assert_names(error: pytest.ExceptionInfo[VideoError], path: Path) -> None:
    assert str(error.value).startswith(str(path))
    assert error.value.path == path


def test_missing_path_raises_video_error(tmp_path):
    for path in (tmp_path / "nothing.mp4", tmp_path / "no_folder"):
        with pytest.raises(VideoError, match="no such file or folder") as error:
            open_source(path)
        _assert_names(error, path)
    with pytest.raises(VideoError, match="no such file"):
        VideoFileSource(tmp_path / "nothing.mp4")


def test_text_file_named_mp4_raises_video_error(corrupt_video):
    with pytest.raises(VideoError, match="cannot open as a video") as error:
        open_source(corrupt_video)
    _assert_names(error, corrupt_video)


def test_truncated_file_without_header_raises_video_error(tmp_path, face_noface_path):
    data = face_noface_path.read_bytes()  # its index (moov) sits at the end of the file
    path = tmp_path / "cut.mov"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(VideoError, match="damaged or truncated") as error:
        open_source(path)
    _assert_names(error, path)


def test_empty_folder_raises_video_error(tmp_path):
    with pytest.raises(VideoError, match="empty folder") as error:
        open_source(tmp_path)
    _assert_names(error, tmp_path)


def test_folder_without_numbered_images_raises_video_error(tmp_path):
    (tmp_path / "notes.txt").write_text("frames went elsewhere")
    cv2.imwrite(str(tmp_path / "cover.jpg"), np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(VideoError, match="no numbered images") as error:
        open_source(tmp_path)
    _assert_names(error, tmp_path)


def test_dataset_subject_folder_points_to_its_video_folders(casme3_folder):
    subject_dir = casme3_folder.parent
    with pytest.raises(VideoError, match="folders such as 'a'") as error:
        open_source(subject_dir)
    _assert_names(error, subject_dir)


def test_empty_video_file_raises_video_error(tmp_path):
    path = tmp_path / "empty.mp4"
    path.touch()
    with pytest.raises(VideoError, match="empty file") as error:
        open_source(path)
    _assert_names(error, path)


def test_folder_mixing_two_sequences_raises_video_error(tmp_path):
    _write_pngs(tmp_path, ["a_1.png", "a_2.png", "b_1.png"])
    with pytest.raises(VideoError, match="more than one image sequence"):
        open_source(tmp_path)


def test_unreadable_image_raises_video_error_naming_it(tmp_path):
    _write_pngs(tmp_path, ["0.png", "1.png", "3.png"])
    (tmp_path / "2.png").write_text("not an image")
    source = open_source(tmp_path)
    with pytest.raises(VideoError, match="cannot read this image") as error:
        source.read(2)
    _assert_names(error, tmp_path / "2.png")
    with pytest.raises(VideoError):
        list(source.iter_frames(gray=True))


def test_image_of_another_size_raises_video_error(tmp_path):
    _write_pngs(tmp_path, ["0.png", "1.png"])
    cv2.imwrite(str(tmp_path / "2.png"), np.zeros((5, 5, 3), np.uint8))
    with pytest.raises(VideoError, match="5x5") as error:
        open_source(tmp_path).read(2)
    _assert_names(error, tmp_path / "2.png")


@pytest.mark.parametrize("source_name", ["no_face_path", "samm_folder"])
def test_out_of_range_indices_raise_index_error(source_name, request):
    source = open_source(request.getfixturevalue(source_name))
    for frame_idx in (-1, source.n_frames):
        with pytest.raises(IndexError, match=f"frame {frame_idx} is out of range"):
            source.read(frame_idx)
    with pytest.raises(IndexError, match="frame range"):
        source.iter_frames(5, source.n_frames + 1)
    with pytest.raises(IndexError, match="frame range"):
        source.iter_frames(6, 5)


def test_video_error_survives_pickling(corrupt_video):
    with pytest.raises(VideoError) as error:
        open_source(corrupt_video)
    copy = pickle.loads(pickle.dumps(error.value))
    assert str(copy) == str(error.value) and copy.path == corrupt_video


# ------------------------------------------------------------------------------- identity


def test_file_identity_changes_with_content(tmp_path, no_face_path):
    path = tmp_path / "copy.mp4"
    data = no_face_path.read_bytes()
    path.write_bytes(data)
    identity = source_identity(path)
    assert identity["path"] == str(path) and identity["size"] == len(data)
    assert identity["sha1_first_mb"] == hashlib.sha1(data[: 1 << 20]).hexdigest()
    assert identity["mtime"] == os.stat(path).st_mtime
    path.write_bytes(data[:1000] + bytes([data[1000] ^ 1]) + data[1001:])
    assert source_identity(path)["sha1_first_mb"] != identity["sha1_first_mb"]


def test_folder_identity_covers_the_frame_files(tmp_path):
    _write_pngs(tmp_path / "seq", ["f0.png", "f1.png", "f2.png"])
    files = [tmp_path / "seq" / name for name in ("f0.png", "f1.png", "f2.png")]
    identity = source_identity(tmp_path / "seq")
    assert identity["size"] == sum(file.stat().st_size for file in files)
    assert identity["mtime"] == max(file.stat().st_mtime for file in files)
    (tmp_path / "seq" / "f2.png").rename(tmp_path / "seq" / "f3.png")
    assert source_identity(tmp_path / "seq")["sha1_first_mb"] != identity["sha1_first_mb"]


def test_casme3_identity_is_the_same_for_video_and_color_folder(casme3_folder):
    by_video = source_identity(casme3_folder)
    by_color = source_identity(casme3_folder / "color")
    assert by_video["sha1_first_mb"] == by_color["sha1_first_mb"]
    assert by_video["size"] == by_color["size"] > 0

"""Face overlays: the canvas paints landmarks, the face box and ROI boxes where the geometry says,
in their colours and scaled with the frame; ROI boxes are the flow's boxes mapped back from the
face crop; geometry comes from the feature store when it holds the video, else from core.face on
the shown frame; a frame without a face draws nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtGui import QColor, QImage

from core.face import FaceTracker
from core.face_crop import crop_affine, transform_points
from core.flow import Extraction, FlowConfig
from core.rois import load_roi_set
from core.store import FeatureStore
from core.traces import FlowTraces
from core.video import open_source
from metst_gui.colors import roi_color
from metst_gui.frame_canvas import FACE_BOX_COLOR, LANDMARK_COLOR, FrameCanvas
from metst_gui.overlay_source import FaceGeometry, OverlaySource, roi_boxes_in_frame
from metst_gui.video_view import VideoView
from metst_gui.view_state import Playhead
from resources import SAMPLE_VIDEO

pytestmark = pytest.mark.gui

DECODE_TIMEOUT_MS = 20_000  # the first detection loads dlib's models


def _fake_landmarks() -> np.ndarray:
    """(68, 2) float32: a plausible face (from the sample's frame 0 shape, shifted)."""
    rng = np.random.default_rng(0)
    landmarks = np.zeros((68, 2), np.float32)
    landmarks[:, 0] = np.linspace(30, 130, 68)
    landmarks[:, 1] = 40 + 40 * np.sin(np.linspace(0, 3, 68))
    landmarks[36:42] = [60, 50] + rng.uniform(-3, 3, (6, 2))  # right eye
    landmarks[42:48] = [100, 50] + rng.uniform(-3, 3, (6, 2))  # left eye
    landmarks[39], landmarks[42] = [66, 50], [94, 50]          # inner eye corners
    return landmarks


def _grab(canvas: FrameCanvas) -> QImage:
    return canvas.grab().toImage().convertToFormat(QImage.Format.Format_RGB888)


def _rgb_at(image: QImage, x: float, y: float) -> tuple[int, int, int]:
    color = QColor(image.pixel(int(x), int(y)))
    return color.red(), color.green(), color.blue()


@pytest.fixture
def canvas(qtbot) -> FrameCanvas:
    """A 400 × 200 canvas showing a mid-grey 200 × 100 frame (2× scale, no letterbox)."""
    canvas = FrameCanvas()
    qtbot.addWidget(canvas)
    canvas.resize(400, 200)
    frame = QImage(200, 100, QImage.Format.Format_RGB888)
    frame.fill(QColor(128, 128, 128))
    canvas.set_image(frame)
    canvas.show()
    qtbot.waitExposed(canvas)
    return canvas


def test_canvas_paints_landmarks_where_they_are_scaled_with_the_frame(canvas) -> None:
    landmarks = _fake_landmarks()
    geometry = FaceGeometry(0, np.array([20, 10, 150, 95], np.float32), landmarks, "detected")
    canvas.set_overlay(geometry)
    grey = (128, 128, 128)
    assert _rgb_at(_grab(canvas), 2 * 60.5, 2 * 30.5) == grey  # all layers off: nothing drawn
    canvas.set_overlay_layers(face_box=False, landmarks=True, rois=False)
    image = _grab(canvas)
    for x, y in landmarks[::7]:
        assert _rgb_at(image, 2 * (x + 0.5), 2 * (y + 0.5)) == LANDMARK_COLOR
    assert _rgb_at(image, 2 * 20, 2 * 90) == grey  # no face box drawn
    assert _rgb_at(image, 5, 5) == grey


def test_canvas_paints_face_box_and_roi_boxes_in_their_colours(canvas) -> None:
    landmarks = _fake_landmarks()
    roi_set = load_roi_set("metst")
    geometry = FaceGeometry(0, np.array([20, 10, 150, 95], np.float32), landmarks, "detected")
    canvas.set_overlay(geometry)
    canvas.set_roi_set(roi_set)
    canvas.set_overlay_layers(face_box=True, landmarks=False, rois=True)
    image = _grab(canvas)
    assert FACE_BOX_COLOR in {_rgb_at(image, 2 * 85, 2 * 10 + dy) for dy in (-1, 0)}  # top edge
    assert _rgb_at(image, 2 * 85, 2 * 10 + 4) != FACE_BOX_COLOR
    boxes = roi_boxes_in_frame(landmarks, roi_set)
    found = 0
    for roi_idx, (x0, y0, x1, _y1) in enumerate(boxes):
        x_mid = 2 * (x0 + x1) / 2
        colours = {_rgb_at(image, x_mid, 2 * y0 + dy) for dy in (-1, 0)}
        found += roi_color(roi_idx) in colours  # overlapping boxes may cover each other's edge
    assert found >= len(boxes) - 1


def test_no_face_draws_nothing(canvas) -> None:
    plain = _grab(canvas)
    canvas.set_overlay_layers(face_box=True, landmarks=True, rois=True)
    canvas.set_roi_set(load_roi_set("metst_plus"))
    canvas.set_overlay(None)
    assert _grab(canvas) == plain


def test_roi_boxes_are_the_flow_boxes_mapped_back_from_the_crop() -> None:
    landmarks = _fake_landmarks() * 2.5 + 40  # a bigger face elsewhere in the frame
    roi_set = load_roi_set("metst_plus")
    boxes = roi_boxes_in_frame(landmarks, roi_set, face_size=160)
    assert boxes.shape == (18, 4)
    affine = crop_affine(landmarks, 160)
    crop_boxes = np.clip(roi_set.boxes(transform_points(landmarks, affine)), 0, 160)
    back_in_crop = transform_points(boxes.reshape(-1, 2), affine).reshape(-1, 4)
    np.testing.assert_allclose(back_in_crop, crop_boxes, atol=1e-3)
    frame_boxes = roi_set.boxes(landmarks)  # the same ROIs computed in frame pixels
    scale = 1 / affine[0, 0]  # frame pixels per crop pixel
    np.testing.assert_allclose(boxes, frame_boxes, atol=1.5 * scale)


@pytest.fixture(scope="module")
def sample_frame_face() -> tuple[np.ndarray, object]:
    """The sample's frame 120 (grey) and core.face's fresh detection on it."""
    with open_source(SAMPLE_VIDEO) as source:
        gray = source.read_gray(120)
    return gray, FaceTracker().update(gray)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def test_detection_finds_the_face_core_face_finds(sample_frame_face) -> None:
    gray, expected = sample_frame_face
    geometry = OverlaySource(SAMPLE_VIDEO).geometry(120, gray)
    assert geometry is not None and geometry.origin == "detected"
    assert _iou(geometry.face_box, expected.box) > 0.95
    assert np.abs(geometry.landmarks - expected.landmarks).max() < 2.0


def test_detection_on_a_frame_without_a_face_gives_none(no_face_path: Path) -> None:
    with open_source(no_face_path) as source:
        gray = source.read_gray(10)
    assert OverlaySource(no_face_path).geometry(10, gray) is None


@pytest.fixture
def stored_video(tmp_path: Path, sample_frame_face) -> Iterator[tuple[FeatureStore, np.ndarray]]:
    """A feature store holding a face track of the sample; frame 3 has no face."""
    _, face = sample_frame_face
    n_frames = 472
    landmarks = np.repeat(face.landmarks[None] + 7.0, n_frames, axis=0)  # (T, 68, 2)
    boxes = np.repeat(face.box[None] + 7.0, n_frames, axis=0)             # (T, 4)
    face_valid = np.ones(n_frames, bool)
    face_valid[3] = False
    landmarks[3], boxes[3] = np.nan, np.nan
    config = FlowConfig(roi_set="metst")
    roi_set = load_roi_set("metst")
    traces = FlowTraces(np.zeros((10, n_frames), np.float32), roi_set.channel_names,
                        face_valid.copy(), 23.976, "metst", config.to_dict())
    store = FeatureStore(tmp_path / "features.h5")
    store.save(SAMPLE_VIDEO, Extraction(traces, landmarks, boxes, face_valid, config))
    yield store, landmarks


def test_geometry_comes_from_the_store_when_it_holds_the_video(stored_video) -> None:
    store, landmarks = stored_video

    def no_detection() -> np.ndarray:
        raise AssertionError("the stored track must be used, not a detection")

    source = OverlaySource(SAMPLE_VIDEO, store)
    assert source.uses_store
    geometry = source.geometry(100, no_detection)
    assert geometry.origin == "store"
    np.testing.assert_array_equal(geometry.landmarks, landmarks[100])
    assert source.geometry(3, no_detection) is None


@pytest.fixture
def view(qtbot) -> VideoView:
    view = VideoView(Playhead())
    qtbot.addWidget(view)
    view.resize(640, 480)
    view.show()
    qtbot.waitExposed(view)
    return view


def _open(qtbot, view: VideoView, path: Path) -> None:
    with qtbot.waitSignal(view.frame_shown, timeout=DECODE_TIMEOUT_MS):
        view.open_video(path)


def test_video_view_draws_detected_landmarks_of_the_shown_frame(
        qtbot, view: VideoView, sample_frame_face) -> None:
    _, expected = sample_frame_face
    _open(qtbot, view, SAMPLE_VIDEO)
    actions = {a.text().replace("&", ""): a for a in view.overlay_actions()}
    assert set(actions) == {"Face box", "Landmarks", "ROI boxes"}
    actions["Landmarks"].trigger()
    view.playback.seek(120)
    qtbot.waitUntil(lambda: (view.canvas.overlay_geometry() is not None
                             and view.canvas.overlay_geometry().frame_idx == 120),
                    timeout=DECODE_TIMEOUT_MS)
    assert view.shown_frame_idx == 120
    landmarks = view.canvas.overlay_geometry().landmarks
    assert np.abs(landmarks - expected.landmarks).max() < 2.0
    rect = view.canvas.image_rect()
    x, y = landmarks[30] + 0.5  # the nose tip, in widget pixels:
    widget_x = rect.left() + x * rect.width() / view.video.width
    widget_y = rect.top() + y * rect.height() / view.video.height
    assert _rgb_at(_grab(view.canvas), widget_x, widget_y) == LANDMARK_COLOR


def test_video_view_uses_the_store_and_draws_nothing_without_a_face(
        qtbot, view: VideoView, stored_video) -> None:
    store, landmarks = stored_video
    view.set_feature_store(store)
    view.roi_boxes_action.trigger()
    _open(qtbot, view, SAMPLE_VIDEO)
    qtbot.waitUntil(lambda: view.canvas.overlay_geometry() is not None,
                    timeout=DECODE_TIMEOUT_MS)
    assert view.canvas.overlay_geometry().origin == "store"
    with qtbot.waitSignal(view.frame_shown, timeout=DECODE_TIMEOUT_MS):
        view.playback.seek(3)  # no face on frame 3
    qtbot.waitUntil(lambda: view.canvas.overlay_geometry() is None, timeout=DECODE_TIMEOUT_MS)
    with qtbot.waitSignal(view.frame_shown, timeout=DECODE_TIMEOUT_MS):
        view.playback.seek(4)
    qtbot.waitUntil(lambda: view.canvas.overlay_geometry() is not None,
                    timeout=DECODE_TIMEOUT_MS)
    np.testing.assert_array_equal(view.canvas.overlay_geometry().landmarks, landmarks[4])
    roi_set_actions = view.roi_set_actions()
    assert [a.isChecked() for a in roi_set_actions] == [False, True]  # metst_plus by default
    roi_set_actions[0].trigger()
    assert [a.isChecked() for a in roi_set_actions] == [True, False]

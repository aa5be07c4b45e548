"""ROI sets: channel counts, boxes that sit where the face parts are and scale with the face."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from core.face import FaceTracker
from core.rois import ROI_SET_NAMES, load_roi_set, load_roi_set_file
from core.video import open_source


@pytest.fixture(scope="module")
def landmarks(sample_video_path: Path) -> np.ndarray:
    observation = FaceTracker().update(open_source(sample_video_path).read_gray(0))
    assert observation is not None
    return observation.landmarks


def test_channel_counts() -> None:
    assert len(load_roi_set("metst").channel_names) == 10
    assert len(load_roi_set("metst_plus").channel_names) == 36
    names = load_roi_set("metst_plus").roi_names
    assert len(set(names)) == 18
    for part in ("brow", "eye", "nose_wing", "nasolabial", "mouth_corner", "lip", "chin"):
        assert any(part in name for name in names), part


@pytest.mark.parametrize("name", ROI_SET_NAMES)
def test_boxes_sit_on_the_face_in_order(name: str, landmarks: np.ndarray) -> None:
    roi_set = load_roi_set(name)
    boxes = roi_set.boxes(landmarks)
    face_x0, face_y0 = landmarks.min(axis=0) - 30
    face_x1, face_y1 = landmarks.max(axis=0) + 30
    assert (boxes[:, 0] >= face_x0).all() and (boxes[:, 2] <= face_x1).all()
    assert (boxes[:, 1] >= face_y0).all() and (boxes[:, 3] <= face_y1).all()
    assert ((boxes[:, 2] - boxes[:, 0]) >= 4).all() and ((boxes[:, 3] - boxes[:, 1]) >= 4).all()
    centre_y = {roi.name: (box[1] + box[3]) / 2 for roi, box in zip(roi_set.rois, boxes,
                                                                   strict=True)}
    assert centre_y["right_brow"] < centre_y["mouth"] and centre_y["left_brow"] < centre_y["mouth"]
    # Subject's right brow is on the image's left in a frontal view.
    centre_x = {roi.name: (box[0] + box[2]) / 2 for roi, box in zip(roi_set.rois, boxes,
                                                                   strict=True)}
    assert centre_x["right_brow"] < centre_x["left_brow"]


def test_boxes_scale_with_the_face(landmarks: np.ndarray) -> None:
    roi_set = load_roi_set("metst_plus")
    boxes = roi_set.boxes(landmarks).astype(float)
    doubled = roi_set.boxes(landmarks * 2).astype(float)
    np.testing.assert_allclose(doubled, boxes * 2, atol=3)


def test_draw_marks_the_boxes(landmarks: np.ndarray) -> None:
    image = np.zeros((360, 640, 3), np.uint8)
    roi_set = load_roi_set("metst")
    drawn = roi_set.draw(image, landmarks)
    assert drawn.shape == image.shape and image.max() == 0
    x0, y0, x1, y1 = roi_set.boxes(landmarks)[2]          # mouth
    assert drawn[y0, x0:x1].any(), "the mouth box outline is missing"


def test_unknown_set_and_malformed_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="metst_plus"):
        load_roi_set("nope")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"name": "x", "rois": [{"name": "a", "landmarks": [99],
                                                       "margin": [0, 0, 0, 0], "coarse": "u"}],
                               "global": {"name": "g", "landmarks": [27], "margin": [0] * 4,
                                          "coarse": "b"}}))
    with pytest.raises(ValueError, match="bad.json.*0..67"):
        load_roi_set_file(bad)
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(ValueError, match="broken.json"):
        load_roi_set_file(tmp_path / "broken.json")

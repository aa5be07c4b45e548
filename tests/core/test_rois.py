"""ROI sets: channel layout, boxes that sit on the right face parts and scale with the face."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from core.face import FaceObservation, FaceTracker
from core.rois import (
    ROI_SET_NAMES,
    RoiSet,
    inter_ocular_distance,
    load_roi_set,
    load_roi_set_file,
    roi_colors,
)
from core.video import open_source
from resources import resource_path


@pytest.fixture(scope="module")
def face(sample_video_path: Path) -> FaceObservation:
    observation = FaceTracker().update(open_source(sample_video_path).read_gray(0))
    assert observation is not None
    return observation


def _centres(roi_set: RoiSet, landmarks: np.ndarray) -> dict[str, np.ndarray]:
    boxes = roi_set.boxes(landmarks).astype(float)
    return {roi.name: (box[:2] + box[2:]) / 2 for roi, box in zip(roi_set.rois, boxes,
                                                                  strict=True)}


def test_channel_layout() -> None:
    metst, plus = load_roi_set("metst"), load_roi_set("metst_plus")
    assert len(metst.rois) == 5 and len(metst.channel_names) == 10
    assert len(plus.rois) == 18 and len(plus.channel_names) == 36
    assert metst.channel_names[:4] == ("right_brow_x", "right_brow_y", "left_brow_x",
                                       "left_brow_y")
    assert len(set(plus.roi_names)) == 18
    assert set(metst.roi_names) <= set(plus.roi_names)     # the coarse five are in ME-TST+ too


@pytest.mark.parametrize("name", ROI_SET_NAMES)
def test_boxes_sit_inside_the_face_in_anatomical_order(name: str,
                                                       face: FaceObservation) -> None:
    roi_set = load_roi_set(name)
    boxes = roi_set.boxes(face.landmarks)
    assert boxes.shape == (len(roi_set.rois), 4) and boxes.dtype == np.int32
    x0, y0, x1, y1 = face.box
    assert (boxes[:, 0] >= x0).all() and (boxes[:, 2] <= x1).all()
    assert (boxes[:, 1] >= y0).all() and (boxes[:, 3] <= y1).all()
    centre = _centres(roi_set, face.landmarks)
    for side in ("right", "left"):
        assert centre[f"{side}_brow"][1] < centre[f"{side}_nose_wing"][1] < centre["mouth"][1]
    # Sides are the subject's: the subject's right is on the image's left.
    assert centre["right_brow"][0] < centre["left_brow"][0]
    assert centre["right_nose_wing"][0] < centre["left_nose_wing"][0]
    gx0, gy0, gx1, gy1 = roi_set.global_box(face.landmarks)
    assert centre["right_brow"][0] < (gx0 + gx1) / 2 < centre["left_brow"][0]
    assert centre["right_brow"][1] < (gy0 + gy1) / 2 < centre["mouth"][1]


def test_fine_rois_lie_in_their_coarse_regions(face: FaceObservation) -> None:
    roi_set = load_roi_set("metst_plus")
    centre = _centres(roi_set, face.landmarks)
    boxes = dict(zip(roi_set.roi_names, roi_set.boxes(face.landmarks), strict=True))
    for fine, coarse in [("right_brow_mid", "right_brow"), ("left_brow_mid", "left_brow"),
                         ("upper_lip", "mouth"), ("lower_lip", "mouth"),
                         ("mouth_centre", "mouth")]:
        x0, y0, x1, y1 = boxes[coarse]
        assert x0 <= centre[fine][0] <= x1 and y0 <= centre[fine][1] <= y1, fine
    assert centre["right_mouth_corner"][0] < centre["upper_lip"][0] < centre[
        "left_mouth_corner"][0]
    assert centre["upper_lip"][1] < centre["lower_lip"][1]
    for side in ("right", "left"):
        assert (centre[f"{side}_brow"][1] < centre[f"{side}_lower_eyelid"][1]
                < centre[f"{side}_nose_wing"][1])
    # Inner brow points sit nearer the nose than outer ones.
    assert centre["right_brow_outer"][0] < centre["right_brow_inner"][0]
    assert centre["left_brow_inner"][0] < centre["left_brow_outer"][0]


@pytest.mark.parametrize("name", ROI_SET_NAMES)
def test_boxes_are_usable_on_a_100_px_face(name: str, face: FaceObservation) -> None:
    scale = 100.0 / float(face.box[2] - face.box[0])
    boxes = load_roi_set(name).boxes(face.landmarks * scale)
    assert ((boxes[:, 2] - boxes[:, 0]) >= 4).all() and ((boxes[:, 3] - boxes[:, 1]) >= 4).all()


def test_boxes_scale_and_move_with_the_face(face: FaceObservation) -> None:
    roi_set = load_roi_set("metst_plus")
    boxes = roi_set.boxes(face.landmarks).astype(float)
    np.testing.assert_allclose(roi_set.boxes(face.landmarks * 2), boxes * 2, atol=2)
    np.testing.assert_array_equal(roi_set.boxes(face.landmarks + np.float32([13, -7])),
                                  boxes + [13, -7, 13, -7])
    assert inter_ocular_distance(face.landmarks * 2) == pytest.approx(
        2 * inter_ocular_distance(face.landmarks))


def test_draw_outlines_every_box_on_a_copy(face: FaceObservation) -> None:
    roi_set = load_roi_set("metst")
    image = np.zeros((360, 640, 3), np.uint8)
    drawn = roi_set.draw(image, face.landmarks, labels=False)
    assert drawn.shape == image.shape and drawn.dtype == np.uint8 and not image.any()
    colors = roi_colors(len(roi_set.rois))
    for (x0, y0, x1, y1), rgb in zip(roi_set.boxes(face.landmarks), colors, strict=True):
        assert (drawn[y0, x0:x1] == rgb[::-1]).all(axis=1).mean() > 0.5   # top edge, BGR
        assert not drawn[y0 + 2:y1 - 2, x0 + 2:x1 - 2].any()              # outline only
    grey = roi_set.draw(np.zeros((360, 640), np.uint8), face.landmarks)
    assert grey.shape == (360, 640, 3) and grey.any()
    with pytest.raises(ValueError, match="colours"):
        roi_set.draw(image, face.landmarks, colors=colors[:2])


def test_roi_colors_are_distinct_and_stable() -> None:
    for n in (5, 18, 30):
        colors = roi_colors(n)
        assert len(colors) == n and len(set(colors)) == n
        assert colors == roi_colors(n)
        assert all(len(c) == 3 and all(0 <= v <= 255 for v in c) for c in colors)
    assert roi_colors(18)[:5] == roi_colors(5)


def test_bad_landmarks_are_refused() -> None:
    roi_set = load_roi_set("metst")
    with pytest.raises(ValueError, match=r"\(68, 2\)"):
        roi_set.boxes(np.zeros((5, 2)))
    with pytest.raises(ValueError, match="NaN"):
        roi_set.boxes(np.full((68, 2), np.nan))


def test_unknown_set_name_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="metst, metst_plus"):
        load_roi_set("nope")


def _shipped(name: str) -> dict:
    return json.loads(resource_path("rois", f"{name}.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("breakage, message", [
    (lambda d: d["rois"][0].update(landmarks=[17, 99]), "0..67"),
    (lambda d: d["rois"][1].pop("margin"), "missing keys \\['margin'\\]"),
    (lambda d: d["rois"][1].update(pad=[0.1, 0.1]), "4 numbers"),
    (lambda d: d["rois"][2].update(name="right_brow"), "duplicate ROI names"),
    (lambda d: d.pop("global_roi"), "global_roi"),
    (lambda d: d["rois"][0].update(margn=0.1), "unknown keys \\['margn'\\]"),
])
def test_malformed_roi_files_name_the_file_and_the_problem(tmp_path: Path, breakage,
                                                           message: str) -> None:
    data = _shipped("metst")
    breakage(data)
    path = tmp_path / "custom_rois.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ValueError, match=f"custom_rois.json: .*{message}"):
        load_roi_set_file(path)


def test_broken_json_and_a_valid_custom_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{", encoding="utf-8")
    with pytest.raises(ValueError, match="broken.json"):
        load_roi_set_file(broken)
    with pytest.raises(ValueError, match="missing.json"):
        load_roi_set_file(tmp_path / "missing.json")
    data = _shipped("metst")
    data["name"], data["rois"] = "brows_only", data["rois"][:2]
    custom = tmp_path / "brows.json"
    custom.write_text(json.dumps(data), encoding="utf-8")
    roi_set = load_roi_set_file(custom)
    assert roi_set.name == "brows_only" and roi_set.roi_names == ("right_brow", "left_brow")

"""Person detector (torchvision Faster R-CNN, no download) and precomputed detection files."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torchvision.models.detection import fasterrcnn_resnet50_fpn

from hrtrack.errors import HrtrackError
from hrtrack.formats.detections import read_coco_detections, read_posetrack_detections
from hrtrack.models.detector import PersonDetector, detector_weights_path, load_detector_model

V1_FILE = "fasterrcnn_resnet50_fpn_coco-258fb6c6.pth"
V2_FILE = "fasterrcnn_resnet50_fpn_v2_coco-dd69338a.pth"


def _frame() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (240, 320, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def random_model():
    """Faster R-CNN with random weights whose classifier gives 'person' and 'car' the same score.

    Every proposal then yields one person and one car box, so the person filter
    is visible; the rest of the network is untouched random weights.
    """
    torch.manual_seed(0)
    model = fasterrcnn_resnet50_fpn(weights=None, weights_backbone=None, min_size=224, max_size=320,
                                    box_score_thresh=0.0).eval()
    with torch.no_grad():
        model.roi_heads.box_predictor.cls_score.weight.zero_()
        bias = torch.full((91,), -10.0)
        bias[0], bias[1], bias[3] = 0.0, 3.0, 3.0  # background, person, car
        model.roi_heads.box_predictor.cls_score.bias.copy_(bias)
    return model


def _raw_persons(model, frame_bgr):
    """The model's own output on the RGB image, kept to persons by hand."""
    rgb = torch.from_numpy(np.ascontiguousarray(frame_bgr[..., ::-1])).permute(2, 0, 1).float() / 255
    with torch.no_grad():
        out = model([rgb])[0]
    keep = out["labels"] == 1
    boxes, scores = out["boxes"][keep].numpy(), out["scores"][keep].numpy()
    order = np.argsort(-scores, kind="stable")
    return boxes[order], scores[order], int((out["labels"] == 3).sum())


# ---------------------------------------------------------------- weights, never downloaded

@pytest.mark.parametrize("arch,file_name", [("fasterrcnn_resnet50_fpn", V1_FILE),
                                            ("fasterrcnn_resnet50_fpn_v2", V2_FILE)])
def test_missing_weights_name_the_file_and_folder(torch_home, arch, file_name):
    with pytest.raises(HrtrackError) as err:
        PersonDetector.from_weights(arch)
    message = str(err.value)
    assert "\n" not in message
    assert file_name in message
    assert str(torch_home / "hub" / "checkpoints") in message
    assert not (torch_home / "hub" / "checkpoints" / file_name).exists()  # nothing was downloaded


def test_explicit_missing_weights_and_unknown_arch(tmp_path):
    with pytest.raises(HrtrackError, match="not found"):
        detector_weights_path("fasterrcnn_resnet50_fpn", tmp_path / "nope.pth")
    with pytest.raises(HrtrackError, match="unknown detector"):
        detector_weights_path("yolo")


def test_cache_file_that_does_not_fit_is_a_user_error(torch_home):
    folder = torch_home / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    torch.save({"conv.weight": torch.zeros(1)}, folder / V1_FILE)
    with pytest.raises(HrtrackError, match="do not fit"):
        load_detector_model("fasterrcnn_resnet50_fpn")
    (folder / V1_FILE).write_bytes(b"not a checkpoint")
    with pytest.raises(HrtrackError, match="cannot read"):
        load_detector_model("fasterrcnn_resnet50_fpn")


def test_weights_load_from_torchvision_cache_and_from_a_path(torch_home, tmp_path):
    torch.manual_seed(1)
    source = fasterrcnn_resnet50_fpn(weights=None, weights_backbone=None)
    folder = torch_home / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    torch.save(source.state_dict(), folder / V1_FILE)
    detector = PersonDetector.from_weights("fasterrcnn_resnet50_fpn", device="cpu")
    name = "roi_heads.box_predictor.bbox_pred.weight"
    torch.testing.assert_close(detector.model.state_dict()[name], source.state_dict()[name])
    moved = tmp_path / "mine.pth"
    (folder / V1_FILE).rename(moved)
    model = load_detector_model("fasterrcnn_resnet50_fpn", moved)
    torch.testing.assert_close(model.state_dict()["backbone.fpn.layer_blocks.0.0.weight"],
                               source.state_dict()["backbone.fpn.layer_blocks.0.0.weight"])


# ---------------------------------------------------------------- running the detector

def test_detector_without_weights_returns_person_boxes_in_contract_format(random_model):
    frame = _frame()
    detector = PersonDetector(random_model, score_threshold=0.0, max_detections=1000, device="cpu")
    boxes = detector(frame)
    want_boxes, want_scores, cars = _raw_persons(random_model, frame)
    assert cars > 0 and len(want_boxes) > 0  # the frame really has both classes
    assert boxes.boxes.dtype == np.float32 and boxes.scores.dtype == np.float32
    assert boxes.boxes.shape == (len(want_boxes), 4)
    # Same boxes as the model's own person output on the RGB image: BGR was converted.
    np.testing.assert_allclose(boxes.boxes, want_boxes, atol=1e-4)
    np.testing.assert_allclose(boxes.scores, want_scores, atol=1e-6)
    assert np.all(np.diff(boxes.scores) <= 0)
    assert np.all(boxes.boxes[:, 2] >= boxes.boxes[:, 0]) and np.all(boxes.boxes[:, 3] >= boxes.boxes[:, 1])
    assert np.all(boxes.boxes >= 0) and np.all(boxes.boxes[:, [0, 2]] <= 320) and np.all(boxes.boxes[:, [1, 3]] <= 240)


@pytest.mark.slow
def test_detector_threshold_max_detections_and_batches(random_model):
    frame = _frame()
    want_boxes, want_scores, _ = _raw_persons(random_model, frame)
    top = PersonDetector(random_model, score_threshold=0.0, max_detections=5, device="cpu")(frame)
    np.testing.assert_allclose(top.boxes, want_boxes[:5], atol=1e-4)
    above = float(want_scores.max()) + 1e-3
    assert len(PersonDetector(random_model, score_threshold=above, device="cpu")(frame)) == 0
    flipped = np.ascontiguousarray(frame[:, ::-1])
    detector = PersonDetector(random_model, score_threshold=0.0, max_detections=1000, batch_size=2, device="cpu")
    batch = detector.detect_batch([frame, flipped, frame])  # two forward passes: 2 frames, then 1
    assert len(batch) == 3
    # Batched convolutions round differently; random box regressors amplify it a little.
    single = detector(frame).boxes
    np.testing.assert_allclose(batch[0].boxes, single, atol=0.05)
    np.testing.assert_allclose(batch[2].boxes, single, atol=0.05)
    np.testing.assert_allclose(batch[1].boxes, detector(flipped).boxes, atol=0.05)


@pytest.mark.parametrize("kwargs", [{"score_threshold": 1.5}, {"max_detections": 0}, {"batch_size": 2.0}])
def test_detector_validates_arguments(random_model, kwargs):
    with pytest.raises(HrtrackError):
        PersonDetector(random_model, device="cpu", **kwargs)


def test_detector_rejects_non_bgr_frames(random_model):
    with pytest.raises(HrtrackError, match="uint8 BGR"):
        PersonDetector(random_model, device="cpu")(np.zeros((10, 10), np.uint8))


# ---------------------------------------------------------------- COCO detection files

def _write(path, obj) -> str:
    path.write_text(json.dumps(obj))
    return str(path)


def test_coco_file_boxes_lookup_and_filters(tmp_path):
    path = _write(tmp_path / "dets.json", [
        {"image_id": 7, "category_id": 1, "bbox": [10, 20, 30, 40], "score": 0.5,
         "file_name": "images/val/000342_mpii_test/000001.jpg"},
        {"image_id": 7, "category_id": 1, "bbox": [0, 0, 5, 5], "score": 0.9,
         "file_name": "images/val/000342_mpii_test/000001.jpg"},
        {"image_id": 7, "category_id": 3, "bbox": [1, 1, 5, 5], "score": 0.99},   # a car
        {"image_id": 8, "category_id": 1, "bbox": [1, 2, 3, 4], "score": 0.05},
    ])
    dets = read_coco_detections(path, score_threshold=0.1)
    got = dets(image_id=7)
    np.testing.assert_array_equal(got.boxes, np.array([[0, 0, 5, 5], [10, 20, 40, 60]], np.float32))
    np.testing.assert_array_equal(got.scores, np.array([0.9, 0.5], np.float32))
    assert len(dets(image_id=8)) == 0       # below the score threshold
    assert len(dets(image_id=123)) == 0     # a frame without detections
    by_name = dets(file_name="/data/posetrack/images/val/000342_mpii_test/000001.jpg")
    np.testing.assert_array_equal(by_name.boxes, got.boxes)
    assert len(dets(file_name="images/val/000342_mpii_test/000002.jpg")) == 0
    dets.check_frames(image_ids=[5, 6, 7])
    with pytest.raises(HrtrackError, match="matches none of the 2 frames") as err:
        dets.check_frames(image_ids=[100, 101])
    assert "dets.json" in str(err.value) and "7" in str(err.value)
    with pytest.raises(HrtrackError, match="matches none"):
        dets.check_frames(file_names=["other/000001.jpg"])
    dets.check_frames(file_names=["x/images/val/000342_mpii_test/000001.jpg"])


@pytest.mark.parametrize("entry,match", [
    ({"image_id": 1, "category_id": 1, "bbox": [0, 0, float("nan"), 5], "score": 0.5}, "not finite"),
    ({"image_id": 1, "category_id": 1, "bbox": [0, 0, float("inf"), 5], "score": 0.5}, "not finite"),
    ({"image_id": 1, "category_id": 1, "bbox": [0, 0, -3, 5], "score": 0.5}, "non-negative"),
    ({"image_id": 1, "category_id": 1, "bbox": [0, 0, 3], "score": 0.5}, r"\[x, y, w, h\]"),
    ({"image_id": 1, "category_id": 1, "bbox": [0, 0, 3, 3], "score": float("nan")}, "score"),
    ({"image_id": True, "category_id": 1, "bbox": [0, 0, 3, 3], "score": 0.5}, "image_id"),
    ({"image_id": 1, "bbox": [0, 0, 3, 3], "score": 0.5}, "category_id"),
])
def test_coco_file_bad_entries_are_user_errors(tmp_path, entry, match):
    path = _write(tmp_path / "bad.json", [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 1.0},
                                          entry])
    with pytest.raises(HrtrackError, match=match) as err:
        read_coco_detections(path)
    assert "bad.json" in str(err.value) and "entry 1" in str(err.value)


def test_coco_file_zero_size_boxes_dropped_with_one_warning(tmp_path):
    path = _write(tmp_path / "d.json", [
        {"image_id": 1, "category_id": 1, "bbox": [0, 0, 0, 5], "score": 0.5},
        {"image_id": 1, "category_id": 1, "bbox": [0, 0, 5, 0], "score": 0.5},
        {"image_id": 1, "category_id": 1, "bbox": [0, 0, 5, 5], "score": 0.5},
    ])
    with pytest.warns(UserWarning, match="dropped 2"):
        dets = read_coco_detections(path)
    assert len(dets(image_id=1)) == 1


def test_coco_file_not_a_list(tmp_path):
    with pytest.raises(HrtrackError, match="JSON list"):
        read_coco_detections(_write(tmp_path / "d.json", {"annotations": []}))
    with pytest.raises(HrtrackError, match="file not found"):
        read_coco_detections(tmp_path / "missing.json")


# ---------------------------------------------------------------- PoseTrack files

def test_posetrack18_boxes(tmp_path):
    kps = [0.0] * 51
    kps[15:18] = [50, 60, 1]   # left_shoulder
    kps[45:48] = [70, 160, 1]  # left_ankle
    obj = {"images": [{"id": 10003420000, "file_name": "images/val/000342_mpii_test/000000.jpg"},
                      {"id": 10003420001, "file_name": "images/val/000342_mpii_test/000001.jpg"}],
           "annotations": [{"image_id": 10003420000, "track_id": 0, "keypoints": kps, "bbox": [40, 50, 40, 120]},
                           {"image_id": 10003420000, "track_id": 1, "keypoints": kps, "score": 0.3}]}
    dets = read_posetrack_detections(_write(tmp_path / "000342_mpii_test.json", obj))
    got = dets(image_id=10003420000)
    # First person: its bbox, score 1. Second: joints 50..70 x 60..160 extended 15% (3 px, 15 px), score 0.3.
    np.testing.assert_allclose(got.boxes, [[40, 50, 80, 170], [47, 45, 73, 175]], atol=1e-5)
    np.testing.assert_allclose(got.scores, [1.0, 0.3], atol=1e-7)
    np.testing.assert_allclose(dets(file_name="/x/images/val/000342_mpii_test/000000.jpg").boxes, got.boxes)
    assert len(dets(image_id=10003420001)) == 0
    dets.check_frames(image_ids=[10003420001, 10003420000])


def test_posetrack17_boxes_from_joints(tmp_path):
    points = [{"id": [13], "x": [100.0], "y": [50.0]}, {"id": [0], "x": [120.0], "y": [250.0]}]
    obj = {"annolist": [{"image": [{"name": "images/bonn/000001_bonn/00000001.jpg"}],
                         "annorect": [{"x1": [95], "y1": [40], "x2": [105], "y2": [60], "track_id": [0],
                                       "annopoints": [{"point": points}]}]}]}
    dets = read_posetrack_detections(_write(tmp_path / "000001_bonn.json", obj))
    got = dets(file_name="images/bonn/000001_bonn/00000001.jpg")
    # The head box is ignored; joints span 100..120 x 50..250, extended by 3 px and 30 px.
    np.testing.assert_allclose(got.boxes, [[97, 20, 123, 280]], atol=1e-5)
    assert got.scores.tolist() == [1.0]

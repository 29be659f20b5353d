"""COCO keypoint / detection files and MPII JSON / .mat files: round trips, conventions, validation."""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest
import scipy.io
from pycocotools.cocoeval import COCOeval

from hrtrack.formats.coco import CocoImage, load_coco, read_coco_keypoints, to_coco_keypoints, write_coco_keypoints
from hrtrack.formats.detections import read_coco_detections, write_coco_detections
from hrtrack.formats.mpii import MpiiAnnotations, read_mpii_json, read_mpii_mat, to_mpii_json, write_mpii_json
from hrtrack.errors import HrtrackError
from hrtrack.skeleton import COCO
from hrtrack.structures import Boxes


def random_images(rng: np.random.Generator, n_images: int = 4) -> list[CocoImage]:
    images = []
    for i in range(n_images):
        n = int(rng.integers(0, 4))
        vis = rng.choice([0, 1, 2], (n, 17), p=[0.3, 0.2, 0.5]).astype(np.uint8)
        kp = np.where(vis[..., None] > 0, rng.uniform(0, 500, (n, 17, 2)), 0).astype(np.float32)
        tl = rng.uniform(0, 300, (n, 2))
        boxes = np.concatenate([tl, tl + rng.uniform(20, 200, (n, 2))], axis=1).astype(np.float32)
        crowd = rng.random(n) < 0.3
        segs = [[rng.uniform(0, 500, (5, 2)).astype(np.float32)] if c else [] for c in crowd]
        images.append(CocoImage(id=1000 + 7 * i, file_name=f"val/seq/{i:06d}.jpg", width=640, height=360,
                                keypoints=kp, visibility=vis, boxes=boxes,
                                areas=rng.uniform(100, 5000, n).astype(np.float32), iscrowd=crowd,
                                segmentations=segs))
    return images


# ---------------------------------------------------------------- COCO keypoints

@pytest.mark.parametrize("seed", [0, 1])
def test_coco_keypoints_round_trip(tmp_path, seed):
    images = random_images(np.random.default_rng(seed))
    write_coco_keypoints(images, tmp_path / "a.json")
    back = read_coco_keypoints(tmp_path / "a.json")
    assert [b.id for b in back] == [a.id for a in images]
    for a, b in zip(images, back):
        assert (a.file_name, a.width, a.height) == (b.file_name, b.width, b.height)
        for key in ("keypoints", "visibility", "boxes", "areas", "iscrowd"):
            np.testing.assert_array_equal(getattr(a, key), getattr(b, key), err_msg=key)
        for pa, pb in zip(a.segmentations, b.segmentations):
            assert len(pa) == len(pb)
            for x, y in zip(pa, pb):
                np.testing.assert_array_equal(x, y)
    write_coco_keypoints(back, tmp_path / "b.json")
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()


def test_coco_keypoints_fields_by_hand():
    vis = np.zeros((1, 17), np.uint8)
    vis[0, [0, 5, 6]] = [2, 1, 2]
    kp = np.zeros((1, 17, 2), np.float32)
    kp[0, [0, 5, 6]] = [[10.5, 20.0], [30.0, 40.0], [50.0, 60.0]]
    img = CocoImage(id=42, file_name="a.jpg", width=100, height=80, keypoints=kp, visibility=vis,
                    boxes=[[5, 6, 25, 46]], areas=[300.0], iscrowd=[False])
    obj = to_coco_keypoints([img])
    ann = obj["annotations"][0]
    assert ann["id"] == 1 and ann["image_id"] == 42 and ann["category_id"] == 1
    assert ann["num_keypoints"] == 3
    assert ann["keypoints"][:3] == [10.5, 20.0, 2.0] and ann["keypoints"][15:21] == [30.0, 40.0, 1.0, 50.0, 60.0, 2.0]
    assert ann["bbox"] == [5.0, 6.0, 20.0, 40.0]
    assert ann["iscrowd"] == 0 and ann["area"] == 300.0
    cat = obj["categories"][0]
    assert cat["keypoints"] == list(COCO.joint_names)
    assert [1 + 13, 1 + 15] in cat["skeleton"]  # left knee - left ankle, 1-based as COCO


def test_cocoeval_of_ground_truth_against_itself(tmp_path):
    rng = np.random.default_rng(5)
    images = random_images(rng, 12)
    write_coco_keypoints(images, tmp_path / "gt.json")
    coco = load_coco(tmp_path / "gt.json")
    res = [{"image_id": a["image_id"], "category_id": 1, "keypoints": a["keypoints"], "score": 1.0}
           for a in coco.dataset["annotations"] if a["num_keypoints"] > 0 and not a["iscrowd"]]
    moved = [dict(r, keypoints=(np.asarray(r["keypoints"]) + np.tile([40.0, 0, 0], 17)).tolist()) for r in res]
    stats = []
    for results in (res, moved):
        with contextlib.redirect_stdout(io.StringIO()):
            ev = COCOeval(coco, coco.loadRes(results), "keypoints")
            ev.evaluate()
            ev.accumulate()
            ev.summarize()
        stats.append(ev.stats[0])
    assert stats[0] == pytest.approx(1.0)
    assert stats[1] < 0.5  # 40 px off: AP collapses, so the first check can fail


@pytest.mark.parametrize("mutate, field", [
    (lambda o: o.pop("annotations"), "annotations"),
    (lambda o: o["annotations"][0].update(keypoints=[1, 2]), "annotations[0].keypoints"),
    (lambda o: o["annotations"][0].update(image_id=999), "annotations[0].image_id"),
    (lambda o: o["annotations"][0]["keypoints"].__setitem__(2, 3), "visibility flags"),
    (lambda o: o["annotations"][0].update(num_keypoints=5), "annotations[0].num_keypoints"),
    (lambda o: o["annotations"][0].update(bbox=[0, 0, -1, 5]), "annotations[0].bbox"),
    (lambda o: o["annotations"][0].update(id=0), "annotations[0].id"),
    (lambda o: o["images"][0].update(width="wide"), "images[0].width"),
    (lambda o: o["images"].append(dict(o["images"][0])), "images[1].id"),
    (lambda o: o["categories"][0].update(keypoints=["nose"]), "categories[0].keypoints"),
    (lambda o: o["categories"][0].update(name="dog"), "no 'person'"),
])
def test_coco_keypoints_validation_names_file_and_field(tmp_path, mutate, field):
    img = CocoImage(id=1, file_name="a.jpg", width=10, height=10, keypoints=np.ones((1, 17, 2)),
                    visibility=np.full((1, 17), 2), boxes=[[0, 0, 5, 5]], areas=[25], iscrowd=[False])
    obj = to_coco_keypoints([img])
    mutate(obj)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(obj))
    with pytest.raises(HrtrackError) as err:
        read_coco_keypoints(path)
    assert str(path) in str(err.value) and field in str(err.value)


def test_coco_reader_rejects_missing_and_malformed_files(tmp_path):
    with pytest.raises(HrtrackError, match="file not found"):
        load_coco(tmp_path / "nope.json")
    (tmp_path / "x.json").write_text("{not json")
    with pytest.raises(HrtrackError, match="not valid JSON"):
        load_coco(tmp_path / "x.json")


# ---------------------------------------------------------------- COCO detections

def test_detections_round_trip_and_grouping(tmp_path):
    rng = np.random.default_rng(2)
    sets = []
    for _ in range(3):
        n = int(rng.integers(0, 5))
        tl = rng.uniform(0, 600, (n, 2))
        sets.append(Boxes(np.concatenate([tl, tl + rng.uniform(1, 300, (n, 2))], axis=1), rng.random(n)))
    ids = [10_000_000_000 + 4 * 10000 + t for t in range(3)]
    names = [f"images/val/000004_x/{t:06d}.jpg" for t in range(3)]
    write_coco_detections(tmp_path / "d.json", ids, sets, names)
    records = json.loads((tmp_path / "d.json").read_text())
    assert len(records) == sum(len(s) for s in sets)
    assert all(r["category_id"] == 1 and len(r["bbox"]) == 4 for r in records)
    dets = read_coco_detections(tmp_path / "d.json")
    by_id, by_name = dets.by_image_id, dets.by_file_name
    for iid, name, s in zip(ids, names, sets):
        if len(s) == 0:
            assert iid not in by_id and name not in by_name
            continue
        order = np.argsort(-s.scores, kind="stable")
        for got in (by_id[iid], by_name[name]):
            np.testing.assert_array_equal(got.boxes, s.boxes[order])  # exact float32 x1,y1,x2,y2
            np.testing.assert_array_equal(got.scores, s.scores[order])


def test_detection_reader_rule_by_hand(tmp_path):
    """Persons only, sorted by score with ties in file order, zero-size boxes dropped with one counted warning."""
    path = tmp_path / "d.json"
    path.write_text(json.dumps([
        {"image_id": 3, "category_id": 1, "bbox": [10, 20, 30, 40], "score": 0.5},
        {"image_id": 3, "category_id": 18, "bbox": [0, 0, 5, 5], "score": 0.99},  # a dog: not a person
        {"image_id": 3, "category_id": 1, "bbox": [1, 2, 3, 4], "score": 0.9},
        {"image_id": 3, "category_id": 1, "bbox": [5, 5, 1, 1], "score": 0.5},  # ties the first: after it
        {"image_id": 3, "category_id": 1, "bbox": [7, 7, 0, 9], "score": 0.7},  # zero width
        {"image_id": 4, "category_id": 1, "bbox": [1, 2, 3, 0], "score": 0.7},  # zero height
    ]))
    with pytest.warns(UserWarning, match="dropped 2 person boxes of zero width or height"):
        dets = read_coco_detections(path)
    np.testing.assert_array_equal(dets(image_id=3).boxes, [[1, 2, 4, 6], [10, 20, 40, 60], [5, 5, 6, 6]])
    np.testing.assert_array_equal(dets(image_id=3).scores, np.float32([0.9, 0.5, 0.5]))
    assert len(dets(image_id=4)) == 0
    for bad, field in (({"image_id": 1, "category_id": 1, "bbox": [1, 2, 3], "score": 1}, "entry 0: bbox"),
                       ({"image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4], "score": None}, "entry 0: score"),
                       ({"image_id": 1.5, "category_id": 1, "bbox": [1, 2, 3, 4], "score": 1}, "entry 0: image_id"),
                       ({"category_id": 1, "bbox": [1, 2, 3, 4], "score": 1}, "entry 0 has no 'image_id'")):
        path.write_text(json.dumps([bad]))
        with pytest.raises(HrtrackError, match=field):
            read_coco_detections(path)
    path.write_text(json.dumps({"image_id": 1}))
    with pytest.raises(HrtrackError, match="JSON list"):
        read_coco_detections(path)


# ---------------------------------------------------------------- MPII JSON

def random_mpii(rng: np.random.Generator, n: int = 5) -> MpiiAnnotations:
    vis = rng.random((n, 16)) < 0.8
    heads = rng.uniform(0, 400, (n, 4))
    heads[0] = np.nan
    return MpiiAnnotations([f"{k:09d}.jpg" for k in range(n)], rng.uniform(0, 600, (n, 2)),
                           rng.uniform(0.5, 4, n), rng.uniform(0, 600, (n, 16, 2)), vis, heads)


def test_mpii_json_round_trip(tmp_path):
    ann = random_mpii(np.random.default_rng(0))
    write_mpii_json(ann, tmp_path / "a.json")
    back = read_mpii_json(tmp_path / "a.json")
    assert back.images == ann.images
    for key in ("centers", "scales", "joints", "joints_vis", "head_boxes"):
        np.testing.assert_array_equal(getattr(back, key), getattr(ann, key), err_msg=key)
    write_mpii_json(back, tmp_path / "b.json")
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()


def test_mpii_json_is_one_based_like_the_official_files(tmp_path):
    joints = [[-1.0, -1.0]] * 16
    joints[9] = [101.0, 51.0]  # head_top at 0-based (100, 50)
    vis = [0] * 16
    vis[9] = 1
    path = tmp_path / "m.json"
    path.write_text(json.dumps([{"image": "015601864.jpg", "center": [594.0, 257.0], "scale": 3.021,
                                 "joints": joints, "joints_vis": vis, "head_box": [11, 21, 31, 41]}]))
    ann = read_mpii_json(path)
    np.testing.assert_array_equal(ann.joints[0, 9], [100, 50])
    np.testing.assert_array_equal(ann.joints[0, 0], [0, 0])  # not annotated
    assert ann.joints_vis[0].sum() == 1
    np.testing.assert_array_equal(ann.centers[0], [593, 256])
    np.testing.assert_array_equal(ann.head_boxes[0], [10, 20, 30, 40])
    assert ann.scales[0] == np.float32(3.021)
    written = to_mpii_json(ann)
    assert written[0]["joints"][9] == [101.0, 51.0] and written[0]["joints"][0] == [-1.0, -1.0]


@pytest.mark.parametrize("mutate, field", [
    (lambda e: e.pop("center"), "'center'"),
    (lambda e: e.update(scale=0), "[0].scale"),
    (lambda e: e.update(joints=e["joints"][:15]), "[0].joints"),
    (lambda e: e["joints"].__setitem__(3, [1, "x"]), "[0].joints[3]"),
    (lambda e: e.update(joints_vis=[2] * 16), "[0].joints_vis"),
    (lambda e: e.update(image=""), "[0].image"),
    (lambda e: e.update(head_box=[1, 2, 3]), "[0].head_box"),
])
def test_mpii_json_validation_names_file_and_field(tmp_path, mutate, field):
    entry = {"image": "a.jpg", "center": [1, 2], "scale": 1.0, "joints": [[1, 1]] * 16, "joints_vis": [1] * 16}
    mutate(entry)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps([entry]))
    with pytest.raises(HrtrackError) as err:
        read_mpii_json(path)
    assert str(path) in str(err.value) and field in str(err.value)


# ---------------------------------------------------------------- MPII .mat

def _struct_array(records: list[dict], names: tuple[str, ...]) -> np.ndarray:
    """A MATLAB struct array (1,N) as scipy.io.savemat writes it; missing fields are [] as in the release."""
    arr = np.zeros((1, len(records)), dtype=[(n, object) for n in names])
    for i, rec in enumerate(records):
        for n in names:
            arr[0, i][n] = rec.get(n, np.zeros((0, 0)))
    return arr


def _point(jid: int, x: float, y: float, visible) -> dict:
    return {"id": jid, "x": x, "y": y, "is_visible": visible}


def write_release(path, person_points=None) -> None:
    """A two-image release: image 1 (train) has a posed person and a group member, image 2 is test."""
    points = person_points or [_point(0, 11.0, 21.0, 1), _point(9, 101.0, 51.0, "1"),
                               _point(13, 61.0, 31.0, np.zeros((0, 0)))]
    pt = _struct_array(points, ("id", "x", "y", "is_visible"))
    posed = {"x1": 91.0, "y1": 41.0, "x2": 111.0, "y2": 66.0, "scale": 2.5, "objpos": {"x": 81.0, "y": 151.0},
             "annopoints": {"point": pt}}
    group = {"scale": 1.2, "objpos": {"x": 300.0, "y": 200.0}}
    rects = _struct_array([posed, group], ("x1", "y1", "x2", "y2", "scale", "objpos", "annopoints"))
    test_rect = _struct_array([{"scale": 1.0, "objpos": {"x": 5.0, "y": 6.0}}], ("scale", "objpos"))
    annolist = _struct_array([{"image": {"name": "000001163.jpg"}, "annorect": rects},
                              {"image": {"name": "000003072.jpg"}, "annorect": test_rect}],
                             ("image", "annorect", "frame_sec", "vididx"))
    scipy.io.savemat(path, {"RELEASE": {"annolist": annolist, "img_train": np.array([[1, 0]]),
                                        "version": "12"}})


def test_mpii_mat_reader(tmp_path):
    path = tmp_path / "mpii_human_pose_v1_u12_1.mat"
    write_release(path)
    ann = read_mpii_mat(path)
    assert ann.images == ["000001163.jpg"]  # the group member has no joints, image 2 is a test image
    np.testing.assert_array_equal(np.flatnonzero(ann.joints_vis[0]), [0, 9, 13])
    np.testing.assert_array_equal(ann.joints[0, [0, 9, 13]], [[10, 20], [100, 50], [60, 30]])
    np.testing.assert_array_equal(ann.centers[0], [80, 150])
    np.testing.assert_array_equal(ann.head_boxes[0], [90, 40, 110, 65])
    assert ann.scales[0] == np.float32(2.5)
    # The JSON written from it reads back the same.
    write_mpii_json(ann, tmp_path / "m.json")
    back = read_mpii_json(tmp_path / "m.json")
    np.testing.assert_array_equal(back.joints, ann.joints)
    assert len(read_mpii_mat(path, train_only=False)) == 1  # test people have no joints either


def test_mpii_mat_reader_errors(tmp_path):
    path = tmp_path / "bad.mat"
    write_release(path, [_point(16, 1.0, 1.0, 1)])
    with pytest.raises(HrtrackError, match=r"annolist\(1\)\.annorect\(1\)\.annopoints\.point\(1\)\.id = 16"):
        read_mpii_mat(path)
    write_release(path, [_point(3, "x", 1.0, 1)])
    with pytest.raises(HrtrackError, match=r"point\(1\) needs numeric id, x and y"):
        read_mpii_mat(path)
    scipy.io.savemat(path, {"something": np.zeros(3)})
    with pytest.raises(HrtrackError, match="no RELEASE.annolist"):
        read_mpii_mat(path)
    path.write_bytes(b"not a mat file at all")
    with pytest.raises(HrtrackError, match="not a readable MATLAB file"):
        read_mpii_mat(path)
    with pytest.raises(HrtrackError, match="file not found"):
        read_mpii_mat(tmp_path / "missing.mat")

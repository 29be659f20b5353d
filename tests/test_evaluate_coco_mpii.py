"""COCO keypoint post-processing and COCOeval, and MPII PCKh: numbers derived by hand."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.io import savemat

from hrtrack.errors import HrtrackError
from hrtrack.evaluation.coco import (
    evaluate_keypoints,
    keypoint_results,
    rescore_and_nms,
    write_keypoint_results,
)
from hrtrack.evaluation.mpii import GROUPS, load_mpii_gt_mat, pckh
from hrtrack.tracking.oks import person_scores
from hrtrack.skeleton import COCO, MPII

# ---------------------------------------------------------------- COCO


def test_rescore_by_hand():
    ks = np.array([[0.1, 0.5, 0.9], [0.2, 0.1, 0.0], [0.3, 0.3, 0.21]])
    # person 0: mean(0.5, 0.9) = 0.7, x 0.8; person 1: nothing above 0.2 (0.2 itself is not) -> 0
    np.testing.assert_allclose(person_scores(np.array([0.8, 1.0, 0.5]), ks), [0.56, 0.0, 0.5 * 0.27])


def test_rescore_and_nms_suppresses_duplicates_within_an_image_only():
    rng = np.random.default_rng(0)
    base = rng.uniform(100, 200, (17, 2))
    kps = np.stack([base, base + 0.5, base, base + 300])
    ks = np.full((4, 17), 0.9)
    ks[1] = 0.8                               # the duplicate scores lower after rescoring
    images = np.array([1, 1, 2, 1])
    keep, scores = rescore_and_nms(images, kps, ks, np.ones(4), np.full(4, 100.0 * 100.0))
    np.testing.assert_allclose(scores, [0.9, 0.8, 0.9, 0.9])
    # image 1: poses 0 and 3 (far away) kept, 1 suppressed; image 2: pose 2 kept
    assert sorted(keep.tolist()) == [0, 2, 3]


def _coco_gt() -> dict:
    rng = np.random.default_rng(1)
    anns = []
    # two medium (area 5000) and two large (area 20000) people over two images
    for i, (image, area) in enumerate([(1, 5000.0), (1, 20000.0), (2, 5000.0), (2, 20000.0)]):
        xy = rng.uniform(50, 400, (17, 2))
        kp = np.concatenate([xy, np.full((17, 1), 2.0)], 1)
        anns.append({"id": i + 1, "image_id": image, "category_id": 1, "keypoints": kp.ravel().tolist(),
                     "num_keypoints": 17, "area": area, "bbox": [40.0, 40.0, 380.0, 380.0], "iscrowd": 0})
    return {"images": [{"id": 1, "width": 640, "height": 480}, {"id": 2, "width": 640, "height": 480}],
            "annotations": anns,
            "categories": [{"id": 1, "name": "person", "keypoints": list(COCO.joint_names), "skeleton": []}]}


def _perfect(gt: dict, drop: int | None = None) -> list[dict]:
    anns = [a for a in gt["annotations"] if a["id"] != drop]
    kp = np.array([a["keypoints"] for a in anns]).reshape(-1, 17, 3)
    return keypoint_results(np.array([a["image_id"] for a in anns]), kp[..., :2], np.ones((len(anns), 17)),
                            np.linspace(0.9, 0.6, len(anns)))


def test_cocoeval_perfect_and_one_missed_person(tmp_path):
    gt = _coco_gt()
    before = json.dumps(gt)
    stats = evaluate_keypoints(gt, _perfect(gt))
    assert json.dumps(gt) == before                    # the caller's dict is not modified
    assert stats == pytest.approx({k: 1.0 for k in stats})
    # one large person missed: recall 3/4 at full precision -> 76 of the 101 recall points
    # (0.00 ... 0.75); large objects: recall 1/2 -> 51 points; medium ones unaffected
    gt_path, res_path = tmp_path / "gt.json", tmp_path / "res.json"
    gt_path.write_text(json.dumps(gt))
    write_keypoint_results(res_path, _perfect(gt, drop=4))
    stats = evaluate_keypoints(gt_path, res_path)
    assert stats["AP"] == pytest.approx(76 / 101) and stats["AP50"] == pytest.approx(76 / 101)
    assert stats["APL"] == pytest.approx(51 / 101) and stats["APM"] == pytest.approx(1.0)
    assert stats["AR"] == pytest.approx(0.75) and stats["ARL"] == pytest.approx(0.5)
    assert evaluate_keypoints(gt, [])["AP"] == 0.0


def test_keypoint_results_layout():
    res = keypoint_results(np.array([7]), np.array([[[1.5, 2.5]] * 17]), np.full((1, 17), 0.25), np.array([0.5]))
    assert res == [{"image_id": 7, "category_id": 1, "keypoints": [1.5, 2.5, 0.25] * 17, "score": 0.5}]


@pytest.mark.parametrize("bad,needle", [
    ([{"image_id": 99, "keypoints": [0] * 51, "score": 1}], "image_id 99"),
    ([{"image_id": 1, "keypoints": [0] * 50, "score": 1}], "keypoints must be 51"),
    ([{"image_id": 1, "keypoints": [0] * 51}], "needs image_id, keypoints and score"),
    ({"image_id": 1}, "must be a JSON list"),
])
def test_coco_result_errors_name_the_file(tmp_path, bad, needle):
    path = tmp_path / "res.json"
    path.write_text(json.dumps(bad))
    with pytest.raises(HrtrackError, match=needle) as info:
        evaluate_keypoints(_coco_gt(), path)
    assert str(path) in str(info.value)


# ---------------------------------------------------------------- MPII

M = {name: j for j, name in enumerate(MPII.joint_names)}


def _mpii_case():
    rng = np.random.default_rng(2)
    gt = rng.uniform(0, 300, (2, 16, 2))
    heads = np.array([[0.0, 0.0, 30.0, 40.0]] * 2)     # head size 0.6 x 50 = 30
    vis = np.ones((2, 16), bool)
    vis[1, M["left_wrist"]] = False
    pred = gt.copy()
    pred[0, M["right_wrist"]] += (9.0, 12.0)          # 15 px = 0.5 head sizes: inclusive hit, missed at 0.1
    pred[1, M["right_wrist"]] += (9.0, 12.01)         # just outside
    pred[0, M["upper_neck"]] += (0.0, 3.15)           # 0.105 head sizes: missed at 0.1, hit at 0.11
    pred[:, M["pelvis"]] += 100.0                     # pelvis and thorax are left out of the mean
    pred[1, M["left_wrist"]] += 100.0                 # not annotated: does not count
    return pred, gt, vis, heads


def test_pckh_by_hand():
    r = pckh(*_mpii_case())
    assert r.pckh[M["right_wrist"]] == 50.0 and r.pckh[M["left_wrist"]] == 100.0
    assert r.pckh[M["pelvis"]] == 0.0 and r.pckh_at_0_1[M["right_wrist"]] == 0.0
    s = r.summary()
    assert s["Wrist"] == 75.0 and s["Head"] == 100.0
    assert set(s) == {*GROUPS, "Mean", "Mean@0.1", "Mean@0.1_official"}
    # 14 joints x 2 people - 1 unannotated = 27 counted joints
    assert s["Mean"] == pytest.approx(100 * 26 / 27)
    assert s["Mean@0.1"] == pytest.approx(100 * 24 / 27)
    assert s["Mean@0.1_official"] == pytest.approx(100 * 25 / 27)


def test_load_mpii_gt_mat_converts_from_matlab(tmp_path):
    pred, gt, vis, heads = _mpii_case()
    path = tmp_path / "gt_valid.mat"
    savemat(path, {"pos_gt_src": np.transpose(gt + 1.0, (1, 2, 0)),
                   "jnt_missing": np.transpose(~vis, (1, 0)).astype(np.float64),
                   "headboxes_src": np.transpose((heads + 1.0).reshape(-1, 2, 2), (1, 2, 0))})
    joints, visible, head_boxes = load_mpii_gt_mat(path)
    np.testing.assert_allclose(joints, gt)
    np.testing.assert_array_equal(visible, vis)
    np.testing.assert_allclose(head_boxes, heads)
    assert pckh(pred, joints, visible, head_boxes).summary() == pckh(pred, gt, vis, heads).summary()
    savemat(path, {"pos_gt_src": np.zeros((16, 2, 1))})
    with pytest.raises(HrtrackError, match="no 'jnt_missing'"):
        load_mpii_gt_mat(path)
    with pytest.raises(HrtrackError, match="file not found"):
        load_mpii_gt_mat(tmp_path / "missing.mat")

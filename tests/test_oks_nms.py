"""OKS, OKS-NMS, box NMS and box extension against hand values and slow references."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from hrtrack.skeleton import COCO_SIGMAS
from hrtrack.structures import Boxes
from hrtrack.geometry import extend_boxes
from hrtrack.tracking.nms import box_nms, merge_boxes
from hrtrack.tracking.oks import oks, oks_nms

K = 17


def _random_poses(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.uniform(0, 200, (n, K, 2))


def _reference_oks(a, b, ref_area, sigmas, ref_vis=None, area=None, vis=None) -> float:
    """One pair, one joint at a time: the COCO formula written out."""
    scale = ref_area if area is None else (ref_area + area) / 2
    num = 0.0
    count = 0
    for k in range(len(sigmas)):
        if ref_vis is not None and not ref_vis[k]:
            continue
        if vis is not None and not vis[k]:
            continue
        d2 = (a[k][0] - b[k][0]) ** 2 + (a[k][1] - b[k][1]) ** 2
        num += math.exp(-d2 / (2 * (2 * float(sigmas[k])) ** 2 * (scale + np.spacing(1))))
        count += 1
    return num / count if count else 0.0


# ---------------------------------------------------------------- OKS

def test_oks_identical_poses_is_one():
    poses = _random_poses(np.random.default_rng(0), 4)
    sim = oks(poses, poses, np.full(4, 5000.0), COCO_SIGMAS)
    np.testing.assert_allclose(np.diag(sim), 1.0, rtol=0, atol=1e-12)


def test_oks_one_sigma_unit_shift_is_exp_minus_half():
    # Each joint moved by kappa_k * s in a random direction: d^2 / (2 s^2 kappa^2) = 1/2.
    rng = np.random.default_rng(1)
    area = 90.0 ** 2
    base = _random_poses(rng, 1)
    angle = rng.uniform(0, 2 * np.pi, K)
    step = 2 * COCO_SIGMAS.astype(np.float64) * 90.0
    shifted = base + np.stack([np.cos(angle) * step, np.sin(angle) * step], axis=-1)[None]
    sim = oks(shifted, base, np.array([area]), COCO_SIGMAS)
    assert sim.shape == (1, 1)
    assert sim[0, 0] == pytest.approx(math.exp(-0.5), abs=1e-6)


def test_oks_single_joint_shift_and_visibility_by_hand():
    base = _random_poses(np.random.default_rng(2), 1)
    moved = base.copy()
    # Joint 11 (hip, kappa = 0.214) moved sqrt(2) sigma-units: its term is exp(-1).
    moved[0, 11, 0] += math.sqrt(2) * 2 * float(COCO_SIGMAS[11]) * 50.0
    area = np.array([2500.0])
    assert oks(moved, base, area, COCO_SIGMAS)[0, 0] == pytest.approx((16 + math.exp(-1)) / 17, abs=1e-6)
    # Only joints 10 and 11 labelled in the reference: (1 + exp(-1)) / 2.
    vis = np.zeros((1, K), bool)
    vis[0, [10, 11]] = True
    assert oks(moved, base, area, COCO_SIGMAS, ref_visible=vis)[0, 0] == pytest.approx(
        (1 + math.exp(-1)) / 2, abs=1e-6)
    # No counted joint: 0, not NaN.
    assert oks(moved, base, area, COCO_SIGMAS, ref_visible=np.zeros((1, K), bool))[0, 0] == 0.0


def test_oks_mean_area_when_both_areas_given():
    base = _random_poses(np.random.default_rng(3), 1)
    moved = base.copy()
    moved[0, 0, 1] += 2 * float(COCO_SIGMAS[0]) * math.sqrt(200.0)  # one unit at s^2 = 200
    sim = oks(moved, base, np.array([300.0]), COCO_SIGMAS, areas=np.array([100.0]))
    assert sim[0, 0] == pytest.approx((16 + math.exp(-0.5)) / 17, abs=1e-6)


def test_oks_matches_slow_reference_on_random_sets():
    rng = np.random.default_rng(4)
    a = _random_poses(rng, 5)
    b = a[rng.integers(0, 5, 6)] + rng.normal(0, 8, (6, K, 2))
    ref_areas = rng.uniform(500, 20000, 6)
    areas = rng.uniform(500, 20000, 5)
    ref_vis = rng.random((6, K)) > 0.3
    vis = rng.random((5, K)) > 0.3
    fast = oks(a, b, ref_areas, COCO_SIGMAS, ref_visible=ref_vis, areas=areas, visible=vis)
    slow = np.array([[_reference_oks(a[i], b[j], ref_areas[j], COCO_SIGMAS, ref_vis[j], areas[i], vis[i])
                      for j in range(6)] for i in range(5)])
    np.testing.assert_allclose(fast, slow, rtol=1e-12, atol=1e-12)
    fast_ref_only = oks(a, b, ref_areas, COCO_SIGMAS, ref_visible=ref_vis)
    slow_ref_only = np.array([[_reference_oks(a[i], b[j], ref_areas[j], COCO_SIGMAS, ref_vis[j])
                               for j in range(6)] for i in range(5)])
    np.testing.assert_allclose(fast_ref_only, slow_ref_only, rtol=1e-12, atol=1e-12)


def test_oks_empty_sets_and_bad_shapes():
    assert oks(np.zeros((0, K, 2)), np.zeros((3, K, 2)), np.ones(3), COCO_SIGMAS).shape == (0, 3)
    assert oks(np.zeros((2, K, 2)), np.zeros((0, K, 2)), np.ones(0), COCO_SIGMAS).shape == (2, 0)
    with pytest.raises(ValueError, match="joints"):
        oks(np.zeros((1, K, 2)), np.zeros((1, 15, 2)), np.ones(1), COCO_SIGMAS)
    with pytest.raises(ValueError, match="sigmas"):
        oks(np.zeros((1, 15, 2)), np.zeros((1, 15, 2)), np.ones(1), COCO_SIGMAS)


_pose_sets = st.integers(1, 4).flatmap(lambda n: st.tuples(
    hnp.arrays(np.float64, (n, K, 2), elements=st.floats(-500, 500)),
    hnp.arrays(np.float64, (n,), elements=st.floats(1.0, 1e5))))


@settings(max_examples=60, deadline=None)
@given(_pose_sets, _pose_sets)
def test_oks_property_bounded_and_symmetric(set_a, set_b):
    (a, areas_a), (b, areas_b) = set_a, set_b
    ab = oks(a, b, areas_b, COCO_SIGMAS, areas=areas_a)
    ba = oks(b, a, areas_a, COCO_SIGMAS, areas=areas_b)
    assert np.all((ab >= 0) & (ab <= 1))
    np.testing.assert_allclose(ab, ba.T, rtol=1e-12, atol=1e-15)


# ---------------------------------------------------------------- OKS-NMS

def _reference_oks_nms(kps, kps_scores, scores, areas, thr, sigmas, in_vis_thre):
    """The official algorithm as written: re-score the remaining poses against each kept one."""
    order = list(sorted(range(len(scores)), key=lambda i: (-scores[i], i)))
    keep = []
    while order:
        i = order[0]
        keep.append(i)
        rest = []
        for j in order[1:]:
            vis = None if in_vis_thre is None else kps_scores[j] > in_vis_thre
            if _reference_oks(kps[i], kps[j], areas[j], sigmas, vis, areas[i]) <= thr:
                rest.append(j)
        order = rest
    return keep


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("in_vis_thre", [None, 0.2])
def test_oks_nms_matches_reference(seed, in_vis_thre):
    rng = np.random.default_rng(seed)
    people = _random_poses(rng, 4)
    # Several noisy copies per person so that suppression happens.
    kps = people[rng.integers(0, 4, 14)] + rng.normal(0, 3, (14, K, 2))
    kps_scores = rng.random((14, K))
    scores = np.round(rng.random(14), 1)  # rounding makes ties
    areas = rng.uniform(2000, 8000, 14)
    fast = oks_nms(kps, kps_scores, scores, areas, 0.5, COCO_SIGMAS, in_vis_thre)
    slow = _reference_oks_nms(kps, kps_scores, scores, areas, 0.5, COCO_SIGMAS, in_vis_thre)
    assert fast.tolist() == slow
    assert fast.dtype == np.int64


def test_oks_nms_threshold_is_strict_and_higher_score_wins():
    base = _random_poses(np.random.default_rng(5), 1)[0]
    angle = np.random.default_rng(6).uniform(0, 2 * np.pi, K)
    step = 2 * COCO_SIGMAS.astype(np.float64) * 100.0
    moved = base + np.stack([np.cos(angle), np.sin(angle)], -1) * step[:, None]
    kps = np.stack([moved, base])  # OKS between them = exp(-0.5) = 0.6065
    args = (np.ones((2, K)), np.array([0.4, 0.8]), np.full(2, 1e4))
    assert oks_nms(kps, *args, 0.60, COCO_SIGMAS).tolist() == [1]
    assert oks_nms(kps, *args, 0.61, COCO_SIGMAS).tolist() == [1, 0]


def test_oks_nms_in_vis_thre_counts_only_the_tested_pose_joints():
    pose = _random_poses(np.random.default_rng(7), 1)[0]
    kps = np.stack([pose, pose])
    scores = np.array([0.9, 0.5])
    areas = np.full(2, 1e4)
    # The lower-scored (tested) pose has no joint above 0.2: OKS counts nothing -> 0, kept.
    low_tested = np.stack([np.ones(K), np.full(K, 0.1)])
    assert oks_nms(kps, low_tested, scores, areas, 0.9, COCO_SIGMAS, 0.2).tolist() == [0, 1]
    # The kept pose's joint scores do not enter: identical poses, suppressed.
    low_kept = np.stack([np.full(K, 0.1), np.ones(K)])
    assert oks_nms(kps, low_kept, scores, areas, 0.9, COCO_SIGMAS, 0.2).tolist() == [0]
    # Without in_vis_thre every joint counts.
    assert oks_nms(kps, low_tested, scores, areas, 0.9, COCO_SIGMAS).tolist() == [0]


def test_oks_nms_empty():
    keep = oks_nms(np.zeros((0, K, 2)), np.zeros((0, K)), np.zeros(0), np.zeros(0), 0.9, COCO_SIGMAS)
    assert keep.shape == (0,) and keep.dtype == np.int64


# ---------------------------------------------------------------- box NMS

def _iou(a, b) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _reference_nms(boxes, scores, thr) -> list[int]:
    order = sorted(range(len(scores)), key=lambda i: (-float(scores[i]), i))
    keep: list[int] = []
    for i in order:
        if all(_iou(boxes[i].tolist(), boxes[j].tolist()) <= thr for j in keep):
            keep.append(i)
    return keep


def test_nms_keeps_higher_scoring_of_two_overlapping_boxes():
    boxes = np.array([[0, 0, 100, 200], [5, 5, 105, 205]], np.float32)
    assert box_nms(boxes, np.array([0.3, 0.9]), 0.5).tolist() == [1]
    assert box_nms(boxes, np.array([0.9, 0.3]), 0.5).tolist() == [0]


@pytest.mark.parametrize("delta,kept", [(-1e-3, [0]), (1e-3, [0, 1])])
def test_nms_iou_just_above_and_below_threshold(delta, kept):
    # Two 10x10 boxes offset by x overlap with IoU (10 - x) / (10 + x); x = 10/3 gives 0.5.
    x = 10 / 3 + delta
    boxes = np.array([[0, 0, 10, 10], [x, 0, x + 10, 10]], np.float32)
    iou = (10 - x) / (10 + x)
    assert (iou > 0.5) == (delta < 0)
    assert box_nms(boxes, np.array([0.9, 0.8]), 0.5).tolist() == kept


def test_nms_ties_keep_lower_index():
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [50, 50, 60, 60]], np.float32)
    assert box_nms(boxes, np.array([0.7, 0.7, 0.7]), 0.5).tolist() == [0, 2]
    assert box_nms(boxes[[1, 0, 2]], np.array([0.7, 0.7, 0.7]), 0.5).tolist() == [0, 2]


def test_nms_empty_input():
    keep = box_nms(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), 0.5)
    assert keep.shape == (0,) and keep.dtype == np.int64


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("thr", [0.3, 0.5, 0.7])
def test_nms_matches_slow_reference(seed, thr):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 100, (40, 2))
    wh = rng.uniform(5, 40, (40, 2))
    boxes = np.concatenate([xy, xy + wh], 1).astype(np.float32)
    scores = np.round(rng.random(40), 1).astype(np.float32)  # many ties
    assert box_nms(boxes, scores, thr).tolist() == _reference_nms(boxes, scores, thr)


_box_sets = st.integers(0, 12).flatmap(lambda n: st.tuples(
    hnp.arrays(np.float32, (n, 2), elements=st.floats(0, 100, width=32)),
    hnp.arrays(np.float32, (n, 2), elements=st.floats(1, 50, width=32)),
    hnp.arrays(np.float32, (n,), elements=st.floats(0, 1, width=32))))


@settings(max_examples=80, deadline=None)
@given(_box_sets, st.floats(0.1, 0.9))
def test_nms_property_subset_and_no_kept_overlap(box_set, thr):
    xy, wh, scores = box_set
    boxes = np.concatenate([xy, xy + wh], 1)
    keep = box_nms(boxes, scores, thr)
    assert len(set(keep.tolist())) == len(keep)
    assert set(keep.tolist()) <= set(range(len(boxes)))
    assert np.all(np.diff(scores[keep]) <= 0)
    kept = boxes[keep].astype(np.float64)
    for i in range(len(kept)):
        for j in range(i + 1, len(kept)):
            assert _iou(kept[i], kept[j]) <= thr + 1e-5
    for d in set(range(len(boxes))) - set(keep.tolist()):
        assert any(_iou(boxes[d].astype(np.float64), k) > thr - 1e-5 for k in kept)


# ---------------------------------------------------------------- box extension and merging

def test_extend_boxes_arithmetic():
    out = extend_boxes(np.array([[10, 20, 110, 220]], np.float32), 0.15)
    # w = 100, h = 200: 15 px left/right, 30 px top/bottom.
    np.testing.assert_array_equal(out, np.array([[-5, -10, 125, 250]], np.float32))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(extend_boxes(out, 0.0), out)


def test_extend_boxes_does_not_mutate():
    boxes = np.array([[0, 0, 10, 10]], np.float32)
    extend_boxes(boxes, 0.5)
    np.testing.assert_array_equal(boxes, [[0, 0, 10, 10]])


def test_merge_boxes_keeps_best_of_overlaps():
    dets = Boxes(np.array([[0, 0, 100, 200], [300, 0, 400, 200]], np.float32), np.array([0.6, 0.9]))
    cands = Boxes(np.array([[4, 2, 104, 202], [600, 0, 700, 200]], np.float32), np.array([0.8, 0.5]))
    merged = merge_boxes(dets, cands, 0.5)
    # The first candidate beats the 0.6 detection it overlaps; the second overlaps nothing.
    np.testing.assert_array_equal(merged.scores, np.array([0.9, 0.8, 0.5], np.float32))
    np.testing.assert_array_equal(merged.boxes, [[300, 0, 400, 200], [4, 2, 104, 202], [600, 0, 700, 200]])
    # Equal scores: the detection wins (it comes first in the pool).
    same = Boxes(dets.boxes[:1], np.array([0.6]))
    shifted = Boxes(dets.boxes[:1] + 1, np.array([0.6]))
    np.testing.assert_array_equal(merge_boxes(same, shifted, 0.5).boxes, same.boxes)

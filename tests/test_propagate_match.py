"""Flow propagation, similarities, matching and the tracker, against hand-derived numbers."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from hrtrack.errors import HrtrackError
from hrtrack.skeleton import COCO_SIGMAS
from hrtrack.structures import Poses
from hrtrack.tracking import (FlowTracker, box_iou_similarity, flow_oks_similarity, greedy_match,
                              hungarian_match, joint_boxes, propagate_boxes,
                              sample_flow, warp_poses)

K = 17
H, W = 120, 160


def _linear_flow(a: np.ndarray) -> np.ndarray:
    """flow(x, y) = (a0 + a1 x + a2 y, a3 + a4 x + a5 y): bilinear interpolation is exact on it."""
    y, x = np.mgrid[0:H, 0:W].astype(np.float64)
    return np.stack([a[0] + a[1] * x + a[2] * y, a[3] + a[4] * x + a[5] * y], -1).astype(np.float32)


def _poses(keypoints, scores=None, person=None, boxes=None, ids=None) -> Poses:
    kp = np.asarray(keypoints, np.float32)
    n = len(kp)
    if boxes is None:
        boxes = np.concatenate([kp.min(1), kp.max(1)], 1)
    return Poses(kp, np.ones((n, K), np.float32) if scores is None else scores,
                 np.ones(n, np.float32) if person is None else person, boxes, ids)


def _person(rng: np.random.Generator, cx: float, cy: float) -> np.ndarray:
    return np.stack([rng.uniform(cx - 20, cx + 20, K), rng.uniform(cy - 40, cy + 40, K)], -1)


# ---------------------------------------------------------------- flow sampling and propagation

def test_sample_flow_linear_field_is_exact():
    coeffs = np.array([0.5, 0.1, -0.05, -1.0, 0.02, 0.03])
    flow = _linear_flow(coeffs)
    pts = np.random.default_rng(0).uniform([0, 0], [W - 1, H - 1], (5, K, 2))
    expected = np.stack([coeffs[0] + coeffs[1] * pts[..., 0] + coeffs[2] * pts[..., 1],
                         coeffs[3] + coeffs[4] * pts[..., 0] + coeffs[5] * pts[..., 1]], -1)
    out = sample_flow(flow, pts)
    assert out.shape == (5, K, 2) and out.dtype == np.float32
    np.testing.assert_allclose(out, expected, atol=1e-4)


def test_sample_flow_bilinear_by_hand_and_border():
    flow = np.zeros((2, 2, 2), np.float32)
    flow[..., 0] = [[0, 4], [8, 12]]  # u at (x,y): (0,0)=0 (1,0)=4 (0,1)=8 (1,1)=12
    flow[..., 1] = [[1, 1], [1, 5]]
    out = sample_flow(flow, np.array([[0.25, 0.75], [-3.0, 0.0], [5.0, 9.0]]))
    # u = 0.25*0.25*4 + 0.75*0.75*8 + 0.25*0.75*12 = 0.25 + 4.5 + 2.25 = 7.0; v = 1 + 4*0.25*0.75 = 1.75
    np.testing.assert_allclose(out[0], [7.0, 1.75], atol=1e-6)
    np.testing.assert_allclose(out[1], [0.0, 1.0])   # clamped to the left border pixel (0,0)
    np.testing.assert_allclose(out[2], [12.0, 5.0])  # clamped to the bottom-right pixel


def test_warp_poses_lands_exactly_and_keeps_the_rest():
    rng = np.random.default_rng(1)
    coeffs = np.array([2.0, 0.01, 0.0, -3.0, 0.0, 0.02])
    kp = np.stack([_person(rng, 50, 60), _person(rng, 110, 60)])
    poses = _poses(kp, person=np.array([0.7, 0.4]), ids=np.array([4, 9]))
    before = poses.keypoints.copy()
    moved = warp_poses(poses, _linear_flow(coeffs))
    expected = kp + np.stack([coeffs[0] + coeffs[1] * kp[..., 0], coeffs[3] + coeffs[5] * kp[..., 1]], -1)
    np.testing.assert_allclose(moved.keypoints, expected, atol=1e-4)
    shift = (expected - kp).mean(1)
    np.testing.assert_allclose(moved.boxes, poses.boxes + np.concatenate([shift, shift], 1), atol=1e-4)
    np.testing.assert_array_equal(moved.scores, poses.scores)
    np.testing.assert_array_equal(moved.track_ids, [4, 9])
    np.testing.assert_array_equal(poses.keypoints, before)


def test_joint_boxes_ignore_low_confidence_joints():
    kp = np.zeros((2, K, 2), np.float32)
    kp[0, :, 0] = np.arange(K) + 10
    kp[0, :, 1] = np.arange(K) * 2 + 5
    scores = np.ones((2, K), np.float32)
    scores[0, [0, 16]] = 0.1  # the extreme joints are unsure
    scores[1] = 0.05
    boxes, valid = joint_boxes(kp, scores, 0.2)
    np.testing.assert_array_equal(boxes[0], [11, 7, 25, 35])
    assert valid.tolist() == [True, False]
    # Grown by half the width (14 -> 7 px) and height (28 -> 14 px) on each side; the empty row stays empty.
    grown, _ = joint_boxes(kp, scores, 0.2, extension=0.5)
    np.testing.assert_array_equal(grown, [[4, -7, 32, 49], [0, 0, 0, 0]])


def test_propagate_boxes_translation_extension_and_score():
    kp = np.zeros((1, K, 2), np.float32)
    kp[0, :, 0] = np.linspace(40, 80, K)    # joints span 40..80 in x
    kp[0, :, 1] = np.linspace(20, 100, K)   # and 20..100 in y
    scores = np.full((1, K), 0.9, np.float32)
    scores[0, 0] = 0.0                      # drop the (40, 20) joint from the box
    poses = _poses(kp, scores=scores, person=np.array([0.66]), ids=np.array([12]))
    flow = np.zeros((H, W, 2), np.float32)
    flow[..., 0], flow[..., 1] = 3.0, -2.0
    boxes = propagate_boxes(warp_poses(poses, flow), min_joint_score=0.2, extension=0.15)
    # Confident joints span x 42.5..80, y 25..100, moved by (3,-2): 45.5..83, 23..98.
    # Extended by 15%: 37.5 * 0.15 = 5.625 in x, 75 * 0.15 = 11.25 in y.
    np.testing.assert_allclose(boxes.boxes, [[39.875, 11.75, 88.625, 109.25]], atol=1e-4)
    np.testing.assert_allclose(boxes.scores, [0.66])


def test_propagate_boxes_clips_and_drops_boxes_outside_the_image():
    rng = np.random.default_rng(2)
    kp = np.stack([_person(rng, 60, 60), _person(rng, 140, 60)])
    flow = np.zeros((H, W, 2), np.float32)
    flow[..., 0] = 100.0  # both move right; the second one leaves the 160-px-wide image
    boxes = propagate_boxes(warp_poses(_poses(kp, person=np.array([0.7, 0.4])), flow), image_size=(W, H))
    np.testing.assert_allclose(boxes.scores, [0.7])  # only the first one's box is left
    assert boxes.boxes[0, 2] == W and boxes.boxes[0, 0] < W
    assert len(propagate_boxes(warp_poses(Poses.empty(K), flow))) == 0


# ---------------------------------------------------------------- similarities

def test_flow_oks_similarity_uses_mean_box_area_and_joint_scores():
    rng = np.random.default_rng(3)
    kp = _person(rng, 60, 60)[None]
    moved = kp.copy()
    s2 = (40 * 80 + 60 * 100) / 2  # mean of the two box areas
    moved[0, 5, 0] += 2 * float(COCO_SIGMAS[5]) * math.sqrt(s2)  # one sigma-unit on joint 5
    cur = _poses(moved, boxes=np.array([[0, 0, 40, 80]]))
    prev = _poses(kp, boxes=np.array([[0, 0, 60, 100]]))
    sim = flow_oks_similarity(cur, prev, COCO_SIGMAS, 0.0)
    assert sim[0, 0] == pytest.approx((16 + math.exp(-0.5)) / 17, abs=1e-6)
    scores = np.ones((1, K), np.float32)
    scores[0, 5] = 0.1  # the moved joint is unsure in the previous pose: ignored
    prev_low = _poses(kp, scores=scores, boxes=np.array([[0, 0, 60, 100]]))
    assert flow_oks_similarity(cur, prev_low, COCO_SIGMAS, 0.2)[0, 0] == pytest.approx(1.0, abs=1e-6)


def test_box_iou_similarity_by_hand():
    kp = np.zeros((1, K, 2))
    cur = _poses(kp, boxes=np.array([[0, 0, 10, 10]]))
    prev = _poses(np.zeros((2, K, 2)), boxes=np.array([[5, 0, 15, 10], [20, 20, 30, 30]]))
    np.testing.assert_allclose(box_iou_similarity(cur, prev, COCO_SIGMAS, 0.0), [[50 / 150, 0.0]], atol=1e-7)


# ---------------------------------------------------------------- matching

def test_greedy_known_assignment_and_difference_from_hungarian():
    sim = np.array([[0.9, 0.8],
                    [0.85, 0.1]])
    rows, cols = greedy_match(sim, 0.3)
    # Greedy takes (0,0)=0.9 first; what is left, (1,1)=0.1, is below the threshold.
    assert list(zip(rows.tolist(), cols.tolist())) == [(0, 0)]
    rows, cols = hungarian_match(sim, 0.3)
    # Hungarian trades it for 0.8 + 0.85 = 1.65 > 0.9.
    assert sorted(zip(rows.tolist(), cols.tolist())) == [(0, 1), (1, 0)]


def test_greedy_hand_made_three_by_four():
    sim = np.array([[0.2, 0.7, 0.6, 0.0],
                    [0.9, 0.75, 0.1, 0.3],
                    [0.5, 0.4, 0.65, 0.35]])
    rows, cols = greedy_match(sim, 0.3)
    # 0.9 -> (1,0); then 0.7 -> (0,1); then 0.65 -> (2,2).
    assert list(zip(rows.tolist(), cols.tolist())) == [(1, 0), (0, 1), (2, 2)]
    rows, cols = greedy_match(sim, 0.66)
    assert list(zip(rows.tolist(), cols.tolist())) == [(1, 0), (0, 1)]


def test_matching_threshold_is_strict_and_empty_inputs():
    for match in (greedy_match, hungarian_match):
        rows, cols = match(np.array([[0.5]]), 0.5)
        assert rows.size == 0 and cols.size == 0
        for shape in ((0, 3), (3, 0), (0, 0)):
            rows, cols = match(np.zeros(shape), 0.1)
            assert rows.shape == (0,) and cols.shape == (0,) and rows.dtype == np.int64


def _slow_greedy(sim: np.ndarray, thr: float) -> list[tuple[int, int]]:
    entries = sorted(((-sim[r, c], r, c) for r in range(sim.shape[0]) for c in range(sim.shape[1])))
    used_r, used_c, pairs = set(), set(), []
    for neg, r, c in entries:
        if -neg <= thr:
            break
        if r not in used_r and c not in used_c:
            pairs.append((r, c))
            used_r.add(r)
            used_c.add(c)
    return pairs


def _brute_force_best_total(sim: np.ndarray, thr: float) -> float:
    n, m = sim.shape
    best = 0.0
    cols = list(range(m)) + [None] * n  # None = row left unmatched
    for perm in itertools.permutations(cols, n):
        used = [c for c in perm if c is not None]
        if len(set(used)) != len(used):
            continue
        total = sum(sim[r, c] for r, c in enumerate(perm) if c is not None and sim[r, c] > thr)
        best = max(best, total)
    return best


@pytest.mark.parametrize("seed", range(6))
def test_matchers_against_slow_references(seed):
    rng = np.random.default_rng(seed)
    sim = np.round(rng.random((4, 5)), 2)
    rows, cols = greedy_match(sim, 0.25)
    assert list(zip(rows.tolist(), cols.tolist())) == _slow_greedy(sim, 0.25)
    rows, cols = hungarian_match(sim, 0.25)
    assert sim[rows, cols].sum() == pytest.approx(_brute_force_best_total(sim, 0.25))


@settings(max_examples=80, deadline=None)
@given(st.tuples(st.integers(0, 6), st.integers(0, 6)).flatmap(
    # Similarities of 1e-38 sit below the assignment solver's float tolerance (scipy may leave such a
    # pair unmatched, breaking maximality); OKS and IoU never produce them, so they are excluded.
    lambda shape: hnp.arrays(np.float64, shape, elements=st.floats(0, 1).filter(lambda v: v == 0 or v > 1e-9))),
    st.floats(0, 0.9))
def test_matching_property_one_to_one_above_threshold(sim, thr):
    for match in (greedy_match, hungarian_match):
        rows, cols = match(sim, thr)
        assert len(set(rows.tolist())) == len(rows) and len(set(cols.tolist())) == len(cols)
        assert np.all(sim[rows, cols] > thr)
    rows, cols = greedy_match(sim, thr)
    if len(rows):
        assert sim[rows[0], cols[0]] == sim.max()
    # No unmatched row/column pair is left above the threshold by either matcher (maximality).
    for match in (greedy_match, hungarian_match):
        rows, cols = match(sim, thr)
        free = sim[np.setdiff1d(np.arange(sim.shape[0]), rows)][:, np.setdiff1d(np.arange(sim.shape[1]), cols)]
        assert not np.any(free > thr)


# ---------------------------------------------------------------- tracker

class _Video:
    """Feeds a tracker frame by frame as the pipeline does: its last output, moved by the flow, comes back."""

    def __init__(self, tracker: FlowTracker) -> None:
        self.tracker = tracker
        self.previous = Poses.empty(K)

    def __call__(self, poses: Poses, flow: np.ndarray | None) -> Poses:
        moved = warp_poses(self.previous, flow) if flow is not None else self.previous
        self.previous = self.tracker(poses, moved, flow)
        return self.previous

    def reset(self) -> None:
        self.tracker.reset()
        self.previous = Poses.empty(K)


def _scene(rng: np.random.Generator, centers) -> np.ndarray:
    return np.stack([_person(rng, cx, cy) for cx, cy in centers])


def test_tracker_follows_people_moved_by_flow():
    rng = np.random.default_rng(4)
    base = _scene(rng, [(40, 60), (110, 60)])
    tracker = _Video(FlowTracker())
    flow = np.zeros((H, W, 2), np.float32)
    flow[..., 0] = 6.0
    first = tracker(_poses(base), None)
    assert first.track_ids.tolist() == [0, 1]
    # Next frame: everyone moved 6 px right (flow says so), listed in the other order.
    second = tracker(_poses(base[::-1] + [6.0, 0.0]), flow)
    assert second.track_ids.tolist() == [1, 0]
    # Without the flow the 6 px move still matches, but a 60 px move only matches with flow.
    flow[..., 0] = 60.0
    third = tracker(_poses(base + [72.0, 0.0]), flow)
    assert third.track_ids.tolist() == [0, 1]


def test_tracker_ids_never_reused_and_reset_restarts():
    rng = np.random.default_rng(5)
    tracker = _Video(FlowTracker())
    seen: list[int] = []
    for frame in range(6):
        # A new, unrelated person every frame: every id is new.
        out = tracker(_poses(_scene(rng, [(30 + 20 * frame, 60)]) + 1000.0 * frame), None)
        seen += out.track_ids.tolist()
    assert seen == list(range(6))
    tracker(Poses.empty(K), None)
    assert tracker(_poses(_scene(rng, [(50, 50)])), None).track_ids.tolist() == [6]
    tracker.reset()
    assert tracker(_poses(_scene(rng, [(50, 50)])), None).track_ids.tolist() == [0]


def test_two_trackers_do_not_interfere():
    rng = np.random.default_rng(6)
    frames = [_poses(_scene(rng, [(40 + 3 * t, 60), (120 - 3 * t, 60)])) for t in range(4)]
    other = [_poses(_scene(rng, [(60, 60)]) + 500.0 * t) for t in range(4)]  # new id every frame
    alone = _Video(FlowTracker())
    expected = [alone(p, None).track_ids.tolist() for p in frames]
    a, b = _Video(FlowTracker()), _Video(FlowTracker())
    got = []
    for p, q in zip(frames, other):
        got.append(a(p, None).track_ids.tolist())
        b(q, None)
    assert got == expected
    assert b.previous.track_ids.tolist() == [3]


@pytest.mark.parametrize("max_age,expected_id", [(1, 1), (2, 0)])
def test_tracker_max_age(max_age, expected_id):
    pose = _poses(_scene(np.random.default_rng(7), [(60, 60)]))
    tracker = _Video(FlowTracker(max_age=max_age))
    tracker(pose, None)
    tracker(Poses.empty(K), None)  # the person is missed for one frame
    assert tracker(pose, None).track_ids.tolist() == [expected_id]


def _sigma_units(scale: float) -> np.ndarray:
    """Per-joint offsets of exactly one OKS sigma-unit at area scale^2, along x."""
    d = np.zeros((K, 2))
    d[:, 0] = 2 * COCO_SIGMAS.astype(np.float64) * scale
    return d


@pytest.mark.parametrize("q_frames,expected_id", [(1, 1), (2, 0)])
def test_tracker_q_frames_with_chained_flow(q_frames, expected_id):
    # Frame 0: pose P. Frame 1: P + t + d (matched, OKS exp(-1/2) = 0.61 > 0.3).
    # Frame 2: P + 2t - d. Against frame 1 moved by t it is 2 units off (OKS exp(-2) = 0.14);
    # against frame 0 moved twice by t (chained) it is 1 unit off (0.61): only Q=2 keeps the id.
    base = _scene(np.random.default_rng(8), [(40, 60)])
    box = np.array([[0, 0, 50.0, 50.0]])  # area 2500, scale 50, at every frame
    d = _sigma_units(50.0)
    t = np.array([30.0, 0.0])
    flow = np.zeros((H, W, 2), np.float32)
    flow[...] = t
    tracker = _Video(FlowTracker(q_frames=q_frames, max_age=2))
    assert tracker(_poses(base, boxes=box), None).track_ids.tolist() == [0]
    assert tracker(_poses(base + t + d, boxes=box), flow).track_ids.tolist() == [0]
    assert tracker(_poses(base + 2 * t - d, boxes=box), flow).track_ids.tolist() == [expected_id]


def test_tracker_iou_similarity_and_hungarian_options():
    rng = np.random.default_rng(9)
    base = _scene(rng, [(40, 60), (110, 60)])
    for kwargs in ({"similarity": "iou"}, {"matcher": "hungarian"}):
        tracker = _Video(FlowTracker(**kwargs))
        tracker(_poses(base), None)
        assert tracker(_poses(base[::-1] + 1.0), None).track_ids.tolist() == [1, 0]


@pytest.mark.parametrize("kwargs,match", [
    ({"similarity": "cosine"}, "unknown similarity"),
    ({"matcher": "auction"}, "unknown matcher"),
    ({"threshold": 1.5}, "threshold"),
    ({"threshold": -0.1}, "threshold"),
    ({"q_frames": 0}, "q_frames"),
    ({"max_age": True}, "max_age"),
    ({"min_joint_score": float("nan")}, "min_joint_score"),
    ({"sigmas": [0.1, -1.0]}, "sigmas"),
])
def test_tracker_validates_arguments(kwargs, match):
    with pytest.raises(HrtrackError, match=match):
        FlowTracker(**kwargs)


def test_tracker_rejects_wrong_joint_count():
    with pytest.raises(HrtrackError, match="joints"):
        FlowTracker()(Poses.empty(15), Poses.empty(15), None)
    with pytest.raises(HrtrackError, match="previous poses 15"):
        FlowTracker()(Poses.empty(K), Poses.empty(15), None)

"""The oracle estimator (ground truth in the estimator's place) and duplicate-track counting."""

from __future__ import annotations

import numpy as np
import pytest

from hrtrack.errors import HrtrackError
from hrtrack.evaluation.duplicates import duplicate_tracks, frame_duplicates
from hrtrack.formats.posetrack import PoseTrackFrame, PoseTrackSequence
from hrtrack.pipeline.oracle import OracleEstimator
from hrtrack.skeleton import POSETRACK

K = POSETRACK.num_joints


def person(x: float, y: float, size: float = 100.0) -> np.ndarray:
    """A (K,2) stick figure: joints on a vertical line of `size` pixels below (x, y), spread sideways."""
    t = np.linspace(0, 1, K)
    return np.stack([x + 0.2 * size * np.sin(7 * t), y + size * t], axis=1).astype(np.float32)


def test_each_box_gets_the_pose_of_the_person_it_overlaps_most():
    truth = np.stack([person(100, 50), person(300, 60)])
    labelled = np.ones((2, K), bool)
    labelled[1, 5] = False
    boxes = np.array([[80, 40, 130, 160], [280, 50, 330, 170]], np.float32)
    oracle = OracleEstimator(POSETRACK)
    oracle.set_truth(truth, labelled, boxes)
    given = np.array([[285, 55, 335, 175], [85, 45, 125, 150], [500, 10, 560, 90]], np.float32)
    poses = oracle(np.zeros((240, 640, 3), np.uint8), given, np.array([0.9, 0.8, 0.5], np.float32))
    np.testing.assert_array_equal(poses.keypoints[0], truth[1])
    np.testing.assert_array_equal(poses.keypoints[1], truth[0])
    np.testing.assert_array_equal(poses.keypoint_scores[:2], labelled[[1, 0]].astype(np.float32))
    # A box over nobody: no joint scores, so person score 0 (dropped by any positive person threshold).
    assert poses.keypoint_scores[2].max() == 0 and poses.scores[2] == 0
    np.testing.assert_allclose(poses.scores[:2], [0.9, 0.8])
    # Pose boxes are the padded crop windows, as the estimator reports them: 1.25 x the 3:4 box.
    w, h = poses.boxes[1, 2:] - poses.boxes[1, :2]
    assert (w, h) == pytest.approx((0.75 * 105 * 1.25, 105 * 1.25))


def test_noise_has_the_requested_spread_and_is_seeded():
    truth = np.stack([person(200, 50, 200)] * 1)
    boxes = np.array([[150, 40, 260, 260]], np.float32)
    a, b = (OracleEstimator(POSETRACK, noise_sigma=3.0, rng=np.random.default_rng(5)) for _ in range(2))
    offsets = []
    for oracle in (a, b):
        oracle.set_truth(truth, np.ones((1, K), bool), boxes)
        offsets.append(np.concatenate([oracle(np.zeros((300, 400, 3), np.uint8), boxes).keypoints - truth
                                       for _ in range(200)]))
    np.testing.assert_array_equal(offsets[0], offsets[1])
    assert offsets[0].std() == pytest.approx(3.0, rel=0.05) and abs(offsets[0].mean()) < 0.1
    with pytest.raises(HrtrackError, match="noise_sigma"):
        OracleEstimator(POSETRACK, noise_sigma=-1.0)


def frame(keypoints, visible, scores=None, track_ids=None, head=20.0, labelled=True) -> PoseTrackFrame:
    kp = np.asarray(keypoints, np.float32).reshape(-1, K, 2)
    n = len(kp)
    heads = np.array([[0, 0, head, 0]] * n, np.float32) / 0.6  # head size = diagonal x 0.6 = head
    return PoseTrackFrame(image="x.jpg", is_labeled=labelled, keypoints=kp, visible=np.asarray(visible, bool),
                          joint_scores=np.ones((n, K), np.float32),
                          track_ids=np.arange(n) if track_ids is None else track_ids,
                          scores=np.ones(n) if scores is None else scores, head_boxes=heads,
                          boxes=np.full((n, 4), np.nan))


def test_a_second_pose_on_a_covered_person_is_the_duplicate():
    gt = frame([person(100, 50), person(300, 50)], np.ones((2, K), bool))
    near = person(100, 50) + 4.0            # within 0.5 x 20 px of every joint
    far = person(100, 50) + 11.0            # beyond it: on nobody
    half = person(300, 50).copy()
    half[K // 2:] += 30.0                   # 8 of 17 joints hit, under half: on nobody
    pred = frame([near, person(100, 50), far, half, person(300, 50)], np.ones((5, K), bool),
                 scores=np.array([0.5, 0.9, 0.95, 0.99, 0.3]), track_ids=np.array([7, 3, 8, 9, 4]))
    assert frame_duplicates(gt, pred).tolist() == [True, False, False, False, False]
    # Only emitted joints count: the duplicate emitting a third of its joints no longer lies on anyone.
    vis = np.ones((5, K), bool)
    vis[0, : 2 * K // 3] = False
    assert not frame_duplicates(gt, frame(pred.keypoints, vis, pred.scores, pred.track_ids)).any()


def test_duplicate_tracks_count_ids_over_labelled_frames_only():
    gt = frame([person(100, 50)], np.ones((1, K), bool))
    twice = [person(100, 50), person(100, 50) + 1.0]
    frames_gt = [gt, gt, frame(gt.keypoints, gt.visible, labelled=False)]
    frames_pred = [frame(twice, np.ones((2, K), bool), np.array([0.9, 0.8]), np.array([1, 2])),
                   frame(twice, np.ones((2, K), bool), np.array([0.7, 0.8]), np.array([1, 2])),
                   frame(twice, np.ones((2, K), bool), np.array([0.9, 0.8]), np.array([1, 5]))]
    count = duplicate_tracks(PoseTrackSequence("s", frames_gt), PoseTrackSequence("s", frames_pred))
    # Frame 0: track 2 duplicates 1; frame 1: track 1 duplicates 2 (higher score wins); frame 2 is unlabelled.
    assert (count.tracks, count.poses) == (2, 2)

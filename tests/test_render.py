"""Drawing poses: which bones and joints appear, per-track colours, boxes, ids, no mutation."""

from __future__ import annotations

import numpy as np
import pytest

from hrtrack.pipeline.render import UNTRACKED_COLOR, draw_poses, track_colors
from hrtrack.skeleton import COCO, MPII, POSETRACK
from hrtrack.structures import Poses


def _pose(keypoints, scores, box=(np.nan,) * 4, track_id=0) -> Poses:
    kp = np.asarray(keypoints, np.float32)[None]
    return Poses(kp, np.asarray(scores, np.float32)[None], np.ones(1), np.asarray([box], np.float32),
                 np.array([track_id]))


def test_track_colors_are_stable_and_distinct():
    ids = np.arange(50)
    colors = track_colors(ids)
    assert colors.shape == (50, 3) and colors.dtype == np.uint8
    np.testing.assert_array_equal(track_colors(ids[::-1]), colors[::-1])  # depends on the id only
    np.testing.assert_array_equal(track_colors(np.array([7, 7, 3]))[0], colors[7])
    distances = np.abs(colors[:, None].astype(int) - colors[None].astype(int)).sum(axis=2)
    assert (distances[~np.eye(50, dtype=bool)] > 0).all()
    # Consecutive ids are far apart in colour.
    assert (np.abs(np.diff(colors.astype(int), axis=0)).sum(axis=1) > 60).all()
    np.testing.assert_array_equal(track_colors(np.array([-1, -5])), [UNTRACKED_COLOR] * 2)


def _segment_distance(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    t = np.clip(np.dot(p - a, b - a) / max(np.dot(b - a, b - a), 1e-9), 0, 1)
    return float(np.linalg.norm(p - (a + t * (b - a))))


@pytest.mark.parametrize("layout", [COCO, POSETRACK, MPII])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bones_drawn_exactly_when_both_joints_pass_the_threshold(layout, seed):
    """Reference: a bone shows at its midpoint iff both joint scores exceed the threshold."""
    rng = np.random.default_rng(seed)
    k = layout.num_joints
    kp = rng.uniform(20, 580, (k, 2))
    scores = rng.uniform(0.2, 1, k)  # ~5/8 of the joints pass: bones both drawn and not
    image = np.zeros((600, 600, 3), np.uint8)
    out = draw_poses(image, _pose(kp, scores, track_id=4), layout, joint_threshold=0.5, draw_boxes=False,
                     thickness=3)
    color = track_colors(np.array([4]))[0]
    shown = scores > 0.5
    checked = []
    for a, b in layout.skeleton:
        # Judge the bone at a point well away from every other bone and joint dot.
        others = [(kp[c], kp[d]) for c, d in layout.skeleton if (c, d) != (a, b)]
        for t in np.linspace(0.2, 0.8, 13):
            probe = kp[a] + t * (kp[b] - kp[a])
            if (min(_segment_distance(probe, c, d) for c, d in others) > 8
                    and np.linalg.norm(kp - probe, axis=1).min() > 10):
                break
        else:
            continue
        x, y = np.round(probe).astype(int)
        drawn = (out[y, x] == color).all()
        assert drawn == (shown[a] and shown[b]), (a, b)
        assert (out[y, x] != 0).any() == (shown[a] and shown[b])
        checked.append(drawn)
    assert sum(checked) >= 1 and len(checked) - sum(checked) >= 1
    # Joint dots: exactly the joints above the threshold that no other mark reaches.
    for j in range(k):
        x, y = np.round(kp[j]).astype(int)
        near_bone = min(_segment_distance(kp[j], kp[a], kp[b]) for a, b in layout.skeleton
                        if j not in (a, b) and shown[a] and shown[b])
        near_dot = np.delete(np.linalg.norm(kp - kp[j], axis=1), j)[np.delete(shown, j)]
        if near_bone > 6 and (near_dot.size == 0 or near_dot.min() > 12) and not shown[j]:
            assert (out[y, x] == 0).all(), j  # its own bones are hidden with it
        if shown[j]:
            assert (out[y, x] == color).all(), j


def test_input_is_not_modified_and_empty_poses_copy():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (64, 80, 3), dtype=np.uint8)
    before = image.copy()
    out = draw_poses(image, _pose(rng.uniform(0, 60, (17, 2)), np.ones(17), (5, 5, 50, 50), 3), COCO)
    np.testing.assert_array_equal(image, before)
    assert out.shape == image.shape and out.dtype == np.uint8 and (out != image).any()
    empty = draw_poses(image, Poses.empty(17), COCO)
    np.testing.assert_array_equal(empty, image)
    assert empty is not image


def test_boxes_and_ids_in_the_track_colour():
    image = np.zeros((120, 160, 3), np.uint8)
    kp = np.full((17, 2), np.nan)
    out = draw_poses(image, _pose(kp, np.ones(17), (40, 50, 120, 110), track_id=12), COCO, thickness=1)
    color = track_colors(np.array([12]))[0]
    assert (out[80, 120] == color).all() and (out[110, 80] == color).all()  # right and bottom edges
    assert (out[80, 80] == 0).all()  # inside the box: nothing (no joint is finite)
    tag = out[30:50, 40:60]  # the id tag sits above the top-left corner
    assert ((tag == color).all(axis=2)).sum() > 20
    no_ids = draw_poses(image, _pose(kp, np.ones(17), (40, 50, 120, 110), track_id=12), COCO, thickness=1,
                        draw_ids=False, draw_boxes=False)
    assert (no_ids == 0).all()
    untracked = draw_poses(image, _pose(kp, np.ones(17), (40, 50, 120, 110), track_id=-1), COCO, thickness=1)
    assert (untracked[30:49, 40:60] == 0).all()  # no id tag for an unassigned pose
    assert (untracked[80, 120] == UNTRACKED_COLOR).all()
    nan_box = draw_poses(image, _pose(kp, np.ones(17), (np.nan,) * 4, track_id=2), COCO)
    assert (nan_box == 0).all()


def test_two_tracks_two_colours():
    image = np.zeros((100, 200, 3), np.uint8)
    kp = np.zeros((2, 17, 2), np.float32)
    kp[0, 5], kp[0, 7] = (20, 20), (20, 80)
    kp[1, 5], kp[1, 7] = (150, 20), (150, 80)
    scores = np.zeros((2, 17), np.float32)
    scores[:, [5, 7]] = 0.9
    poses = Poses(kp, scores, np.ones(2), np.full((2, 4), np.nan), np.array([0, 1]))
    out = draw_poses(image, poses, COCO, thickness=3)
    colors = track_colors(np.array([0, 1]))
    assert (out[50, 20] == colors[0]).all() and (out[50, 150] == colors[1]).all()


def test_bad_inputs():
    with pytest.raises(ValueError, match="uint8"):
        draw_poses(np.zeros((10, 10), np.uint8), Poses.empty(17), COCO)
    with pytest.raises(ValueError, match="16"):
        draw_poses(np.zeros((10, 10, 3), np.uint8), _pose(np.zeros((17, 2)), np.ones(17)), MPII)

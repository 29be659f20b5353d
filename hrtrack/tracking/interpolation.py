"""Gap filling inside tracks: the pose of a track at a frame where it was missed, from both sides.

A track seen at frame `t0`, missed, and seen again at frame `t1` gets at each
frame `t` in between the linear interpolation of its two appearances, joint by
joint (x and y separately), with the fraction `(t - t0) / (t1 - t0)`. A joint is
filled only where both appearances saw it (score above the threshold). Its score
is the smaller of the two end scores times `decay ** d`, where `d = min(t - t0,
t1 - t)` is the distance in frames to the nearer appearance: the middle of a long
gap is the least certain. Joints not filled get score 0 (they are never emitted)
and the interpolated position, so nothing is ever NaN.
"""

from __future__ import annotations

import numpy as np

from ..errors import HrtrackError
from ..structures import Poses


def interpolate_poses(before: Poses, after: Poses, t_before: np.ndarray, t_after: np.ndarray, t: int, *,
                      threshold: float, decay: float) -> Poses:
    """The poses of N tracks at frame `t`, between their appearances `before` (at `t_before`) and `after`.

    Args:
        before, after: (N) poses of the same tracks, row for row (the track ids of `before` are kept).
        t_before, t_after: (N,) int frames of the two appearances, `t_before < t < t_after`.
        t: the frame to fill.
        threshold: a joint counts as seen when its score is strictly above this (`Poses.joints_above`).
        decay: score factor per frame of distance to the nearer appearance, in (0, 1].

    Returns:
        Poses with keypoints and boxes interpolated linearly, keypoint scores
        `min(s_before, s_after) * decay ** d` where both appearances saw the joint
        (0 elsewhere), person scores `min(p_before, p_after) * decay ** d`, and
        `interpolated` True exactly on the filled joints.
    """
    if len(before) != len(after):
        raise HrtrackError(f"{len(before)} poses before the gap but {len(after)} after it")
    if not 0.0 < decay <= 1.0:
        raise HrtrackError(f"interpolation decay must be in (0, 1], got {decay!r}")
    t0 = np.asarray(t_before, np.int64).reshape(len(before))
    t1 = np.asarray(t_after, np.int64).reshape(len(after))
    if not ((t0 < t) & (t < t1)).all():
        raise HrtrackError(f"frame {t} is not strictly inside every gap")
    frac = ((t - t0) / (t1 - t0))[:, None]
    d = np.minimum(t - t0, t1 - t)
    factor = np.asarray(decay, np.float64) ** d
    kp0, kp1 = before.keypoints.astype(np.float64), after.keypoints.astype(np.float64)
    keypoints = kp0 + frac[:, :, None] * (kp1 - kp0)
    boxes = before.boxes + frac * (after.boxes.astype(np.float64) - before.boxes)
    filled = before.joints_above(threshold) & after.joints_above(threshold)
    joint_scores = np.where(filled, np.minimum(before.keypoint_scores, after.keypoint_scores) * factor[:, None], 0.0)
    scores = np.minimum(before.scores, after.scores) * factor
    return Poses(keypoints, joint_scores, scores, boxes, before.track_ids, filled)

"""Move poses from frame t-1 into frame t with optical flow; boxes from moved joints.

FlowTrack's box propagation (DESIGN.md §4): each joint moves by the flow sampled
bilinearly at its location; the box of the confident moved joints, extended on
each side, becomes a candidate box for frame t carrying the previous pose's person
score. The per-frame step warps the previous poses once (`warp_poses`) and hands
the moved poses to both `propagate_boxes` and the tracker.

Flow is (H,W,2) float32, displacement in pixels from frame t-1 to frame t; point
coordinates are pixels with (0,0) the center of the top-left pixel.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..errors import HrtrackError
from ..geometry import joint_boxes
from ..structures import Boxes, Poses


def _check_flow(flow: np.ndarray) -> np.ndarray:
    f = np.asarray(flow)
    if f.ndim != 3 or f.shape[2] != 2 or f.shape[0] < 1 or f.shape[1] < 1:
        raise HrtrackError(f"flow must have shape (H,W,2), got {f.shape}")
    return f


def sample_flow(flow: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Bilinearly interpolate a flow field at sub-pixel points.

    Points outside the image take the flow of the nearest border pixel.
    Computed in float64 (cv2.remap quantises positions to 1/32 px).

    Args:
        flow: (H,W,2) displacement field in pixels.
        points: (...,2) x,y pixel coordinates.

    Returns:
        (...,2) float32 displacement at each point.
    """
    f = _check_flow(flow)
    pts = np.asarray(points, dtype=np.float64)
    if pts.shape[-1:] != (2,):
        raise HrtrackError(f"points must have shape (...,2), got {pts.shape}")
    h, w = f.shape[:2]
    x = np.clip(pts[..., 0], 0, w - 1)
    y = np.clip(pts[..., 1], 0, h - 1)
    x0 = np.minimum(np.floor(x).astype(np.int64), max(w - 2, 0))
    y0 = np.minimum(np.floor(y).astype(np.int64), max(h - 2, 0))
    x1 = np.minimum(x0 + 1, w - 1)
    y1 = np.minimum(y0 + 1, h - 1)
    fx = (x - x0)[..., None]
    fy = (y - y0)[..., None]
    f = f.astype(np.float64, copy=False)
    top = f[y0, x0] * (1 - fx) + f[y0, x1] * fx
    bottom = f[y1, x0] * (1 - fx) + f[y1, x1] * fx
    return (top * (1 - fy) + bottom * fy).astype(np.float32)


def warp_poses(poses: Poses, flow: np.ndarray) -> Poses:
    """Move every joint by the flow at its location.

    Scores and track ids are kept. Each box is translated by the mean
    displacement of its pose's joints, so box areas (the OKS scale) are unchanged.

    Args:
        poses: poses in frame t-1.
        flow: (H,W,2) displacement from frame t-1 to frame t.

    Returns:
        The poses in frame t coordinates.
    """
    if len(poses) == 0:
        return poses
    shift = sample_flow(flow, poses.keypoints)  # (N,K,2)
    mean_shift = shift.mean(axis=1)
    return replace(poses, keypoints=poses.keypoints + shift,
                   boxes=poses.boxes + np.concatenate([mean_shift, mean_shift], axis=1))



def propagate_boxes(
    moved: Poses,
    min_joint_score: float = 0.2,
    extension: float = 0.15,
    image_size: tuple[int, int] | None = None,
) -> Boxes:
    """Candidate boxes for frame t from the poses of frame t-1 already moved by flow (FlowTrack).

    Args:
        moved: poses of frame t-1 moved into frame t (`warp_poses`).
        min_joint_score: joints scoring below this do not define the box; the
            default is the COCO `in_vis_thre` (0.2), the bar the estimator's
            rescoring uses for a confident joint. Poses without such a joint
            give no candidate.
        extension: fraction of width/height added on each side (paper: 0.15).
        image_size: optional (width, height); boxes are clipped to the image and
            boxes left without area (the person moved out) are dropped.

    Returns:
        Candidate boxes carrying the moved poses' person scores.
    """
    boxes, valid = joint_boxes(moved.keypoints, moved.keypoint_scores, min_joint_score, extension)
    if image_size is not None:
        width, height = image_size
        boxes = np.clip(boxes, 0, np.array([width, height, width, height], np.float32))
        valid &= (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    return Boxes(boxes[valid], moved.scores[valid])

"""Boxes to crops and back: the one place that owns both directions of the crop transform.

Also the box helpers every stage shares: boxes around joints and box extension; and
the point-in-polygon test of ignore regions.

Conventions of the official HRNet code (DESIGN.md §4): a box becomes a center and
a "scale" in units of `PIXEL_STD` = 200 px, widened or heightened to the input's
aspect ratio and padded by 1.25; the crop is the similarity transform that maps the
(optionally rotated) scale window onto the network input (or heatmap) grid, equal to
the official `get_affine_transform` (tested against a reference built from its
three-point construction).
"""

from __future__ import annotations

import numpy as np

PIXEL_STD = 200.0
BOX_PADDING = 1.25


def boxes_to_center_scale(boxes_xyxy: np.ndarray, aspect_ratio: float,
                          padding: float = BOX_PADDING) -> tuple[np.ndarray, np.ndarray]:
    """Boxes (N,4) x1,y1,x2,y2 -> centers (N,2) and scales (N,2) in PIXEL_STD units.

    `aspect_ratio` is the network input's width / height (192/256 = 0.75). The box is
    grown (never shrunk) to that aspect ratio, then padded by `padding`, as the
    official `_box2cs` does with w = x2 - x1.
    """
    b = np.asarray(boxes_xyxy, np.float64).reshape(-1, 4)
    w = b[:, 2] - b[:, 0]
    h = b[:, 3] - b[:, 1]
    center = np.stack([b[:, 0] + w * 0.5, b[:, 1] + h * 0.5], axis=1)
    wider = w > aspect_ratio * h
    h = np.where(wider, w / aspect_ratio, h)
    w = np.where(~wider & (w < aspect_ratio * h), h * aspect_ratio, w)
    scale = np.stack([w, h], axis=1) / PIXEL_STD * padding
    return center, scale


def crop_matrices(centers: np.ndarray, scales: np.ndarray, output_size: tuple[int, int],
                  rotations: np.ndarray | float = 0.0, inverse: bool = False, udp: bool = False) -> np.ndarray:
    """Affine matrices (N,2,3) from image pixels to an output grid of size (w, h).

    The scale window's width `scales[:,0] * PIXEL_STD` maps to the output width; a
    rotation of r degrees turns the window counter-clockwise in the image (the
    crop's content turns clockwise), as in the official code. With `inverse`, the
    matrices map output-grid coordinates back to image pixels.

    With `udp` (Huang et al., "The Devil is in the Details", CVPR 2020) pixels are
    points at their centres: the window's width and height map to w - 1 and h - 1
    (so its center lands on ((w-1)/2, (h-1)/2)), which makes mirroring, resizing and
    the heatmap grid agree exactly; the official convention maps the width to w and
    the center to (w/2, h/2).
    """
    c = np.asarray(centers, np.float64).reshape(-1, 2)
    s = np.asarray(scales, np.float64).reshape(-1, 2)
    out_w, out_h = output_size
    r = np.deg2rad(np.broadcast_to(np.asarray(rotations, np.float64), (len(c),)))
    cos, sin = np.cos(r), np.sin(r)
    if udp:
        return _udp_matrices(c, s, out_w, out_h, cos, sin, inverse)
    k = out_w / (s[:, 0] * PIXEL_STD)
    # Forward map: k * R(-r) about the center, then to the output's center.
    lin = np.empty((len(c), 2, 2))
    lin[:, 0, 0], lin[:, 0, 1] = k * cos, k * sin
    lin[:, 1, 0], lin[:, 1, 1] = -k * sin, k * cos
    dst_center = np.array([out_w * 0.5, out_h * 0.5])
    if inverse:
        inv_lin = np.transpose(lin, (0, 2, 1)) / (k ** 2)[:, None, None]
        t = c - np.einsum("nij,j->ni", inv_lin, dst_center)
        return np.concatenate([inv_lin, t[:, :, None]], axis=2)
    t = dst_center - np.einsum("nij,nj->ni", lin, c)
    return np.concatenate([lin, t[:, :, None]], axis=2)


def _udp_matrices(c: np.ndarray, s: np.ndarray, out_w: int, out_h: int, cos: np.ndarray, sin: np.ndarray,
                  inverse: bool) -> np.ndarray:
    """UDP crop matrices: diag(kx, ky) R(-r) about the center, kx = (w-1)/window width, ky likewise."""
    kx = (out_w - 1) / (s[:, 0] * PIXEL_STD)
    ky = (out_h - 1) / (s[:, 1] * PIXEL_STD)
    dst_center = np.array([(out_w - 1) * 0.5, (out_h - 1) * 0.5])
    lin = np.empty((len(c), 2, 2))
    if inverse:
        # R(-r)^T diag(1/kx, 1/ky)
        lin[:, 0, 0], lin[:, 0, 1] = cos / kx, -sin / ky
        lin[:, 1, 0], lin[:, 1, 1] = sin / kx, cos / ky
        t = c - np.einsum("nij,j->ni", lin, dst_center)
    else:
        lin[:, 0, 0], lin[:, 0, 1] = kx * cos, kx * sin
        lin[:, 1, 0], lin[:, 1, 1] = -ky * sin, ky * cos
        t = dst_center - np.einsum("nij,nj->ni", lin, c)
    return np.concatenate([lin, t[:, :, None]], axis=2)


def apply_affine(points: np.ndarray, matrices: np.ndarray) -> np.ndarray:
    """Map points (N,K,2) through per-instance affine matrices (N,2,3)."""
    p = np.asarray(points, np.float64)
    m = np.asarray(matrices, np.float64)
    return np.einsum("nij,nkj->nki", m[:, :, :2], p) + m[:, None, :, 2]


def extend_boxes(boxes: np.ndarray, ratio: float) -> np.ndarray:
    """Grow boxes by `ratio` of their width (height) on the left and right (top and bottom).

    Args:
        boxes: (N,4) x1,y1,x2,y2.
        ratio: fraction of the side length added on each side (0.15 in FlowTrack).

    Returns:
        (N,4) float32 new boxes; a box of width w becomes w * (1 + 2 * ratio) wide,
        with the same center.
    """
    # float64 arithmetic so that e.g. 15% of 100 px is exactly 15 px after rounding.
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    size = b[:, 2:] - b[:, :2]
    grow = np.concatenate([-size, size], axis=1) * ratio
    return (b + grow).astype(np.float32)


def joint_boxes(keypoints: np.ndarray, keypoint_scores: np.ndarray,
                min_joint_score: float, extension: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Boxes around the joints scoring above `min_joint_score`, grown by `extension`.

    Args:
        keypoints: (N,K,2) joints x,y in pixels.
        keypoint_scores: (N,K) joint scores (a 0/1 labelled mask with 0.5 works too).
        min_joint_score: joints scoring at or below this do not define the box.
        extension: fraction of the width (height) added on each side, as
            `extend_boxes` (0.15: FlowTrack's propagated boxes); 0 for tight boxes.

    Returns:
        (N,4) float32 x1,y1,x2,y2 boxes and (N,) bool, False for poses without
        any such joint (their box rows are zeros).
    """
    kp = np.asarray(keypoints, dtype=np.float32)
    confident = np.asarray(keypoint_scores) > min_joint_score
    valid = confident.any(axis=1)
    mask = confident[..., None]
    lo = np.where(mask, kp, np.inf).min(axis=1)
    hi = np.where(mask, kp, -np.inf).max(axis=1)
    boxes = np.concatenate([lo, hi], axis=1)
    boxes[~valid] = 0.0
    return extend_boxes(boxes, extension), valid


def points_in_polygons(points: np.ndarray, polygons: list[np.ndarray]) -> np.ndarray:
    """Which points lie strictly inside at least one polygon (boundary excluded, like shapely's `contains`).

    Args:
        points: (N,2) x,y.
        polygons: list of (V,2) x,y vertex arrays, V >= 3, implicitly closed; even-odd rule.

    Returns:
        (N,) bool.
    """
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    if len(pts) == 0 or not polygons:
        return np.zeros(len(pts), bool)
    starts = [np.asarray(p, np.float64).reshape(-1, 2) for p in polygons]
    a = np.concatenate(starts)
    b = np.concatenate([np.roll(p, -1, axis=0) for p in starts])
    owner = np.repeat(np.arange(len(starts)), [len(p) for p in starts])
    px, py = pts[:, 0:1], pts[:, 1:2]
    ax, ay, bx, by = a[:, 0], a[:, 1], b[:, 0], b[:, 1]
    cross = (bx - ax) * (py - ay) - (by - ay) * (px - ax)
    on_edge = ((cross == 0) & (px >= np.minimum(ax, bx)) & (px <= np.maximum(ax, bx))
               & (py >= np.minimum(ay, by)) & (py <= np.maximum(ay, by)))
    straddles = (ay > py) != (by > py)
    with np.errstate(divide="ignore", invalid="ignore"):
        x_at_py = ax + (py - ay) * (bx - ax) / (by - ay)
    crossings = straddles & (px < x_at_py)
    one_hot = np.zeros((len(a), len(starts)), np.int64)
    one_hot[np.arange(len(a)), owner] = 1
    inside = (crossings.astype(np.int64) @ one_hot) % 2 == 1
    on_boundary = (on_edge.astype(np.int64) @ one_hot) > 0
    return (inside & ~on_boundary).any(axis=1)

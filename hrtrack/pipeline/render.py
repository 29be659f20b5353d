"""Drawing poses, boxes and track ids on BGR frames, one stable colour per track.

Bones come from the joint layout (`Layout.skeleton`); a bone is drawn when both its
joints score above the threshold. Each person costs a handful of OpenCV calls
(all its bones in one `polylines`, all its joints in another), whatever the
number of joints.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..errors import HrtrackError
from ..skeleton import Layout
from ..structures import Poses

_SHIFT = 4  # OpenCV fractional bits: drawing is placed to 1/16 pixel
_GOLDEN = 0.618033988749895
UNTRACKED_COLOR = (160, 160, 160)


def track_colors(track_ids: np.ndarray) -> np.ndarray:
    """(N,3) uint8 BGR colours for track ids (N,): the same id always gets the same colour.

    Hues step by the golden ratio, so consecutive ids get far-apart colours; ids
    below 0 (unassigned) are grey.
    """
    ids = np.asarray(track_ids, np.int64).reshape(-1)
    # HSV -> RGB by hand, element by element: cv2.cvtColor's result can depend on an
    # element's position in the array, and the colour must depend on the id only.
    h6 = (ids * _GOLDEN) % 1.0 * 6
    sector = np.floor(h6).astype(np.int64) % 6
    f = h6 - np.floor(h6)
    v = np.full(len(ids), 245.0)
    s = np.where(ids % 2 == 0, 0.9, 0.65)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    r = np.choose(sector, [v, q, p, p, t, v])
    g = np.choose(sector, [t, v, v, q, p, p])
    b = np.choose(sector, [p, p, t, v, v, q])
    bgr = np.round(np.stack([b, g, r], axis=1)).astype(np.uint8)
    bgr[ids < 0] = UNTRACKED_COLOR
    return bgr


def _fixed(points: np.ndarray) -> np.ndarray:
    return np.round(points * (1 << _SHIFT)).astype(np.int32)


def draw_poses(image: np.ndarray, poses: Poses, layout: Layout, *, joint_threshold: float = 0.3,
               draw_boxes: bool = True, draw_ids: bool = True, thickness: int | None = None) -> np.ndarray:
    """A copy of `image` (H,W,3 uint8 BGR) with `poses` drawn on it; `image` is not modified.

    poses: keypoints (N,K,2) in pixels, in `layout`'s joint order. Joints scoring
    above `joint_threshold` are drawn as dots and joined by the layout's bones;
    boxes (x1,y1,x2,y2, skipped when not finite) and track ids (skipped when -1)
    are drawn in the track's colour. `thickness` defaults to ~1/240 of the
    shorter image side.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise HrtrackError(f"image must be H x W x 3 uint8 BGR, got {image.shape} {image.dtype}")
    if len(poses) and poses.num_joints != layout.num_joints:
        raise HrtrackError(f"poses have {poses.num_joints} joints but layout {layout.name!r} has {layout.num_joints}")
    out = image.copy()
    if len(poses) == 0:
        return out
    h, w = image.shape[:2]
    width = thickness or max(1, int(round(min(h, w) / 240)))
    kp = poses.keypoints
    shown = poses.joints_above(joint_threshold) & np.isfinite(kp).all(axis=2)
    bones = np.asarray(layout.skeleton, np.int64).reshape(-1, 2)
    bone_shown = shown[:, bones[:, 0]] & shown[:, bones[:, 1]]
    segments = _fixed(np.nan_to_num(kp[:, bones]))  # (N,B,2,2)
    dots = _fixed(np.nan_to_num(kp))[:, :, None, :].repeat(2, axis=2)  # zero-length lines draw as dots
    colors = track_colors(poses.track_ids)
    boxes = poses.boxes
    for n in range(len(poses)):
        color = tuple(int(c) for c in colors[n])
        if bone_shown[n].any():
            cv2.polylines(out, list(segments[n][bone_shown[n]]), False, color, width, cv2.LINE_AA, _SHIFT)
        if shown[n].any():
            # Dark rims first so joints stay visible on bones of the same colour.
            cv2.polylines(out, list(dots[n][shown[n]]), False, (0, 0, 0), 3 * width + 2, cv2.LINE_AA, _SHIFT)
            cv2.polylines(out, list(dots[n][shown[n]]), False, color, 3 * width, cv2.LINE_AA, _SHIFT)
        if not np.isfinite(boxes[n]).all():
            continue
        x1, y1, x2, y2 = (int(round(v)) for v in boxes[n])
        if draw_boxes:
            cv2.rectangle(out, (x1, y1), (x2, y2), color, width)
        if draw_ids and poses.track_ids[n] >= 0:
            _label(out, str(int(poses.track_ids[n])), (x1, y1), color, width)
    return out


def _label(image: np.ndarray, text: str, corner: tuple[int, int], color: tuple[int, ...], width: int) -> None:
    """Text on a filled tag in `color` just above `corner` (inside the image when near its top)."""
    scale = 0.4 * width
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, width)
    x, y = corner
    y = max(y, th + base + 2)
    cv2.rectangle(image, (x, y - th - base - 2), (x + tw + 4, y), color, -1)
    ink = (0, 0, 0) if sum(color) > 380 else (255, 255, 255)
    cv2.putText(image, text, (x + 2, y - base), cv2.FONT_HERSHEY_SIMPLEX, scale, ink, width, cv2.LINE_AA)

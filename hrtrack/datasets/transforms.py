"""Training-time transforms of the top-down pipeline, as the official HRNet code applies them.

Order and probabilities (DESIGN.md §4): half-body (p=0.3 when more than 8 joints
are labelled), scale x clip(1 + sf N(0,1), 1-sf, 1+sf), rotation clip(rf N(0,1),
-2rf, 2rf) with p=0.6, horizontal flip with p=0.5 (x' = W - 1 - x, left/right
joints swapped), affine crop with bilinear interpolation, RGB + ImageNet
normalisation. Every random draw comes from a `np.random.Generator` passed in.
Coordinates are image pixels, x right, y down; centers and scales follow the
official convention (scale in units of `PIXEL_STD` = 200 px).
"""

from __future__ import annotations

import cv2
import numpy as np

from ..geometry import PIXEL_STD, crop_matrices
from ..models.estimator import IMAGENET_MEAN, IMAGENET_STD
from ..skeleton import Layout

# Joints below the waist, by name; everything else is the upper body (half-body split).
_LOWER_BODY_WORDS = ("hip", "knee", "ankle", "pelvis")

# The half-body window is the selected joints' box, aspect-corrected and grown by 1.5.
HALF_BODY_PADDING = 1.5


def upper_body_mask(layout: Layout) -> np.ndarray:
    """(K,) bool: True for the joints of the upper body (COCO: nose..wrists; MPII: thorax..wrists)."""
    return np.array([not any(w in name for w in _LOWER_BODY_WORDS) for name in layout.joint_names])


def half_body_center_scale(joints: np.ndarray, visible: np.ndarray, upper: np.ndarray, aspect_ratio: float,
                           rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray] | None:
    """Center (2,) and scale (2,) of a window on the upper or the lower body, or None.

    joints (K,2) in image pixels, visible (K,) (> 0 = labelled), upper (K,) bool.
    The upper body is chosen when a standard normal draw is below 0.5 (the official
    code's `np.random.randn() < 0.5`, i.e. with probability ~0.69) and more than two
    upper joints are labelled; otherwise the lower body if it has more than two, else
    the upper. Fewer than two selected joints give None (keep the full-body window).
    """
    labelled = np.asarray(visible) > 0
    up = joints[labelled & upper]
    low = joints[labelled & ~upper]
    if rng.standard_normal() < 0.5 and len(up) > 2:
        chosen = up
    else:
        chosen = low if len(low) > 2 else up
    if len(chosen) < 2:
        return None
    center = chosen.mean(axis=0)
    w, h = chosen.max(axis=0) - chosen.min(axis=0)
    if w > aspect_ratio * h:
        h = w / aspect_ratio
    elif w < aspect_ratio * h:
        w = h * aspect_ratio
    scale = np.array([w, h], np.float64) / PIXEL_STD * HALF_BODY_PADDING
    return center.astype(np.float64), scale


def sample_scale_rotation(rng: np.random.Generator, scale_factor: float, rotation_factor: float,
                          rotation_prob: float = 0.6) -> tuple[float, float]:
    """(scale multiplier, rotation in degrees) drawn as the official code does.

    scale = clip(1 + scale_factor * N(0,1), 1 - scale_factor, 1 + scale_factor);
    rotation = clip(rotation_factor * N(0,1), -2 rotation_factor, 2 rotation_factor)
    with probability `rotation_prob`, else 0. Draw order: scale normal, rotation
    uniform, rotation normal (only when rotating).
    """
    s = float(np.clip(rng.standard_normal() * scale_factor + 1.0, 1.0 - scale_factor, 1.0 + scale_factor))
    r = 0.0
    if rng.random() <= rotation_prob:
        r = float(np.clip(rng.standard_normal() * rotation_factor, -2.0 * rotation_factor, 2.0 * rotation_factor))
    return s, r


def flip_joints(joints: np.ndarray, visible: np.ndarray, image_width: int,
                flip_index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Joints (...,K,2) and visibility (...,K) of the horizontally mirrored image.

    x' = image_width - 1 - x, then left/right joints swap places through the
    layout's `flip_index`; unlabelled joints become (0, 0) as in the official
    `fliplr_joints`. Inputs are not modified.
    """
    j = np.array(joints, dtype=np.float64, copy=True)
    j[..., 0] = image_width - 1 - j[..., 0]
    j = j[..., flip_index, :]
    v = np.asarray(visible)[..., flip_index]
    return j * (v[..., None] > 0), v.copy()


def flip_center(center: np.ndarray, image_width: int) -> np.ndarray:
    """A crop center (..,2) in the mirrored image: x' = image_width - 1 - x."""
    c = np.array(center, dtype=np.float64, copy=True)
    c[..., 0] = image_width - 1 - c[..., 0]
    return c


def crop_image(image: np.ndarray, center: np.ndarray, scale: np.ndarray, rotation: float,
               output_size: tuple[int, int], udp: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Affine crop (h,w,C) of `image` (bilinear, black outside) and its (2,3) image->crop matrix.

    center (2,) pixels, scale (2,) in PIXEL_STD units, rotation in degrees,
    output_size (w, h). The matrix is `hrtrack.geometry.crop_matrices`'s (UDP's with `udp`).
    """
    mat = crop_matrices(np.asarray(center)[None], np.asarray(scale)[None], output_size, rotation, udp=udp)[0]
    crop = cv2.warpAffine(image, mat, (int(output_size[0]), int(output_size[1])), flags=cv2.INTER_LINEAR)
    return crop, mat


_MEAN = np.array(IMAGENET_MEAN, np.float32) * 255.0
_INV_STD = 1.0 / (np.array(IMAGENET_STD, np.float32) * 255.0)


def normalise_crop(crop_bgr: np.ndarray) -> np.ndarray:
    """uint8 BGR crop (h,w,3) -> float32 (3,h,w) RGB, ImageNet mean/std normalised."""
    rgb = crop_bgr[..., ::-1].astype(np.float32)
    return np.ascontiguousarray(((rgb - _MEAN) * _INV_STD).transpose(2, 0, 1))


def keypoint_boxes(keypoints: np.ndarray, visible: np.ndarray, extend: float = 0.15) -> np.ndarray:
    """Boxes (N,4) x1,y1,x2,y2 of the labelled keypoints, each side length grown by `extend`.

    keypoints (N,K,2), visible (N,K). The box of all labelled joints of a person,
    its width and height multiplied by 1 + extend about its center (the paper's
    PoseTrack boxes: "extending the bounding box of all the keypoints by 15% in
    length"). People without labelled joints get NaN rows.
    """
    kp = np.asarray(keypoints, np.float64)
    lab = np.asarray(visible) > 0
    any_lab = lab.any(axis=1)
    lo = np.where(lab[..., None], kp, np.inf).min(axis=1)
    hi = np.where(lab[..., None], kp, -np.inf).max(axis=1)
    lo[~any_lab] = hi[~any_lab] = 0.0
    center = (lo + hi) * 0.5
    half = (hi - lo) * 0.5 * (1.0 + extend)
    boxes = np.concatenate([center - half, center + half], axis=1)
    boxes[~any_lab] = np.nan
    return boxes


def clean_coco_boxes(bbox_xywh: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """The official sanitising of COCO boxes: (N,4) x,y,w,h -> (N,4) x1,y1,x2,y2 and valid (N,).

    x1 = max(0, x), x2 = min(width - 1, x1 + max(0, w - 1)), likewise for y; a box
    is valid when x2 >= x1 and y2 >= y1 (the caller also requires area > 0).
    """
    b = np.asarray(bbox_xywh, np.float64).reshape(-1, 4)
    x1 = np.maximum(0.0, b[:, 0])
    y1 = np.maximum(0.0, b[:, 1])
    x2 = np.minimum(width - 1.0, x1 + np.maximum(0.0, b[:, 2] - 1.0))
    y2 = np.minimum(height - 1.0, y1 + np.maximum(0.0, b[:, 3] - 1.0))
    return np.stack([x1, y1, x2, y2], axis=1), (x2 >= x1) & (y2 >= y1)

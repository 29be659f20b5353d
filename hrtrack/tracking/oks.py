"""Object keypoint similarity (OKS) between sets of poses, and OKS-NMS.

OKS is the COCO keypoint benchmark's similarity. For a pose `a` against a
reference pose `b` with K joints::

    OKS(a, b) = sum_k m_k * exp(-d_k^2 / (2 * s^2 * kappa_k^2)) / sum_k m_k

    d_k      distance in pixels between joint k of `a` and of `b`
    kappa_k  2 * sigma_k, the per-joint constant (`hrtrack.skeleton.COCO_SIGMAS`;
             the PoseTrack layout reuses the eyes' constant for head_bottom and
             head_top, see the comment in `hrtrack.skeleton`)
    s^2      the object's area: the reference's area, or the mean of both areas
             when both are given (the official HRNet code's `oks_iou`)
    m_k      1 where joint k counts (visibility masks), else 0

A pair with no counted joint has OKS 0 (COCO's evaluation instead scores a
ground truth without labelled joints by distance to its box; pycocotools does
that part). The area gets `np.spacing(1)` added, as in COCO's evaluation, so a
zero area cannot divide by zero.
"""

from __future__ import annotations

import numpy as np

from ..errors import HrtrackError

_EPS = np.spacing(1)


def _check_poses(keypoints: np.ndarray, name: str) -> np.ndarray:
    kp = np.asarray(keypoints, dtype=np.float64)
    if kp.ndim != 3 or kp.shape[2] != 2:
        raise HrtrackError(f"{name} must have shape (N,K,2), got {kp.shape}")
    return kp


def _check_vector(values, n: int, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.shape != (n,):
        raise HrtrackError(f"{name} must have shape ({n},), got {arr.shape}")
    return arr


def _check_mask(mask, shape: tuple[int, int], name: str) -> np.ndarray:
    arr = np.asarray(mask, dtype=bool)
    if arr.shape != shape:
        raise HrtrackError(f"{name} must have shape {shape}, got {arr.shape}")
    return arr


def oks(
    keypoints: np.ndarray,
    ref_keypoints: np.ndarray,
    ref_areas: np.ndarray,
    sigmas: np.ndarray,
    ref_visible: np.ndarray | None = None,
    areas: np.ndarray | None = None,
    visible: np.ndarray | None = None,
) -> np.ndarray:
    """OKS of every pose against every reference pose (formula in the module docstring).

    Args:
        keypoints: (N,K,2) joints x,y in pixels of the poses being scored.
        ref_keypoints: (M,K,2) joints x,y in pixels of the reference poses.
        ref_areas: (M,) reference areas in square pixels.
        sigmas: (K,) per-joint OKS sigmas (kappa = 2 * sigma).
        ref_visible: optional (M,K) bool, joints of the reference that count
            (COCO: the ground truth's labelled joints).
        areas: optional (N,) areas of the scored poses; when given the scale is
            the mean of the two areas, which makes OKS symmetric.
        visible: optional (N,K) bool, joints of the scored poses that count.

    Returns:
        (N,M) float64 in [0,1]; entry [n, m] is OKS(keypoints[n], ref_keypoints[m]).
    """
    kp = _check_poses(keypoints, "keypoints")
    ref = _check_poses(ref_keypoints, "ref_keypoints")
    n, k = kp.shape[:2]
    m = ref.shape[0]
    if ref.shape[1] != k:
        raise HrtrackError(f"keypoints have {k} joints but ref_keypoints have {ref.shape[1]}")
    sig = _check_vector(sigmas, k, "sigmas")
    scale = _check_vector(ref_areas, m, "ref_areas")[None, :]
    if areas is not None:
        scale = (_check_vector(areas, n, "areas")[:, None] + scale) / 2.0
    if n == 0 or m == 0:
        return np.zeros((n, m), np.float64)

    d2 = np.square(kp[:, None, :, :] - ref[None, :, :, :]).sum(axis=-1)  # (N,M,K)
    kappa2 = np.square(2.0 * sig)
    e = d2 / (2.0 * kappa2 * (scale[..., None] + _EPS))
    mask = np.ones((n, m, k), bool)
    if ref_visible is not None:
        mask &= _check_mask(ref_visible, (m, k), "ref_visible")[None, :, :]
    if visible is not None:
        mask &= _check_mask(visible, (n, k), "visible")[:, None, :]
    counted = mask.sum(axis=-1)
    total = np.where(mask, np.exp(-e), 0.0).sum(axis=-1)
    return np.divide(total, counted, out=np.zeros((n, m), np.float64), where=counted > 0)


def oks_nms(
    keypoints: np.ndarray,
    keypoint_scores: np.ndarray,
    scores: np.ndarray,
    areas: np.ndarray,
    threshold: float,
    sigmas: np.ndarray,
    in_vis_thre: float | None = None,
) -> np.ndarray:
    """Greedy OKS non-maximum suppression of the poses of one image.

    The official HRNet `oks_nms`: visit poses by decreasing score; keep the pose
    and drop every remaining pose whose OKS against it exceeds `threshold`. OKS
    uses the mean of the two areas. With `in_vis_thre`, only joints of the pose
    being tested for suppression whose score exceeds `in_vis_thre` count: the
    official `list(vg > t) and list(vd > t)` evaluates to the second list, so
    the kept pose's own scores never enter. Ties in score keep the lower index
    first (stable order), so results do not depend on the sort algorithm.

    Args:
        keypoints: (N,K,2) joints x,y in pixels.
        keypoint_scores: (N,K) joint scores.
        scores: (N,) person scores that rank the poses.
        areas: (N,) areas in square pixels (COCO: the padded box area).
        threshold: OKS above which the lower-scored pose is suppressed (COCO: 0.9).
        sigmas: (K,) per-joint OKS sigmas.
        in_vis_thre: optional joint score threshold described above.

    Returns:
        (P,) int64 indices of the kept poses, by decreasing score.
    """
    kp = _check_poses(keypoints, "keypoints")
    n, k = kp.shape[:2]
    sc = _check_vector(scores, n, "scores")
    joint_scores = np.asarray(keypoint_scores, dtype=np.float64)
    if joint_scores.shape != (n, k):
        raise HrtrackError(f"keypoint_scores must have shape {(n, k)}, got {joint_scores.shape}")
    if n == 0:
        return np.zeros(0, np.int64)
    visible = None if in_vis_thre is None else joint_scores > in_vis_thre
    # overlap[i, j] = OKS of pose j tested against kept pose i, counting j's joints.
    overlap = oks(kp, kp, areas, sigmas, ref_visible=visible, areas=areas)
    suppressed = np.zeros(n, bool)
    keep = []
    for i in np.argsort(-sc, kind="stable"):
        if suppressed[i]:
            continue
        keep.append(i)
        suppressed |= overlap[i] > threshold
    return np.asarray(keep, np.int64)


def person_scores(box_scores: np.ndarray, keypoint_scores: np.ndarray, in_vis_thre: float = 0.2) -> np.ndarray:
    """The official HRNet rescoring: box score x mean of the keypoint scores above `in_vis_thre`.

    Args:
        box_scores: (N,) detection scores.
        keypoint_scores: (N,K) keypoint scores (heatmap maxima).
        in_vis_thre: keypoint scores strictly above it count.

    Returns:
        (N,) float64; 0 for a person with no keypoint above the threshold.
    """
    ks = np.asarray(keypoint_scores)
    confident = ks > in_vis_thre
    count = confident.sum(axis=1)
    mean = np.where(count > 0, (ks * confident).sum(axis=1) / np.maximum(count, 1), 0.0)
    return np.asarray(box_scores, np.float64) * mean

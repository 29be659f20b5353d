"""Similarity between the current frame's poses and tracks' poses moved into this frame.

Every similarity takes `(current, previous, sigmas, min_joint_score)` and returns
an (N,M) float64 matrix in [0,1], higher meaning more alike; `previous` are the
tracks' poses already moved by flow into the current frame. Similarities that do
not look at joints ignore `sigmas` and `min_joint_score`. The tracker picks one
by name from `SIMILARITIES`.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torchvision.ops import box_area, box_iou

from ..structures import Poses
from .oks import oks

Similarity = Callable[[Poses, Poses, np.ndarray, float], np.ndarray]


def flow_oks_similarity(current: Poses, previous: Poses, sigmas: np.ndarray,
                        min_joint_score: float) -> np.ndarray:
    """OKS between current poses and flow-moved previous poses (FlowTrack).

    The scale is the mean of the two poses' box areas; a joint counts when it
    scores above `min_joint_score` in both poses.

    Args:
        current: N poses of frame t.
        previous: M poses moved by flow into frame t.
        sigmas: (K,) per-joint OKS sigmas.
        min_joint_score: joints scoring at or below this are ignored.

    Returns:
        (N,M) float64 OKS.
    """
    areas = box_area(torch.from_numpy(current.boxes)).numpy().astype(np.float64)
    ref_areas = box_area(torch.from_numpy(previous.boxes)).numpy().astype(np.float64)
    return oks(current.keypoints, previous.keypoints, ref_areas, sigmas,
               ref_visible=previous.joints_above(min_joint_score),
               areas=areas, visible=current.joints_above(min_joint_score))


def box_iou_similarity(current: Poses, previous: Poses, sigmas: np.ndarray,
                       min_joint_score: float) -> np.ndarray:
    """IoU of the current poses' boxes with the flow-moved previous boxes (ablation).

    Args:
        current: N poses of frame t.
        previous: M poses moved by flow into frame t.
        sigmas: ignored.
        min_joint_score: ignored.

    Returns:
        (N,M) float64 IoU.
    """
    return box_iou(torch.from_numpy(current.boxes), torch.from_numpy(previous.boxes)).numpy().astype(np.float64)


SIMILARITIES: dict[str, Similarity] = {
    "oks": flow_oks_similarity,
    "iou": box_iou_similarity,
}

"""Box NMS, and the merge of detections with flow-propagated boxes.

Boxes are (N,4) float32 x1,y1,x2,y2 in pixels (DESIGN.md §3).
"""

from __future__ import annotations

import numpy as np
import torch
from torchvision.ops import nms

from ..errors import HrtrackError
from ..structures import Boxes


def box_nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy box NMS (`torchvision.ops.nms`) with a deterministic order for ties.

    A box is dropped when its IoU with a higher-ranked kept box exceeds
    `iou_threshold`. Boxes rank by decreasing score, equal scores by increasing
    index: torchvision leaves the order of ties to its sort, so ranks are passed
    to it instead of the raw scores.

    Args:
        boxes: (N,4) x1,y1,x2,y2.
        scores: (N,) scores.
        iou_threshold: IoU above which the lower-ranked box is dropped.

    Returns:
        (P,) int64 indices of the kept boxes, by decreasing score.
    """
    b = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    s = np.asarray(scores, dtype=np.float32)
    if s.shape != (len(b),):
        raise HrtrackError(f"scores must have shape ({len(b)},), got {s.shape}")
    order = np.argsort(-s, kind="stable")
    rank_scores = torch.arange(len(b), 0, -1, dtype=torch.float32)
    kept = nms(torch.from_numpy(b[order]), rank_scores, float(iou_threshold)).numpy()
    return order[kept].astype(np.int64)


def merge_boxes(detections: Boxes, candidates: Boxes, iou_threshold: float) -> Boxes:
    """Merge a frame's detections with flow-propagated candidate boxes by NMS.

    Detections come first in the pooled set, so a detection and a candidate with
    equal scores keep the detection.

    Args:
        detections: the frame's detector boxes.
        candidates: boxes propagated from the previous frame's poses.
        iou_threshold: NMS IoU threshold.

    Returns:
        The kept boxes by decreasing score.
    """
    boxes = np.concatenate([detections.boxes, candidates.boxes])
    scores = np.concatenate([detections.scores, candidates.scores])
    keep = box_nms(boxes, scores, iou_threshold)
    return Boxes(boxes[keep], scores[keep])

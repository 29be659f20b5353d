"""Duplicate tracks: two predicted people on one ground-truth person in the same frame.

A prediction lies on a ground-truth person when at least `min_share` of that
person's annotated joints are predicted within PCKh@0.5 (poseval's distance:
joint distance / (0.6 x head box diagonal) <= 0.5), taking for each prediction the
person it hits best. When several predictions lie on one person, the one with the
highest person score is that person's and the others are duplicates; a duplicate
track is a track id that is a duplicate in at least one labelled frame. Each
duplicate costs a false positive per emitted joint in MOTA and in AP, which the
mAP/MOTA tables do not single out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..formats.posetrack import PoseTrackFrame, PoseTrackSequence
from .posetrack import THRESHOLD, head_sizes, joint_distances


def assign_to_truth(gt: PoseTrackFrame, pred: PoseTrackFrame, min_share: float = 0.5) -> np.ndarray:
    """(P,) int64: the ground-truth person each prediction of a frame lies on (module docstring), or -1."""
    p, g = len(pred), len(gt)
    if p == 0 or g == 0:
        return np.full(p, -1, np.int64)
    dist = joint_distances(gt.keypoints, gt.visible, head_sizes(gt.head_boxes), pred.keypoints, pred.visible)
    hit = dist <= THRESHOLD  # (P,G,K); missing joints are at infinity
    share = hit.sum(-1) / np.maximum(gt.visible.sum(-1), 1)[None]  # (P,G)
    best = share.argmax(1)
    return np.where(share[np.arange(p), best] >= min_share, best, -1)


def frame_duplicates(gt: PoseTrackFrame, pred: PoseTrackFrame, min_share: float = 0.5) -> np.ndarray:
    """(P,) bool: the predictions of one frame that duplicate a higher-scored prediction of the same person."""
    owner = assign_to_truth(gt, pred, min_share)
    dup = np.zeros(len(pred), bool)
    order = np.argsort(-np.nan_to_num(pred.scores, nan=0.0), kind="stable")
    ranked = order[owner[order] >= 0]
    _, first = np.unique(owner[ranked], return_index=True)
    dup[ranked] = True
    dup[ranked[first]] = False
    return dup


@dataclass(frozen=True)
class DuplicateCount:
    """Duplicate tracks (distinct ids) and duplicate poses (person-frames) of one sequence."""

    tracks: int
    poses: int


def duplicate_tracks(gt: PoseTrackSequence, pred: PoseTrackSequence, min_share: float = 0.5) -> DuplicateCount:
    """Count the duplicate tracks and poses of a predicted sequence over its ground truth's labelled frames.

    Frames pair by index, as in poseval.
    """
    ids: set[int] = set()
    poses = 0
    for gt_frame, pred_frame in zip(gt.frames, pred.frames):
        if not gt_frame.is_labeled:
            continue
        dup = frame_duplicates(gt_frame, pred_frame, min_share)
        poses += int(dup.sum())
        ids.update(pred_frame.track_ids[dup].tolist())
    return DuplicateCount(len(ids), poses)

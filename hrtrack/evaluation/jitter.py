"""Jitter: the mean joint acceleration error against ground truth, in pixels per frame squared.

For a joint of a track, the acceleration at frame t is the second difference
a(t) = x(t+1) - 2 x(t) + x(t-1) (2D). Jitter is the mean over every counted
(true track, joint, t) of |a_pred(t) - a_true(t)| (Euclidean norm), pooled over
all sequences. A joint moving exactly like the truth, however offset, scores 0; a
prediction that zig-zags by +-d around a true straight-line motion scores 4d.

Which predicted track stands for a true track is decided frame by frame, with
the matching the PoseTrack evaluator uses for mAP (poseval's PCKh@0.5 assignment:
`hrtrack.evaluation.posetrack.match_frame`, head size = 0.6 x head box diagonal).
A triple of frames t-1, t, t+1 counts for a true track and a joint when the same
predicted track is matched to that true track in all three frames and the joint
is present in the truth and in that prediction in all three. Identity errors thus
never show up as jitter (a switch would look like a huge acceleration): they are
what ID switches, IDF1 and AssA measure. Joints are the 15 of PoseTrack 2017
(ears are never annotated); frames pair by index, as in evaluation; frames without
ground-truth people (unlabelled) break the runs. Against PoseTrack21 ground truth,
a joint is present only where x > 0 and y > 0, on both sides.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import HrtrackError
from ..formats.posetrack import PoseTrackFrame, PoseTrackSequence, read_sequence, sequence_files
from ..skeleton import PT17_TO_PT18
from .posetrack import THRESHOLD, head_sizes, match_frame


@dataclass(frozen=True)
class Jitter:
    """Summed acceleration error (px/frame^2) over `triples` counted (track, joint, frame) triples."""

    total: float = 0.0
    triples: int = 0

    @property
    def mean(self) -> float:
        """Jitter in px/frame^2; NaN when nothing was counted."""
        return self.total / self.triples if self.triples else math.nan

    def __add__(self, other: "Jitter") -> "Jitter":
        return Jitter(self.total + other.total, self.triples + other.triples)


def _joints(frame: PoseTrackFrame, positive_only: bool) -> tuple[np.ndarray, np.ndarray]:
    """(N,15,2) float64 joints and (N,15) presence in poseval's joint order."""
    xy = frame.keypoints[:, PT17_TO_PT18].astype(np.float64)
    has = frame.visible[:, PT17_TO_PT18].copy()
    if positive_only:
        has &= (xy > 0).all(-1)
    return xy, has


def sequence_jitter(gt: PoseTrackSequence, pred: PoseTrackSequence, threshold: float = THRESHOLD) -> Jitter:
    """The jitter sum and count of one predicted sequence against its ground truth (frames paired by index)."""
    if len(pred.frames) != len(gt.frames):
        raise HrtrackError(f"{pred.name}: {len(pred.frames)} frames but the ground truth {gt.name} has "
                           f"{len(gt.frames)}")
    pt21 = gt.format == "posetrack21"
    true_ids = np.unique(np.concatenate([f.track_ids for f in gt.frames] + [np.zeros(0, np.int64)]))
    n_frames, n_true, k = len(gt.frames), len(true_ids), len(PT17_TO_PT18)
    # Per frame and true track: the matched predicted track id (-1: none) and both sides' joints.
    matched = np.full((n_frames, n_true), -1, np.int64)
    gt_xy = np.zeros((n_frames, n_true, k, 2))
    pr_xy = np.zeros((n_frames, n_true, k, 2))
    both = np.zeros((n_frames, n_true, k), bool)
    for t, (g, p) in enumerate(zip(gt.frames, pred.frames)):
        if not len(g) or not len(p):
            continue
        g_xy, g_has = _joints(g, pt21)
        p_xy, p_has = _joints(p, pt21)
        gt_of_pred = match_frame(g_xy, g_has, head_sizes(g.head_boxes), p_xy, p_has, threshold).gt_of_pred
        pr_rows = np.flatnonzero(gt_of_pred >= 0)
        gt_rows = gt_of_pred[pr_rows]
        cols = np.searchsorted(true_ids, g.track_ids[gt_rows])
        matched[t, cols] = p.track_ids[pr_rows]
        gt_xy[t, cols] = g_xy[gt_rows]
        pr_xy[t, cols] = p_xy[pr_rows]
        both[t, cols] = g_has[gt_rows] & p_has[pr_rows]
    if n_frames < 3:
        return Jitter()
    same = (matched[1:-1] >= 0) & (matched[:-2] == matched[1:-1]) & (matched[2:] == matched[1:-1])
    count = same[..., None] & both[:-2] & both[1:-1] & both[2:]
    a_true = gt_xy[2:] - 2 * gt_xy[1:-1] + gt_xy[:-2]
    a_pred = pr_xy[2:] - 2 * pr_xy[1:-1] + pr_xy[:-2]
    error = np.sqrt(((a_pred - a_true) ** 2).sum(-1))
    return Jitter(float(error[count].sum()), int(count.sum()))


def jitter_folders(gt_dir: str | os.PathLike, pred_dir: str | os.PathLike, threshold: float = THRESHOLD) -> Jitter:
    """Jitter of a folder of per-sequence PoseTrack predictions against the ground-truth folder (paired by name).

    A ground-truth sequence without a prediction file is an error naming it, as in `evaluate_folders`.
    """
    gt_files = sequence_files(gt_dir)
    if not gt_files:
        raise HrtrackError(f"no .json files in the ground-truth folder {gt_dir}")
    pred_files = sequence_files(pred_dir)
    total = Jitter()
    for name, gt_path in sorted(gt_files.items()):
        if name not in pred_files:
            raise HrtrackError(f"no prediction for sequence {name}: {Path(pred_dir) / (name + '.json')} does not exist")
        gt = read_sequence(gt_path)
        pred = read_sequence(pred_files[name], "posetrack21" if gt.format == "posetrack21" else "posetrack18")
        total = total + sequence_jitter(gt, pred, threshold)
    return total

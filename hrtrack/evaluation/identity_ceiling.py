"""How far re-identification alone could take a tracker's output: a perfect re-identification of its tracks.

Re-identification, and any offline stitching of track pieces, can only give a
whole predicted track the id of an earlier one; it cannot split a track that
follows one person and then another. A perfect one, which knows the truth, gives
every track back to its own person and never to another: each predicted track
belongs to the true person it covers most (joints matched to them, poseval's
matching), and joins the earlier track of the same person that ended before it
started, at most `max_gap` frames before. Tracks of one person that overlap in
time stay apart, since no re-labelling can merge them.

Scored against the same ground truth, the re-labelled predictions give the
identity scores (ID switches, MOTA, AssA, IDF1) of that perfect
re-identification: the ceiling of any real one, whose recalls are a subset of
these joins or mistakes.
What a tracker still loses against that ceiling is what better
re-identification could win; what the ceiling itself loses happens inside
tracks (a track that moves onto another person), before re-identification.
"""

from __future__ import annotations

import dataclasses
import os
from collections import defaultdict

import numpy as np

from ..errors import HrtrackError
from ..formats.posetrack import PoseTrackSequence
from .posetrack import (THRESHOLD, PoseTrackEvaluator, PoseTrackResult, match_frame, read_pair, scored_frames,
                        sequence_pairs)


def stitched_ids(gt: PoseTrackSequence, pred: PoseTrackSequence, max_gap: int,
                 gt_name: str = "ground truth", pred_name: str = "predictions") -> dict[int, int]:
    """{predicted track id: id of the earliest track of its chain}, for the tracks that join an earlier one.

    Args:
        gt, pred: one sequence's ground truth and predictions (frames paired by index, as scored).
        max_gap: the most frames between the end of one track and the start of the next that may
            still join (>= 1; 1 joins a track to one that ended the frame before).
        gt_name, pred_name: names for error messages.
    """
    if isinstance(max_gap, bool) or not isinstance(max_gap, int) or max_gap < 1:
        raise HrtrackError(f"max_gap must be an integer >= 1 (frames between two pieces), got {max_gap!r}")
    # Each predicted track's first and last frame.
    per_frame = [f.track_ids for f in pred.frames]
    tracks, inverse = np.unique(np.concatenate([np.zeros(0, np.int64), *per_frame]), return_inverse=True)
    times = np.repeat(np.arange(len(per_frame)), [len(ids) for ids in per_frame])
    first = np.full(len(tracks), len(per_frame), np.int64)
    last = np.full(len(tracks), -1, np.int64)
    np.minimum.at(first, inverse, times)
    np.maximum.at(last, inverse, times)
    # (predicted id, true id, joints matched) for every matched pair of every scored frame.
    rows = [np.zeros((0, 3), np.int64)]
    for f in scored_frames(gt, pred, gt_name, pred_name):
        if len(f.gt_ids) and len(f.pr_ids):
            match = match_frame(f.gt_xy, f.gt_has, f.head_size, f.pr_xy, f.pr_has, THRESHOLD)
            p = np.flatnonzero(match.gt_of_pred >= 0)
            g = match.gt_of_pred[p]
            rows.append(np.stack([f.pr_ids[p], f.gt_ids[g], match.hit[p, g].sum(-1)], 1))
    matched = np.concatenate(rows)
    pairs, at = np.unique(matched[:, :2], axis=0, return_inverse=True)
    votes = np.zeros(len(pairs), np.int64)
    np.add.at(votes, at.ravel(), matched[:, 2])
    # Owner: the true person with most matched joints, the smaller id on ties; tracks that matched none have none.
    order = np.lexsort((pairs[:, 1], -votes, pairs[:, 0]))
    best = order[np.r_[True, pairs[order[1:], 0] != pairs[order[:-1], 0]]] if len(order) else order
    best = best[votes[best] > 0]
    owner = dict(zip(pairs[best, 0].tolist(), pairs[best, 1].tolist()))
    span = dict(zip(tracks.tolist(), zip(first.tolist(), last.tolist())))
    chains: dict[int, list[list[int]]] = defaultdict(list)
    joined: dict[int, int] = {}
    for p in sorted(owner, key=lambda p: (span[p][0], p)):
        for chain in chains[owner[p]]:
            if 0 < span[p][0] - span[chain[-1]][1] <= max_gap:
                chain.append(p)
                joined[p] = chain[0]
                break
        else:
            chains[owner[p]].append([p])
    return joined


def relabelled(pred: PoseTrackSequence, ids: dict[int, int]) -> PoseTrackSequence:
    """`pred` with each track id in `ids` replaced by its value."""
    if not ids:
        return pred
    old = np.fromiter(ids, np.int64, len(ids))
    new = np.fromiter(ids.values(), np.int64, len(ids))
    order = np.argsort(old)
    frames = []
    for f in pred.frames:
        at = np.searchsorted(old[order], f.track_ids).clip(0, len(old) - 1)
        hit = old[order][at] == f.track_ids
        frames.append(dataclasses.replace(f, track_ids=np.where(hit, new[order][at], f.track_ids)))
    return dataclasses.replace(pred, frames=frames)


def ceiling_folders(gt_dir: str | os.PathLike, pred_dir: str | os.PathLike, max_gap: int) -> PoseTrackResult:
    """The scores (keypoint HOTA included) of a folder of predictions after a perfect re-identification
    (`stitched_ids`, each sequence on its own), paired and read as `evaluate_folders` does."""
    evaluator = PoseTrackEvaluator(hota=True)
    for gt_path, pred_path in sequence_pairs(gt_dir, pred_dir):
        gt, pred = read_pair(gt_path, pred_path)
        ids = stitched_ids(gt, pred, max_gap, str(gt_path), str(pred_path))
        evaluator.add_sequence(gt, relabelled(pred, ids), str(gt_path), str(pred_path))
    return evaluator.result()

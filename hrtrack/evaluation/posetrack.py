"""PoseTrack pose estimation (mAP) and tracking (MOTA) scores, computed as the official poseval does.

Definitions from poseval (leonid-pishchulin/poseval: `eval_helpers.assignGTmulti`,
`evaluateAP`, `evaluateTracking`), written here vectorised over people and joints:

* Joints: the 15 PoseTrack 2017 joints, in poseval's order (`PT17_JOINT_NAMES`).
* Scored frames: those whose ground truth has at least one person; predictions on
  other frames never count. Joints strictly inside a ground-truth ignore polygon
  are removed from both sides, and in such frames a person left without joints is
  removed.
* Matching (per frame): head size = 0.6 x ground-truth head box diagonal; a joint
  hits when its distance is <= 0.5 head sizes. Each prediction keeps the ground
  truth whose annotated joints it hits the largest fraction of, each ground truth
  the best of the predictions that chose it (ties to the lowest index).
* mAP: per joint, the predicted joints of all frames ranked by joint score (a
  missing score is -9999); all-point interpolated AP x 100.
* MOTA: one CLEAR-MOT accumulator per joint and sequence, one update per scored
  frame; objects = ground-truth track ids with the joint, hypotheses = predicted
  track ids with the joint, matchable when the distance is <= 0.5 head sizes.
  `ClearMot` reproduces motmetrics' `MOTAccumulator` counts exactly (tested),
  without importing motmetrics or pandas (`assignment`).

Each sequence is prepared (`scored_sequence`) and matched (in blocks of frames
padded to their most people) as whole arrays; frame by frame remain only the
CLEAR-MOT updates, which carry each frame's matches to the next.

poseval quirks kept by default (`strict=False`), each switched to the textbook
behaviour by `strict=True`:

1. The last scored frame of each sequence is left out of MOT (kept in AP).
2. A scored frame where the prediction, or the ground truth after ignore regions,
   has no people counts as one object, one miss and one false positive per joint.
3. A joint no ground truth annotates gets AP 0 when nothing predicts it and NaN
   (left out of the mean) when something does; strict: NaN in both cases.
4. Hence a sequence with a single scored frame has no MOT frames (poseval crashes).

MOTP is reported over matched pairs only, the definition poseval had with the
motmetrics of 2017 (today's motmetrics makes poseval sum every recorded distance).
PoseTrack21 files are read with their own joint rule (present only where x > 0
and y > 0), for these metrics too.

Keypoint HOTA, DetA, AssA (`HotaCounter`, `hota_frames`) are computed as the
official PoseTrack21 kit does (anDoer/PoseTrack21, `eval/posetrack21`, metric
`HOTAeypoints`), on every input format: the ground truth's `is_labeled` frames,
the kit's joint rule and ignore-region rule, its Total, and by default
(`strict_hota=False`) its empty-frame quirk. IDF1 and ID switches come with them.
docs/evaluation.md lists every quirk with an example.
"""

from __future__ import annotations

import os
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..formats.posetrack import (PoseTrackFrame, PoseTrackSequence, posetrack21_people, read_sequence,
                                 sequence_files)
from ..errors import HrtrackError
from ..geometry import points_in_polygons
from ..skeleton import PT17_JOINT_NAMES, PT17_TO_PT18
from .assignment import linear_sum_assignment, max_weight_assignment

JOINT_NAMES = PT17_JOINT_NAMES
NUM_JOINTS = len(JOINT_NAMES)
# The PoseTrack21 kit's table columns and, per column, the joint's index in JOINT_NAMES.
KIT_JOINT_NAMES = ("Nose", "Neck", "Head", "LS", "RS", "LE", "RE", "LW", "RW", "LH", "RH", "LK", "RK", "LA", "RA")
KIT_JOINTS = np.array([JOINT_NAMES.index(n) for n in (
    "nose", "head_bottom", "head_top", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist",
    "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle")])
THRESHOLD = 0.5
# poseval's score for a predicted joint without one.
MIN_SCORE = -9999.0

_J = {name: j for j, name in enumerate(JOINT_NAMES)}
# poseval's table columns; member order as in its `getCum`.
GROUPS = {
    "Head": (_J["head_top"], _J["head_bottom"], _J["nose"]),
    "Shoulder": (_J["right_shoulder"], _J["left_shoulder"]),
    "Elbow": (_J["right_elbow"], _J["left_elbow"]),
    "Wrist": (_J["right_wrist"], _J["left_wrist"]),
    "Hip": (_J["right_hip"], _J["left_hip"]),
    "Knee": (_J["right_knee"], _J["left_knee"]),
    "Ankle": (_J["right_ankle"], _J["left_ankle"]),
}
COLUMNS = (*GROUPS, "Total")


# ---------------------------------------------------------------- primitives

def head_sizes(head_boxes: np.ndarray) -> np.ndarray:
    """0.6 x the diagonal of each (N,4) x1,y1,x2,y2 head box -> (N,) float64, poseval's PCKh reference."""
    hb = np.asarray(head_boxes, np.float64).reshape(-1, 4)
    return 0.6 * np.sqrt((hb[:, 2] - hb[:, 0]) ** 2 + (hb[:, 3] - hb[:, 1]) ** 2)


@dataclass(frozen=True)
class FrameMatch:
    """poseval's matching of one frame with P predicted and G ground-truth people, K joints.

    dist (P,G,K) joint distance / head size, inf where either joint is missing;
    hit (P,G,K) dist <= threshold; gt_of_pred (P,) the ground truth each
    prediction is assigned to, -1 if none; labels (P,K) whether each predicted
    joint is a true positive of its assigned ground truth.
    """

    dist: np.ndarray
    hit: np.ndarray
    gt_of_pred: np.ndarray
    labels: np.ndarray


def joint_distances(gt_xy: np.ndarray, gt_has: np.ndarray, head_size: np.ndarray,
                    pr_xy: np.ndarray, pr_has: np.ndarray) -> np.ndarray:
    """(...,P,G,K) distance of each predicted to each ground-truth joint in head sizes; inf where either is missing.

    Shapes as in `match_frame`, or with the same leading axes on every input (frames of a batch).
    """
    gt_xy = np.asarray(gt_xy, np.float64)
    pr_xy = np.asarray(pr_xy, np.float64)
    both = pr_has[..., :, None, :] & gt_has[..., None, :, :]
    norm = np.sqrt(((gt_xy[..., None, :, :, :] - pr_xy[..., :, None, :, :]) ** 2).sum(-1))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(both, norm / np.asarray(head_size, np.float64)[..., None, :, None], np.inf)


def _assign(dist: np.ndarray, gt_has: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`match_frame`'s rule on B frames at once: from dist (B,P,G,K) and gt_has (B,G,K),
    hit (B,P,G,K), gt_of_pred (B,P) and labels (B,P,K).

    Frames padded with absent people (no joints on either side) come out unchanged:
    zero overlap is never a match, and the first of equal overlaps is a real person.
    """
    b, n_pr, n_gt, k = dist.shape
    hit = dist <= threshold
    annotated = gt_has.sum(2)[:, None, :]
    hits = 1.0 * hit.sum(3)
    pck = np.where(annotated > 0, hits / np.maximum(annotated, 1), hits)
    best = pck.argmax(2) if n_gt else np.zeros((b, n_pr), np.int64)
    kept = np.where(np.arange(n_gt)[None, None, :] == best[:, :, None], pck, 0.0)
    gt_of_pred = np.full((b, n_pr), -1, np.int64)
    if n_pr:
        frame, gt = np.nonzero(kept.max(1) > 0)
        gt_of_pred[frame, kept.argmax(1)[frame, gt]] = gt
    labels = np.zeros((b, n_pr, k), bool)
    frame, pred = np.nonzero(gt_of_pred >= 0)
    labels[frame, pred] = hit[frame, pred, gt_of_pred[frame, pred]]
    return hit, gt_of_pred, labels


def match_frame(gt_xy: np.ndarray, gt_has: np.ndarray, head_size: np.ndarray,
                pr_xy: np.ndarray, pr_has: np.ndarray, threshold: float = THRESHOLD) -> FrameMatch:
    """Assign predicted to ground-truth people of one frame by PCKh overlap, as poseval does.

    Args:
        gt_xy: (G,K,2) ground-truth joints x,y; gt_has: (G,K) annotated.
        head_size: (G,) PCKh reference length of each ground truth.
        pr_xy: (P,K,2) predicted joints x,y; pr_has: (P,K) predicted.
        threshold: hit when distance <= threshold x head size.

    Each prediction scores every ground truth by the fraction of that ground
    truth's annotated joints it hits and keeps its best one (first on ties);
    each ground truth then keeps the best of the predictions that kept it
    (first on ties); zero overlap is no match.
    """
    dist = joint_distances(gt_xy, gt_has, head_size, pr_xy, pr_has)
    hit, gt_of_pred, labels = _assign(dist[None], np.asarray(gt_has)[None], threshold)
    return FrameMatch(dist, hit[0], gt_of_pred[0], labels[0])


def average_precision(scores: np.ndarray, labels: np.ndarray, num_positives: float) -> tuple[float, float, float]:
    """poseval's AP of one joint: (AP, final precision, final recall), each x 100.

    Detections ranked by `scores` descending (NumPy's argsort reversed, as poseval,
    so ties fall the same way); AP is the all-point interpolated (VOC) area under
    the precision/recall curve. With no detections the result is (0, 0, 0), as
    poseval leaves it; with detections but no positives, AP is NaN.
    """
    scores = np.asarray(scores, np.float64).ravel()
    if len(scores) == 0:
        return 0.0, 0.0, 0.0
    order = scores.argsort()[::-1]
    tp = np.cumsum(np.asarray(labels).ravel()[order] == 1).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        recall = tp / np.float64(num_positives)
        precision = tp / np.arange(1, len(tp) + 1)
        mrec = np.concatenate([[0.0], recall, [1.0]])
        mpre = np.maximum.accumulate(np.concatenate([[0.0], precision, [0.0]])[::-1])[::-1]
        steps = np.flatnonzero(mrec[1:] != mrec[:-1]) + 1
        ap = np.sum((mrec[steps] - mrec[steps - 1]) * mpre[steps])
    return float(ap * 100), float(precision[-1] * 100), float(recall[-1] * 100)


def _split_contested(candidates: np.ndarray) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Split (K,G,P) candidate pairs into joints that need an assignment solver and forced pairs.

    Returns the (K,) bool joints where some row or column has several candidates,
    and the (joint, row, col) index arrays of the other joints' candidates: these
    form a matching, which every optimal assignment takes whole.
    """
    contested = (candidates.sum(2) > 1).any(1) | (candidates.sum(1) > 1).any(1)
    return contested, np.nonzero(candidates & ~contested[:, None, None])


class ClearMot:
    """CLEAR-MOT counts of one sequence for K joints at once.

    Equivalent to K motmetrics `MOTAccumulator`s (one per joint) fed one update
    per frame: matches of the previous frame are carried over first when still
    matchable (the earlier object wins a contested hypothesis), the rest are
    assigned as motmetrics assigns them (`assignment.linear_sum_assignment`), and
    a match that contradicts an object's last match is a switch. Joints whose
    candidate pairs form a matching skip the solver, whose optimum must then
    take every pair.

    Args:
        gt_ids: every ground-truth track id of the sequence.
        pr_ids: every predicted track id of the sequence.
        num_joints: K.
    """

    FIELDS = ("num_objects", "num_misses", "num_switches", "num_false_positives", "num_detections")

    def __init__(self, gt_ids: np.ndarray, pr_ids: np.ndarray, num_joints: int) -> None:
        self._gt_keys = np.unique(np.asarray(gt_ids, np.int64))
        self._pr_keys = np.unique(np.asarray(pr_ids, np.int64))
        # Last hypothesis (index into _pr_keys) each object was matched to, -1 for never.
        self._last = np.full((num_joints, len(self._gt_keys)), -1, np.int64)
        self.counts = np.zeros((num_joints, len(self.FIELDS)), np.int64)
        self.sum_distance = np.zeros(num_joints, np.float64)

    def positions(self, gt_ids: np.ndarray, pr_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Where object and hypothesis ids stand among those given at construction (each must be one)."""
        gs = np.searchsorted(self._gt_keys, gt_ids)
        hs = np.searchsorted(self._pr_keys, pr_ids)
        assert (self._gt_keys[gs] == gt_ids).all() and (self._pr_keys[hs] == pr_ids).all()
        return gs, hs

    def update(self, gt_ids: np.ndarray, gt_has: np.ndarray, pr_ids: np.ndarray, pr_has: np.ndarray,
               cost: np.ndarray) -> None:
        """One frame: G objects, P hypotheses.

        Args:
            gt_ids: (G,) object ids; gt_has: (G,K) object present for joint k.
            pr_ids: (P,) hypothesis ids; pr_has: (P,K) hypothesis present for joint k.
            cost: (K,G,P) distance where the pair may match, NaN elsewhere.
        """
        gs, hs = self.positions(gt_ids, pr_ids)
        self.update_at(gs, gt_has, hs, pr_has, cost)

    def update_at(self, gs: np.ndarray, gt_has: np.ndarray, hs: np.ndarray, pr_has: np.ndarray,
                  cost: np.ndarray) -> None:
        """`update` with the ids given by their `positions`."""
        k, n_gt, n_pr = cost.shape
        obj, hyp = gt_has.T, pr_has.T
        ok = np.isfinite(cost) & obj[:, :, None] & hyp[:, None, :]

        # 1. carry over last matches still present and matchable; the extra last column stands for "none"
        column_of = np.full(len(self._pr_keys) + 1, -1, np.int64)
        column_of[hs] = np.arange(n_pr)
        cand = column_of[self._last[:, gs]]
        cj, cg = np.nonzero(obj & (cand >= 0))
        cp = cand[cj, cg]
        keep = ok[cj, cg, cp]
        cj, cg, cp = cj[keep], cg[keep], cp[keep]
        key = cj * n_pr + cp
        if len(key) and np.bincount(key).max() > 1:   # objects last matched to one hypothesis: the first wins
            _, first = np.unique(key, return_index=True)
            cj, cg, cp = cj[first], cg[first], cp[first]

        # 2. assign the rest: forced where the free pairs form a matching, else the solver
        free = ok.copy()
        free[cj, cg, :] = False
        free[cj, :, cp] = False
        contested, (nj, ng, np_) = _split_contested(free)
        if contested.any():
            parts = [(nj, ng, np_)]
            for j in np.flatnonzero(contested):
                rows, cols = np.flatnonzero(obj[j]), np.flatnonzero(hyp[j])
                sub = np.where(free[j][np.ix_(rows, cols)], cost[j][np.ix_(rows, cols)], np.nan)
                r, c = linear_sum_assignment(sub)
                good = np.isfinite(sub[r, c])
                parts.append((np.full(good.sum(), j), rows[r[good]], cols[c[good]]))
            nj, ng, np_ = (np.concatenate(x).astype(np.int64) for x in zip(*parts))
        before = self._last[nj, gs[ng]]
        switch = (before >= 0) & (before != hs[np_])
        self._last[nj, gs[ng]] = hs[np_]

        matched = np.bincount(cj, minlength=k) + np.bincount(nj, minlength=k)
        objects, hyps = obj.sum(1), hyp.sum(1)
        self.counts += np.stack([objects, objects - matched, np.bincount(nj[switch], minlength=k),
                                 hyps - matched, matched], axis=1)
        self.sum_distance += (np.bincount(cj, cost[cj, cg, cp], minlength=k)
                              + np.bincount(nj, cost[nj, ng, np_], minlength=k))

    def add_empty_frame_quirk(self) -> None:
        """poseval's update for a frame where one side has no people: one object, miss and false positive per joint."""
        self.counts += np.array([1, 1, 0, 1, 0], np.int64)


# PoseTrack21 / TrackEval HOTA thresholds on the similarity: 0.05, 0.10, ..., 0.95.
HOTA_ALPHAS = np.arange(0.05, 0.99, 0.05)
# PoseTrack21's similarity reaches 0 just beyond 0.5 head sizes, so a PCKh hit always has some.
HOTA_ZERO_DISTANCE = 0.5001
HOTA_FIELDS = ("HOTA", "DetA", "AssA", "DetRe", "DetPr", "AssRe", "AssPr", "LocA")
IDENTITY_FIELDS = ("IDF1", "IDP", "IDR", "IDSW")


def keypoint_similarity(dist: np.ndarray) -> np.ndarray:
    """PoseTrack21's keypoint similarity max(0, 1 - d / 0.5001) of distances d in head sizes.

    Any shape; 0 where d is inf or NaN (a joint missing on either side).
    """
    d = np.asarray(dist, np.float64)
    finite = np.isfinite(d)
    return np.where(finite, np.maximum(1.0 - np.where(finite, d, 0.0) / HOTA_ZERO_DISTANCE, 0.0), 0.0)


class HotaCounter:
    """Keypoint HOTA (Luiten et al., IJCV 2020) per joint and in total as the PoseTrack21 kit computes it,
    plus IDF1 and ID switches.

    Fed the kit's frames (`hota_frames`). Per joint and frame, ground-truth and
    predicted joints are paired by the assignment maximising their keypoint
    similarity; at each alpha in `HOTA_ALPHAS` a pair with similarity >= alpha is
    a true positive. DetA = TP / (TP + FN + FP); AssA averages over true
    positives TPA / (TPA + FNA + FPA) of their (ground-truth id, predicted id)
    pair; HOTA = sqrt(DetA x AssA), averaged over alphas. Per joint, sequences
    combine as the kit does (counts summed, association scores weighted by TP);
    the Total as `totals` says.

    The kit's empty-frame quirk (`kit_empty_frames`, on by default): a frame
    whose ground truth has people but whose prediction has none adds the whole
    sequence's ground-truth joints to FN; off, it adds the frame's own. A
    sequence without any predicted person counts its ground-truth joints once,
    either way. The kit cannot evaluate a labelled frame whose ground truth has
    nobody (it fails); here its predicted joints are false positives.

    IDF1 (Ristani et al., 2016) pairs whole trajectories to maximise the frames
    where the pair is within `threshold` head sizes; IDSW are CLEAR-MOT switches;
    both over the same frames, without quirks.
    """

    def __init__(self, num_joints: int, kit_empty_frames: bool = True, threshold: float = THRESHOLD) -> None:
        a, k = len(HOTA_ALPHAS), num_joints
        self.num_joints = k
        self.kit_empty_frames = kit_empty_frames
        self.threshold = threshold
        self.tp, self.fn, self.fp = (np.zeros((a, k), np.int64) for _ in range(3))
        self.similarity = np.zeros((a, k))
        self.ass_sums = np.zeros((3, a, k))        # AssA, AssRe, AssPr, summed over true positives
        # The kit's Total: each sequence's joint-mean AssA, AssRe, AssPr (then LocA) times its true positives.
        self.total_ass = np.zeros((3, a))
        self.total_loc = np.zeros(a)
        self.identity = np.zeros((4, k), np.int64)  # IDTP, ground-truth joints, predicted joints, switches

    def add_sequence(self, frames: list[ScoredFrame]) -> None:
        """One sequence's frames, as `hota_frames` gives them."""
        if not frames:
            return
        a, k = len(HOTA_ALPHAS), self.num_joints
        gt_keys = np.unique(np.concatenate([f.gt_ids for f in frames]))
        pr_keys = np.unique(np.concatenate([f.pr_ids for f in frames]))
        gt_count = np.zeros((k, len(gt_keys)))
        pr_count = np.zeros((k, len(pr_keys)))
        pair_tp = np.zeros((a, k, len(gt_keys), len(pr_keys)))
        pair_frames = np.zeros((k, len(gt_keys), len(pr_keys)))
        tp, fn, fp = (np.zeros((a, k), np.int64) for _ in range(3))
        similarity = np.zeros((a, k))
        seq_gt = sum(f.gt_has.sum(0) for f in frames)
        # The kit scores a sequence without predicted people as a whole, before any frame.
        whole = len(pr_keys) == 0
        mot = ClearMot(gt_keys, pr_keys, k)
        for f in frames:
            gi = np.searchsorted(gt_keys, f.gt_ids)
            pi = np.searchsorted(pr_keys, f.pr_ids)
            gt_count[:, gi] += f.gt_has.T
            pr_count[:, pi] += f.pr_has.T
            dist = joint_distances(f.gt_xy, f.gt_has, f.head_size, f.pr_xy, f.pr_has)
            hit = dist <= self.threshold
            pair_frames[:, gi[:, None], pi[None, :]] += hit.transpose(2, 1, 0)
            mot.update(f.gt_ids, f.gt_has, f.pr_ids, f.pr_has, np.where(hit, dist, np.nan).transpose(2, 1, 0))
            if whole:
                continue
            if len(f.pr_ids) == 0:
                fn += seq_gt if self.kit_empty_frames and len(f.gt_ids) else f.gt_has.sum(0)
                continue
            sim = keypoint_similarity(dist).transpose(2, 1, 0)  # (K,G,P)
            contested, (mj, mg, mp) = _split_contested(sim > 0)
            parts = [(mj, mg, mp)]
            for j in np.flatnonzero(contested):
                r, c = max_weight_assignment(sim[j])
                good = sim[j, r, c] > 0
                parts.append((np.full(good.sum(), j), r[good], c[good]))
            mj, mg, mp = (np.concatenate(x).astype(np.int64) for x in zip(*parts))
            s = sim[mj, mg, mp]
            a_idx, m_idx = np.nonzero(s[None, :] >= HOTA_ALPHAS[:, None] - np.finfo(float).eps)
            tp_f = np.zeros((a, k), np.int64)
            np.add.at(tp_f, (a_idx, mj[m_idx]), 1)
            np.add.at(similarity, (a_idx, mj[m_idx]), s[m_idx])
            np.add.at(pair_tp, (a_idx, mj[m_idx], gi[mg[m_idx]], pi[mp[m_idx]]), 1)
            tp += tp_f
            fn += f.gt_has.sum(0)[None, :] - tp_f
            fp += f.pr_has.sum(0)[None, :] - tp_f
        if whole:
            fn += seq_gt
        gts, prs = gt_count[None, :, :, None], pr_count[None, :, None, :]
        ass = np.stack([(pair_tp * pair_tp / np.maximum(1.0, denom)).sum((2, 3))
                        for denom in (gts + prs - pair_tp, gts, prs)])
        self.ass_sums += ass
        self.tp += tp
        self.fn += fn
        self.fp += fp
        self.similarity += similarity
        seq_tp = tp.sum(1)
        self.total_ass += (ass / np.maximum(1, tp)[None]).mean(2) * seq_tp[None]
        self.total_loc += (np.maximum(1e-10, similarity) / np.maximum(1e-10, tp)).mean(1) * seq_tp
        for j in range(k):
            r, c = max_weight_assignment(pair_frames[j])
            self.identity[0, j] += int(pair_frames[j, r, c].sum())
        self.identity[1] += gt_count.sum(1).astype(np.int64)
        self.identity[2] += pr_count.sum(1).astype(np.int64)
        self.identity[3] += mot.counts[:, ClearMot.FIELDS.index("num_switches")]

    def per_joint(self) -> dict[str, np.ndarray]:
        """Each of HOTA_FIELDS + IDENTITY_FIELDS as (K,) values (x100 except IDSW; alpha-averaged)."""
        tp = self.tp.astype(np.float64)
        det_re = tp / np.maximum(1, tp + self.fn)
        det_pr = tp / np.maximum(1, tp + self.fp)
        det_a = tp / np.maximum(1, tp + self.fn + self.fp)
        ass_a, ass_re, ass_pr = self.ass_sums / np.maximum(1, tp)[None]
        loc_a = np.maximum(1e-10, self.similarity) / np.maximum(1e-10, tp)
        per_alpha = {"HOTA": np.sqrt(det_a * ass_a), "DetA": det_a, "AssA": ass_a, "DetRe": det_re,
                     "DetPr": det_pr, "AssRe": ass_re, "AssPr": ass_pr, "LocA": loc_a}
        out = {name: 100 * v.mean(0) for name, v in per_alpha.items()}
        idtp, n_gt, n_pr, idsw = self.identity.astype(np.float64)
        out["IDF1"] = 100 * _ratio(2 * idtp, n_gt + n_pr)
        out["IDP"] = 100 * _ratio(idtp, n_pr)
        out["IDR"] = 100 * _ratio(idtp, n_gt)
        out["IDSW"] = idsw
        return out

    def totals(self) -> dict[str, float]:
        """HOTA_FIELDS over all joints, formed as the PoseTrack21 kit forms its Total (x100, alpha-averaged).

        Per alpha: DetA, DetRe, DetPr from the TP, FN, FP pooled over joints and
        sequences; AssA, AssRe, AssPr (and LocA) averaged over the 15 joints within
        each sequence (a joint without true positives counts 0, LocA 1), then over
        sequences weighted by their true positives; HOTA = sqrt(DetA x AssA).
        """
        tp = self.tp.sum(1).astype(np.float64)
        fn, fp = self.fn.sum(1), self.fp.sum(1)
        det_a = tp / np.maximum(1, tp + fn + fp)
        ass_a, ass_re, ass_pr = self.total_ass / np.maximum(1, tp)[None]
        per_alpha = {"HOTA": np.sqrt(det_a * ass_a), "DetA": det_a, "AssA": ass_a,
                     "DetRe": tp / np.maximum(1, tp + fn), "DetPr": tp / np.maximum(1, tp + fp),
                     "AssRe": ass_re, "AssPr": ass_pr,
                     "LocA": np.maximum(1e-10, self.total_loc) / np.maximum(1e-10, tp)}
        return {name: float(100 * v.mean()) for name, v in per_alpha.items()}


# ---------------------------------------------------------------- per-sequence preparation

@dataclass(frozen=True)
class ScoredFrame:
    """A scored frame in poseval's 15 joints, after ignore regions; G ground-truth and P predicted people.

    gt_xy (G,15,2) float64, gt_has (G,15) bool, gt_ids (G,) int64, head_size (G,) float64;
    pr_xy (P,15,2) float64, pr_has (P,15) bool, pr_scores (P,15) float64 (MIN_SCORE where
    the file gives none), pr_ids (P,) int64.
    """

    gt_xy: np.ndarray
    gt_has: np.ndarray
    gt_ids: np.ndarray
    head_size: np.ndarray
    pr_xy: np.ndarray
    pr_has: np.ndarray
    pr_scores: np.ndarray
    pr_ids: np.ndarray


@dataclass(frozen=True)
class ScoredSequence:
    """A sequence's scored frames stacked: frame i holds ground-truth rows gt_bounds[i]:gt_bounds[i + 1] and
    predicted rows pr_bounds[i]:pr_bounds[i + 1] of arrays shaped as ScoredFrame's."""

    gt_bounds: np.ndarray
    pr_bounds: np.ndarray
    gt_xy: np.ndarray
    gt_has: np.ndarray
    gt_ids: np.ndarray
    head_size: np.ndarray
    pr_xy: np.ndarray
    pr_has: np.ndarray
    pr_scores: np.ndarray
    pr_ids: np.ndarray

    def __len__(self) -> int:
        return len(self.gt_bounds) - 1

    def frame(self, i: int) -> ScoredFrame:
        """Frame i (views of the stacked arrays)."""
        g, p = slice(self.gt_bounds[i], self.gt_bounds[i + 1]), slice(self.pr_bounds[i], self.pr_bounds[i + 1])
        return ScoredFrame(self.gt_xy[g], self.gt_has[g], self.gt_ids[g], self.head_size[g],
                           self.pr_xy[p], self.pr_has[p], self.pr_scores[p], self.pr_ids[p])

    @classmethod
    def stack(cls, frames: list[ScoredFrame]) -> "ScoredSequence":
        """The frames stacked."""
        def bounds(counts: list[int]) -> np.ndarray:
            return np.concatenate([[0], np.cumsum(counts, dtype=np.int64)])

        def cat(name: str, shape: tuple[int, ...], dtype: type) -> np.ndarray:
            return np.concatenate([np.zeros((0, *shape), dtype), *(getattr(f, name) for f in frames)])

        k = NUM_JOINTS
        return cls(bounds([len(f.gt_ids) for f in frames]), bounds([len(f.pr_ids) for f in frames]),
                   cat("gt_xy", (k, 2), np.float64), cat("gt_has", (k,), bool), cat("gt_ids", (), np.int64),
                   cat("head_size", (), np.float64), cat("pr_xy", (k, 2), np.float64), cat("pr_has", (k,), bool),
                   cat("pr_scores", (k,), np.float64), cat("pr_ids", (), np.int64))


def _check_ids(frame: PoseTrackFrame, name: str, fi: int, what: str) -> None:
    if (frame.track_ids < 0).any():
        raise HrtrackError(f"{name}: frame {fi}: a {what} person has no track_id")
    uniq, counts = np.unique(frame.track_ids, return_counts=True)
    if (counts > 1).any():
        raise HrtrackError(f"{name}: frame {fi}: {what} track id {int(uniq[counts > 1][0])} appears twice")


def _check_pairing(gt: PoseTrackSequence, pred: PoseTrackSequence, gt_name: str, pred_name: str) -> None:
    """Frames pair by index: the same count; against PoseTrack21 ground truth, also its image ids on
    labelled frames (its kit requires them)."""
    if len(pred.frames) != len(gt.frames):
        raise HrtrackError(f"{pred_name}: {len(pred.frames)} frames but the ground truth "
                           f"{gt_name} has {len(gt.frames)}")
    if gt.format != "posetrack21":
        return
    for fi, (g, p) in enumerate(zip(gt.frames, pred.frames)):
        if g.is_labeled and None not in (g.image_id, p.image_id) and g.image_id != p.image_id:
            raise HrtrackError(f"{pred_name}: frame {fi} has image id {p.image_id} but the ground truth {gt_name} "
                               f"has {g.image_id} (the PoseTrack21 kit needs the ground truth's image ids)")


def _check_regions(g: PoseTrackFrame, gt_name: str, fi: int) -> None:
    small = [len(r) for r in g.ignore_regions if len(r) < 3]
    if small:
        raise HrtrackError(f"{gt_name}: frame {fi}: an ignore region has {small[0]} points; "
                           "a polygon needs at least 3")


def _scored_frame(g: PoseTrackFrame, p: PoseTrackFrame, gt_has: np.ndarray, gt_keep: np.ndarray,
                  pr_has: np.ndarray, pr_keep: np.ndarray, gt_name: str, fi: int) -> ScoredFrame:
    """The ScoredFrame of kept people, in poseval's 15 joints; `*_has` are (N,15) after ignore regions."""
    size = head_sizes(g.head_boxes)
    lacking = gt_keep & gt_has.any(1) & np.isnan(size)
    if lacking.any():
        k = int(np.flatnonzero(lacking)[0])
        raise HrtrackError(f"{gt_name}: frame {fi}: ground-truth person {k} (track id "
                           f"{int(g.track_ids[k])}) has joints but no head box")
    gt_xy = g.keypoints[:, PT17_TO_PT18].astype(np.float64)
    pr_xy = p.keypoints[:, PT17_TO_PT18].astype(np.float64)
    scores = p.joint_scores[:, PT17_TO_PT18].astype(np.float64)
    return ScoredFrame(gt_xy[gt_keep], gt_has[gt_keep], g.track_ids[gt_keep], size[gt_keep],
                       pr_xy[pr_keep], pr_has[pr_keep],
                       np.where(np.isnan(scores), MIN_SCORE, scores)[pr_keep], p.track_ids[pr_keep])


def _scored_frames_checked(gt: PoseTrackSequence, pred: PoseTrackSequence, gt_name: str,
                           pred_name: str) -> list[ScoredFrame]:
    """`scored_frames`, frame by frame: raises the error of the first frame that has one."""
    out = []
    for fi, (g, p) in enumerate(zip(gt.frames, pred.frames)):
        _check_ids(p, pred_name, fi, "predicted")
        if len(g) + g.unannotated_people == 0:
            continue
        _check_ids(g, gt_name, fi, "ground-truth")
        gt_has = g.visible[:, PT17_TO_PT18].copy()
        pr_has = p.visible[:, PT17_TO_PT18].copy()
        if gt.format == "posetrack21":
            pr_has &= (p.keypoints[:, PT17_TO_PT18] > 0).all(-1)
        gt_keep, pr_keep = np.ones(len(g), bool), np.ones(len(p), bool)
        if g.ignore_regions:
            _check_regions(g, gt_name, fi)
            gt_xy = g.keypoints[:, PT17_TO_PT18].reshape(-1, 2)
            pr_xy = p.keypoints[:, PT17_TO_PT18].reshape(-1, 2)
            gt_has &= ~points_in_polygons(gt_xy, g.ignore_regions).reshape(gt_has.shape)
            pr_has &= ~points_in_polygons(pr_xy, g.ignore_regions).reshape(pr_has.shape)
            gt_keep, pr_keep = gt_has.any(1), pr_has.any(1)
        out.append(_scored_frame(g, p, gt_has, gt_keep, pr_has, pr_keep, gt_name, fi))
    return out


@dataclass(frozen=True)
class _Rows:
    """The people of a sequence's frames stacked: frame f holds rows bounds[f]:bounds[f + 1]."""

    bounds: np.ndarray
    frame: np.ndarray
    keypoints: np.ndarray
    visible: np.ndarray
    joint_scores: np.ndarray
    track_ids: np.ndarray
    head_boxes: np.ndarray

    @classmethod
    def stack(cls, frames: list[PoseTrackFrame]) -> "_Rows":
        """The people of `frames` (at least one), in poseval's 15 joints."""
        counts = np.array([len(f) for f in frames], np.int64)

        def cat(name: str) -> np.ndarray:
            return np.concatenate([getattr(f, name) for f in frames])

        return cls(np.concatenate([[0], np.cumsum(counts)]), np.repeat(np.arange(len(frames)), counts),
                   cat("keypoints")[:, PT17_TO_PT18], cat("visible")[:, PT17_TO_PT18],
                   cat("joint_scores")[:, PT17_TO_PT18], cat("track_ids"), cat("head_boxes"))


def _ids_valid(ids: np.ndarray, frame: np.ndarray) -> bool:
    """Every id present (>= 0) and unique within its frame."""
    order = np.lexsort((ids, frame))
    ids, frame = ids[order], frame[order]
    return bool((ids >= 0).all() and not ((ids[1:] == ids[:-1]) & (frame[1:] == frame[:-1])).any())


def scored_frames(gt: PoseTrackSequence, pred: PoseTrackSequence, gt_name: str, pred_name: str) -> list[ScoredFrame]:
    """`scored_sequence`'s frames."""
    seq = scored_sequence(gt, pred, gt_name, pred_name)
    return [seq.frame(i) for i in range(len(seq))]


def scored_sequence(gt: PoseTrackSequence, pred: PoseTrackSequence, gt_name: str,
                    pred_name: str) -> ScoredSequence:
    """Pair frames by index and keep poseval's scored frames, after ignore regions (for mAP and MOTA).

    Against PoseTrack21 ground truth a predicted joint, like a ground-truth one,
    is present only where x > 0 and y > 0 (PoseTrack21's rule, whatever the
    prediction file's format). Raises HrtrackError (naming the file) on a
    frame-count mismatch, a person without a track id, duplicate ids in a frame,
    a ground-truth person with joints but no head box, an ignore polygon with
    fewer than 3 vertices, or (PoseTrack21) another image id than the ground truth's.

    The whole sequence at once; `_scored_frames_checked` goes frame by frame
    to report a problem.
    """
    _check_pairing(gt, pred, gt_name, pred_name)
    if not gt.frames:
        return ScoredSequence.stack([])
    g, p = _Rows.stack(gt.frames), _Rows.stack(pred.frames)
    scored = np.array([len(f) + f.unannotated_people > 0 for f in gt.frames], bool)
    g_in, p_in = scored[g.frame], scored[p.frame]
    gt_has, pr_has = g.visible & g_in[:, None], p.visible & p_in[:, None]
    if gt.format == "posetrack21":
        pr_has &= (p.keypoints > 0).all(-1)
    gt_keep, pr_keep = g_in.copy(), p_in.copy()
    regions = [fi for fi in np.flatnonzero(scored) if gt.frames[fi].ignore_regions]
    if any(len(r) < 3 for fi in regions for r in gt.frames[fi].ignore_regions):
        return ScoredSequence.stack(_scored_frames_checked(gt, pred, gt_name, pred_name))
    for fi in regions:
        gr, pr = slice(g.bounds[fi], g.bounds[fi + 1]), slice(p.bounds[fi], p.bounds[fi + 1])
        points = np.concatenate([g.keypoints[gr], p.keypoints[pr]]).reshape(-1, 2)
        inside = points_in_polygons(points, gt.frames[fi].ignore_regions).reshape(-1, NUM_JOINTS)
        gt_has[gr] &= ~inside[:gr.stop - gr.start]
        pr_has[pr] &= ~inside[gr.stop - gr.start:]
        gt_keep[gr], pr_keep[pr] = gt_has[gr].any(1), pr_has[pr].any(1)
    size = head_sizes(g.head_boxes)
    if not (_ids_valid(p.track_ids, p.frame) and _ids_valid(g.track_ids[g_in], g.frame[g_in])
            and not (gt_keep & gt_has.any(1) & np.isnan(size)).any()):
        return ScoredSequence.stack(_scored_frames_checked(gt, pred, gt_name, pred_name))

    def bounds(frame: np.ndarray) -> np.ndarray:
        """Rows of each scored frame, from the frame of each kept row."""
        return np.concatenate([[0], np.cumsum(np.bincount(frame, minlength=len(scored))[scored])])

    scores = p.joint_scores[pr_keep].astype(np.float64)
    scores[np.isnan(scores)] = MIN_SCORE
    return ScoredSequence(bounds(g.frame[gt_keep]), bounds(p.frame[pr_keep]),
                          g.keypoints[gt_keep].astype(np.float64), gt_has[gt_keep],
                          g.track_ids[gt_keep], size[gt_keep], p.keypoints[pr_keep].astype(np.float64),
                          pr_has[pr_keep], scores, p.track_ids[pr_keep])


def hota_frames(gt: PoseTrackSequence, pred: PoseTrackSequence, gt_name: str, pred_name: str) -> list[ScoredFrame]:
    """Pair frames by index and keep the PoseTrack21 kit's frames and people (for keypoint HOTA).

    The kit's frames are those the ground truth marks `is_labeled`, with or
    without people; its people and joints are `posetrack21_people`'s (a joint is
    present where x > 0 and y > 0; in frames with ignore regions, joints inside
    are removed and people left with nothing are dropped), whatever the files'
    format. Raises HrtrackError as `scored_frames` does.
    """
    _check_pairing(gt, pred, gt_name, pred_name)
    out = []
    for fi, (g, p) in enumerate(zip(gt.frames, pred.frames)):
        _check_ids(p, pred_name, fi, "predicted")
        if not g.is_labeled:
            continue
        _check_ids(g, gt_name, fi, "ground-truth")
        _check_regions(g, gt_name, fi)
        gt_has, gt_keep = posetrack21_people(g, file_coordinates=gt.format == "posetrack21")
        pr_has, pr_keep = posetrack21_people(p, g.ignore_regions, file_coordinates=pred.format == "posetrack21")
        out.append(_scored_frame(g, p, gt_has[:, PT17_TO_PT18], gt_keep, pr_has[:, PT17_TO_PT18], pr_keep,
                                 gt_name, fi))
    return out


# ---------------------------------------------------------------- results

def _nanmean(values: np.ndarray) -> float:
    finite = values[~np.isnan(values)]
    return float(finite.mean()) if len(finite) else float("nan")


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def column_values(per_joint: np.ndarray) -> dict[str, float]:
    """poseval's columns: group means (NaN if any member is NaN) and Total = mean of the non-NaN joints."""
    cols = {name: float(per_joint[list(idx)].mean()) for name, idx in GROUPS.items()}
    cols["Total"] = _nanmean(per_joint)
    return cols


def _cell(value: float, delim: str) -> str:
    return "{:>5}".format("%1.1f" % value) + delim


def _row(values: list[float]) -> str:
    return "&" + "".join(_cell(v, " &") for v in values[:-1]) + _cell(values[-1], " \\\\")


@dataclass(frozen=True)
class PoseTrackResult:
    """Per-joint scores (15 joints, poseval's order) and the counts behind them."""

    ap: np.ndarray
    ap_precision: np.ndarray
    ap_recall: np.ndarray
    num_gt_joints: np.ndarray
    num_predicted_joints: np.ndarray
    mot_counts: np.ndarray        # (15,5) in ClearMot.FIELDS order
    mot_sum_distance: np.ndarray  # (15,) sum of normalised distances of matched pairs
    strict: bool
    counts: dict[str, int] = field(default_factory=dict)
    hota: dict[str, np.ndarray] | None = None   # HotaCounter.per_joint(), when asked for
    hota_total: dict[str, float] | None = None  # HotaCounter.totals(), when asked for
    strict_hota: bool = False

    def _mot(self, name: str) -> np.ndarray:
        return self.mot_counts[:, ClearMot.FIELDS.index(name)].astype(np.float64)

    @property
    def mota(self) -> np.ndarray:
        errors = self._mot("num_misses") + self._mot("num_switches") + self._mot("num_false_positives")
        return 100 * (1 - _ratio(errors, self._mot("num_objects")))

    @property
    def motp(self) -> np.ndarray:
        det = self._mot("num_detections")
        return np.where(det > 0, 100 * (1 - _ratio(self.mot_sum_distance, det)), 0.0)

    @property
    def precision(self) -> np.ndarray:
        det = self._mot("num_detections")
        return 100 * _ratio(det, det + self._mot("num_false_positives"))

    @property
    def recall(self) -> np.ndarray:
        return 100 * _ratio(self._mot("num_detections"), self._mot("num_objects"))

    def summary(self) -> dict[str, Any]:
        """The JSON summary: column tables, per-joint values and counts (NaN as None)."""
        def clean(v: Any) -> Any:
            return None if isinstance(v, float) and np.isnan(v) else v

        def table(values: np.ndarray) -> dict[str, float | None]:
            return {k: clean(v) for k, v in column_values(values).items()}

        per_joint = {}
        for j, name in enumerate(JOINT_NAMES):
            entry = {"AP": self.ap[j], "AP_precision": self.ap_precision[j], "AP_recall": self.ap_recall[j],
                     "MOTA": self.mota[j], "MOTP": self.motp[j], "Precision": self.precision[j],
                     "Recall": self.recall[j], "MOTP_sum_distance": self.mot_sum_distance[j]}
            entry = {k: clean(float(v)) for k, v in entry.items()}
            entry["num_gt_joints"] = int(self.num_gt_joints[j])
            entry["num_predicted_joints"] = int(self.num_predicted_joints[j])
            entry.update({f: int(self.mot_counts[j, i]) for i, f in enumerate(ClearMot.FIELDS)})
            per_joint[name] = entry
        counts = dict(self.counts)
        counts["num_gt_joints"] = int(self.num_gt_joints.sum())
        counts["num_predicted_joints"] = int(self.num_predicted_joints.sum())
        counts.update({f: int(self.mot_counts[:, i].sum()) for i, f in enumerate(ClearMot.FIELDS)})
        out = {"mAP": table(self.ap), "MOTA": table(self.mota), "MOTP": table(self.motp),
               "Precision": table(self.precision), "Recall": table(self.recall),
               "per_joint": per_joint, "counts": counts,
               "settings": {"strict_clear_mot": self.strict, "strict_hota": self.strict_hota,
                            "threshold": THRESHOLD}}
        if self.hota is not None:
            out["HOTA"] = {"Total": {k: clean(v) for k, v in self.hota_totals().items()},
                           "per_joint": {name: {k: clean(float(v[j])) for k, v in self.hota.items()}
                                         for j, name in enumerate(JOINT_NAMES)},
                           "alphas": [round(float(a), 2) for a in HOTA_ALPHAS]}
        return out

    def hota_totals(self) -> dict[str, float]:
        """Scores over all joints: HOTA_FIELDS as the PoseTrack21 kit forms its Total (`HotaCounter.totals`),
        IDF1 / IDP / IDR as means of the joints (NaN left out), IDSW summed."""
        if self.hota is None or self.hota_total is None:
            raise HrtrackError("this result was computed without HOTA")
        totals = dict(self.hota_total)
        totals.update({k: _nanmean(self.hota[k]) for k in IDENTITY_FIELDS if k != "IDSW"})
        totals["IDSW"] = float(self.hota["IDSW"].sum())
        return totals

    def tables(self) -> str:
        """poseval's two printed tables: AP per joint group, then MOTA per group with MOTP, precision, recall."""
        ap = column_values(self.ap)
        mota = column_values(self.mota)
        header = "& Head & Shou & Elb  & Wri  & Hip  & Knee & Ankl & Total\\\\"
        mot_header = ("& MOTA & MOTA & MOTA & MOTA & MOTA & MOTA & MOTA & MOTA & MOTP & Prec & Rec  \\\\\n"
                      "& Head & Shou & Elb  & Wri  & Hip  & Knee & Ankl & Total& Total& Total& Total\\\\")
        mot_row = [*mota.values(), _nanmean(self.motp), _nanmean(self.precision), _nanmean(self.recall)]
        lines = ["Average Precision (AP) metric:", header, _row(list(ap.values())),
                 "Multiple Object Tracking (MOT) metrics:", mot_header, _row(mot_row)]
        if self.hota is not None:
            totals = self.hota_totals()
            names = (*HOTA_FIELDS, *IDENTITY_FIELDS)
            lines += ["Keypoint HOTA as the PoseTrack21 kit (Total as the kit forms it), identity metrics:",
                      "&" + " &".join(f"{n:>5}" for n in names) + " \\\\",
                      _row([totals[n] for n in names]),
                      "Keypoint HOTA per joint (the kit's columns):",
                      "&     " + "".join(f"&{n:>5} " for n in (*KIT_JOINT_NAMES, "Total")) + "\\\\"]
            for name in ("HOTA", "DetA", "AssA"):
                values = [*self.hota[name][KIT_JOINTS], totals[name]]
                lines.append(f"&{name:>5}" + _row(values))
        return "\n".join(lines)


# ---------------------------------------------------------------- evaluator

# Most elements (frames x predicted x ground-truth people x joints) matched in one block: memory stays
# bounded on long crowded sequences, and ordinary ones go in one block.
_BLOCK_ELEMENTS = 1 << 20


def _batches(n_gt: np.ndarray, n_pr: np.ndarray) -> list[tuple[int, int]]:
    """Consecutive frame ranges [a, b) whose blocks, padded to their most people, stay under _BLOCK_ELEMENTS."""
    out, a, wide_gt, wide_pr = [], 0, 0, 0
    for i, (g, p) in enumerate(zip(n_gt.tolist(), n_pr.tolist())):
        wide_gt, wide_pr = max(wide_gt, g), max(wide_pr, p)
        if i > a and (i + 1 - a) * max(wide_gt, 1) * max(wide_pr, 1) * NUM_JOINTS > _BLOCK_ELEMENTS:
            out.append((a, i))
            a, wide_gt, wide_pr = i, g, p
    return out + [(a, len(n_gt))]


def _padded_index(bounds: np.ndarray, a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
    """(frame - a, slot) of each row of frames a..b-1 in a block padded to their most people."""
    counts = np.diff(bounds[a:b + 1])
    frame = np.repeat(np.arange(b - a), counts)
    return frame, np.arange(bounds[a], bounds[b]) - np.repeat(bounds[a:b], counts)


def _padded(values: np.ndarray, bounds: np.ndarray, a: int, b: int, fill: Any) -> np.ndarray:
    """The rows of frames a..b-1 as a (b - a, most people, ...) block, `fill` where a frame has fewer."""
    frame, slot = _padded_index(bounds, a, b)
    out = np.full((b - a, int(np.diff(bounds[a:b + 1]).max(initial=0)), *values.shape[1:]), fill, values.dtype)
    out[frame, slot] = values[bounds[a]:bounds[b]]
    return out


class PoseTrackEvaluator:
    """Accumulates sequences (ground truth, prediction) and computes poseval's mAP and MOT metrics.

    Args:
        strict: textbook CLEAR-MOT / AP instead of poseval's quirks (module docstring).
        threshold: PCKh threshold in head sizes (poseval: 0.5).
        hota: also compute keypoint HOTA as the PoseTrack21 kit, IDF1 and ID switches (`HotaCounter`).
        strict_hota: count a frame where one side has no people by its own joints, not the kit's
            whole-sequence count (`HotaCounter`).
    """

    def __init__(self, strict: bool = False, threshold: float = THRESHOLD, hota: bool = False,
                 strict_hota: bool = False) -> None:
        self.strict = strict
        self.strict_hota = strict_hota
        self.threshold = threshold
        self._hota = HotaCounter(NUM_JOINTS, kit_empty_frames=not strict_hota, threshold=threshold) if hota else None
        self._scores: list[np.ndarray] = []
        self._labels: list[np.ndarray] = []
        self._has: list[np.ndarray] = []
        self._num_gt = np.zeros(NUM_JOINTS, np.int64)
        self._mot = np.zeros((NUM_JOINTS, len(ClearMot.FIELDS)), np.int64)
        self._sum_d = np.zeros(NUM_JOINTS, np.float64)
        self._counts = {"sequences": 0, "frames": 0, "scored_frames": 0, "mot_frames": 0}

    def add_sequence(self, gt: PoseTrackSequence, pred: PoseTrackSequence,
                     gt_name: str | None = None, pred_name: str | None = None) -> None:
        """Score one sequence pair; names (file paths) appear in errors."""
        gt_name, pred_name = gt_name or gt.name, pred_name or pred.name
        seq = scored_sequence(gt, pred, gt_name, pred_name)
        if self._hota is not None:
            self._hota.add_sequence(hota_frames(gt, pred, gt_name, pred_name))
        self._counts["sequences"] += 1
        self._counts["frames"] += len(gt.frames)
        self._counts["scored_frames"] += len(seq)
        if not len(seq):
            return
        mot_frames = len(seq) if self.strict else len(seq) - 1
        mot = ClearMot(seq.gt_ids, seq.pr_ids, NUM_JOINTS)
        gs, hs = mot.positions(seq.gt_ids, seq.pr_ids)
        n_gt, n_pr = np.diff(seq.gt_bounds), np.diff(seq.pr_bounds)
        for a, b in _batches(n_gt, n_pr):
            gt_has = _padded(seq.gt_has, seq.gt_bounds, a, b, False)
            dist = joint_distances(_padded(seq.gt_xy, seq.gt_bounds, a, b, 0.0), gt_has,
                                   _padded(seq.head_size, seq.gt_bounds, a, b, 1.0),
                                   _padded(seq.pr_xy, seq.pr_bounds, a, b, 0.0),
                                   _padded(seq.pr_has, seq.pr_bounds, a, b, False))
            hit, _, labels = _assign(dist, gt_has, self.threshold)
            self._labels.append(labels[_padded_index(seq.pr_bounds, a, b)])
            cost = np.where(hit, dist, np.nan).transpose(0, 3, 2, 1)
            for i in range(a, min(b, mot_frames)):
                g = slice(seq.gt_bounds[i], seq.gt_bounds[i + 1])
                p = slice(seq.pr_bounds[i], seq.pr_bounds[i + 1])
                if not self.strict and (n_gt[i] == 0 or n_pr[i] == 0):
                    mot.add_empty_frame_quirk()
                    continue
                mot.update_at(gs[g], seq.gt_has[g], hs[p], seq.pr_has[p], cost[i - a, :, :n_gt[i], :n_pr[i]])
        self._scores.append(seq.pr_scores)
        self._has.append(seq.pr_has)
        self._num_gt += seq.gt_has.sum(0)
        self._counts["mot_frames"] += mot_frames
        self._mot += mot.counts
        self._sum_d += mot.sum_distance

    def result(self) -> PoseTrackResult:
        """Scores over all sequences added so far."""
        has = np.concatenate(self._has) if self._has else np.zeros((0, NUM_JOINTS), bool)
        scores = np.concatenate(self._scores) if self._scores else np.zeros((0, NUM_JOINTS))
        labels = np.concatenate(self._labels) if self._labels else np.zeros((0, NUM_JOINTS), bool)
        ap = np.zeros((3, NUM_JOINTS))
        for j in range(NUM_JOINTS):
            ap[:, j] = average_precision(scores[has[:, j], j], labels[has[:, j], j], self._num_gt[j])
            if self.strict and self._num_gt[j] == 0:
                ap[0, j] = np.nan
        hota = self._hota
        return PoseTrackResult(ap[0], ap[1], ap[2], self._num_gt.copy(), has.sum(0), self._mot.copy(),
                               self._sum_d.copy(), self.strict, dict(self._counts),
                               None if hota is None else hota.per_joint(), None if hota is None else hota.totals(),
                               self.strict_hota)


def sequence_pairs(gt_dir: str | os.PathLike, pred_dir: str | os.PathLike) -> list[tuple[Path, Path]]:
    """(ground-truth file, prediction file) of each ground-truth sequence, paired by name.

    Sequences pair by file name; a ground-truth sequence without a prediction file
    is an error naming it; prediction files of other sequences are ignored.
    """
    gt_files = sequence_files(gt_dir)
    if not gt_files:
        raise HrtrackError(f"no .json files in the ground-truth folder {gt_dir}")
    pred_files = sequence_files(pred_dir)
    missing = [name for name in gt_files if name not in pred_files]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise HrtrackError(f"no prediction for sequence {missing[0]}: {Path(pred_dir) / (missing[0] + '.json')} "
                           f"does not exist{more}")
    return [(Path(gt_path), Path(pred_files[name])) for name, gt_path in gt_files.items()]


def read_pair(gt_path: Path, pred_path: Path) -> tuple[PoseTrackSequence, PoseTrackSequence]:
    """A ground-truth sequence and its predictions; a COCO-like prediction file that could be 2018 or 21 is
    read as its ground truth's format."""
    gt = read_sequence(gt_path)
    return gt, read_sequence(pred_path, "posetrack21" if gt.format == "posetrack21" else "posetrack18")


def evaluate_folders(gt_dir: str | os.PathLike, pred_dir: str | os.PathLike, strict: bool = False,
                     progress: bool = True, hota: bool = False, strict_hota: bool = False) -> PoseTrackResult:
    """Evaluate a folder of per-sequence predictions against a folder of ground truth (2017, 2018 or 21 JSON).

    Sequences pair as `sequence_pairs` pairs them, and read as `read_pair` reads them.
    """
    pairs = sequence_pairs(gt_dir, pred_dir)
    evaluator = PoseTrackEvaluator(strict=strict, hota=hota, strict_hota=strict_hota)
    bar: Any = nullcontext(pairs)
    if progress:
        # Imported only to be shown: tqdm's import costs more than scoring a few sequences.
        from tqdm import tqdm

        bar = tqdm(pairs, desc="evaluate", unit="seq", disable=None, leave=False)
    with bar as items:
        for gt_path, pred_path in items:
            gt, pred = read_pair(gt_path, pred_path)
            evaluator.add_sequence(gt, pred, str(gt_path), str(pred_path))
    return evaluator.result()

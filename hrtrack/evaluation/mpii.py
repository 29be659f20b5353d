"""MPII single-person PCKh, as the official HRNet code computes it.

A joint is correct when its distance to the ground truth is <= threshold x head
size, head size = 0.6 x the head box diagonal. The per-group columns are Head
(head_top), Shoulder, Elbow, Wrist, Hip, Knee, Ankle (left/right averaged); Mean
pools every visible joint except pelvis and thorax, i.e. the joint PCKh values
weighted by their visible counts.

The official code's "Mean@0.1" reads row 11 of its threshold grid
`np.arange(0, 0.51, 0.01)`, which is 0.11: `Mean@0.1` here is at 0.1 and
`Mean@0.1_official` reproduces the published column.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
from scipy.io import loadmat

from ..errors import HrtrackError
from ..skeleton import MPII

SC_BIAS = 0.6
_M = {name: j for j, name in enumerate(MPII.joint_names)}
# Joints left out of the mean, as the official code masks them.
EXCLUDED_FROM_MEAN = (_M["pelvis"], _M["thorax"])
GROUPS = {
    "Head": (_M["head_top"],),
    "Shoulder": (_M["left_shoulder"], _M["right_shoulder"]),
    "Elbow": (_M["left_elbow"], _M["right_elbow"]),
    "Wrist": (_M["left_wrist"], _M["right_wrist"]),
    "Hip": (_M["left_hip"], _M["right_hip"]),
    "Knee": (_M["left_knee"], _M["right_knee"]),
    "Ankle": (_M["left_ankle"], _M["right_ankle"]),
}


def normalised_errors(pred: np.ndarray, gt: np.ndarray, head_boxes: np.ndarray) -> np.ndarray:
    """Joint errors in head sizes.

    Args:
        pred: (N,K,2) predicted x,y; gt: (N,K,2) ground-truth x,y (same pixel convention).
        head_boxes: (N,4) x1,y1,x2,y2 head boxes.

    Returns:
        (N,K) float64 distance / (0.6 x head box diagonal).
    """
    hb = np.asarray(head_boxes, np.float64)
    size = SC_BIAS * np.linalg.norm(hb[:, 2:] - hb[:, :2], axis=1)
    err = np.linalg.norm(np.asarray(pred, np.float64) - np.asarray(gt, np.float64), axis=2)
    return err / size[:, None]


@dataclass(frozen=True)
class PCKhResult:
    """PCKh per MPII joint at 0.5 and 0.1 (x100, NaN where a joint is never visible) and the counts."""

    pckh: np.ndarray
    pckh_at_0_1: np.ndarray
    pckh_at_0_11: np.ndarray
    visible_count: np.ndarray
    hits: np.ndarray
    hits_at_0_1: np.ndarray
    hits_at_0_11: np.ndarray

    def summary(self) -> dict[str, float]:
        """The official table: Head, Shoulder, Elbow, Wrist, Hip, Knee, Ankle, Mean, Mean@0.1 (and the 0.11 one)."""
        out = {name: float(np.mean(self.pckh[list(idx)])) for name, idx in GROUPS.items()}
        used = np.ones(len(self.pckh), bool)
        used[list(EXCLUDED_FROM_MEAN)] = False
        total = self.visible_count[used].sum()
        for key, hits in (("Mean", self.hits), ("Mean@0.1", self.hits_at_0_1),
                          ("Mean@0.1_official", self.hits_at_0_11)):
            out[key] = float(100.0 * hits[used].sum() / total) if total else float("nan")
        return out


def pckh(pred: np.ndarray, gt: np.ndarray, visible: np.ndarray, head_boxes: np.ndarray) -> PCKhResult:
    """PCKh@0.5 and @0.1 of single-person predictions in the MPII layout.

    Args:
        pred: (N,16,2) predicted joints; gt: (N,16,2) ground truth; visible: (N,16) bool
            annotated joints (the official `1 - jnt_missing`); head_boxes: (N,4) x1,y1,x2,y2.
    """
    pred, gt = np.asarray(pred), np.asarray(gt)
    vis = np.asarray(visible, bool)
    if pred.shape != gt.shape or pred.ndim != 3 or pred.shape[1:] != (MPII.num_joints, 2):
        raise HrtrackError(f"pred and gt must both be (N,{MPII.num_joints},2), got {pred.shape} and {gt.shape}")
    if vis.shape != pred.shape[:2] or np.shape(head_boxes) != (len(pred), 4):
        raise HrtrackError(f"visible must be {pred.shape[:2]} and head_boxes ({len(pred)},4)")
    err = normalised_errors(pred, gt, head_boxes)
    count = vis.sum(0)

    def rate(threshold: float) -> tuple[np.ndarray, np.ndarray]:
        hits = ((err <= threshold) & vis).sum(0)
        with np.errstate(divide="ignore", invalid="ignore"):
            return 100.0 * hits / count, hits

    (p5, h5), (p1, h1), (p11, h11) = rate(0.5), rate(0.1), rate(0.11)
    return PCKhResult(p5, p1, p11, count, h5, h1, h11)


def load_mpii_gt_mat(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Read the official `gt_valid.mat`: joints (N,16,2) 0-based x,y, visible (N,16), head boxes (N,4).

    The file holds MATLAB 1-based coordinates (`pos_gt_src` (16,2,N)); one is
    subtracted so they compare with 0-based predictions, as the official code
    adds one to its predictions instead.
    """
    try:
        mat = loadmat(str(path))
    except FileNotFoundError:
        raise HrtrackError(f"file not found: {path}") from None
    except (ValueError, TypeError, OSError) as exc:
        raise HrtrackError(f"{path} is not a readable .mat file: {exc}") from None
    for key in ("pos_gt_src", "jnt_missing", "headboxes_src"):
        if key not in mat:
            raise HrtrackError(f"{path}: no '{key}' (not an MPII gt_valid.mat)")
    joints = np.transpose(mat["pos_gt_src"], (2, 0, 1)).astype(np.float64) - 1.0
    visible = np.transpose(mat["jnt_missing"], (1, 0)) == 0
    heads = np.transpose(mat["headboxes_src"], (2, 0, 1)).reshape(-1, 4).astype(np.float64) - 1.0
    if joints.shape[1:] != (MPII.num_joints, 2) or visible.shape != joints.shape[:2] or len(heads) != len(joints):
        raise HrtrackError(f"{path}: unexpected shapes pos_gt_src {mat['pos_gt_src'].shape}, "
                           f"jnt_missing {mat['jnt_missing'].shape}, headboxes_src {mat['headboxes_src'].shape}")
    return joints, visible, heads

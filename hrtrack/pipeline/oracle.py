"""A ground-truth stand-in for the pose estimator, to measure what every other stage costs.

`OracleEstimator` takes the estimator's place in `FlowTrackPipeline` on synthetic
clips, whose true poses are known: each box it is given receives the true pose of
the person the box overlaps most (largest IoU with the person's box), optionally
with Gaussian noise on every joint. Fed ground-truth boxes, it measures the
tracker alone; fed the detections and propagated boxes, the detection, propagation
and NMS stages with a perfect estimator. Its output has the estimator's contract:
labelled joints score 1, unlabelled ones 0, person score = box score x mean of the
joint scores above `in_vis_thre`, and the box each pose was estimated from is the
padded crop window of a `crop_aspect` network input.
"""

from __future__ import annotations

import numpy as np
import torch
from torchvision.ops import box_iou

from ..errors import HrtrackError
from ..geometry import PIXEL_STD, boxes_to_center_scale
from ..skeleton import Layout
from ..structures import Poses
from ..timing import StageTimer
from ..tracking.oks import person_scores


class OracleEstimator:
    """The true pose of the best-overlapping person for every box (see the module docstring).

    Call `set_truth` with the frame's true people before the pipeline processes the frame.

    Args:
        layout: joint layout of the truth and of the output.
        noise_sigma: standard deviation in pixels of the Gaussian noise added to each joint coordinate.
        rng: generator of that noise.
        crop_aspect: width / height of the crop window reported as each pose's box (HRNet: 0.75).
        in_vis_thre: joint score above which a joint counts in the person score.
    """

    def __init__(self, layout: Layout, *, noise_sigma: float = 0.0, rng: np.random.Generator | None = None,
                 crop_aspect: float = 0.75, in_vis_thre: float = 0.2):
        if not np.isfinite(noise_sigma) or noise_sigma < 0:
            raise HrtrackError(f"noise_sigma must be a finite number >= 0, got {noise_sigma!r}")
        self.layout = layout
        self.noise_sigma = float(noise_sigma)
        self.rng = rng if rng is not None else np.random.default_rng(0)
        self.crop_aspect = crop_aspect
        self.in_vis_thre = in_vis_thre
        self._keypoints = np.zeros((0, layout.num_joints, 2), np.float32)
        self._labelled = np.zeros((0, layout.num_joints), bool)
        self._boxes = np.zeros((0, 4), np.float32)

    def set_truth(self, keypoints: np.ndarray, labelled: np.ndarray, boxes: np.ndarray) -> None:
        """The frame's G people: joints (G,K,2), labelled flags (G,K), person boxes (G,4) x1,y1,x2,y2."""
        k = self.layout.num_joints
        kp = np.asarray(keypoints, np.float32).reshape(-1, k, 2)
        g = len(kp)
        self._keypoints = kp
        self._labelled = np.asarray(labelled, bool).reshape(g, k)
        self._boxes = np.asarray(boxes, np.float32).reshape(g, 4)

    def __call__(self, frame_bgr: np.ndarray, boxes_xyxy: np.ndarray, box_scores: np.ndarray | None = None,
                 timer: StageTimer | None = None) -> Poses:
        """One pose per box, like `PoseEstimator.__call__`; boxes overlapping nobody get all-zero joint scores."""
        k = self.layout.num_joints
        boxes = np.asarray(boxes_xyxy, np.float32).reshape(-1, 4)
        n = len(boxes)
        scores = np.ones(n, np.float32) if box_scores is None else np.asarray(box_scores, np.float32)
        if n == 0:
            return Poses.empty(k)
        keypoints = np.zeros((n, k, 2), np.float32)
        joint_scores = np.zeros((n, k), np.float32)
        if len(self._boxes):
            iou = box_iou(torch.from_numpy(boxes), torch.from_numpy(self._boxes)).numpy()
            best = iou.argmax(axis=1)
            covers = iou[np.arange(n), best] > 0
            keypoints[covers] = self._keypoints[best[covers]]
            joint_scores[covers] = self._labelled[best[covers]]
            if self.noise_sigma > 0:
                keypoints += self.rng.normal(0.0, self.noise_sigma, keypoints.shape).astype(np.float32)
        c, s = boxes_to_center_scale(np.concatenate([boxes[:, :2], np.maximum(boxes[:, 2:], boxes[:, :2] + 1)], 1),
                                     self.crop_aspect)
        half = s * (PIXEL_STD / 2)
        windows = np.concatenate([c - half, c + half], axis=1).astype(np.float32)
        person = person_scores(scores, joint_scores, self.in_vis_thre).astype(np.float32)
        return Poses(keypoints, joint_scores, person, windows)

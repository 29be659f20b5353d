"""The per-frame algorithm of FlowTrack, as the paper states it (section 4.3).

For frame t: flow from t-1 -> move the poses of t-1 by it -> their extended boxes
join the frame's detections -> box NMS -> HRNet on every kept box (one batch) ->
OKS-NMS -> flow-OKS association with the tracks -> tracked poses of frame t.
"""

from __future__ import annotations

import math
import time
from typing import Callable

import numpy as np

from ..errors import HrtrackError
from ..models.estimator import PoseEstimator
from ..structures import Boxes, Poses
from ..timing import StageTimer
from ..tracking.camera_motion import camera_shift
from ..tracking.nms import box_nms, merge_boxes
from ..tracking.oks import oks_nms
from ..tracking.propagate import propagate_boxes, warp_poses
from ..tracking.tracker import FlowTracker

FlowFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


def check_number(name: str, value: float, low: float = -math.inf, high: float = math.inf) -> None:
    """HrtrackError unless `value` is a finite number with `low <= value <= high`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not low <= value <= high:
        bounds = f" in [{low:g}, {high:g}]" if math.isfinite(high) else (f" >= {low:g}" if math.isfinite(low) else "")
        raise HrtrackError(f"{name} must be a finite number{bounds}, got {value!r}")


class FlowTrackPipeline:
    """Frames + detections in, tracked poses out; one instance per video at a time.

    The pipeline owns the state that crosses frames: the previous frame and its
    tracked poses. Each frame it warps those poses by the flow once and hands the
    moved poses to both box propagation and association. After each frame,
    `camera_shift` is the camera's image translation from the previous frame
    (the flow's median; zero without flow), for smoothing relative to the camera.

    Args:
        estimator: the batched HRNet estimator.
        tracker: the association stage (owns track ids).
        flow: optical flow backend, or None to run without flow (no propagation,
            association on unmoved poses).
        propagate: add flow-propagated boxes of the previous poses to the detections.
        extension: box extension of propagated boxes (fraction per side).
        propagation_min_joint_score: joints scoring at or below this do not define a propagated box.
        nms_iou: IoU threshold of the box NMS merging detections and candidates.
        oks_nms_threshold: OKS above which duplicate poses are suppressed (None: off).
        person_threshold: poses scoring below this are dropped (and not propagated).
        use_flow_in_association: move track poses by flow before computing similarity.
    """

    def __init__(self, *, estimator: PoseEstimator, tracker: FlowTracker, flow: FlowFn | None,
                 propagate: bool = True, extension: float = 0.15, propagation_min_joint_score: float = 0.2,
                 nms_iou: float = 0.5, oks_nms_threshold: float | None = 0.9, person_threshold: float = 0.0,
                 use_flow_in_association: bool = True):
        if propagate and flow is None:
            raise HrtrackError("box propagation needs a flow backend: give one, or set propagate=False")
        # These come from config files: a NaN or out-of-range value would silently change every result.
        check_number("propagation extension", extension, low=0.0)
        check_number("propagation min_joint_score", propagation_min_joint_score)
        check_number("propagation nms_iou", nms_iou, low=0.0, high=1.0)
        if oks_nms_threshold is not None:
            check_number("estimator oks_nms_threshold", oks_nms_threshold, low=0.0, high=1.0)
        check_number("output person_threshold", person_threshold)
        self.estimator = estimator
        self.tracker = tracker
        self.flow = flow
        self.propagate = propagate
        self.extension = extension
        self.propagation_min_joint_score = propagation_min_joint_score
        self.nms_iou = nms_iou
        self.oks_nms_threshold = oks_nms_threshold
        self.person_threshold = person_threshold
        self.use_flow_in_association = use_flow_in_association
        self.sigmas = estimator.layout.sigmas
        self.reset()

    def reset(self) -> None:
        """Start a new video: forget the previous frame, its poses and all tracks."""
        self.tracker.reset()
        self._prev_frame: np.ndarray | None = None
        self._prev_poses = Poses.empty(self.estimator.layout.num_joints)
        self.camera_shift = np.zeros(2)

    def __call__(self, frame_bgr: np.ndarray, detections: Boxes, timer: StageTimer | None = None) -> Poses:
        """Tracked poses of one frame (frames must come in order); stage times go to `timer`."""
        timer = timer if timer is not None else StageTimer()
        t = time.perf_counter()
        flow = None
        if self.flow is not None and self._prev_frame is not None:
            flow = self.flow(self._prev_frame, frame_bgr)
            self.camera_shift = camera_shift(flow)
            t = timer.add("flow", t)
        previous = self._prev_poses
        moved = warp_poses(previous, flow) if flow is not None else previous
        boxes = detections
        if self.propagate and flow is not None and len(moved):
            h, w = frame_bgr.shape[:2]
            candidates = propagate_boxes(moved, self.propagation_min_joint_score, self.extension, image_size=(w, h))
            boxes = merge_boxes(detections, candidates, self.nms_iou)
        elif len(detections):
            boxes = detections.take(box_nms(detections.boxes, detections.scores, self.nms_iou))
        timer.add("propagate+nms", t)
        poses = self.estimator(frame_bgr, boxes.boxes, boxes.scores, timer=timer)
        t = time.perf_counter()
        if len(poses):
            poses = poses.take(poses.scores >= self.person_threshold)
        if self.oks_nms_threshold is not None and len(poses) > 1:
            wh = poses.boxes[:, 2:] - poses.boxes[:, :2]
            keep = oks_nms(poses.keypoints, poses.keypoint_scores, poses.scores, wh[:, 0] * wh[:, 1],
                           self.oks_nms_threshold, self.sigmas, in_vis_thre=0.2)
            poses = poses.take(np.sort(keep))
        t = timer.add("oks-nms", t)
        if self.use_flow_in_association:
            tracked = self.tracker(poses, moved, flow, frame=frame_bgr)
        else:
            tracked = self.tracker(poses, previous, None, frame=frame_bgr)
        timer.add("associate", t)
        timer.frames += 1
        self._prev_frame = frame_bgr
        self._prev_poses = tracked
        return tracked

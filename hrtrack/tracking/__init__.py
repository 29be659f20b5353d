"""Tracking stages: OKS, NMS, flow propagation of poses, similarity, matching, track state."""

from .matching import MATCHERS, greedy_match, hungarian_match
from .nms import box_nms, extend_boxes, merge_boxes
from .oks import oks, oks_nms
from .propagate import joint_boxes, propagate_boxes, sample_flow, warp_poses
from .similarity import SIMILARITIES, box_iou_similarity, flow_oks_similarity
from .tracker import FlowTracker, output_joint_mask

__all__ = [
    "MATCHERS", "SIMILARITIES", "FlowTracker", "box_iou_similarity", "box_nms", "extend_boxes",
    "flow_oks_similarity", "greedy_match", "hungarian_match", "joint_boxes", "merge_boxes", "oks",
    "oks_nms", "output_joint_mask", "propagate_boxes", "sample_flow", "warp_poses",
]

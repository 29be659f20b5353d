"""Tracking stages: OKS and OKS-NMS, box NMS, flow propagation of poses, similarity, matching, track state."""

from ..geometry import extend_boxes, joint_boxes
from .matching import MATCHERS, greedy_match, hungarian_match
from .nms import box_nms, merge_boxes
from .oks import oks, oks_nms
from .propagate import propagate_boxes, sample_flow, warp_poses
from .similarity import SIMILARITIES, box_iou_similarity, flow_oks_similarity
from .tracker import FlowTracker

__all__ = [
    "MATCHERS", "SIMILARITIES", "FlowTracker", "box_iou_similarity", "box_nms", "extend_boxes",
    "flow_oks_similarity", "greedy_match", "hungarian_match", "joint_boxes", "merge_boxes", "oks",
    "oks_nms", "propagate_boxes", "sample_flow", "warp_poses",
]

"""The synthetic test bed: PoseTrack-like videos of moving human figures with exact ground truth.

script (what defines a clip, drawn from a seed) -> body, motion, scene, figures
(what is painted) -> video (frames and ground truth, streamed) -> dataset (the
files of a PoseTrack-like release, plus COCO, MPII and detection files).
"""

from .dataset import SPLIT_BASE, DatasetSummary, describe, generate_dataset, simulate_detections
from .script import VideoScript, labeled_frames, sample_script
from .video import SyntheticFrame, SyntheticVideo

__all__ = ["DatasetSummary", "SPLIT_BASE", "SyntheticFrame", "SyntheticVideo", "VideoScript", "describe",
           "generate_dataset", "labeled_frames", "sample_script", "simulate_detections"]

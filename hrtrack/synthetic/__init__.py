"""The synthetic test bed: PoseTrack-like videos of moving human figures with exact ground truth.

script (what defines a clip, drawn from a seed) -> body, motion, scene, figures
(what is painted) -> video (frames and ground truth, streamed) -> dataset (the
files of a PoseTrack-like release, plus COCO, MPII and detection files).
difficulty (the axes that make clips and detections harder, and named presets)
-> script, with events (occlusion and re-entry of one person for N frames).
"""

from .dataset import SPLIT_BASE, DatasetSummary, SimulatedDetector, describe, generate_dataset, simulate_detections
from .difficulty import DIFFICULTY_PRESETS, Difficulty
from .script import VideoScript, labeled_frames, sample_script
from .video import SyntheticFrame, SyntheticVideo

__all__ = ["DIFFICULTY_PRESETS", "DatasetSummary", "Difficulty", "SPLIT_BASE", "SimulatedDetector", "SyntheticFrame",
           "SyntheticVideo", "VideoScript", "describe", "generate_dataset", "labeled_frames", "sample_script",
           "simulate_detections"]

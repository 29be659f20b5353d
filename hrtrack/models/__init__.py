"""Models: HRNet, the pose estimator, checkpoints (and the detector and flow backends)."""

from .checkpoint import load_pose_weights, read_state_dict
from .codec import HeatmapCodec
from .detector import PersonDetector, PrecomputedDetections
from .estimator import PoseEstimator, person_scores
from .factory import ModelConfig, build_pose_model, load_model_config
from .fast import fold_batchnorm, resolve_device
from .flow import build_flow
from .hrnet import HRNET_SPECS, HRNetSpec, PoseHighResolutionNet, hrnet

__all__ = [
    "HRNET_SPECS", "HRNetSpec", "HeatmapCodec", "ModelConfig", "PersonDetector", "PoseEstimator",
    "PoseHighResolutionNet", "PrecomputedDetections", "build_flow", "build_pose_model", "fold_batchnorm", "hrnet", "load_model_config", "load_pose_weights",
    "person_scores", "read_state_dict", "resolve_device",
]

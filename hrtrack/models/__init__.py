"""Models: HRNet, the pose estimator, checkpoints (and the detector and flow backends)."""

from .checkpoint import load_pose_weights, read_state_dict
from .codec import HeatmapCodec
from .estimator import PoseEstimator, person_scores
from .factory import ModelConfig, build_pose_model, load_model_config
from .fast import fold_batchnorm, resolve_device
from .hrnet import HRNET_SPECS, HRNetSpec, PoseHighResolutionNet, hrnet

__all__ = [
    "HRNET_SPECS", "HRNetSpec", "HeatmapCodec", "ModelConfig", "PoseEstimator", "PoseHighResolutionNet",
    "build_pose_model", "fold_batchnorm", "hrnet", "load_model_config", "load_pose_weights",
    "person_scores", "read_state_dict", "resolve_device",
]

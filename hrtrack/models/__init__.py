"""Networks and their loading: HRNet, the pose estimator, checkpoints, the detector network, flow backends."""

from .checkpoint import load_pose_weights, read_state_dict
from .codec import HeatmapCodec
from .detector import PersonDetector
from .estimator import PoseEstimator
from .factory import ModelConfig, build_pose_model, load_model_config
from .flow import build_flow
from .fold import fold_batchnorm
from .hrnet import HRNET_SPECS, HRNetSpec, PoseHighResolutionNet

__all__ = [
    "HRNET_SPECS", "HRNetSpec", "HeatmapCodec", "ModelConfig", "PersonDetector", "PoseEstimator",
    "PoseHighResolutionNet", "build_flow", "build_pose_model", "fold_batchnorm", "load_model_config",
    "load_pose_weights", "read_state_dict",
]

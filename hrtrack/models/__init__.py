"""Networks and their loading: HRNet, the pose estimator and its engines, ONNX export, checkpoints, the detector
network, flow backends."""

from .checkpoint import load_pose_weights, read_state_dict
from .codec import HeatmapCodec
from .detector import PersonDetector
from .engines import ENGINES, Engine, build_engine
from .estimator import PoseEstimator
from .export import export_onnx, export_pose_model, onnx_metadata
from .factory import ModelConfig, build_pose_model, load_model_config
from .flow import build_flow
from .fold import fold_batchnorm
from .hrnet import HRNET_SPECS, HRNetSpec, PoseHighResolutionNet

__all__ = [
    "ENGINES", "Engine", "HRNET_SPECS", "HRNetSpec", "HeatmapCodec", "ModelConfig", "PersonDetector",
    "PoseEstimator", "PoseHighResolutionNet", "build_engine", "build_flow", "build_pose_model", "export_onnx",
    "export_pose_model", "fold_batchnorm", "load_model_config", "load_pose_weights", "onnx_metadata",
    "read_state_dict",
]

"""Training HRNet: the heatmap loss, the train/validate engine (DDP, AMP), checkpoints, typed configs."""

from .state import load_training_state, save_model_weights, save_training_state
from .config import DataConfig, TestConfig, TrainConfig, TrainSection, load_train_config, model_config_of
from .engine import Trainer, predict_keypoints, setup_distributed
from .loss import JointsMSELoss, joints_mse_loss

__all__ = [
    "DataConfig", "JointsMSELoss", "TestConfig", "TrainConfig", "TrainSection", "Trainer", "joints_mse_loss",
    "load_train_config", "load_training_state", "model_config_of", "predict_keypoints", "save_model_weights",
    "save_training_state", "setup_distributed",
]

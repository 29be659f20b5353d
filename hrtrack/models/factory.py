"""Model configs (configs/models/*.yaml) and the `build_pose_model` factory."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from torch import nn

from ..config import load_config
from ..errors import HrtrackError
from ..skeleton import Layout, get_layout
from .codec import HEATMAP_STRIDE, HeatmapCodec
from .hrnet import HRNetSpec, PoseHighResolutionNet


@dataclass(frozen=True)
class ModelConfig:
    """An HRNet pose model: architecture, joints, input/heatmap geometry.

    The architecture fields default to the paper's stage table; small test and demo
    models shrink them. `dark` and `udp` select the codec's sub-pixel options
    (`HeatmapCodec`); both off is the official codec, which official checkpoints need
    for their published numbers.
    """

    width: int
    num_joints: int = 17
    layout: str = "coco"
    input_size: tuple[int, int] = (192, 256)
    heatmap_size: tuple[int, int] = (48, 64)
    sigma: float = 2.0
    stage_modules: tuple[int, int, int] = (1, 4, 3)
    blocks_per_branch: int = 4
    stage1_blocks: int = 4
    stem_channels: int = 64
    dark: bool = False
    udp: bool = False

    def __post_init__(self) -> None:
        if self.width <= 0 or self.num_joints <= 0:
            raise HrtrackError(f"model width and num_joints must be positive, got {self.width}, {self.num_joints}")
        w, h = self.input_size
        if (w, h) != (self.heatmap_size[0] * HEATMAP_STRIDE, self.heatmap_size[1] * HEATMAP_STRIDE):
            raise HrtrackError(f"heatmap_size {self.heatmap_size} must be input_size {self.input_size} "
                               f"/ {HEATMAP_STRIDE}")
        if w % 32 or h % 32:
            raise HrtrackError(f"input_size {self.input_size} must be multiples of 32 (four stride-2 branches)")
        get_layout(self.layout)

    @property
    def spec(self) -> HRNetSpec:
        return HRNetSpec(width=self.width, stage_modules=self.stage_modules,
                         blocks_per_branch=self.blocks_per_branch, stage1_blocks=self.stage1_blocks,
                         stem_channels=self.stem_channels)

    @property
    def joint_layout(self) -> Layout:
        return get_layout(self.layout)

    @property
    def codec(self) -> HeatmapCodec:
        return HeatmapCodec(self.input_size, self.heatmap_size, self.sigma, dark=self.dark, udp=self.udp)


def load_model_config(name_or_path: str | Path | ModelConfig, overrides=()) -> ModelConfig:
    """A `ModelConfig` from a name in configs/models/ ("w48_384x288"), a YAML path, or as given."""
    if isinstance(name_or_path, ModelConfig):
        return name_or_path
    return load_config(ModelConfig, name_or_path, "models", overrides)


def build_pose_model(name_or_path: str | Path | ModelConfig, num_joints: int | None = None) -> nn.Module:
    """The bare HRNet of a model config, with the official parameter names.

    `forward(x)` maps a normalised RGB batch (B,3,H,W) to heatmaps (B,K,H/4,W/4).
    `num_joints` overrides the config's joint count (e.g. 15 or 17 for PoseTrack).
    """
    cfg = load_model_config(name_or_path)
    if num_joints is not None:
        cfg = replace(cfg, num_joints=num_joints)
    return PoseHighResolutionNet(cfg.spec, cfg.num_joints)

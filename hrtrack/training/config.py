"""Typed training configs (configs/train/*.yaml, configs/synthetic/*.yaml).

A train config names its model (a configs/models/ name, a YAML path, or the
ModelConfig fields inline), its data (format, root, splits), the optimisation
and augmentation settings, and the test-time settings. Defaults are the official
COCO recipe (paper §4.1 and the official code): Adam lr 1e-3 without weight
decay, x0.1 at epochs 170 and 200, 210 epochs, scale 0.35, rotation 45,
half-body 0.3, flip.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Literal

from ..config import CONFIG_ROOT, from_dict, merge, parse_overrides, read_yaml
from ..errors import HrtrackError
from ..models.factory import ModelConfig, load_model_config


@dataclass(frozen=True)
class StreamConfig:
    """The streamed synthetic source (`data.format: synthetic`, `hrtrack.datasets.synthetic_stream`).

    frame_size, people, clip_frames: the clips, as `hrtrack synth --size --people
    --frames` makes them. Each step's batch takes `crops_per_frame` people from each
    of batch_size / crops_per_frame frames of as many clips; a clip serves
    `clip_reuse` steps, never two consecutive ones. box_jitter: tracker-like box
    noise (fraction of the box size per side). supervise_hidden: teach hidden joints
    as absent. jpeg_quality: the JPEG round trip of every frame (0: none).
    """

    frame_size: tuple[int, int] = (640, 360)
    people: tuple[int, int] = (2, 5)
    clip_frames: int = 40
    crops_per_frame: int = 4
    clip_reuse: int = 8
    box_jitter: float = 0.05
    supervise_hidden: bool = True
    jpeg_quality: int = 90


@dataclass(frozen=True)
class DataConfig:
    """Where the samples come from.

    format: coco, mpii, posetrack or synthetic; auto follows the model's joint layout
    (coco -> coco, mpii -> mpii, posetrack -> posetrack). root: the dataset root
    (the `--data` argument replaces it). Splits name annotation files / folders.
    synthetic streams freshly rendered people (`stream`; training length in
    `train.steps`) and needs a root only to validate on (its PoseTrack `val_split`).
    """

    format: Literal["auto", "coco", "mpii", "posetrack", "synthetic"] = "auto"
    root: str = ""
    train_split: str = "train"
    val_split: str = "val"
    stream: StreamConfig = field(default_factory=StreamConfig)


@dataclass(frozen=True)
class TrainSection:
    """Optimisation, schedule, augmentation and runtime settings of training.

    batch_size is per process (per GPU under torchrun). amp: bf16 or fp16 autocast
    on CUDA (fp16 with a gradient scaler); bf16 also on CPUs with native bf16
    (AVX512-BF16, AMX), where a small network's step is 1.4-1.7x faster, but the synthetic
    model trained so ends 6 mAP lower at equal steps (docs/training.md). init: weights to start
    from (official, MMPose or hrtrack file, or an ImageNet HRNet backbone); `--init` replaces it.
    val_every: validate every N epochs (and always after the last).
    schedule: multistep (x factor at each milestone epoch, the official recipes) or
    cosine (per step, after `warmup_steps` of linear warm-up, down to 0).
    steps: the training length of a streamed source (`data.format: synthetic`), whose
    `epochs` are then checkpoint and validation periods of steps / epochs steps.
    channels_last: NHWC activations (faster on the CPU for small networks).
    weight_init: how a network trained from scratch starts: official (every conv
    N(0, 0.001), as the official code) or kaiming (He-normal convs, the heatmap
    layer still N(0, 0.001)), which learns faster in short runs (docs/training.md).
    """

    lr: float = 1e-3
    milestones: tuple[int, ...] = (170, 200)
    factor: float = 0.1
    epochs: int = 210
    batch_size: int = 32
    workers: int = 4
    seed: int = 0
    scale_factor: float = 0.35
    rotation_factor: float = 45.0
    rotation_prob: float = 0.6
    flip: bool = True
    half_body_prob: float = 0.3
    half_body_min_joints: int = 8
    amp: Literal["none", "bf16", "fp16"] = "none"
    sync_bn: bool = False
    init: str = ""
    val_every: int = 1
    schedule: Literal["multistep", "cosine"] = "multistep"
    warmup_steps: int = 0
    steps: int = 0
    channels_last: bool = False
    weight_init: Literal["official", "kaiming"] = "official"

    def __post_init__(self) -> None:
        if self.lr <= 0 or self.epochs < 1 or self.batch_size < 1 or self.workers < 0 or self.val_every < 1:
            raise HrtrackError(f"train: lr, epochs, batch_size and val_every must be positive and workers >= 0; "
                               f"got lr={self.lr}, epochs={self.epochs}, batch_size={self.batch_size}, "
                               f"workers={self.workers}, val_every={self.val_every}")
        if list(self.milestones) != sorted(self.milestones):
            raise HrtrackError(f"train.milestones must increase, got {list(self.milestones)}")
        if self.steps < 0 or self.warmup_steps < 0:
            raise HrtrackError(f"train.steps and train.warmup_steps must be >= 0, got {self.steps} and "
                               f"{self.warmup_steps}")


@dataclass(frozen=True)
class TestConfig:
    """Validation / `hrtrack test` settings.

    use_gt_boxes false takes person boxes from `detections` (a COCO detection
    file; COCO data only; a relative path not found from the working folder is
    taken relative to the dataset root) with scores >= min_detection_score. in_vis_thre and
    oks_nms_threshold: the official COCO rescoring and OKS-NMS settings.
    """

    flip_test: bool = True
    use_gt_boxes: bool = True
    detections: str = ""
    min_detection_score: float = 0.0
    batch_size: int = 32
    in_vis_thre: float = 0.2
    oks_nms_threshold: float = 0.9


@dataclass(frozen=True)
class TrainConfig:
    """A whole training / testing experiment."""

    model: ModelConfig | str
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainSection = field(default_factory=TrainSection)
    test: TestConfig = field(default_factory=TestConfig)


def resolve_train_config_path(name_or_path: str | Path) -> Path:
    """A YAML path as given, a name in configs/train/ ("coco_w32_256x192"), or a path under configs/ ("synthetic/tiny")."""
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml"):
        if not p.is_file():
            raise HrtrackError(f"config file not found: {p}")
        return p
    for candidate in (CONFIG_ROOT / "train" / f"{name_or_path}.yaml", CONFIG_ROOT / f"{name_or_path}.yaml"):
        if candidate.is_file():
            return candidate
    known = sorted(q.stem for q in (CONFIG_ROOT / "train").glob("*.yaml"))
    raise HrtrackError(f"unknown train config {str(name_or_path)!r}; known in configs/train/: {', '.join(known)} "
                       f"(or a path such as configs/synthetic/tiny.yaml)")


def load_train_config(name_or_path: str | Path, overrides: Iterable[str] = ()) -> TrainConfig:
    """Read a train config, apply `--set` overrides (e.g. "train.epochs=2"), type-check it."""
    path = resolve_train_config_path(name_or_path)
    data = merge(read_yaml(path), parse_overrides(overrides))
    return from_dict(TrainConfig, data)


def model_config_of(cfg: TrainConfig) -> ModelConfig:
    """The `ModelConfig` a train config names or holds inline."""
    return load_model_config(cfg.model)

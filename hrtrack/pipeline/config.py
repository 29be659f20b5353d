"""The pipeline's typed config (configs/pipeline/*.yaml), read once at the CLI edge."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class DetectorConfig:
    """Faster R-CNN person detector (ignored when a detection file is given)."""

    model: str = "fasterrcnn_resnet50_fpn"
    score_threshold: float = 0.5
    max_detections: int = 100
    batch: int = 4


@dataclass(frozen=True)
class FlowConfig:
    """Optical flow between consecutive frames: "dis", "farneback" or a ptlflow model name."""

    method: str = "dis"
    preset: str = "medium"
    scale: float = 1.0


@dataclass(frozen=True)
class PropagationConfig:
    """FlowTrack's box propagation: previous poses moved by flow become candidate boxes."""

    enabled: bool = True
    extension: float = 0.15
    min_joint_score: float = 0.2
    nms_iou: float = 0.5


@dataclass(frozen=True)
class EstimatorConfig:
    """HRNet pose estimator: a configs/models name or YAML path, the engine that runs it
    ("auto": the fastest installed on the CPU, torch on CUDA; "torch", "onnxruntime",
    "openvino"), and test-time options."""

    model: str = "w32_256x192"
    engine: str = "auto"
    flip_test: bool = True
    precision: str = "auto"
    max_batch: int = 64
    oks_nms_threshold: float = 0.9


@dataclass(frozen=True)
class TrackingConfig:
    """Association: similarity name, matcher name, threshold, Q frames, max age."""

    similarity: str = "oks"
    matcher: str = "greedy"
    threshold: float = 0.3
    q_frames: int = 1
    max_age: int = 1
    use_flow: bool = True


@dataclass(frozen=True)
class OutputConfig:
    """What is emitted: only joints scoring above `joint_threshold`, and only people scoring at
    least `person_threshold` (MOTA counts every emitted joint)."""

    joint_threshold: float = 0.4
    person_threshold: float = 0.1


@dataclass(frozen=True)
class PipelineConfig:
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    flow: FlowConfig = field(default_factory=FlowConfig)
    propagation: PropagationConfig = field(default_factory=PropagationConfig)
    estimator: EstimatorConfig = field(default_factory=EstimatorConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    output: OutputConfig = field(default_factory=OutputConfig)

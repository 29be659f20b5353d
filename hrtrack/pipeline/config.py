"""The pipeline's typed config (configs/pipeline/*.yaml), read once at the CLI edge."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class DetectorConfig:
    """The person detector: a torchvision detector (`hrtrack.models.detector.DETECTOR_ARCHS`) or, when a
    detection file is given, that file.

    `min_size` / `max_size` are the input-size policy passed to torchvision's
    transform (null: the detector's own; docs/deployment.md gives the speed and
    recall trade-off). `every` K runs the detector on every K-th frame only (1:
    every frame), flow propagation carrying the boxes in between; `adaptive` also
    runs it on the frame after one where tracking lost a person (docs/deployment.md).
    `engine` runs the backbone: "torch", or "onnxruntime" / "openvino" on the CPU.
    """

    model: str = "fasterrcnn_resnet50_fpn"
    score_threshold: float = 0.5
    max_detections: int = 100
    batch: int = 4
    min_size: int | None = None
    max_size: int | None = None
    every: int = 1
    adaptive: bool = False
    engine: str = "torch"


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
    """Association: similarity name, matcher name, threshold, Q frames, max age.

    Re-identification (off by default; docs/tracking.md): with `reid`, a lost
    track stays dormant for `reid_seconds` and a person who would start a new
    track takes its id back when their appearance similarity exceeds
    `reid_threshold` (0..1) and they are within one person size plus `reid_gate`
    sizes per second of absence of where it was last seen.
    """

    similarity: str = "oks"
    matcher: str = "greedy"
    threshold: float = 0.3
    q_frames: int = 1
    max_age: int = 1
    use_flow: bool = True
    reid: bool = False
    reid_seconds: float = 1.0
    reid_threshold: float = 0.4
    reid_gate: float = 1.0


@dataclass(frozen=True)
class OutputConfig:
    """What is emitted: only joints scoring above `joint_threshold`, and only people scoring at
    least `person_threshold` (MOTA counts every emitted joint)."""

    joint_threshold: float = 0.4
    person_threshold: float = 0.1


@dataclass(frozen=True)
class PostprocessConfig:
    """Post-processing of the tracked poses before they are written; all off by default (docs/tracking.md).

    Files and folders: gaps of up to `interpolate_gap` frames inside a track are
    filled (scores times `interpolate_decay` per frame from the nearer end), and
    `smoother` "savgol" smooths joints over `window` frames (odd) with a
    confidence-weighted polynomial of `order`, both seeing the future (output lags
    by interpolate_gap + window // 2 frames); "one_euro" runs the online One Euro
    filter (`min_cutoff` Hz, `beta` per px/s, `d_cutoff` Hz). With `stabilise`, "savgol"
    smooths relative to the camera's motion (the flow's median), which it keeps. Live sources
    (camera, stream) get the One Euro filter whenever `smoother` is not "none", and no gap filling.
    """

    interpolate_gap: int = 0
    interpolate_decay: float = 0.9
    smoother: str = "none"
    window: int = 9
    order: int = 2
    stabilise: bool = False
    min_cutoff: float = 1.0
    beta: float = 0.007
    d_cutoff: float = 1.0


@dataclass(frozen=True)
class PipelineConfig:
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    flow: FlowConfig = field(default_factory=FlowConfig)
    propagation: PropagationConfig = field(default_factory=PropagationConfig)
    estimator: EstimatorConfig = field(default_factory=EstimatorConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    postprocess: PostprocessConfig = field(default_factory=PostprocessConfig)

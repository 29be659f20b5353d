"""The configuration edge: a `PipelineConfig` and file paths become pipeline objects."""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ..errors import HrtrackError
from ..models import PoseEstimator, build_pose_model, load_model_config, load_pose_weights
from ..formats.detections import PrecomputedDetections, read_coco_detections
from ..models.detector import PersonDetector, check_detector
from ..models.detector_engines import check_detector_engine
from ..models.factory import ModelConfig
from ..models.flow import build_flow
from ..skeleton import Layout
from ..structures import Boxes
from ..tracking.appearance import PartColours
from ..tracking.reid import ReIdentifier
from ..tracking.smoothing import check_one_euro
from ..tracking.tracker import FlowTracker
from .config import PipelineConfig, PostprocessConfig, TrackingConfig
from .fast import cpu_precision
from .keyframes import KeyframeSchedule, check_every
from .postprocess import OneEuroPoses, PostProcess, check_postprocess
from .runner import DetectFn
from .sources import Frame, FrameSource, ImageListSource, VideoSource
from .tracking_pipeline import FlowTrackPipeline, check_number


@dataclass
class BuiltPipeline:
    pipeline: FlowTrackPipeline
    model_config: ModelConfig


def build_pipeline(cfg: PipelineConfig, pose_weights: str | Path | None, *, device: str = "auto",
                   flow_weights: str | Path | None = None, fps: float = 30.0) -> BuiltPipeline:
    """The estimator (with weights loaded), flow backend and tracker of a pipeline config.

    `fps` is the source's frame rate (30 for image folders and PoseTrack splits,
    as `ImageListSource` plays them): settings in seconds become frames with it.
    """
    check_reid_config(cfg.tracking)
    model_cfg = load_model_config(cfg.estimator.model)
    layout = model_cfg.joint_layout
    if model_cfg.num_joints != layout.num_joints:
        raise HrtrackError(f"model config {cfg.estimator.model}: num_joints {model_cfg.num_joints} does not match "
                           f"the {model_cfg.layout!r} layout's {layout.num_joints} joints")
    check_number("output joint_threshold", cfg.output.joint_threshold)
    if pose_weights is None:
        raise HrtrackError("--pose-weights is required: an HRNet checkpoint such as pose_hrnet_w48_384x288.pth "
                           "(official model zoo), a model trained with `hrtrack train`, or its `hrtrack export`")
    if Path(pose_weights).suffix == ".onnx":
        # An exported network runs as it is, on an ONNX engine.
        network = pose_weights
    else:
        network = build_pose_model(model_cfg)
        load_pose_weights(network, pose_weights)
    precision, note = cpu_precision(cfg.estimator.precision, device)
    if note is not None:
        print(f"hrtrack: {note}", file=sys.stderr)
    estimator = PoseEstimator(network, model_cfg.codec, engine=cfg.estimator.engine, flip_test=cfg.estimator.flip_test,
                              layout=model_cfg.joint_layout, device=device, precision=precision,
                              max_batch=cfg.estimator.max_batch)
    needs_flow = cfg.propagation.enabled or (cfg.tracking.use_flow and cfg.tracking.similarity == "oks")
    flow = None
    if needs_flow:
        options = {"preset": cfg.flow.preset} if cfg.flow.method == "dis" else {}
        flow = build_flow(cfg.flow.method, flow_weights, scale=cfg.flow.scale, device=device, **options)
    tracker = build_tracker(cfg.tracking, layout, fps=fps)
    pipeline = FlowTrackPipeline(
        estimator=estimator, tracker=tracker, flow=flow, propagate=cfg.propagation.enabled,
        extension=cfg.propagation.extension, propagation_min_joint_score=cfg.propagation.min_joint_score,
        nms_iou=cfg.propagation.nms_iou, oks_nms_threshold=cfg.estimator.oks_nms_threshold,
        person_threshold=cfg.output.person_threshold, use_flow_in_association=cfg.tracking.use_flow)
    return BuiltPipeline(pipeline, model_cfg)


def check_reid_config(cfg: TrackingConfig) -> None:
    """HrtrackError naming the first `tracking.reid_*` setting out of its range (checked on or off)."""
    def bad(value, ok) -> bool:
        return isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not ok(value)

    if bad(cfg.reid_seconds, lambda v: 0 < v <= 60):
        raise HrtrackError(f"tracking.reid_seconds must be a number in (0, 60] (seconds a lost track stays "
                           f"dormant), got {cfg.reid_seconds!r}")
    if bad(cfg.reid_threshold, lambda v: 0 <= v < 1):
        raise HrtrackError(f"tracking.reid_threshold must be a number in [0, 1) (appearance similarity), "
                           f"got {cfg.reid_threshold!r}")
    if bad(cfg.reid_gate, lambda v: 0 <= v <= 100):
        raise HrtrackError(f"tracking.reid_gate must be a number in [0, 100] (person sizes per second of "
                           f"absence), got {cfg.reid_gate!r}")


def build_tracker(cfg: TrackingConfig, layout: Layout, *, fps: float) -> FlowTracker:
    """The tracker of `cfg` for poses in `layout`, on a source playing at `fps` frames a second.

    With `cfg.reid` it gets its own re-identifier: `reid_seconds` becomes
    round(seconds x fps) frames (at least 1) and `reid_gate` sizes per second
    become sizes per frame.
    """
    check_reid_config(cfg)
    check_number("source fps", fps, low=1e-3)
    reid = None
    if cfg.reid:
        reid = ReIdentifier(PartColours(layout.joint_names), max_frames=max(1, round(cfg.reid_seconds * fps)),
                            threshold=cfg.reid_threshold, gate=cfg.reid_gate / fps)
    return FlowTracker(similarity=cfg.similarity, threshold=cfg.threshold, q_frames=cfg.q_frames,
                       max_age=cfg.max_age, matcher=cfg.matcher, sigmas=layout.sigmas, reid=reid)


SMOOTHERS = ("none", "savgol", "one_euro")


def check_postprocess_config(cfg: PostprocessConfig) -> None:
    """HrtrackError naming the first `postprocess` setting out of its range (every setting is checked, on or off)."""
    if cfg.smoother not in SMOOTHERS:
        raise HrtrackError(f"postprocess.smoother must be one of {', '.join(SMOOTHERS)}, got {cfg.smoother!r}")
    check_postprocess(cfg.interpolate_gap, cfg.interpolate_decay, cfg.window, cfg.order)
    if not isinstance(cfg.stabilise, bool):
        raise HrtrackError(f"postprocess.stabilise must be true or false, got {cfg.stabilise!r}")
    check_one_euro(cfg.min_cutoff, cfg.beta, cfg.d_cutoff, 30.0, prefix="postprocess.")


def source_is_live(source: FrameSource) -> bool:
    """A camera or a stream: only the past is ever in view."""
    return isinstance(source, VideoSource) and source.is_live


def build_postprocess(cfg: PipelineConfig, *, num_joints: int, live: bool, fps: float) -> PostProcess | None:
    """The post-processing stage of a config for a file (`live=False`) or a live source; None when all is off.

    A file gets gap filling and the chosen smoother (Savitzky-Golay bidirectional,
    or One Euro); a live source gets the One Euro filter whenever a smoother is
    chosen, and no gap filling (both need frames that have not happened yet).
    """
    post = cfg.postprocess
    check_postprocess_config(post)
    one_euro = None
    if post.smoother == "one_euro" or (live and post.smoother != "none"):
        one_euro = OneEuroPoses(num_joints=num_joints, joint_threshold=cfg.output.joint_threshold, rate=fps,
                                min_cutoff=post.min_cutoff, beta=post.beta, d_cutoff=post.d_cutoff)
    gap = 0 if live else post.interpolate_gap
    window = post.window if post.smoother == "savgol" and not live else None
    if one_euro is None and window is None and gap == 0:
        return None
    return PostProcess(num_joints=num_joints, joint_threshold=cfg.output.joint_threshold, interpolate_gap=gap,
                       interpolate_decay=post.interpolate_decay, window=window, order=post.order, one_euro=one_euro,
                       stabilise=post.stabilise)


def check_detector_config(cfg: PipelineConfig) -> None:
    """HrtrackError naming the first `detector` setting out of its range: the model's name (the message lists
    the detectors offered), the input-size policy, the keyframe interval (which needs propagation)."""
    check_detector(cfg.detector.model, cfg.detector.min_size, cfg.detector.max_size)
    check_detector_engine(cfg.detector.engine)
    if check_every(cfg.detector.every) > 1 and not cfg.propagation.enabled:
        raise HrtrackError(f"detector.every {cfg.detector.every} needs propagation.enabled: true (between "
                           f"keyframes people come from flow propagation alone); or set detector.every 1")


def build_keyframes(cfg: PipelineConfig) -> KeyframeSchedule | None:
    """The keyframe schedule of `cfg`; None when the detector runs on every frame (batched, as before)."""
    check_detector_config(cfg)
    if cfg.detector.every == 1:
        return None
    return KeyframeSchedule(cfg.detector.every, adaptive=cfg.detector.adaptive)


def detector_fn(cfg: PipelineConfig, *, detector_weights: str | Path | None, device: str = "auto") -> DetectFn:
    """A chunk-of-frames -> boxes function running the config's detector (weights from a local file)."""
    detector = PersonDetector.from_weights(cfg.detector.model, detector_weights,
                                           score_threshold=cfg.detector.score_threshold,
                                           max_detections=cfg.detector.max_detections,
                                           batch_size=cfg.detector.batch, device=device,
                                           min_size=cfg.detector.min_size, max_size=cfg.detector.max_size,
                                           engine=cfg.detector.engine)
    return lambda frames: detector.detect_batch([f.image for f in frames])


def precomputed_for_source(detections: str | Path, source: FrameSource) -> DetectFn:
    """Lookups in a COCO detection file for the frames of `source`, checked to match some of them.

    Image frames are looked up by file name, video frames by index (image id
    0, 1, ...). A file that matches none of the frames (another video, ids
    instead of names) raises HrtrackError rather than giving every frame zero
    people; so does a live camera or stream, whose frames have neither.
    """
    dets = read_coco_detections(detections, score_threshold=0.0)
    if isinstance(source, ImageListSource):
        dets.check_frames(file_names=source.names)
    elif isinstance(source, VideoSource) and not source.is_live:
        dets.check_frames(image_ids=list(range(source.count_frames())))
    else:
        raise HrtrackError(f"--detections {detections} cannot be matched with the frames of {source.description}: "
                           f"a camera or stream has no frame ids or names; save it to a file first")
    return precomputed_fn(dets)


def precomputed_fn(dets: PrecomputedDetections, image_ids: dict[str, int] | None = None) -> DetectFn:
    """Look frames up by file name; frames of a video (no file) or mapped in `image_ids` by id."""
    def detect(frames: Sequence[Frame]) -> list[Boxes]:
        out = []
        for f in frames:
            if image_ids is not None and f.name in image_ids:
                out.append(dets(image_id=image_ids[f.name]))
            elif f.name.isdigit():
                out.append(dets(image_id=f.index))
            else:
                out.append(dets(file_name=f.name))
        return out
    return detect

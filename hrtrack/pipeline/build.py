"""The configuration edge: a `PipelineConfig` and file paths become pipeline objects."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ..errors import HrtrackError
from ..models import PoseEstimator, build_pose_model, load_model_config, load_pose_weights
from ..formats.detections import PrecomputedDetections, read_coco_detections
from ..models.detector import PersonDetector
from ..models.factory import ModelConfig
from ..models.flow import build_flow
from ..structures import Boxes
from ..tracking.tracker import FlowTracker
from .config import PipelineConfig
from .runner import DetectFn
from .sources import Frame, FrameSource, ImageListSource, VideoSource
from .tracking_pipeline import FlowTrackPipeline, check_number


@dataclass
class BuiltPipeline:
    pipeline: FlowTrackPipeline
    model_config: ModelConfig


def build_pipeline(cfg: PipelineConfig, pose_weights: str | Path | None, *, device: str = "auto",
                   flow_weights: str | Path | None = None) -> BuiltPipeline:
    """The estimator (with weights loaded), flow backend and tracker of a pipeline config."""
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
    estimator = PoseEstimator(network, model_cfg.codec, engine=cfg.estimator.engine, flip_test=cfg.estimator.flip_test,
                              layout=model_cfg.joint_layout, device=device, precision=cfg.estimator.precision,
                              max_batch=cfg.estimator.max_batch)
    needs_flow = cfg.propagation.enabled or (cfg.tracking.use_flow and cfg.tracking.similarity == "oks")
    flow = None
    if needs_flow:
        options = {"preset": cfg.flow.preset} if cfg.flow.method == "dis" else {}
        flow = build_flow(cfg.flow.method, flow_weights, scale=cfg.flow.scale, device=device, **options)
    tracker = FlowTracker(similarity=cfg.tracking.similarity, threshold=cfg.tracking.threshold,
                          q_frames=cfg.tracking.q_frames, max_age=cfg.tracking.max_age,
                          matcher=cfg.tracking.matcher, sigmas=model_cfg.joint_layout.sigmas)
    pipeline = FlowTrackPipeline(
        estimator=estimator, tracker=tracker, flow=flow, propagate=cfg.propagation.enabled,
        extension=cfg.propagation.extension, propagation_min_joint_score=cfg.propagation.min_joint_score,
        nms_iou=cfg.propagation.nms_iou, oks_nms_threshold=cfg.estimator.oks_nms_threshold,
        person_threshold=cfg.output.person_threshold, use_flow_in_association=cfg.tracking.use_flow)
    return BuiltPipeline(pipeline, model_cfg)


def detector_fn(cfg: PipelineConfig, *, detector_weights: str | Path | None, device: str = "auto") -> DetectFn:
    """A chunk-of-frames -> boxes function running the config's Faster R-CNN (weights from a local file)."""
    detector = PersonDetector.from_weights(cfg.detector.model, detector_weights,
                                           score_threshold=cfg.detector.score_threshold,
                                           max_detections=cfg.detector.max_detections,
                                           batch_size=cfg.detector.batch, device=device)
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

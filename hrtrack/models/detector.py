"""Person boxes for each frame: a torchvision detector, or boxes read from a file.

Both give `Boxes` (N,4) float32 x1,y1,x2,y2 in frame pixels with (N,) scores,
sorted by decreasing score (DESIGN.md §3). Detector weights are never
downloaded: they come from a local file or torchvision's own cache
(`$TORCH_HOME/hub/checkpoints/`, torchvision's file names).

The detectors offered (`DETECTOR_ARCHS`) are torchvision's COCO detectors, from
the two-stage Faster R-CNN R50-FPN (the paper's) down to SSDlite; docs/deployment.md
gives each one's cost on a CPU. Every one but SSDlite takes an input-size policy:
torchvision's transform scales a frame so that its shorter side is `min_size`,
unless its longer side would then exceed `max_size`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn
from torchvision.models import detection
from torchvision.models._api import WeightsEnum

from ..errors import HrtrackError
from ..structures import Boxes
from .checkpoint import torch_load_safely
from .detector_engines import check_detector_engine, run_backbone_on
from ..device import resolve_device

# COCO category id of "person", in torchvision's label space and in COCO files.
PERSON_LABEL = 1


@dataclass(frozen=True)
class DetectorArch:
    """One torchvision detector: its builder, the COCO weights whose file name the cache uses, and how it is set.

    two_stage: a Faster R-CNN (its score filter and box count are `box_score_thresh`,
    `box_detections_per_img`; one-stage detectors call them `score_thresh`,
    `detections_per_img`). resizable: takes `min_size` / `max_size` (SSDlite runs at a fixed 320x320).
    """

    builder: Callable[..., nn.Module]
    weights: WeightsEnum
    two_stage: bool
    resizable: bool = True

    @property
    def file_name(self) -> str:
        """torchvision's file name of the COCO weights, as its cache stores them."""
        return os.path.basename(self.weights.url)


# Name -> detector, the most expensive on a CPU first (1280x720 frames, 2 threads: docs/deployment.md).
DETECTOR_ARCHS: dict[str, DetectorArch] = {
    "fasterrcnn_resnet50_fpn_v2": DetectorArch(detection.fasterrcnn_resnet50_fpn_v2,
                                               detection.FasterRCNN_ResNet50_FPN_V2_Weights.COCO_V1, True),
    "fasterrcnn_resnet50_fpn": DetectorArch(detection.fasterrcnn_resnet50_fpn,
                                            detection.FasterRCNN_ResNet50_FPN_Weights.COCO_V1, True),
    "retinanet_resnet50_fpn_v2": DetectorArch(detection.retinanet_resnet50_fpn_v2,
                                              detection.RetinaNet_ResNet50_FPN_V2_Weights.COCO_V1, False),
    "fcos_resnet50_fpn": DetectorArch(detection.fcos_resnet50_fpn, detection.FCOS_ResNet50_FPN_Weights.COCO_V1,
                                      False),
    "fasterrcnn_mobilenet_v3_large_fpn": DetectorArch(
        detection.fasterrcnn_mobilenet_v3_large_fpn, detection.FasterRCNN_MobileNet_V3_Large_FPN_Weights.COCO_V1,
        True),
    "fasterrcnn_mobilenet_v3_large_320_fpn": DetectorArch(
        detection.fasterrcnn_mobilenet_v3_large_320_fpn,
        detection.FasterRCNN_MobileNet_V3_Large_320_FPN_Weights.COCO_V1, True),
    "ssdlite320_mobilenet_v3_large": DetectorArch(
        detection.ssdlite320_mobilenet_v3_large, detection.SSDLite320_MobileNet_V3_Large_Weights.COCO_V1, False,
        resizable=False),
}


def _choices() -> str:
    return ", ".join(f"{name} ({arch.file_name})" for name, arch in DETECTOR_ARCHS.items())


def check_detector(arch: str, min_size: int | None = None, max_size: int | None = None) -> None:
    """HrtrackError unless `arch` is offered and the size policy fits it; the message lists the choices."""
    if arch not in DETECTOR_ARCHS:
        raise HrtrackError(f"unknown detector {arch!r}; detector.model (--detector) must be one of: {_choices()}")
    for name, value in (("min_size", min_size), ("max_size", max_size)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not 32 <= value <= 4096):
            raise HrtrackError(f"detector.{name} must be an integer in 32..4096 (pixels) or null "
                               f"(the detector's own), got {value!r}")
    if not DETECTOR_ARCHS[arch].resizable and (min_size is not None or max_size is not None):
        raise HrtrackError(f"{arch} runs at its fixed 320x320 input: leave detector.min_size and "
                           f"detector.max_size null")
    if min_size is not None and max_size is not None and min_size > max_size:
        raise HrtrackError(f"detector.min_size ({min_size}) must not exceed detector.max_size ({max_size})")


def detector_weights_path(arch: str, weights: str | os.PathLike | None = None) -> Path:
    """The weights file to load for `arch`: `weights` if given, else torchvision's cache file.

    Raises HrtrackError when the file is missing, naming the exact file, where to
    put it, and where torchvision publishes it.
    """
    check_detector(arch)
    if weights is not None:
        path = Path(weights)
        if not path.is_file():
            raise HrtrackError(f"detector weights not found: {path}")
        return path
    url = DETECTOR_ARCHS[arch].weights.url
    folder = Path(torch.hub.get_dir()) / "checkpoints"
    path = folder / os.path.basename(url)
    if not path.is_file():
        raise HrtrackError(f"no weights for detector {arch!r}: put {path.name} (from {url}) in {folder}/ "
                           f"or pass --detector-weights PATH")
    return path


def detector_network(arch: str, *, score_threshold: float = 0.05, max_detections: int = 100,
                     min_size: int | None = None, max_size: int | None = None) -> nn.Module:
    """Detector `arch` with random weights (nothing downloaded), in eval mode on the CPU.

    Args:
        arch: a name in `DETECTOR_ARCHS`.
        score_threshold: the network's own box filter.
        max_detections: most boxes the network returns per image (all classes).
        min_size, max_size: the input-size policy (None: the detector's own).
    """
    check_detector(arch, min_size, max_size)
    spec = DETECTOR_ARCHS[arch]
    if spec.two_stage:
        options: dict[str, Any] = {"box_score_thresh": float(score_threshold),
                                   "box_detections_per_img": int(max_detections)}
    else:
        options = {"score_thresh": float(score_threshold), "detections_per_img": int(max_detections)}
    if min_size is not None:
        options["min_size"] = min_size
    if max_size is not None:
        options["max_size"] = max_size
    return spec.builder(weights=None, weights_backbone=None, **options).eval()


def load_detector_model(arch: str = "fasterrcnn_resnet50_fpn", weights: str | os.PathLike | None = None,
                        **network_options: Any) -> nn.Module:
    """Build torchvision detector `arch` and load its COCO weights from a local file.

    Args:
        arch: a name in `DETECTOR_ARCHS`.
        weights: a state-dict file; None looks in torchvision's cache.
        network_options: `detector_network`'s keyword arguments.

    Returns:
        The model in eval mode, on the CPU.
    """
    path = detector_weights_path(arch, weights)
    model = detector_network(arch, **network_options)
    state = torch_load_safely(path)
    if not isinstance(state, dict):
        raise HrtrackError(f"detector weights {path} hold a {type(state).__name__}, not a state dict")
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        # The first detail line ("Missing key(s) ...", "size mismatch ..."), shortened.
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        detail = (lines[1] if len(lines) > 1 else lines[0])[:160]
        raise HrtrackError(f"detector weights {path} do not fit {arch!r} ({detail}); choose the detector they "
                           f"were trained as with --detector NAME, one of: {_choices()}") from None
    return model.eval()


class PersonDetector:
    """A torchvision detection model kept to the COCO person class.

    Args:
        model: a torchvision detection model (eval mode; takes a list of RGB
            float tensors in [0,1], returns boxes, labels, scores per image).
        score_threshold: boxes scoring below this are dropped.
        max_detections: most boxes kept per frame (the highest scoring).
        batch_size: frames per forward pass in `detect_batch`.
        device: "auto" (CUDA when present), "cpu", "cuda" or "cuda:N".
    """

    def __init__(self, model: nn.Module, *, score_threshold: float = 0.5, max_detections: int = 100,
                 batch_size: int = 4, device: str | torch.device = "auto") -> None:
        if not (isinstance(score_threshold, (int, float)) and 0.0 <= score_threshold <= 1.0):
            raise HrtrackError(f"detector score threshold must be in [0, 1], got {score_threshold!r}")
        for name, value in (("max_detections", max_detections), ("batch_size", batch_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise HrtrackError(f"detector {name} must be an integer >= 1, got {value!r}")
        self.score_threshold = float(score_threshold)
        self.max_detections = max_detections
        self.batch_size = batch_size
        self.device = resolve_device(device)
        self.model = model.eval().to(self.device)

    @classmethod
    def from_weights(cls, arch: str = "fasterrcnn_resnet50_fpn", weights: str | os.PathLike | None = None, *,
                     score_threshold: float = 0.5, max_detections: int = 100, batch_size: int = 4,
                     device: str | torch.device = "auto", min_size: int | None = None,
                     max_size: int | None = None, engine: str = "torch") -> "PersonDetector":
        """Detector `arch` with COCO weights from `weights` or torchvision's cache (never downloaded).

        min_size, max_size: the input-size policy (None: the detector's own; see the module docstring).
        engine: what runs the backbone: "torch", or "onnxruntime" / "openvino" on the CPU (`detector_engines`).
        """
        check_detector_engine(engine)
        if engine != "torch" and resolve_device(device).type != "cpu":
            raise HrtrackError(f"detector.engine {engine} runs on the CPU; on {resolve_device(device)} use torch")
        # The model's own filter would hide boxes below its default 0.05, so it uses ours.
        model = load_detector_model(arch, weights, score_threshold=float(score_threshold),
                                    max_detections=max(100, int(max_detections)), min_size=min_size,
                                    max_size=max_size)
        return cls(run_backbone_on(model, arch, engine), score_threshold=score_threshold,
                   max_detections=max_detections, batch_size=batch_size, device=device)

    def _to_tensor(self, frame_bgr: np.ndarray) -> torch.Tensor:
        if not isinstance(frame_bgr, np.ndarray) or frame_bgr.dtype != np.uint8 or frame_bgr.ndim != 3 \
                or frame_bgr.shape[2] != 3:
            desc = f"{frame_bgr.dtype} {frame_bgr.shape}" if isinstance(frame_bgr, np.ndarray) else type(frame_bgr)
            raise HrtrackError(f"the detector needs (H,W,3) uint8 BGR frames, got {desc}")
        # Upload as uint8; convert BGR -> RGB and to [0,1] on the device.
        image = torch.from_numpy(frame_bgr).to(self.device)
        return image.permute(2, 0, 1).flip(0).float().div_(255.0)

    def _to_boxes(self, output: dict[str, torch.Tensor]) -> Boxes:
        keep = (output["labels"] == PERSON_LABEL) & (output["scores"] >= self.score_threshold)
        scores = output["scores"][keep]
        order = torch.argsort(scores, descending=True, stable=True)[: self.max_detections]
        return Boxes(output["boxes"][keep][order].float().cpu().numpy(), scores[order].float().cpu().numpy())

    @torch.inference_mode()
    def detect_batch(self, frames_bgr: Sequence[np.ndarray]) -> list[Boxes]:
        """Person boxes for each frame, `batch_size` frames per forward pass."""
        results: list[Boxes] = []
        for start in range(0, len(frames_bgr), self.batch_size):
            chunk = [self._to_tensor(f) for f in frames_bgr[start:start + self.batch_size]]
            results.extend(self._to_boxes(out) for out in self.model(chunk))
        return results

    def __call__(self, frame_bgr: np.ndarray) -> Boxes:
        """Person boxes of one (H,W,3) uint8 BGR frame, by decreasing score."""
        return self.detect_batch([frame_bgr])[0]

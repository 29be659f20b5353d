"""Person boxes for each frame: a torchvision Faster R-CNN, or boxes read from a file.

Both give `Boxes` (N,4) float32 x1,y1,x2,y2 in frame pixels with (N,) scores,
sorted by decreasing score (DESIGN.md §3). Detector weights are never
downloaded: they come from a local file or torchvision's own cache
(`$TORCH_HOME/hub/checkpoints/`, torchvision's file names).
"""

from __future__ import annotations

import os
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
from ..device import resolve_device

# COCO category id of "person", in torchvision's label space and in COCO files.
PERSON_LABEL = 1

# Architecture name -> (torchvision builder, the COCO weights whose file name the cache uses).
DETECTOR_ARCHS: dict[str, tuple[Callable[..., nn.Module], WeightsEnum]] = {
    "fasterrcnn_resnet50_fpn": (detection.fasterrcnn_resnet50_fpn,
                                detection.FasterRCNN_ResNet50_FPN_Weights.COCO_V1),
    "fasterrcnn_resnet50_fpn_v2": (detection.fasterrcnn_resnet50_fpn_v2,
                                   detection.FasterRCNN_ResNet50_FPN_V2_Weights.COCO_V1),
}


def _check_arch(arch: str) -> None:
    if arch not in DETECTOR_ARCHS:
        raise HrtrackError(f"unknown detector {arch!r}; known: {', '.join(DETECTOR_ARCHS)}")


def detector_weights_path(arch: str, weights: str | os.PathLike | None = None) -> Path:
    """The weights file to load for `arch`: `weights` if given, else torchvision's cache file.

    Raises HrtrackError when the file is missing, naming the exact file, where to
    put it, and where torchvision publishes it.
    """
    _check_arch(arch)
    if weights is not None:
        path = Path(weights)
        if not path.is_file():
            raise HrtrackError(f"detector weights not found: {path}")
        return path
    url = DETECTOR_ARCHS[arch][1].url
    folder = Path(torch.hub.get_dir()) / "checkpoints"
    path = folder / os.path.basename(url)
    if not path.is_file():
        raise HrtrackError(f"no weights for detector {arch!r}: put {path.name} (from {url}) in {folder}/ "
                           f"or pass --detector-weights PATH")
    return path


def load_detector_model(arch: str = "fasterrcnn_resnet50_fpn", weights: str | os.PathLike | None = None,
                        **builder_kwargs: Any) -> nn.Module:
    """Build torchvision detector `arch` and load its COCO weights from a local file.

    Args:
        arch: a name in `DETECTOR_ARCHS`.
        weights: a state-dict file; None looks in torchvision's cache.
        builder_kwargs: passed to the torchvision builder (e.g. `box_score_thresh`).

    Returns:
        The model in eval mode, on the CPU.
    """
    path = detector_weights_path(arch, weights)
    builder = DETECTOR_ARCHS[arch][0]
    model = builder(weights=None, weights_backbone=None, **builder_kwargs)
    state = torch_load_safely(path)
    if not isinstance(state, dict):
        raise HrtrackError(f"detector weights {path} hold a {type(state).__name__}, not a state dict")
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        # The first detail line ("Missing key(s) ...", "size mismatch ..."), shortened to one line.
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        detail = lines[1] if len(lines) > 1 else lines[0]
        raise HrtrackError(f"detector weights {path} do not fit {arch!r}: {detail[:200]}") from None
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
                     device: str | torch.device = "auto") -> "PersonDetector":
        """Faster R-CNN `arch` with COCO weights from `weights` or torchvision's cache (never downloaded)."""
        # The model's own filter would hide boxes below its default 0.05, so it uses ours.
        model = load_detector_model(arch, weights, box_score_thresh=float(score_threshold),
                                    box_detections_per_img=max(100, int(max_detections)))
        return cls(model, score_threshold=score_threshold, max_detections=max_detections,
                   batch_size=batch_size, device=device)

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

"""Person boxes for each frame: a torchvision Faster R-CNN, or boxes read from a file.

Both give `Boxes` (N,4) float32 x1,y1,x2,y2 in frame pixels with (N,) scores,
sorted by decreasing score (DESIGN.md §3). Detector weights are never
downloaded: they come from a local file or torchvision's own cache
(`$TORCH_HOME/hub/checkpoints/`, torchvision's file names).
"""

from __future__ import annotations

import math
import os
import warnings
from collections import defaultdict
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import torch
from torch import nn
from torchvision.models import detection
from torchvision.models._api import WeightsEnum

from ..datasets.posetrack import read_sequence
from ..errors import HrtrackError
from ..fileio import read_json
from ..structures import Boxes
from ..tracking.nms import extend_boxes
from ..tracking.propagate import joint_boxes
from .checkpoint import torch_load_safely
from .fast import resolve_device

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


# ---------------------------------------------------------------- precomputed detections

def _posix(name: str) -> str:
    return PurePosixPath(str(name).replace("\\", "/")).as_posix()


def _suffixes(name: str) -> Iterable[str]:
    """'a/b/c.jpg' -> 'a/b/c.jpg', 'b/c.jpg', 'c.jpg' (longest first)."""
    parts = PurePosixPath(_posix(name)).parts
    for i in range(len(parts)):
        yield PurePosixPath(*parts[i:]).as_posix()


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class PrecomputedDetections:
    """Person boxes read from a file, looked up per frame by image id or file name.

    Build with `from_coco` (COCO detection results) or `from_posetrack` (the
    people of a PoseTrack 2017/2018 file). A frame absent from the file has no
    detections; call `check_frames` once per video so that a file which matches
    none of its frames is reported instead of silently giving empty frames.
    Lookup by file name also matches when the frame's path ends with the file's
    name (frames are often read from an absolute path).

    Args:
        by_image_id: image id -> boxes.
        by_file_name: file name -> boxes.
        source: the file the boxes came from, for messages.
    """

    def __init__(self, by_image_id: dict[int, Boxes], by_file_name: dict[str, Boxes], source: str) -> None:
        self._by_id = dict(by_image_id)
        self._by_name = {_posix(k): v for k, v in by_file_name.items()}
        self.source = source

    @staticmethod
    def _group(keys: list, boxes: np.ndarray, scores: np.ndarray) -> dict:
        rows: dict[Any, list[int]] = defaultdict(list)
        for i, key in enumerate(keys):
            rows[key].append(i)
        grouped = {}
        for key, idx in rows.items():
            idx_arr = np.asarray(idx)
            order = idx_arr[np.argsort(-scores[idx_arr], kind="stable")]
            grouped[key] = Boxes(boxes[order], scores[order])
        return grouped

    @classmethod
    def from_coco(cls, path: str | os.PathLike, score_threshold: float = 0.0) -> "PrecomputedDetections":
        """Read a COCO detection results file.

        The file is a list of `{"image_id", "category_id", "bbox": [x,y,w,h],
        "score"}` with an optional `"file_name"`; only person entries
        (category 1) scoring at least `score_threshold` are kept. Non-finite
        numbers or a negative width/height raise HrtrackError naming the entry;
        zero-width or zero-height boxes carry no person and are dropped with
        one warning for the file.
        """
        data = read_json(path)
        if not isinstance(data, list):
            raise HrtrackError(f"{path}: a COCO detection file is a JSON list, got {type(data).__name__}")
        ids: list[int] = []
        names: list[str | None] = []
        boxes = np.zeros((len(data), 4), np.float64)
        scores = np.zeros(len(data), np.float64)
        person = np.zeros(len(data), bool)
        for i, entry in enumerate(data):
            where = f"{path}: entry {i}"
            if not isinstance(entry, dict):
                raise HrtrackError(f"{where} is a {type(entry).__name__}, not an object")
            for key in ("image_id", "category_id", "bbox", "score"):
                if key not in entry:
                    raise HrtrackError(f"{where} has no {key!r}")
            image_id, category, bbox, score = entry["image_id"], entry["category_id"], entry["bbox"], entry["score"]
            if not isinstance(image_id, int) or isinstance(image_id, bool):
                raise HrtrackError(f"{where}: image_id {image_id!r} is not an integer")
            if not isinstance(category, int) or isinstance(category, bool):
                raise HrtrackError(f"{where}: category_id {category!r} is not an integer")
            if not (isinstance(bbox, list) and len(bbox) == 4 and all(map(_is_number, bbox))):
                raise HrtrackError(f"{where}: bbox {bbox!r} is not [x, y, w, h]")
            if not all(map(math.isfinite, bbox)) or bbox[2] < 0 or bbox[3] < 0:
                raise HrtrackError(f"{where}: bbox {bbox!r} is not finite with non-negative size")
            if not (_is_number(score) and math.isfinite(score)):
                raise HrtrackError(f"{where}: score {score!r} is not a finite number")
            file_name = entry.get("file_name")
            if file_name is not None and not isinstance(file_name, str):
                raise HrtrackError(f"{where}: file_name {file_name!r} is not a string")
            ids.append(image_id)
            names.append(file_name)
            boxes[i] = bbox
            scores[i] = score
            person[i] = category == PERSON_LABEL
        boxes[:, 2:] += boxes[:, :2]
        empty = (boxes[:, 2] <= boxes[:, 0]) | (boxes[:, 3] <= boxes[:, 1])
        if (empty & person).any():
            warnings.warn(f"{path}: dropped {int((empty & person).sum())} person boxes of zero width or height",
                          stacklevel=2)
        keep = np.flatnonzero(person & ~empty & (scores >= score_threshold))
        kept_boxes = boxes[keep].astype(np.float32)
        kept_scores = scores[keep].astype(np.float32)
        by_id = cls._group([ids[i] for i in keep], kept_boxes, kept_scores)
        named = [j for j, i in enumerate(keep) if names[i] is not None]
        by_name = cls._group([names[keep[j]] for j in named], kept_boxes[named], kept_scores[named])
        return cls(by_id, by_name, str(path))

    @classmethod
    def from_posetrack(cls, path: str | os.PathLike, score_threshold: float = 0.0,
                       extension: float = 0.15) -> "PrecomputedDetections":
        """Boxes of the people in a PoseTrack 2017 or 2018 file.

        A person's box is its `bbox` (2018) or, when the file has none (2017
        files only hold head boxes), the box of its annotated joints extended
        by `extension` on each side, the paper's PoseTrack box. The score is
        the person's `score`, or 1 when absent. Frames are keyed by image name
        and, where the file has them, image id.
        """
        seq = read_sequence(path)
        by_id: dict[int, Boxes] = {}
        by_name: dict[str, Boxes] = {}
        for frame in seq.frames:
            # Annotated joints score 1, the others 0.
            from_joints, has_joints = joint_boxes(frame.keypoints, frame.visible.astype(np.float32), 1.0)
            from_joints = extend_boxes(from_joints, extension)
            has_box = np.isfinite(frame.boxes).all(axis=1)
            boxes = np.where(has_box[:, None], frame.boxes, from_joints)
            scores = np.where(np.isfinite(frame.scores), frame.scores, 1.0).astype(np.float32)
            valid = (has_box | has_joints) & (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1]) \
                & (scores >= score_threshold)
            order = np.argsort(-scores[valid], kind="stable")
            found = Boxes(boxes[valid][order], scores[valid][order])
            by_name[frame.image] = found
            if frame.image_id is not None:
                by_id[frame.image_id] = found
        return cls(by_id, by_name, str(path))

    def __call__(self, *, image_id: int | None = None, file_name: str | os.PathLike | None = None) -> Boxes:
        """The boxes of one frame by decreasing score (empty when the file has none for it)."""
        if (image_id is None) == (file_name is None):
            raise ValueError("give exactly one of image_id and file_name")
        if image_id is not None:
            return self._by_id.get(image_id, Boxes.empty())
        for key in _suffixes(str(file_name)):
            if key in self._by_name:
                return self._by_name[key]
        return Boxes.empty()

    def _has(self, image_id: int | None = None, file_name: str | None = None) -> bool:
        if image_id is not None:
            return image_id in self._by_id
        return any(key in self._by_name for key in _suffixes(str(file_name)))

    def check_frames(self, *, image_ids: Sequence[int] | None = None,
                     file_names: Sequence[str | os.PathLike] | None = None) -> None:
        """Raise HrtrackError when none of a video's frames has an entry in the file.

        A file for another video, or keyed differently (ids vs names), would
        otherwise give every frame zero people without a word.
        """
        if (image_ids is None) == (file_names is None):
            raise ValueError("give exactly one of image_ids and file_names")
        keys = list(image_ids if image_ids is not None else map(str, file_names))
        if not keys:
            return
        if image_ids is not None:
            if any(self._has(image_id=k) for k in keys):
                return
            sample = next(iter(self._by_id), None)
            kind = "image id"
        else:
            if any(self._has(file_name=k) for k in keys):
                return
            sample = next(iter(self._by_name), None)
            kind = "file name"
        found = f"its {kind}s look like {sample!r}" if sample is not None else f"it has no {kind}s"
        raise HrtrackError(f"detections file {self.source} matches none of the {len(keys)} frames "
                           f"(first frame {kind} {keys[0]!r}); {found}")

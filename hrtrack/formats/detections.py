"""Detection files: person boxes per frame, read from COCO detection results or PoseTrack files.

The one reader of COCO detection files (`read_coco_detections`), used by the
tracking pipeline and by training alike, with one rule: person entries
(category 1) only, every field checked (a bad entry is an error naming the file,
the entry and the value), zero-width or zero-height boxes dropped with one
warning that counts them, and each frame's boxes sorted by decreasing score
(ties keep file order). Boxes come back as `Boxes` (N,4) float32 x1,y1,x2,y2.
"""

from __future__ import annotations

import math
import os
import warnings
from collections import defaultdict
from pathlib import PurePosixPath
from typing import Any, Iterable, Sequence

import numpy as np

from ..errors import HrtrackError
from ..fileio import read_json, write_json_atomic
from ..geometry import joint_boxes
from ..structures import Boxes
from .json_fields import PLAIN_NUMBERS, float32_list, is_number
from .posetrack import read_sequence

# COCO category id of "person".
PERSON_CATEGORY = 1


def _posix(name: str) -> str:
    return PurePosixPath(str(name).replace("\\", "/")).as_posix()


def _suffixes(name: str) -> Iterable[str]:
    """'a/b/c.jpg' -> 'a/b/c.jpg', 'b/c.jpg', 'c.jpg' (longest first)."""
    parts = PurePosixPath(_posix(name)).parts
    for i in range(len(parts)):
        yield PurePosixPath(*parts[i:]).as_posix()


class PrecomputedDetections:
    """Person boxes read from a file, looked up per frame by image id or file name.

    Made by `read_coco_detections` (COCO detection results) or
    `read_posetrack_detections` (the people of a PoseTrack 2017/2018 file). A frame absent from the file has no
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

    @property
    def by_image_id(self) -> dict[int, Boxes]:
        """Image id -> the frame's boxes by decreasing score (a copy of the mapping)."""
        return dict(self._by_id)

    @property
    def by_file_name(self) -> dict[str, Boxes]:
        """File name (as written in the file, '/' separators) -> the frame's boxes (a copy of the mapping)."""
        return dict(self._by_name)

    def __call__(self, *, image_id: int | None = None, file_name: str | os.PathLike | None = None) -> Boxes:
        """The boxes of one frame by decreasing score (empty when the file has none for it)."""
        if (image_id is None) == (file_name is None):
            raise HrtrackError("give exactly one of image_id and file_name")
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
            raise HrtrackError("give exactly one of image_ids and file_names")
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


def _group_boxes(keys: list, boxes: np.ndarray, scores: np.ndarray) -> dict:
    rows: dict[Any, list[int]] = defaultdict(list)
    for i, key in enumerate(keys):
        rows[key].append(i)
    grouped = {}
    for key, idx in rows.items():
        idx_arr = np.asarray(idx)
        order = idx_arr[np.argsort(-scores[idx_arr], kind="stable")]
        grouped[key] = Boxes(boxes[order], scores[order])
    return grouped


def read_coco_detections(path: str | os.PathLike, score_threshold: float = 0.0) -> PrecomputedDetections:
    """The person boxes of a COCO detection results file, per frame, by decreasing score (the module's rule).

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
        if not (isinstance(bbox, list) and len(bbox) == 4 and {type(v) for v in bbox} <= PLAIN_NUMBERS):
            raise HrtrackError(f"{where}: bbox {bbox!r} is not [x, y, w, h]")
        if not all(map(math.isfinite, bbox)) or bbox[2] < 0 or bbox[3] < 0:
            raise HrtrackError(f"{where}: bbox {bbox!r} is not finite with non-negative size")
        if not is_number(score):
            raise HrtrackError(f"{where}: score {score!r} is not a finite number")
        file_name = entry.get("file_name")
        if file_name is not None and not isinstance(file_name, str):
            raise HrtrackError(f"{where}: file_name {file_name!r} is not a string")
        ids.append(image_id)
        names.append(file_name)
        boxes[i] = bbox
        scores[i] = score
        person[i] = category == PERSON_CATEGORY
    boxes[:, 2:] += boxes[:, :2]
    empty = (boxes[:, 2] <= boxes[:, 0]) | (boxes[:, 3] <= boxes[:, 1])
    if (empty & person).any():
        warnings.warn(f"{path}: dropped {int((empty & person).sum())} person boxes of zero width or height",
                      stacklevel=2)
    keep = np.flatnonzero(person & ~empty & (scores >= score_threshold))
    kept_boxes = boxes[keep].astype(np.float32)
    kept_scores = scores[keep].astype(np.float32)
    by_id = _group_boxes([ids[i] for i in keep], kept_boxes, kept_scores)
    named = [j for j, i in enumerate(keep) if names[i] is not None]
    by_name = _group_boxes([names[keep[j]] for j in named], kept_boxes[named], kept_scores[named])
    return PrecomputedDetections(by_id, by_name, str(path))


def read_posetrack_detections(path: str | os.PathLike, score_threshold: float = 0.0,
                              extension: float = 0.15) -> PrecomputedDetections:
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
        from_joints, has_joints = joint_boxes(frame.keypoints, frame.visible.astype(np.float32), 0.5, extension)
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
    return PrecomputedDetections(by_id, by_name, str(path))


def to_coco_detections(image_ids: Sequence[int], boxes: Sequence[Boxes],
                       file_names: Sequence[str] | None = None) -> list[dict]:
    """COCO detection records for per-image `Boxes` (x1,y1,x2,y2 -> bbox [x,y,w,h])."""
    if len(image_ids) != len(boxes) or (file_names is not None and len(file_names) != len(boxes)):
        raise HrtrackError(f"{len(image_ids)} image ids, {len(boxes)} box sets and "
                         f"{None if file_names is None else len(file_names)} file names")
    out = []
    for k, (iid, b) in enumerate(zip(image_ids, boxes)):
        scores = float32_list(b.scores)
        for n in range(len(b)):
            # Full float64 digits of the float32 corners: x + w then gives back x2 exactly.
            x1, y1, x2, y2 = (float(v) for v in b.boxes[n])
            rec: dict[str, Any] = {"image_id": int(iid), "category_id": 1,
                                   "bbox": [x1, y1, x2 - x1, y2 - y1], "score": scores[n]}
            if file_names is not None:
                rec["file_name"] = file_names[k]
            out.append(rec)
    return out


def write_coco_detections(path: str | os.PathLike, image_ids: Sequence[int], boxes: Sequence[Boxes],
                          file_names: Sequence[str] | None = None) -> None:
    """Write a COCO detection file atomically (see `to_coco_detections`)."""
    write_json_atomic(path, to_coco_detections(image_ids, boxes, file_names))

"""COCO person-keypoint annotation files and COCO detection files (DESIGN.md §5).

Keypoint files are read through pycocotools (`load_coco` returns its `COCO` index,
after validating every field it relies on) and written with the 17 COCO joints,
`num_keypoints`, `area`, `iscrowd`, `bbox` [x,y,w,h] and polygon segmentations.
Detection files are `[{"image_id", "category_id": 1, "bbox": [x,y,w,h], "score"}]`,
optionally with the frame's `file_name`. Malformed input raises `HrtrackError`
naming the file and the field.
"""

from __future__ import annotations

import contextlib
import io
import os
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
from pycocotools.coco import COCO as _COCOIndex

from ..errors import HrtrackError
from ..fileio import read_json, write_json_atomic
from ..skeleton import COCO
from .json_fields import fields, float32_list, integer, is_number, numbers, short

NUM_JOINTS = COCO.num_joints
PERSON_CATEGORY = {"id": 1, "name": "person", "supercategory": "person",
                   "keypoints": list(COCO.joint_names),
                   "skeleton": [[a + 1, b + 1] for a, b in COCO.skeleton]}


@dataclass
class CocoImage:
    """One image of a COCO keypoint file and its N annotations.

    keypoints (N,17,2) float32 pixels (0 where not labelled); visibility (N,17)
    uint8 COCO flags (0 not labelled, 1 labelled but hidden, 2 visible); boxes
    (N,4) float32 x1,y1,x2,y2; areas (N,) float32; iscrowd (N,) bool;
    segmentations: per annotation a list of polygons (K,2) float32.
    """

    id: int
    file_name: str
    width: int
    height: int
    keypoints: np.ndarray
    visibility: np.ndarray
    boxes: np.ndarray
    areas: np.ndarray
    iscrowd: np.ndarray
    segmentations: list[list[np.ndarray]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.keypoints = np.asarray(self.keypoints, np.float32).reshape(-1, NUM_JOINTS, 2)
        n = len(self.keypoints)
        self.visibility = np.asarray(self.visibility, np.uint8).reshape(n, NUM_JOINTS)
        self.boxes = np.asarray(self.boxes, np.float32).reshape(n, 4)
        self.areas = np.asarray(self.areas, np.float32).reshape(n)
        self.iscrowd = np.asarray(self.iscrowd, bool).reshape(n)
        if not self.segmentations:
            self.segmentations = [[] for _ in range(n)]
        if len(self.segmentations) != n:
            raise HrtrackError(f"{len(self.segmentations)} segmentations for {n} annotations")
        self.segmentations = [[np.asarray(p, np.float32).reshape(-1, 2) for p in polys]
                              for polys in self.segmentations]

    def __len__(self) -> int:
        return len(self.keypoints)


def to_coco_keypoints(images: Sequence[CocoImage]) -> dict:
    """The COCO person-keypoints object for `images`; annotation ids count from 1 (COCOeval needs > 0)."""
    out_images, annotations = [], []
    ann_id = 1
    for img in images:
        out_images.append({"id": int(img.id), "file_name": img.file_name,
                           "width": int(img.width), "height": int(img.height)})
        for p in range(len(img)):
            vis = img.visibility[p]
            kp = np.zeros((NUM_JOINTS, 3), np.float32)
            kp[:, :2] = np.where(vis[:, None] > 0, img.keypoints[p], 0.0)
            kp[:, 2] = vis
            x1, y1, x2, y2 = (float(v) for v in img.boxes[p])
            annotations.append({
                "id": ann_id, "image_id": int(img.id), "category_id": 1,
                "keypoints": float32_list(kp), "num_keypoints": int((vis > 0).sum()),
                # Full float64 digits: x + w then gives back the float32 x2 exactly.
                "bbox": [x1, y1, x2 - x1, y2 - y1], "area": float32_list(img.areas[p:p + 1])[0],
                "iscrowd": int(img.iscrowd[p]),
                "segmentation": [float32_list(poly) for poly in img.segmentations[p]],
            })
            ann_id += 1
    return {"images": out_images, "annotations": annotations, "categories": [dict(PERSON_CATEGORY)]}


def write_coco_keypoints(images: Sequence[CocoImage], path: str | os.PathLike) -> None:
    """Write a COCO person-keypoints file atomically."""
    write_json_atomic(path, to_coco_keypoints(images))


def _person_category(obj: dict, name: str) -> int:
    cats = obj["categories"]
    if not isinstance(cats, list):
        raise HrtrackError(f"{name}: categories must be a list, got {short(cats)}")
    for k, cat in enumerate(cats):
        fields(cat, ("id", "name"), name, f"categories[{k}]")
        if cat["name"] == "person":
            kps = cat.get("keypoints")
            if not (isinstance(kps, list) and len(kps) == NUM_JOINTS):
                raise HrtrackError(f"{name}: categories[{k}].keypoints must list the {NUM_JOINTS} COCO joints, "
                                   f"got {short(kps)}")
            return integer(cat["id"], name, f"categories[{k}].id")
    raise HrtrackError(f"{name}: categories has no 'person' entry")


def validate_coco_keypoints(obj: Any, name: str) -> int:
    """Check a COCO person-keypoints object field by field; return the person category id."""
    fields(obj, ("images", "annotations", "categories"), name, "the top level")
    for key in ("images", "annotations"):
        if not isinstance(obj[key], list):
            raise HrtrackError(f"{name}: {key} must be a list, got {short(obj[key])}")
    person = _person_category(obj, name)
    ids = set()
    for k, img in enumerate(obj["images"]):
        where = f"images[{k}]"
        fields(img, ("id", "file_name", "width", "height"), name, where)
        iid = integer(img["id"], name, f"{where}.id")
        if iid in ids:
            raise HrtrackError(f"{name}: {where}.id = {iid} appears twice")
        ids.add(iid)
        if not isinstance(img["file_name"], str):
            raise HrtrackError(f"{name}: {where}.file_name must be a string, got {short(img['file_name'])}")
        for key in ("width", "height"):
            if integer(img[key], name, f"{where}.{key}") <= 0:
                raise HrtrackError(f"{name}: {where}.{key} must be positive, got {img[key]}")
    ann_ids = set()
    for k, ann in enumerate(obj["annotations"]):
        where = f"annotations[{k}]"
        fields(ann, ("id", "image_id", "category_id", "bbox", "area", "iscrowd"), name, where)
        aid = integer(ann["id"], name, f"{where}.id")
        if aid <= 0 or aid in ann_ids:
            raise HrtrackError(f"{name}: {where}.id = {aid} must be positive and unique")
        ann_ids.add(aid)
        if integer(ann["image_id"], name, f"{where}.image_id") not in ids:
            raise HrtrackError(f"{name}: {where}.image_id = {ann['image_id']} is not the id of any image")
        if integer(ann["category_id"], name, f"{where}.category_id") != person:
            continue
        fields(ann, ("keypoints", "num_keypoints"), name, where)
        kp = numbers(ann["keypoints"], 3 * NUM_JOINTS, name, f"{where}.keypoints").reshape(NUM_JOINTS, 3)
        if not np.isin(kp[:, 2], (0, 1, 2)).all():
            raise HrtrackError(f"{name}: {where}.keypoints visibility flags must be 0, 1 or 2, got {kp[:, 2].tolist()}")
        if integer(ann["num_keypoints"], name, f"{where}.num_keypoints") != int((kp[:, 2] > 0).sum()):
            raise HrtrackError(f"{name}: {where}.num_keypoints = {ann['num_keypoints']} but "
                               f"{int((kp[:, 2] > 0).sum())} keypoints are labelled")
        box = numbers(ann["bbox"], 4, name, f"{where}.bbox")
        if (box[2:] < 0).any():
            raise HrtrackError(f"{name}: {where}.bbox has a negative size: {box.tolist()}")
        if not is_number(ann["area"]) or ann["area"] < 0:
            raise HrtrackError(f"{name}: {where}.area must be a non-negative number, got {short(ann['area'])}")
        if ann["iscrowd"] not in (0, 1):
            raise HrtrackError(f"{name}: {where}.iscrowd must be 0 or 1, got {short(ann['iscrowd'])}")
        seg = ann.get("segmentation", [])
        if not (isinstance(seg, list) and all(isinstance(p, list) and len(p) % 2 == 0 for p in seg)):
            raise HrtrackError(f"{name}: {where}.segmentation must be a list of polygons [x,y,...], got {short(seg)}")
        for j, poly in enumerate(seg):
            numbers(poly, len(poly), name, f"{where}.segmentation[{j}]")
    return person


def load_coco(path: str | os.PathLike) -> _COCOIndex:
    """Read and validate a COCO person-keypoints file; return the pycocotools `COCO` index over it."""
    obj = read_json(path)
    validate_coco_keypoints(obj, str(path))
    index = _COCOIndex()
    index.dataset = obj
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress lines
        index.createIndex()
    return index


def read_coco_keypoints(path: str | os.PathLike) -> list[CocoImage]:
    """Read a COCO person-keypoints file: every image, in file order, with its person annotations."""
    index = load_coco(path)
    person = _person_category(index.dataset, str(path))
    out = []
    for img in index.dataset["images"]:
        anns = [a for a in index.imgToAnns.get(img["id"], []) if a["category_id"] == person]
        kp = np.asarray([a["keypoints"] for a in anns], np.float32).reshape(-1, NUM_JOINTS, 3)
        xywh = np.asarray([a["bbox"] for a in anns], np.float64).reshape(-1, 4)
        boxes = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
        out.append(CocoImage(
            id=int(img["id"]), file_name=img["file_name"], width=int(img["width"]), height=int(img["height"]),
            keypoints=kp[..., :2], visibility=kp[..., 2], boxes=boxes,
            areas=np.asarray([a["area"] for a in anns], np.float32),
            iscrowd=np.asarray([a["iscrowd"] for a in anns], bool),
            segmentations=[[np.asarray(p, np.float32).reshape(-1, 2) for p in a.get("segmentation", [])]
                           for a in anns]))
    return out

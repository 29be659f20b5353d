"""MPII Human Pose annotations: the official HRNet JSON layout and the original `.mat` release.

The JSON is a list with one entry per person: `image`, `center` [x,y], `scale`
(person height / 200 px), `joints` 16 x [x,y], `joints_vis` 16 x 0/1, in MPII's
joint order (`hrtrack.skeleton.MPII`), plus `head_box` [x1,y1,x2,y2] for PCKh
where known. Like the MATLAB release (and the official HRNet code, which subtracts
1 on reading), coordinates in files are 1-based; in memory they are 0-based
pixels. Joints that are not annotated are written as [-1, -1] and read as (0, 0)
with `joints_vis` false. Malformed input raises `HrtrackError` naming the file and
the field.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.io

from ..errors import HrtrackError
from ..fileio import read_json, write_json_atomic
from ..skeleton import MPII
from .json_fields import fields, float32_list, is_number, numbers, short

NUM_JOINTS = MPII.num_joints


@dataclass
class MpiiAnnotations:
    """N MPII person annotations, one row per person, 0-based pixels.

    images: image names (relative to the image folder); centers (N,2) float32;
    scales (N,) float32 person height / 200; joints (N,16,2) float32 (0 where not
    annotated); joints_vis (N,16) bool annotated flags; head_boxes (N,4) float32
    x1,y1,x2,y2, NaN rows where unknown.
    """

    images: list[str]
    centers: np.ndarray
    scales: np.ndarray
    joints: np.ndarray
    joints_vis: np.ndarray
    head_boxes: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.images)
        self.centers = np.asarray(self.centers, np.float32).reshape(n, 2)
        self.scales = np.asarray(self.scales, np.float32).reshape(n)
        self.joints_vis = np.asarray(self.joints_vis, bool).reshape(n, NUM_JOINTS)
        joints = np.asarray(self.joints, np.float32).reshape(n, NUM_JOINTS, 2)
        self.joints = np.where(self.joints_vis[..., None], joints, 0.0).astype(np.float32)
        self.head_boxes = np.asarray(self.head_boxes, np.float32).reshape(n, 4)

    def __len__(self) -> int:
        return len(self.images)


def _one_based(values: np.ndarray) -> np.ndarray:
    """float32 pixels + 1 in float64: exact, so reading (minus 1) gives back the same float32."""
    return np.asarray(values, np.float32).astype(np.float64) + 1.0


def to_mpii_json(ann: MpiiAnnotations) -> list[dict]:
    """The official HRNet JSON list for `ann` (1-based coordinates)."""
    out = []
    for p in range(len(ann)):
        vis = ann.joints_vis[p]
        entry: dict[str, Any] = {
            "image": ann.images[p],
            "center": _one_based(ann.centers[p]).tolist(),
            "scale": float32_list(ann.scales[p:p + 1])[0],
            "joints": np.where(vis[:, None], _one_based(ann.joints[p]), -1.0).tolist(),
            "joints_vis": vis.astype(int).tolist(),
        }
        if np.isfinite(ann.head_boxes[p]).all():
            entry["head_box"] = _one_based(ann.head_boxes[p]).tolist()
        out.append(entry)
    return out


def write_mpii_json(ann: MpiiAnnotations, path: str | os.PathLike) -> None:
    """Write MPII annotations in the official HRNet JSON layout, atomically."""
    write_json_atomic(path, to_mpii_json(ann))


def parse_mpii_json(obj: Any, name: str) -> MpiiAnnotations:
    """Validate and convert an already-loaded MPII JSON list (`name` appears in errors)."""
    if not isinstance(obj, list):
        raise HrtrackError(f"{name}: an MPII annotation file must be a list of people, got {short(obj)}")
    n = len(obj)
    images = []
    centers = np.zeros((n, 2))
    scales = np.zeros(n)
    joints = np.zeros((n, NUM_JOINTS, 2))
    vis = np.zeros((n, NUM_JOINTS), bool)
    heads = np.full((n, 4), np.nan)
    for k, entry in enumerate(obj):
        where = f"[{k}]"
        fields(entry, ("image", "center", "scale", "joints", "joints_vis"), name, where)
        if not isinstance(entry["image"], str) or not entry["image"]:
            raise HrtrackError(f"{name}: {where}.image must be a file name, got {short(entry['image'])}")
        images.append(entry["image"])
        centers[k] = numbers(entry["center"], 2, name, f"{where}.center") - 1
        if not is_number(entry["scale"]) or entry["scale"] <= 0:
            raise HrtrackError(f"{name}: {where}.scale must be a positive number, got {short(entry['scale'])}")
        scales[k] = entry["scale"]
        rows = entry["joints"]
        if not (isinstance(rows, list) and len(rows) == NUM_JOINTS):
            raise HrtrackError(f"{name}: {where}.joints must hold {NUM_JOINTS} [x, y] pairs, got {short(rows)}")
        for j, xy in enumerate(rows):
            joints[k, j] = numbers(xy, 2, name, f"{where}.joints[{j}]") - 1
        flags = entry["joints_vis"]
        if not (isinstance(flags, list) and len(flags) == NUM_JOINTS and all(f in (0, 1) for f in flags)):
            raise HrtrackError(f"{name}: {where}.joints_vis must be {NUM_JOINTS} flags 0/1, got {short(flags)}")
        vis[k] = np.asarray(flags, bool)
        if "head_box" in entry:
            heads[k] = numbers(entry["head_box"], 4, name, f"{where}.head_box") - 1
    return MpiiAnnotations(images, centers, scales, joints, vis, heads)


def read_mpii_json(path: str | os.PathLike) -> MpiiAnnotations:
    """Read an MPII annotation file in the official HRNet JSON layout."""
    return parse_mpii_json(read_json(path), str(path))


def _items(v: Any) -> list:
    """A MATLAB struct array as loaded with squeeze_me: one struct, an array of them, or empty."""
    if isinstance(v, np.ndarray):
        return list(v.reshape(-1))
    return [v]


def _scalar(v: Any) -> float | None:
    """A MATLAB numeric scalar (possibly wrapped in an array); None when empty or absent."""
    arr = np.asarray(v)
    if arr.dtype.kind in "biuf" and arr.size == 1 and np.isfinite(arr.reshape(-1)[0]):
        return float(arr.reshape(-1)[0])
    return None


def _field(struct: Any, key: str) -> Any:
    return getattr(struct, key, None) if hasattr(struct, "_fieldnames") else None


def read_mpii_mat(path: str | os.PathLike, train_only: bool = True) -> MpiiAnnotations:
    """People with annotated joints in the original `mpii_human_pose_v1_u12_1.mat`.

    Reads `RELEASE.annolist(i).annorect(r)`: `annopoints.point` (`id` 0..15, `x`,
    `y`), `scale`, `objpos` and the head box `x1,y1,x2,y2`; with `train_only`, only
    images flagged in `RELEASE.img_train`. People without joints or without
    scale/objpos are not annotated for pose (MPII's test people, group members) and
    are not rows; a malformed entry raises HrtrackError naming the file and field.
    """
    name = str(path)
    if not os.path.isfile(path):
        raise HrtrackError(f"file not found: {path}")
    try:
        mat = scipy.io.loadmat(path, struct_as_record=False, squeeze_me=True)
    except Exception as exc:  # loadmat raises many types (MatReadError, IndexError, ...) on a bad file
        raise HrtrackError(f"{name} is not a readable MATLAB file: {exc}") from None
    release = mat.get("RELEASE")
    annolist = _field(release, "annolist")
    if annolist is None:
        raise HrtrackError(f"{name}: no RELEASE.annolist (not an MPII Human Pose annotation file)")
    images = _items(annolist)
    train = np.ones(len(images), bool)
    if train_only:
        flags = np.asarray(_field(release, "img_train")).reshape(-1)
        if flags.size != len(images) or flags.dtype.kind not in "biuf":
            raise HrtrackError(f"{name}: RELEASE.img_train must hold one 0/1 flag per annolist entry "
                               f"({len(images)}), got {flags.size}")
        train = flags.astype(bool)
    rows: dict[str, list] = {"images": [], "centers": [], "scales": [], "joints": [], "vis": [], "heads": []}
    for i, entry in enumerate(images):
        if not train[i]:
            continue
        where = f"RELEASE.annolist({i + 1})"
        image = _field(_field(entry, "image"), "name")
        if not isinstance(image, str) or not image:
            raise HrtrackError(f"{name}: {where}.image.name must be a file name, got {short(image)}")
        rects = _field(entry, "annorect")
        for r, rect in enumerate(_items(rects) if rects is not None else []):
            _read_mat_person(rect, image, rows, name, f"{where}.annorect({r + 1})")
    return MpiiAnnotations(rows["images"], np.reshape(rows["centers"], (-1, 2)), np.asarray(rows["scales"]),
                           np.reshape(rows["joints"], (-1, NUM_JOINTS, 2)),
                           np.reshape(rows["vis"], (-1, NUM_JOINTS)), np.reshape(rows["heads"], (-1, 4)))


def _read_mat_person(rect: Any, image: str, rows: dict[str, list], name: str, where: str) -> None:
    """Append one annorect with joints to `rows`; skip people MPII did not annotate for pose."""
    points = _field(_field(rect, "annopoints"), "point")
    scale = _scalar(_field(rect, "scale"))
    objpos = _field(rect, "objpos")
    if points is None or scale is None or objpos is None:
        return
    cx, cy = _scalar(_field(objpos, "x")), _scalar(_field(objpos, "y"))
    if cx is None or cy is None:
        raise HrtrackError(f"{name}: {where}.objpos must have numeric x and y")
    joints = np.zeros((NUM_JOINTS, 2))
    vis = np.zeros(NUM_JOINTS, bool)
    for k, pt in enumerate(_items(points)):
        pw = f"{where}.annopoints.point({k + 1})"
        jid, x, y = (_scalar(_field(pt, key)) for key in ("id", "x", "y"))
        if jid is None or x is None or y is None:
            raise HrtrackError(f"{name}: {pw} needs numeric id, x and y")
        if not (jid.is_integer() and 0 <= jid < NUM_JOINTS):
            raise HrtrackError(f"{name}: {pw}.id = {jid:g} is not an MPII joint id (0..15)")
        joints[int(jid)] = (x - 1, y - 1)
        vis[int(jid)] = True
    head = [_scalar(_field(rect, key)) for key in ("x1", "y1", "x2", "y2")]
    rows["images"].append(image)
    rows["centers"].append((cx - 1, cy - 1))
    rows["scales"].append(scale)
    rows["joints"].append(joints)
    rows["vis"].append(vis)
    rows["heads"].append([np.nan] * 4 if None in head else [v - 1 for v in head])

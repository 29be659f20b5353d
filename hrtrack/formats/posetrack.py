"""PoseTrack 2017 / 2018 / 21 per-sequence files <-> arrays (DESIGN.md §5).

In memory, joints are always in the 17-slot PoseTrack layout
(`hrtrack.skeleton.POSETRACK`); PoseTrack 2017's 15 joint ids map through
`PT17_TO_PT18` at the file boundary and nowhere else; ears are never set.

Reading follows what the official tools read: a 2017 person without an
`annopoints[0].point` list is dropped (poseval discards it before evaluating),
a 2018 keypoint is absent only when it is (0, 0, 0) (poseval), a PoseTrack21
keypoint is present only when x > 0 and y > 0 whatever its visibility flag (the
PoseTrack21 evaluation kit), and frames keep the file's order (frames pair with
the ground truth by index, not by image name). PoseTrack21 files are the 2018
layout plus their own fields (`person_id` on people, `has_labeled_person` on
images), by which they are told apart. Every malformed input raises
`HrtrackError` naming the file and the field.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import HrtrackError
from ..fileio import AtomicWrite, read_json, write_json_atomic
from ..geometry import points_in_polygons
from ..skeleton import POSETRACK, PT17_TO_PT18
from .json_fields import PLAIN_NUMBERS, as_dict, as_list, flag, float32_list, integer, number, numbers, short

NUM_JOINTS = POSETRACK.num_joints
NUM_PT17_JOINTS = len(PT17_TO_PT18)
# poseval makes track ids unique across sequences by adding seq_index * 10000.
MAX_TRACK_ID = 10000
FORMATS = ("posetrack17", "posetrack18", "posetrack21")
# PoseTrack 2018 image ids: 10000000000 + vid_id * 10000 + frame index.
PT18_IMAGE_ID_BASE = 10_000_000_000


@dataclass
class PoseTrackFrame:
    """One frame of a PoseTrack sequence, N people, 17 PoseTrack joint slots.

    keypoints (N,17,2) float32 x,y pixels; visible (N,17) bool (joint annotated in
    ground truth / emitted in predictions); joint_scores (N,17) float32, NaN where
    the file gives none; track_ids (N,) int64, -1 where the file gives none;
    scores (N,) float32 person scores, NaN when absent; head_boxes and boxes (N,4)
    float32 x1,y1,x2,y2, NaN rows when absent; ignore_regions: polygons (P,2).
    unannotated_people counts the people of a 2017 file without an
    `annopoints[0].point` list: they are not read, but poseval still scores a
    ground-truth frame whose only people are such. person_ids (N,) int64:
    PoseTrack21's dataset-wide person ids, -1 where the file gives none. A frame
    read from a PoseTrack21 file keeps, in keypoints, the file's coordinates of
    the joints its rule reads as absent (x <= 0 or y <= 0); other readers leave
    absent joints at (0, 0).
    """

    image: str
    is_labeled: bool
    keypoints: np.ndarray
    visible: np.ndarray
    joint_scores: np.ndarray
    track_ids: np.ndarray
    scores: np.ndarray
    head_boxes: np.ndarray
    boxes: np.ndarray
    ignore_regions: list[np.ndarray] = field(default_factory=list)
    image_id: int | None = None
    unannotated_people: int = 0
    person_ids: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.keypoints = np.asarray(self.keypoints, np.float32).reshape(-1, NUM_JOINTS, 2)
        n = len(self.keypoints)
        self.visible = np.asarray(self.visible, bool).reshape(n, NUM_JOINTS)
        self.joint_scores = np.asarray(self.joint_scores, np.float32).reshape(n, NUM_JOINTS)
        self.track_ids = np.asarray(self.track_ids, np.int64).reshape(n)
        self.scores = np.asarray(self.scores, np.float32).reshape(n)
        self.head_boxes = np.asarray(self.head_boxes, np.float32).reshape(n, 4)
        self.boxes = np.asarray(self.boxes, np.float32).reshape(n, 4)
        self.ignore_regions = [np.asarray(p, np.float32).reshape(-1, 2) for p in self.ignore_regions]
        self.person_ids = (np.full(n, -1, np.int64) if self.person_ids is None
                           else np.asarray(self.person_ids, np.int64).reshape(n))

    def __len__(self) -> int:
        return len(self.keypoints)

    @classmethod
    def empty(cls, image: str, is_labeled: bool = False, image_id: int | None = None,
              ignore_regions: list[np.ndarray] | None = None) -> "PoseTrackFrame":
        """A frame with no people."""
        return cls(image, is_labeled, np.zeros((0, NUM_JOINTS, 2), np.float32),
                   np.zeros((0, NUM_JOINTS), bool), np.zeros((0, NUM_JOINTS), np.float32),
                   np.zeros(0, np.int64), np.zeros(0, np.float32), np.zeros((0, 4), np.float32),
                   np.zeros((0, 4), np.float32), list(ignore_regions or []), image_id)

    def take(self, index) -> "PoseTrackFrame":
        """Subset of the people by an integer index array or boolean mask."""
        return PoseTrackFrame(self.image, self.is_labeled, self.keypoints[index], self.visible[index],
                              self.joint_scores[index], self.track_ids[index], self.scores[index],
                              self.head_boxes[index], self.boxes[index], list(self.ignore_regions),
                              self.image_id, self.unannotated_people, self.person_ids[index])


@dataclass
class PoseTrackSequence:
    """A PoseTrack sequence: its file stem, its frames in file order, its video id.

    format: the file format it was read from (one of `FORMATS`), None when built in memory.
    """

    name: str
    frames: list[PoseTrackFrame]
    vid_id: str | None = None
    format: str | None = None


# ---------------------------------------------------------------- validation helpers











def _unwrap(d: dict, key: str, name: str, where: str) -> Any:
    """The single element of `d[key]`; poseval crashes on bare scalars, so they are errors."""
    v = d[key]
    if not (isinstance(v, list) and len(v) == 1):
        raise HrtrackError(f"{name}: {where}.{key} must be a one-element list such as [{short(v)}] "
                           f"(PoseTrack 2017 wraps every scalar), got {short(v)}")
    return v[0]






def _track_id(v: Any, name: str, where: str, capped: bool = True) -> int:
    """A track id: 0 <= id < 10000 (poseval's limit), or any id >= 0 when not `capped` (PoseTrack21)."""
    tid = integer(v, name, where)
    if capped and not 0 <= tid < MAX_TRACK_ID:
        raise HrtrackError(f"{name}: {where} = {tid} is outside 0..{MAX_TRACK_ID - 1} (poseval's limit)")
    if tid < 0:
        raise HrtrackError(f"{name}: {where} = {tid} is negative")
    return tid


def _check_unique_ids(ids: np.ndarray, name: str, where: str) -> None:
    known = ids[ids >= 0]
    uniq, counts = np.unique(known, return_counts=True)
    if (counts > 1).any():
        raise HrtrackError(f"{name}: {where}: track id {int(uniq[counts > 1][0])} appears "
                           f"{int(counts[counts > 1][0])} times in one frame")


def _vid_id_from_image(image: str) -> str | None:
    """poseval's video id: the image folder's name up to the first '_' ("000342_mpii_test" -> "000342")."""
    folder = os.path.basename(os.path.dirname(image))
    return (folder.split("_")[0] or None) if folder else None


@dataclass
class _People:
    """Row-wise accumulator for one frame's people while parsing."""

    n: int
    keypoints: np.ndarray = field(init=False)
    visible: np.ndarray = field(init=False)
    joint_scores: np.ndarray = field(init=False)
    track_ids: np.ndarray = field(init=False)
    scores: np.ndarray = field(init=False)
    head_boxes: np.ndarray = field(init=False)
    boxes: np.ndarray = field(init=False)
    person_ids: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        n = self.n
        self.keypoints = np.zeros((n, NUM_JOINTS, 2), np.float32)
        self.visible = np.zeros((n, NUM_JOINTS), bool)
        self.joint_scores = np.full((n, NUM_JOINTS), np.nan, np.float32)
        self.track_ids = np.full(n, -1, np.int64)
        self.scores = np.full(n, np.nan, np.float32)
        self.head_boxes = np.full((n, 4), np.nan, np.float32)
        self.boxes = np.full((n, 4), np.nan, np.float32)
        self.person_ids = np.full(n, -1, np.int64)

    def frame(self, image: str, is_labeled: bool, ignore: list[np.ndarray],
              image_id: int | None, unannotated: int = 0) -> PoseTrackFrame:
        return PoseTrackFrame(image, is_labeled, self.keypoints, self.visible, self.joint_scores,
                              self.track_ids, self.scores, self.head_boxes, self.boxes, ignore, image_id,
                              unannotated, self.person_ids)


# ---------------------------------------------------------------- PoseTrack 2017

def _has_points(rect: dict) -> bool:
    ap = rect.get("annopoints")
    return isinstance(ap, list) and len(ap) > 0 and isinstance(ap[0], dict) and "point" in ap[0]


# A point's "score" when the file gives none (the list itself marks the absence).
_NO_SCORE = [float("nan")]


def _points17_fast(points: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(ids (n,), xy (n,2), scores (n,) NaN where absent) when every point is well formed, else None.

    The common case in a few list comprehensions; anything unusual returns None and
    `_points17_checked` finds and reports the problem.
    """
    try:
        rows = [(p["id"], p["x"], p["y"], p.get("score", _NO_SCORE)) for p in points]
    except (TypeError, KeyError, AttributeError):
        return None
    cells = [c for row in rows for c in row]
    if not all(type(c) is list and len(c) == 1 for c in cells):
        return None
    values = [c[0] for c in cells]
    if not ({type(v) for v in values} <= PLAIN_NUMBERS and all(-2**63 <= v < 2**63 for v in values)):
        return None
    arr = np.array(values, np.float64).reshape(-1, 4)
    absent = np.array([row[3] is _NO_SCORE for row in rows], bool).reshape(-1)
    ids = arr[:, 0]
    if not (np.isfinite(arr[:, :3]).all() and np.isfinite(arr[~absent, 3]).all()
            and (ids == np.round(ids)).all() and ((ids >= 0) & (ids < NUM_PT17_JOINTS)).all()
            and len(np.unique(ids)) == len(ids)):
        return None
    return ids.astype(np.int64), arr[:, 1:3], arr[:, 3]


def _points17_checked(points: Any, name: str, where: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`_points17_fast`'s result, point by point, raising HrtrackError on the first malformed field."""
    points = as_list(points, name, where)
    ids, xy, scores = [], [], []
    for pi, pt in enumerate(points):
        pw = f"{where}[{pi}]"
        pt = as_dict(pt, name, pw)
        for key in ("id", "x", "y"):
            if key not in pt:
                raise HrtrackError(f"{name}: {pw} has no {key!r}")
        jid = integer(_unwrap(pt, "id", name, pw), name, f"{pw}.id")
        if not 0 <= jid < NUM_PT17_JOINTS:
            raise HrtrackError(f"{name}: {pw}.id = {jid} is not a PoseTrack 2017 joint id (0..14)")
        if jid in ids:
            raise HrtrackError(f"{name}: {pw}.id = {jid} appears twice in one person")
        ids.append(jid)
        xy.append((number(_unwrap(pt, "x", name, pw), name, f"{pw}.x"),
                   number(_unwrap(pt, "y", name, pw), name, f"{pw}.y")))
        scores.append(number(_unwrap(pt, "score", name, pw), name, f"{pw}.score") if "score" in pt
                      else float("nan"))
    return np.array(ids, np.int64), np.array(xy, np.float64).reshape(-1, 2), np.array(scores, np.float64)


def _parse17_person(rect: dict, people: _People, row: int, name: str, where: str) -> None:
    points = rect["annopoints"][0]["point"]
    parsed = _points17_fast(points) if isinstance(points, list) else None
    if parsed is None:
        parsed = _points17_checked(points, name, f"{where}.annopoints[0].point")
    ids, xy, scores = parsed
    slots = PT17_TO_PT18[ids]
    people.keypoints[row, slots] = xy
    people.visible[row, slots] = True
    people.joint_scores[row, slots] = scores
    head = [k for k in ("x1", "y1", "x2", "y2") if k in rect]
    if head and len(head) != 4:
        raise HrtrackError(f"{name}: {where} has head box fields {head}; all of x1, y1, x2, y2 are needed")
    if head:
        people.head_boxes[row] = [number(_unwrap(rect, k, name, where), name, f"{where}.{k}")
                                  for k in ("x1", "y1", "x2", "y2")]
    if "score" in rect:
        people.scores[row] = number(_unwrap(rect, "score", name, where), name, f"{where}.score")
    if "track_id" in rect:
        people.track_ids[row] = _track_id(_unwrap(rect, "track_id", name, where), name, f"{where}.track_id")


def _parse_polygon17(region: Any, name: str, where: str) -> np.ndarray:
    points = as_list(as_dict(region, name, where).get("point"), name, f"{where}.point")
    xy = np.zeros((len(points), 2), np.float32)
    for pi, pt in enumerate(points):
        pw = f"{where}.point[{pi}]"
        pt = as_dict(pt, name, pw)
        if "x" not in pt or "y" not in pt:
            raise HrtrackError(f"{name}: {pw} needs 'x' and 'y'")
        xy[pi] = (number(_unwrap(pt, "x", name, pw), name, f"{pw}.x"),
                  number(_unwrap(pt, "y", name, pw), name, f"{pw}.y"))
    return xy


def _parse17(obj: Any, name: str) -> PoseTrackSequence:
    if not isinstance(obj, dict) or "annolist" not in obj:
        raise HrtrackError(f"{name}: no 'annolist' (PoseTrack 2017) nor 'images' (PoseTrack 2018 or 21) field")
    annolist = as_list(obj["annolist"], name, "annolist")
    frames = []
    for fi, entry in enumerate(annolist):
        where = f"annolist[{fi}]"
        entry = as_dict(entry, name, where)
        image = ""
        if "image" in entry:
            img = as_dict(_unwrap(entry, "image", name, where), name, f"{where}.image[0]")
            image = img.get("name", "")
            if not isinstance(image, str):
                raise HrtrackError(f"{name}: {where}.image[0].name must be a string, got {short(image)}")
        rects = as_list(entry.get("annorect", []), name, f"{where}.annorect")
        kept = [(ri, as_dict(r, name, f"{where}.annorect[{ri}]")) for ri, r in enumerate(rects)]
        kept = [(ri, r) for ri, r in kept if _has_points(r)]
        people = _People(len(kept))
        for row, (ri, rect) in enumerate(kept):
            _parse17_person(rect, people, row, name, f"{where}.annorect[{ri}]")
        _check_unique_ids(people.track_ids, name, where)
        ignore = [_parse_polygon17(r, name, f"{where}.ignore_regions[{k}]")
                  for k, r in enumerate(as_list(entry.get("ignore_regions", []), name, f"{where}.ignore_regions"))]
        labeled = len(rects) > 0
        if "is_labeled" in entry:
            labeled = flag(_unwrap(entry, "is_labeled", name, where), name, f"{where}.is_labeled")
        frames.append(people.frame(image, labeled, ignore, None, len(rects) - len(kept)))
    vid = next((v for v in (_vid_id_from_image(f.image) for f in frames) if v), None)
    return PoseTrackSequence(Path(name).stem, frames, vid, "posetrack17")


# ---------------------------------------------------------------- PoseTrack 2018 and 21

def _keypoint_slots(obj: dict, name: str, pt21: bool) -> np.ndarray:
    """Slot in the 17-joint layout of each keypoint of the file's category, -1 for ears (not evaluated).

    The PoseTrack21 kit reads keypoints by position, so a PoseTrack21 file must list them in the standard order.
    """
    if "categories" not in obj:
        names: list = list(POSETRACK.joint_names)
    else:
        cats = as_list(obj["categories"], name, "categories")
        if len(cats) != 1 or not isinstance(cats[0], dict) or "keypoints" not in cats[0]:
            raise HrtrackError(f"{name}: categories must hold exactly one person category with 'keypoints'")
        names = as_list(cats[0]["keypoints"], name, "categories[0].keypoints")
        if pt21 and names != list(POSETRACK.joint_names):
            raise HrtrackError(f"{name}: categories[0].keypoints must be the 17 PoseTrack keypoints in their "
                               f"standard order in a PoseTrack21 file (its evaluation kit reads them by position), "
                               f"got {short(names)}")
    slots = []
    for k, joint in enumerate(names):
        if joint not in POSETRACK.joint_names:
            raise HrtrackError(f"{name}: categories[0].keypoints[{k}] = {short(joint)} is not a PoseTrack joint")
        slots.append(POSETRACK.index(joint))
    slots_arr = np.array(slots, np.int64)
    if len(np.unique(slots_arr)) != len(slots_arr):
        raise HrtrackError(f"{name}: categories[0].keypoints lists a joint twice")
    evaluated = np.isin(slots_arr, PT17_TO_PT18)
    return np.where(evaluated, slots_arr, -1)




def _xywh_to_xyxy(b: np.ndarray) -> np.ndarray:
    return np.array([b[0], b[1], b[0] + b[2], b[1] + b[3]], np.float32)


def _parse18_person(ann: dict, slots: np.ndarray, people: _People, row: int, name: str, where: str,
                    pt21: bool) -> None:
    k = len(slots)
    if "keypoints" not in ann:
        raise HrtrackError(f"{name}: {where} has no 'keypoints'")
    kp = numbers(ann["keypoints"], 3 * k, name, f"{where}.keypoints").reshape(k, 3)
    if pt21:
        present = (kp[:, 0] > 0) & (kp[:, 1] > 0) & (slots >= 0)
        # Absent joints keep their coordinates too: the kit's ignore-region rule reads them.
        people.keypoints[row, slots[slots >= 0]] = kp[slots >= 0, :2]
    else:
        present = ~(kp == 0).all(axis=1) & (slots >= 0)
        people.keypoints[row, slots[present]] = kp[present, :2]
    people.visible[row, slots[present]] = True
    if ann.get("scores"):
        js = numbers(ann["scores"], k, name, f"{where}.scores")
        people.joint_scores[row, slots[slots >= 0]] = js[slots >= 0]
    if "score" in ann:
        people.scores[row] = number(ann["score"], name, f"{where}.score")
    if "track_id" in ann:
        people.track_ids[row] = _track_id(ann["track_id"], name, f"{where}.track_id", capped=not pt21)
    elif pt21:
        raise HrtrackError(f"{name}: {where} has no 'track_id' (PoseTrack21 needs one on every person)")
    if pt21 and ann.get("person_id") is not None:
        people.person_ids[row] = integer(ann["person_id"], name, f"{where}.person_id")
    for key, dest in (("bbox", people.boxes), ("bbox_head", people.head_boxes)):
        if ann.get(key) is not None:
            dest[row] = _xywh_to_xyxy(numbers(ann[key], 4, name, f"{where}.{key}"))


def _parse_regions18(img: dict, name: str, where: str) -> list[np.ndarray]:
    xs = img.get("ignore_regions_x") or []
    ys = img.get("ignore_regions_y") or []
    xs = as_list(xs, name, f"{where}.ignore_regions_x")
    ys = as_list(ys, name, f"{where}.ignore_regions_y")
    if len(xs) != len(ys):
        raise HrtrackError(f"{name}: {where} has {len(xs)} ignore_regions_x but {len(ys)} ignore_regions_y")
    polys = []
    for r, (px, py) in enumerate(zip(xs, ys)):
        px = as_list(px, name, f"{where}.ignore_regions_x[{r}]")
        rx = numbers(px, len(px), name, f"{where}.ignore_regions_x[{r}]")
        ry = numbers(py, len(px), name, f"{where}.ignore_regions_y[{r}]")
        polys.append(np.stack([rx, ry], axis=1).astype(np.float32))
    return polys


def _parse18(obj: dict, name: str, pt21: bool) -> PoseTrackSequence:
    slots = _keypoint_slots(obj, name, pt21)
    images = as_list(obj["images"], name, "images")
    anns = as_list(obj.get("annotations", []), name, "annotations")
    by_image: dict[int, list[tuple[int, dict]]] = {}
    ids = []
    for ii, img in enumerate(images):
        img = as_dict(img, name, f"images[{ii}]")
        if "id" not in img:
            raise HrtrackError(f"{name}: images[{ii}] has no 'id'")
        iid = integer(img["id"], name, f"images[{ii}].id")
        if iid in by_image:
            raise HrtrackError(f"{name}: images[{ii}].id = {iid} appears twice")
        by_image[iid] = []
        ids.append(iid)
    for ai, ann in enumerate(anns):
        ann = as_dict(ann, name, f"annotations[{ai}]")
        if "image_id" not in ann:
            raise HrtrackError(f"{name}: annotations[{ai}] has no 'image_id'")
        iid = integer(ann["image_id"], name, f"annotations[{ai}].image_id")
        if iid not in by_image:
            raise HrtrackError(f"{name}: annotations[{ai}].image_id = {iid} is not the id of any image")
        by_image[iid].append((ai, ann))
    frames = []
    vid = None
    for ii, (img, iid) in enumerate(zip(images, ids)):
        where = f"images[{ii}]"
        image = img.get("file_name", "")
        if not isinstance(image, str):
            raise HrtrackError(f"{name}: {where}.file_name must be a string, got {short(image)}")
        if vid is None and img.get("vid_id") is not None:
            vid = str(img["vid_id"])
        people = _People(len(by_image[iid]))
        for row, (ai, ann) in enumerate(by_image[iid]):
            _parse18_person(ann, slots, people, row, name, f"annotations[{ai}]", pt21)
        _check_unique_ids(people.track_ids, name, f"{where} (image id {iid})")
        labeled = len(by_image[iid]) > 0
        if "is_labeled" in img:
            labeled = flag(img["is_labeled"], name, f"{where}.is_labeled")
        frames.append(people.frame(image, labeled, _parse_regions18(img, name, where), iid))
    if vid is None:
        vid = next((v for v in (_vid_id_from_image(f.image) for f in frames) if v), None)
    return PoseTrackSequence(Path(name).stem, frames, vid, "posetrack21" if pt21 else "posetrack18")


def is_posetrack21(obj: Any) -> bool:
    """Whether a COCO-like PoseTrack object carries PoseTrack21's own fields.

    That is `has_labeled_person` on an image (ground truth) or `person_id` on an
    annotation (ground truth and the kit's submission format).
    """
    if not isinstance(obj, dict):
        return False
    images, anns = obj.get("images"), obj.get("annotations")
    return ((isinstance(images, list) and any(isinstance(i, dict) and "has_labeled_person" in i for i in images))
            or (isinstance(anns, list) and any(isinstance(a, dict) and "person_id" in a for a in anns)))


def posetrack21_people(frame: PoseTrackFrame, ignore_regions: list[np.ndarray] | None = None,
                       file_coordinates: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """A frame's people as the PoseTrack21 kit evaluates them: present joints (N,17) and kept people (N,).

    The kit reads coordinates only, over the 15 evaluated joints (ears never
    count): a joint is present where the file holds x > 0 and y > 0. In a frame
    with ignore regions (the frame's own, or the ground truth's `ignore_regions`
    for a prediction) it removes the joints strictly inside a region and drops a
    person when each of its joints is removed or lies at x <= 0 and y <= 0;
    other frames keep every person, with or without joints.

    The file's coordinates are the keypoints themselves for a frame read from a
    PoseTrack21 file (`file_coordinates`, absent joints included), else those of
    the visible joints and (0, 0) elsewhere, as the writers write them.
    """
    regions = frame.ignore_regions if ignore_regions is None else ignore_regions
    xy = (frame.keypoints if file_coordinates
          else np.where(frame.visible[..., None], frame.keypoints, 0.0)).astype(np.float64)
    evaluated = np.zeros(NUM_JOINTS, bool)
    evaluated[PT17_TO_PT18] = True
    present = (xy > 0).all(-1) & evaluated
    kept = np.ones(len(frame), bool)
    if regions:
        inside = points_in_polygons(xy.reshape(-1, 2), regions).reshape(present.shape)
        kept = ~((inside | (xy <= 0).all(-1)) | ~evaluated).all(1)
        present &= ~inside
    return present, kept


# ---------------------------------------------------------------- public API

def parse_sequence(obj: Any, name: str, ambiguous_as: str = "posetrack18") -> PoseTrackSequence:
    """Parse an already-loaded PoseTrack JSON object; `name` (a path) appears in errors and gives the stem.

    Detects 2017 by 'annolist', and a COCO-like file ('images') as PoseTrack21
    when it carries PoseTrack21's own fields (`is_posetrack21`). A COCO-like file
    without them (a 2018 file, or a PoseTrack21 prediction without `person_id`)
    is read as `ambiguous_as`: "posetrack18" or "posetrack21".
    """
    if ambiguous_as not in ("posetrack18", "posetrack21"):
        raise HrtrackError(f"ambiguous_as must be posetrack18 or posetrack21, got {ambiguous_as!r}")
    if isinstance(obj, dict) and "images" in obj and "annolist" not in obj:
        return _parse18(obj, str(name), ambiguous_as == "posetrack21" or is_posetrack21(obj))
    return _parse17(obj, str(name))


def read_sequence(path: str | os.PathLike, ambiguous_as: str = "posetrack18") -> PoseTrackSequence:
    """Read one PoseTrack 2017, 2018 or 21 per-sequence JSON file (format detected as `parse_sequence` does).

    Raises HrtrackError naming the file and the field on any malformed input.
    """
    return parse_sequence(read_json(path), str(path), ambiguous_as)


def validate_posetrack17(obj: Any, name: str, prediction: bool = True) -> PoseTrackSequence:
    """Check a PoseTrack 2017 object holds everything poseval needs; return it parsed.

    Always: 'annolist', every scalar in a one-element list, joint ids 0..14, track
    ids 0 <= id < 10000 and unique within a frame. For predictions also: a track
    id on every person and a score on every joint.
    """
    if not isinstance(obj, dict) or "annolist" not in obj:
        raise HrtrackError(f"{name}: no 'annolist' field (not a PoseTrack 2017 file)")
    seq = _parse17(obj, name)
    if prediction:
        for fi, fr in enumerate(seq.frames):
            if (fr.track_ids < 0).any():
                raise HrtrackError(f"{name}: annolist[{fi}]: a person has no 'track_id'")
            if np.isnan(fr.joint_scores[fr.visible]).any():
                raise HrtrackError(f"{name}: annolist[{fi}]: a joint has no 'score'")
    return seq


def sequence_files(folder: str | os.PathLike) -> dict[str, Path]:
    """{sequence name (file stem): path} for the .json files of a folder, sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise HrtrackError(f"not a folder: {folder}")
    return {p.stem: p for p in sorted(folder.glob("*.json")) if p.is_file()}




def _check_frame_writable(fr: PoseTrackFrame, name: str, fi: int, fmt: str) -> None:
    """Track ids must be unique within a frame; 2017/2018 files need them below 10000 (poseval's limit),
    PoseTrack21 files need one on every person (its kit reads `track_id` unconditionally)."""
    if fmt != "posetrack21" and (fr.track_ids >= MAX_TRACK_ID).any():
        raise HrtrackError(f"{name} frame {fi}: track id {int(fr.track_ids.max())} does not fit a PoseTrack file "
                           f"(ids must be < {MAX_TRACK_ID}, poseval's limit); write --format coco or posetrack21 "
                           f"for longer videos")
    if fmt == "posetrack21" and (fr.track_ids < 0).any():
        raise HrtrackError(f"{name} frame {fi}: a person has no track id, which a PoseTrack21 file needs")
    known = fr.track_ids[fr.track_ids >= 0]
    if len(np.unique(known)) != len(known):
        raise HrtrackError(f"{name} frame {fi}: duplicate track ids {fr.track_ids.tolist()}")


def _check_writable(seq: PoseTrackSequence, fmt: str) -> None:
    for fi, fr in enumerate(seq.frames):
        _check_frame_writable(fr, seq.name, fi, fmt)


def posetrack17_frame(fr: PoseTrackFrame, index: int) -> dict:
    """One `annolist` entry of a PoseTrack 2017 file: frame `index` (0-based), every scalar in a list.

    Only the 15 PoseTrack 2017 joints are written; person boxes have no 2017 field.
    """
    rects = []
    for p in range(len(fr)):
        vis = fr.visible[p, PT17_TO_PT18]
        jids = np.flatnonzero(vis)
        slots = PT17_TO_PT18[jids]
        xs, ys = float32_list(fr.keypoints[p, slots, 0]), float32_list(fr.keypoints[p, slots, 1])
        js = fr.joint_scores[p, slots]
        jss = float32_list(js)
        points = []
        for k, jid in enumerate(jids.tolist()):
            point = {"id": [jid], "x": [xs[k]], "y": [ys[k]]}
            if np.isfinite(js[k]):
                point["score"] = [jss[k]]
            points.append(point)
        rect: dict[str, Any] = {}
        if np.isfinite(fr.head_boxes[p]).all():
            for key, v in zip(("x1", "y1", "x2", "y2"), float32_list(fr.head_boxes[p])):
                rect[key] = [v]
        if np.isfinite(fr.scores[p]):
            rect["score"] = float32_list(fr.scores[p:p + 1])
        if fr.track_ids[p] >= 0:
            rect["track_id"] = [int(fr.track_ids[p])]
        rect["annopoints"] = [{"point": points}]
        rects.append(rect)
    regions = [{"point": [{"x": [x], "y": [y]} for x, y in zip(float32_list(poly[:, 0]), float32_list(poly[:, 1]))]}
               for poly in fr.ignore_regions]
    return {"image": [{"name": fr.image}], "annorect": rects, "ignore_regions": regions,
            "is_labeled": [bool(fr.is_labeled)], "imgnum": [index + 1]}


def to_posetrack17(seq: PoseTrackSequence) -> dict:
    """The PoseTrack 2017 object poseval reads (DESIGN.md §5): every scalar in a one-element list.

    Only the 15 PoseTrack 2017 joints are written; person boxes have no 2017 field.
    """
    _check_writable(seq, "posetrack17")
    return {"annolist": [posetrack17_frame(fr, fi) for fi, fr in enumerate(seq.frames)]}


def _video_number(vid_id: str | None) -> int | None:
    return int(vid_id) if vid_id is not None and vid_id.isdigit() else None


def _image_id(fr: PoseTrackFrame, index: int, video: int | None) -> int:
    """A frame's image id: as read, else the PoseTrack 2018 convention from the video number, else its index."""
    if fr.image_id is not None:
        return int(fr.image_id)
    if video is not None:
        return PT18_IMAGE_ID_BASE + video * 10000 + index
    return index


def _image_ids(seq: PoseTrackSequence) -> list[int]:
    video = _video_number(seq.vid_id)
    out = [_image_id(fr, fi, video) for fi, fr in enumerate(seq.frames)]
    if len(set(out)) != len(out):
        raise HrtrackError(f"{seq.name}: image ids are not unique")
    return out


def posetrack18_image(fr: PoseTrackFrame, image_id: int, nframes: int, vid_id: str | None) -> dict:
    """The `images` entry of one frame of a PoseTrack 2018 file."""
    image = {"id": image_id, "file_name": fr.image, "frame_id": image_id, "is_labeled": bool(fr.is_labeled),
             "nframes": nframes,
             "ignore_regions_x": [float32_list(p[:, 0]) for p in fr.ignore_regions],
             "ignore_regions_y": [float32_list(p[:, 1]) for p in fr.ignore_regions]}
    if vid_id is not None:
        image["vid_id"] = vid_id
    return image


def posetrack18_annotations(fr: PoseTrackFrame, image_id: int) -> list[dict]:
    """The `annotations` entries of one frame of a PoseTrack 2018 file; absent keypoints are (0, 0, 0)."""
    annotations = []
    for p in range(len(fr)):
        kp = np.zeros((NUM_JOINTS, 3), np.float32)
        kp[:, :2] = np.where(fr.visible[p, :, None], fr.keypoints[p], 0.0)
        kp[:, 2] = fr.visible[p]
        ann: dict[str, Any] = {"id": image_id * 100 + p, "image_id": image_id, "category_id": 1,
                               "keypoints": float32_list(kp.reshape(-1))}
        if fr.track_ids[p] >= 0:
            ann["track_id"] = int(fr.track_ids[p])
        js = fr.joint_scores[p]
        if np.isfinite(js[fr.visible[p]]).any():
            ann["scores"] = float32_list(np.where(np.isfinite(js), js, 0.0))
        if np.isfinite(fr.scores[p]):
            ann["score"] = float32_list(fr.scores[p:p + 1])[0]
        for key, box in (("bbox", fr.boxes[p]), ("bbox_head", fr.head_boxes[p])):
            if np.isfinite(box).all():
                # Full float64 digits: x + w then gives back the float32 x2 exactly.
                x1, y1, x2, y2 = (float(v) for v in box)
                ann[key] = [x1, y1, x2 - x1, y2 - y1]
        annotations.append(ann)
    return annotations


def posetrack21_image(fr: PoseTrackFrame, image_id: int, nframes: int, vid_id: str | None) -> dict:
    """The `images` entry of one frame of a PoseTrack21 file.

    `frame_id` is the image id, as in the release; `has_labeled_person` says whether the frame holds people.
    """
    image: dict[str, Any] = {"id": image_id, "file_name": fr.image, "frame_id": image_id}
    if vid_id is not None:
        image["vid_id"] = vid_id
    image.update({"is_labeled": bool(fr.is_labeled), "has_labeled_person": len(fr) > 0, "nframes": nframes,
                  "ignore_regions_x": [float32_list(p[:, 0]) for p in fr.ignore_regions],
                  "ignore_regions_y": [float32_list(p[:, 1]) for p in fr.ignore_regions]})
    return image


def posetrack21_annotations(fr: PoseTrackFrame, image_id: int) -> list[dict]:
    """The `annotations` entries of one frame of a PoseTrack21 file: the 2018 fields plus `person_id`.

    `person_id` is the frame's person id where it has one, else the track id.
    """
    annotations = posetrack18_annotations(fr, image_id)
    for p, ann in enumerate(annotations):
        pid = int(fr.person_ids[p])
        ann["person_id"] = pid if pid >= 0 else int(fr.track_ids[p])
    return annotations


def posetrack18_categories() -> list[dict]:
    """The one "person" category of a PoseTrack 2018 file, with the 17 keypoint names."""
    return [{"id": 1, "name": "person", "supercategory": "person", "keypoints": list(POSETRACK.joint_names),
             "skeleton": [[a + 1, b + 1] for a, b in POSETRACK.skeleton]}]


def to_posetrack18(seq: PoseTrackSequence) -> dict:
    """The PoseTrack 2018 COCO-like object (DESIGN.md §5); absent keypoints are (0, 0, 0)."""
    return _to_coco_like(seq, "posetrack18")


def to_posetrack21(seq: PoseTrackSequence) -> dict:
    """The PoseTrack21 object its kit reads: the 2018 layout plus `person_id` and `has_labeled_person`.

    Absent keypoints are (0, 0, 0); the kit counts a keypoint only where x > 0 and y > 0.
    """
    return _to_coco_like(seq, "posetrack21")


def _to_coco_like(seq: PoseTrackSequence, fmt: str) -> dict:
    _check_writable(seq, fmt)
    image_entry, annotation_entries = _COCO_LIKE[fmt]
    ids = _image_ids(seq)
    images = [image_entry(fr, iid, len(seq.frames), seq.vid_id) for fr, iid in zip(seq.frames, ids)]
    annotations = [ann for fr, iid in zip(seq.frames, ids) for ann in annotation_entries(fr, iid)]
    return {"images": images, "annotations": annotations, "categories": posetrack18_categories()}


# The two COCO-like formats: (images entry, annotations entries) of one frame.
_COCO_LIKE = {"posetrack18": (posetrack18_image, posetrack18_annotations),
              "posetrack21": (posetrack21_image, posetrack21_annotations)}


def write_posetrack17(seq: PoseTrackSequence, path: str | os.PathLike) -> None:
    """Write `seq` as the PoseTrack 2017 JSON poseval reads, atomically."""
    write_json_atomic(path, to_posetrack17(seq))


def write_posetrack18(seq: PoseTrackSequence, path: str | os.PathLike) -> None:
    """Write `seq` as a PoseTrack 2018 per-sequence JSON, atomically."""
    write_json_atomic(path, to_posetrack18(seq))


def write_posetrack21(seq: PoseTrackSequence, path: str | os.PathLike) -> None:
    """Write `seq` as a PoseTrack21 per-sequence JSON (`posetrack_data/<split>/<seq>.json`), atomically."""
    write_json_atomic(path, to_posetrack21(seq))


class PoseTrackWriter:
    """A PoseTrack 2017, 2018 or 21 sequence file written frame by frame, so memory stays flat on long videos.

    The file holds the same bytes as `write_posetrack17` / `write_posetrack18` /
    `write_posetrack21` of the whole sequence and appears atomically on `close()`;
    `abort()` (or a crash) leaves any previous file untouched. 2018 and 21 files
    list every image before any annotation and give each image the frame count,
    so both parts wait in anonymous scratch files (deleted by the OS whatever
    happens) until `close()`.

    Args:
        path: output JSON path.
        fmt: "posetrack17", "posetrack18" or "posetrack21".
        name: sequence name for messages.
        vid_id: PoseTrack video id (2018 image ids and `vid_id` fields).
    """

    def __init__(self, path: str | os.PathLike, fmt: str, name: str, vid_id: str | None = None) -> None:
        if fmt not in FORMATS:
            raise HrtrackError(f"fmt must be one of {', '.join(FORMATS)}, got {fmt!r}")
        self.path = Path(path)
        self.fmt = fmt
        self.name = name
        self.vid_id = vid_id
        self._video = _video_number(vid_id)
        self._count = 0
        self._annotations = 0
        # Ids from the frames themselves can repeat (ids made here from the frame index cannot).
        self._given_ids: set[int] = set()
        self._output = AtomicWrite(self.path)
        self._scratch: list[Any] = []
        try:
            self._file = open(self._output.tmp, "w", encoding="utf-8")
            if fmt == "posetrack17":
                self._file.write('{"annolist": [')
            else:
                self._scratch = [tempfile.TemporaryFile("w+", encoding="utf-8", dir=self.path.parent)
                                 for _ in range(2)]
        except OSError as exc:
            self.abort()
            raise HrtrackError(f"cannot write {self.path}: {exc.strerror or exc}") from None

    def add(self, fr: PoseTrackFrame) -> None:
        """Append the next frame."""
        _check_frame_writable(fr, self.name, self._count, self.fmt)
        try:
            self._add(fr)
        except OSError as exc:
            raise HrtrackError(f"cannot write {self.path}: {exc.strerror or exc}") from None
        self._count += 1

    def _add(self, fr: PoseTrackFrame) -> None:
        sep = ", " if self._count else ""
        if self.fmt == "posetrack17":
            self._file.write(sep + json.dumps(posetrack17_frame(fr, self._count)))
        else:
            iid = _image_id(fr, self._count, self._video)
            if fr.image_id is not None:
                if iid in self._given_ids:
                    raise HrtrackError(f"{self.name}: image id {iid} appears twice")
                self._given_ids.add(iid)
            images, annotations = self._scratch
            image_entry, annotation_entries = _COCO_LIKE[self.fmt]
            # One image per line, without the frame count that only close() knows.
            images.write(json.dumps(image_entry(fr, iid, 0, self.vid_id)) + "\n")
            for ann in annotation_entries(fr, iid):
                annotations.write((", " if self._annotations else "") + json.dumps(ann))
                self._annotations += 1

    def close(self) -> None:
        """Finish the file and move it into place."""
        try:
            self._finish()
        except OSError as exc:
            self.abort()
            raise HrtrackError(f"cannot write {self.path}: {exc.strerror or exc}") from None
        self._output.commit()

    def _finish(self) -> None:
        if self.fmt == "posetrack17":
            self._file.write("]}")
        else:
            images, annotations = self._scratch
            self._file.write('{"images": [')
            images.seek(0)
            for k, line in enumerate(images):
                image = json.loads(line)
                image["nframes"] = self._count
                self._file.write((", " if k else "") + json.dumps(image))
            self._file.write('], "annotations": [')
            annotations.seek(0)
            shutil.copyfileobj(annotations, self._file)
            self._file.write(f'], "categories": {json.dumps(posetrack18_categories())}}}')
        self._file.close()
        self._close_scratch()

    def abort(self) -> None:
        """Drop what was written; the previous file at `path`, if any, stays."""
        if hasattr(self, "_file"):
            self._file.close()
        self._close_scratch()
        self._output.discard()

    def _close_scratch(self) -> None:
        for f in self._scratch:
            f.close()

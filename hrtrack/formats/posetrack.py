"""PoseTrack 2017 / 2018 per-sequence files <-> arrays (DESIGN.md §5).

In memory, joints are always in the 17-slot PoseTrack layout
(`hrtrack.skeleton.POSETRACK`); PoseTrack 2017's 15 joint ids map through
`PT17_TO_PT18` at the file boundary and nowhere else; ears are never set.

Reading follows what the official `poseval` reads: a 2017 person without an
`annopoints[0].point` list is dropped (poseval discards it before evaluating),
a 2018 keypoint is absent only when it is (0, 0, 0), and frames keep the file's
order (frames pair with the ground truth by index, not by image name).
Every malformed input raises `HrtrackError` naming the file and the field.
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
from ..skeleton import POSETRACK, PT17_TO_PT18
from .json_fields import PLAIN_NUMBERS, as_dict, as_list, flag, float32_list, integer, number, numbers, short

NUM_JOINTS = POSETRACK.num_joints
NUM_PT17_JOINTS = len(PT17_TO_PT18)
# poseval makes track ids unique across sequences by adding seq_index * 10000.
MAX_TRACK_ID = 10000
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
    ground-truth frame whose only people are such.
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
                              self.image_id, self.unannotated_people)


@dataclass
class PoseTrackSequence:
    """A PoseTrack sequence: its file stem, its frames in file order, its video id."""

    name: str
    frames: list[PoseTrackFrame]
    vid_id: str | None = None


# ---------------------------------------------------------------- validation helpers











def _unwrap(d: dict, key: str, name: str, where: str) -> Any:
    """The single element of `d[key]`; poseval crashes on bare scalars, so they are errors."""
    v = d[key]
    if not (isinstance(v, list) and len(v) == 1):
        raise HrtrackError(f"{name}: {where}.{key} must be a one-element list such as [{short(v)}] "
                           f"(PoseTrack 2017 wraps every scalar), got {short(v)}")
    return v[0]






def _track_id(v: Any, name: str, where: str) -> int:
    tid = integer(v, name, where)
    if not 0 <= tid < MAX_TRACK_ID:
        raise HrtrackError(f"{name}: {where} = {tid} is outside 0..{MAX_TRACK_ID - 1} (poseval's limit)")
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

    def __post_init__(self) -> None:
        n = self.n
        self.keypoints = np.zeros((n, NUM_JOINTS, 2), np.float32)
        self.visible = np.zeros((n, NUM_JOINTS), bool)
        self.joint_scores = np.full((n, NUM_JOINTS), np.nan, np.float32)
        self.track_ids = np.full(n, -1, np.int64)
        self.scores = np.full(n, np.nan, np.float32)
        self.head_boxes = np.full((n, 4), np.nan, np.float32)
        self.boxes = np.full((n, 4), np.nan, np.float32)

    def frame(self, image: str, is_labeled: bool, ignore: list[np.ndarray],
              image_id: int | None, unannotated: int = 0) -> PoseTrackFrame:
        return PoseTrackFrame(image, is_labeled, self.keypoints, self.visible, self.joint_scores,
                              self.track_ids, self.scores, self.head_boxes, self.boxes, ignore, image_id,
                              unannotated)


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
        raise HrtrackError(f"{name}: no 'annolist' (PoseTrack 2017) nor 'images' (PoseTrack 2018) field")
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
    return PoseTrackSequence(Path(name).stem, frames, vid)


# ---------------------------------------------------------------- PoseTrack 2018

def _keypoint_slots(obj: dict, name: str) -> np.ndarray:
    """Slot in the 17-joint layout of each keypoint of the file's category, -1 for ears (not evaluated)."""
    if "categories" not in obj:
        names: list = list(POSETRACK.joint_names)
    else:
        cats = as_list(obj["categories"], name, "categories")
        if len(cats) != 1 or not isinstance(cats[0], dict) or "keypoints" not in cats[0]:
            raise HrtrackError(f"{name}: categories must hold exactly one person category with 'keypoints'")
        names = as_list(cats[0]["keypoints"], name, "categories[0].keypoints")
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


def _parse18_person(ann: dict, slots: np.ndarray, people: _People, row: int, name: str, where: str) -> None:
    k = len(slots)
    if "keypoints" not in ann:
        raise HrtrackError(f"{name}: {where} has no 'keypoints'")
    kp = numbers(ann["keypoints"], 3 * k, name, f"{where}.keypoints").reshape(k, 3)
    present = ~(kp == 0).all(axis=1) & (slots >= 0)
    people.keypoints[row, slots[present]] = kp[present, :2]
    people.visible[row, slots[present]] = True
    if ann.get("scores"):
        js = numbers(ann["scores"], k, name, f"{where}.scores")
        people.joint_scores[row, slots[slots >= 0]] = js[slots >= 0]
    if "score" in ann:
        people.scores[row] = number(ann["score"], name, f"{where}.score")
    if "track_id" in ann:
        people.track_ids[row] = _track_id(ann["track_id"], name, f"{where}.track_id")
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


def _parse18(obj: dict, name: str) -> PoseTrackSequence:
    slots = _keypoint_slots(obj, name)
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
            _parse18_person(ann, slots, people, row, name, f"annotations[{ai}]")
        _check_unique_ids(people.track_ids, name, f"{where} (image id {iid})")
        labeled = len(by_image[iid]) > 0
        if "is_labeled" in img:
            labeled = flag(img["is_labeled"], name, f"{where}.is_labeled")
        frames.append(people.frame(image, labeled, _parse_regions18(img, name, where), iid))
    if vid is None:
        vid = next((v for v in (_vid_id_from_image(f.image) for f in frames) if v), None)
    return PoseTrackSequence(Path(name).stem, frames, vid)


# ---------------------------------------------------------------- public API

def parse_sequence(obj: Any, name: str) -> PoseTrackSequence:
    """Parse an already-loaded PoseTrack JSON object; `name` (a path) appears in errors and gives the stem.

    Detects PoseTrack 2018 by its 'images' field and 2017 by 'annolist'.
    """
    if isinstance(obj, dict) and "images" in obj and "annolist" not in obj:
        return _parse18(obj, str(name))
    return _parse17(obj, str(name))


def read_sequence(path: str | os.PathLike) -> PoseTrackSequence:
    """Read one PoseTrack 2017 or 2018 per-sequence JSON file (format auto-detected).

    Raises HrtrackError naming the file and the field on any malformed input.
    """
    return parse_sequence(read_json(path), str(path))


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




def _check_frame_writable(fr: PoseTrackFrame, name: str, fi: int) -> None:
    """PoseTrack files need track ids below 10000 and unique within a frame; the tracker's ids must fit."""
    if (fr.track_ids >= MAX_TRACK_ID).any():
        raise HrtrackError(f"{name} frame {fi}: track id {int(fr.track_ids.max())} does not fit a PoseTrack file "
                           f"(ids must be < {MAX_TRACK_ID}, poseval's limit); write --format coco for longer videos")
    known = fr.track_ids[fr.track_ids >= 0]
    if len(np.unique(known)) != len(known):
        raise HrtrackError(f"{name} frame {fi}: duplicate track ids {fr.track_ids.tolist()}")


def _check_writable(seq: PoseTrackSequence) -> None:
    for fi, fr in enumerate(seq.frames):
        _check_frame_writable(fr, seq.name, fi)


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
    _check_writable(seq)
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


def posetrack18_categories() -> list[dict]:
    """The one "person" category of a PoseTrack 2018 file, with the 17 keypoint names."""
    return [{"id": 1, "name": "person", "supercategory": "person", "keypoints": list(POSETRACK.joint_names),
             "skeleton": [[a + 1, b + 1] for a, b in POSETRACK.skeleton]}]


def to_posetrack18(seq: PoseTrackSequence) -> dict:
    """The PoseTrack 2018 COCO-like object (DESIGN.md §5); absent keypoints are (0, 0, 0)."""
    _check_writable(seq)
    ids = _image_ids(seq)
    images = [posetrack18_image(fr, iid, len(seq.frames), seq.vid_id) for fr, iid in zip(seq.frames, ids)]
    annotations = [ann for fr, iid in zip(seq.frames, ids) for ann in posetrack18_annotations(fr, iid)]
    return {"images": images, "annotations": annotations, "categories": posetrack18_categories()}


def write_posetrack17(seq: PoseTrackSequence, path: str | os.PathLike) -> None:
    """Write `seq` as the PoseTrack 2017 JSON poseval reads, atomically."""
    write_json_atomic(path, to_posetrack17(seq))


def write_posetrack18(seq: PoseTrackSequence, path: str | os.PathLike) -> None:
    """Write `seq` as a PoseTrack 2018 per-sequence JSON, atomically."""
    write_json_atomic(path, to_posetrack18(seq))


class PoseTrackWriter:
    """A PoseTrack 2017 or 2018 sequence file written frame by frame, so memory stays flat on long videos.

    The file holds the same bytes as `write_posetrack17` / `write_posetrack18` of
    the whole sequence and appears atomically on `close()`; `abort()` (or a crash)
    leaves any previous file untouched. 2018 files list every image before any
    annotation and give each image the frame count, so both parts wait in
    anonymous scratch files (deleted by the OS whatever happens) until `close()`.

    Args:
        path: output JSON path.
        fmt: "posetrack17" or "posetrack18".
        name: sequence name for messages.
        vid_id: PoseTrack video id (2018 image ids and `vid_id` fields).
    """

    def __init__(self, path: str | os.PathLike, fmt: str, name: str, vid_id: str | None = None) -> None:
        if fmt not in ("posetrack17", "posetrack18"):
            raise HrtrackError(f"fmt must be posetrack17 or posetrack18, got {fmt!r}")
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
        _check_frame_writable(fr, self.name, self._count)
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
            # One image per line, without the frame count that only close() knows.
            images.write(json.dumps(posetrack18_image(fr, iid, 0, self.vid_id)) + "\n")
            for ann in posetrack18_annotations(fr, iid):
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

"""PoseTrack 2017 / 2018 / 21 per-sequence files <-> arrays (DESIGN.md §5).

In memory, joints are always in the 17-slot PoseTrack layout
(`hrtrack.skeleton.POSETRACK`); PoseTrack 2017's 15 joint ids map through
`PT17_TO_PT18` at the file boundary and nowhere else; ears are never set.

Reading follows what the official tools read: a 2017 person without an
`annopoints[0].point` list is dropped (poseval discards it before evaluating),
a 2018 keypoint is absent only when it is (0, 0, 0) (poseval), a PoseTrack21
keypoint is present only when x > 0 and y > 0 whatever its visibility flag (the
PoseTrack21 evaluation kit), and frames keep the file's order (frames pair with
the ground truth by index, not by image name). A 2017 file keeps the one-element
lists poseval reads (`track_id`, head box, point `id`/`x`/`y`/`score`, ignore
regions) and may write what poseval never reads as real trackers do: `image` as
{"name": ...} as well as [{"name": ...}], any `imgnum`, bare `is_labeled`, person
`score` and head box values. PoseTrack21 files are the 2018 layout plus their own fields
(`person_id` on people, `has_labeled_person` on images), by which they are told
apart. Every malformed input raises `HrtrackError` naming the file and the field.

A file is read in a few passes over whole arrays; only when one finds a problem
does a person-by-person pass run, to name the field.
"""

from __future__ import annotations

import gc
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import chain, repeat
from operator import is_not, itemgetter
from pathlib import Path
from typing import Any, Callable

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


def _unwrap_if_wrapped(d: dict, key: str, name: str, where: str) -> Any:
    """`d[key]` itself or, when it is a list, its single element: for fields poseval never reads in a prediction."""
    return _unwrap(d, key, name, where) if isinstance(d[key], list) else d[key]


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


def _check_unique_ids_by_frame(track_ids: np.ndarray, starts: np.ndarray, name: str,
                               where: Callable[[int], str]) -> None:
    """Track ids unique within each frame; frame f holds people starts[f]:starts[f + 1] and is `where(f)`."""
    frame = np.repeat(np.arange(len(starts) - 1), np.diff(starts))
    known = track_ids >= 0
    frame, ids = frame[known], track_ids[known]
    order = np.lexsort((ids, frame))
    frame, ids = frame[order], ids[order]
    repeated = (frame[1:] == frame[:-1]) & (ids[1:] == ids[:-1])
    if repeated.any():
        f = int(frame[1:][repeated][0])
        _check_unique_ids(track_ids[starts[f]:starts[f + 1]], name, where(f))


def _vid_id_from_image(image: str) -> str | None:
    """poseval's video id: the image folder's name up to the first '_' ("000342_mpii_test" -> "000342")."""
    folder = os.path.basename(os.path.dirname(image))
    return (folder.split("_")[0] or None) if folder else None


@dataclass
class _People:
    """Row-wise accumulator for the people of a frame (or of a whole file) while parsing."""

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
              image_id: int | None, unannotated: int = 0, rows: slice = slice(None)) -> PoseTrackFrame:
        """The frame holding the people `rows` (views of these arrays)."""
        return PoseTrackFrame(image, is_labeled, self.keypoints[rows], self.visible[rows], self.joint_scores[rows],
                              self.track_ids[rows], self.scores[rows], self.head_boxes[rows], self.boxes[rows],
                              ignore, image_id, unannotated, self.person_ids[rows])


# ---------------------------------------------------------------- PoseTrack 2017
#
# poseval reads, per frame, `annorect[*]` with `track_id[0]` and `annopoints[0].point[*]` with `id[0]`,
# `x[0]`, `y[0]`, `score[0]`, and from the ground truth its head boxes `x1[0]`..`y2[0]` and
# `ignore_regions`; those keep its one-element lists (a bare number makes it crash). It never reads a
# frame's `image`, `imgnum` or `is_labeled`, a person's `score`, nor a predicted head box, so files from
# real trackers write them in other shapes: `image` as {"name": ...} instead of [{"name": ...}], any
# `imgnum`, bare flags, scores and head box values (a reader does not know a file's role: ground truth
# may have bare head box values too).

def _has_points(rect: dict) -> bool:
    ap = rect.get("annopoints")
    return isinstance(ap, list) and len(ap) > 0 and isinstance(ap[0], dict) and "point" in ap[0]


# A field a file leaves out, told from any decoded value by identity.
_ABSENT = [float("nan")]
_ID_X_Y = itemgetter("id", "x", "y")
_X_Y = itemgetter("x", "y")
_HEAD_BOX = ("x1", "y1", "x2", "y2")


def _image_name(entry: dict, name: str, where: str) -> str:
    """A frame's image name, from `image` given as [{"name": ...}] (the format) or {"name": ...}; "" without one."""
    if "image" not in entry:
        return ""
    img = entry["image"]
    if isinstance(img, list) and len(img) == 1:
        img = img[0]
    if not isinstance(img, dict):
        raise HrtrackError(f"{name}: {where}.image must be [{{\"name\": ...}}] or {{\"name\": ...}}, "
                           f"got {short(entry['image'])}")
    image = img.get("name", "")
    if not isinstance(image, str):
        raise HrtrackError(f"{name}: {where}.image name must be a string, got {short(image)}")
    return image


def _single_elements(cells: list) -> list | None:
    """The element of each cell when every cell is a one-element list (or any other one-item container,
    which leaves a value that is no number), else None."""
    try:
        return [v for [v] in cells]
    except (TypeError, ValueError):
        return None


def _plain_numbers(values: list | None) -> np.ndarray | None:
    """(N,) float64 of N values that are all JSON numbers (bools excluded), else None.

    None too when a value reaches 2**63: an integer there is no number to `is_number`, a float is, and
    only the checked path tells them apart (read_json never gives such integers).
    """
    if values is None or not set(map(type, values)) <= PLAIN_NUMBERS:
        return None
    out = np.array(values, np.float64)
    return None if (np.abs(out) >= 2.0**63).any() else out


def _present(cells: list) -> np.ndarray:
    """(N,) bool: which cells are not `_ABSENT`."""
    return np.fromiter(map(is_not, cells, repeat(_ABSENT)), bool, len(cells))


def _optional_field(rects: list[dict], key: str, bare: bool = False) -> tuple[np.ndarray, np.ndarray] | None:
    """(present (N,) bool, values (N,) float64) of a person field wrapped in a one-element list (or, when
    `bare`, also unwrapped), every present value finite; None when any is malformed."""
    cells = [r.get(key, _ABSENT) for r in rects]
    present = _present(cells)
    if bare:
        cells = [c if type(c) is list else [c] for c in cells]
    values = _plain_numbers(_single_elements(cells))
    if values is None or not np.isfinite(values[present]).all():
        return None
    return present, values


def _people17_fast(rects: list[dict]) -> _People | None:
    """The people of `rects` (each with an `annopoints[0].point` list) when every field is well formed, else None.

    A few passes over the whole file; anything unusual returns None and
    `_people17_checked` finds and reports the problem.
    """
    n = len(rects)
    point_lists = [r["annopoints"][0]["point"] for r in rects]
    if n and set(map(type, point_lists)) != {list}:
        return None
    points = list(chain.from_iterable(point_lists))
    try:
        rows = [(j, x, y) for [j], [x], [y] in map(_ID_X_Y, points)]
        score_cells = [p.get("score", _ABSENT) for p in points]
    except (KeyError, TypeError, ValueError):
        return None
    values = _plain_numbers(list(chain.from_iterable(rows)))
    scores = _plain_numbers(_single_elements(score_cells))
    fields = [_optional_field(rects, "track_id"), _optional_field(rects, "score", bare=True),
              *(_optional_field(rects, k, bare=True) for k in _HEAD_BOX)]
    if values is None or scores is None or any(f is None for f in fields):
        return None
    ids, xy = values[0::3], values.reshape(-1, 3)[:, 1:]
    scored = _present(score_cells)
    row = np.repeat(np.arange(n), np.fromiter(map(len, point_lists), np.int64, n))
    (has_id, track), (has_score, score), *head = fields
    has_head = head[0][0]
    if not (np.isfinite(xy).all() and np.isfinite(scores[scored]).all()
            and ((ids == np.floor(ids)) & (ids >= 0) & (ids < NUM_PT17_JOINTS)).all()
            and ((track[has_id] == np.floor(track[has_id])) & (track[has_id] >= 0)
                 & (track[has_id] < MAX_TRACK_ID)).all()
            and all((h[0] == has_head).all() for h in head)):
        return None
    joint = ids.astype(np.int64)
    if len(joint) and np.bincount(row * NUM_PT17_JOINTS + joint).max() > 1:
        return None
    people = _People(n)
    slots = PT17_TO_PT18[joint]
    people.keypoints[row, slots] = xy
    people.visible[row, slots] = True
    people.joint_scores[row, slots] = scores
    people.track_ids[has_id] = track[has_id].astype(np.int64)
    people.scores[has_score] = score[has_score]
    people.head_boxes[has_head] = np.stack([v for _, v in head], axis=1)[has_head]
    return people


def _points17_checked(points: Any, name: str, where: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One person's joint ids, x,y and scores (NaN where absent), raising HrtrackError on the first malformed field."""
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
    ids, xy, scores = _points17_checked(rect["annopoints"][0]["point"], name, f"{where}.annopoints[0].point")
    slots = PT17_TO_PT18[ids]
    people.keypoints[row, slots] = xy
    people.visible[row, slots] = True
    people.joint_scores[row, slots] = scores
    head = [k for k in _HEAD_BOX if k in rect]
    if head and len(head) != 4:
        raise HrtrackError(f"{name}: {where} has head box fields {head}; all of x1, y1, x2, y2 are needed")
    if head:
        people.head_boxes[row] = [number(_unwrap_if_wrapped(rect, k, name, where), name, f"{where}.{k}")
                                  for k in _HEAD_BOX]
    if "score" in rect:
        people.scores[row] = number(_unwrap_if_wrapped(rect, "score", name, where), name, f"{where}.score")
    if "track_id" in rect:
        people.track_ids[row] = _track_id(_unwrap(rect, "track_id", name, where), name, f"{where}.track_id")


def _people17_checked(annolist: list, name: str) -> _People:
    """`_people17_fast`'s result, person by person, raising HrtrackError on the first malformed field."""
    rects = [(f"annolist[{fi}].annorect[{ri}]", r) for fi, entry in enumerate(annolist)
             for ri, r in enumerate(entry.get("annorect", [])) if _has_points(r)]
    people = _People(len(rects))
    for row, (where, rect) in enumerate(rects):
        _parse17_person(rect, people, row, name, where)
    return people


def _parse_polygon17(region: Any, name: str, where: str) -> np.ndarray:
    points = as_list(as_dict(region, name, where).get("point"), name, f"{where}.point")
    try:
        xy = _plain_numbers([v for [x], [y] in map(_X_Y, points) for v in (x, y)])
    except (KeyError, TypeError, ValueError):
        xy = None
    if xy is not None and np.isfinite(xy).all():
        return xy.reshape(-1, 2).astype(np.float32)
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
    kept: list[dict] = []
    starts = [0]
    frames = []
    for fi, entry in enumerate(annolist):
        where = f"annolist[{fi}]"
        entry = as_dict(entry, name, where)
        rects = as_list(entry.get("annorect", []), name, f"{where}.annorect")
        if rects and set(map(type, rects)) != {dict}:
            for ri, r in enumerate(rects):
                as_dict(r, name, f"{where}.annorect[{ri}]")
        people = [r for r in rects if _has_points(r)]
        kept += people
        starts.append(len(kept))
        ignore = [_parse_polygon17(r, name, f"{where}.ignore_regions[{k}]")
                  for k, r in enumerate(as_list(entry.get("ignore_regions", []), name, f"{where}.ignore_regions"))]
        labeled = len(rects) > 0
        if "is_labeled" in entry:
            labeled = flag(_unwrap_if_wrapped(entry, "is_labeled", name, where), name, f"{where}.is_labeled")
        frames.append((_image_name(entry, name, where), labeled, ignore, len(rects) - len(people)))
    people = _people17_fast(kept)
    if people is None:
        people = _people17_checked(annolist, name)
    _check_unique_ids_by_frame(people.track_ids, np.array(starts, np.int64), name, lambda f: f"annolist[{f}]")
    seq_frames = [people.frame(image, labeled, ignore, None, unannotated, slice(starts[fi], starts[fi + 1]))
                  for fi, (image, labeled, ignore, unannotated) in enumerate(frames)]
    vid = next((v for v in (_vid_id_from_image(f.image) for f in seq_frames) if v), None)
    return PoseTrackSequence(Path(name).stem, seq_frames, vid, "posetrack17")


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


def _optional_numbers(anns: list[dict], key: str, length: int | None = None,
                      none_absent: bool = False) -> tuple[np.ndarray, np.ndarray] | None:
    """(present (N,) bool, values (N,) or (N,length) float64, NaN where absent) of an optional field holding a
    finite number (or a list of `length` of them); `none_absent`: a null value counts as absent. None when any
    present value is malformed."""
    cells = [a.get(key, _ABSENT) for a in anns]
    if none_absent:
        cells = [_ABSENT if c is None else c for c in cells]
    present = _present(cells)
    given = [c for c in cells if c is not _ABSENT]
    if length is not None:
        if given and (set(map(type, given)) != {list} or set(map(len, given)) != {length}):
            return None
        given = list(chain.from_iterable(given))
    values = _plain_numbers(given)
    if values is None or not np.isfinite(values).all():
        return None
    out = np.full((len(anns),) if length is None else (len(anns), length), np.nan)
    out[present] = values.reshape(out[present].shape)
    return present, out


def _people18_fast(anns: list[dict], slots: np.ndarray, pt21: bool) -> _People | None:
    """The people of `anns` (annotation objects) when every field is well formed, else None.

    A few passes over the whole file; anything unusual returns None and
    `_parse18_person`, person by person, finds and reports the problem.
    """
    n, k = len(anns), len(slots)
    try:
        keypoints = [a["keypoints"] for a in anns]
    except KeyError:
        return None
    if n and (set(map(type, keypoints)) != {list} or set(map(len, keypoints)) != {3 * k}):
        return None
    kp = _plain_numbers(list(chain.from_iterable(keypoints)))
    # `scores` counts only when truthy (an empty list or a null is no scores).
    scored = np.fromiter(map(bool, (a.get("scores") for a in anns)), bool, n)
    scores = _optional_numbers([a for a, s in zip(anns, scored) if s], "scores", k)
    # person_id is read from PoseTrack21 files only.
    fields = [_optional_numbers(anns, "score"), _optional_numbers(anns, "track_id"),
              _optional_numbers(anns, "person_id", none_absent=True) if pt21 else (np.zeros(n, bool), np.zeros(n)),
              _optional_numbers(anns, "bbox", 4, none_absent=True),
              _optional_numbers(anns, "bbox_head", 4, none_absent=True)]
    if kp is None or not np.isfinite(kp).all() or scores is None or any(f is None for f in fields):
        return None
    (has_score, score), (has_track, track), (has_person, person), (has_box, box), (has_head, head) = fields
    tracks, persons = track[has_track], person[has_person]
    # Ids beyond 2**53 would lose digits as float64: the checked path reads them exactly.
    if not (((tracks == np.floor(tracks)) & (tracks >= 0) & ((tracks < MAX_TRACK_ID) | pt21)).all()
            and (persons == np.floor(persons)).all() and (has_track.all() or not pt21)
            and (np.abs(np.concatenate([tracks, persons])) < 2.0**53).all()):
        return None
    kp = kp.reshape(n, k, 3)
    evaluated = slots >= 0
    people = _People(n)
    if pt21:
        present = (kp[:, :, 0] > 0) & (kp[:, :, 1] > 0) & evaluated
        # Absent joints keep their coordinates too: the kit's ignore-region rule reads them.
        people.keypoints[:, slots[evaluated]] = kp[:, evaluated, :2]
    else:
        present = ~(kp == 0).all(axis=2) & evaluated
    rows, cols = np.nonzero(present)
    people.keypoints[rows, slots[cols]] = kp[rows, cols, :2]
    people.visible[rows, slots[cols]] = True
    people.joint_scores[np.flatnonzero(scored)[:, None], slots[evaluated]] = scores[1][:, evaluated]
    people.scores[has_score] = score[has_score]
    people.track_ids[has_track] = tracks.astype(np.int64)
    people.person_ids[has_person] = persons.astype(np.int64)
    for has, xywh, dest in ((has_box, box, people.boxes), (has_head, head, people.head_boxes)):
        dest[has] = np.concatenate([xywh[has, :2], xywh[has, :2] + xywh[has, 2:]], axis=1)
    return people


def _parse18(obj: dict, name: str, pt21: bool) -> PoseTrackSequence:
    slots = _keypoint_slots(obj, name, pt21)
    images = as_list(obj["images"], name, "images")
    anns = as_list(obj.get("annotations", []), name, "annotations")
    position: dict[int, int] = {}
    ids = []
    for ii, img in enumerate(images):
        img = as_dict(img, name, f"images[{ii}]")
        if "id" not in img:
            raise HrtrackError(f"{name}: images[{ii}] has no 'id'")
        iid = integer(img["id"], name, f"images[{ii}].id")
        if iid in position:
            raise HrtrackError(f"{name}: images[{ii}].id = {iid} appears twice")
        position[iid] = ii
        ids.append(iid)
    owner = []
    for ai, ann in enumerate(anns):
        ann = as_dict(ann, name, f"annotations[{ai}]")
        if "image_id" not in ann:
            raise HrtrackError(f"{name}: annotations[{ai}] has no 'image_id'")
        iid = integer(ann["image_id"], name, f"annotations[{ai}].image_id")
        if iid not in position:
            raise HrtrackError(f"{name}: annotations[{ai}].image_id = {iid} is not the id of any image")
        owner.append(position[iid])
    # People grouped by image, each image's in file order.
    order = np.argsort(np.array(owner, np.int64), kind="stable")
    starts = np.concatenate([[0], np.cumsum(np.bincount(np.array(owner, np.int64), minlength=len(images)))])
    in_order = [anns[a] for a in order.tolist()]
    people = _people18_fast(in_order, slots, pt21)
    if people is None:
        people = _People(len(anns))
        for row, ai in enumerate(order.tolist()):
            _parse18_person(anns[ai], slots, people, row, name, f"annotations[{ai}]", pt21)
    _check_unique_ids_by_frame(people.track_ids, starts, name, lambda f: f"images[{f}] (image id {ids[f]})")
    frames = []
    vid = None
    for ii, (img, iid) in enumerate(zip(images, ids)):
        where = f"images[{ii}]"
        image = img.get("file_name", "")
        if not isinstance(image, str):
            raise HrtrackError(f"{name}: {where}.file_name must be a string, got {short(image)}")
        if vid is None and img.get("vid_id") is not None:
            vid = str(img["vid_id"])
        labeled = starts[ii + 1] > starts[ii]
        if "is_labeled" in img:
            labeled = flag(img["is_labeled"], name, f"{where}.is_labeled")
        frames.append(people.frame(image, bool(labeled), _parse_regions18(img, name, where), iid, 0,
                                   slice(starts[ii], starts[ii + 1])))
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


@contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection inside: decoded JSON holds no reference cycles, and the collector's
    passes over its hundreds of thousands of new lists and dicts would double the time to read a file."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def read_sequence(path: str | os.PathLike, ambiguous_as: str = "posetrack18") -> PoseTrackSequence:
    """Read one PoseTrack 2017, 2018 or 21 per-sequence JSON file (format detected as `parse_sequence` does).

    Raises HrtrackError naming the file and the field on any malformed input.
    """
    with _collector_paused():
        return parse_sequence(read_json(path), str(path), ambiguous_as)


def validate_posetrack17(obj: Any, name: str, prediction: bool = True) -> PoseTrackSequence:
    """Check a PoseTrack 2017 object holds everything poseval needs; return it parsed.

    Always: 'annolist', every scalar poseval reads in a one-element list, joint ids
    0..14, track ids 0 <= id < 10000 and unique within a frame. For predictions
    also: a track id on every person and a score on every joint.
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

"""Array containers passed between the stages (DESIGN.md §3).

Pixels, float32, image coordinates (x right, y down). One small dataclass per
contract; no per-person Python objects in hot paths.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from .errors import HrtrackError


def _as(a, dtype, shape_tail: tuple[int, ...], name: str) -> np.ndarray:
    arr = np.asarray(a, dtype=dtype)
    if arr.ndim != 1 + len(shape_tail) or arr.shape[1:] != shape_tail:
        raise HrtrackError(f"{name} must have shape (N,{','.join(map(str, shape_tail))}), got {arr.shape}")
    return arr


@dataclass(frozen=True)
class Boxes:
    """Person boxes: `boxes (N,4)` float32 x1,y1,x2,y2 and `scores (N,)` float32."""

    boxes: np.ndarray
    scores: np.ndarray

    def __post_init__(self) -> None:
        object.__setattr__(self, "boxes", _as(self.boxes, np.float32, (4,), "boxes").reshape(-1, 4))
        object.__setattr__(self, "scores", _as(self.scores, np.float32, (), "scores"))
        if len(self.boxes) != len(self.scores):
            raise HrtrackError(f"{len(self.boxes)} boxes but {len(self.scores)} scores")

    def __len__(self) -> int:
        return len(self.boxes)

    @classmethod
    def empty(cls) -> "Boxes":
        return cls(np.zeros((0, 4), np.float32), np.zeros((0,), np.float32))

    def take(self, index) -> "Boxes":
        """Subset by an integer index array or boolean mask."""
        return Boxes(self.boxes[index], self.scores[index])


@dataclass(frozen=True)
class Poses:
    """Poses of one frame (DESIGN.md §3).

    keypoints (N,K,2) float32, keypoint_scores (N,K) float32, scores (N,) float32
    person scores, boxes (N,4) float32 x1,y1,x2,y2, track_ids (N,) int64
    (-1 while unassigned), and interpolated (N,K) bool: joints that post-processing
    filled in across a gap of their track (all False unless it did).
    """

    keypoints: np.ndarray
    keypoint_scores: np.ndarray
    scores: np.ndarray
    boxes: np.ndarray
    track_ids: np.ndarray = field(default=None)  # type: ignore[assignment]
    interpolated: np.ndarray = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        kp = np.asarray(self.keypoints, dtype=np.float32)
        if kp.ndim != 3 or kp.shape[2] != 2:
            raise HrtrackError(f"keypoints must have shape (N,K,2), got {kp.shape}")
        n, k = kp.shape[:2]
        ks = np.asarray(self.keypoint_scores, dtype=np.float32)
        if ks.shape != (n, k):
            raise HrtrackError(f"keypoint_scores must have shape {(n, k)}, got {ks.shape}")
        sc = _as(self.scores, np.float32, (), "scores")
        bx = _as(self.boxes, np.float32, (4,), "boxes").reshape(-1, 4)
        ids = np.full(n, -1, np.int64) if self.track_ids is None else np.asarray(self.track_ids, np.int64)
        if len(sc) != n or len(bx) != n or ids.shape != (n,):
            raise HrtrackError(f"inconsistent lengths: {n} poses, {len(sc)} scores, {len(bx)} boxes, {ids.shape} ids")
        filled = np.zeros((n, k), bool) if self.interpolated is None else np.asarray(self.interpolated, bool)
        if filled.shape != (n, k):
            raise HrtrackError(f"interpolated must have shape {(n, k)}, got {filled.shape}")
        object.__setattr__(self, "keypoints", kp)
        object.__setattr__(self, "keypoint_scores", ks)
        object.__setattr__(self, "scores", sc)
        object.__setattr__(self, "boxes", bx)
        object.__setattr__(self, "track_ids", ids)
        object.__setattr__(self, "interpolated", filled)

    def __len__(self) -> int:
        return len(self.keypoints)

    @property
    def num_joints(self) -> int:
        return self.keypoints.shape[1]

    @classmethod
    def empty(cls, num_joints: int) -> "Poses":
        return cls(
            np.zeros((0, num_joints, 2), np.float32),
            np.zeros((0, num_joints), np.float32),
            np.zeros((0,), np.float32),
            np.zeros((0, 4), np.float32),
        )

    def take(self, index) -> "Poses":
        """Subset by an integer index array or boolean mask."""
        return Poses(self.keypoints[index], self.keypoint_scores[index], self.scores[index],
                     self.boxes[index], self.track_ids[index], self.interpolated[index])

    def joints_above(self, threshold: float) -> np.ndarray:
        """(N,K) bool: the joints scoring above `threshold`.

        Every joint-score threshold in hrtrack compares this way (strictly above, as
        the official code's `in_vis_thre`).
        """
        return self.keypoint_scores > threshold

    def with_track_ids(self, track_ids: np.ndarray) -> "Poses":
        return replace(self, track_ids=np.asarray(track_ids, np.int64))

    @staticmethod
    def concat(parts: "list[Poses]", num_joints: int) -> "Poses":
        """Concatenate poses of one frame (e.g. several batches)."""
        if not parts:
            return Poses.empty(num_joints)
        return Poses(*(np.concatenate([getattr(p, f) for p in parts]) for f in
                       ("keypoints", "keypoint_scores", "scores", "boxes", "track_ids", "interpolated")))


def rows_of(ids: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each id of `ids`, its row in `reference` (ids unique there) and whether it is there at all.

    Where an id is not found its row is some other row (0 when `reference` is empty): mask it with `found`.
    """
    if not len(reference):
        return np.zeros(len(ids), np.int64), np.zeros(len(ids), bool)
    order = np.argsort(reference, kind="stable")
    rows = order[np.minimum(np.searchsorted(reference[order], ids), len(reference) - 1)]
    return rows, reference[rows] == ids

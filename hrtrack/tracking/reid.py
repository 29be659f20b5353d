"""Re-identification: lost tracks stay dormant for a while and take back people who look like them.

FlowTrack compares each person with the previous frame only, so a person hidden
for longer than `max_age` frames (behind someone, out of view) comes back with a
new id. A `ReIdentifier` keeps, per track, an appearance descriptor (an
exponential moving average of `PartColours` descriptors over the frames where
the part was seen), the track's size (sqrt of its box area, the OKS scale) and
where it was last seen, moved on by the flow every frame so that a panning
camera does not carry the place away. A track unseen in a frame is dormant until
`max_frames` frames have passed since it was last seen.

Each frame, after the tracker's own association, the poses that would start a
new track, and those of young tracks whose look was never established (a person
coming back is often half in view for a frame or two, too little to compare, and
gets a new id there), are compared with the dormant tracks: appearance
similarity (`appearance_similarity`) for every pair within the gate, a distance
from the dormant track's last place of at most `size * (1 + gate * elapsed
frames)`; pairs above `threshold` are assigned one to one, maximising the total
similarity (Hungarian, `scipy.optimize.linear_sum_assignment`). A matched pose
takes the dormant track's id. Ids assigned this frame are never candidates, so
ids stay unique within a frame; and ids are only ever given back to the track
that had them, so they never repeat for different tracks.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import HrtrackError
from ..structures import Poses, rows_of
from .appearance import Appearance, PartColours, appearance_similarity
from .matching import hungarian_match
from .propagate import sample_flow


def check_reid(max_frames: int, threshold: float, gate: float, *, prefix: str = "") -> None:
    """HrtrackError naming the first re-identification setting out of its range (`prefix` before each name)."""
    if isinstance(max_frames, bool) or not isinstance(max_frames, int) or max_frames < 1:
        raise HrtrackError(f"{prefix}max_frames must be an integer >= 1 (frames a lost track stays dormant), "
                           f"got {max_frames!r}")
    for name, value, ok, bounds in (("threshold", threshold, lambda v: 0.0 <= v < 1.0, "in [0, 1)"),
                                    ("gate", gate, lambda v: v >= 0.0, ">= 0")):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or not ok(value):
            raise HrtrackError(f"{prefix}{name} must be a finite number {bounds}, got {value!r}")


class ReIdentifier:
    """The dormant-track pool of one tracker (see the module docstring); one instance per tracker.

    Args:
        appearance: computes the descriptors from a frame and its poses.
        max_frames: frames a track stays dormant after it was last seen.
        threshold: appearance similarity (0..1) a pair must exceed to be re-identified.
        gate: growth of the allowed distance, in person sizes per frame of absence,
            on top of one size.
        momentum: weight of a new observation in each part's moving average.
        min_parts: parts both descriptors must have seen to be compared; a
            track is established once it was seen with this many parts.
        colour_scale: differences of the mean and of the spread of L, a, b
            (Lab units) that count as one unit of distance.
    """

    def __init__(self, appearance: PartColours, *, max_frames: int, threshold: float = 0.5, gate: float = 0.04,
                 momentum: float = 0.2, min_parts: int = 3, colour_scale: tuple[float, float] = (8.0, 16.0)) -> None:
        check_reid(max_frames, threshold, gate)
        if not 0.0 < momentum <= 1.0:
            raise HrtrackError(f"momentum must be in (0, 1], got {momentum!r}")
        if isinstance(min_parts, bool) or not isinstance(min_parts, int) or min_parts < 1:
            raise HrtrackError(f"min_parts must be an integer >= 1, got {min_parts!r}")
        self.appearance = appearance
        self.max_frames = max_frames
        self.threshold = float(threshold)
        self.gate = float(gate)
        self.momentum = float(momentum)
        self.min_parts = min_parts
        mean, spread = colour_scale
        self.scales = np.array([mean] * 3 + [spread] * 3, np.float64)
        self.owner: object | None = None
        self.reset()

    def reset(self) -> None:
        """Forget every track (a new video)."""
        p, c = len(self.appearance.part_names), self.appearance.channels
        self._ids = np.zeros(0, np.int64)
        self._last = np.zeros(0, np.int64)           # frame last seen
        self._centres = np.zeros((0, 2), np.float64)  # where, moved on by the flow since
        self._sizes = np.zeros(0, np.float64)
        self._features = np.zeros((0, p, c), np.float32)
        self._valid = np.zeros((0, p), bool)
        self._established = np.zeros(0, bool)

    def __len__(self) -> int:
        """Tracks in the pool (live and dormant)."""
        return len(self._ids)

    def describe(self, frame_bgr: np.ndarray, poses: Poses) -> Appearance:
        """The descriptors of `poses` in `frame_bgr`."""
        return self.appearance(frame_bgr, poses)

    def recall(self, frame: int, track_ids: np.ndarray, appearance: Appearance, boxes: np.ndarray,
               flow: np.ndarray | None) -> np.ndarray:
        """Give poses the ids of dormant tracks they match.

        Call once per frame, in order, before `observe`.

        Args:
            frame: this frame's index.
            track_ids: (N,) ids from the tracker's association, -1 for poses about to start a new track.
            appearance: the poses' descriptors.
            boxes: (N,4) the poses' boxes x1,y1,x2,y2.
            flow: (H,W,2) displacement from the previous frame to this one (None: the camera held still).

        Returns:
            (N,) ids: `track_ids` with re-identified poses given their dormant track's id.
        """
        ids = np.array(track_ids, np.int64)
        if flow is not None and len(self._ids):
            self._centres = self._centres + sample_flow(flow, self._centres)
        elapsed = frame - self._last
        dormant = (elapsed >= 1) & (elapsed <= self.max_frames) & self._established & ~np.isin(self._ids, ids)
        young = ~np.isin(ids, self._ids[self._established])
        asking = np.flatnonzero((young | (ids < 0)) & (appearance.valid.sum(1) >= self.min_parts))
        columns = np.flatnonzero(dormant)
        if len(asking) == 0 or len(columns) == 0:
            return ids
        sim = appearance_similarity(appearance.take(asking),
                                    Appearance(self._features[columns], self._valid[columns]),
                                    self.scales, min_parts=self.min_parts)
        centres = (boxes[asking, :2] + boxes[asking, 2:]) / 2
        distance = np.linalg.norm(centres[:, None] - self._centres[columns][None], axis=-1)
        reach = self._sizes[columns] * (1.0 + self.gate * elapsed[columns])
        sim = np.where(distance <= reach[None], sim, 0.0)
        rows, cols = hungarian_match(sim, self.threshold)
        ids[asking[rows]] = self._ids[columns[cols]]
        return ids

    def observe(self, frame: int, track_ids: np.ndarray, appearance: Appearance, boxes: np.ndarray) -> None:
        """Record this frame's tracked poses (ids final, all >= 0): update their tracks, let old ones go."""
        ids = np.asarray(track_ids, np.int64)
        centres = ((boxes[:, :2] + boxes[:, 2:]) / 2).astype(np.float64)
        wh = np.maximum(boxes[:, 2:] - boxes[:, :2], 0.0)
        sizes = np.sqrt(wh[:, 0] * wh[:, 1]).astype(np.float64)
        known = np.isin(ids, self._ids)
        # New tracks join the pool; young tracks re-identified this frame leave it (their id is not seen again).
        keep = np.isin(self._ids, ids) | (frame - self._last <= self.max_frames) & self._established
        fresh = ~known
        self._ids = np.concatenate([self._ids[keep], ids[fresh]])
        self._last = np.concatenate([self._last[keep], np.full(fresh.sum(), frame, np.int64)])
        self._centres = np.concatenate([self._centres[keep], centres[fresh]])
        self._sizes = np.concatenate([self._sizes[keep], sizes[fresh]])
        self._features = np.concatenate([self._features[keep], appearance.features[fresh]])
        self._valid = np.concatenate([self._valid[keep], appearance.valid[fresh]])
        self._established = np.concatenate([self._established[keep],
                                            appearance.valid[fresh].sum(1) >= self.min_parts])
        seen = np.flatnonzero(known)
        if len(seen):
            row = rows_of(ids[seen], self._ids)[0]
            old_f, old_v = self._features[row], self._valid[row]
            new_f, new_v = appearance.features[seen], appearance.valid[seen]
            blend = (1 - self.momentum) * old_f + self.momentum * new_f
            self._features[row] = np.where((old_v & new_v)[..., None], blend,
                                           np.where(new_v[..., None], new_f, old_f))
            self._valid[row] = old_v | new_v
            # A person half out of view or half hidden has a small box: only well-seen frames set the size.
            whole = new_v.sum(1) >= self.min_parts
            first = whole & ~self._established[row]
            self._sizes[row] = np.where(first, sizes[seen], np.where(
                whole, (1 - self.momentum) * self._sizes[row] + self.momentum * sizes[seen], self._sizes[row]))
            self._established[row] |= whole
            self._last[row] = frame
            self._centres[row] = centres[seen]

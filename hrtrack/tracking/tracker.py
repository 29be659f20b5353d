"""FlowTrack's online pose tracker: similarity to flow-moved track poses, matching, ids.

Per frame (DESIGN.md §4): the caller (the per-frame step) warps the previous
frame's tracked poses by the flow once and hands them in; the tracker adds the
older appearances it keeps for `q_frames > 1` or `max_age > 1` (moved by the same
flow). The similarity of each current pose to a track is the best over that
track's last `q_frames` appearances; matched poses inherit the track id,
unmatched ones start new tracks; a track that goes `max_age` frames without a
match ends. Ids come from a per-instance counter and never repeat within a video.
With a `ReIdentifier` (off by default), poses that would start a new track (or
that started one too recently to have a look of their own) are first offered to
the tracks lost in the last few seconds, by appearance and place
(`hrtrack.tracking.reid`): a match takes the lost track's id back.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import HrtrackError
from ..skeleton import COCO_SIGMAS
from ..structures import Poses
from .matching import MATCHERS
from .propagate import warp_poses
from .reid import ReIdentifier
from .similarity import SIMILARITIES


class FlowTracker:
    """Assigns track ids to each frame's poses, one call per frame.

    Args:
        similarity: name in `SIMILARITIES`: "oks" (FlowTrack's flow-based OKS)
            or "iou" (box IoU, for ablation).
        threshold: pairs with similarity at or below this are never matched.
            0.3 by default: OKS between different people is near 0 while the
            same person moved by flow scores well above 0.5, and a low bar
            keeps tracks through fast motion where flow errs.
        q_frames: appearances kept per track (FlowTrack's Q); the similarity to
            a track is the best over them.
        max_age: a track that goes this many consecutive frames unmatched ends;
            1 (the default) matches only against tracks seen in the previous
            frame, as FlowTrack does.
        matcher: name in `MATCHERS`: "greedy" (FlowTrack) or "hungarian".
        sigmas: (K,) per-joint OKS sigmas of the joint layout.
        min_joint_score: joints scoring at or below this in either pose are
            ignored by the OKS similarity (0 counts every joint with a positive
            heatmap peak, as FlowTrack does).
        reid: a re-identifier of lost tracks, owned by this tracker alone (None:
            off, as in FlowTrack); each call then needs the frame.
    """

    def __init__(
        self,
        *,
        similarity: str = "oks",
        threshold: float = 0.3,
        q_frames: int = 1,
        max_age: int = 1,
        matcher: str = "greedy",
        sigmas: np.ndarray = COCO_SIGMAS,
        min_joint_score: float = 0.0,
        reid: ReIdentifier | None = None,
    ) -> None:
        if similarity not in SIMILARITIES:
            raise HrtrackError(f"unknown similarity {similarity!r}; known: {', '.join(SIMILARITIES)}")
        if matcher not in MATCHERS:
            raise HrtrackError(f"unknown matcher {matcher!r}; known: {', '.join(MATCHERS)}")
        if not (isinstance(threshold, (int, float)) and 0.0 <= threshold < 1.0):
            raise HrtrackError(f"tracking threshold must be in [0, 1), got {threshold!r}")
        for name, value in (("q_frames", q_frames), ("max_age", max_age)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise HrtrackError(f"{name} must be an integer >= 1, got {value!r}")
        if not (isinstance(min_joint_score, (int, float)) and math.isfinite(min_joint_score)):
            raise HrtrackError(f"min_joint_score must be a finite number, got {min_joint_score!r}")
        sig = np.asarray(sigmas, dtype=np.float64)
        if sig.ndim != 1 or len(sig) == 0 or not np.all(np.isfinite(sig) & (sig > 0)):
            raise HrtrackError(f"sigmas must be a non-empty list of positive numbers, got {sigmas!r}")
        self.similarity = similarity
        self.threshold = float(threshold)
        self.q_frames = q_frames
        self.max_age = max_age
        self.matcher = matcher
        self.sigmas = sig
        self.min_joint_score = float(min_joint_score)
        self._similarity = SIMILARITIES[similarity]
        self._match = MATCHERS[matcher]
        if reid is not None:
            # Two trackers sharing one pool would hand each other's ids out.
            if reid.owner is not None and reid.owner is not self:
                raise HrtrackError("this ReIdentifier already serves another tracker: build one per tracker")
            reid.owner = self
        self.reid = reid
        self.reset()

    def reset(self) -> None:
        """Forget every track and restart ids at 0 (call before each new video)."""
        self._next_id = 0
        self._frame = 0
        # Appearances older than the previous frame that may still match (q_frames > 1 or
        # max_age > 1), in the previous frame's coordinates, and the frame each was seen at.
        self._older = Poses.empty(len(self.sigmas))
        self._older_frames = np.zeros(0, np.int64)
        if self.reid is not None:
            self.reid.reset()

    def __call__(self, poses: Poses, previous: Poses, flow: np.ndarray | None,
                 frame: np.ndarray | None = None) -> Poses:
        """Assign track ids to one frame's poses.

        Args:
            poses: the frame's poses; their `track_ids` are ignored.
            previous: the previous frame's tracked poses (this tracker's output),
                already moved into this frame by the caller; empty on the first frame.
            flow: (H,W,2) displacement from the previous frame to this one, used
                to move the older appearances kept for `q_frames`/`max_age`; None
                leaves them where they were (no motion estimate).
            frame: the frame itself (H,W,3 uint8 BGR), which re-identification
                describes people from (unused without re-identification).

        Returns:
            The same poses with `track_ids` set.
        """
        k = len(self.sigmas)
        if poses.num_joints != k or previous.num_joints != k:
            raise HrtrackError(f"poses have {poses.num_joints} joints and previous poses {previous.num_joints}, "
                               f"but the tracker has {k} sigmas")
        older = self._older
        if flow is not None and len(older):
            older = warp_poses(older, flow)
        memory = Poses.concat([previous, older], k)
        memory_frames = np.concatenate([np.full(len(previous), self._frame - 1, np.int64), self._older_frames])

        ids = np.full(len(poses), -1, np.int64)
        if len(poses) and len(memory):
            sim = self._similarity(poses, memory, self.sigmas, self.min_joint_score)  # (N,P)
            track_ids, column = np.unique(memory.track_ids, return_inverse=True)
            best = np.full((len(track_ids), len(poses)), -np.inf)
            np.maximum.at(best, column, sim.T)  # best appearance per track
            rows, cols = self._match(best.T, self.threshold)
            ids[rows] = track_ids[cols]
        if self.reid is not None:
            if frame is None:
                raise HrtrackError("re-identification needs the frame: call the tracker with frame=")
            appearance = self.reid.describe(frame, poses)
            ids = self.reid.recall(self._frame, ids, appearance, poses.boxes, flow)
        new = ids < 0
        ids[new] = np.arange(self._next_id, self._next_id + new.sum())
        self._next_id += int(new.sum())
        tracked = poses.with_track_ids(ids)
        if self.reid is not None:
            self.reid.observe(self._frame, ids, appearance, poses.boxes)

        self._remember(memory, memory_frames, tracked)
        self._frame += 1
        return tracked

    def _remember(self, memory: Poses, memory_frames: np.ndarray, tracked: Poses) -> None:
        """Keep the older appearances still needed next frame: the last Q per track, of tracks still live.

        This frame's poses are left out: the caller hands them back, moved, as `previous`.
        """
        pool = Poses.concat([memory, tracked], len(self.sigmas))
        frames = np.concatenate([memory_frames, np.full(len(tracked), self._frame, np.int64)])
        # Group by track, newest first; rank = position within the group.
        order = np.lexsort((-frames, pool.track_ids))
        grouped = pool.track_ids[order]
        starts = np.flatnonzero(np.r_[True, grouped[1:] != grouped[:-1]])
        group_start = np.repeat(starts, np.diff(np.r_[starts, len(order)]))
        rank = np.arange(len(order)) - group_start
        last_seen = frames[order][group_start]
        keep = order[(rank < self.q_frames) & (self._frame - last_seen < self.max_age)]
        keep = keep[frames[keep] < self._frame]
        self._older = pool.take(keep)
        self._older_frames = frames[keep]

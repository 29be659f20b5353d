"""Post-processing of tracked poses between the FlowTrack pipeline and the sinks, streamed with a fixed lag.

Files and folders (the whole track in view, a little late): gaps of up to G
frames inside a track are filled by interpolation (`hrtrack.tracking.interpolation`),
then each joint is smoothed by a confidence-weighted Savitzky-Golay fit over a
window of 2h+1 frames centred on it (`hrtrack.tracking.smoothing`); with
`stabilise`, relative to the camera (`hrtrack.tracking.camera_motion`): the
camera's path over the window is taken out before the fit and put back after, so
a shaking camera's real motion of every joint is kept, not flattened. Frame t is
final once frame t + G + h has arrived (its window's last frame, t + h, may be
inside a gap that closes G frames later), so the stage holds the poses of the last
L + h + 1 frames, L = G + h, and emits frame t when frame t + L arrives; `flush`
emits the rest at the end. Images are kept only for the L frames not yet emitted,
and only when a sink draws them. Live sources (a camera, a stream) get the One
Euro filter instead, causal and without lag. Track ids are never changed.
"""

from __future__ import annotations

from collections import deque
from dataclasses import replace

import numpy as np

from ..errors import HrtrackError
from ..structures import Poses, rows_of
from ..tracking.interpolation import interpolate_poses
from ..tracking.smoothing import check_one_euro, one_euro_step, weighted_savgol
from .sources import Frame

_NO_IMAGE = np.zeros((0, 0, 3), np.uint8)


class OneEuroPoses:
    """The One Euro filter over every joint of every track, one frame at a time (causal, no lag).

    Each coordinate of each joint is filtered on its own. A joint's filter runs
    while its track is in consecutive frames with the joint seen (score above
    `joint_threshold`); after any break it restarts at the raw value, so a stale
    state never drags a returning joint. Unseen joints pass through unchanged.
    State covers only the previous frame's tracks, so memory stays bounded.
    """

    def __init__(self, *, num_joints: int, joint_threshold: float, rate: float, min_cutoff: float, beta: float,
                 d_cutoff: float) -> None:
        check_one_euro(min_cutoff, beta, d_cutoff, rate)
        self.num_joints = num_joints
        self.joint_threshold = joint_threshold
        self.options = dict(rate=float(rate), min_cutoff=float(min_cutoff), beta=float(beta),
                            d_cutoff=float(d_cutoff))
        self.reset()

    def reset(self) -> None:
        """Forget every track."""
        self._ids = np.zeros(0, np.int64)
        self._value = np.zeros((0, self.num_joints, 2))
        self._speed = np.zeros((0, self.num_joints, 2))
        self._seen = np.zeros((0, self.num_joints), bool)

    def __call__(self, poses: Poses) -> Poses:
        """The filtered poses of the next frame."""
        seen = poses.joints_above(self.joint_threshold)
        raw = poses.keypoints.astype(np.float64)
        value, speed = raw, np.zeros_like(raw)
        if len(self._ids) and len(poses):
            rows, found = rows_of(poses.track_ids, self._ids)
            going = (found[:, None] & seen & self._seen[rows])[..., None]
            value, speed = one_euro_step(raw, self._value[rows], self._speed[rows], **self.options)
            value, speed = np.where(going, value, raw), np.where(going, speed, 0.0)
        self._ids, self._value, self._speed, self._seen = poses.track_ids.copy(), value, speed, seen
        return replace(poses, keypoints=value.astype(np.float32))


class PostProcess:
    """Gap filling, bidirectional smoothing and/or the One Euro filter as a streaming stage.

    `push(frame, poses)` takes each frame's tracked poses in order and returns the
    frames that became final (frame t - lag once frame t arrived); `flush()`
    returns the rest at the end of the video; `reset()` starts a new one.

    Args:
        num_joints: K.
        joint_threshold: a joint is seen when its score is above this (the output's threshold).
        interpolate_gap: G, the longest gap (in frames) filled; 0: none.
        interpolate_decay: interpolated scores are the smaller end score times this per frame of
            distance to the nearer end, in (0, 1].
        window: frames of the Savitzky-Golay window (odd, >= 3); None: no bidirectional smoothing.
        order: its polynomial order, in [1, window - 2].
        one_euro: a `OneEuroPoses` applied to each frame as it is emitted, or None.
        stabilise: smooth relative to the camera's path, from the shifts given to `push`.
        keep_images: keep frames' images until they are emitted (a sink draws them); otherwise
            emitted frames carry an empty image.
    """

    def __init__(self, *, num_joints: int, joint_threshold: float, interpolate_gap: int = 0,
                 interpolate_decay: float = 0.9, window: int | None = None, order: int = 2,
                 one_euro: OneEuroPoses | None = None, stabilise: bool = False, keep_images: bool = True) -> None:
        check_postprocess(interpolate_gap, interpolate_decay, window, order)
        self.num_joints = num_joints
        self.joint_threshold = joint_threshold
        self.gap = interpolate_gap
        self.decay = float(interpolate_decay)
        self.half = 0 if window is None else window // 2
        self.order = order
        self.one_euro = one_euro
        self.stabilise = bool(stabilise)
        self.keep_images = keep_images
        self.reset()

    @property
    def lag(self) -> int:
        """L: frame t is emitted once frame t + L has arrived."""
        return self.gap + self.half

    def reset(self, keep_images: bool | None = None) -> None:
        """Start a new video (and say whether images must be kept until emitted)."""
        if keep_images is not None:
            self.keep_images = keep_images
        self._count = 0
        self._poses: deque[Poses] = deque()    # frames count - len .. count - 1, filled but unsmoothed
        self._camera: deque[np.ndarray] = deque()  # the camera's position at each of those frames
        self._position = np.zeros(2)
        self._pending: deque[Frame] = deque()  # frames not yet emitted
        self._last = Poses.empty(self.num_joints)  # last appearance of each track seen in the last G + 1 frames
        self._last_t = np.zeros(0, np.int64)
        if self.one_euro is not None:
            self.one_euro.reset()

    def push(self, frame: Frame, poses: Poses, camera_shift: np.ndarray | None = None) -> list[tuple[Frame, Poses]]:
        """Add the next frame's tracked poses; return the frames now final, in order.

        `camera_shift` is the image translation (x, y) from the previous frame to
        this one (`FlowTrackPipeline.camera_shift`); None: the camera held still.
        """
        if poses.num_joints != self.num_joints:
            raise HrtrackError(f"poses have {poses.num_joints} joints, the post-processing {self.num_joints}")
        t = self._count
        if self.gap:
            self._fill_gaps(poses, t)
        if camera_shift is not None and t > 0:
            self._position = self._position + np.asarray(camera_shift, np.float64)
        self._poses.append(poses)
        self._camera.append(self._position)
        self._pending.append(frame if self.keep_images else replace(frame, image=_NO_IMAGE))
        self._count += 1
        return [self._emit()] if len(self._pending) > self.lag else []

    def flush(self) -> list[tuple[Frame, Poses]]:
        """Emit every frame still held (the end of the video); the stage is then reset."""
        out = [self._emit() for _ in range(len(self._pending))]
        self.reset()
        return out

    def _fill_gaps(self, poses: Poses, t: int) -> None:
        """Insert the interpolated poses of tracks that come back at `t` after at most G missed frames."""
        rows, found = rows_of(poses.track_ids, self._last.track_ids)
        t0 = self._last_t[rows] if len(self._last) else np.zeros(len(poses), np.int64)
        back = found & (t - t0 >= 2)
        if back.any():
            before, after, t0 = self._last.take(rows[back]), poses.take(back), t0[back]
            first = self._count - len(self._poses)
            for u in range(int(t0.min()) + 1, t):
                inside = t0 < u
                filled = interpolate_poses(before.take(inside), after.take(inside), t0[inside],
                                           np.full(int(inside.sum()), t), u, threshold=self.joint_threshold,
                                           decay=self.decay)
                i = u - first
                self._poses[i] = Poses.concat([self._poses[i], filled], self.num_joints)
        # Only tracks that can still come back within G frames are kept.
        stay = ~np.isin(self._last.track_ids, poses.track_ids) & (self._last_t >= t - self.gap)
        self._last = Poses.concat([self._last.take(stay), poses], self.num_joints)
        self._last_t = np.concatenate([self._last_t[stay], np.full(len(poses), t, np.int64)])

    def _emit(self) -> tuple[Frame, Poses]:
        frame = self._pending.popleft()
        e = self._count - len(self._pending) - 1  # the frame's position in the video
        first = self._count - len(self._poses)
        poses = self._poses[e - first]
        if self.half:
            poses = self._smooth(poses, e, first)
        if self.one_euro is not None:
            poses = self.one_euro(poses)
        # Past frames are kept only as far back as the next window reaches.
        while self._count - len(self._poses) < e + 1 - self.half:
            self._poses.popleft()
            self._camera.popleft()
        return frame, poses

    def _smooth(self, poses: Poses, e: int, first: int) -> Poses:
        """Frame e's joints, each replaced by the weighted Savitzky-Golay fit of its track around it."""
        n, k, w = len(poses), self.num_joints, 2 * self.half + 1
        if not n:
            return poses
        # Every person of the window's frames, each mapped to its track's row in frame e (one lookup).
        lo, hi = max(e - self.half, first), min(e + self.half, self._count - 1)
        window = [self._poses[u - first] for u in range(lo, hi + 1)]
        col = np.repeat(np.arange(lo, hi + 1) - (e - self.half), [len(p) for p in window])
        rows, found = rows_of(np.concatenate([p.track_ids for p in window]), poses.track_ids)
        scores = np.concatenate([p.keypoint_scores for p in window])[found]
        values = np.zeros((n, w, k, 2))
        weights = np.zeros((n, w, k))
        values[rows[found], col[found]] = np.concatenate([p.keypoints for p in window])[found]
        weights[rows[found], col[found]] = np.where(scores > self.joint_threshold, scores, 0.0)
        centre = np.zeros(2)
        if self.stabilise:
            path = np.zeros((w, 2))
            start = lo - (e - self.half)
            path[start:start + hi - lo + 1] = [self._camera[u - first] for u in range(lo, hi + 1)]
            centre = path[self.half]
            values -= path[None, :, None, :]
        values, weights = values.transpose(0, 2, 1, 3), weights.transpose(0, 2, 1)
        fitted, ok = weighted_savgol(values.reshape(n * k, w, 2), weights.reshape(n * k, w), self.order)
        use = (ok.reshape(n, k) & poses.joints_above(self.joint_threshold))[..., None]
        keypoints = np.where(use, fitted.reshape(n, k, 2) + centre, poses.keypoints)
        return replace(poses, keypoints=keypoints.astype(np.float32))


def check_postprocess(interpolate_gap: int, interpolate_decay: float, window: int | None, order: int) -> None:
    """HrtrackError naming the `postprocess` setting and its range unless every value is valid
    (window and order are not checked when window is None)."""
    def integer(value) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    if not integer(interpolate_gap) or interpolate_gap < 0:
        raise HrtrackError(f"postprocess.interpolate_gap must be an integer >= 0 (frames), got {interpolate_gap!r}")
    if not isinstance(interpolate_decay, (int, float)) or isinstance(interpolate_decay, bool) \
            or not 0.0 < interpolate_decay <= 1.0:
        raise HrtrackError(f"postprocess.interpolate_decay must be a number in (0, 1], got {interpolate_decay!r}")
    if window is None:
        return
    if not integer(window) or window < 3 or window % 2 == 0:
        raise HrtrackError(f"postprocess.window must be an odd integer >= 3 (frames), got {window!r}")
    if not integer(order) or not 1 <= order <= window - 2:
        raise HrtrackError(f"postprocess.order must be an integer in [1, window - 2] = [1, {window - 2}], "
                           f"got {order!r}")

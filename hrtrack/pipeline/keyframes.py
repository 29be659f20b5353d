"""Keyframe detection: which frames run the detector.

The paper's mechanism carries people between detections: FlowTrack's per-frame
step moves the previous frame's poses by the flow and merges their boxes with the
frame's detections by NMS. A frame that is not a keyframe simply has no
detections, so its people come from propagation alone. The detector then runs on
frames 0, K, 2K, ... (`every` K), and with `adaptive` also on the frame after one
where propagation lost a person: a track of the previous frame is missing, or a
new track started, which on a frame without detections means a propagated pose
no longer matched its own track. The next scheduled keyframe is then K frames
after that early one. People who enter the view wait for the next keyframe.
"""

from __future__ import annotations

import numpy as np

from ..errors import HrtrackError
from ..structures import Poses


def check_every(every: object) -> int:
    """`every` as an int, or HrtrackError naming the setting and its range."""
    if isinstance(every, bool) or not isinstance(every, int) or every < 1:
        raise HrtrackError(f"detector.every (--detect-every) must be an integer >= 1 (1: the detector on every "
                           f"frame; K: on every K-th frame), got {every!r}")
    return every


class KeyframeSchedule:
    """Decides, frame by frame, whether the detector runs; one instance per run, `reset` per video.

    Call `due()` before a frame and `observe(poses)` with its tracked poses after it.

    Args:
        every: the detector runs on every `every`-th frame (>= 1).
        adaptive: also run it on the frame after one that lost a track or started one.
    """

    def __init__(self, every: int, *, adaptive: bool = False) -> None:
        self.every = check_every(every)
        self.adaptive = bool(adaptive)
        self.reset()

    def reset(self) -> None:
        """A new video: its first frame is a keyframe."""
        self._since = self.every  # frames since the last keyframe, counted so that frame 0 is due
        self._lost = False
        self._keyframe = False
        self._ids = np.zeros(0, np.int64)

    def due(self) -> bool:
        """Whether the next frame is a keyframe (counts it as one when it is)."""
        self._keyframe = self._since >= self.every or self._lost
        self._since = 1 if self._keyframe else self._since + 1
        self._lost = False
        return self._keyframe

    def observe(self, poses: Poses) -> None:
        """The tracked poses of the frame `due` was last asked about."""
        ids = poses.track_ids
        if self.adaptive and not self._keyframe:
            # Without detections, a vanished id is a person propagation dropped and a new id a pose
            # that no longer matched its track.
            self._lost = bool(np.setxor1d(ids, self._ids).size)
        self._ids = ids.copy()

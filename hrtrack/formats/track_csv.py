"""Per-person time series as CSV: one row per frame, track and joint, and a per-track summary.

`<name>.csv`, columns `frame,track_id,joint,x,y,score,interpolated`: the frame's
index in the video, the track id, the joint's name in the model's layout, pixel
coordinates (3 decimals), the joint score (5 decimals) and 1 where post-processing
filled the joint in across a gap of its track (else 0). Only emitted joints (score
above the output threshold) get a row; rows come in frame order, then the frame's
people, then joint order.

`<name>.tracks.csv`, columns
`track_id,first_frame,last_frame,frames_seen,frames_interpolated`, one row per
track in id order: the first and last frame with a row of the track, the frames
where it was estimated, and the frames where it was filled in (a frame counts as
interpolated when any of its rows is).

Both files are streamed to temporary files and renamed into place on `close()`;
`abort()` leaves no file behind and any previous one untouched.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import HrtrackError
from ..fileio import AtomicWrite
from ..structures import Poses

COLUMNS = ("frame", "track_id", "joint", "x", "y", "score", "interpolated")
SUMMARY_COLUMNS = ("track_id", "first_frame", "last_frame", "frames_seen", "frames_interpolated")


def summary_path(path: str | os.PathLike) -> Path:
    """The per-track summary written beside a rows file: `results.csv` -> `results.tracks.csv`."""
    path = Path(path)
    return path.with_name(f"{path.stem}.tracks{path.suffix or '.csv'}")


class TrackCsvWriter:
    """Streams the rows of `path` and keeps, per track, what its summary needs (four integers a track).

    Args:
        path: the rows file; the summary goes to `summary_path(path)`.
        joint_names: names of the K joints, in the poses' order.
    """

    def __init__(self, path: str | os.PathLike, joint_names: tuple[str, ...] | list[str]) -> None:
        self.path = Path(path)
        self.joint_names = np.asarray(joint_names, dtype=object)
        self._tracks: dict[int, list[int]] = {}
        self._output = AtomicWrite(self.path)
        try:
            self._file = open(self._output.tmp, "w", encoding="utf-8", newline="")
        except OSError as exc:
            self._output.discard()
            raise HrtrackError(f"cannot write {self.path}: {exc.strerror or exc}") from None
        self._write(self.path, self._file, ",".join(COLUMNS) + "\n")

    def add(self, frame: int, poses: Poses, emitted: np.ndarray) -> None:
        """Append the rows of one frame: each person's joints where `emitted` (N,K) is True."""
        emitted = np.asarray(emitted, bool)
        if emitted.shape != poses.keypoint_scores.shape:
            raise HrtrackError(f"emitted must have shape {poses.keypoint_scores.shape}, got {emitted.shape}")
        person, joint = np.nonzero(emitted)
        if not len(person):
            return
        xy = poses.keypoints[person, joint].astype(np.float64)
        columns = (poses.track_ids[person].tolist(), self.joint_names[joint].tolist(), xy[:, 0].tolist(),
                   xy[:, 1].tolist(), poses.keypoint_scores[person, joint].astype(np.float64).tolist(),
                   poses.interpolated[person, joint].astype(int).tolist())
        text = "".join(f"{frame},{tid},{name},{x:.3f},{y:.3f},{s:.5f},{f}\n" for tid, name, x, y, s, f in zip(*columns))
        self._write(self.path, self._file, text)
        written = emitted.any(1)
        filled = (emitted & poses.interpolated).any(1)
        for tid, was_filled in zip(poses.track_ids[written].tolist(), filled[written].tolist()):
            entry = self._tracks.setdefault(tid, [frame, frame, 0, 0])
            entry[1] = frame
            entry[3 if was_filled else 2] += 1

    def _write(self, path: Path, file, text: str) -> None:
        try:
            file.write(text)
        except OSError as exc:
            self.abort()
            raise HrtrackError(f"cannot write {path}: {exc.strerror or exc}") from None

    def close(self) -> None:
        """Finish both files and move them into place."""
        summary = summary_path(self.path)
        rows = [",".join(SUMMARY_COLUMNS)]
        rows += [",".join(map(str, (tid, *self._tracks[tid]))) for tid in sorted(self._tracks)]
        try:
            self._file.close()
        except OSError as exc:
            self.abort()
            raise HrtrackError(f"cannot write {self.path}: {exc.strerror or exc}") from None
        second = AtomicWrite(summary)
        try:
            second.tmp.write_text("\n".join(rows) + "\n", encoding="utf-8")
        except OSError as exc:
            second.discard()
            self.abort()
            raise HrtrackError(f"cannot write {summary}: {exc.strerror or exc}") from None
        try:
            self._output.commit()
        except HrtrackError:
            second.discard()
            raise
        second.commit()

    def abort(self) -> None:
        """Delete the temporary file; no output is written."""
        self._file.close()
        self._output.discard()

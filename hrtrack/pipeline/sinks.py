"""Result sinks: PoseTrack 2017 / 2018 / 21 JSON, COCO keypoint results, per-joint CSV, rendered video.

Each sink takes `(frame, tracked poses)` one frame at a time, streams it to a
temporary file (memory stays flat on long videos) and moves the file into place
on `close()`; `abort()` (or leaving a `with` block by an exception)
leaves any previous file untouched.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np

from ..formats.posetrack import FORMATS as POSETRACK_FORMATS
from ..formats.posetrack import PoseTrackFrame, PoseTrackWriter
from ..formats.track_csv import TrackCsvWriter
from ..errors import HrtrackError
from ..fileio import AtomicWrite
from ..skeleton import POSETRACK, Layout, joint_map
from ..structures import Poses
from .sources import Frame


def check_output_folder(path: Path) -> None:
    """HrtrackError unless the folder that will hold `path` exists and is writable."""
    folder = path.parent
    if not folder.is_dir():
        raise HrtrackError(f"output folder does not exist: {folder}")
    if not os.access(folder, os.W_OK):
        raise HrtrackError(f"output folder is not writable: {folder}")




def to_posetrack_frame(poses: Poses, layout: Layout, image: str, joint_threshold: float,
                       is_labeled: bool = False, image_id: int | None = None) -> PoseTrackFrame:
    """Poses in the model's layout -> a PoseTrack (17-slot) frame with only emitted joints.

    People left with no emitted joint are dropped.
    """
    index = joint_map(layout, POSETRACK)
    has = index >= 0
    n = len(poses)
    kp = np.zeros((n, POSETRACK.num_joints, 2), np.float32)
    scores = np.zeros((n, POSETRACK.num_joints), np.float32)
    kp[:, has] = poses.keypoints[:, index[has]]
    scores[:, has] = poses.keypoint_scores[:, index[has]]
    visible = np.zeros((n, POSETRACK.num_joints), bool)
    visible[:, has] = poses.joints_above(joint_threshold)[:, index[has]]
    keep = visible.any(axis=1)
    return PoseTrackFrame(image=image, is_labeled=is_labeled, keypoints=kp[keep], visible=visible[keep],
                          joint_scores=scores[keep], track_ids=poses.track_ids[keep], scores=poses.scores[keep],
                          head_boxes=np.full((int(keep.sum()), 4), np.nan, np.float32), boxes=poses.boxes[keep],
                          image_id=image_id)


class PoseTrackSink:
    """One PoseTrack sequence file (2017, 2018 or 21 layout), streamed frame by frame and moved into place when closed.

    Args:
        path: output JSON path.
        fmt: "posetrack17", "posetrack18" or "posetrack21".
        layout: joint layout of the poses (converted by joint name).
        joint_threshold: joints scoring below this are not written.
        name, vid_id: sequence name (file stem) and PoseTrack video id.
    """

    def __init__(self, path: str | Path, fmt: str, layout: Layout, joint_threshold: float,
                 name: str | None = None, vid_id: str | None = None):
        if fmt not in POSETRACK_FORMATS:
            raise HrtrackError(f"fmt must be one of {', '.join(POSETRACK_FORMATS)}, got {fmt!r}")
        self.path = Path(path)
        check_output_folder(self.path)
        self.fmt = fmt
        self.layout = layout
        self.joint_threshold = joint_threshold
        self._writer = PoseTrackWriter(self.path, fmt, name or self.path.stem, vid_id)

    def add(self, frame: Frame, poses: Poses, is_labeled: bool = False, image_id: int | None = None) -> None:
        self._writer.add(to_posetrack_frame(poses, self.layout, frame.name, self.joint_threshold, is_labeled,
                                            image_id))

    def close(self) -> None:
        self._writer.close()

    def abort(self) -> None:
        self._writer.abort()


class CocoResultsSink:
    """COCO keypoint results `[{"image_id", "category_id": 1, "keypoints", "score", "track_id"}]`.

    Streams one JSON object per person to a temporary file next to `path`, so
    memory stays flat on long videos; renamed over `path` on close. Joints below
    `joint_threshold` are written as (0, 0, 0) like unlabelled COCO joints.
    """

    def __init__(self, path: str | Path, joint_threshold: float):
        self.path = Path(path)
        check_output_folder(self.path)
        self.joint_threshold = joint_threshold
        self._output = AtomicWrite(self.path)
        try:
            self._file = open(self._output.tmp, "w", encoding="utf-8")
        except OSError as exc:
            self._output.discard()
            raise HrtrackError(f"cannot write {self.path}: {exc.strerror or exc}") from None
        self._first = True
        self._write("[")

    def add(self, frame: Frame, poses: Poses, image_id: int | None = None) -> None:
        if not len(poses):
            return
        keep = poses.joints_above(self.joint_threshold)
        triples = np.concatenate([poses.keypoints, poses.keypoint_scores[..., None]], axis=2)
        triples = np.where(keep[..., None], triples.astype(np.float64), 0.0).round(3)
        iid = frame.index if image_id is None else image_id
        for p in range(len(poses)):
            item = {"image_id": iid, "category_id": 1, "keypoints": triples[p].reshape(-1).tolist(),
                    "score": round(float(poses.scores[p]), 5), "track_id": int(poses.track_ids[p]),
                    "bbox": np.round(np.r_[poses.boxes[p, :2], poses.boxes[p, 2:] - poses.boxes[p, :2]], 2).tolist(),
                    "file_name": frame.name}
            self._write(("" if self._first else ",\n") + json.dumps(item))
            self._first = False

    def _write(self, text: str) -> None:
        try:
            self._file.write(text)
        except OSError as exc:
            self.abort()
            raise HrtrackError(f"cannot write {self.path}: {exc.strerror or exc}") from None

    def close(self) -> None:
        self._write("]\n")
        try:
            self._file.close()
        except OSError as exc:
            self.abort()
            raise HrtrackError(f"cannot write {self.path}: {exc.strerror or exc}") from None
        self._output.commit()

    def abort(self) -> None:
        self._file.close()
        self._output.discard()


class CsvSink:
    """Per-person time series: one CSV row per frame, track and emitted joint, plus a per-track
    summary beside it (`hrtrack.formats.track_csv`). Joints are named by `layout`; frames by their index."""

    def __init__(self, path: str | Path, layout: Layout, joint_threshold: float):
        self.path = Path(path)
        check_output_folder(self.path)
        self.joint_threshold = joint_threshold
        self._writer = TrackCsvWriter(self.path, layout.joint_names)

    def add(self, frame: Frame, poses: Poses) -> None:
        self._writer.add(frame.index, poses, poses.joints_above(self.joint_threshold))

    def close(self) -> None:
        self._writer.close()

    def abort(self) -> None:
        self._writer.abort()


class VideoSink:
    """A rendered .mp4 of the frames with skeletons, boxes and track ids coloured per track."""

    needs_image = True

    def __init__(self, path: str | Path, fps: float, layout: Layout, joint_threshold: float):
        self.path = Path(path)
        check_output_folder(self.path)
        self.fps = fps
        self.layout = layout
        self.joint_threshold = joint_threshold
        self._output = AtomicWrite(self.path)
        self._writer: cv2.VideoWriter | None = None

    def add(self, frame: Frame, poses: Poses) -> None:
        from .render import draw_poses

        image = draw_poses(frame.image, poses, self.layout, joint_threshold=self.joint_threshold)
        if self._writer is None:
            h, w = image.shape[:2]
            self._writer = cv2.VideoWriter(str(self._output.tmp), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (w, h))
            if not self._writer.isOpened():
                raise HrtrackError(f"cannot open a video writer for {self.path}")
        self._writer.write(image)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
        self._output.commit()

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.release()
        self._output.discard()

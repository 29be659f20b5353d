"""Synthetic clips rendered frame by frame, with exact ground truth.

`SyntheticVideo` renders a clip one frame at a time and yields `(frame_bgr,
SyntheticFrame)`: the frame as OpenCV would decode it and its ground truth, joints
in every layout the project reads (COCO, PoseTrack, MPII). A joint is labelled
exactly when it is inside the frame, not covered by a nearer person or a scene
object (read from the label image the painter fills alongside the frame), and, for
face points, turned toward the camera. A person is annotated in a frame when at
least one of the joints PoseTrack evaluates is labelled; the person box is the
extent of the visible silhouette. Everything is a function of the clip's seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import cv2
import numpy as np

from ..errors import HrtrackError
from ..skeleton import POSETRACK
from ..formats.posetrack import PT18_IMAGE_ID_BASE, PoseTrackFrame, PoseTrackSequence
from .body import (NUM_SYNTH_JOINTS, POINT_NAMES, POSETRACK_EVALUATED, TO_COCO, TO_MPII, TO_POSETRACK, body_points,
                   cycle_angles, project, self_visible)
from .difficulty import Difficulty
from .figures import paint_figure
from .scene import apply_effects, paint_object, render_background
from .script import MAX_PEOPLE, VideoScript, labeled_frames, sample_script

_LAYOUT_INDEX = {"coco": TO_COCO, "posetrack": TO_POSETRACK, "mpii": TO_MPII}
_HEAD_CENTER = POINT_NAMES.index("head_center")
@dataclass(frozen=True)
class SyntheticFrame:
    """Ground truth of one frame; N annotated people.

    joints (N,21,2) float32: true image positions in `SYNTH_JOINT_NAMES` order, also
    where hidden; labeled (N,21) bool: what an annotator would label; boxes (N,4)
    float32 x1,y1,x2,y2 of the visible silhouette; areas (N,) its pixel count;
    head_boxes (N,4) x1,y1,x2,y2; track_ids (N,) int64 stable over the clip;
    ignore_regions: crowd polygons (K,2) in frame pixels, clipped to the frame.
    """

    index: int
    image: str
    image_id: int
    is_labeled: bool
    track_ids: np.ndarray
    joints: np.ndarray
    labeled: np.ndarray
    boxes: np.ndarray
    areas: np.ndarray
    head_boxes: np.ndarray
    ignore_regions: tuple[np.ndarray, ...]

    def __len__(self) -> int:
        return len(self.track_ids)

    def keypoints(self, layout: str) -> tuple[np.ndarray, np.ndarray]:
        """Joints (N,K,2) and labelled flags (N,K) in the 'coco', 'posetrack' or 'mpii' layout.

        PoseTrack's ear slots are never labelled.
        """
        if layout not in _LAYOUT_INDEX:
            raise HrtrackError(f"unknown joint layout {layout!r}; known: {', '.join(_LAYOUT_INDEX)}")
        index = _LAYOUT_INDEX[layout]
        labeled = self.labeled[:, index]
        if layout == "posetrack":
            labeled = labeled.copy()
            labeled[:, [POSETRACK.index("left_ear"), POSETRACK.index("right_ear")]] = False
        return self.joints[:, index], labeled

    def posetrack(self) -> PoseTrackFrame:
        """This frame as a PoseTrack ground-truth frame (joint scores 1 where labelled, no person scores)."""
        kp, vis = self.keypoints("posetrack")
        n = len(self)
        return PoseTrackFrame(image=self.image, is_labeled=self.is_labeled, keypoints=np.where(vis[..., None], kp, 0),
                              visible=vis, joint_scores=np.where(vis, 1.0, np.nan).astype(np.float32),
                              track_ids=self.track_ids, scores=np.full(n, np.nan, np.float32),
                              head_boxes=self.head_boxes, boxes=self.boxes,
                              ignore_regions=list(self.ignore_regions), image_id=self.image_id)


class SyntheticVideo:
    """A synthetic clip, rendered frame by frame: iterate for `(frame_bgr, SyntheticFrame)`.

    number: the clip's video number (its PoseTrack vid_id and image ids); name and
    image paths follow the PoseTrack release ("images/<split>/<name>/000000.jpg").
    The clip is sampled from `np.random.default_rng([seed, number])`; `difficulty`
    hardens it (None: the default). A decimated clip's frame t is frame
    t x decimation of the same clip undecimated (its motion, camera, lighting and noise).
    """

    def __init__(self, *, seed: int = 0, number: int = 0, split: str = "val",
                 size: tuple[int, int] = (640, 360), frames: int = 60, people: tuple[int, int] = (2, 5),
                 fps: float = 25.0, difficulty: Difficulty | None = None) -> None:
        rng = np.random.default_rng([int(seed), int(number)])
        self._setup(sample_script(rng, tuple(size), frames, tuple(people), fps, difficulty), number, split)

    @classmethod
    def from_script(cls, script: VideoScript, *, number: int = 0, split: str = "val") -> "SyntheticVideo":
        """A clip rendered from an explicit script (e.g. an edited `sample_script` result)."""
        video = cls.__new__(cls)
        video._setup(script, number, split)
        return video

    def _setup(self, script: VideoScript, number: int, split: str) -> None:
        if not 0 <= number < 1_000_000:
            raise HrtrackError(f"video number must be in 0..999999, got {number}")
        if len(script.bodies) > MAX_PEOPLE:
            raise HrtrackError(f"at most {MAX_PEOPLE} people per clip, got {len(script.bodies)}")
        self.script = script
        self.number = int(number)
        self.vid_id = f"{number:06d}"
        self.name = f"{self.vid_id}_synth_{split}"
        self.image_dir = f"images/{split}/{self.name}"
        self.is_labeled = labeled_frames(script.frames)
        rng = np.random.default_rng([script.seed, 0])
        self.background = render_background(rng, script.layout, script.crowds)
        w, h = script.frame_size
        # A bank of sensor noise, cropped at a random offset each frame.
        noise_rng = np.random.default_rng([script.seed, 1])
        self._noise = np.round(noise_rng.normal(0, script.effects.noise_sigma, (h + 32, w + 32, 3))).astype(np.int16)

    def __len__(self) -> int:
        return self.script.frames

    def __iter__(self) -> Iterator[tuple[np.ndarray, SyntheticFrame]]:
        for t in range(len(self)):
            yield self.render(t)

    def image_id(self, t: int) -> int:
        """PoseTrack 2018 image id of frame t."""
        return PT18_IMAGE_ID_BASE + self.number * 10000 + t

    def image_path(self, t: int) -> str:
        return f"{self.image_dir}/{t:06d}.jpg"

    def render(self, t: int) -> tuple[np.ndarray, SyntheticFrame]:
        """Frame t (H,W,3) uint8 BGR and its ground truth."""
        s = self.script
        if not 0 <= t < s.frames:
            raise IndexError(f"frame {t} outside 0..{s.frames - 1}")
        w, h = s.frame_size
        u = t * s.decimation  # the motion frame shown
        m = s.camera.matrix(u)
        zoom = m[0, 0]
        frame = _warp(self.background, m, (w, h))
        labels = np.zeros((h, w), np.uint8)

        mo, bodies = s.motion, s.bodies
        scale = mo.scale[:, u]
        yaw = mo.yaw[:, u]
        angles = cycle_angles(mo.action, mo.phase[:, u], mo.amplitude, mo.wave_left)
        points = body_points(bodies, angles)
        offsets, depth = project(points, yaw)
        height = scale * bodies.stature * s.layout.ref_height * zoom
        ground = np.stack([mo.x[:, u], s.layout.ground_y(scale)], axis=1) @ m[:, :2].T + m[:, 2]
        origin = ground - np.stack([np.zeros_like(height), bodies.hip_height * height], axis=1)
        xy = origin[:, None, :] + height[:, None, None] * offsets

        # Far to near: people and objects by depth scale (objects first on ties). People wholly outside
        # the frame (shapes reach at most ~0.1 body heights past their points) would paint nothing.
        reach = 0.3 * height[:, None] + 4
        in_frame = ((xy.max(axis=1) + reach >= 0) & (xy.min(axis=1) - reach <= [w - 1, h - 1])).all(axis=1)
        items = [(float(o.scale), 0, k) for k, o in enumerate(s.objects)]
        items += [(float(scale[p]), 1, int(p)) for p in np.flatnonzero(in_frame)]
        for _, is_person, k in sorted(items):
            if is_person:
                paint_figure(frame, labels, k + 1, points[k], float(yaw[k]), origin[k], float(height[k]), bodies, k)
            else:
                paint_object(frame, labels, s.objects[k], m)
        offset = np.random.default_rng([s.seed, 2, u]).integers(0, 32, 2)
        frame = apply_effects(frame, s.effects, s.camera, u, self._noise, (int(offset[0]), int(offset[1])))
        return frame, self._truth(t, xy, depth, yaw, height, labels, m)

    def _truth(self, t: int, xy: np.ndarray, depth: np.ndarray, yaw: np.ndarray, height: np.ndarray,
               labels: np.ndarray, m: np.ndarray) -> SyntheticFrame:
        s = self.script
        h, w = labels.shape
        joints = xy[:, :NUM_SYNTH_JOINTS]
        inside = (joints[..., 0] >= 0) & (joints[..., 0] <= w - 1) & (joints[..., 1] >= 0) & (joints[..., 1] <= h - 1)
        px = np.clip(np.rint(joints).astype(np.int64), 0, [w - 1, h - 1])
        own = labels[px[..., 1], px[..., 0]] == (np.arange(len(joints)) + 1)[:, None]
        seen = self_visible(depth, yaw, s.bodies)[:, :NUM_SYNTH_JOINTS]
        labeled = inside & own & seen
        counts = labeled[:, POSETRACK_EVALUATED].sum(axis=1)
        present = np.flatnonzero(counts)
        if s.joints_first:
            present = present[np.argsort(-counts[present], kind="stable")]

        boxes = np.zeros((len(present), 4), np.float32)
        areas = np.zeros(len(present), np.float32)
        for row, p in enumerate(present):
            boxes[row], areas[row] = _silhouette_box(labels, p + 1, xy[p], height[p])
        head_r = 0.5 * s.bodies.head[present] * height[present]
        hc = xy[present, _HEAD_CENTER]
        head_boxes = np.stack([hc[:, 0] - 0.85 * head_r, hc[:, 1] - head_r,
                               hc[:, 0] + 0.85 * head_r, hc[:, 1] + head_r], axis=1).astype(np.float32)
        regions = []
        for crowd in s.crowds:
            poly = crowd.polygon @ m[:, :2].T + m[:, 2]
            if poly[:, 0].max() > 0 and poly[:, 0].min() < w - 1 and poly[:, 1].max() > 0 and poly[:, 1].min() < h - 1:
                regions.append(np.clip(poly, 0, [w - 1, h - 1]).astype(np.float32))
        return SyntheticFrame(index=t, image=self.image_path(t), image_id=self.image_id(t),
                              is_labeled=bool(self.is_labeled[t]), track_ids=present.astype(np.int64),
                              joints=joints[present].astype(np.float32), labeled=labeled[present],
                              boxes=boxes, areas=areas, head_boxes=head_boxes, ignore_regions=tuple(regions))

    def sequence(self) -> PoseTrackSequence:
        """Ground truth of the whole clip as a PoseTrack sequence (every frame's people, labelled or not)."""
        return PoseTrackSequence(self.name, [truth.posetrack() for _, truth in self], self.vid_id)


def _warp(background: np.ndarray, matrix: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return cv2.warpAffine(background, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def _silhouette_box(labels: np.ndarray, label: int, points: np.ndarray, height: float) -> tuple[np.ndarray, int]:
    """x1,y1,x2,y2 and pixel count of `label` in `labels`, searched near the figure's points."""
    h, w = labels.shape
    lo = np.floor(points.min(axis=0) - 0.3 * height).astype(int).clip(0, [w, h])
    hi = np.ceil(points.max(axis=0) + 0.3 * height).astype(int).clip(0, [w, h])
    roi = (labels[lo[1]:hi[1], lo[0]:hi[0]] == label).view(np.uint8)
    x, y, bw, bh = cv2.boundingRect(roi)
    box = np.array([lo[0] + x, lo[1] + y, lo[0] + x + bw, lo[1] + y + bh], np.float32)
    return box, int(cv2.countNonZero(roi))

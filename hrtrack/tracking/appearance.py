"""What a person looks like, for re-identification: colour statistics of body parts located by the joints.

Each body part (torso, upper arms, forearms, thighs, shins, face, hair) is a
region laid along one or two segments between joints: a grid of points at fixed
fractions along each segment and across it (in units of its length), so the
region follows the person's pose and size. The frame is sampled at those points
(nearest pixel), the samples are converted to CIE Lab (L 0-100, a and b about
-100..100: distances there follow perceived colour differences, and lighting
moves mostly L) and each part is summarised by the mean and the standard
deviation of L, a and b over its samples. Left and right limbs pool into one part,
so a person seen from the other side, or turned around, keeps its descriptor.

It needs nothing but the frame and the joints, so it works with every engine
that runs the pose network. Clothes, skin (faces, bare forearms) and hair
separate people; look-alikes in the same kit differ in their face and hair parts.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..errors import HrtrackError
from ..structures import Poses

# A segment runs from the mean of its start joints to the mean of its end joints (those seen).
Segment = tuple[tuple[str, ...], tuple[str, ...]]


@dataclass(frozen=True)
class BodyPart:
    """A region sampled along `segments`: fractions `along` (lo, hi) of each (beyond 1 extrapolates) and
    `across` (fraction of the segment's length) to either side of it."""

    name: str
    segments: tuple[Segment, ...]
    along: tuple[float, float]
    across: float


def _sides(start: str, end: str) -> tuple[Segment, ...]:
    return (((f"left_{start}",), (f"left_{end}",)), ((f"right_{start}",), (f"right_{end}",)))


_SHOULDERS = ("left_shoulder", "right_shoulder")
_HIPS = ("left_hip", "right_hip")
# Each entry: the part's versions for different joint layouts, the first whose joints a layout has is used.
# PoseTrack and MPII heads run from head_bottom / upper_neck to head_top (face below the middle, hair at the
# top); COCO has no head_top, so its head is placed on the line from the shoulders through the nose.
BODY_PARTS: tuple[tuple[BodyPart, ...], ...] = (
    (BodyPart("torso", ((_SHOULDERS, _HIPS),), (0.15, 0.85), 0.2),),
    (BodyPart("upper arms", _sides("shoulder", "elbow"), (0.25, 0.75), 0.1),),
    (BodyPart("forearms", _sides("elbow", "wrist"), (0.25, 0.85), 0.1),),
    (BodyPart("thighs", _sides("hip", "knee"), (0.2, 0.8), 0.12),),
    (BodyPart("shins", _sides("knee", "ankle"), (0.2, 0.8), 0.1),),
    (BodyPart("face", ((("head_bottom",), ("head_top",)),), (0.3, 0.6), 0.15),
     BodyPart("face", ((("upper_neck",), ("head_top",)),), (0.3, 0.6), 0.15),
     BodyPart("face", ((_SHOULDERS, ("nose",)),), (0.85, 1.1), 0.1)),
    (BodyPart("hair", ((("head_bottom",), ("head_top",)),), (0.75, 0.95), 0.2),
     BodyPart("hair", ((("upper_neck",), ("head_top",)),), (0.75, 0.95), 0.2),
     BodyPart("hair", ((_SHOULDERS, ("nose",)),), (1.3, 1.5), 0.15)),
)
# Channels of a colour part: mean L, a, b then standard deviation L, a, b.
COLOUR_CHANNELS = 6


@dataclass(frozen=True)
class Appearance:
    """Descriptors of N people: `features` (N,P,C) float32 per part and channel, `valid` (N,P) bool
    (the part was seen: its joints scored and enough of its samples fell inside the frame)."""

    features: np.ndarray
    valid: np.ndarray

    def __len__(self) -> int:
        return len(self.features)

    def take(self, index) -> "Appearance":
        return Appearance(self.features[index], self.valid[index])


class PartColours:
    """Computes `Appearance` descriptors from a frame and its poses (see the module docstring).

    Args:
        joint_names: the joint layout's names; parts whose joints it lacks are left out.
        min_joint_score: joints scoring at or below this do not place a part.
        along, across: sample points per segment along and across it.
    """

    def __init__(self, joint_names: tuple[str, ...] | list[str], *, min_joint_score: float = 0.3, along: int = 5,
                 across: int = 3) -> None:
        names = tuple(joint_names)
        index = {n: i for i, n in enumerate(names)}
        parts = []
        for versions in BODY_PARTS:
            usable = [p for p in versions if all(j in index for seg in p.segments for ends in seg for j in ends)]
            if usable:
                parts.append(usable[0])
        if not parts:
            raise HrtrackError(f"no body part can be placed with the joints {', '.join(names)}")
        self.parts = tuple(parts)
        self.part_names = tuple(p.name for p in parts)
        self.num_joints = len(names)
        self.min_joint_score = float(min_joint_score)
        segments = [(seg, p) for p in parts for seg in p.segments]
        g = len(segments)
        # Start / end joint weights (G,K): a segment end is the mean of its listed joints that are seen.
        self._start = np.zeros((g, len(names)), np.float32)
        self._end = np.zeros((g, len(names)), np.float32)
        for s, ((start, end), _) in enumerate(segments):
            self._start[s, [index[j] for j in start]] = 1.0
            self._end[s, [index[j] for j in end]] = 1.0
        t = np.linspace(0.0, 1.0, along)
        u = np.linspace(-1.0, 1.0, across)
        frac = np.stack([p.along[0] + t * (p.along[1] - p.along[0]) for _, p in segments])  # (G,A)
        side = np.stack([p.across * u for _, p in segments])                                # (G,B)
        self._along = np.repeat(frac, across, axis=1)           # (G,S), S = A*B
        self._across = np.tile(side, (1, along))
        self.samples = along * across
        # Segments of each part, padded with a segment index past the end (never valid).
        width = max(len(p.segments) for p in parts)
        self._part_segments = np.full((len(parts), width), g, np.int64)
        s = 0
        for i, p in enumerate(parts):
            self._part_segments[i, :len(p.segments)] = np.arange(s, s + len(p.segments))
            s += len(p.segments)
        self.channels = COLOUR_CHANNELS

    def __call__(self, frame_bgr: np.ndarray, poses: Poses) -> Appearance:
        """Descriptors of `poses` in `frame_bgr` (H,W,3 uint8 BGR)."""
        n, p = len(poses), len(self.part_names)
        if poses.num_joints != self.num_joints:
            raise HrtrackError(f"poses have {poses.num_joints} joints, the appearance model {self.num_joints}")
        if n == 0:
            return Appearance(np.zeros((0, p, self.channels), np.float32), np.zeros((0, p), bool))
        kp = poses.keypoints.astype(np.float32)
        seen = (poses.keypoint_scores > self.min_joint_score).astype(np.float32)  # (N,K)
        start_w = seen[:, None, :] * self._start[None]                             # (N,G,K)
        end_w = seen[:, None, :] * self._end[None]
        start_n, end_n = start_w.sum(-1), end_w.sum(-1)
        start = np.einsum("ngk,nkc->ngc", start_w, kp) / np.maximum(start_n, 1)[..., None]
        end = np.einsum("ngk,nkc->ngc", end_w, kp) / np.maximum(end_n, 1)[..., None]
        d = end - start                                                            # (N,G,2)
        normal = np.stack([-d[..., 1], d[..., 0]], axis=-1)
        placed = (start_n > 0) & (end_n > 0) & (np.hypot(d[..., 0], d[..., 1]) >= 1.0)
        pts = (start[:, :, None] + self._along[None, :, :, None] * d[:, :, None]
               + self._across[None, :, :, None] * normal[:, :, None])             # (N,G,S,2)
        h, w = frame_bgr.shape[:2]
        xi = np.floor(pts[..., 0] + 0.5).astype(np.int64)
        yi = np.floor(pts[..., 1] + 0.5).astype(np.int64)
        inside = placed[..., None] & (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)
        pixels = frame_bgr[np.clip(yi, 0, h - 1), np.clip(xi, 0, w - 1)]          # (N,G,S,3) uint8
        lab = cv2.cvtColor(pixels.reshape(1, -1, 3).astype(np.float32) * np.float32(1 / 255),
                           cv2.COLOR_BGR2Lab).reshape(pixels.shape)
        # Gather each part's segments (padding: an all-invalid segment) and pool their samples.
        lab = np.concatenate([lab, np.zeros_like(lab[:, :1])], axis=1)[:, self._part_segments]
        mask = np.concatenate([inside, np.zeros_like(inside[:, :1])], axis=1)[:, self._part_segments]
        lab = lab.reshape(n, len(self.parts), -1, 3)
        mask = mask.reshape(n, len(self.parts), -1, 1).astype(np.float32)
        count = mask.sum(2)                                                        # (N,P,1)
        mean = (lab * mask).sum(2) / np.maximum(count, 1)
        std = np.sqrt(((lab - mean[:, :, None]) ** 2 * mask).sum(2) / np.maximum(count, 1))
        features = np.concatenate([mean, std], axis=-1)
        # Half of one segment's samples in view: a limb seen on one side only still counts.
        valid = count[..., 0] >= self.samples / 2
        return Appearance(features.astype(np.float32), valid)


def appearance_similarity(a: Appearance, b: Appearance, scales: np.ndarray, *, min_parts: int = 2) -> np.ndarray:
    """(N,M) similarity in [0, 1] of every descriptor in `a` to every one in `b`.

    Per part seen in both, d^2 = mean over channels of ((a - b) / scale)^2; the
    similarity is exp(-d^2 / 2) of the mean d^2 over those parts (a geometric
    mean of per-part Gaussians, so one clearly different part, say the hair of a
    look-alike, is enough to tell two people apart). Pairs sharing fewer than
    `min_parts` seen parts get 0.

    Args:
        a, b: descriptors (N,P,C) and (M,P,C).
        scales: (C,) or (P,C) per-channel scale: the difference that counts as one unit.
        min_parts: parts both must have seen for any similarity.
    """
    n, m = len(a), len(b)
    if n == 0 or m == 0:
        return np.zeros((n, m))
    diff = (a.features[:, None].astype(np.float64) - b.features[None]) / np.asarray(scales, np.float64)
    d2 = (diff ** 2).mean(-1)                                   # (N,M,P)
    common = a.valid[:, None] & b.valid[None]
    shared = common.sum(-1)
    mean_d2 = np.where(common, d2, 0.0).sum(-1) / np.maximum(shared, 1)
    return np.where(shared >= min_parts, np.exp(-0.5 * mean_d2), 0.0)

"""Articulated bodies of the synthetic test bed: proportions, motion cycles, 3-D joints.

A body is a pseudo-3-D skeleton in its own frame, in units of its standing height:
`a` to the person's left, `y` down, `b` forward, origin at the pelvis. A yaw turns
it about the vertical axis and an orthographic projection gives image offsets and a
depth per point, so a figure walking to the right shows its left side farther from
the camera, and a turn swaps left and right in the image the way real people do.
Everything is vectorised over the people of a frame: arrays are (P,) or (P, ...).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..skeleton import COCO, MPII, POSETRACK, PT17_TO_PT18

# The generator's own joint list: COCO's 17, then PoseTrack's head joints and the
# two MPII joints COCO lacks, so every file layout is an exact subset.
SYNTH_JOINT_NAMES = COCO.joint_names + ("head_bottom", "head_top", "pelvis", "thorax")
NUM_SYNTH_JOINTS = len(SYNTH_JOINT_NAMES)
# Points used only for drawing, after the joints.
DRAW_POINT_NAMES = ("head_center", "left_toe", "right_toe", "left_hand", "right_hand")
POINT_NAMES = SYNTH_JOINT_NAMES + DRAW_POINT_NAMES
_P = {name: i for i, name in enumerate(POINT_NAMES)}

_MPII_ALIASES = {"upper_neck": "head_bottom"}
TO_COCO = np.array([_P[n] for n in COCO.joint_names], np.int64)
# PoseTrack never labels ears: its ear slots read the COCO ears and `SyntheticFrame.keypoints` unlabels them.
TO_POSETRACK = np.array([_P[n] for n in POSETRACK.joint_names], np.int64)
TO_MPII = np.array([_P[_MPII_ALIASES.get(n, n)] for n in MPII.joint_names], np.int64)
# Joints PoseTrack annotates (its 15), as indices into the synthetic joint list.
POSETRACK_EVALUATED = TO_POSETRACK[np.sort(PT17_TO_PT18)]

ACTIONS = ("stand", "walk", "run", "wave")
STAND, WALK, RUN, WAVE = range(len(ACTIONS))
# Gait cycles per second of each action, and forward speed in body heights per second.
CYCLE_HZ = np.array([0.25, 0.95, 1.4, 1.8])
SPEED = np.array([0.0, 0.6, 1.7, 0.0])


@dataclass(frozen=True)
class Bodies:
    """Shape and look of P people; lengths are fractions of the standing height.

    `stature` is the standing height relative to an average adult (children ~0.6).
    Colours are BGR float32 (P,3) in 0..255. `child` in [0,1] moves proportions from
    adult (head 1/7 of the height) to small child (head ~1/5).
    """

    child: np.ndarray
    stature: np.ndarray
    build: np.ndarray
    ankle: np.ndarray
    shin: np.ndarray
    thigh: np.ndarray
    torso: np.ndarray
    neck: np.ndarray
    head: np.ndarray
    upper_arm: np.ndarray
    forearm: np.ndarray
    shoulder_w: np.ndarray
    hip_w: np.ndarray
    skin: np.ndarray
    hair: np.ndarray
    shirt: np.ndarray
    pants: np.ndarray
    shoes: np.ndarray
    long_sleeves: np.ndarray
    shorts: np.ndarray

    def __len__(self) -> int:
        return len(self.child)

    @property
    def hip_height(self) -> np.ndarray:
        """Height of the hip joints above the ground when standing straight, (P,)."""
        return self.ankle + self.shin + self.thigh

    def take(self, index) -> "Bodies":
        return Bodies(*(getattr(self, f)[index] for f in self.__dataclass_fields__))

    def concat(self, other: "Bodies") -> "Bodies":
        """These people, then `other`'s."""
        return Bodies(*(np.concatenate([getattr(self, f), getattr(other, f)]) for f in self.__dataclass_fields__))

    def dress_alike(self, teams: list[np.ndarray]) -> "Bodies":
        """Each team (people indices) in its first member's clothes and build; faces (skin, hair) stay their own."""
        values = {f: getattr(self, f).copy() for f in self.__dataclass_fields__}
        for team in teams:
            for f in _TEAM_FIELDS:
                values[f][team] = values[f][team[0]]
        return Bodies(**values)


# What a team kit and a shared build make the same: everything but the face.
_TEAM_FIELDS = tuple(f for f in Bodies.__dataclass_fields__ if f not in ("skin", "hair"))


# Palettes written as RGB (readable) and flipped to BGR.
_SKIN = np.array([[250, 215, 185], [235, 190, 150], [205, 155, 115], [165, 115, 80],
                  [120, 80, 55], [85, 58, 42]], np.float32)[:, ::-1].copy()
_HAIR = np.array([[25, 20, 20], [70, 45, 30], [140, 90, 50], [210, 170, 100], [155, 150, 150],
                  [110, 35, 35]], np.float32)[:, ::-1].copy()
_PANTS = np.array([[120, 70, 40], [40, 40, 40], [110, 150, 170], [90, 90, 95], [60, 45, 35],
                   [150, 110, 70], [30, 30, 90]], np.float32)


def _hsv_to_bgr(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    """HSV arrays (P,) in [0,1] -> BGR float32 (P,3) in 0..255."""
    hsv = np.stack([h * 179, s * 255, v * 255], axis=-1).round().astype(np.uint8)[None]
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0].astype(np.float32)


def sample_bodies(rng: np.random.Generator, n: int) -> Bodies:
    """Draw `n` people: children to adults, varied builds, skin, hair and clothes."""
    child = np.where(rng.random(n) < 0.25, rng.uniform(0.4, 1.0, n), rng.uniform(0.0, 0.15, n))
    build = rng.uniform(0.85, 1.2, n)
    ankle = np.full(n, 0.045)
    shin = 0.235 - 0.02 * child
    thigh = 0.245 - 0.02 * child
    torso = 0.29 - 0.005 * child
    neck = 0.045 - 0.01 * child
    head = 1.0 - (ankle + shin + thigh + torso + neck)
    return Bodies(
        child=child, stature=(1.0 + 0.05 * rng.standard_normal(n)) * (1 - 0.42 * child), build=build,
        ankle=ankle, shin=shin, thigh=thigh, torso=torso, neck=neck, head=head,
        upper_arm=0.175 - 0.015 * child, forearm=0.15 - 0.01 * child,
        shoulder_w=rng.uniform(0.1, 0.125, n) * (1 - 0.1 * child), hip_w=np.full(n, 0.055),
        skin=_SKIN[rng.integers(0, len(_SKIN), n)],
        hair=_HAIR[rng.integers(0, len(_HAIR), n)],
        shirt=_hsv_to_bgr(rng.random(n), rng.uniform(0.3, 0.9, n), rng.uniform(0.35, 0.95, n)),
        pants=_PANTS[rng.integers(0, len(_PANTS), n)] * rng.uniform(0.8, 1.15, (n, 1)).astype(np.float32),
        shoes=rng.uniform(15, 70, (n, 1)).astype(np.float32).repeat(3, axis=1),
        long_sleeves=rng.random(n) < 0.5,
        shorts=rng.random(n) < 0.3,
    )


@dataclass(frozen=True)
class Angles:
    """Joint angles (radians) of P people; `_l`/`_r` are the person's left/right side.

    Limb pitch swings a segment forward from hanging straight down; abduction lifts
    it sideways away from the body (pi/2 = horizontal, pi = straight up).
    """

    lean: np.ndarray
    bob: np.ndarray
    hip_l: np.ndarray
    hip_r: np.ndarray
    knee_l: np.ndarray
    knee_r: np.ndarray
    arm_l: np.ndarray
    arm_r: np.ndarray
    arm_abd_l: np.ndarray
    arm_abd_r: np.ndarray
    fore_l: np.ndarray
    fore_r: np.ndarray
    fore_abd_l: np.ndarray
    fore_abd_r: np.ndarray


def cycle_angles(action: np.ndarray, phase: np.ndarray, amplitude: np.ndarray,
                 wave_left: np.ndarray) -> Angles:
    """Angles of each person's motion cycle at `phase` (radians), all arrays (P,).

    `action` holds indices into ACTIONS; `amplitude` (~1) scales the swing;
    `wave_left` picks the waving arm of WAVE people.
    """
    s, c = np.sin(phase), np.cos(phase)
    walk, run, wave = action == WALK, action == RUN, action == WAVE
    moving = walk | run
    swing = amplitude * np.select([walk, run], [0.42, 0.72], 0.04)
    # Knees bend most mid-swing, while the leg passes forward under the body.
    knee_gain = np.select([walk, run], [0.6, 1.25], 0.03)
    knee_base = np.select([walk, run], [0.08, 0.35], 0.05)
    hip_off = np.where(run, 0.15, 0.0)
    arm_swing = amplitude * np.select([walk, run], [0.35, 0.6], 0.05)
    elbow = np.select([walk, run], [0.25, 1.45], 0.15)
    idle = np.where(moving, 0.0, 0.03 * np.sin(0.5 * phase))
    zero = np.zeros_like(phase)

    arm_l, arm_r = -arm_swing * s + idle, arm_swing * s - idle
    abd = np.full_like(phase, 0.1)
    fore_l = arm_l + elbow + np.where(walk, 0.2 * np.maximum(0, -s), 0.0)
    fore_r = arm_r + elbow + np.where(walk, 0.2 * np.maximum(0, s), 0.0)
    # A waving arm is raised sideways with the forearm swinging above the head.
    wave_abd = 2.3 + 0.1 * s
    wave_fore = 2.85 + 0.4 * s
    wl, wr = wave & wave_left, wave & ~wave_left
    return Angles(
        lean=np.select([walk, run], [0.04, 0.18], 0.0),
        bob=np.select([walk, run], [-0.012 * np.cos(2 * phase), -0.03 * np.cos(2 * phase)], zero),
        hip_l=hip_off + swing * s, hip_r=hip_off - swing * s,
        knee_l=knee_base + knee_gain * np.maximum(c, 0) ** 1.5,
        knee_r=knee_base + knee_gain * np.maximum(-c, 0) ** 1.5,
        arm_l=np.where(wl, 0.25, arm_l), arm_r=np.where(wr, 0.25, arm_r),
        arm_abd_l=np.where(wl, wave_abd, abd), arm_abd_r=np.where(wr, wave_abd, abd),
        fore_l=np.where(wl, 0.3, fore_l), fore_r=np.where(wr, 0.3, fore_r),
        fore_abd_l=np.where(wl, wave_fore, abd), fore_abd_r=np.where(wr, wave_fore, abd),
    )


def _limb(pitch: np.ndarray, abduction: np.ndarray, side: float) -> np.ndarray:
    """Unit direction (P,3) in (a, y, b) of a segment; side +1 = left, -1 = right."""
    ca = np.cos(abduction)
    return np.stack([side * np.sin(abduction), ca * np.cos(pitch), ca * np.sin(pitch)], axis=-1)


def body_points(bodies: Bodies, angles: Angles) -> np.ndarray:
    """3-D points (P, len(POINT_NAMES), 3) in the body frame (a left, y down, b forward).

    Units are body heights, origin at the standing pelvis.
    """
    n = len(bodies)
    pts = np.zeros((n, len(POINT_NAMES), 3))

    def col(v: np.ndarray) -> np.ndarray:
        return np.asarray(v, np.float64)[:, None]

    lateral = np.array([1.0, 0.0, 0.0])
    pelvis = np.stack([np.zeros(n), angles.bob, np.zeros(n)], axis=1)
    spine = np.stack([np.zeros(n), -np.cos(angles.lean), np.sin(angles.lean)], axis=1)
    head_dir = np.stack([np.zeros(n), -np.cos(angles.lean / 2), np.sin(angles.lean / 2)], axis=1)
    thorax = pelvis + col(bodies.torso) * spine
    head_bottom = thorax + col(bodies.neck) * head_dir
    r = col(bodies.head / 2)
    head_center = head_bottom + r * head_dir + r * np.array([0.0, 0.0, 0.08])
    pts[:, _P["pelvis"]] = pelvis
    pts[:, _P["thorax"]] = thorax
    pts[:, _P["head_bottom"]] = head_bottom
    pts[:, _P["head_center"]] = head_center
    pts[:, _P["head_top"]] = head_center + r * head_dir
    # Face points on an ellipsoid head (0.8 r wide, r tall, 0.9 r deep).
    pts[:, _P["nose"]] = head_center + r * np.array([0.0, 0.25, 0.98])
    pts[:, _P["left_eye"]] = head_center + r * np.array([0.33, -0.05, 0.78])
    pts[:, _P["right_eye"]] = head_center + r * np.array([-0.33, -0.05, 0.78])
    pts[:, _P["left_ear"]] = head_center + r * np.array([0.8, 0.05, -0.05])
    pts[:, _P["right_ear"]] = head_center + r * np.array([-0.8, 0.05, -0.05])

    for side, tag in ((1.0, "left"), (-1.0, "right")):
        sfx = tag[0]
        hip = pelvis + side * col(bodies.hip_w) * lateral
        hip_pitch = getattr(angles, f"hip_{sfx}")
        knee = hip + col(bodies.thigh) * _limb(hip_pitch, np.full(n, 0.03), side)
        shin_pitch = hip_pitch - getattr(angles, f"knee_{sfx}")
        ankle = knee + col(bodies.shin) * _limb(shin_pitch, np.full(n, 0.03), side)
        # The foot points forward, at right angles to the shin, turned slightly out.
        foot = np.stack([side * 0.25 * np.ones(n), -np.sin(shin_pitch) + 0.15, np.cos(shin_pitch)], axis=1)
        shoulder = thorax + side * col(bodies.shoulder_w) * lateral
        elbow = shoulder + col(bodies.upper_arm) * _limb(getattr(angles, f"arm_{sfx}"),
                                                          getattr(angles, f"arm_abd_{sfx}"), side)
        fore_dir = _limb(getattr(angles, f"fore_{sfx}"), getattr(angles, f"fore_abd_{sfx}"), side)
        wrist = elbow + col(bodies.forearm) * fore_dir
        pts[:, _P[f"{tag}_hip"]] = hip
        pts[:, _P[f"{tag}_knee"]] = knee
        pts[:, _P[f"{tag}_ankle"]] = ankle
        pts[:, _P[f"{tag}_toe"]] = ankle + 0.065 * foot / np.linalg.norm(foot, axis=1, keepdims=True)
        pts[:, _P[f"{tag}_shoulder"]] = shoulder
        pts[:, _P[f"{tag}_elbow"]] = elbow
        pts[:, _P[f"{tag}_wrist"]] = wrist
        pts[:, _P[f"{tag}_hand"]] = wrist + 0.035 * fore_dir
    return pts


def project(points: np.ndarray, yaw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Orthographic view of body-frame points (P,K,3) after turning by `yaw` (P,).

    yaw 0 faces the camera (the person's left is image +x), pi/2 faces image right.
    Returns image offsets (P,K,2) (x right, y down, body-height units) and depth
    (P,K) (positive = farther from the camera).
    """
    c, s = np.cos(yaw)[:, None], np.sin(yaw)[:, None]
    a, y, b = points[..., 0], points[..., 1], points[..., 2]
    return np.stack([a * c + b * s, y], axis=-1), a * s - b * c


def self_visible(depth: np.ndarray, yaw: np.ndarray, bodies: Bodies) -> np.ndarray:
    """(P,K) bool: False for face points turned away from the camera, True elsewhere.

    depth (P,K) from `project` of `body_points`. An eye is seen when it is nearer
    than the head's centre, an ear unless it is well behind it, the nose while the
    face is not turned more than ~100 degrees away. Body joints hidden by the
    person's own limbs stay labelled, as annotators label them.
    """
    rel = (depth - depth[:, _P["head_center"], None]) / (bodies.head[:, None] / 2)
    out = np.ones(depth.shape, bool)
    for name in ("left_eye", "right_eye"):
        out[:, _P[name]] = rel[:, _P[name]] < -0.1
    for name in ("left_ear", "right_ear"):
        out[:, _P[name]] = rel[:, _P[name]] < 0.3
    out[:, _P["nose"]] = np.cos(yaw) > -0.2
    return out

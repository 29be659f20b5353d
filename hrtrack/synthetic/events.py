"""Occlusion and re-entry events: a person hidden, or out of view, for exactly N frames.

Both are built from geometry alone, before anything is painted: a person's joints
over the clip are projected through the camera (`person_joints`), and a person is
*present* in a frame when one of the joints PoseTrack evaluates is inside the
frame and turned toward the camera, as the ground truth reads it (`video.py`).

- `occlude` stands an object (a hoarding, a van side) in a walker's path, nearer
  to the camera, as wide as the walker's figure sweeps over a few frames: every
  joint is at least a pixel inside it for exactly N frames and some joint a pixel
  outside it on the frames before and after.
- `reenter` sends a walker out over the side of the frame; N frames after the
  last frame it was present it walks back in, turned around, on the same line.

So the ground truth drops the person for exactly N frames and keeps its track id,
unless something else (another object or person) happens to hide it as well.
"""

from __future__ import annotations

import numpy as np

from .body import POSETRACK_EVALUATED, SPEED, Bodies, body_points, cycle_angles, project, self_visible
from .motion import Motion
from .scene import Camera, SceneLayout, SceneObject

_MARGIN = 1.0  # image pixels a joint keeps from an edge to be surely inside or outside (label rounding)


def person_joints(bodies: Bodies, motion: Motion, layout: SceneLayout, camera: Camera, person: int,
                  frames: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points of one person at the given motion frames (F,): canvas (F,K,2), image (F,K,2), seen (F,K).

    K = every point of `body_points`; `seen` says which face points face the camera.
    Mirrors the projection of `SyntheticVideo.render` (to rounding).
    """
    n = len(frames)
    p = np.full(n, person)
    who = bodies.take(p)
    angles = cycle_angles(motion.action[p], motion.phase[person, frames], motion.amplitude[p], motion.wave_left[p])
    offsets, depth = project(body_points(who, angles), motion.yaw[person, frames])
    scale = motion.scale[person, frames]
    height = scale * who.stature * layout.ref_height
    origin = np.stack([motion.x[person, frames], layout.ground_y(scale) - who.hip_height * height], axis=1)
    canvas = origin[:, None, :] + height[:, None, None] * offsets
    zoom = camera.zoom[frames][:, None, None]
    w, h = camera.frame_size
    centre = np.stack([camera.cx[frames], camera.cy[frames]], axis=1)[:, None, :]
    image = zoom * (canvas - centre) + np.array([w / 2, h / 2])
    return canvas, image, self_visible(depth, motion.yaw[person, frames], who)


def _countable(image: np.ndarray, seen: np.ndarray, frame_size: tuple[int, int]) -> np.ndarray:
    """(F,15) evaluated joints that could be labelled: turned to the camera and inside the frame."""
    w, h = frame_size
    xy = image[:, POSETRACK_EVALUATED]
    inside = (xy[..., 0] >= 0) & (xy[..., 0] <= w - 1) & (xy[..., 1] >= 0) & (xy[..., 1] <= h - 1)
    return inside & seen[:, POSETRACK_EVALUATED]


def present(image: np.ndarray, seen: np.ndarray, frame_size: tuple[int, int]) -> np.ndarray:
    """(F,) whether the person would be annotated, if nothing covered it."""
    return _countable(image, seen, frame_size).any(axis=1)


def occlude(rng: np.random.Generator, bodies: Bodies, motion: Motion, layout: SceneLayout, camera: Camera,
            person: int, frames: int, step: int, hidden: int) -> SceneObject | None:
    """An object that hides `person` for exactly `hidden` of the clip's `frames` frames, or None.

    Frames are every `step`-th motion frame. The object covers the person's whole
    figure over a span of frames; its joints are inside it for a few frames more
    (hands and feet reach past them), so spans up to `hidden` long are tried from
    random starts until the joints are hidden for exactly `hidden` frames, with
    the person present on the frames just before and after and hidden by it on no
    other frame. None when no span works (a person standing still, or never in
    view for that long).
    """
    shown = np.arange(frames) * step
    canvas, image, seen = person_joints(bodies, motion, layout, camera, person, shown)
    countable = _countable(image, seen, camera.frame_size)
    here = countable.any(axis=1)
    zoom = camera.zoom[shown][:, None]
    w, h = camera.frame_size
    left = w / 2 - zoom * camera.cx[shown][:, None]
    top = h / 2 - zoom * camera.cy[shown][:, None]
    joints = image[:, POSETRACK_EVALUATED]
    for t0 in rng.permutation(np.arange(1, frames - 1)):
        for span in range(min(hidden, frames - 1 - t0), 0, -1):
            window = slice(t0, t0 + span)
            body = canvas[window].reshape(-1, 2)
            depth = float(motion.scale[person, shown[window]].max()) + 0.03
            x1, y1 = body.min(axis=0) - 2 * _MARGIN
            x2 = body[:, 0].max() + 2 * _MARGIN
            y2 = max(float(layout.ground_y(depth)), float(body[:, 1].max()) + 2 * _MARGIN)
            # How far each countable joint is inside the object, in image pixels, frame by frame.
            inset = np.minimum.reduce([joints[..., 0] - (left + zoom * x1), (left + zoom * x2) - joints[..., 0],
                                       joints[..., 1] - (top + zoom * y1), (top + zoom * y2) - joints[..., 1]])
            covered = np.where(countable, inset >= _MARGIN, True).all(axis=1) & here
            run = np.flatnonzero(covered)
            if len(run) < hidden:
                break  # shorter spans hide for fewer frames still
            a, b = int(run[0]), int(run[-1]) + 1
            if len(run) > hidden or b - a != hidden or a < 1 or b >= frames:
                continue
            sticks_out = (countable & (inset <= -_MARGIN)).any(axis=1)
            if here[a - 1:b + 1].all() and sticks_out[a - 1] and sticks_out[b]:
                return _hoarding(rng, depth, x1, y1, x2, y2)
    return None


def _hoarding(rng: np.random.Generator, depth: float, x1: float, y1: float, x2: float, y2: float) -> SceneObject:
    """A board standing at `depth` over x1..x2, y1..y2 (canvas): a coloured face, a dark base, a light top rail."""
    rect = np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]], np.float64)
    tall = y2 - y1
    base = np.array([[x1, y2 - 0.08 * tall], [x2, y2 - 0.08 * tall], [x2, y2], [x1, y2]], np.float64)
    rail = np.array([[x1, y1], [x2, y1], [x2, y1 + 0.05 * tall], [x1, y1 + 0.05 * tall]], np.float64)
    face = rng.uniform(50, 220, 3)
    colours = (face, face * 0.45, np.minimum(face * 1.3, 255))
    return SceneObject(depth, (rect, base, rail), tuple(tuple(float(v) for v in c) for c in colours))


def reenter(rng: np.random.Generator, bodies: Bodies, motion: Motion, layout: SceneLayout, camera: Camera,
            person: int, frames: int, step: int, away: int, fps: float, speed: float | None) -> Motion | None:
    """`motion` with `person` walking out of view and back after exactly `away` frames, or None.

    The person keeps its depth and gait; it walks across at `speed` scene pixels per
    motion frame (None: its action's pace), reaches the side of the frame at a random
    frame, stays beyond the canvas (which the view never leaves) for `away` of the
    clip's `frames` frames (every `step`-th motion frame) and walks back in, turned
    around, from where it was last seen, or as far in as needed to be seen at once.
    None when the person cannot be seen before it leaves, or back in time.
    """
    length = motion.x.shape[1]
    w, _ = camera.frame_size
    scale = float(motion.scale[person, 0])
    height = scale * float(bodies.stature[person]) * layout.ref_height
    pace = speed if speed is not None else SPEED[motion.action[person]] / fps * height
    pace = max(float(pace), 1e-3)
    side = float(rng.choice([-1.0, 1.0]))
    exit_frame = int(rng.integers(1, frames - away))
    u_exit = exit_frame * step
    # Half a body height past the frame's side at the exit frame: surely out of view.
    edge = camera.cx[u_exit] + (side * (w / 2 + 0.5 * height * camera.zoom[u_exit])) / camera.zoom[u_exit]
    u = np.arange(length, dtype=np.float64)
    x = edge - side * pace * (u_exit - u)
    yaw = np.full(length, side * np.pi / 2)
    trial = _with_path(motion, person, x, np.full(length, scale), yaw)
    shown = np.arange(frames) * step
    here = _present(bodies, trial, layout, camera, person, shown)
    seen_before = np.flatnonzero(here[:exit_frame])
    if not len(seen_before):
        return None
    last_seen = int(seen_before[-1])
    leave, back = last_seen + 1, last_seen + 1 + away
    if back >= frames:
        return None
    beyond = layout.width + 3 * height if side > 0 else -3 * height
    x[leave * step:back * step] = beyond
    # Walk back in from where the person was last seen, stepping further in until it is seen at once.
    for extra in range(frames):
        start = x[last_seen * step] - side * pace * step * extra
        x[back * step:] = start - side * pace * (u[back * step:] - back * step)
        yaw[back * step:] = -side * np.pi / 2
        trial = _with_path(motion, person, x, np.full(length, scale), yaw)
        if _present(bodies, trial, layout, camera, person, shown[back:back + 1])[0]:
            return trial
    return None


def _present(bodies: Bodies, motion: Motion, layout: SceneLayout, camera: Camera, person: int,
             frames: np.ndarray) -> np.ndarray:
    _, image, seen = person_joints(bodies, motion, layout, camera, person, frames)
    return present(image, seen, camera.frame_size)


def _with_path(motion: Motion, person: int, x: np.ndarray, scale: np.ndarray, yaw: np.ndarray) -> Motion:
    """`motion` with one person's path (x, scale, yaw over every motion frame) replaced."""
    arrays = {"x": motion.x.copy(), "scale": motion.scale.copy(), "yaw": motion.yaw.copy()}
    for name, values in (("x", x), ("scale", scale), ("yaw", yaw)):
        arrays[name][person] = values
    return Motion(action=motion.action, amplitude=motion.amplitude, wave_left=motion.wave_left,
                  phase=motion.phase, **arrays)


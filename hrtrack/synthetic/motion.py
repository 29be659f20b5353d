"""Where each synthetic person is, frame by frame: paths, turns, depth, gait phase.

All of a clip's motion is computed up front as (P,T) arrays with cumulative sums,
so rendering a frame only indexes column t. People walk or run across the scene
(entering and leaving the view), toward or away from the camera (their scale
changes), turn around (yaw sweeps through the front or the back view, which swaps
left and right in the image), or stand and wave, sometimes turning on the spot.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .body import ACTIONS, CYCLE_HZ, RUN, SPEED, WALK, Bodies

MIN_SCALE, MAX_SCALE = 0.25, 1.3
# With a speed given, movers faster than this (body heights a second) run.
RUN_FROM = 1.1


@dataclass(frozen=True)
class Motion:
    """Per-person (P,) and per-frame (P,T) state of a clip.

    x: scene x (pixels) of the point under the pelvis; scale: depth scale (1 = the
    front of the scene; the ground line and the size follow it); yaw: facing angle
    (0 = toward the camera, pi/2 = image right); phase: gait cycle phase (radians).
    """

    action: np.ndarray
    amplitude: np.ndarray
    wave_left: np.ndarray
    x: np.ndarray
    scale: np.ndarray
    yaw: np.ndarray
    phase: np.ndarray

    def take(self, index) -> "Motion":
        return Motion(*(getattr(self, f)[index] for f in self.__dataclass_fields__))

    def concat(self, other: "Motion") -> "Motion":
        """These people, then `other`'s (over the same frames)."""
        return Motion(*(np.concatenate([getattr(self, f), getattr(other, f)]) for f in self.__dataclass_fields__))


def _ramp(t: np.ndarray, start: np.ndarray, duration: np.ndarray) -> np.ndarray:
    """Smooth 0 -> 1 step (P,T) beginning at `start` (P,) and lasting `duration` (P,) frames."""
    u = np.clip((t[None, :] - start[:, None]) / np.maximum(duration[:, None], 1.0), 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(np.pi * u)


def sample_motion(rng: np.random.Generator, bodies: Bodies, frames: int, fps: float,
                  view: tuple[float, float], ref_height: float, speed: float | None = None) -> Motion:
    """Draw paths for `bodies` over `frames` frames.

    view: (left, right) scene x of the camera's average view; ref_height: pixels of
    an adult at scale 1. Movers start inside the view or just outside an edge,
    walking in; a third of them turn around once. speed: ground covered by each
    walker or runner, scene pixels per frame at its starting depth, times its own
    factor of 0.8-1.2 (movers faster than RUN_FROM body heights a second run, the
    others walk, with a cadence that follows the speed); None: each action's own
    pace. The random draws are the same whatever `speed`, so it changes only the pace.
    """
    n = len(bodies)
    t = np.arange(frames, dtype=np.float64)
    action = rng.choice(len(ACTIONS), size=n, p=[0.15, 0.55, 0.12, 0.18])
    moving = (action == WALK) | (action == RUN)
    amplitude = rng.uniform(0.8, 1.2, n)

    # Heading: mostly across the view, sometimes toward or away from the camera.
    across = rng.random(n) < 0.7
    heading = np.where(across, rng.choice([-1.0, 1.0], n) * (np.pi / 2 + rng.normal(0, 0.3, n)),
                       rng.choice([0.0, np.pi], n) + rng.normal(0, 0.4, n))
    standing_yaw = np.where(rng.random(n) < 0.7, rng.normal(0, 0.5, n), np.pi + rng.normal(0, 0.4, n))
    yaw0 = np.where(moving, heading, standing_yaw)

    # One turn: movers reverse, standers turn on the spot; via the front or the back view.
    turns = rng.random(n) < np.where(moving, 0.35, 0.3)
    turn_start = np.where(turns, rng.uniform(0.15, 0.65, n) * frames, np.inf)
    turn_len = np.where(moving, rng.uniform(8, 16, n), rng.uniform(15, 30, n))
    toward_front = rng.random(n) < 0.5
    # Wrapped yaw in (-pi, pi]: the sweep passes yaw 0 (front) or pi (back).
    wrapped = np.angle(np.exp(1j * yaw0))
    via_front = np.where(wrapped > 0, -np.pi, np.pi)
    sweep = np.where(toward_front, via_front, -via_front)
    ramp = _ramp(t, turn_start, turn_len)
    yaw = wrapped[:, None] + sweep[:, None] * ramp
    direction = np.cos(np.pi * ramp)  # movers slow, stop and walk back while turning

    spread = rng.uniform(0.8, 1.2, n)
    scale0 = rng.uniform(0.35, 1.0, n)
    rate = 2 * np.pi * CYCLE_HZ[action] / fps  # gait cycle, radians per frame
    if speed is None:
        speed = SPEED[action] * spread / fps  # body heights per frame
    else:
        heights = speed * spread / (scale0 * bodies.stature * ref_height)  # body heights per frame
        action = np.where(moving, np.where(heights * fps > RUN_FROM, RUN, WALK), action)
        # Cadence grows with the square root of speed: faster people take longer strides too.
        natural = np.maximum(SPEED[action] / fps, 1e-9)
        rate = 2 * np.pi * CYCLE_HZ[action] / fps * np.sqrt(np.where(moving, heights / natural, 1.0))
        speed = np.where(moving, heights, 0.0)
    across_v = speed * np.sin(yaw0)
    toward_v = speed * np.cos(yaw0)
    # Approaching one body height grows the scale by about a third of itself (perspective).
    log_scale = np.cumsum(np.where(moving[:, None], toward_v[:, None] * direction / 3.0, 0.0), axis=1)
    scale = np.clip(scale0[:, None] * np.exp(log_scale - log_scale[:, :1]), MIN_SCALE, MAX_SCALE)
    height = scale * bodies.stature[:, None] * ref_height
    step = across_v[:, None] * direction * height
    left, right = view
    enter = moving & (rng.random(n) < 0.4)
    margin = 0.3 * height[:, 0]
    entry_x = np.where(across_v > 0, left - margin, right + margin)
    x0 = np.where(enter, entry_x, rng.uniform(left + 0.05 * (right - left), right - 0.05 * (right - left), n))
    x = x0[:, None] + np.cumsum(step, axis=1) - step[:, :1]

    pace = np.where(moving[:, None], np.maximum(np.abs(direction), 0.3), 1.0)
    phase = rng.uniform(0, 2 * np.pi, n)[:, None] + np.cumsum(rate[:, None] * pace, axis=1)
    return Motion(action=action, amplitude=amplitude, wave_left=rng.random(n) < 0.5,
                  x=x, scale=scale, yaw=yaw, phase=phase)


"""A clip's script: everything that defines it, drawn from a seeded generator.

`sample_script` draws the scene layout, the people (bodies and motion), the camera,
scene objects, crowds and image effects; rendering (`hrtrack.synthetic.video`) is a
pure function of the script. `labeled_frames` picks the PoseTrack-like subset of
frames that carry annotations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import HrtrackError
from .body import Bodies, sample_bodies
from .motion import Motion, sample_motion
from .scene import (Camera, Crowd, Effects, SceneLayout, SceneObject, sample_camera, sample_crowd, sample_effects,
                    sample_layout, sample_objects)

MAX_PEOPLE = 254  # label image values 1..254; 255 marks scene objects


def labeled_frames(frames: int, dense: int = 30, step: int = 4) -> np.ndarray:
    """(frames,) bool: PoseTrack-like labelling, a dense middle window and every `step`-th frame elsewhere.

    The window is `dense` frames long (at most half the clip), centred.
    """
    out = np.arange(frames) % step == 0
    length = min(dense, max(1, frames // 2))
    start = (frames - length) // 2
    out[start:start + length] = True
    return out


@dataclass(frozen=True)
class VideoScript:
    """Everything that defines a clip; rendering is a pure function of it."""

    frame_size: tuple[int, int]
    frames: int
    fps: float
    layout: SceneLayout
    bodies: Bodies
    motion: Motion
    camera: Camera
    objects: tuple[SceneObject, ...]
    crowds: tuple[Crowd, ...]
    effects: Effects
    seed: int


def check_clip_options(frame_size: tuple[int, int], frames: int, people: tuple[int, int], fps: float) -> None:
    """Raise HrtrackError unless the size (W,H), frame count, people range and frame rate make a clip."""
    if not (np.isfinite(fps) and 0 < fps <= 1000):
        raise HrtrackError(f"fps must be in (0, 1000], got {fps}")
    lo, hi = people
    if not 1 <= lo <= hi <= MAX_PEOPLE:
        raise HrtrackError(f"people must satisfy 1 <= min <= max <= {MAX_PEOPLE}, got {lo} {hi}")
    if frames < 1:
        raise HrtrackError(f"frames must be at least 1, got {frames}")
    w, h = frame_size
    if not (64 <= w <= 4096 and 64 <= h <= 4096):
        raise HrtrackError(f"frame size must be between 64 and 4096 pixels a side, got {w}x{h}")


def sample_script(rng: np.random.Generator, frame_size: tuple[int, int] = (640, 360), frames: int = 60,
                  people: tuple[int, int] = (2, 5), fps: float = 25.0) -> VideoScript:
    """Draw a clip: scene, camera, objects, crowds, and between people[0] and people[1] people."""
    check_clip_options(frame_size, frames, people, fps)
    lo, hi = people
    w, h = frame_size
    layout = sample_layout(rng, frame_size)
    bodies = sample_bodies(rng, int(rng.integers(lo, hi + 1)))
    motion = sample_motion(rng, bodies, frames, fps, layout.view, layout.ref_height)
    camera = sample_camera(rng, layout, frames)
    objects = sample_objects(rng, layout, int(rng.integers(0, 3)))
    crowds = (sample_crowd(rng, layout),) if rng.random() < 0.4 else ()
    return VideoScript(frame_size=(int(w), int(h)), frames=int(frames), fps=float(fps), layout=layout,
                       bodies=bodies, motion=motion, camera=camera, objects=objects, crowds=crowds,
                       effects=sample_effects(rng), seed=int(rng.integers(2 ** 31)))

"""A clip's script: everything that defines it, drawn from a seeded generator.

`sample_script` draws the scene layout, the people (bodies and motion), the camera,
scene objects, crowds and image effects; rendering (`hrtrack.synthetic.video`) is a
pure function of the script. A `Difficulty` other than the default then hardens
the clip (more people, team kits, a steered camera, occlusion and re-entry
events) with a second generator seeded from the script's seed, so the draws of
the clip itself are the same at every level: each axis changes only what it
names. `labeled_frames` picks the PoseTrack-like subset of frames that carry
annotations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import HrtrackError
from .body import RUN, WALK, Bodies, sample_bodies
from .difficulty import MAX_PEOPLE, REFERENCE_FPS, Difficulty, frame_pixels, max_people
from .events import occlude, reenter
from .motion import Motion, sample_motion
from .scene import (Camera, CameraPath, Crowd, Effects, SceneLayout, SceneObject, place_camera, sample_camera_path,
                    sample_crowd, sample_effects, sample_layout, sample_objects, steer_camera)

# Second key of the generator that hardens a clip ([script seed, key]); rendering uses 0, 1 and 2.
DIFFICULTY_KEY = 3


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
    """Everything that defines a clip; rendering is a pure function of it.

    The clip shows `frames` frames: every `decimation`-th of the motion and camera
    arrays, which run at `fps` and hold frames x decimation columns. `joints_first`
    lists each frame's annotated people by decreasing number of labelled joints
    (else by track id): PoseTrack's matching pairs a person with the first of equally
    good matches, so in a crowd a person showing only a joint beside the same joint
    of another would be paired with that other when a ground truth is scored
    against itself; listed after it, it is not.
    """

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
    decimation: int = 1
    joints_first: bool = False

    @property
    def frame_rate(self) -> float:
        """Frames per second of the clip as shown (the motion's rate over the decimation)."""
        return self.fps / self.decimation


def check_clip_options(frame_size: tuple[int, int], frames: int, people: tuple[int, int], fps: float,
                       difficulty: Difficulty | None = None) -> None:
    """Raise HrtrackError unless the size (W,H), frame count, people range, frame rate and difficulty make a clip."""
    if not (np.isfinite(fps) and 0 < fps <= 1000):
        raise HrtrackError(f"fps must be in (0, 1000], got {fps}")
    if frames < 1:
        raise HrtrackError(f"frames must be at least 1, got {frames}")
    w, h = frame_size
    if not (64 <= w <= 4096 and 64 <= h <= 4096):
        raise HrtrackError(f"frame size must be between 64 and 4096 pixels a side, got {w}x{h}")
    fit = min(max_people((w, h)), MAX_PEOPLE)
    ranges = [people] if difficulty is None or difficulty.people is None else [people, difficulty.people]
    for lo, hi in ranges:
        if not 1 <= lo <= hi:
            raise HrtrackError(f"people must satisfy 1 <= min <= max <= {fit}, got {lo} {hi}")
        if hi > fit:
            raise HrtrackError(f"people must be at most {fit} for {w}x{h} frames (more do not fit side by side "
                               f"across the scene), got {hi}")
    if difficulty is None:
        return
    # An event needs a frame of the person on either side of it.
    for name, length in (("occlusion-frames", difficulty.occlusion_frames),
                         ("reentry-frames", difficulty.reentry_frames)):
        if length > max(frames - 2, 0):
            raise HrtrackError(f"{name} must be in 0..{max(frames - 2, 0)} for {frames}-frame clips, got {length}")


def sample_script(rng: np.random.Generator, frame_size: tuple[int, int] = (640, 360), frames: int = 60,
                  people: tuple[int, int] = (2, 5), fps: float = 25.0,
                  difficulty: Difficulty | None = None) -> VideoScript:
    """Draw a clip: scene, camera, objects, crowds, and between people[0] and people[1] people.

    difficulty: the axes to harden it along (None: the default, today's clips).
    """
    difficulty = difficulty or Difficulty()
    check_clip_options(frame_size, frames, people, fps, difficulty)
    lo, hi = people
    w, h = frame_size
    length = frames * difficulty.decimation
    speed = None if difficulty.speed is None else frame_pixels(difficulty.speed, h, fps)
    layout = sample_layout(rng, frame_size)
    bodies = sample_bodies(rng, int(rng.integers(lo, hi + 1)))
    motion = sample_motion(rng, bodies, length, fps, layout.view, layout.ref_height, speed)
    camera = sample_camera_path(rng, length)
    objects = sample_objects(rng, layout, int(rng.integers(0, 3)))
    crowds = (sample_crowd(rng, layout),) if rng.random() < 0.4 else ()
    script = VideoScript(frame_size=(int(w), int(h)), frames=int(frames), fps=float(fps), layout=layout,
                         bodies=bodies, motion=motion, camera=place_camera(layout, camera), objects=objects,
                         crowds=crowds, effects=sample_effects(rng), seed=int(rng.integers(2 ** 31)),
                         decimation=difficulty.decimation)
    if not difficulty.changes_clips:
        return script
    return _harden(script, camera, difficulty, speed)


def _count(share: float, total: int) -> int:
    """`share` of `total`, rounded to the nearest count."""
    return int(share * total + 0.5)


def _harden(script: VideoScript, camera: CameraPath, difficulty: Difficulty, speed: float | None) -> VideoScript:
    """`script` along the axes of `difficulty` past the motion's: drawn from [seed, DIFFICULTY_KEY]."""
    d = difficulty
    rng = np.random.default_rng([script.seed, DIFFICULTY_KEY])
    layout, bodies, motion = script.layout, script.bodies, script.motion
    h = script.frame_size[1]
    length = motion.x.shape[1]
    if d.people is not None:
        # The same people first; more are drawn as the clip's were, fewer are the first ones.
        n = int(rng.integers(d.people[0], d.people[1] + 1))
        if n > len(bodies):
            more = sample_bodies(rng, n - len(bodies))
            bodies = bodies.concat(more)
            motion = motion.concat(sample_motion(rng, more, length, script.fps, layout.view, layout.ref_height,
                                                 speed))
        bodies, motion = bodies.take(np.arange(n)), motion.take(np.arange(n))
    team = rng.permutation(len(bodies))[:_count(d.lookalikes, len(bodies))]
    if len(team) >= 2:
        # Four or more make two teams, as on a pitch.
        bodies = bodies.dress_alike([team[0::2], team[1::2]] if len(team) >= 4 else [team])
    steer = {name: None if getattr(d, name) is None else
             frame_pixels(getattr(d, name), h, script.fps, per_frame=name != "shake") for name in ("pan", "shake")}
    zoom_rate = None if d.zoom_rate is None else d.zoom_rate * REFERENCE_FPS / script.fps
    cam = place_camera(layout, steer_camera(camera, layout, rng, zoom_rate=zoom_rate, **steer))
    # Events go to a share of the walkers and runners, tried in random order until that many have one.
    movers = [int(p) for p in rng.permutation(np.flatnonzero(np.isin(motion.action, (WALK, RUN))))]
    leaving: list[int] = []
    for p in movers if d.reentry_frames else ():
        if len(leaving) == _count(d.reentry_share, len(movers)):
            break
        moved = reenter(rng, bodies, motion, layout, cam, p, script.frames, d.decimation, d.reentry_frames,
                        script.fps, speed)
        if moved is not None:
            motion = moved
            leaving.append(p)
    boards: list[SceneObject] = []
    for p in movers if d.occlusion_frames else ():
        if len(boards) == _count(d.occluded_share, len(movers)):
            break
        board = None if p in leaving else occlude(rng, bodies, motion, layout, cam, p, script.frames,
                                                   d.decimation, d.occlusion_frames)
        if board is not None:
            boards.append(board)
    return VideoScript(frame_size=script.frame_size, frames=script.frames, fps=script.fps, layout=layout,
                       bodies=bodies, motion=motion, camera=cam, objects=script.objects + tuple(boards),
                       crowds=script.crowds, effects=script.effects, seed=script.seed, decimation=script.decimation,
                       joints_first=d.people is not None)

"""How hard a synthetic clip is: the generator's difficulty axes and their named presets.

Each axis is a property of real video that tracking depends on, given in units a
person can check against footage: pixels per frame of a 1280x720 video at 25 fps
(scaled to the actual frame height and frame rate), frames, shares of people.
Every axis defaults to the clips the generator made before the axis existed, so
`Difficulty()` changes nothing: the same seed gives the same bytes.

    motion     speed, decimation
    camera     pan, zoom_rate, shake
    crowding   people, lookalikes
    occlusion  occlusion_frames (occluded_share), reentry_frames (reentry_share)
    detector   det_miss, det_jitter, det_fp, det_run_length (det_run_rate)

`DIFFICULTY_PRESETS` names whole settings ("default", "hard"); docs/synthetic.md
gives the real-world reason for each level of the hard preset. This module
imports nothing heavy, so the command line can use it while building its parser.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Mapping

from ..errors import HrtrackError

# Speeds, pans and shakes are given for this frame height and frame rate and scaled to the clip's.
REFERENCE_HEIGHT = 720
REFERENCE_FPS = 25.0
# Label-image values 1..254 name people (255 marks scene objects), so no clip holds more.
MAX_PEOPLE = 254


def _number(name: str, value: Any, lo: float, hi: float, unit: str = "") -> None:
    """Raise unless `value` is a real number in [lo, hi] (NaN and booleans fail)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and lo <= value <= hi
    if not ok:
        raise HrtrackError(f"{name} must be in [{lo:g}, {hi:g}]{unit}, got {value!r}")


def _count(name: str, value: Any, lo: int, hi: int, unit: str = "") -> None:
    """Raise unless `value` is an integer in lo..hi."""
    ok = isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi
    if not ok:
        raise HrtrackError(f"{name} must be an integer in {lo}..{hi}{unit}, got {value!r}")


@dataclass(frozen=True)
class Difficulty:
    """The difficulty axes of synthetic clips and their simulated detections; validated on construction.

    Motion: `speed` (None: each action's own pace) sets how fast walkers and
    runners cover ground, px/frame; `decimation` keeps every k-th frame of the
    motion (a 25 fps clip becomes 25/k fps, each step k times longer).
    Camera (None: the generator's random static, panning or sweeping camera):
    `pan` mean pan speed px/frame, the camera sweeping back and forth across the
    scene; `zoom_rate` mean relative zoom change per frame, zooming between 1x
    and 1.5x; `shake` std of the camera's frame-to-frame jitter, px per axis.
    Crowding: `people` (min, max) people in a clip (None: the caller's range);
    `lookalikes` share of people in team kit (same clothes and build).
    Occlusion: `occlusion_frames` frames that an `occluded_share` of the
    walkers and runners stay fully hidden behind an object in their path;
    `reentry_frames` frames that a `reentry_share` of them spend out of view
    before walking back in. Detector: `det_miss` probability of missing a
    person, `det_jitter` box side noise (fraction of the size), `det_fp` false
    positives per frame, and missed runs: a person missed `det_run_length`
    frames in a row, starting with probability `det_run_rate` per person and frame.
    px are pixels of a 1280x720 frame at 25 fps (see `frame_pixels`).
    """

    speed: float | None = None
    decimation: int = 1
    pan: float | None = None
    zoom_rate: float | None = None
    shake: float | None = None
    people: tuple[int, int] | None = None
    lookalikes: float = 0.0
    occlusion_frames: int = 0
    occluded_share: float = 0.5
    reentry_frames: int = 0
    reentry_share: float = 0.5
    det_miss: float = 0.1
    det_jitter: float = 0.05
    det_fp: float = 0.3
    det_run_length: int = 0
    det_run_rate: float = 0.02

    def __post_init__(self) -> None:
        for name, hi in (("speed", 100.0), ("pan", 100.0), ("shake", 50.0)):
            if getattr(self, name) is not None:
                _number(name, getattr(self, name), 0.0, hi, " px/frame at 1280x720, 25 fps")
        if self.zoom_rate is not None:
            _number("zoom-rate", self.zoom_rate, 0.0, 0.1, " (relative zoom change per frame)")
        _count("decimation", self.decimation, 1, 8, " (keep every k-th frame)")
        if self.people is not None:
            people = self.people
            ok = (isinstance(people, tuple) and len(people) == 2
                  and all(isinstance(v, int) and not isinstance(v, bool) for v in people)
                  and 1 <= people[0] <= people[1] <= MAX_PEOPLE)
            if not ok:
                raise HrtrackError(f"people must be two integers with 1 <= min <= max <= {MAX_PEOPLE}, "
                                   f"got {people!r}")
        for name in ("lookalikes", "occluded_share", "reentry_share", "det_miss", "det_jitter", "det_run_rate"):
            _number(name.replace("_", "-"), getattr(self, name), 0.0, 1.0)
        _number("det-fp", self.det_fp, 0.0, 100.0, " false positives per frame")
        for name in ("occlusion_frames", "reentry_frames", "det_run_length"):
            _count(name.replace("_", "-"), getattr(self, name), 0, 1000, " frames")

    @property
    def changes_clips(self) -> bool:
        """Whether any axis of the clips (not the detector) differs from the default."""
        default = Difficulty()
        return any(getattr(self, f.name) != getattr(default, f.name) for f in fields(self)
                   if not f.name.startswith("det_"))

    def to_dict(self) -> dict:
        """Plain JSON-ready values (people as a list)."""
        out = asdict(self)
        out["people"] = None if self.people is None else list(self.people)
        return out

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "Difficulty":
        """The inverse of `to_dict`; unknown names raise HrtrackError."""
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise HrtrackError(f"unknown difficulty setting {unknown[0]!r}; known: {', '.join(known)}")
        values = dict(values)
        if isinstance(values.get("people"), list):
            values["people"] = tuple(values["people"])
        return cls(**values)

    @classmethod
    def preset(cls, name: str) -> "Difficulty":
        """The named preset of `DIFFICULTY_PRESETS`."""
        if name not in DIFFICULTY_PRESETS:
            raise HrtrackError(f"preset must be one of {', '.join(DIFFICULTY_PRESETS)}, got {name!r}")
        return DIFFICULTY_PRESETS[name]

    def with_overrides(self, **values: Any) -> "Difficulty":
        """A copy with the axes given (None values are left out: not given), validated again."""
        return replace(self, **{k: v for k, v in values.items() if v is not None})


def frame_pixels(value: float, frame_height: int, fps: float, per_frame: bool = True) -> float:
    """`value` px of a 1280x720 frame at 25 fps, in pixels of a `frame_height` frame at `fps`.

    per_frame: the value is a rate (px/frame), so at a higher frame rate it is less a frame.
    """
    scaled = value * frame_height / REFERENCE_HEIGHT
    return scaled * REFERENCE_FPS / fps if per_frame else scaled


def max_people(frame_size: tuple[int, int]) -> int:
    """How many people fit in a clip of this frame size (W, H): side by side across the scene.

    The scene is 1.3 frame widths wide and the farthest people stand at depth
    scale 0.35, where an adult (0.72 frame heights tall at scale 1) is about 0.3
    of its height wide with its arms: floor(1.3 W / (0.3 x 0.35 x 0.72 H)),
    30 for a 16:9 frame.
    """
    w, h = frame_size
    return int(math.floor(1.3 * w / (0.3 * 0.35 * 0.72 * h)))


# The hard preset: each level from the range of real PoseTrack footage (docs/synthetic.md says why).
DIFFICULTY_PRESETS: dict[str, Difficulty] = {
    "default": Difficulty(),
    "hard": Difficulty(speed=15.0, pan=8.0, zoom_rate=0.005, shake=2.0, people=(12, 18), lookalikes=0.5,
                       occlusion_frames=10, occluded_share=0.3, reentry_frames=20, reentry_share=0.2,
                       det_miss=0.15, det_jitter=0.08, det_fp=1.0, det_run_length=8, det_run_rate=0.02),
}

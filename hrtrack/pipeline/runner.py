"""The video loop: source -> detections -> FlowTrack pipeline -> [post-processing] -> sinks, streaming.

Frames are read in small chunks so the detector can batch them; everything else
runs frame by frame (propagation needs the previous frame's poses). With a
keyframe schedule (`keyframes.py`) the detector runs only on the frames it names,
one at a time, as the adaptive rule decides after each frame. Memory stays
bounded by the chunk size and the post-processing's fixed lag, whatever the
video's length.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, Protocol, Sequence

from tqdm import tqdm

from ..structures import Boxes, Poses
from ..timing import StageTimer
from .keyframes import KeyframeSchedule
from .postprocess import PostProcess
from .sources import Frame, FrameSource
from .tracking_pipeline import FlowTrackPipeline

DetectFn = Callable[[Sequence[Frame]], list[Boxes]]


class Sink(Protocol):
    """Takes each frame's tracked poses in order. A sink that reads `frame.image` sets a true
    `needs_image` attribute: without one, post-processing does not hold images for it."""

    def add(self, frame: Frame, poses: Poses) -> None: ...
    def close(self) -> None: ...
    def abort(self) -> None: ...


@dataclass
class RunStats:
    """What a run did: frame count, frames the detector ran on, wall time and mean per-stage milliseconds per frame."""

    frames: int = 0
    detected: int = 0
    seconds: float = 0.0
    stage_ms: dict[str, float] = field(default_factory=dict)
    people: int = 0
    tracks: int = 0

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def table(self) -> str:
        """Per-stage timing table, slowest first."""
        rows = sorted(self.stage_ms.items(), key=lambda kv: -kv[1])
        total = sum(v for _, v in rows)
        lines = [f"{'stage':<18}{'ms/frame':>10}{'share':>8}"]
        lines += [f"{k:<18}{v:>10.2f}{v / total if total else 0:>8.0%}" for k, v in rows]
        lines.append(f"{'end to end':<18}{1000 * self.seconds / max(self.frames, 1):>10.2f}   ({self.fps:.1f} fps)")
        return "\n".join(lines)


def _chunks(frames: Iterable[Frame], size: int) -> Iterator[list[Frame]]:
    chunk: list[Frame] = []
    for frame in frames:
        chunk.append(frame)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def track_source(source: FrameSource, detect: DetectFn, pipeline: FlowTrackPipeline, sinks: Sequence[Sink] = (),
                 *, detect_batch: int = 4, progress: bool = True, desc: str = "track",
                 on_frame: Callable[[Frame, Poses], None] | None = None,
                 postprocess: PostProcess | None = None, keyframes: KeyframeSchedule | None = None) -> RunStats:
    """Run the pipeline over every frame of `source`, feeding each sink; close them at the end.

    With `keyframes`, `detect` sees only the keyframes (one per call); the other
    frames get no detections. Without, every frame is detected, `detect_batch` at a time.

    With `postprocess`, sinks and `on_frame` get its output: every frame, in
    order, `postprocess.lag` frames late, the rest when the source ends. If
    anything fails, every sink is aborted (no partial output replaces a previous
    file) and the error propagates.
    """
    pipeline.reset()
    if keyframes is not None:
        keyframes.reset()
    if postprocess is not None:
        postprocess.reset(keep_images=on_frame is not None or any(getattr(s, "needs_image", False) for s in sinks))
    timer = StageTimer()
    try:
        total = len(source)
    except TypeError:
        total = None
    stats = RunStats()
    track_ids: set[int] = set()
    start = time.perf_counter()
    bar = tqdm(total=total, desc=desc, unit="frame", disable=not progress, leave=False, dynamic_ncols=True)

    def write(ready: Iterable[tuple[Frame, Poses]]) -> None:
        t = time.perf_counter()
        for frame, poses in ready:
            for sink in sinks:
                sink.add(frame, poses)
            if on_frame is not None:
                on_frame(frame, poses)
            stats.people += len(poses)
            track_ids.update(poses.track_ids.tolist())
        timer.add("write", t)

    def detect_keyframe(frame: Frame) -> Boxes:
        t = time.perf_counter()
        boxes = Boxes.empty()
        if keyframes.due():
            boxes = detect([frame])[0]
            stats.detected += 1
        timer.add("detect", t)
        return boxes

    try:
        frames = iter(source)
        while True:
            t = time.perf_counter()
            chunk = next(_chunks(frames, detect_batch), None)
            if chunk is None:
                break
            t = timer.add("read frames", t)
            # Without a schedule the whole chunk is detected in one call; with one, each keyframe when it comes.
            batch: Sequence[Boxes | None] = [None] * len(chunk)
            if keyframes is None:
                batch = detect(chunk)
                stats.detected += len(chunk)
                timer.add("detect", t)
            for frame, boxes in zip(chunk, batch):
                poses = pipeline(frame.image, boxes if boxes is not None else detect_keyframe(frame), timer)
                if keyframes is not None:
                    keyframes.observe(poses)
                if postprocess is None:
                    write([(frame, poses)])
                else:
                    t = time.perf_counter()
                    ready = postprocess.push(frame, poses, pipeline.camera_shift)
                    timer.add("postprocess", t)
                    write(ready)
                bar.update(1)
                stats.frames += 1
                bar.set_postfix(fps=f"{stats.frames / (time.perf_counter() - start):.1f}", refresh=False)
        if postprocess is not None:
            t = time.perf_counter()
            ready = postprocess.flush()
            timer.add("postprocess", t)
            write(ready)
        for sink in sinks:
            sink.close()
    except BaseException:
        for sink in sinks:
            sink.abort()
        raise
    finally:
        bar.close()
    stats.seconds = time.perf_counter() - start
    stats.stage_ms = timer.per_frame_ms()
    stats.tracks = len(track_ids)
    return stats

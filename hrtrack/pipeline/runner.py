"""The video loop: source -> detections -> FlowTrack pipeline -> sinks, streaming.

Frames are read in small chunks so the detector can batch them; everything else
runs frame by frame (propagation needs the previous frame's poses). Memory stays
bounded by the chunk size, whatever the video's length.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, Protocol, Sequence

from tqdm import tqdm

from ..structures import Boxes, Poses
from ..timing import StageTimer
from .sources import Frame, FrameSource
from .tracking_pipeline import FlowTrackPipeline

DetectFn = Callable[[Sequence[Frame]], list[Boxes]]


class Sink(Protocol):
    def add(self, frame: Frame, poses: Poses) -> None: ...
    def close(self) -> None: ...
    def abort(self) -> None: ...


@dataclass
class RunStats:
    """What a run did: frame count, wall time and mean per-stage milliseconds per frame."""

    frames: int = 0
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
                 on_frame: Callable[[Frame, Poses], None] | None = None) -> RunStats:
    """Run the pipeline over every frame of `source`, feeding each sink; close them at the end.

    If anything fails, every sink is aborted (no partial output replaces a
    previous file) and the error propagates.
    """
    pipeline.reset()
    timer = StageTimer()
    try:
        total = len(source)
    except TypeError:
        total = None
    stats = RunStats()
    track_ids: set[int] = set()
    start = time.perf_counter()
    bar = tqdm(total=total, desc=desc, unit="frame", disable=not progress, leave=False, dynamic_ncols=True)
    try:
        frames = iter(source)
        while True:
            t = time.perf_counter()
            chunk = next(_chunks(frames, detect_batch), None)
            if chunk is None:
                break
            t = timer.add("read frames", t)
            detections = detect(chunk)
            timer.add("detect", t)
            for frame, boxes in zip(chunk, detections):
                poses = pipeline(frame.image, boxes, timer)
                t = time.perf_counter()
                for sink in sinks:
                    sink.add(frame, poses)
                if on_frame is not None:
                    on_frame(frame, poses)
                timer.add("write", t)
                stats.people += len(poses)
                track_ids.update(poses.track_ids.tolist())
                bar.update(1)
                stats.frames += 1
                bar.set_postfix(fps=f"{stats.frames / (time.perf_counter() - start):.1f}", refresh=False)
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

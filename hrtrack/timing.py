"""Per-stage wall-clock timing: owned by whoever runs the loop, handed to the stages it calls."""

from __future__ import annotations

import time
from collections import defaultdict


class StageTimer:
    """Accumulates wall time per named stage, and counts frames.

    A stage starts a clock with `time.perf_counter()` and calls `add(stage, start)`,
    which returns the current time so the next stage can start from it.
    """

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.frames = 0

    def add(self, stage: str, start: float) -> float:
        """Add the time since `start` to `stage`; returns now."""
        now = time.perf_counter()
        self.seconds[stage] += now - start
        return now

    def per_frame_ms(self) -> dict[str, float]:
        """Mean milliseconds per frame of each stage."""
        n = max(self.frames, 1)
        return {k: 1000.0 * v / n for k, v in self.seconds.items()}

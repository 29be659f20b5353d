"""Shared fixtures: a small synthetic dataset on disk and a small synthetic clip in memory.

Both are session-scoped and cheap (well under a second to make); tests must not
modify them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from hrtrack.datasets.synthetic import SPLIT_BASE, SyntheticFrame, SyntheticVideo, generate_dataset

# The on-disk dataset: 2 clips per split, 16 frames of 384x216, 2-4 people.
SYNTH_OPTIONS = dict(videos=2, frames=16, size=(384, 216), people=(2, 4), splits=("train", "val"), seed=0)


@dataclass(frozen=True)
class SyntheticDataset:
    """A generated dataset: its root folder and the options it was made with."""

    root: Path
    options: dict

    def video(self, split: str, index: int) -> SyntheticVideo:
        """The in-memory clip behind sequence `index` of `split` (renders the same frames and truth)."""
        o = self.options
        return SyntheticVideo(seed=o["seed"], number=SPLIT_BASE[split] + index, split=split, size=o["size"],
                              frames=o["frames"], people=o["people"])


@pytest.fixture(scope="session")
def synthetic_dataset(tmp_path_factory: pytest.TempPathFactory) -> SyntheticDataset:
    """`hrtrack synth` output (see SYNTH_OPTIONS): images, videos, PoseTrack 17/18, COCO, MPII, detections."""
    root = tmp_path_factory.mktemp("synth")
    generate_dataset(root, progress=False, **SYNTH_OPTIONS)
    return SyntheticDataset(root, dict(SYNTH_OPTIONS))


@pytest.fixture(scope="session")
def synthetic_clip() -> list[tuple[np.ndarray, SyntheticFrame]]:
    """12 rendered frames (384x216, 3 people) of one clip with their ground truth, for streaming tests."""
    video = SyntheticVideo(seed=1, number=SPLIT_BASE["val"], split="val", size=(384, 216), frames=12,
                           people=(3, 3))
    return list(video)

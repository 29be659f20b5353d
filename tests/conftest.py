"""Shared fixtures: a small synthetic dataset on disk and a small synthetic clip in memory.

Both are session-scoped and cheap (well under a second to make); tests must not
modify them. hrtrack's cache folder ($HRTRACK_CACHE) is a temporary one for the run.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from hrtrack.synthetic import SPLIT_BASE, SyntheticFrame, SyntheticVideo, generate_dataset

_CACHE = pytest.StashKey[tuple]()


def pytest_configure(config: pytest.Config) -> None:
    """hrtrack's cache (networks exported for the ONNX engines) in a temporary folder, not the user's home.

    Set before test modules are imported, so that the environments they build for
    subprocesses at import time carry it too.
    """
    folder = tempfile.mkdtemp(prefix="hrtrack-cache-")
    config.stash[_CACHE] = (folder, os.environ.get("HRTRACK_CACHE"))
    os.environ["HRTRACK_CACHE"] = folder


def pytest_unconfigure(config: pytest.Config) -> None:
    folder, previous = config.stash[_CACHE]
    shutil.rmtree(folder, ignore_errors=True)
    if previous is None:
        os.environ.pop("HRTRACK_CACHE", None)
    else:
        os.environ["HRTRACK_CACHE"] = previous


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


@dataclass(frozen=True)
class DemoAssets:
    """The reduced demo's held-out clips and small HRNet trained on the synthetic stream (see hrtrack.demo)."""

    settings: object
    cache: Path
    data: Path
    weights: Path
    model_yaml: Path


@pytest.fixture(scope="session")
def demo_assets(tmp_path_factory: pytest.TempPathFactory) -> DemoAssets:
    """`hrtrack demo --quick`'s data and model, made once per session (a few minutes on 2 cores)."""
    from hrtrack.demo import DemoSettings, prepare_data, prepare_model

    settings = DemoSettings.quick()
    cache = tmp_path_factory.mktemp("demo-cache")
    data = prepare_data(settings, cache, progress=False)
    weights, model_yaml = prepare_model(settings, cache, progress=False)
    return DemoAssets(settings, cache, data, weights, model_yaml)


@pytest.fixture
def one_thread():
    """One torch thread for the test: on a shared 2-core machine, oversubscribed threads make tiny
    convolutions an order of magnitude slower."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

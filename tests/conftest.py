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
    """The reduced demo's held-out clips and the reference synthetic model (see hrtrack.demo)."""

    settings: object
    cache: Path
    data: Path
    weights: Path
    model_yaml: Path


@pytest.fixture(scope="session")
def demo_assets(tmp_path_factory: pytest.TempPathFactory) -> DemoAssets:
    """`hrtrack demo --quick`'s data (2 clips of 30 frames) and the reference model that ships with the code."""
    from hrtrack.demo import DemoSettings, prepare_data, prepare_model

    settings = DemoSettings.quick()
    cache = tmp_path_factory.mktemp("demo-cache")
    data = prepare_data(settings, cache, progress=False)
    model = prepare_model(settings, cache, progress=False)
    return DemoAssets(settings, cache, data, model.weights, model.model_yaml)


# The training gate's held-out people: 4 clips of 30 frames, another seed than the demo's (0) and the tuning set's (1).
GATE_HELD_OUT = dict(videos=4, frames=30, size=(640, 360), people=(2, 5), seed=5)


@dataclass(frozen=True)
class TrainedQuick:
    """The reduced training of `hrtrack demo --quick --train`, validated on held-out people at its end."""

    settings: object
    cache: Path
    held_out: Path
    run: Path


@pytest.fixture(scope="session")
def trained_quick(tmp_path_factory: pytest.TempPathFactory) -> TrainedQuick:
    """The small HRNet trained QUICK_STEPS streamed steps (a few minutes on 2 cores), in 4 periods, scored with
    ground-truth boxes on GATE_HELD_OUT after the last one (its run folder's metrics.csv)."""
    from dataclasses import replace

    from hrtrack.demo import DemoSettings, train_model

    held_out = tmp_path_factory.mktemp("gate-held-out")
    generate_dataset(held_out, splits=("val",), progress=False, **GATE_HELD_OUT)
    settings = replace(DemoSettings.quick(train=True),
                       overrides=(f"data.root={held_out}", "data.val_split=val", "train.epochs=4",
                                  "train.val_every=4"))
    cache = tmp_path_factory.mktemp("trained-cache")
    weights, _ = train_model(settings, cache, progress=False)
    return TrainedQuick(settings, cache, held_out, weights.parent)


@pytest.fixture(scope="session")
def instant_hrnet(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(weights, model config YAML) of a random small HRNet (width 8, 64x64 input, seed 0) that builds in an
    instant: for command-line tests that need a pose model to get past loading, not its poses."""
    import torch

    from hrtrack.config import dump_config
    from hrtrack.models import build_pose_model
    from hrtrack.models.factory import ModelConfig

    folder = tmp_path_factory.mktemp("instant-hrnet")
    model = ModelConfig(width=8, num_joints=17, layout="posetrack", input_size=(64, 64), heatmap_size=(16, 16),
                        stage_modules=(1, 1, 1), blocks_per_branch=1, stage1_blocks=1)
    torch.manual_seed(0)
    torch.save(build_pose_model(model).state_dict(), folder / "tiny.pth")
    dump_config(model, folder / "tiny.yaml")
    return folder / "tiny.pth", folder / "tiny.yaml"


@pytest.fixture
def torch_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty torchvision cache ($TORCH_HOME) in tmp_path: detector weights are found only where a test puts them."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("TORCH_HUB", raising=False)
    return tmp_path / "torch"


@pytest.fixture
def one_thread():
    """One torch thread for the test: on a shared 2-core machine, oversubscribed threads make tiny
    convolutions an order of magnitude slower."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

"""Memory stays flat on long videos (DESIGN.md §1): thousands of frames through the whole pipeline.

A generated video of 2000 small frames goes through the real source, flow,
HRNet (tiny, random weights), tracker and the streaming PoseTrack and COCO
sinks, in a fresh interpreter; the resident set size is sampled as frames pass
and must not grow with the frame count, nor jump when the results are written
at the end.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from hrtrack.config import dump_config
from hrtrack.models import build_pose_model
from hrtrack.models.factory import ModelConfig
from hrtrack.pipeline.build import build_pipeline
from hrtrack.pipeline.config import EstimatorConfig, OutputConfig, PipelineConfig
from hrtrack.pipeline.runner import track_source
from hrtrack.pipeline.sinks import CocoResultsSink, PoseTrackSink
from hrtrack.pipeline.sources import VideoSource
from hrtrack.structures import Boxes

FRAMES = 2000
WARM_UP = 400  # frames before the first sample: allocator pools and library caches settle
SIZE = (96, 72)
# Growth allowed over the sampled 1600 frames: 2.5 MiB, i.e. about 1.6 KiB per frame. Keeping the
# poses of every frame (what a non-streaming PoseTrack writer does) costs more than twice that.
LIMIT_MIB = 2.5

TINY = ModelConfig(width=8, num_joints=17, layout="posetrack", input_size=(64, 64), heatmap_size=(16, 16),
                   sigma=2.0, stage_modules=(1, 1, 1), blocks_per_branch=1, stage1_blocks=1)


def rss_mib() -> float:
    """Resident set size of this process (Linux /proc)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def growth_mib(samples: list[tuple[int, float]]) -> float:
    """RSS growth over the sampled frames, from a least-squares line (robust to one-off steps)."""
    frames, rss = np.array(samples, np.float64).T
    slope = np.polyfit(frames, rss, 1)[0]
    return float(slope * (frames[-1] - frames[0]))


def _boxes(index: int) -> np.ndarray:
    """Two people: one walking right and back, one standing."""
    x = 5 + (index % 40)
    return np.array([[x, 8, x + 22, 64], [68, 6, 90, 66]], np.float32)


@pytest.fixture
def long_video(tmp_path) -> Path:
    path = tmp_path / "long.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, SIZE)
    for i in range(FRAMES):
        image = np.full((SIZE[1], SIZE[0], 3), 40, np.uint8)
        for x1, y1, x2, y2 in _boxes(i).astype(int):
            cv2.rectangle(image, (x1, y1), (x2, y2), (190, 170, 150), -1)
        writer.write(image)
    writer.release()
    return path


def measure(video: Path, folder: Path) -> dict:
    """Track `video` with the tiny HRNet into streaming PoseTrack and COCO sinks, sampling RSS as frames pass."""
    torch.manual_seed(0)
    torch.save(build_pose_model(TINY).state_dict(), folder / "tiny.pth")
    dump_config(TINY, folder / "tiny.yaml")
    cfg = PipelineConfig(estimator=EstimatorConfig(model=str(folder / "tiny.yaml"), flip_test=False),
                         output=OutputConfig(joint_threshold=0.0, person_threshold=0.0))
    built = build_pipeline(cfg, folder / "tiny.pth", device="cpu")
    layout = built.model_config.joint_layout
    sinks = [PoseTrackSink(folder / "tracks.json", "posetrack17", layout, 0.0),
             CocoResultsSink(folder / "tracks_coco.json", 0.0)]

    def detect(frames):
        return [Boxes(_boxes(f.index), np.array([0.9, 0.8], np.float32)) for f in frames]

    samples: list[tuple[int, float]] = []

    def sample(frame, poses):
        if frame.index >= WARM_UP and frame.index % 100 == 0:
            samples.append((frame.index, rss_mib()))

    stats = track_source(VideoSource(str(video)), detect, built.pipeline, sinks, progress=False, on_frame=sample)
    return {"samples": samples, "after_close": rss_mib(), "frames": stats.frames, "people": stats.people}


def leak(bytes_per_frame: int) -> dict:
    """The same sampling over a loop that keeps `bytes_per_frame` of Python objects per frame."""
    kept, samples = [], []
    for i in range(FRAMES):
        kept.append(bytearray(bytes_per_frame))
        if i >= WARM_UP and i % 100 == 0:
            samples.append((i, rss_mib()))
    return {"samples": samples}


def in_fresh_process(call: str) -> dict:
    """Run `call` (an expression on this module, `m`) in a new interpreter and return its JSON result.

    A fresh process has no free heap left over from other tests, which could otherwise absorb a leak.
    """
    code = f"import json, sys; sys.path.insert(0, sys.argv[1]); import test_memory as m; print(json.dumps({call}))"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", code, str(Path(__file__).parent)], env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


@pytest.mark.slow
def test_rss_probe_detects_a_small_per_frame_leak():
    # The measurement can fail: keeping 4 KiB per frame (5.9 MiB over the sampled frames) shows up well above
    # the limit. Measured 4.99-5.03 MiB on AMD Zen 3 and in CI: the first samples stay flat while the fresh
    # process's free heap absorbs the leak, so the fit sees about 85% of what was kept.
    assert growth_mib(in_fresh_process("m.leak(4096)")["samples"]) > 1.5 * LIMIT_MIB


@pytest.mark.slow
def test_memory_stays_flat_over_thousands_of_frames(long_video, tmp_path):
    result = in_fresh_process(f"m.measure(m.Path({str(long_video)!r}), m.Path({str(tmp_path)!r}))")
    samples = result["samples"]
    assert result["frames"] == FRAMES
    assert len(samples) == (FRAMES - WARM_UP) // 100
    assert growth_mib(samples) < LIMIT_MIB, samples
    # Writing the results at the end does not build the whole file in memory either.
    assert result["after_close"] - samples[-1][1] < LIMIT_MIB, (samples[-1], result["after_close"])
    frames = json.loads((tmp_path / "tracks.json").read_text())["annolist"]
    assert len(frames) == FRAMES
    assert len(json.loads((tmp_path / "tracks_coco.json").read_text())) == result["people"]

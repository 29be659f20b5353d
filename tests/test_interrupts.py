"""Interrupted work loses nothing: atomic writes, and SIGKILLed `track-dataset` / `train` runs that resume.

The kill tests run the real CLI in a subprocess (`python -m hrtrack ...`) and kill
it with SIGKILL, the signal nothing can catch, at seeded random points.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import hrtrack.fileio as fileio
from hrtrack.cli import main
from hrtrack.config import dump_config
from hrtrack.synthetic import generate_dataset
from hrtrack.errors import HrtrackError
from hrtrack.fileio import atomic_path, write_json_atomic
from hrtrack.models import build_pose_model
from hrtrack.models.factory import ModelConfig
from hrtrack.pipeline.config import EstimatorConfig, OutputConfig, PipelineConfig
from hrtrack.skeleton import POSETRACK
from hrtrack.structures import Boxes

REPO = Path(__file__).resolve().parent.parent
TINY = ModelConfig(width=8, num_joints=17, layout="posetrack", input_size=(64, 64), heatmap_size=(16, 16),
                   sigma=2.0, stage_modules=(1, 1, 1), blocks_per_branch=1, stage1_blocks=1)
# One thread per process: the machine has two cores, and oversubscribed threads make torch crawl.
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


pytestmark = pytest.mark.usefixtures("one_thread")


def hrtrack_process(*argv) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "hrtrack", *map(str, argv)], cwd=REPO, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen, timeout: float = 300) -> str:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err
    return out


def wait_for(condition, proc: subprocess.Popen, timeout: float = 120) -> None:
    """Poll `condition()` every 10 ms until true; fail if the process ends or time runs out first."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None, f"process ended first: {proc.communicate()[1]}"
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def kill(proc: subprocess.Popen) -> bool:
    """SIGKILL `proc`; True if the signal ended it, False if it had already finished on its own."""
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode in (-signal.SIGKILL, 0)
    return proc.returncode == -signal.SIGKILL


def files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


# ---------------------------------------------------------------- track-dataset, killed and resumed

@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> dict:
    """6 short synthetic sequences, a tiny random HRNet and the track-dataset arguments that use them."""
    root = tmp_path_factory.mktemp("kill_dataset")
    generate_dataset(root, videos=6, frames=6, size=(160, 96), people=(1, 2), splits=("val",), seed=5,
                     progress=False)
    torch.manual_seed(0)
    torch.save(build_pose_model(TINY).state_dict(), root / "tiny.pth")
    dump_config(TINY, root / "tiny.yaml")
    args = ["track-dataset", "--images", root, "--annotations", root / "annotations" / "posetrack17" / "val",
            "--detections", root / "detections" / "val.json", "--pose-weights", root / "tiny.pth",
            "--set", f"estimator.model={root / 'tiny.yaml'}", "--set", "output.person_threshold=0",
            "--set", "output.joint_threshold=0", "--device", "cpu", "--no-progress"]
    return {"root": root, "args": args, "sequences": 6}


def _results(out: Path) -> int:
    return sum(1 for _ in out.glob("[!.]*.json")) if out.exists() else 0


@pytest.fixture(scope="module")
def reference(dataset, tmp_path_factory) -> dict:
    """An uninterrupted run: its files, and how long it took from config.yaml (written when the
    sequences start) to the last sequence's results."""
    out = tmp_path_factory.mktemp("reference") / "pred"
    proc = hrtrack_process(*dataset["args"], "--out", out)
    wait_for(lambda: (out / "config.yaml").exists(), proc)
    start = time.monotonic()
    wait_for(lambda: _results(out) == dataset["sequences"], proc)
    seconds = time.monotonic() - start
    stdout = finish(proc)
    assert "6 sequences processed, 0 already done" in stdout
    return {"files": files(out), "seconds": seconds}


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_track_dataset_killed_at_a_random_point_resumes_byte_identical(dataset, reference, tmp_path, seed):
    assert len(reference["files"]) == dataset["sequences"] + 1  # one file per sequence + config.yaml
    out = tmp_path / "pred"
    n = dataset["sequences"]
    proc = hrtrack_process(*dataset["args"], "--out", out)
    # A random sequence, then a random moment within about one sequence's time.
    rng = np.random.default_rng(seed)
    finished_before = int(rng.integers(0, n - 1))
    wait_for(lambda: (out / "config.yaml").exists() and _results(out) >= finished_before, proc)
    time.sleep(rng.uniform(0, reference["seconds"] / n))
    kill(proc)
    # Whatever the kill left is either absent or complete: each result equals the reference byte for byte.
    left = {name: data for name, data in files(out).items() if not name.startswith(".")}
    assert all(reference["files"][name] == data for name, data in left.items())
    done = len(left) - 1
    stdout = finish(hrtrack_process(*dataset["args"], "--out", out))
    assert f"{dataset['sequences'] - done} sequences processed, {done} already done" in stdout
    assert files(out) == reference["files"]


@pytest.mark.slow
def test_track_dataset_killed_between_sequences_resumes_byte_identical(dataset, reference, tmp_path):
    out = tmp_path / "pred"
    proc = hrtrack_process(*dataset["args"], "--out", out)
    wait_for(lambda: _results(out) > 0, proc)
    assert kill(proc)
    done = _results(out)
    assert 1 <= done < dataset["sequences"]
    # A temporary file of a write cut short (as a kill mid-write leaves it) must not survive the resumed run.
    last = [name for name in sorted(reference["files"]) if name.endswith(".json")][-1]
    (out / f".{last}.x1y2z3.tmp.json").write_text('{"annolist": [')
    stdout = finish(hrtrack_process(*dataset["args"], "--out", out))
    assert f"{dataset['sequences'] - done} sequences processed, {done} already done" in stdout
    assert files(out) == reference["files"]


@pytest.mark.slow
def test_resuming_with_another_config_is_refused(dataset, reference, tmp_path, capsys):
    # Finished sequences of another config would be mixed into this run's results without a word.
    out = tmp_path / "pred"
    out.mkdir()
    for name, data in reference["files"].items():
        (out / name).write_bytes(data)
    rc = main([str(a) for a in dataset["args"]] + ["--out", str(out), "--set", "tracking.threshold=0.5"])
    err = capsys.readouterr().err.splitlines()
    assert rc == 2 and len(err) == 1
    assert "holds results made with another config (tracking.threshold: 0.3 there, 0.5 now)" in err[0]
    assert files(out) == reference["files"]


# ---------------------------------------------------------------- train --resume after SIGKILL

TRAIN_ARGS = ["--config", REPO / "configs" / "synthetic" / "tiny.yaml", "--set", "data.format=posetrack",
              "--set", "train.schedule=multistep", "--set", "train.epochs=5",
              "--set", "train.milestones=[2,4]", "--set", "data.train_split=val", "--set", "data.val_split=",
              "--set", "model.width=8", "--set", "model.blocks_per_branch=1", "--device", "cpu", "--no-progress"]


def _checkpoint_epoch(path: Path) -> int:
    """The epoch count of a training state; the file is replaced atomically, so whatever is there is whole."""
    try:
        return int(torch.load(path, map_location="cpu", weights_only=True)["epoch"])
    except FileNotFoundError:
        return 0


def _changed(path: Path):
    """A condition for `wait_for`: whether `path` was (re)written since the last call."""
    seen = [None]

    def check() -> bool:
        try:
            stamp = path.stat().st_mtime_ns
        except FileNotFoundError:
            return False
        new, seen[0] = stamp != seen[0], stamp
        return new
    return check


def _metrics(run: Path) -> list[list[str]]:
    """metrics.csv rows without the timing column (samples_per_s differs between runs)."""
    rows = [line.split(",") for line in (run / "metrics.csv").read_text().splitlines()]
    keep = [i for i, name in enumerate(rows[0]) if name != "samples_per_s"]
    return [[row[i] for i in keep] for row in rows]


@pytest.mark.slow
def test_train_resume_after_sigkill_continues_from_the_last_checkpoint(dataset, tmp_path):
    data = ["--data", dataset["root"]]
    full = tmp_path / "full"
    finish(hrtrack_process("train", *TRAIN_ARGS, *data, "--out", full))

    run = tmp_path / "killed"
    proc = hrtrack_process("train", *TRAIN_ARGS, *data, "--out", run)
    kill_after = int(np.random.default_rng(7).integers(1, 4))
    rewritten = _changed(run / "checkpoint.pth")
    wait_for(lambda: rewritten() and _checkpoint_epoch(run / "checkpoint.pth") >= kill_after, proc)
    assert kill(proc)
    done = _checkpoint_epoch(run / "checkpoint.pth")
    assert kill_after <= done < 5
    out = finish(hrtrack_process("train", *TRAIN_ARGS, *data, "--out", run, "--resume"))
    # The resumed process trains only the epochs the checkpoint had not completed...
    assert [line.split()[0] for line in out.splitlines() if line.startswith("epoch=")] == \
        [f"epoch={e}" for e in range(done, 5)]
    # ...and ends exactly where the uninterrupted run ended: same weights, same per-epoch history.
    resumed, reference = (torch.load(p / "final_state.pth", weights_only=True) for p in (run, full))
    assert resumed.keys() == reference.keys()
    assert all(torch.equal(resumed[k], reference[k]) for k in reference)
    assert _metrics(run) == _metrics(full)


# ---------------------------------------------------------------- atomic writes

@pytest.fixture
def previous(tmp_path) -> Path:
    path = tmp_path / "results.json"
    write_json_atomic(path, {"version": 1, "values": list(range(100))})
    return path


def _only(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_serialisation_failure_keeps_the_previous_file(previous, monkeypatch):
    before = previous.read_bytes()

    def broken(*args, **kwargs):
        raise TypeError("Object of type ndarray is not JSON serializable")

    monkeypatch.setattr(fileio.json, "dumps", broken)
    with pytest.raises(TypeError):
        write_json_atomic(previous, {"version": 2})
    assert previous.read_bytes() == before and _only(previous.parent) == ["results.json"]


@pytest.mark.parametrize("failing", ["write", "fsync", "replace"])
def test_disk_full_or_failed_rename_keeps_the_previous_file(previous, monkeypatch, failing):
    before = previous.read_bytes()
    enospc = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    if failing == "write":
        write_bytes = Path.write_bytes

        def full_disk(self, data):
            write_bytes(self, data[: len(data) // 2])  # half of it reached the disk
            raise enospc

        monkeypatch.setattr(Path, "write_bytes", full_disk)
    else:
        def fail(*args):
            raise enospc

        monkeypatch.setattr(fileio.os, failing, fail)
    with pytest.raises(HrtrackError, match=f"cannot write {previous}: No space left on device"):
        write_json_atomic(previous, {"version": 2, "values": list(range(1000))})
    assert previous.read_bytes() == before and _only(previous.parent) == ["results.json"]


def test_exception_inside_atomic_path_keeps_the_previous_file(previous):
    before = previous.read_bytes()
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(previous) as tmp:
            tmp.write_text('{"version": 2, "val')
            raise KeyboardInterrupt
    assert previous.read_bytes() == before and _only(previous.parent) == ["results.json"]


def test_config_write_failure_keeps_the_previous_config(tmp_path, monkeypatch):
    path = tmp_path / "config.yaml"
    dump_config(PipelineConfig(), path)
    before = path.read_bytes()
    monkeypatch.setattr(fileio.os, "replace", lambda *a: (_ for _ in ()).throw(OSError(errno.EIO, "I/O error")))
    with pytest.raises(HrtrackError, match="I/O error"):
        dump_config(PipelineConfig(output=OutputConfig(joint_threshold=0.1)), path)
    assert path.read_bytes() == before and _only(tmp_path) == ["config.yaml"]


def test_checkpoint_write_failure_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    from hrtrack.training import state

    path = tmp_path / "final_state.pth"
    model = build_pose_model(TINY)
    state.save_model_weights(model, path)
    before = path.read_bytes()
    save = torch.save

    def full_disk(obj, f, *args, **kwargs):
        save(obj, f, *args, **kwargs)
        with open(f, "r+b") as handle:  # the file was cut short when the disk filled up
            handle.truncate(100)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(state.torch, "save", full_disk)
    with torch.no_grad():
        next(model.parameters()).add_(1.0)
    with pytest.raises(HrtrackError, match="No space left on device"):
        state.save_model_weights(model, path)
    assert path.read_bytes() == before and _only(tmp_path) == ["final_state.pth"]


def _pipeline_run(tmp_path: Path, fail_at: int | None, fmt: str, layout=POSETRACK):
    """Track 6 synthetic frames into `fmt` sinks; the detector raises at frame `fail_at`."""
    from hrtrack.pipeline.build import build_pipeline
    from hrtrack.pipeline.runner import track_source
    from hrtrack.pipeline.sinks import CocoResultsSink, PoseTrackSink, VideoSink
    from hrtrack.pipeline.sources import Frame, FrameSource

    class Frames(FrameSource):
        description = "generated"

        def __len__(self):
            return 6

        def frames(self):
            for i in range(6):
                image = np.full((96, 128, 3), 30 * i, np.uint8)
                yield Frame(i, f"{i:06d}.jpg", image)

    def detect(frames):
        if fail_at is not None and any(f.index >= fail_at for f in frames):
            raise RuntimeError("detector crashed")
        return [Boxes(np.array([[10, 10, 50, 90]], np.float32), np.array([0.9], np.float32)) for _ in frames]

    torch.manual_seed(0)
    model_path = tmp_path / "tiny.pth"
    if not model_path.exists():
        torch.save(build_pose_model(TINY).state_dict(), model_path)
        dump_config(TINY, tmp_path / "tiny.yaml")
    cfg = PipelineConfig(estimator=EstimatorConfig(model=str(tmp_path / "tiny.yaml"), flip_test=False),
                         output=OutputConfig(joint_threshold=0.0, person_threshold=0.0))
    built = build_pipeline(cfg, model_path, device="cpu")
    out = tmp_path / "out"
    sink = {"posetrack17": lambda: PoseTrackSink(out / "r.json", "posetrack17", layout, 0.0),
            "posetrack18": lambda: PoseTrackSink(out / "r.json", "posetrack18", layout, 0.0),
            "coco": lambda: CocoResultsSink(out / "r.json", 0.0),
            "video": lambda: VideoSink(out / "r.mp4", 25.0, layout, 0.0)}[fmt]()
    return track_source(Frames(), detect, built.pipeline, [sink], detect_batch=2, progress=False)


@pytest.mark.parametrize("fmt", ["posetrack17", "posetrack18", "coco", "video"])
def test_run_failing_midway_keeps_the_previous_output(tmp_path, fmt):
    (tmp_path / "out").mkdir()
    assert _pipeline_run(tmp_path, None, fmt).frames == 6
    before = files(tmp_path / "out")
    assert len(before) == 1
    with pytest.raises(RuntimeError, match="detector crashed"):
        _pipeline_run(tmp_path, 3, fmt)
    assert files(tmp_path / "out") == before


def test_sigkill_during_repeated_writes_never_leaves_a_partial_file(tmp_path):
    # A writer rewrites one large JSON file as fast as it can; killed at random moments, the file on disk
    # must always be one complete version, never a mix or a prefix.
    script = textwrap.dedent("""
        import sys
        from hrtrack.fileio import write_json_atomic
        path = sys.argv[1]
        version = 0
        while True:
            version += 1
            write_json_atomic(path, {"version": version, "payload": [version] * 200000})
            if version == 2:
                print("ready", flush=True)
    """)
    path = tmp_path / "big.json"
    rng = np.random.default_rng(3)
    versions = []
    for _ in range(4):
        proc = subprocess.Popen([sys.executable, "-c", script, str(path)], cwd=REPO, env=ENV,
                                stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.0, 0.3))
        assert kill(proc)
        data = json.loads(path.read_text())
        assert data["payload"] == [data["version"]] * 200000
        versions.append(data["version"])
    assert min(versions) >= 2

"""Per-person CSV output: rows and summary equal the poses written, atomic writes, and the CLI end to end."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from hrtrack.cli import main
from hrtrack.errors import HrtrackError
from hrtrack.formats.posetrack import sequence_files
from hrtrack.formats.track_csv import COLUMNS, SUMMARY_COLUMNS, TrackCsvWriter, summary_path
from hrtrack.pipeline.postprocess import PostProcess
from hrtrack.pipeline.sinks import CsvSink
from hrtrack.pipeline.sources import Frame
from hrtrack.skeleton import COCO, POSETRACK
from hrtrack.structures import Poses

IMAGE = np.zeros((4, 4, 3), np.uint8)


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_rows_and_summary_equal_the_poses_written(tmp_path):
    k = COCO.num_joints
    kp = np.arange(2 * k * 2, dtype=np.float32).reshape(2, k, 2) + 0.25
    scores = np.full((2, k), 0.2, np.float32)
    scores[0, [0, 5]] = [0.9, 0.75]
    scores[1, 16] = 0.5
    filled = np.zeros((2, k), bool)
    filled[1, 16] = True
    frame0 = Poses(kp, scores, np.ones(2), np.zeros((2, 4)), np.array([4, 11]), filled)
    frame2 = Poses(kp[:1] + 1, scores[:1], np.ones(1), np.zeros((1, 4)), np.array([4]))
    sink = CsvSink(tmp_path / "r.csv", COCO, joint_threshold=0.3)
    sink.add(Frame(0, "a", IMAGE), frame0)
    sink.add(Frame(1, "b", IMAGE), Poses.empty(k))
    sink.add(Frame(2, "c", IMAGE), frame2)
    sink.add(Frame(3, "d", IMAGE), Poses(kp[1:], scores[1:], np.ones(1), np.zeros((1, 4)), np.array([11])))
    sink.close()
    text = (tmp_path / "r.csv").read_text()
    assert text.splitlines() == [
        "frame,track_id,joint,x,y,score,interpolated",
        "0,4,nose,0.250,1.250,0.90000,0",
        "0,4,left_shoulder,10.250,11.250,0.75000,0",
        "0,11,right_ankle,66.250,67.250,0.50000,1",
        "2,4,nose,1.250,2.250,0.90000,0",
        "2,4,left_shoulder,11.250,12.250,0.75000,0",
        "3,11,right_ankle,66.250,67.250,0.50000,0",
    ]
    assert (tmp_path / "r.tracks.csv").read_text().splitlines() == [
        ",".join(SUMMARY_COLUMNS), "4,0,2,2,0", "11,0,3,1,1"]
    assert files(tmp_path) == ["r.csv", "r.tracks.csv"]


def test_abort_leaves_no_file_and_keeps_the_previous_one(tmp_path):
    (tmp_path / "r.csv").write_text("old\n")
    writer = TrackCsvWriter(tmp_path / "r.csv", POSETRACK.joint_names)
    writer.add(0, Poses(np.ones((1, 17, 2)), np.ones((1, 17)), np.ones(1), np.zeros((1, 4)), np.array([1])),
               np.ones((1, 17), bool))
    writer.abort()
    assert files(tmp_path) == ["r.csv"] and (tmp_path / "r.csv").read_text() == "old\n"
    assert summary_path(tmp_path / "out" / "x.csv") == tmp_path / "out" / "x.tracks.csv"
    with pytest.raises(HrtrackError, match="output folder does not exist"):
        CsvSink(tmp_path / "missing" / "r.csv", POSETRACK, 0.3)


@pytest.fixture(scope="module")
def tiny(instant_hrnet) -> dict:
    weights, model_yaml = instant_hrnet
    return {"weights": weights, "yaml": model_yaml}


def test_a_run_failing_midway_leaves_no_csv(tmp_path, tiny, one_thread):
    from hrtrack.config import load_config
    from hrtrack.pipeline.build import build_pipeline
    from hrtrack.pipeline.config import PipelineConfig
    from hrtrack.pipeline.runner import track_source
    from hrtrack.pipeline.sources import FrameSource
    from hrtrack.structures import Boxes

    class Frames(FrameSource):
        description = "generated"

        def frames(self):
            for i in range(6):
                yield Frame(i, f"{i:06d}.jpg", np.full((96, 128, 3), 30 * i, np.uint8))

    def detect(frames):
        if any(f.index >= 4 for f in frames):
            raise RuntimeError("detector crashed")
        return [Boxes(np.array([[10, 10, 50, 90]], np.float32), np.array([0.9], np.float32)) for _ in frames]

    cfg = load_config(PipelineConfig, "synthetic_tiny", "pipeline", [f"estimator.model={tiny['yaml']}"])
    built = build_pipeline(cfg, tiny["weights"], device="cpu")
    out = tmp_path / "out"
    out.mkdir()
    stage = PostProcess(num_joints=17, joint_threshold=0.0, interpolate_gap=2, window=5)
    with pytest.raises(RuntimeError, match="detector crashed"):
        track_source(Frames(), detect, built.pipeline, [CsvSink(out / "r.csv", POSETRACK, 0.0)], detect_batch=2,
                     progress=False, postprocess=stage)
    assert files(out) == []


# Every joint emitted: the random-weight network's heatmap peaks are tiny, but the joints move like real ones.
SETTINGS = ["--config", "synthetic_tiny", "--set", "output.joint_threshold=-1", "--set", "output.person_threshold=0",
            "--set", "tracking.max_age=4", "--device", "cpu", "--no-progress"]
POST = ["--set", "postprocess.smoother=savgol", "--set", "postprocess.interpolate_gap=3"]


def _track(tiny, dataset, out: Path, fmt: str, *extra) -> None:
    seq = sorted(sequence_files(dataset.root / "annotations" / "posetrack17" / "val"))[0]
    argv = ["track", str(dataset.root / "images" / "val" / seq), "--pose-weights", str(tiny["weights"]),
            "--set", f"estimator.model={tiny['yaml']}", "--detections", str(dataset.root / "detections" / "val.json"),
            "--format", fmt, "--out", str(out), *SETTINGS, *extra]
    assert main(argv) == 0


def test_track_cli_writes_the_post_processed_poses_as_csv(tiny, synthetic_dataset, tmp_path, one_thread):
    """`hrtrack track --format csv` with smoothing and gap filling: its rows are the joints the same run writes
    as COCO results (frame index, track id, every emitted joint, score), and its summary follows from the rows."""
    _track(tiny, synthetic_dataset, tmp_path / "r.csv", "csv", *POST)
    _track(tiny, synthetic_dataset, tmp_path / "r.json", "coco", *POST)
    _track(tiny, synthetic_dataset, tmp_path / "raw.json", "coco")
    rows = read_csv(tmp_path / "r.csv")
    assert list(rows[0]) == list(COLUMNS)
    expected = []
    for item in json.loads((tmp_path / "r.json").read_text()):
        triples = np.asarray(item["keypoints"]).reshape(-1, 3)
        for j in range(len(triples)):
            expected.append((item["image_id"], item["track_id"], POSETRACK.joint_names[j], *triples[j]))
    got = [(int(r["frame"]), int(r["track_id"]), r["joint"], float(r["x"]), float(r["y"]), float(r["score"]))
           for r in rows]
    assert len(got) == len(expected) > 100
    for g, e in zip(sorted(got), sorted(expected)):
        assert g[:3] == e[:3] and g[3:5] == pytest.approx(e[3:5], abs=1.5e-3) and g[5] == pytest.approx(e[5], abs=1e-3)
    # post-processing did something: gaps were filled and joints moved
    assert any(r["interpolated"] == "1" for r in rows)
    raw = {(i["image_id"], i["track_id"]): np.asarray(i["keypoints"]).reshape(-1, 3)
           for i in json.loads((tmp_path / "raw.json").read_text())}
    post = {(i["image_id"], i["track_id"]): np.asarray(i["keypoints"]).reshape(-1, 3)
            for i in json.loads((tmp_path / "r.json").read_text())}
    assert set(raw) < set(post)
    assert any(np.abs(post[key][:, :2] - raw[key][:, :2]).max() > 0.01 for key in raw)
    # the summary, recomputed from the rows
    per_track: dict[int, dict[int, bool]] = {}
    for r in rows:
        frames = per_track.setdefault(int(r["track_id"]), {})
        frames[int(r["frame"])] = frames.get(int(r["frame"]), False) or r["interpolated"] == "1"
    summary = [(int(s["track_id"]), int(s["first_frame"]), int(s["last_frame"]), int(s["frames_seen"]),
                int(s["frames_interpolated"])) for s in read_csv(tmp_path / "r.tracks.csv")]
    assert summary == [(tid, min(f), max(f), sum(not v for v in f.values()), sum(f.values()))
                       for tid, f in sorted(per_track.items())]


def test_track_dataset_writes_csv_per_sequence_and_evaluate_refuses_it(tiny, synthetic_dataset, tmp_path, capsys,
                                                                        one_thread):
    gt = synthetic_dataset.root / "annotations" / "posetrack17" / "val"
    argv = ["track-dataset", "--images", str(synthetic_dataset.root), "--annotations", str(gt), "--out",
            str(tmp_path / "pred"), "--pose-weights", str(tiny["weights"]), "--set", f"estimator.model={tiny['yaml']}",
            "--detections", str(synthetic_dataset.root / "detections" / "val.json"), "--format", "csv",
            *SETTINGS, *POST]
    assert main(argv) == 0
    names = sorted(sequence_files(gt))
    assert files(tmp_path / "pred") == sorted(["config.yaml", *(f"{n}.csv" for n in names),
                                               *(f"{n}.tracks.csv" for n in names)])
    for name in names:
        frames = {int(r["frame"]) for r in read_csv(tmp_path / "pred" / f"{name}.csv")}
        assert frames <= set(range(synthetic_dataset.options["frames"])) and len(frames) > 10
    capsys.readouterr()
    assert main(argv) == 0                      # resumed: every sequence is done
    assert "0 sequences processed, 2 already done" in capsys.readouterr().out
    for pred in (tmp_path / "pred", tmp_path / "pred" / f"{names[0]}.csv"):
        rc = main(["evaluate", "--gt", str(gt), "--pred", str(pred), "--no-progress"])
        err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
        assert rc == 2 and len(err) == 1 and "evaluation reads PoseTrack files only" in err[0], err
    rc = main([*argv, "--evaluate", "--overwrite"])
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert rc == 2 and len(err) == 1 and "--evaluate reads PoseTrack files only" in err[0], err

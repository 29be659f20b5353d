"""Every bad input of issue 9 through the real CLI: exit 2 with one stderr line naming the problem, or a correct result.

Each case runs `hrtrack.cli.main([...])` as a user would, with a tiny random-weight
HRNet (fast on a CPU) and small synthetic inputs made here or by the shared
`synthetic_dataset` fixture.
"""

from __future__ import annotations

import builtins
import errno
import json
import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

import hrtrack.formats.posetrack as posetrack_module
import hrtrack.pipeline.sinks as sinks_module
from hrtrack.cli import main
from hrtrack.config import dump_config
from hrtrack.errors import HrtrackError
from hrtrack.models import build_pose_model
from hrtrack.models.factory import ModelConfig

TINY = ModelConfig(width=8, num_joints=17, layout="posetrack", input_size=(64, 64), heatmap_size=(16, 16),
                   sigma=2.0, stage_modules=(1, 1, 1), blocks_per_branch=1, stage1_blocks=1)
FRAME_SIZE = (160, 120)  # w, h


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> dict:
    """A tiny HRNet config + random weights, and the CLI arguments that select them."""
    folder = tmp_path_factory.mktemp("tiny")
    torch.manual_seed(0)
    torch.save(build_pose_model(TINY).state_dict(), folder / "tiny.pth")
    dump_config(TINY, folder / "tiny.yaml")
    args = ["--pose-weights", folder / "tiny.pth", "--set", f"estimator.model={folder / 'tiny.yaml'}",
            "--set", "estimator.flip_test=false", "--set", "output.person_threshold=0",
            "--set", "output.joint_threshold=-1", "--device", "cpu", "--no-progress"]
    return {"folder": folder, "weights": folder / "tiny.pth", "yaml": folder / "tiny.yaml", "args": args}


def _frame(i: int, size=FRAME_SIZE) -> np.ndarray:
    image = np.full((size[1], size[0], 3), 50, np.uint8)
    cv2.rectangle(image, (20 + 4 * i, 20), (60 + 4 * i, 100), (200, 180, 150), -1)
    return image


def _detection(name: str | None, image_id: int, bbox, score=0.9) -> dict:
    entry = {"image_id": image_id, "category_id": 1, "bbox": bbox, "score": score}
    if name is not None:
        entry["file_name"] = name
    return entry


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> dict:
    """4 JPEG frames in a folder, the same as an .avi video, and a detection file for both (one person)."""
    folder = tmp_path_factory.mktemp("clip")
    frames = folder / "frames"
    frames.mkdir()
    writer = cv2.VideoWriter(str(folder / "clip.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 25, FRAME_SIZE)
    dets = []
    for i in range(4):
        cv2.imwrite(str(frames / f"{i:03d}.jpg"), _frame(i))
        writer.write(_frame(i))
        dets.append(_detection(f"{i:03d}.jpg", i, [18 + 4 * i, 18, 44, 84]))
    writer.release()
    (folder / "dets.json").write_text(json.dumps(dets))
    return {"folder": folder, "frames": frames, "video": folder / "clip.avi", "dets": folder / "dets.json"}


def cli(capsys, *argv) -> tuple[int, list[str]]:
    """Run the CLI; return its exit code and its non-empty stderr lines."""
    rc = main([str(a) for a in argv])
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    return rc, err


def assert_one_line_error(capsys, argv, *needles) -> str:
    rc, err = cli(capsys, *argv)
    assert rc == 2, err
    assert len(err) == 1, err
    assert err[0].startswith(f"hrtrack {argv[0]}: error: ")
    for needle in needles:
        assert str(needle) in err[0], (needle, err[0])
    return err[0]


def track(tiny, clip, *extra, source=None, dets=None, out=None) -> list:
    argv = ["track", source or clip["frames"], *tiny["args"]]
    if dets is not False:
        argv += ["--detections", dets or clip["dets"]]
    if out is not False:
        argv += ["--out", out or clip["folder"] / "out.json"]
    return argv + list(extra)


# ---------------------------------------------------------------- missing paths and empty files

@pytest.mark.parametrize("case", ["video", "weights", "detections", "config", "model_config"])
def test_missing_path_is_named(capsys, tiny, clip, case):
    missing = clip["folder"] / "nope" / f"missing_{case}"
    argv = {
        "video": track(tiny, clip, source=missing),
        "weights": track(tiny, clip, "--pose-weights", missing),
        "detections": track(tiny, clip, dets=missing),
        "config": track(tiny, clip, "--config", f"{missing}.yaml"),
        "model_config": track(tiny, clip, "--set", f"estimator.model={missing}.yaml"),
    }[case]
    assert_one_line_error(capsys, argv, missing)


def test_missing_dataset_folders_are_named(capsys, tiny, synthetic_dataset, tmp_path):
    root = synthetic_dataset.root
    gt = root / "annotations" / "posetrack17" / "val"
    assert_one_line_error(capsys, ["evaluate", "--gt", tmp_path / "no_gt", "--pred", gt, "--no-progress"], "no_gt")
    assert_one_line_error(capsys, ["evaluate", "--gt", gt, "--pred", tmp_path / "no_pred", "--no-progress"],
                          "no_pred")
    assert_one_line_error(capsys, ["track-dataset", "--images", tmp_path / "no_images", "--annotations", gt,
                                   "--out", tmp_path / "out", *tiny["args"]], "no_images")


@pytest.mark.parametrize("what", ["video", "detections", "weights", "flow_weights"])
def test_empty_file_is_named(capsys, tiny, clip, tmp_path, what):
    empty = tmp_path / {"video": "empty.mp4", "detections": "empty.json", "weights": "empty.pth",
                        "flow_weights": "empty.ckpt"}[what]
    empty.write_bytes(b"")
    argv = {
        "video": track(tiny, clip, source=empty),
        "detections": track(tiny, clip, dets=empty),
        "weights": track(tiny, clip, "--pose-weights", empty),
        "flow_weights": track(tiny, clip, "--flow", "raft", "--flow-weights", empty),
    }[what]
    assert_one_line_error(capsys, argv, "empty file", empty)


# ---------------------------------------------------------------- videos and image folders

def test_video_opencv_cannot_decode(capsys, tiny, clip, tmp_path):
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    assert_one_line_error(capsys, track(tiny, clip, source=garbage), "cannot open video", garbage)


def test_zero_frame_video(capsys, tiny, clip, tmp_path):
    path = tmp_path / "zero.avi"
    cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, FRAME_SIZE).release()
    assert cv2.VideoCapture(str(path)).isOpened()  # a real, openable container with no frame in it
    out = tmp_path / "zero.json"
    assert_one_line_error(capsys, track(tiny, clip, source=path, out=out), "no frames could be read", path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["zero.avi"]


def test_frames_changing_size_midway_in_a_folder(capsys, tiny, clip, tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(4):
        cv2.imwrite(str(folder / f"{i:03d}.jpg"), _frame(i, FRAME_SIZE if i < 2 else (200, 120)))
    assert_one_line_error(capsys, track(tiny, clip, source=folder),
                          "frame 2", "is 200x120 but earlier frames are 160x120")


def test_video_changing_size_midway_is_scaled_by_the_decoder(capsys, tiny, clip, tmp_path):
    # FFmpeg scales every frame of a stream to its first frame's size: all frames arrive, all the same size.
    stream = tmp_path / "sizes.mjpeg"
    parts = [cv2.imencode(".jpg", _frame(i, FRAME_SIZE if i < 2 else (200, 150)))[1].tobytes() for i in range(4)]
    stream.write_bytes(b"".join(parts))
    out = tmp_path / "sizes.json"
    rc, err = cli(capsys, *track(tiny, clip, "--set", "propagation.enabled=false", source=stream, out=out))
    assert rc == 0 and err == []
    frames = json.loads(out.read_text())["annolist"]
    assert len(frames) == 4
    assert [len(f["annorect"]) for f in frames] == [1, 1, 1, 1]


def test_folder_without_images(capsys, tiny, clip, tmp_path):
    (tmp_path / "notes.txt").write_text("no images here")
    assert_one_line_error(capsys, track(tiny, clip, source=tmp_path), "no images", tmp_path)


@pytest.fixture
def folder_with_bad_image(tmp_path, clip) -> Path:
    folder = tmp_path / "frames"
    shutil.copytree(clip["frames"], folder)
    (folder / "002.jpg").write_bytes(b"this is not a JPEG")
    return folder


def test_unreadable_image_stops_by_default(capsys, tiny, clip, folder_with_bad_image):
    assert_one_line_error(capsys, track(tiny, clip, source=folder_with_bad_image), "cannot read image",
                          folder_with_bad_image / "002.jpg", "--on-bad-image skip")


def test_unreadable_image_skipped_with_one_warning_line(capsys, tiny, clip, folder_with_bad_image, tmp_path):
    out = tmp_path / "skip.json"
    rc, err = cli(capsys, *track(tiny, clip, "--on-bad-image", "skip", source=folder_with_bad_image, out=out))
    assert rc == 0
    assert err == [f"hrtrack track: warning: skipping unreadable image {folder_with_bad_image / '002.jpg'}"]
    names = [f["image"][0]["name"] for f in json.loads(out.read_text())["annolist"]]
    assert names == [str(folder_with_bad_image / f"{i:03d}.jpg") for i in (0, 1, 3)]


# ---------------------------------------------------------------- detections

def test_frame_with_zero_detections_is_an_empty_frame(capsys, tiny, clip, tmp_path):
    dets = [d for d in json.loads(clip["dets"].read_text()) if d["file_name"] != "001.jpg"]
    (tmp_path / "dets.json").write_text(json.dumps(dets))
    out = tmp_path / "out.json"
    # Without propagation, a frame's people come from its detections only.
    rc, err = cli(capsys, *track(tiny, clip, "--set", "propagation.enabled=false", dets=tmp_path / "dets.json",
                                 out=out))
    assert rc == 0 and err == []
    frames = json.loads(out.read_text())["annolist"]
    assert [len(f["annorect"]) for f in frames] == [1, 0, 1, 1]
    assert [f["imgnum"] for f in frames] == [[1], [2], [3], [4]]


def test_frame_with_200_people(capsys, tiny, tmp_path):
    # 200 boxes on a 20 x 10 grid of disjoint cells: no NMS can merge two, so all 200 must come out.
    image = np.random.default_rng(0).integers(0, 255, (360, 640, 3), dtype=np.uint8)
    (tmp_path / "frames").mkdir()
    cv2.imwrite(str(tmp_path / "frames" / "000.jpg"), image)
    boxes = [[32 * c + 1, 36 * r + 1, 30, 34] for c in range(20) for r in range(10)]
    (tmp_path / "dets.json").write_text(json.dumps([_detection("000.jpg", 0, b, 0.5 + 0.002 * k)
                                                    for k, b in enumerate(boxes)]))
    out = tmp_path / "crowd.json"
    rc, err = cli(capsys, "track", tmp_path / "frames", *tiny["args"], "--detections", tmp_path / "dets.json",
                  "--out", out, "--format", "coco")
    assert rc == 0 and err == []
    people = json.loads(out.read_text())
    assert len(people) == 200
    assert sorted(p["track_id"] for p in people) == list(range(200))
    # One person per detection box: its box is the crop of that box (64x64 input: a square of side
    # 1.25 x 34 = 42.5 centred on the box), and its 17 joints lie inside that crop.
    crops = sorted((x + 15 - 21.25, y + 17 - 21.25, 42.5, 42.5) for x, y, _, _ in boxes)
    assert sorted(tuple(p["bbox"]) for p in people) == crops
    for p in people:
        x, y, w, h = p["bbox"]
        kp = np.array(p["keypoints"]).reshape(17, 3)
        assert ((kp[:, 0] >= x) & (kp[:, 0] <= x + w) & (kp[:, 1] >= y) & (kp[:, 1] <= y + h)).all()


@pytest.mark.parametrize("bbox_text, needle", [
    ("[NaN, 10, 20, 30]", "not finite"),
    ("[10, Infinity, 20, 30]", "not finite"),
    ("[10, 10, -Infinity, 30]", "not finite"),
    ("[10, 10, -20, 30]", "non-negative size"),
    ("[10, 10, 20, -30]", "non-negative size"),
    ("[10, 10, 20]", "is not [x, y, w, h]"),
    ('["10", 10, 20, 30]', "is not [x, y, w, h]"),
])
def test_bad_boxes_in_detection_file(capsys, tiny, clip, tmp_path, bbox_text, needle):
    path = tmp_path / "dets.json"
    path.write_text('[{"image_id": 0, "category_id": 1, "bbox": [1, 1, 5, 5], "score": 0.9, "file_name": "000.jpg"},'
                    f' {{"image_id": 1, "category_id": 1, "bbox": {bbox_text}, "score": 0.9, "file_name": "001.jpg"}}]')
    assert_one_line_error(capsys, track(tiny, clip, dets=path), path, "entry 1", needle)


def test_nan_score_in_detection_file(capsys, tiny, clip, tmp_path):
    path = tmp_path / "dets.json"
    path.write_text('[{"image_id": 0, "category_id": 1, "bbox": [1, 1, 5, 5], "score": NaN}]')
    assert_one_line_error(capsys, track(tiny, clip, dets=path), path, "entry 0", "score nan")


def test_zero_size_box_is_dropped_with_one_warning_line(capsys, tiny, clip, tmp_path):
    dets = json.loads(clip["dets"].read_text())
    dets.append(_detection("001.jpg", 1, [30, 30, 0, 20]))
    (tmp_path / "dets.json").write_text(json.dumps(dets))
    out = tmp_path / "out.json"
    rc, err = cli(capsys, *track(tiny, clip, "--set", "propagation.enabled=false", dets=tmp_path / "dets.json",
                                 out=out))
    assert rc == 0
    assert len(err) == 1 and err[0].startswith("hrtrack track: warning: ") and "zero width or height" in err[0]
    assert [len(f["annorect"]) for f in json.loads(out.read_text())["annolist"]] == [1, 1, 1, 1]


@pytest.mark.parametrize("source", ["frames", "video"])
def test_detection_file_matching_no_frame(capsys, tiny, clip, tmp_path, source):
    # Ids and names of another video: every frame would silently get zero people.
    path = tmp_path / "other.json"
    path.write_text(json.dumps([_detection(f"images/other/{i:06d}.jpg", 10_000_000_000 + i, [1, 1, 20, 40])
                                for i in range(4)]))
    assert_one_line_error(capsys, track(tiny, clip, source=clip[source], dets=path), path,
                          "matches none of the 4 frames")


@pytest.mark.parametrize("entry, needle", [
    ({"category_id": 1, "bbox": [1, 1, 5, 5], "score": 0.9}, "no 'image_id'"),
    ({"image_id": 0, "bbox": [1, 1, 5, 5], "score": 0.9}, "no 'category_id'"),
    ({"image_id": 0, "category_id": 1, "score": 0.9}, "no 'bbox'"),
    ({"image_id": 0, "category_id": 1, "bbox": [1, 1, 5, 5]}, "no 'score'"),
    ({"image_id": "0", "category_id": 1, "bbox": [1, 1, 5, 5], "score": 0.9}, "is not an integer"),
])
def test_coco_detection_file_with_missing_keys(capsys, tiny, clip, tmp_path, entry, needle):
    path = tmp_path / "dets.json"
    path.write_text(json.dumps([entry]))
    assert_one_line_error(capsys, track(tiny, clip, dets=path), path, needle)


def test_coco_keypoint_file_with_missing_keys(capsys, tiny, synthetic_dataset, tmp_path):
    root = tmp_path / "coco_root"
    (root / "annotations" / "coco").mkdir(parents=True)
    (root / "images").symlink_to(synthetic_dataset.root / "images")
    data = json.loads((synthetic_dataset.root / "annotations" / "coco" / "person_keypoints_val.json").read_text())
    del data["annotations"][3]["num_keypoints"]
    coco_file = root / "annotations" / "coco" / "person_keypoints_val.json"
    coco_file.write_text(json.dumps(data))
    argv = ["test", "--config", Path(__file__).parent.parent / "configs" / "synthetic" / "tiny.yaml",
            "--data", root, "--weights", tiny["weights"], "--device", "cpu", "--no-progress",
            "--set", "data.format=coco", "--set", "model.layout=coco"]
    assert_one_line_error(capsys, argv, coco_file, "annotations[3] has no 'num_keypoints'")


# ---------------------------------------------------------------- PoseTrack files (evaluate)

def _posetrack_case(gt: Path, pred: Path, name: str, mutate) -> None:
    shutil.copytree(gt, pred)
    path = pred / name
    if callable(mutate):
        data = json.loads(path.read_text())
        mutate(data)
        path.write_text(json.dumps(data))
    else:
        path.write_text(mutate)


def _first_person(data: dict) -> dict:
    return next(r for frame in data["annolist"] for r in frame["annorect"])


def _crowded_frame(data: dict) -> dict:
    return next(frame for frame in data["annolist"] if len(frame["annorect"]) >= 2)


def _set(obj: dict, key: str, value) -> None:
    obj[key] = value


POSETRACK_CASES = {
    "not JSON": ("{annolist: [", "is not valid JSON"),
    "empty": ("", "empty file"),
    "no annolist": (lambda d: d.update(annotations=d.pop("annolist")), "no 'annolist'"),
    "scalar track id": (lambda d: _set(_first_person(d), "track_id", 3), "must be a one-element list"),
    "scalar x": (lambda d: _set(_first_person(d)["annopoints"][0]["point"][0], "x", 12.5),
                 "must be a one-element list"),
    "duplicate track ids": (lambda d: _set(_crowded_frame(d)["annorect"][1], "track_id",
                                           _crowded_frame(d)["annorect"][0]["track_id"]),
                            "appears 2 times in one frame"),
    "track id 10000": (lambda d: _set(_first_person(d), "track_id", [10000]), "outside 0..9999"),
    "negative track id": (lambda d: _set(_first_person(d), "track_id", [-1]), "outside 0..9999"),
    "fewer frames": (lambda d: d["annolist"].pop(), "frames but the ground truth"),
    "more frames": (lambda d: d["annolist"].append(d["annolist"][-1]), "frames but the ground truth"),
    "NaN coordinate": ('{"annolist": [{"annorect": [{"track_id": [0], "annopoints": [{"point": '
                       '[{"id": [0], "x": [NaN], "y": [1]}]}]}]}]}', "must be a finite number"),
    "nested too deeply": ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    "huge integer": ('{"annolist": [{"annorect": [{"track_id": [' + "9" * 5000 + "]}]}]}", "outside the 64-bit range"),
}


@pytest.mark.parametrize("case", list(POSETRACK_CASES))
def test_bad_posetrack_prediction(capsys, synthetic_dataset, tmp_path, case):
    gt = synthetic_dataset.root / "annotations" / "posetrack17" / "val"
    name = sorted(p.name for p in gt.glob("*.json"))[0]
    mutate, needle = POSETRACK_CASES[case]
    _posetrack_case(gt, tmp_path / "pred", name, mutate)
    assert_one_line_error(capsys, ["evaluate", "--gt", gt, "--pred", tmp_path / "pred", "--no-progress"],
                          tmp_path / "pred" / name, needle)


def test_ground_truth_as_prediction_scores_100(capsys, synthetic_dataset, tmp_path):
    gt = synthetic_dataset.root / "annotations" / "posetrack17" / "val"
    rc, err = cli(capsys, "evaluate", "--gt", gt, "--pred", gt, "--json", tmp_path / "scores.json", "--no-progress")
    assert rc == 0 and err == []
    scores = json.loads((tmp_path / "scores.json").read_text())
    assert scores["mAP"]["Total"] == 100.0 and scores["MOTA"]["Total"] == 100.0


# ---------------------------------------------------------------- checkpoints and configs

def _save_variant(folder: Path, name: str, **changes) -> Path:
    from dataclasses import replace

    path = folder / f"{name}.pth"
    torch.save(build_pose_model(replace(TINY, **changes)).state_dict(), path)
    return path


@pytest.mark.parametrize("changes, needles", [
    ({"width": 16}, ["does not fit the model", "transition1.0.0.weight", "W16 model with 17 joints"]),
    ({"num_joints": 15}, ["does not fit the model", "final_layer.weight", "W8 model with 15 joints"]),
])
def test_checkpoint_for_another_model(capsys, tiny, clip, tmp_path, changes, needles):
    path = _save_variant(tmp_path, "other", **changes)
    assert_one_line_error(capsys, track(tiny, clip, "--pose-weights", path), path, *needles)


@pytest.mark.parametrize("content, needle", [
    ([torch.zeros(3)], "not a state dict of tensors (got list)"),
    (torch.zeros(3), "not a state dict of tensors (got Tensor)"),
    ({"conv1.weight": 3}, "not a state dict of tensors (got dict)"),
    ({}, "not a state dict of tensors (got dict)"),
    ({"epoch": 3, "meta": {"a": 1}}, "not a state dict of tensors"),
])
def test_checkpoint_that_is_not_a_state_dict(capsys, tiny, clip, tmp_path, content, needle):
    path = tmp_path / "not_state.pth"
    torch.save(content, path)
    assert_one_line_error(capsys, track(tiny, clip, "--pose-weights", path), path, needle)


def test_random_bytes_as_checkpoint(capsys, tiny, clip, tmp_path):
    path = tmp_path / "noise.pth"
    path.write_bytes(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    assert_one_line_error(capsys, track(tiny, clip, "--pose-weights", path), path, "cannot read")


def test_model_config_disagreeing_with_its_layout(capsys, tiny, clip, tmp_path):
    from dataclasses import replace

    dump_config(replace(TINY, num_joints=15), tmp_path / "m15.yaml")
    assert_one_line_error(capsys, track(tiny, clip, "--pose-weights", _save_variant(tmp_path, "j15", num_joints=15),
                                        "--set", f"estimator.model={tmp_path / 'm15.yaml'}"),
                          "num_joints 15 does not match the 'posetrack' layout's 17 joints")


@pytest.mark.parametrize("yaml_text, needles", [
    ("tracking:\n  treshold: 0.3\n", ["unknown key 'treshold'", "threshold"]),
    ("tracking:\n  threshold: high\n", ["tracking.threshold: expected a number, got 'high'"]),
    ("tracking:\n  use_flow: 3\n", ["tracking.use_flow: expected true or false, got 3"]),
    ("estimator:\n  max_batch: 2.5\n", ["estimator.max_batch: expected an integer, got 2.5"]),
    ("tracking: 0.3\n", ["tracking: expected a section"]),
    ("- 1\n- 2\n", ["must hold a mapping at top level, got list"]),
    ("tracking: [\n", ["is not valid YAML"]),
    ("\xff\xfe garbage", ["is not a text (UTF-8) YAML file"]),
])
def test_bad_pipeline_config_file(capsys, tiny, clip, tmp_path, yaml_text, needles):
    path = tmp_path / "bad.yaml"
    path.write_bytes(yaml_text.encode("latin-1"))
    assert_one_line_error(capsys, track(tiny, clip, "--config", path), *needles)


@pytest.mark.parametrize("override, needles", [
    ("tracking.threshold=abc", ["tracking.threshold: expected a number, got 'abc'"]),
    ("tracking.threshold", ["--set expects key=value"]),
    ("tracking.nope=1", ["unknown key 'nope'"]),
    ("=1", ["--set has an empty key"]),
    ("tracking.threshold=[1", ["is not a valid value"]),
    ("tracking.threshold=-5", ["tracking threshold must be in [0, 1), got -5.0"]),
    ("tracking.threshold=.nan", ["tracking threshold must be in [0, 1), got nan"]),
    ("tracking.matcher=best", ["unknown matcher 'best'"]),
    ("tracking.q_frames=0", ["q_frames must be an integer >= 1, got 0"]),
    ("estimator.max_batch=0", ["max_batch must be an integer >= 1, got 0"]),
    ("estimator.precision=fp8", ["precision must be auto, fp32, fp16 or bf16, got 'fp8'"]),
    ("estimator.oks_nms_threshold=.nan", ["estimator oks_nms_threshold must be a finite number in [0, 1], got nan"]),
    ("propagation.extension=-1", ["propagation extension must be a finite number >= 0, got -1.0"]),
    ("propagation.nms_iou=2", ["propagation nms_iou must be a finite number in [0, 1], got 2.0"]),
    ("output.joint_threshold=.inf", ["output joint_threshold must be a finite number, got inf"]),
    ("flow.scale=0", ["flow scale must be in (0, 1], got 0.0"]),
    ("flow.preset=slow", ["unknown DIS preset 'slow'"]),
    ("flow.method=nope", ["unknown flow model 'nope'"]),
    ("estimator.model=w99", ["unknown config 'w99'"]),
])
def test_bad_set_value(capsys, tiny, clip, override, needles):
    assert_one_line_error(capsys, track(tiny, clip, "--set", override), *needles)


def test_bad_device_and_shard(capsys, tiny, clip, synthetic_dataset, tmp_path):
    assert_one_line_error(capsys, track(tiny, clip, "--device", "tpu"), "unknown device 'tpu'")
    gt = synthetic_dataset.root / "annotations" / "posetrack17" / "val"
    for shard, needle in (("3/2", "need 0 <= K < N"), ("a/b", "expects K/N")):
        assert_one_line_error(capsys, ["track-dataset", "--images", synthetic_dataset.root, "--annotations", gt,
                                       "--out", tmp_path / "out", "--shard", shard, *tiny["args"]], needle)


# ---------------------------------------------------------------- outputs

def _unwritable_folder(tmp_path: Path) -> Path:
    """A folder this process may not create files in: a read-only folder, or for root (who ignores
    permission bits) sysfs, where file creation is refused to everyone."""
    if os.geteuid() != 0:
        folder = tmp_path / "read_only"
        folder.mkdir()
        folder.chmod(0o500)
        return folder
    return Path("/sys")


@pytest.mark.parametrize("flag, fmt", [("--out", "posetrack17"), ("--out", "posetrack18"), ("--out", "coco"),
                                       ("--render", None)])
def test_output_folder_missing_or_not_writable(capsys, tiny, clip, tmp_path, flag, fmt):
    fmt_args = ["--format", fmt] if fmt else []
    name = "result.mp4" if flag == "--render" else "result.json"
    base = track(tiny, clip, *fmt_args, out=False)
    assert_one_line_error(capsys, [*base, flag, tmp_path / "missing" / name], "output folder does not exist",
                          tmp_path / "missing")
    (tmp_path / "a_file").write_text("x")
    assert_one_line_error(capsys, [*base, flag, tmp_path / "a_file" / name], "output folder does not exist")
    locked = _unwritable_folder(tmp_path)
    try:
        line = assert_one_line_error(capsys, [*base, flag, locked / name], locked)
        assert "not writable" in line or "Permission denied" in line
    finally:
        if locked != Path("/sys"):
            locked.chmod(0o700)


def test_track_dataset_output_is_a_file(capsys, tiny, synthetic_dataset, tmp_path):
    gt = synthetic_dataset.root / "annotations" / "posetrack17" / "val"
    (tmp_path / "out").write_text("x")
    assert_one_line_error(capsys, ["track-dataset", "--images", synthetic_dataset.root, "--annotations", gt,
                                   "--out", tmp_path / "out", *tiny["args"]], "exists and is not a folder")


class _FullDisk:
    """A file that accepts `budget` characters and then fails the way a full disk does (ENOSPC)."""

    def __init__(self, real, budget: int):
        self.real, self.budget = real, budget

    def write(self, data):
        if len(data) > self.budget:
            self.real.write(data[: self.budget])
            self.budget = 0
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.budget -= len(data)
        return self.real.write(data)

    def __getattr__(self, name):
        return getattr(self.real, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.real.close()


@pytest.mark.parametrize("fmt, module", [("posetrack17", posetrack_module), ("posetrack18", posetrack_module),
                                         ("coco", sinks_module)])
@pytest.mark.parametrize("budget", [0, 700])
def test_disk_full_keeps_the_previous_output(capsys, tiny, clip, tmp_path, monkeypatch, fmt, module, budget):
    out = tmp_path / "result.json"
    argv = track(tiny, clip, "--format", fmt, out=out)
    rc, err = cli(capsys, *argv)
    assert rc == 0 and err == []
    before = out.read_bytes()
    assert len(before) > budget
    # The output is streamed through `open` in the module that writes it; the disk fills `budget` bytes in.
    monkeypatch.setattr(module, "open", lambda *a, **k: _FullDisk(builtins.open(*a, **k), budget), raising=False)
    line = assert_one_line_error(capsys, [*argv, "--set", "tracking.threshold=0.5"], "No space left on device")
    assert str(out) in line
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.config.yaml", "result.json"]


def test_track_ids_beyond_the_posetrack_limit(tmp_path):
    # A long crowded video can create 10000 tracks; PoseTrack files (poseval) cannot hold such ids.
    from hrtrack.pipeline.sinks import PoseTrackSink
    from hrtrack.pipeline.sources import Frame
    from hrtrack.skeleton import POSETRACK
    from hrtrack.structures import Poses

    out = tmp_path / "long.json"
    out.write_text("previous results")
    sink = PoseTrackSink(out, "posetrack17", POSETRACK, 0.0)
    frame = Frame(0, "000000.jpg", np.zeros((8, 8, 3), np.uint8))
    poses = Poses(np.ones((2, 17, 2), np.float32), np.ones((2, 17), np.float32), np.ones(2, np.float32),
                  np.zeros((2, 4), np.float32), np.array([9999, 10000]))
    with pytest.raises(HrtrackError, match="track id 10000 does not fit a PoseTrack file .* --format coco"):
        sink.add(frame, poses)
    sink.abort()
    assert out.read_text() == "previous results" and sorted(p.name for p in tmp_path.iterdir()) == ["long.json"]


def test_disk_full_while_saving_the_config(capsys, tiny, clip, tmp_path, monkeypatch):
    out = tmp_path / "result.json"
    argv = track(tiny, clip, out=out)
    assert cli(capsys, *argv)[0] == 0
    config = out.with_name("result.config.yaml")
    before = config.read_bytes()
    write_bytes = Path.write_bytes

    def full_disk(self, data):
        write_bytes(self, data[:10])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(Path, "write_bytes", full_disk)
    assert_one_line_error(capsys, [*argv, "--set", "tracking.threshold=0.5"], "No space left on device", config)
    assert config.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.config.yaml", "result.json"]

"""Untrusted files are safe: pickles never run, YAML never builds objects, annotation paths stay in their root.

Each hostile file carries a payload that, if it ran, would create a marker file;
every loader must refuse the file with a one-line `HrtrackError` and the marker
must not exist.
"""

from __future__ import annotations

import ast
import json
import pickle
import shutil
from collections import OrderedDict
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from hrtrack.cli import main
from hrtrack.config import dump_config
from hrtrack.datasets.topdown import open_split
from hrtrack.errors import HrtrackError
from hrtrack.fileio import resolve_under
from hrtrack.models import build_pose_model, load_pose_weights
from hrtrack.models.detector import load_detector_model
from hrtrack.models.factory import ModelConfig
from hrtrack.models.flow import build_flow
from hrtrack.training.state import load_training_state

PACKAGE = Path(__file__).resolve().parent.parent / "hrtrack"
TINY = ModelConfig(width=8, num_joints=17, layout="posetrack", input_size=(64, 64), heatmap_size=(16, 16),
                   sigma=2.0, stage_modules=(1, 1, 1), blocks_per_branch=1, stage1_blocks=1)


class Payload:
    """Unpickling this calls `open(marker, "w")`: the file appearing means code from the checkpoint ran."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def hostile_files(folder: Path) -> dict[str, Path]:
    """The same payload in a plain pickle, in torch's zip format, and hidden among real tensors."""
    marker = folder / "PWNED"
    payload = Payload(marker)
    paths = {"pickle": folder / "plain.pth", "torch_zip": folder / "zip.pth", "among_tensors": folder / "mixed.pth"}
    with open(paths["pickle"], "wb") as f:
        pickle.dump({"state_dict": payload}, f)
    torch.save({"state_dict": payload}, paths["torch_zip"])
    state = build_pose_model(TINY).state_dict()
    state["final_layer.bias"] = payload
    torch.save({"state_dict": state, "meta": {"epoch": 210}}, paths["among_tensors"])
    return paths


@pytest.fixture(params=["pickle", "torch_zip", "among_tensors"])
def hostile(request, tmp_path) -> tuple[Path, Path]:
    """(a hostile checkpoint, the marker its payload would create)."""
    return hostile_files(tmp_path)[request.param], tmp_path / "PWNED"


def _assert_refused(call, marker: Path, *needles: str) -> str:
    with pytest.raises(HrtrackError) as err:
        call()
    message = str(err.value)
    assert "\n" not in message
    for needle in needles:
        assert needle in message, message
    assert not marker.exists(), "code from the checkpoint ran"
    return message


def test_payload_really_runs_when_unpickled_unsafely(tmp_path):
    # The check is meaningful: the same payload unpickled without restriction creates the marker.
    path = hostile_files(tmp_path)["pickle"]
    with open(path, "rb") as f:
        pickle.load(f)
    assert (tmp_path / "PWNED").exists()


def test_pose_weights_loader_refuses_code(hostile):
    path, marker = hostile
    _assert_refused(lambda: load_pose_weights(build_pose_model(TINY), path), marker, "refused to load", str(path),
                    "weights_only=True")


def test_detector_weights_loader_refuses_code(hostile):
    path, marker = hostile
    _assert_refused(lambda: load_detector_model("fasterrcnn_resnet50_fpn", path), marker, "refused to load")


def test_training_state_loader_refuses_code(hostile):
    path, marker = hostile
    _assert_refused(lambda: load_training_state(path), marker, str(path))


def test_ptlflow_checkpoint_loader_refuses_code(hostile):
    path, marker = hostile
    _assert_refused(lambda: build_flow("raft", path, device="cpu"), marker, "refused to load")


@pytest.mark.parametrize("flag", ["--pose-weights", "--flow-weights", "--detector-weights"])
def test_cli_refuses_hostile_checkpoints_in_one_line(tmp_path, capsys, flag):
    path = hostile_files(tmp_path)["torch_zip"]
    torch.manual_seed(0)
    torch.save(build_pose_model(TINY).state_dict(), tmp_path / "tiny.pth")
    dump_config(TINY, tmp_path / "tiny.yaml")
    (tmp_path / "frames").mkdir()
    cv2.imwrite(str(tmp_path / "frames" / "000.jpg"), np.zeros((64, 64, 3), np.uint8))
    argv = ["track", tmp_path / "frames", "--out", tmp_path / "out.json", "--device", "cpu", "--no-progress",
            "--set", f"estimator.model={tmp_path / 'tiny.yaml'}", "--pose-weights", tmp_path / "tiny.pth"]
    argv += {"--pose-weights": ["--pose-weights", path], "--flow-weights": ["--flow", "raft", "--flow-weights", path],
             "--detector-weights": ["--detector-weights", path]}[flag]
    assert main([str(a) for a in argv]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("hrtrack track: error: refused to load") and str(path) in err[0]
    assert not (tmp_path / "PWNED").exists()


def test_official_and_mmpose_checkpoints_still_load_with_weights_only(tmp_path):
    # What the official code saves (an OrderedDict, possibly DataParallel's "module." keys) and what MMPose
    # saves (meta of plain types, backbone./keypoint_head. keys, optimizer state) hold no code: they load.
    torch.manual_seed(1)
    state = build_pose_model(TINY).state_dict()
    official = OrderedDict((f"module.{k}", v) for k, v in state.items())
    mmpose = {"meta": {"mmpose_version": "0.x", "epoch": 210, "iter": 4000, "time": "Mon Jul 6 2020",
                       "config": "model = dict(type='TopDown')", "hook_msgs": {"best_score": 0.75}},
              "state_dict": OrderedDict((("keypoint_head." if k.startswith("final_layer") else "backbone.") + k, v)
                                        for k, v in state.items()),
              "optimizer": {"state": {}, "param_groups": [{"lr": 1e-3, "params": [0, 1]}]}}
    for name, obj in (("official.pth", official), ("mmpose.pth", mmpose)):
        torch.save(obj, tmp_path / name)
        model = build_pose_model(TINY)
        assert load_pose_weights(model, tmp_path / name) == "official"
        assert all(torch.equal(model.state_dict()[k], v) for k, v in state.items())


def test_every_torch_load_in_the_package_uses_weights_only():
    calls = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "load" \
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "torch":
                flags = {kw.arg: kw.value for kw in node.keywords}
                safe = isinstance(flags.get("weights_only"), ast.Constant) and flags["weights_only"].value is True
                calls.append((path.relative_to(PACKAGE), node.lineno, safe))
    assert calls, "no torch.load found: the scan is broken"
    assert [c for c in calls if not c[2]] == []


def test_no_unsafe_deserialiser_in_the_package():
    # YAML only through safe_load / safe_dump; no pickle, marshal or eval of file contents.
    banned = {("yaml", "load"), ("yaml", "unsafe_load"), ("yaml", "full_load"), ("yaml", "Loader"),
              ("pickle", "load"), ("pickle", "loads"), ("marshal", "loads"), ("numpy", "load"), ("np", "load")}
    found = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                    and (node.value.id, node.attr) in banned:
                found.append((str(path.relative_to(PACKAGE)), node.lineno, f"{node.value.id}.{node.attr}"))
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("eval", "exec"):
                found.append((str(path.relative_to(PACKAGE)), node.lineno, node.func.id))
    assert found == []


# ---------------------------------------------------------------- YAML

YAML_PAYLOADS = [
    "estimator: !!python/object/apply:builtins.open ['{marker}', 'w']\n",
    "!!python/object/new:builtins.open ['{marker}', 'w']\n",
    "tracking:\n  threshold: !!python/name:os.system\n",
]


@pytest.mark.parametrize("payload", YAML_PAYLOADS)
@pytest.mark.parametrize("where", ["pipeline", "model", "train", "set"])
def test_yaml_with_python_tags_is_refused_in_one_line(tmp_path, capsys, payload, where):
    marker = tmp_path / "PWNED"
    evil = tmp_path / "evil.yaml"
    evil.write_text(payload.format(marker=marker))
    (tmp_path / "frames").mkdir()
    cv2.imwrite(str(tmp_path / "frames" / "000.jpg"), np.zeros((64, 64, 3), np.uint8))
    track = ["track", tmp_path / "frames", "--out", tmp_path / "out.json", "--no-progress"]
    argv = {"pipeline": [*track, "--config", evil],
            "model": [*track, "--set", f"estimator.model={evil}"],
            "train": ["train", "--config", evil, "--data", tmp_path, "--out", tmp_path / "run"],
            "set": [*track, "--set", "tracking.threshold=" + payload.split(": ", 1)[-1].strip().format(marker=marker)]
            }[where]
    assert main([str(a) for a in argv]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and ("is not valid YAML" in err[0] or "is not a valid value" in err[0]), err
    assert not marker.exists()


# ---------------------------------------------------------------- paths from annotation files

@pytest.mark.parametrize("name", ["../outside.jpg", "images/../../outside.jpg", "images/val/../../../outside.jpg"])
def test_image_path_escaping_the_root_is_an_error(name, tmp_path):
    root = tmp_path / "root"
    (root / "images").mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "outside.jpg"), np.zeros((8, 8, 3), np.uint8))  # it exists: only the check stops it
    with pytest.raises(HrtrackError, match=r"gt\.json: image path .* escapes the images root"):
        resolve_under(root, name, "gt.json")


def test_absolute_image_path_is_an_error(tmp_path):
    with pytest.raises(HrtrackError, match="escapes the images root"):
        resolve_under(tmp_path, str(tmp_path.parent / "x.jpg"), "gt.json")
    with pytest.raises(HrtrackError, match="escapes the images root"):
        resolve_under(tmp_path, "/etc/passwd", "gt.json")


@pytest.mark.parametrize("fmt", ["coco", "mpii", "posetrack"])
def test_training_image_paths_escaping_the_root_are_errors(fmt, synthetic_dataset, tmp_path):
    """Training reads image paths from annotation files too: the same check applies, for every format."""
    root = tmp_path / "data"
    shutil.copytree(synthetic_dataset.root / "annotations", root / "annotations")
    evil = "../../outside.jpg"
    if fmt == "coco":
        path = root / "annotations" / "coco" / "person_keypoints_train.json"
        data = json.loads(path.read_text())
        data["images"][0]["file_name"] = evil
    elif fmt == "mpii":
        path = root / "annotations" / "mpii" / "train.json"
        data = json.loads(path.read_text())
        data[0]["image"] = evil
    else:
        path = sorted((root / "annotations" / "posetrack18" / "train").glob("*.json"))[0]
        data = json.loads(path.read_text())
        annotated = {a["image_id"] for a in data["annotations"]}
        image = next(im for im in data["images"] if im["id"] in annotated and im["is_labeled"])
        image["file_name"] = evil
    path.write_text(json.dumps(data))
    with pytest.raises(HrtrackError, match="escapes the images root"):
        open_split(fmt, root, "train", aspect_ratio=0.75, num_joints=16 if fmt == "mpii" else 17)


def test_paths_inside_the_root_and_linked_folders_are_allowed(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    elsewhere = tmp_path / "disk2" / "images"
    elsewhere.mkdir(parents=True)
    (root / "images").symlink_to(elsewhere)  # the user's own layout: followed
    assert resolve_under(root, "images/val/a/../b.jpg", "gt.json") == root.resolve() / "images" / "val" / "b.jpg"
    assert resolve_under(root, "./images/c.jpg", "gt.json") == root.resolve() / "images" / "c.jpg"


def test_track_dataset_refuses_an_escaping_path_before_reading_anything(synthetic_dataset, tmp_path, capsys):
    gt = tmp_path / "gt"
    shutil.copytree(synthetic_dataset.root / "annotations" / "posetrack17" / "val", gt)
    name = sorted(gt.glob("*.json"))[-1]
    data = json.loads(name.read_text())
    data["annolist"][1]["image"][0]["name"] = "../../../../../../../etc/passwd"
    name.write_text(json.dumps(data))
    torch.save(build_pose_model(TINY).state_dict(), tmp_path / "tiny.pth")
    dump_config(TINY, tmp_path / "tiny.yaml")
    rc = main([str(a) for a in ["track-dataset", "--images", synthetic_dataset.root, "--annotations", gt,
                                "--out", tmp_path / "out", "--pose-weights", tmp_path / "tiny.pth",
                                "--set", f"estimator.model={tmp_path / 'tiny.yaml'}", "--device", "cpu",
                                "--detections", synthetic_dataset.root / "detections" / "val.json",
                                "--no-progress"]])
    err = capsys.readouterr().err.splitlines()
    assert rc == 2 and len(err) == 1
    assert f"{name}: image path '../../../../../../../etc/passwd' escapes the images root" in err[0]
    assert not any((tmp_path / "out").glob("*.json"))


# ---------------------------------------------------------------- JSON sizes and types

@pytest.mark.parametrize("text, needle", [
    ("[" * 50_000 + "]" * 50_000, "nested too deeply"),
    ('{"annolist": [{"imgnum": [' + "1" * 10_000 + "]}]}", "outside the 64-bit range"),
    ('{"annolist": [{"imgnum": [9223372036854775808]}]}', "outside the 64-bit range"),
    ('{"annolist": "' + "x" * 100 + '"}', "annolist must be a list"),
    ('{"annolist": [{"annorect": {"a": 1}}]}', "annorect must be a list"),
    ('{"images": [{"id": 1}], "annotations": [{"image_id": 1, "keypoints": [1, 2]}]}',
     "keypoints must be a list of 51 finite numbers"),
])
def test_json_readers_check_sizes_and_types_before_use(tmp_path, text, needle):
    from hrtrack.formats.posetrack import read_sequence

    path = tmp_path / "seq.json"
    path.write_text(text)
    with pytest.raises(HrtrackError, match="seq.json") as err:
        read_sequence(path)
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_int64_limits_are_accepted(tmp_path):
    from hrtrack.fileio import read_json

    path = tmp_path / "ints.json"
    path.write_text(json.dumps([2**63 - 1, -2**63, 0, -5, 10_000_000_123]))
    assert read_json(path) == [2**63 - 1, -2**63, 0, -5, 10_000_000_123]


def test_refusal_names_the_blocked_code_and_never_advises_weights_only_false(tmp_path):
    # torch's own message suggests re-running with weights_only=False: wrong advice for an untrusted file.
    path = hostile_files(tmp_path)["torch_zip"]
    message = _assert_refused(lambda: load_pose_weights(build_pose_model(TINY), path), tmp_path / "PWNED",
                              "GLOBAL io.open")
    assert "False" not in message and "Re-running" not in message and "safe_globals" not in message

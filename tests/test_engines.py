"""ONNX export and the estimator's engines: torch, ONNX Runtime, OpenVINO.

A tiny HRNet with weights scaled like a trained network's (heatmaps peaking near
1) is exported with the real `hrtrack export`; every engine's heatmaps must equal
the eager torch network's within 1e-4, at any batch size, and the estimator must
give the same poses whichever engine runs the network.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import onnx
import pytest
import torch
from torch import nn

from hrtrack.cli import main
from hrtrack.config import dump_config
from hrtrack.errors import HrtrackError
from hrtrack.models import PoseEstimator, build_engine, build_pose_model, onnx_metadata
from hrtrack.models.calibrate import calibrate_like_trained
from hrtrack.models.engines import CPU_PREFERENCE, Engine, TorchEngine, installed_engines, resolve_engine
from hrtrack.models.factory import ModelConfig
from hrtrack.skeleton import POSETRACK


TINY = ModelConfig(width=8, num_joints=17, layout="posetrack", input_size=(64, 64), heatmap_size=(16, 16),
                   sigma=2.0, stage_modules=(1, 1, 1), blocks_per_branch=1, stage1_blocks=1)
# The deploy extra (make install) provides both: the suite runs every engine, none is skipped.
ONNX_ENGINES = ["onnxruntime", "openvino"]

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> dict:
    """The tiny model's weights, config and `hrtrack export` file."""
    folder = tmp_path_factory.mktemp("export")
    model = calibrate_like_trained(build_pose_model(TINY), TINY.input_size)
    torch.save(model.state_dict(), folder / "tiny.pth")
    dump_config(TINY, folder / "tiny.yaml")
    assert main(["export", "--pose-weights", str(folder / "tiny.pth"), "--config", str(folder / "tiny.yaml"),
                 "--format", "onnx", "--out", str(folder / "tiny.onnx")]) == 0
    return {"model": model, "folder": folder, "onnx": folder / "tiny.onnx", "weights": folder / "tiny.pth",
            "yaml": folder / "tiny.yaml"}


def eager(model: nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        return model.eval()(torch.from_numpy(x)).numpy()


def test_export_records_opset_dynamic_batch_and_the_input_contract(exported):
    proto = onnx.load(str(exported["onnx"]))
    assert max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")) >= 17
    (inp,), (out,) = proto.graph.input, proto.graph.output
    dims = [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim]
    assert isinstance(dims[0], str) and dims[1:] == [3, 64, 64]
    assert [d.dim_value for d in out.type.tensor_type.shape.dim][1:] == [17, 16, 16]
    meta = onnx_metadata(exported["onnx"])
    assert json.loads(meta["input_size"]) == [64, 64] and json.loads(meta["heatmap_stride"]) == 4
    assert json.loads(meta["mean"]) == [0.485, 0.456, 0.406] and json.loads(meta["std"]) == [0.229, 0.224, 0.225]
    assert meta["color"] == "RGB" and meta["joint_layout"] == "posetrack"
    assert json.loads(meta["flip_pairs"]) == [list(p) for p in POSETRACK.flip_pairs]
    assert json.loads(meta["joint_names"])[1:3] == ["head_bottom", "head_top"]
    assert meta["weights"] == "tiny.pth" and meta["weights_kind"] == "official"


@pytest.mark.parametrize("engine", ONNX_ENGINES)
def test_exported_heatmaps_equal_torch_within_1e4(exported, engine):
    rng = np.random.default_rng(0)
    run = build_engine(exported["onnx"], engine, (64, 64))
    for batch in (1, 3, 8):
        x = rng.standard_normal((batch, 3, 64, 64)).astype(np.float32)
        expected = eager(exported["model"], x)
        got = run(x)
        assert got.shape == (batch, 17, 16, 16) and got.dtype == np.float32
        assert 0.5 < np.abs(expected).max() < 4  # trained-like magnitudes: the tolerance means something
        assert np.abs(got - expected).max() < 1e-4, engine


@pytest.mark.parametrize("engine", ["torch", *ONNX_ENGINES])
def test_build_engine_from_a_torch_model(exported, engine):
    x = np.random.default_rng(1).standard_normal((2, 3, 64, 64)).astype(np.float32)
    run = build_engine(exported["model"], engine, (64, 64), threads=1)
    assert run.name == engine
    assert np.abs(run(x) - eager(exported["model"], x)).max() < 1e-4
    with pytest.raises(HrtrackError, match=r"float32 batch \(B,3,64,64\)"):
        run(x[:, :, :32])
    with pytest.raises(HrtrackError, match="float32"):
        run(x.astype(np.float64))


@pytest.mark.slow
def test_engines_built_from_torch_export_once_per_weights(exported, tmp_path, monkeypatch):
    monkeypatch.setenv("HRTRACK_CACHE", str(tmp_path))
    model = exported["model"]
    build_engine(model, "onnxruntime", (64, 64))
    first = sorted((tmp_path / "onnx").glob("*.onnx"))
    stamp = first[0].stat().st_mtime_ns
    build_engine(model, "onnxruntime", (64, 64))
    assert sorted((tmp_path / "onnx").glob("*.onnx")) == first and first[0].stat().st_mtime_ns == stamp
    changed = calibrate_like_trained(build_pose_model(TINY), TINY.input_size, seed=1)
    build_engine(changed, "onnxruntime", (64, 64))
    assert len(list((tmp_path / "onnx").glob("*.onnx"))) == 2


def test_auto_is_the_measured_fastest_installed_engine_on_cpu():
    fastest = next(e for e in CPU_PREFERENCE if e in installed_engines())
    assert resolve_engine("auto", torch.device("cpu")) == fastest
    assert resolve_engine("auto", torch.device("cuda")) == "torch"
    assert resolve_engine("auto", torch.device("cpu"), onnx_file=True) in ONNX_ENGINES
    assert resolve_engine("openvino", torch.device("cpu")) == "openvino"
    with pytest.raises(HrtrackError, match="unknown engine 'tensorrt'"):
        resolve_engine("tensorrt", torch.device("cpu"))


@pytest.mark.parametrize("package", ["onnxruntime", "openvino"])
def test_missing_package_names_the_deploy_extra(exported, monkeypatch, package):
    monkeypatch.setitem(sys.modules, package, None)  # what `import` sees when the package is absent
    with pytest.raises(HrtrackError) as err:
        build_engine(exported["onnx"], package, (64, 64))
    assert str(err.value) == f"{package} is not installed: pip install 'hrtrack[deploy]'"
    assert package not in installed_engines()
    assert resolve_engine("auto", torch.device("cpu")) != package


def test_cli_missing_package_is_one_line(exported, monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "onnx", None)
    rc = main(["export", "--pose-weights", str(exported["weights"]), "--config", str(exported["yaml"]),
               "--out", str(tmp_path / "m.onnx")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err == "hrtrack export: error: onnx is not installed: pip install 'hrtrack[deploy]'"


def test_onnx_file_for_another_input_size_or_layout_is_refused(exported, tmp_path):
    with pytest.raises(HrtrackError, match=r"exported for input 64x64 \(w x h\); the model config's input is 96x128"):
        build_engine(exported["onnx"], "auto", (96, 128))
    with pytest.raises(HrtrackError, match="the torch engine runs a torch model"):
        build_engine(exported["onnx"], "torch", (64, 64))
    from hrtrack.skeleton import COCO

    with pytest.raises(HrtrackError, match="exported for the 'posetrack' joint layout; the model config's is 'coco'"):
        PoseEstimator(exported["onnx"], (64, 64), engine="auto", layout=COCO, device="cpu")
    assert main(["export", "--pose-weights", str(exported["weights"]), "--config", str(exported["yaml"]),
                 "--out", str(tmp_path / "m.pt")]) == 2


class Recording(Engine):
    """A real engine that also records every batch it is handed."""

    def __init__(self, inner: Engine):
        super().__init__(inner.input_size, inner.device)
        self.inner = inner
        self.batches: list[np.ndarray] = []

    def run(self, batch: np.ndarray) -> np.ndarray:
        self.batches.append(batch.copy())
        return self.inner(batch)


def _people_frame(seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    frame = rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)
    boxes = np.array([[10, 10, 60, 110], [70, 5, 120, 100], [100, 30, 150, 115]], np.float32)
    return frame, boxes


def test_flip_test_sends_crops_and_mirrors_in_one_engine_call(exported):
    frame, boxes = _people_frame()
    recording = Recording(TorchEngine(exported["model"], (64, 64), fold_bn=False, channels_last=False))
    est = PoseEstimator(recording, (64, 64), layout=POSETRACK)
    poses = est(frame, boxes)
    (batch,) = recording.batches
    assert len(batch) == 2 * len(boxes)
    np.testing.assert_array_equal(batch[3:], batch[:3, :, :, ::-1])
    plain = PoseEstimator(exported["model"], (64, 64), layout=POSETRACK, device="cpu", fold_bn=False,
                          channels_last=False)(frame, boxes)
    np.testing.assert_allclose(poses.keypoints, plain.keypoints, atol=1e-3)


@pytest.mark.parametrize("engine", ONNX_ENGINES)
def test_estimator_poses_do_not_depend_on_the_engine(exported, engine):
    frame, boxes = _people_frame()
    reference = PoseEstimator(exported["model"], (64, 64), engine="torch", layout=POSETRACK, device="cpu",
                              fold_bn=False, channels_last=False)(frame, boxes)
    for network in (exported["model"], exported["onnx"]):
        poses = PoseEstimator(network, (64, 64), engine=engine, layout=POSETRACK, device="cpu")(frame, boxes)
        # Heatmaps agree to 1e-4 (above); a sub-pixel peak can only move where two pixels nearly tie.
        np.testing.assert_allclose(poses.keypoint_scores, reference.keypoint_scores, atol=1e-4)
        close = np.linalg.norm(poses.keypoints - reference.keypoints, axis=-1) < 1e-3
        assert close.mean() > 0.95, close.mean()
        np.testing.assert_allclose(poses.boxes, reference.boxes)


@pytest.mark.slow
def test_track_runs_an_exported_file_exactly_as_the_same_weights(exported, synthetic_dataset, tmp_path):
    gt = synthetic_dataset.root / "annotations" / "posetrack17" / "val"
    common = ["--images", str(synthetic_dataset.root), "--annotations", str(gt), "--set",
              f"estimator.model={exported['yaml']}", "--detections",
              str(synthetic_dataset.root / "detections" / "val.json"), "--device", "cpu", "--no-progress",
              "--engine", "onnxruntime"]
    assert main(["track-dataset", "--out", str(tmp_path / "pth"), "--pose-weights", str(exported["weights"]),
                 *common]) == 0
    assert main(["track-dataset", "--out", str(tmp_path / "onnx"), "--pose-weights", str(exported["onnx"]),
                 *common]) == 0
    names = sorted(p.name for p in (tmp_path / "pth").glob("*.json"))
    assert names and names == sorted(p.name for p in (tmp_path / "onnx").glob("*.json"))
    for name in names:
        assert (tmp_path / "pth" / name).read_bytes() == (tmp_path / "onnx" / name).read_bytes()


def _checkpoints(model: nn.Module) -> dict[str, object]:
    state = model.state_dict()
    backbone = {k: v for k, v in state.items() if not k.startswith("final_layer.")}
    return {
        "official": state,
        "dataparallel": {"state_dict": {f"module.{k}": v for k, v in state.items()}},
        "mmpose": {"state_dict": {**{f"backbone.{k}": v for k, v in backbone.items()},
                                  **{f"keypoint_head.{k}": v for k, v in state.items() if k.startswith("final_layer.")}},
                   "meta": {"epoch": 210}},
        "hrtrack training state": {"model": state, "epoch": 3, "optimizer": {"lr": 1e-3}},
        "imagenet backbone": {**backbone, "incre_modules.0.0.conv1.weight": torch.zeros(1),
                              "classifier.weight": torch.zeros(1000, 2048)},
    }


@pytest.mark.slow
def test_every_checkpoint_kind_exports(exported, tmp_path, capsys):
    """Official, DataParallel, MMPose, hrtrack's training state and an ImageNet backbone all export;
    the exported heatmaps equal those of the network the checkpoint loads into."""
    from hrtrack.models import load_pose_weights

    x = np.random.default_rng(2).standard_normal((2, 3, 64, 64)).astype(np.float32)
    for kind, content in _checkpoints(exported["model"]).items():
        path = tmp_path / f"{kind.replace(' ', '_')}.pth"
        torch.save(content, path)
        out = path.with_suffix(".onnx")
        torch.manual_seed(0)  # the head that an ImageNet backbone leaves freshly initialised
        assert main(["export", "--pose-weights", str(path), "--config", str(exported["yaml"]), "--out", str(out)]) == 0
        assert "wrote" in capsys.readouterr().out
        torch.manual_seed(0)
        loaded = build_pose_model(TINY)
        expected_kind = load_pose_weights(loaded, path)
        assert onnx_metadata(out)["weights_kind"] == expected_kind == ("imagenet" if "imagenet" in kind else "official")
        if ONNX_ENGINES:
            got = build_engine(out, ONNX_ENGINES[0], (64, 64))(x)
            assert np.abs(got - eager(loaded, x)).max() < 1e-4, kind


@pytest.mark.slow
def test_int8_export_is_calibrated_on_the_data_and_runs_on_every_onnx_engine(exported, synthetic_dataset, tmp_path,
                                                                             capsys):
    common = ["--pose-weights", str(exported["weights"]), "--config", str(exported["yaml"])]
    out = tmp_path / "int8.onnx"
    assert main(["export", *common, "--out", str(out), "--int8"]) == 2
    assert "--int8 and --calibration ROOT go together" in capsys.readouterr().err
    assert main(["export", *common, "--out", str(out), "--int8", "--calibration", str(synthetic_dataset.root),
                 "--calibration-crops", "32"]) == 0
    meta = onnx_metadata(out)
    assert meta["quantization"].startswith("int8") and meta["joint_layout"] == "posetrack"
    ops = {node.op_type for node in onnx.load(str(out)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    x = np.random.default_rng(4).standard_normal((4, 3, 64, 64)).astype(np.float32)
    expected = eager(exported["model"], x)
    for engine in ONNX_ENGINES:
        got = build_engine(out, engine, (64, 64))(x)
        # Quantised, not equal: close in the large, far from the fp32 engines' 1e-4.
        assert np.corrcoef(got.ravel(), expected.ravel())[0, 1] > 0.9, engine
        assert np.abs(got - expected).max() > 1e-4

"""The detectors offered (torchvision's, local weights only), their input-size policy and their one-line errors."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from hrtrack.errors import HrtrackError
from hrtrack.models.detector import (DETECTOR_ARCHS, PersonDetector, check_detector, detector_network,
                                     detector_weights_path, load_detector_model)

# torchvision's official file names of the COCO weights, written out here as a user would find them.
OFFICIAL_FILES = {
    "fasterrcnn_resnet50_fpn": "fasterrcnn_resnet50_fpn_coco-258fb6c6.pth",
    "fasterrcnn_resnet50_fpn_v2": "fasterrcnn_resnet50_fpn_v2_coco-dd69338a.pth",
    "retinanet_resnet50_fpn_v2": "retinanet_resnet50_fpn_v2_coco-5905b1c5.pth",
    "fcos_resnet50_fpn": "fcos_resnet50_fpn_coco-99b0c9b7.pth",
    "fasterrcnn_mobilenet_v3_large_fpn": "fasterrcnn_mobilenet_v3_large_fpn-fb6a3cc7.pth",
    "fasterrcnn_mobilenet_v3_large_320_fpn": "fasterrcnn_mobilenet_v3_large_320_fpn-907ea3f9.pth",
    "ssdlite320_mobilenet_v3_large": "ssdlite320_mobilenet_v3_large_coco-a79551df.pth",
}
# The ResNet-50 detectors take seconds to build and run: the slow set.
HEAVY = {"fasterrcnn_resnet50_fpn", "fasterrcnn_resnet50_fpn_v2", "retinanet_resnet50_fpn_v2", "fcos_resnet50_fpn"}

pytestmark = pytest.mark.usefixtures("one_thread")


def _arch_params():
    return [pytest.param(a, marks=pytest.mark.slow) if a in HEAVY else a for a in OFFICIAL_FILES]


def test_the_offered_detectors_are_the_issue_list():
    assert set(DETECTOR_ARCHS) == set(OFFICIAL_FILES)


@pytest.mark.parametrize("arch", list(OFFICIAL_FILES))
def test_missing_weights_name_the_official_file_in_one_line(torch_home, arch):
    with pytest.raises(HrtrackError) as err:
        detector_weights_path(arch)
    message = str(err.value)
    assert "\n" not in message
    assert OFFICIAL_FILES[arch] in message and str(torch_home / "hub" / "checkpoints") in message
    assert not (torch_home / "hub").exists()  # nothing downloaded, nothing created


def test_unknown_name_lists_every_choice_with_its_file():
    with pytest.raises(HrtrackError) as err:
        check_detector("yolov8n")
    message = str(err.value)
    assert "\n" not in message and "'yolov8n'" in message
    for arch, file_name in OFFICIAL_FILES.items():
        assert f"{arch} ({file_name})" in message


@pytest.fixture(scope="module")
def ssdlite_state(tmp_path_factory):
    torch.manual_seed(2)
    path = tmp_path_factory.mktemp("ssd") / "ssdlite.pth"
    torch.save(detector_network("ssdlite320_mobilenet_v3_large").state_dict(), path)
    return path


def test_weights_of_another_detector_do_not_fit_and_the_choices_are_listed(ssdlite_state):
    with pytest.raises(HrtrackError) as err:
        load_detector_model("fasterrcnn_mobilenet_v3_large_320_fpn", ssdlite_state)
    message = str(err.value)
    assert "\n" not in message
    assert "do not fit 'fasterrcnn_mobilenet_v3_large_320_fpn'" in message and str(ssdlite_state) in message
    assert all(arch in message for arch in OFFICIAL_FILES)


def test_weights_load_from_the_cache_under_their_official_name(torch_home, ssdlite_state):
    folder = torch_home / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    os.link(ssdlite_state, folder / OFFICIAL_FILES["ssdlite320_mobilenet_v3_large"])
    detector = PersonDetector.from_weights("ssdlite320_mobilenet_v3_large", device="cpu")
    want = torch.load(ssdlite_state, weights_only=True)
    name = "head.classification_head.module_list.0.1.weight"
    torch.testing.assert_close(detector.model.state_dict()[name], want[name])


@pytest.mark.parametrize("arch", _arch_params())
def test_every_detector_runs_with_random_weights_in_the_box_contract(arch):
    torch.manual_seed(0)
    size = {} if not DETECTOR_ARCHS[arch].resizable else {"min_size": 96, "max_size": 128}
    # Threshold 0 and no cap: random weights spread their scores over all 91 classes, and the
    # contract must hold for whatever comes out.
    network = detector_network(arch, score_threshold=0.0, max_detections=10 ** 6, **size)
    detector = PersonDetector(network, score_threshold=0.0, max_detections=10 ** 6, device="cpu")
    frame = np.random.default_rng(1).integers(0, 256, (90, 160, 3), dtype=np.uint8)
    boxes = detector(frame)
    assert boxes.boxes.dtype == np.float32 and boxes.scores.dtype == np.float32 and len(boxes) > 0
    assert np.all(np.diff(boxes.scores) <= 0)
    # In frame pixels whatever size the network saw.
    assert np.all(boxes.boxes >= -1e-3) and np.all(boxes.boxes[:, [0, 2]] <= 160 + 1e-3)
    assert np.all(boxes.boxes[:, [1, 3]] <= 90 + 1e-3)


# ---------------------------------------------------------------- input-size policy

@pytest.mark.parametrize("arch,policy,want_hw", [
    # 1280x720 under torchvision's rule: shorter side to min_size unless the longer passes max_size.
    ("fasterrcnn_mobilenet_v3_large_fpn", {}, (749, 1333)),              # its own 800 / 1333; 720 * 1333/1280 = 749.8, floored
    ("fasterrcnn_mobilenet_v3_large_fpn", {"max_size": 640}, (360, 640)),
    ("fasterrcnn_mobilenet_v3_large_fpn", {"min_size": 480, "max_size": 2000}, (480, 853)),
    ("fasterrcnn_mobilenet_v3_large_320_fpn", {}, (320, 568)),           # its own 320 / 640; 1280 * 320/720 = 568.9, floored
    ("ssdlite320_mobilenet_v3_large", {}, (320, 320)),                   # fixed
])
def test_input_size_policy_sets_the_size_the_network_sees(arch, policy, want_hw):
    network = detector_network(arch, **policy)
    images, _ = network.transform([torch.zeros(3, 720, 1280)])
    assert tuple(images.image_sizes[0]) == want_hw


@pytest.mark.parametrize("arch,policy,needle", [
    ("ssdlite320_mobilenet_v3_large", {"max_size": 640}, "fixed 320x320"),
    ("fcos_resnet50_fpn", {"min_size": 16}, "detector.min_size must be an integer in 32..4096"),
    ("fcos_resnet50_fpn", {"max_size": 640.0}, "detector.max_size must be an integer in 32..4096"),
    ("fcos_resnet50_fpn", {"min_size": 800, "max_size": 640}, "must not exceed"),
])
def test_bad_size_policy_is_one_line(arch, policy, needle):
    with pytest.raises(HrtrackError, match=needle) as err:
        check_detector(arch, **policy)
    assert "\n" not in str(err.value)


# ---------------------------------------------------------------- the command line

def test_cli_unknown_detector_and_misfit_weights_are_one_line(capsys, tmp_path, torch_home, ssdlite_state):
    from hrtrack.cli import main

    frames = tmp_path / "frames"
    frames.mkdir()
    import cv2

    cv2.imwrite(str(frames / "000.jpg"), np.zeros((64, 96, 3), np.uint8))
    common = ["track", str(frames), "--out", str(tmp_path / "r.json"), "--pose-weights", str(tmp_path / "none.pth"),
              "--device", "cpu", "--no-progress"]
    assert main([*common, "--detector", "yolo"]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and "unknown detector 'yolo'" in err[0]
    assert all(arch in err[0] for arch in OFFICIAL_FILES)
    assert main([*common, "--set", "detector.model=ssdlite320_mobilenet_v3_large", "--set",
                 "detector.max_size=512"]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and "fixed 320x320" in err[0]


@pytest.fixture(scope="module")
def tiny_pose(instant_hrnet):
    """A small HRNet that builds in an instant, so the command gets as far as loading the detector."""
    weights, model_yaml = instant_hrnet
    return ["--pose-weights", str(weights), "--set", f"estimator.model={model_yaml}", "--set", "estimator.engine=torch"]


def test_cli_weights_of_another_detector_are_one_line_with_the_choices(capsys, tmp_path, torch_home, ssdlite_state,
                                                                       tiny_pose):
    import cv2

    from hrtrack.cli import main

    frames = tmp_path / "frames"
    frames.mkdir()
    cv2.imwrite(str(frames / "000.jpg"), np.zeros((64, 96, 3), np.uint8))
    rc = main(["track", str(frames), "--out", str(tmp_path / "r.json"), *tiny_pose, "--device", "cpu",
               "--no-progress", "--detector", "fasterrcnn_mobilenet_v3_large_320_fpn",
               "--detector-weights", str(ssdlite_state)])
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert rc == 2 and len(err) == 1, err
    assert "do not fit 'fasterrcnn_mobilenet_v3_large_320_fpn'" in err[0]
    assert all(arch in err[0] for arch in OFFICIAL_FILES)
    assert not (tmp_path / "r.json").exists()


# ---------------------------------------------------------------- the backbone on ONNX Runtime and OpenVINO

@pytest.fixture(scope="module")
def lively_mobilenet():
    """fasterrcnn_mobilenet_v3_large_320_fpn whose convolutions are He-initialised, so features are O(1)
    (torchvision's own init makes them vanish into denormals, where runtimes round differently)."""
    torch.manual_seed(4)
    model = detector_network("fasterrcnn_mobilenet_v3_large_320_fpn", score_threshold=0.0)
    for m in model.backbone.modules():
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
    with torch.no_grad():  # untrained logits pick any of 91 classes; make every box a "person" scoring alike
        model.roi_heads.box_predictor.cls_score.weight.zero_()
        model.roi_heads.box_predictor.cls_score.bias.zero_()
        model.roi_heads.box_predictor.cls_score.bias[1] = 5.0
    return model.eval()


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["onnxruntime", "openvino"])
def test_backbone_engine_gives_torchs_features_and_boxes(lively_mobilenet, engine):
    import copy

    from hrtrack.models.detector_engines import OnnxBackbone, run_backbone_on

    reference = lively_mobilenet
    model = run_backbone_on(copy.deepcopy(reference), "fasterrcnn_mobilenet_v3_large_320_fpn", engine, threads=1)
    assert isinstance(model.backbone, OnnxBackbone)
    x = torch.rand(1, 3, 320, 576, generator=torch.Generator().manual_seed(0))  # a 16:9 frame as transformed
    with torch.no_grad():
        want, got = reference.backbone(x), model.backbone(x)
    assert list(got) == list(want)
    for name in want:
        scale = float(want[name].abs().max())
        assert scale > 1e-3
        torch.testing.assert_close(got[name], want[name], atol=1e-4 * scale, rtol=1e-4)
    frame = np.random.default_rng(2).integers(0, 256, (180, 320, 3), dtype=np.uint8)
    a = PersonDetector(reference, score_threshold=0.0, device="cpu")(frame)
    b = PersonDetector(model, score_threshold=0.0, device="cpu")(frame)
    assert len(a) > 0 and len(b) == len(a)
    # Untrained box deltas pass through exp(), which stretches the engines' 1e-4 feature differences:
    # measured up to 0.15 px on a 320-px frame; a wrong engine is off by tens of pixels.
    np.testing.assert_allclose(b.boxes, a.boxes, atol=0.5)
    np.testing.assert_allclose(b.scores, a.scores, atol=1e-4)


def test_unknown_detector_engine_is_one_line():
    from hrtrack.models.detector_engines import check_detector_engine

    with pytest.raises(HrtrackError, match="detector.engine must be one of torch, onnxruntime, openvino, got 'tensorrt'"):
        check_detector_engine("tensorrt")

"""`--fast`: the overlay table on top of a preset, what it leaves alone, and the lines it prints."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from hrtrack.config import CONFIG_ROOT, load_config, to_dict
from hrtrack.pipeline.config import PipelineConfig
from hrtrack.pipeline.build import build_pipeline
from hrtrack.pipeline.fast import BF16_FLAGS, FAST_OVERLAY, cpu_flags, cpu_precision, plan_fast

AMX = frozenset({"avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_int8", "avx512_vnni"})
VNNI_ONLY = frozenset({"avx2", "avx512f", "avx512_vnni"})
PLAIN = frozenset({"sse2", "avx2"})
MOBILENET_FILE = "fasterrcnn_mobilenet_v3_large_fpn-fb6a3cc7.pth"


def _cfg(*overrides: str) -> PipelineConfig:
    return load_config(PipelineConfig, "cpu_w32_256x192", "pipeline", list(overrides))


def _with_mobilenet_weights(torch_home) -> None:
    folder = torch_home / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    (folder / MOBILENET_FILE).write_bytes(b"placeholder: only its presence is looked at")


def test_every_entry_on_a_cpu_with_bf16_and_the_faster_detector_at_hand(torch_home):
    _with_mobilenet_weights(torch_home)
    plan = plan_fast(_cfg("estimator.engine=torch"), user_keys=["estimator.engine"], device="cpu", flags=AMX)
    assert plan.overrides == ("detector.every=4", "detector.adaptive=true", "tracking.reid=true",
                              "detector.model=fasterrcnn_mobilenet_v3_large_fpn", "detector.max_size=640",
                              "detector.engine=onnxruntime", "estimator.flip_test=false", "estimator.precision=bf16",
                              "flow.scale=0.5")
    assert plan.notes == ()
    assert "\n" not in plan.line and plan.line.startswith("--fast changes detector.every 1 -> 4, ")
    for text in ("tracking.reid false -> true",
                 "detector.model fasterrcnn_resnet50_fpn -> fasterrcnn_mobilenet_v3_large_fpn",
                 "detector.max_size null -> 640", "estimator.flip_test true -> false",
                 "estimator.precision auto -> bf16", "flow.scale 1.0 -> 0.5"):
        assert text in plan.line
    fast = load_config(PipelineConfig, "cpu_w32_256x192", "pipeline", list(plan.overrides))
    assert (fast.detector.every, fast.detector.adaptive, fast.estimator.flip_test, fast.flow.scale) == (4, True, False,
                                                                                                          0.5)
    assert fast.tracking.reid and fast.tracking.reid_threshold == 0.4


def test_missing_fast_detector_weights_keep_the_preset_detector_and_say_so(torch_home):
    plan = plan_fast(_cfg("estimator.engine=torch"), device="cpu", flags=AMX)
    assert not any(o.startswith("detector.model=") for o in plan.overrides)
    assert "detector.max_size=640" in plan.overrides  # the R50 detector takes the size policy too
    assert len(plan.notes) == 1
    assert MOBILENET_FILE in plan.notes[0] and str(torch_home / "hub" / "checkpoints") in plan.notes[0]
    assert "keeps detector fasterrcnn_resnet50_fpn" in plan.notes[0]


@pytest.mark.parametrize("flags,needle", [
    (VNNI_ONLY, "it has int8 ones (avx512_vnni): `hrtrack export --int8`"),
    (PLAIN, "nor int8 ones (avx512_vnni, avx_vnni, amx_int8)"),
])
def test_a_cpu_without_bf16_keeps_fp32_with_one_line(torch_home, flags, needle):
    plan = plan_fast(_cfg(), device="cpu", flags=flags, need_detector_weights=False)
    assert not any(o.startswith("estimator.precision") for o in plan.overrides)
    lines = [n for n in plan.notes if "bf16" in n]
    assert len(lines) == 1 and "\n" not in lines[0]
    assert lines[0].startswith("--fast keeps HRNet fp32: this CPU has no bf16 instructions (avx512_bf16, amx_bf16)")
    assert needle in lines[0]
    assert "estimator.flip_test=false" in plan.overrides  # the other entries still apply


def test_the_onnxruntime_engine_keeps_fp32(torch_home):
    plan = plan_fast(_cfg("estimator.engine=onnxruntime"), device="cpu", flags=AMX, need_detector_weights=False)
    assert not any(o.startswith("estimator.precision") for o in plan.overrides)
    assert plan.notes == ("--fast keeps HRNet fp32: the onnxruntime engine runs fp32 only (--engine openvino runs "
                          "bf16)",)


def test_the_users_own_settings_are_left_as_set(torch_home):
    _with_mobilenet_weights(torch_home)
    cfg = _cfg("detector.every=2", "flow.scale=0.75", "detector.model=fcos_resnet50_fpn")
    plan = plan_fast(cfg, user_keys=["detector.every", "flow.scale", "detector.model"], device="cpu", flags=PLAIN)
    keys = [o.split("=")[0] for o in plan.overrides]
    assert "tracking.reid" in keys
    assert "detector.every" not in keys and "flow.scale" not in keys and "detector.model" not in keys
    assert "detector.every" not in plan.line and "flow.scale" not in plan.line


def test_the_detector_on_every_frame_keeps_re_identification_and_needs_no_adaptive_keyframes(torch_home):
    plan = plan_fast(_cfg("detector.every=1"), user_keys=["detector.every"], device="cpu", flags=PLAIN,
                     need_detector_weights=False)
    keys = [o.split("=")[0] for o in plan.overrides]
    assert "detector.every" not in keys and "detector.adaptive" not in keys and "adaptive" not in plan.line
    assert "tracking.reid" in keys and "estimator.flip_test" in keys


def test_a_detection_file_or_own_detector_weights_leave_the_detector_alone(torch_home):
    _with_mobilenet_weights(torch_home)
    plan = plan_fast(_cfg(), device="cpu", flags=PLAIN, runs_detector=False)
    assert not any(o.startswith("detector.") for o in plan.overrides) and "detector" not in plan.line
    # Re-identification is there to take back what keyframes lose: without keyframes it stays off.
    assert "tracking.reid=true" not in plan.overrides and "reid" not in plan.line
    plan = plan_fast(_cfg(), device="cpu", flags=PLAIN, own_detector_weights=True)
    keys = [o.split("=")[0] for o in plan.overrides]
    assert "detector.model" not in keys and "detector.every" in keys


def test_a_preset_with_reidentification_on_keeps_its_own_settings(torch_home):
    cfg = load_config(PipelineConfig, "flowtrack_plus_w48_384x288", "pipeline", ["tracking.reid_threshold=0.6"])
    plan = plan_fast(cfg, device="cpu", flags=PLAIN, need_detector_weights=False)
    assert "detector.every=4" in plan.overrides
    assert not any(o.startswith("tracking.") for o in plan.overrides) and "reid" not in plan.line


def test_a_cheaper_preset_detector_is_kept_and_a_fixed_size_one_gets_no_size_policy(torch_home):
    _with_mobilenet_weights(torch_home)
    plan = plan_fast(_cfg("detector.model=ssdlite320_mobilenet_v3_large"), device="cpu", flags=PLAIN)
    keys = [o.split("=")[0] for o in plan.overrides]
    assert "detector.model" not in keys and "detector.max_size" not in keys
    plan = plan_fast(_cfg("detector.max_size=512"), device="cpu", flags=PLAIN, need_detector_weights=False)
    assert "detector.max_size=640" not in plan.overrides  # never enlarges the input


@pytest.mark.parametrize("preset", sorted(p.stem for p in (CONFIG_ROOT / "pipeline").glob("*.yaml")))
def test_the_overlay_is_valid_on_every_preset(torch_home, preset):
    cfg = load_config(PipelineConfig, preset, "pipeline")
    plan = plan_fast(cfg, device="cpu", flags=AMX, need_detector_weights=False)
    fast = to_dict(load_config(PipelineConfig, preset, "pipeline", list(plan.overrides)))
    for override in plan.overrides:
        key, value = override.split("=")
        section, name = key.split(".")
        assert json.dumps(fast[section][name]) == json.dumps(FAST_OVERLAY[key][0])
    # Nothing outside the overlay moves.
    before = to_dict(cfg)
    moved = {f"{s}.{k}" for s in before for k in before[s] if before[s][k] != fast[s][k]}
    assert moved <= set(FAST_OVERLAY)


# ---------------------------------------------------------------- the command line

@pytest.fixture(scope="module")
def tiny(instant_hrnet):
    weights, model_yaml = instant_hrnet
    return ["--pose-weights", str(weights), "--set", f"estimator.model={model_yaml}",
            "--engine", "torch", "--set", "output.person_threshold=0", "--device", "cpu", "--no-progress"]


def test_cli_fast_prints_its_changes_once_on_stderr(capsys, tmp_path, torch_home, tiny, one_thread):
    from hrtrack.cli import main

    frames = tmp_path / "frames"
    frames.mkdir()
    dets = []
    for i in range(3):
        image = np.full((96, 128, 3), 40, np.uint8)
        cv2.rectangle(image, (30 + 3 * i, 10), (70 + 3 * i, 90), (200, 170, 140), -1)
        cv2.imwrite(str(frames / f"{i:03d}.jpg"), image)
        dets.append({"image_id": i, "file_name": f"{i:03d}.jpg", "category_id": 1, "bbox": [28 + 3 * i, 8, 44, 84],
                     "score": 0.9})
    (tmp_path / "dets.json").write_text(json.dumps(dets))
    out = tmp_path / "r.json"
    rc = main(["track", str(frames), *tiny, "--detections", str(tmp_path / "dets.json"), "--out", str(out), "--fast"])
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert rc == 0, err
    changes = [line for line in err if "--fast changes" in line]
    assert len(changes) == 1
    assert changes[0] == ("hrtrack track: --fast changes estimator.flip_test true -> false, "
                          + ("estimator.precision auto -> bf16, " if cpu_flags() & set(BF16_FLAGS) else "")
                          + "flow.scale 1.0 -> 0.5 (docs/deployment.md, fast mode)")
    fallback = [line for line in err if "no bf16 instructions" in line]
    assert len(fallback) == (0 if cpu_flags() & set(BF16_FLAGS) else 1)
    assert len(err) == 1 + len(fallback)
    saved = load_config(PipelineConfig, str(tmp_path / "r.config.yaml"), "pipeline")
    # With a detection file the detector settings stay: keyframes would save nothing.
    assert (saved.estimator.flip_test, saved.flow.scale, saved.detector.every) == (False, 0.5, 1)
    assert len(json.loads(out.read_text())["annolist"]) == 3


def test_cli_track_dataset_takes_detect_every_and_fast(capsys, tmp_path, torch_home, tiny, synthetic_dataset,
                                                       one_thread):
    from hrtrack.cli import main

    root = synthetic_dataset.root
    gt = root / "annotations" / "posetrack17" / "val"
    out = tmp_path / "pred"
    assert main(["track-dataset", "--images", str(root), "--annotations", str(gt), "--out", str(out),
                 "--detections", str(root / "detections" / "val.json"), *tiny, "--detect-every", "2", "--fast",
                 "--set", "propagation.min_joint_score=-1"]) == 0
    err = capsys.readouterr().err
    assert err.count("--fast changes") == 1
    saved = load_config(PipelineConfig, str(out / "config.yaml"), "pipeline")
    assert saved.detector.every == 2 and saved.estimator.flip_test is False
    written = sorted(p.name for p in out.glob("*.json"))
    assert written == sorted(p.name for p in gt.glob("*.json"))


@pytest.mark.parametrize("precision, device, flags, kept", [
    ("bf16", "cpu", frozenset(), "fp32"),
    ("bf16", "cpu", frozenset({"avx512_bf16"}), "bf16"),
    ("bf16", "cpu", frozenset({"amx_bf16"}), "bf16"),
    ("fp32", "cpu", frozenset(), "fp32"),
    ("auto", "cpu", frozenset(), "auto"),
])
def test_bf16_asked_of_a_cpu_without_it_falls_back_to_fp32_with_one_line(precision, device, flags, kept):
    chosen, note = cpu_precision(precision, device, flags)
    assert chosen == kept
    assert (note is not None) == (kept != precision)
    if note is not None:
        assert note == ("estimator.precision bf16 falls back to fp32: this CPU has no bf16 instructions "
                        "(avx512_bf16, amx_bf16)")


def test_the_pipeline_says_once_that_it_runs_fp32(monkeypatch, capsys, instant_hrnet):
    import hrtrack.pipeline.fast as fast

    weights, model_yaml = instant_hrnet
    monkeypatch.setattr(fast, "cpu_flags", lambda: frozenset({"avx2"}))
    cfg = load_config(PipelineConfig, "synthetic_tiny", "pipeline",
                      [f"estimator.model={model_yaml}", "estimator.precision=bf16", "estimator.engine=torch"])
    built = build_pipeline(cfg, weights, device="cpu")
    err = capsys.readouterr().err.splitlines()
    assert err == ["hrtrack: estimator.precision bf16 falls back to fp32: this CPU has no bf16 instructions "
                   "(avx512_bf16, amx_bf16)"]
    # The network runs in fp32: its output dtype is float32 with no autocast.
    assert built.pipeline.estimator.engine.amp_dtype is None

"""The opt-in `*_plus` presets and the benchmark rows that measure them (variant (j), its parts, (gj), (h4j)),
and the benchmark's shared network run that rows differing only after the estimator use.

The paper presets must keep their behaviour: everything beyond the paper is off there, and the plus presets
differ from their base presets only in the settings of the parts switched on, by the same values in both.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from hrtrack.config import CONFIG_ROOT, load_config, to_dict
from hrtrack.pipeline.build import build_postprocess, build_tracker
from hrtrack.pipeline.config import PipelineConfig
from hrtrack.skeleton import POSETRACK

PAIRS = [("synthetic_tiny", "synthetic_tiny_plus"), ("flowtrack_w48_384x288", "flowtrack_plus_w48_384x288")]
PAPER = ["flowtrack_w48_384x288", "cpu_w32_256x192", "synthetic_tiny"]
SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "benchmark_synthetic.py"


@pytest.fixture(scope="module")
def bench():
    """scripts/benchmark_synthetic.py as a module."""
    spec = importlib.util.spec_from_file_location("benchmark_synthetic", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def _flat(preset: str) -> dict[str, object]:
    d = to_dict(load_config(PipelineConfig, preset, "pipeline"))
    return {f"{s}.{k}": v for s in d for k, v in d[s].items()}


def _changes(base: str, plus: str) -> dict[str, object]:
    a, b = _flat(base), _flat(plus)
    return {k: b[k] for k in a if a[k] != b[k]}


@pytest.mark.parametrize("preset", PAPER)
def test_paper_presets_leave_everything_beyond_the_paper_off(preset):
    cfg = load_config(PipelineConfig, preset, "pipeline")
    assert build_tracker(cfg.tracking, POSETRACK, fps=30.0).reid is None
    assert build_postprocess(cfg, num_joints=POSETRACK.num_joints, live=False, fps=30.0) is None
    assert build_postprocess(cfg, num_joints=POSETRACK.num_joints, live=True, fps=30.0) is None


def test_plus_presets_change_only_the_parts_beyond_the_paper_and_alike():
    changes = [_changes(base, plus) for base, plus in PAIRS]
    assert changes[0] == changes[1]
    assert changes[0]  # something is switched on
    assert all(k.startswith(("tracking.reid", "postprocess.")) for k in changes[0])


@pytest.mark.parametrize("plus", [p for _, p in PAIRS])
def test_plus_presets_build_what_they_switch_on(plus):
    cfg = load_config(PipelineConfig, plus, "pipeline")
    reid = build_tracker(cfg.tracking, POSETRACK, fps=25.0).reid
    assert (reid is not None) == cfg.tracking.reid
    if reid is not None:
        assert reid.max_frames == max(1, round(cfg.tracking.reid_seconds * 25))
    post = build_postprocess(cfg, num_joints=POSETRACK.num_joints, live=False, fps=30.0)
    half = cfg.postprocess.window // 2 if cfg.postprocess.smoother == "savgol" else 0
    assert post is not None and post.lag == cfg.postprocess.interpolate_gap + half
    live = build_postprocess(cfg, num_joints=POSETRACK.num_joints, live=True, fps=30.0)
    # A live source never waits for the future: no gap filling, no window, so no lag.
    assert live is None or live.lag == 0


def test_each_part_row_switches_on_one_part_as_the_preset_would(bench):
    base, plus = _flat(bench.BASE), _flat(bench.PLUS)
    changed = {k for k in base if base[k] != plus[k]}
    parts = {"j1": "tracking.reid", "j2": "postprocess.interpolate_gap", "j3": "postprocess.smoother"}
    # Each part's settings as the preset changes them: re-identification's, gap filling's, the smoother's.
    owned = {"j1": {k for k in changed if k.startswith("tracking.reid")},
             "j2": {k for k in changed if k.startswith("postprocess.interpolate")}}
    owned["j3"] = changed - owned["j1"] - owned["j2"]
    for row, switch in parts.items():
        overrides = dict(o.split("=", 1) for o in bench.VARIANTS[row][1])
        assert switch in overrides
        moved = _flat_with(bench.BASE, bench.VARIANTS[row][1])
        assert {k for k in base if base[k] != moved[k]} == set(overrides)
        # Where the preset switches the part on, the row uses all of the preset's values for it.
        if plus[switch] != base[switch]:
            assert set(overrides) == owned[row]
            assert all(json.dumps(moved[k]) == json.dumps(plus[k]) for k in overrides)


def _flat_with(preset: str, overrides: list[str]) -> dict[str, object]:
    d = to_dict(load_config(PipelineConfig, preset, "pipeline", overrides))
    return {f"{s}.{k}": v for s in d for k, v in d[s].items()}


def test_result_line_has_c_and_j_keys(bench):
    row = {"mAP": 69.04, "MOTA": 58.66, "ID switches": 188, "duplicate tracks": [1, 0, 1, 2], "HOTA": 54.7,
           "AssA": 61.25, "IDF1": 69.9, "jitter": 4.125}
    line = bench.result_line("preset=hard", {"c": row, "j": {**row, "ID switches": 90, "jitter": 1.994}})
    values = dict(re.findall(r"(\w+)=(\S+)", line))
    assert line.startswith("RESULT preset=hard ")
    assert values["c_idsw"] == "188" and values["j_idsw"] == "90"
    assert values["c_AssA"] == "61.2" and values["c_MOTA"] == "58.7" and values["c_dups"] == "4"
    assert values["c_jitter"] == "4.12" and values["j_jitter"] == "1.99"
    assert not any(k.endswith("_ceiling") for k in values)


def test_result_line_has_the_identity_ceiling_where_measured(bench):
    row = {"mAP": 70.7, "MOTA": 62.7, "ID switches": 161, "duplicate tracks": [1, 0, 0, 1], "HOTA": 54.9,
           "AssA": 62.7, "IDF1": 73.6, "jitter": 3.72}
    ceiling = {"MOTA": 63.84, "ID switches": 83, "AssA": 64.46, "IDF1": 76.1}
    values = dict(re.findall(r"(\w+)=(\S+)", bench.result_line("", {"c": {**row, "ceiling": ceiling}, "j": row})))
    assert (values["c_idsw_ceiling"], values["c_AssA_ceiling"], values["c_MOTA_ceiling"]) == ("83", "64.5", "63.8")
    assert "j_idsw_ceiling" not in values and values["j_idsw"] == "161"


def test_rows_on_the_plus_preset_are_known_rows(bench):
    assert bench.ON_PLUS <= set(bench.VARIANTS) | set(bench.ORACLES)
    # The oracle rows through the plus preset see the same poses as the rows they repeat.
    assert bench.ORACLES["gj"][1:] == bench.ORACLES["g"][1:]
    assert bench.ORACLES["h4j"][1:] == bench.ORACLES["h4"][1:]
    assert (CONFIG_ROOT / "pipeline" / f"{bench.PLUS}.yaml").is_file()


@pytest.mark.slow
def test_oracle_rows_write_every_frame_through_the_post_processing(bench, tmp_path):
    from hrtrack.demo import DemoSettings
    from hrtrack.formats.posetrack import read_sequence
    from hrtrack.synthetic import Difficulty

    settings = replace(DemoSettings(), val_videos=1, frames=14, size=(320, 180), people=(2, 3))
    # Everyone hidden for a while and someone leaving and coming back: gaps and re-entries to post-process.
    hidden = Difficulty(occlusion_frames=4, occluded_share=1.0, reentry_frames=5, reentry_share=1.0)
    bed = bench.make_bed("t", settings, hidden, tmp_path / "cache")
    runs = {}
    for name in (bench.BASE, bench.PLUS):
        group = bench.Group({name: load_config(PipelineConfig, name, "pipeline")}, ("truth", 0.0), bed.detections)
        fps = bench.run_group(group, bed, None, {name: tmp_path / name})
        assert fps[name] > 0
        runs[name] = [read_sequence(p) for p in sorted((tmp_path / name).glob("*.json"))]
    truth = [read_sequence(p) for p in sorted(bed.gt_dir.glob("*.json"))]
    for gt, base, plus in zip(truth, runs[bench.BASE], runs[bench.PLUS]):
        # The post-processing hands frames back late; each must land on its own frame, labels and all.
        assert len(plus.frames) == len(base.frames) == len(gt.frames) == 14
        assert [f.is_labeled for f in plus.frames] == [f.is_labeled for f in gt.frames]
        assert [f.image for f in plus.frames] == [f.image for f in gt.frames]
        # Ground-truth boxes, one pose per true person: gap filling only adds, smoothing never drops a pose.
        assert all(len(p.track_ids) >= len(b.track_ids) for p, b in zip(plus.frames, base.frames))
        people = np.array([len(b.track_ids) for b in base.frames])
        assert people.sum() > 0


@pytest.mark.slow
def test_rows_sharing_one_network_run_write_what_their_own_runs_write(bench, tmp_path):
    # The benchmark runs the network once for the rows that differ only in association and post-processing;
    # each row's files must be byte for byte those of `track-dataset` with that row's config alone.
    from hrtrack.demo import DemoSettings
    from hrtrack.models.reference import reference_model
    from hrtrack.pipeline.track_dataset import track_dataset
    from hrtrack.synthetic import Difficulty

    settings = replace(DemoSettings(), val_videos=1, frames=24, size=(320, 180), people=(3, 4))
    bed = bench.make_bed("t", settings, Difficulty.preset("hard"), tmp_path / "cache")
    model = reference_model()
    # Unmoved and moved previous poses, OKS and box IoU, re-identification and post-processing; no flip
    # test, to halve the network's time.
    rows = ["b", "c", "e", "j"]
    configs = {k: load_config(PipelineConfig, bench.PLUS if k in bench.ON_PLUS else bench.BASE, "pipeline",
                              [f"estimator.model={model.model_yaml}", "estimator.flip_test=false",
                               *bench.VARIANTS[k][1]]) for k in rows}
    assert len({bench.upstream(c) for c in configs.values()}) == 1
    # Without propagation the network sees other boxes: (a) cannot share the run.
    no_flow = load_config(PipelineConfig, bench.BASE, "pipeline", bench.VARIANTS["a"][1])
    assert bench.upstream(no_flow) != bench.upstream(configs["c"])
    fps = bench.run_group(bench.Group(configs, None, bed.detections), bed, model,
                          {k: tmp_path / "shared" / k for k in rows})
    assert all(v > 0 for v in fps.values())
    ids = {}
    for key, cfg in configs.items():
        alone = tmp_path / "alone" / key
        track_dataset(cfg, images_root=bed.root, annotations=bed.gt_dir, out_dir=alone, pose_weights=model.weights,
                      detections=bed.detections, device="cpu", progress=False)
        for path in sorted(bed.gt_dir.glob("*.json")):
            shared = (tmp_path / "shared" / key / path.name).read_bytes()
            assert shared == (alone / path.name).read_bytes(), key
            ids[key] = shared
    # The rows are not all one: on the hard clips each association or post-processing writes other files.
    assert len(set(ids.values())) == len(rows)


@pytest.mark.parametrize("flags, bf16", [(frozenset(), False), (frozenset({"amx_bf16"}), True)])
def test_fast_row_takes_the_fast_overlay_less_what_the_simulated_detector_cannot_show(bench, flags, bf16):
    cfg = load_config(PipelineConfig, bench.BASE, "pipeline")
    overrides, line = bench.fast_overrides(cfg, flags)
    # Keyframes (adaptive) with re-identification, no flip test, half-size flow; bf16 only with the CPU's instructions.
    expected = {"detector.every=4", "detector.adaptive=true", "tracking.reid=true", "estimator.flip_test=false",
                "flow.scale=0.5"}
    assert set(overrides) == expected | ({"estimator.precision=bf16"} if bf16 else set())
    assert ("no bf16 instructions" in line) != bf16
    moved = load_config(PipelineConfig, bench.BASE, "pipeline", overrides)
    assert moved.detector.model == cfg.detector.model and moved.detector.max_size == cfg.detector.max_size

#!/usr/bin/env python
"""Per-stage time per frame of the tracking pipeline, and end-to-end fps.

Stages: read frames (JPEG decode), detect, flow, propagate+nms, crop, hrnet,
decode heatmaps, oks-nms, associate, write.

The whole pipeline with its detector (`--size WxH`): synthetic clips of that
size with N people each (`--people`, the generator's crowding axis), their
frames JPEG-encoded in memory and decoded as a video's would be. The real
detector network runs for its time (seeded random weights with a trained
network's magnitudes, `lively_detector`: the cost does not depend on their
values, as long as they are not denormal), but the boxes handed downstream are
the generator's simulated detections of the same frame, so every other stage
sees real people. HRNet
(`--model`) has seeded weights with a trained network's magnitudes. Each mode
(`--modes`: `default`, the preset as it is; `fast`, the preset under `--fast`'s
overlay) runs the same frames, the modes interleaved round after round. Printed:
ms per frame of each stage and fps for each mode, then each stage against its
floor (the networks' FLOPs over this CPU's measured peak, the other stages' bytes
over its measured memory bandwidth), and `RESULT default_fps=... fast_fps=...
speedup=...` over all clips.

  python scripts/bench_pipeline.py --size 1280x720 --people 4 8 --detector fasterrcnn_resnet50_fpn --modes default fast

Without `--size`, the presets given (`--presets`) run on the demo's held-out
synthetic videos (generated and cached like `hrtrack demo`):

  synthetic_tiny     the reference synthetic model (reference/, the demo's; --train: a
                     small HRNet trained here by the demo's recipe, cached)
  cpu_w32_256x192    HRNet-W32 256x192 with DIS flow (random weights unless
                     --pose-weights: the timing does not depend on the values)
  flowtrack_w48_384x288  the paper's W48 384x288 (use on a GPU; --flow dis
                     unless FlowNet2 weights are given)

Their detections come from the synthetic detection file; --faster-rcnn instead runs
torchvision's Faster R-CNN with random weights to time the detector stage (its
boxes are then thresholded away, so the other stages see no people). Ends with a
`RESULT` line.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="+", default=["synthetic_tiny", "cpu_w32_256x192"])
    parser.add_argument("--pose-weights", type=Path, help="weights for the non-synthetic presets")
    parser.add_argument("--sequences", type=int, default=2, help="val sequences to run (default: %(default)s)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--train", action="store_true",
                        help="synthetic_tiny: a model trained here by the demo's recipe instead of the reference model")
    parser.add_argument("--faster-rcnn", action="store_true", help="time a (random-weight) Faster R-CNN detector")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    whole = parser.add_argument_group("the whole pipeline with its detector (--size)")
    whole.add_argument("--size", metavar="WxH", help="frame size of the synthetic clips, e.g. 1280x720")
    whole.add_argument("--people", type=int, nargs="+", default=[4, 8], metavar="N",
                       help="people per clip, one clip each (default: %(default)s)")
    whole.add_argument("--detector", default="fasterrcnn_resnet50_fpn", metavar="NAME",
                       help="the default mode's detector (default: %(default)s)")
    whole.add_argument("--modes", nargs="+", default=["default", "fast"], choices=("default", "fast"))
    whole.add_argument("--model", default="w32_256x192", choices=("w32_256x192", "w48_384x288"),
                       help="HRNet (default: %(default)s)")
    whole.add_argument("--preset", default="cpu_w32_256x192", help="the pipeline preset (default: %(default)s)")
    whole.add_argument("--frames", type=int, default=12, help="frames per clip (default: %(default)s)")
    whole.add_argument("--rounds", type=int, default=1, help="interleaved rounds (default: %(default)s)")
    whole.add_argument("--seed", type=int, default=0)
    whole.add_argument("--time-detectors", nargs="+", metavar="NAME",
                       help="instead: time these detectors alone on one --size frame, each with torch and with its "
                            "backbone on --detector-engines, interleaved --rounds times ('all': every one offered)")
    whole.add_argument("--detector-engines", nargs="+", default=["torch", "onnxruntime", "openvino"],
                       help="(--time-detectors) default: %(default)s")
    whole.add_argument("--max-size", type=int, nargs="+", default=[0], metavar="PX",
                       help="(--time-detectors) input-size policies to time, 0 for the detector's own")
    args = parser.parse_args()
    if args.size and args.time_detectors:
        time_detectors(args)
    elif args.size:
        whole_pipeline(args)
    else:
        presets(args)


def presets(args: argparse.Namespace) -> None:
    """The presets on the demo's held-out clips (the mode without --size)."""
    import torch

    from hrtrack.config import load_config
    from hrtrack.formats.posetrack import read_sequence, sequence_files
    from hrtrack.demo import DemoSettings, cache_root, prepare_data, prepare_model
    from hrtrack.formats.detections import read_coco_detections
    from hrtrack.models import PersonDetector, build_pose_model, load_model_config
    from hrtrack.pipeline.build import build_pipeline, precomputed_fn
    from hrtrack.pipeline.config import PipelineConfig
    from hrtrack.fileio import resolve_under
    from hrtrack.pipeline.runner import RunStats, track_source
    from hrtrack.pipeline.sinks import PoseTrackSink
    from hrtrack.pipeline.sources import ImageListSource

    settings = DemoSettings.quick(args.train)
    root = cache_root() / "demo"
    root.mkdir(parents=True, exist_ok=True)
    data = prepare_data(settings, root)
    gt_dir = data / "annotations" / "posetrack17" / "val"
    names = sorted(sequence_files(gt_dir))[:args.sequences]
    dets = read_coco_detections(data / "detections" / "val.json")
    print(f"machine: {torch.get_num_threads()} torch threads, device {args.device}; "
          f"{len(names)} synthetic sequences of {settings.frames} frames, {settings.size[0]}x{settings.size[1]}")
    results = {}
    for preset in args.presets:
        overrides = list(args.overrides)
        if preset == "synthetic_tiny":
            model = prepare_model(settings, root)
            weights = model.weights
            overrides.insert(0, f"estimator.model={model.model_yaml}")
            print(f"synthetic_tiny: {model.description}")
        else:
            weights = args.pose_weights
            if weights is None:
                cfg = load_config(PipelineConfig, preset, "pipeline", overrides)
                weights = Path(tempfile.mkdtemp()) / "random.pth"
                model_cfg = load_model_config(cfg.estimator.model)
                torch.save(build_pose_model(model_cfg).state_dict(), weights)
        cfg = load_config(PipelineConfig, preset, "pipeline", overrides)
        built = build_pipeline(cfg, weights, device=args.device)
        if args.faster_rcnn:
            import torchvision

            net = torchvision.models.detection.fasterrcnn_resnet50_fpn(weights=None, weights_backbone=None)
            detector = PersonDetector(net, score_threshold=cfg.detector.score_threshold,
                                      batch_size=cfg.detector.batch, device=args.device)
            detect = lambda frames: detector.detect_batch([f.image for f in frames])  # noqa: E731
        else:
            detect = precomputed_fn(dets)
        total = RunStats()
        stage: dict[str, float] = {}
        out = Path(tempfile.mkdtemp())
        for name in names:
            seq = read_sequence(gt_dir / f"{name}.json")
            source = ImageListSource([resolve_under(data, fr.image, name) for fr in seq.frames],
                                     names=[fr.image for fr in seq.frames], description=name)
            sink = PoseTrackSink(out / f"{name}.json", "posetrack17", built.model_config.joint_layout,
                                 cfg.output.joint_threshold)
            stats = track_source(source, detect, built.pipeline, [sink], progress=False)
            total.frames += stats.frames
            total.seconds += stats.seconds
            total.people += stats.people
            for k, v in stats.stage_ms.items():
                stage[k] = stage.get(k, 0.0) + v * stats.frames
        total.stage_ms = {k: v / total.frames for k, v in stage.items()}
        print(f"\n{preset}: {total.people / total.frames:.1f} people per frame")
        print(total.table())
        results[preset] = total
    print("RESULT " + " ".join(f"{p}_fps={s.fps:.2f} {p}_ms={1000 * s.seconds / s.frames:.1f}"
                               for p, s in results.items()))


# ---------------------------------------------------------------- the whole pipeline with its detector

# Stages that handle a few hundred numbers a frame: their floor is nil at this scale.
TINY_STAGES = ("propagate+nms", "oks-nms", "associate", "write", "postprocess")


@dataclass
class Clip:
    """A rendered synthetic clip: its frames as JPEG bytes and the simulated detector's boxes of each frame."""

    people: int
    size: tuple[int, int]
    jpegs: list = field(default_factory=list)
    detections: list = field(default_factory=list)


@dataclass
class Totals:
    """One mode on one clip, summed over rounds."""

    frames: int = 0
    seconds: float = 0.0
    detected: int = 0
    crops: int = 0
    people: int = 0
    stage_seconds: dict = field(default_factory=dict)

    def add(self, stats, crops: int) -> None:
        self.frames += stats.frames
        self.seconds += stats.seconds
        self.detected += stats.detected
        self.crops += crops
        self.people += stats.people
        for stage, ms in stats.stage_ms.items():
            self.stage_seconds[stage] = self.stage_seconds.get(stage, 0.0) + ms * stats.frames / 1000

    def ms(self, stage: str) -> float:
        return 1000 * self.stage_seconds.get(stage, 0.0) / max(self.frames, 1)

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds else 0.0


def render_clips(size: tuple[int, int], people: list[int], frames: int, seed: int) -> list[Clip]:
    """One clip per people count: frames JPEG-encoded (quality 90) and the simulated detections."""
    import cv2

    from hrtrack.synthetic import Difficulty, SimulatedDetector, SyntheticVideo

    clips = []
    for number, n in enumerate(people):
        crowd = Difficulty(people=(n, n))  # the generator's crowding axis: exactly n people
        video = SyntheticVideo(seed=seed, number=number, size=size, frames=frames, people=(n, n), difficulty=crowd)
        detector = SimulatedDetector.for_clip(seed, video, crowd)
        clip = Clip(n, size)
        for image, truth in video:
            clip.jpegs.append(cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes())
            clip.detections.append(detector(truth))
        clips.append(clip)
    return clips


def measure_peak_flops(dtype_name: str = "fp32", n: int = 2048, repeats: int = 7) -> float:
    """FLOP/s of a large matrix product on torch's threads, the best of `repeats` (the networks' ceiling)."""
    import torch

    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[dtype_name]
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * n ** 3 / best


def measure_bandwidth(megabytes: int = 128, repeats: int = 7) -> float:
    """Bytes/s of a large numpy copy (read + write counted), the best of `repeats`."""
    import numpy as np

    src = np.ones(megabytes * 2 ** 20, np.uint8)
    dst = np.empty_like(src)
    np.copyto(dst, src)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        np.copyto(dst, src)
        best = min(best, time.perf_counter() - t)
    return 2 * src.nbytes / best


def lively_detector(name: str, seed: int = 0, **options):
    """Detector `name` with seeded random weights whose features are O(1), as a trained detector's are.

    torchvision's default initialisation makes a detector's features vanish into denormal numbers, which
    the CPU runs an order of magnitude slower; `torch.set_flush_denormal` would reach only the calling
    thread, not torch's workers. He-initialised convolutions keep the values normal, so the time is a
    trained detector's. `options` go to `detector_network`.
    """
    import torch

    from hrtrack.models.detector import detector_network

    torch.manual_seed(seed)
    network = detector_network(name, **options)
    with torch.no_grad():
        for m in network.modules():
            if isinstance(m, torch.nn.Conv2d):
                torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
    return network


def network_flops(model, inputs) -> int:
    """FLOPs of one forward pass (2 per multiply-accumulate; convolutions and matrix products)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        model(inputs)
    return counter.get_total_flops()


def stage_floors(cfg, totals: Totals, size: tuple[int, int], *, hrnet_flops: int, detector_flops: int,
                 input_size: tuple[int, int], num_joints: int, peak: float, bandwidth: float) -> dict[str, float]:
    """ms per frame below which each stage cannot go: networks by FLOPs / peak, the rest by bytes / bandwidth."""
    w, h = size
    frames = max(totals.frames, 1)
    crops = totals.crops / frames
    flips = 2 if cfg.estimator.flip_test else 1
    cw, ch = input_size
    s = cfg.flow.scale
    # Flow: both frames to grey, the field at its scale, and (when scaled) both frames shrunk and the field grown.
    flow_bytes = 2 * w * h * 4 + s * s * w * h * 8 + (2 * w * h * 3 + w * h * 8 if s < 1 else 0)
    ms = 1000.0
    return {
        "read frames": ms * w * h * 3 / bandwidth,
        "detect": ms * detector_flops * totals.detected / frames / peak,
        "flow": ms * flow_bytes / bandwidth,
        "crop": ms * crops * (cw * ch * 3 + flips * cw * ch * 3 * 4) / bandwidth,
        "hrnet": ms * crops * flips * hrnet_flops / peak,
        "decode heatmaps": ms * crops * num_joints * (cw // 4) * (ch // 4) * 4 * (2 * flips - 1) / bandwidth,
    }


class CountingEstimator:
    """The pipeline's estimator, counting the boxes (crops) it is given."""

    def __init__(self, estimator) -> None:
        self.inner = estimator
        self.crops = 0

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    def __call__(self, frame_bgr, boxes_xyxy, box_scores=None, timer=None):
        self.crops += len(boxes_xyxy)
        return self.inner(frame_bgr, boxes_xyxy, box_scores, timer=timer)


def whole_pipeline(args: argparse.Namespace) -> None:
    """The --size mode (see the module docstring)."""
    import cv2
    import numpy as np
    import torch

    from hrtrack.config import load_config
    from hrtrack.models import build_pose_model, load_model_config
    from hrtrack.models.calibrate import calibrate_like_trained
    from hrtrack.models.detector import PersonDetector
    from hrtrack.models.detector_engines import run_backbone_on
    from hrtrack.pipeline.build import build_keyframes, build_pipeline
    from hrtrack.pipeline.config import PipelineConfig
    from hrtrack.pipeline.fast import plan_fast
    from hrtrack.pipeline.runner import track_source
    from hrtrack.pipeline.sinks import PoseTrackSink
    from hrtrack.pipeline.sources import Frame, FrameSource

    try:
        size = tuple(int(v) for v in args.size.lower().split("x"))
        assert len(size) == 2 and min(size) >= 64
    except (ValueError, AssertionError):
        raise SystemExit(f"--size expects WxH like 1280x720, got {args.size!r}") from None
    user = [f"estimator.model={args.model}", f"detector.model={args.detector}", *args.overrides]
    base = load_config(PipelineConfig, args.preset, "pipeline", user)
    configs = {"default": base}
    if "fast" in args.modes:
        # As `--fast`: the overlay under the user's own settings (not the detector: that names the default mode's).
        keys = [o.split("=", 1)[0] for o in args.overrides]
        plan = plan_fast(base, user_keys=keys, device=args.device, need_detector_weights=False)
        plan.announce("fast mode")
        configs["fast"] = load_config(PipelineConfig, args.preset, "pipeline", [*user[:2], *plan.overrides,
                                                                                *args.overrides])
    modes = [m for m in args.modes if m in configs]
    threads = torch.get_num_threads()
    print(f"machine: {threads} torch threads, device {args.device}; clips {size[0]}x{size[1]}, {args.frames} frames, "
          f"people {args.people}, {args.rounds} round(s), HRNet {args.model}", flush=True)

    model_cfg = load_model_config(args.model)
    net = calibrate_like_trained(build_pose_model(model_cfg), model_cfg.input_size)
    weights = Path(tempfile.mkdtemp()) / f"{args.model}_seeded.pth"
    torch.save(net.state_dict(), weights)
    hrnet_flops = network_flops(net, torch.zeros(1, 3, model_cfg.input_size[1], model_cfg.input_size[0]))
    clips = render_clips(size, args.people, args.frames, args.seed)
    frame = cv2.imdecode(np.frombuffer(clips[0].jpegs[0], np.uint8), cv2.IMREAD_COLOR)

    pipelines, detectors, detector_flops = {}, {}, {}
    for mode in modes:
        cfg = configs[mode]
        built = build_pipeline(cfg, weights, device=args.device)
        built.pipeline.estimator = CountingEstimator(built.pipeline.estimator)
        pipelines[mode] = built.pipeline
        d = cfg.detector
        network = lively_detector(d.model, score_threshold=d.score_threshold, max_detections=max(100, d.max_detections),
                                  min_size=d.min_size, max_size=d.max_size)
        rgb = torch.from_numpy(np.ascontiguousarray(frame[..., ::-1])).permute(2, 0, 1).float() / 255
        detector_flops[mode] = network_flops(network, [rgb])
        detectors[mode] = PersonDetector(run_backbone_on(network, d.model, d.engine), score_threshold=d.score_threshold,
                                         max_detections=d.max_detections, batch_size=d.batch, device=args.device)
        print(f"{mode}: detector {d.model} (input policy min {d.min_size or 'own'}, max {d.max_size or 'own'}, "
              f"{detector_flops[mode] / 1e9:.1f} GFLOP a frame, backbone on {d.engine}), every {d.every}"
              f"{' adaptive' if d.adaptive else ''}; "
              f"HRNet {hrnet_flops / 1e9:.1f} GFLOP a crop, flip test {cfg.estimator.flip_test}, precision "
              f"{cfg.estimator.precision}, engine {cfg.estimator.engine}; flow {cfg.flow.method} scale "
              f"{cfg.flow.scale}", flush=True)

    class JpegClip(FrameSource):
        description = "synthetic clip"

        def __init__(self, clip: Clip) -> None:
            self.clip = clip

        def __len__(self) -> int:
            return len(self.clip.jpegs)

        def frames(self):
            for i, data in enumerate(self.clip.jpegs):
                yield Frame(i, f"{i:06d}", cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR))

    def detect_fn(detector, clip: Clip):
        def detect(frames):
            detector.detect_batch([f.image for f in frames])  # the network's time; its boxes are not used
            return [clip.detections[f.index] for f in frames]
        return detect

    out = Path(tempfile.mkdtemp())
    totals = {(clip.people, mode): Totals() for clip in clips for mode in modes}
    ratios = []
    for _ in range(args.rounds):
        for clip in clips:
            seconds = {}
            for mode in modes:
                cfg, pipeline = configs[mode], pipelines[mode]
                sink = PoseTrackSink(out / f"{mode}.json", "posetrack17", model_cfg.joint_layout,
                                     cfg.output.joint_threshold)
                before = pipeline.estimator.crops
                stats = track_source(JpegClip(clip), detect_fn(detectors[mode], clip), pipeline, [sink],
                                     detect_batch=cfg.detector.batch, progress=False, keyframes=build_keyframes(cfg))
                totals[(clip.people, mode)].add(stats, pipeline.estimator.crops - before)
                seconds[mode] = stats.seconds
            if "default" in seconds and "fast" in seconds:
                ratios.append(seconds["default"] / seconds["fast"])

    peaks = {p: measure_peak_flops(p) for p in {"bf16" if configs[m].estimator.precision == "bf16" else "fp32"
                                                for m in modes}}
    bandwidth = measure_bandwidth()
    print(f"\nfloors: peak {', '.join(f'{p} {v / 1e9:.0f} GFLOP/s' for p, v in peaks.items())} "
          f"({2048}x{2048} matrix product, {threads} threads); memory {bandwidth / 1e9:.1f} GB/s (numpy copy)")
    for clip in clips:
        floors = {}
        for mode in modes:
            cfg = configs[mode]
            floors[mode] = stage_floors(cfg, totals[(clip.people, mode)], size, hrnet_flops=hrnet_flops,
                                        detector_flops=detector_flops[mode], input_size=model_cfg.input_size,
                                        num_joints=model_cfg.num_joints,
                                        peak=peaks["bf16" if cfg.estimator.precision == "bf16" else "fp32"],
                                        bandwidth=bandwidth)
        print_clip_table(clip, modes, {m: totals[(clip.people, m)] for m in modes}, floors)
    overall = {m: Totals() for m in modes}
    for (_, mode), t in totals.items():
        overall[mode].frames += t.frames
        overall[mode].seconds += t.seconds
    fps = {m: overall[m].fps for m in modes}
    line = " ".join(f"{m}_fps={fps[m]:.2f}" for m in modes)
    if ratios:
        line += f" speedup={statistics.median(ratios):.2f}"
    print("RESULT " + line)


def print_clip_table(clip: Clip, modes: list[str], totals: dict[str, Totals], floors: dict[str, dict[str, float]]) -> None:
    """Stages against their floors for one clip, then what limits 10 fps."""
    stages = []
    for mode in modes:
        stages += [s for s in totals[mode].stage_seconds if s not in stages]
    order = ["read frames", "detect", "flow", "propagate+nms", "crop", "hrnet", "decode heatmaps", "oks-nms",
             "associate", "postprocess", "write"]
    stages = [s for s in order if s in stages] + [s for s in stages if s not in order]
    w = clip.size
    print(f"\n{clip.people} people, {w[0]}x{w[1]}: " + "; ".join(
        f"{m} {totals[m].people / max(totals[m].frames, 1):.1f} poses and {totals[m].crops / max(totals[m].frames, 1):.1f} "
        f"crops a frame, detector on {totals[m].detected}/{totals[m].frames} frames" for m in modes))
    header = f"{'stage':<17}" + "".join(f"{m + ' ms':>11}{'floor':>8}" for m in modes)
    print(header)
    for stage in stages:
        row = f"{stage:<17}"
        for mode in modes:
            floor = floors[mode].get(stage)
            row += f"{totals[mode].ms(stage):>11.1f}" + (f"{floor:>8.1f}" if floor is not None else f"{'~0':>8}")
        print(row)
    row = f"{'end to end':<17}"
    for mode in modes:
        t = totals[mode]
        row += f"{1000 * t.seconds / max(t.frames, 1):>11.1f}{sum(floors[mode].values()):>8.1f}"
    print(row)
    print(f"{'fps':<17}" + "".join(f"{totals[m].fps:>11.2f}{1000 / max(sum(floors[m].values()), 1e-9):>8.1f}"
                                   for m in modes))
    last = modes[-1]
    floor_ms = sum(floors[last].values())
    worst = max(floors[last], key=floors[last].get)
    gaps = {s: totals[last].ms(s) - floors[last].get(s, 0.0) for s in stages}
    widest = max(gaps, key=gaps.get)
    if floor_ms > 100:
        print(f"{last}: 10 fps is below the floors ({floor_ms:.0f} ms a frame), mostly {worst} "
              f"({floors[last][worst]:.0f} ms)")
    elif 1000 * totals[last].seconds / max(totals[last].frames, 1) > 100:
        print(f"{last}: the floors allow {1000 / floor_ms:.0f} fps; the widest gap to its floor is {widest} "
              f"({totals[last].ms(widest):.0f} ms against {floors[last].get(widest, 0.0):.1f})")


def time_detectors(args: argparse.Namespace) -> None:
    """The --time-detectors mode: GFLOP and ms per frame of each detector, its engines interleaved.

    Each detector's row is printed as soon as it is measured, so a long run on a busy machine shows its
    progress; the engines of one detector run round after round, so load falls on them alike.
    """
    import numpy as np
    import torch

    from hrtrack.models.detector import DETECTOR_ARCHS, PersonDetector, check_detector
    from hrtrack.models.detector_engines import run_backbone_on

    w, h = (int(v) for v in args.size.lower().split("x"))
    frame = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
    rgb = torch.from_numpy(frame).permute(2, 0, 1).float() / 255
    names = list(DETECTOR_ARCHS) if args.time_detectors == ["all"] else args.time_detectors
    for name in names:
        check_detector(name)
    print(f"{torch.get_num_threads()} threads, one {w}x{h} frame, {args.rounds} interleaved rounds", flush=True)
    print(f"{'detector':<40}{'max_size':>9}{'GFLOP':>8}"
          + "".join(f"{e + ' ms':>15}" for e in args.detector_engines), flush=True)
    result = []
    for name in names:
        for max_size in [m for m in args.max_size if m == 0 or DETECTOR_ARCHS[name].resizable] or [0]:
            # FLOPs are counted on a pass of the torch network of its own: the runtimes hide theirs.
            gflop = network_flops(lively_detector(name, max_size=max_size or None), [rgb]) / 1e9
            runs = {}
            for engine in args.detector_engines:
                network = lively_detector(name, max_size=max_size or None)
                runs[engine] = PersonDetector(run_backbone_on(network, name, engine), device="cpu")
                runs[engine](frame)  # warm-up (and the export, on first use)
            times: dict[str, list[float]] = {e: [] for e in runs}
            for _ in range(args.rounds):
                for engine, detector in runs.items():
                    start = time.perf_counter()
                    detector(frame)
                    times[engine].append(time.perf_counter() - start)
            row = [1000 * statistics.median(times[e]) for e in args.detector_engines]
            print(f"{name:<40}{max_size or 'own':>9}{gflop:>8.1f}" + "".join(f"{v:>15.0f}" for v in row), flush=True)
            tag = f"{name}{'_' + str(max_size) if max_size else ''}"
            result += [f"{tag}_gflop={gflop:.1f}"] + [f"{tag}_{e}_ms={v:.0f}"
                                                       for e, v in zip(args.detector_engines, row)]
    print("RESULT " + " ".join(result))


if __name__ == "__main__":
    main()

#!/usr/bin/env python
"""Per-stage time per frame of the tracking pipeline, and end-to-end fps.

Stages: read frames (JPEG decode), detect, flow, propagate+nms, crop, hrnet,
decode heatmaps, oks-nms, associate, write. Runs on the demo's held-out synthetic
videos (generated and cached like `hrtrack demo`) for each preset given:

  synthetic_tiny     the demo's small HRNet (trained once, cached)
  cpu_w32_256x192    HRNet-W32 256x192 with DIS flow (random weights unless
                     --pose-weights: the timing does not depend on the values)
  flowtrack_w48_384x288  the paper's W48 384x288 (use on a GPU; --flow dis
                     unless FlowNet2 weights are given)

Detections come from the synthetic detection file; --faster-rcnn instead runs
torchvision's Faster R-CNN with random weights to time the detector stage (its
boxes are then thresholded away, so the other stages see no people). Ends with a
`RESULT` line.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="+", default=["synthetic_tiny", "cpu_w32_256x192"])
    parser.add_argument("--pose-weights", type=Path, help="weights for the non-synthetic presets")
    parser.add_argument("--sequences", type=int, default=2, help="val sequences to run (default: %(default)s)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--faster-rcnn", action="store_true", help="time a (random-weight) Faster R-CNN detector")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()

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

    settings = DemoSettings.quick()
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
            weights, model_yaml = prepare_model(settings, root)
            overrides.insert(0, f"estimator.model={model_yaml}")
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


if __name__ == "__main__":
    main()

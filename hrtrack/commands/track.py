"""`hrtrack track` (one video) and `hrtrack track-dataset` (a PoseTrack split)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..config import dump_config, load_config
from ..errors import HrtrackError
from ..pipeline.config import PipelineConfig

# PoseTrack results formats (hrtrack.formats.posetrack.FORMATS, not imported: --help stays light), then COCO.
POSETRACK_FORMATS = ("posetrack17", "posetrack18", "posetrack21")
FORMATS = (*POSETRACK_FORMATS, "coco", "csv")
# hrtrack.models.engines.ENGINES and "auto", spelled out here: importing models would load torch.
ENGINE_CHOICES = ("auto", "torch", "onnxruntime", "openvino")


def add_pipeline_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments shared by `track` and `track-dataset`."""
    parser.add_argument("--pose-weights", type=Path, metavar="W",
                        help="HRNet checkpoint: official (pose_hrnet_w48_384x288.pth), MMPose, or hrtrack's; "
                             "or an ONNX file from `hrtrack export` (onnxruntime / openvino engines)")
    parser.add_argument("--config", default="cpu_w32_256x192", metavar="PRESET",
                        help="pipeline preset in configs/pipeline/ or a YAML path (default: %(default)s; "
                             "the paper: flowtrack_w48_384x288)")
    det = parser.add_mutually_exclusive_group()
    det.add_argument("--detector-weights", type=Path, metavar="D",
                     help="the detector's COCO weights (torchvision's file, e.g. fasterrcnn_resnet50_fpn_coco-258fb6c6.pth); "
                          "default: torchvision's cache $TORCH_HOME/hub/checkpoints/")
    det.add_argument("--detections", type=Path, metavar="FILE",
                     help="precomputed COCO-format detections instead of running a detector")
    parser.add_argument("--detector", metavar="NAME",
                        help="torchvision detector: fasterrcnn_resnet50_fpn (the presets'), fasterrcnn_resnet50_fpn_v2, "
                             "retinanet_resnet50_fpn_v2, fcos_resnet50_fpn, fasterrcnn_mobilenet_v3_large_fpn, "
                             "fasterrcnn_mobilenet_v3_large_320_fpn, ssdlite320_mobilenet_v3_large; overrides "
                             "detector.model")
    parser.add_argument("--detect-every", type=int, metavar="K",
                        help="run the detector on every K-th frame only (K >= 1; 1: every frame, the presets'); flow "
                             "propagation carries the boxes between; overrides detector.every")
    parser.add_argument("--fast", action="store_true",
                        help="the fastest settings whose accuracy cost is measured (keyframe detection with "
                             "re-identification, a faster detector, no flip test, bf16 HRNet where the CPU has it, "
                             "half-size flow), laid over "
                             "the preset; prints what it changes (docs/deployment.md)")
    parser.add_argument("--flow", metavar="NAME", help="flow backend: dis, farneback or a ptlflow model name "
                                                       "(flownet2, raft, ...); overrides the preset")
    parser.add_argument("--flow-weights", type=Path, metavar="F", help="checkpoint of a ptlflow model")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: %(default)s)")
    parser.add_argument("--engine", choices=ENGINE_CHOICES,
                        help="what runs HRNet: auto (the fastest installed on the CPU, torch on CUDA), torch, "
                             "onnxruntime or openvino; overrides the preset's estimator.engine")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, e.g. --set tracking.threshold=0.5 (repeatable)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def load_pipeline_config(args: argparse.Namespace) -> PipelineConfig:
    """The preset, then `--fast`'s overlay (announced on stderr), then the user's own settings."""
    overrides = list(args.overrides)
    if args.flow:
        overrides.append(f"flow.method={args.flow}")
    if args.engine:
        overrides.append(f"estimator.engine={args.engine}")
    if args.detector is not None:
        overrides.append(f"detector.model={args.detector}")
    if args.detect_every is not None:
        overrides.append(f"detector.every={args.detect_every}")
    cfg = load_config(PipelineConfig, args.config, "pipeline", overrides)
    if not args.fast:
        return cfg
    from ..pipeline.build import check_detector_config
    from ..pipeline.fast import plan_fast

    # A bad detector setting is one error line, not the --fast line followed by it.
    check_detector_config(cfg)

    weights = args.pose_weights
    plan = plan_fast(cfg, user_keys=[o.split("=", 1)[0] for o in overrides], device=args.device,
                     runs_detector=args.detections is None, own_detector_weights=args.detector_weights is not None,
                     onnx_weights=weights is not None and Path(weights).suffix == ".onnx")
    plan.announce(f"hrtrack {args.command}")
    return load_config(PipelineConfig, args.config, "pipeline", [*plan.overrides, *overrides])


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("track", help="track the people of a video: skeletons with ids",
                              description="Run FlowTrack (detector, flow box propagation, HRNet, flow-OKS greedy "
                                          "association) on a video file, an image folder, a glob, a camera index "
                                          "or a stream URL, and write tracked skeletons.")
    p.add_argument("input", help="video file, image folder, glob ('frames/*.jpg'), camera index or URL")
    add_pipeline_arguments(p)
    p.add_argument("--out", type=Path, metavar="RESULTS.json", help="results file")
    p.add_argument("--format", choices=FORMATS, default="posetrack17",
                   help="results format (default: %(default)s); csv: one row per frame, track and joint, "
                        "plus RESULTS.tracks.csv with a row per track")
    p.add_argument("--render", type=Path, metavar="OUT.mp4", help="also write a video with skeletons and ids")
    p.add_argument("--on-bad-image", choices=("stop", "skip"), default="stop",
                   help="an unreadable image in a folder: stop with an error or skip it with a warning")
    p.set_defaults(func=run_track)

    d = subparsers.add_parser("track-dataset", help="run the tracker over every sequence of a PoseTrack split",
                              description="Run FlowTrack on each sequence of a PoseTrack 2017/2018/21 split and write one "
                                          "results file per sequence, named like its ground-truth file, with exactly "
                                          "its frames. Resumable (finished sequences are skipped) and shardable "
                                          "(--shard K/N, or one share per rank under torchrun).")
    d.add_argument("--images", required=True, type=Path, metavar="ROOT",
                   help="dataset root that the ground truth's image paths are relative to")
    d.add_argument("--annotations", required=True, type=Path, metavar="GT_DIR", help="per-sequence ground-truth JSON files")
    d.add_argument("--out", required=True, type=Path, metavar="PRED_DIR", help="output folder (created)")
    add_pipeline_arguments(d)
    d.add_argument("--format", choices=(*POSETRACK_FORMATS, "csv"), default="posetrack17",
                   help="results format (default: %(default)s); posetrack21 files are what the PoseTrack21 kit "
                        "reads; csv: <sequence>.csv rows per frame, track and joint and <sequence>.tracks.csv")
    d.add_argument("--shard", metavar="K/N", help="process only share K of N (0-based), e.g. 0/4")
    d.add_argument("--overwrite", action="store_true", help="redo sequences whose results already exist")
    d.add_argument("--evaluate", action="store_true", help="print the mAP/MOTA tables when all sequences are done")
    d.set_defaults(func=run_track_dataset)


def run_track(args: argparse.Namespace) -> int:
    # Heavy imports (torch, OpenCV) wait until a verb runs, so `hrtrack --help` stays instant.
    from ..pipeline.build import (build_keyframes, build_pipeline, build_postprocess, check_detector_config,
                                  check_postprocess_config, detector_fn, precomputed_for_source, source_is_live)
    from ..pipeline.runner import track_source
    from ..pipeline.sinks import CocoResultsSink, CsvSink, PoseTrackSink, VideoSink, check_output_folder
    from ..pipeline.sources import open_source

    cfg = load_pipeline_config(args)
    check_postprocess_config(cfg.postprocess)
    check_detector_config(cfg)
    source = open_source(args.input, on_bad_image=args.on_bad_image)
    out = args.out
    if out is None and args.render is None:
        raise HrtrackError("nothing to write: give --out RESULTS.json and/or --render OUT.mp4")
    # Cheap checks first: a bad output folder or detection file should not wait for the models to load.
    for path in (out, args.render):
        if path is not None:
            check_output_folder(path)
    if args.detections is not None:
        detect = precomputed_for_source(args.detections, source)
    built = build_pipeline(cfg, args.pose_weights, device=args.device, flow_weights=args.flow_weights)
    if args.detections is None:
        detect = detector_fn(cfg, detector_weights=args.detector_weights, device=args.device)
    layout = built.model_config.joint_layout
    live = source_is_live(source)
    postprocess = build_postprocess(cfg, num_joints=layout.num_joints, live=live, fps=source.fps)
    if live and (cfg.postprocess.interpolate_gap or cfg.postprocess.smoother == "savgol"):
        print(f"{source.description} is live: post-processing runs online (One Euro filter when a smoother is set; "
              f"no gap filling, no bidirectional smoothing)", file=sys.stderr)
    sinks = []
    if out is not None:
        if args.format == "coco":
            sinks.append(CocoResultsSink(out, cfg.output.joint_threshold))
        elif args.format == "csv":
            sinks.append(CsvSink(out, layout, cfg.output.joint_threshold))
        else:
            sinks.append(PoseTrackSink(out, args.format, layout, cfg.output.joint_threshold))
    if args.render is not None:
        sinks.append(VideoSink(args.render, source.fps, layout, cfg.output.joint_threshold))
    stats = track_source(source, detect, built.pipeline, sinks, progress=not args.no_progress,
                         postprocess=postprocess, keyframes=build_keyframes(cfg))
    if out is not None:
        dump_config(cfg, out.with_name(out.stem + ".config.yaml"))
    detected = f" (detector on {stats.detected})" if stats.detected != stats.frames else ""
    print(f"{stats.frames} frames{detected}, {stats.people} poses, {stats.tracks} tracks, {stats.fps:.1f} fps")
    print(stats.table())
    written = [out, args.render]
    if out is not None and args.format == "csv":
        from ..formats.track_csv import summary_path

        written.insert(1, summary_path(out))
    for path in written:
        if path is not None:
            print(f"wrote {path}")
    return 0


def parse_shard(text: str | None) -> tuple[int, int]:
    """"K/N" -> (K, N); under torchrun without --shard, (RANK, WORLD_SIZE)."""
    if text is None:
        return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    try:
        k, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise HrtrackError(f"--shard expects K/N like 0/4, got {text!r}") from None
    if not (n >= 1 and 0 <= k < n):
        raise HrtrackError(f"--shard {text}: need 0 <= K < N")
    return k, n


def run_track_dataset(args: argparse.Namespace) -> int:
    from ..pipeline.track_dataset import track_dataset

    cfg = load_pipeline_config(args)
    shard = parse_shard(args.shard)
    if args.evaluate and args.format == "csv":
        raise HrtrackError("--evaluate reads PoseTrack files only: drop it, or write --format posetrack17, "
                           "posetrack18 or posetrack21")
    done = track_dataset(cfg, images_root=args.images, annotations=args.annotations, out_dir=args.out,
                         pose_weights=args.pose_weights, detections=args.detections,
                         detector_weights=args.detector_weights, flow_weights=args.flow_weights,
                         device=args.device, fmt=args.format, shard=shard, overwrite=args.overwrite,
                         progress=not args.no_progress)
    print(f"{done.processed} sequences processed, {done.skipped} already done, {done.remaining} left to other shards")
    if args.evaluate:
        if done.remaining:
            print("not evaluating: other shards still have sequences to write", file=sys.stderr)
        else:
            from ..evaluation.posetrack import evaluate_folders

            print(evaluate_folders(args.annotations, args.out, progress=not args.no_progress).tables())
    return 0

"""`hrtrack train` and `hrtrack test`: train HRNet on COCO, MPII or PoseTrack (or a synthetic set), and score it.

Both run as one process or under torchrun (`torchrun --nproc_per_node=N -m hrtrack train ...`).
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, metavar="C",
                        help="train config: a name in configs/train/ (coco_w32_256x192, ...) or a YAML path "
                             "(configs/synthetic/tiny.yaml)")
    parser.add_argument("--data", metavar="ROOT",
                        help="dataset root: COCO, MPII or PoseTrack as released, or a `hrtrack synth` output "
                             "(default: the config's data.root)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, e.g. --set train.epochs=2 (repeatable)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def register(subparsers: argparse._SubParsersAction) -> None:
    train = subparsers.add_parser(
        "train",
        help="train an HRNet pose model (COCO, MPII, PoseTrack fine-tuning, synthetic)",
        description="Train HRNet top-down on person crops with the official augmentation, Adam and a "
                    "MultiStepLR schedule. Writes RUN_DIR/final_state.pth and best.pth (official key layout), "
                    "checkpoint.pth (resumable), metrics.csv, tensorboard/ and config.yaml. Under torchrun "
                    "it trains with DDP (NCCL on GPU, gloo on CPU).",
    )
    _common(train)
    train.add_argument("--out", required=True, type=Path, metavar="RUN_DIR", help="run folder to write")
    train.add_argument("--init", metavar="W",
                       help="start from these weights (official / MMPose / hrtrack file, or an ImageNet HRNet "
                            "backbone); default: the config's train.init")
    train.add_argument("--resume", action="store_true", help="continue the run in RUN_DIR from its checkpoint.pth")
    train.set_defaults(func=run_train)

    test = subparsers.add_parser(
        "test",
        help="score pose weights on a dataset split (COCO AP, MPII PCKh, PoseTrack mAP)",
        description="Estimate poses on the config's validation split (ground-truth boxes, or COCO detections "
                    "with --set test.use_gt_boxes=false --set test.detections=FILE) and print COCO keypoint "
                    "AP, MPII PCKh or PoseTrack frame-level mAP, as fits the data.",
    )
    _common(test)
    test.add_argument("--weights", required=True, metavar="W",
                      help="pose weights to score, or an ONNX file from `hrtrack export`")
    test.add_argument("--json", type=Path, metavar="OUT.json", help="also write the metrics as JSON")
    test.add_argument("--engine", choices=("auto", "torch", "onnxruntime", "openvino"), default="auto",
                      help="what runs HRNet: auto (the fastest installed on the CPU, torch on CUDA), torch, "
                           "onnxruntime or openvino (default: %(default)s)")
    test.set_defaults(func=run_test)


def run_train(args: argparse.Namespace) -> int:
    # Heavy imports (torch) wait until the verb runs, so `hrtrack --help` stays instant.
    from ..training.run import resolve_train_config, train_run

    cfg, model_cfg, fmt = resolve_train_config(args.config, args.set, args.data)
    if args.init:
        cfg = replace(cfg, train=replace(cfg.train, init=str(args.init)))
    train_run(cfg, model_cfg, fmt, args.out, resume=args.resume, device=args.device, progress=not args.no_progress)
    return 0


def run_test(args: argparse.Namespace) -> int:
    from ..training.run import resolve_train_config, test_run

    cfg, model_cfg, fmt = resolve_train_config(args.config, args.set, args.data)
    test_run(cfg, model_cfg, fmt, args.weights, json_out=args.json, device=args.device, engine=args.engine,
             progress=not args.no_progress)
    return 0

"""`hrtrack export`: pose weights -> a deployable ONNX file."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Iterator

from ..errors import HrtrackError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "export",
        help="export pose weights to ONNX (for onnxruntime, OpenVINO and other runtimes)",
        description="Write the HRNet of a model config with the given weights (official, MMPose, an hrtrack "
                    "training state or an ImageNet backbone) as an ONNX file: opset 18, dynamic batch, input "
                    "'input' (B,3,H,W) normalised RGB, output 'heatmaps' (B,K,H/4,W/4), and metadata with the "
                    "input size, mean/std, joint layout, flip pairs and heatmap stride. `hrtrack track "
                    "--pose-weights model.onnx` and `hrtrack test --weights model.onnx` run it. Needs the "
                    "deploy extra: pip install 'hrtrack[deploy]'.",
    )
    p.add_argument("--pose-weights", required=True, type=Path, metavar="W", help="checkpoint to export")
    p.add_argument("--config", required=True, metavar="NAME",
                   help="model config in configs/models/ (w32_256x192, w48_384x288, ...) or a YAML path")
    p.add_argument("--format", choices=("onnx",), default="onnx", help="output format (default: %(default)s)")
    p.add_argument("--out", required=True, type=Path, metavar="MODEL.onnx", help="file to write")
    p.add_argument("--int8", action="store_true",
                   help="write an int8 static quantisation (faster on CPUs with int8 units, less exact: "
                        "docs/deployment.md); needs --calibration")
    p.add_argument("--calibration", type=Path, metavar="ROOT",
                   help="dataset whose train-split crops calibrate --int8 (COCO, MPII, PoseTrack as released, "
                        "or a `hrtrack synth` output, as the model's joint layout reads)")
    p.add_argument("--calibration-crops", type=int, default=256, metavar="N",
                   help="crops to calibrate with (default: %(default)s)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # Heavy imports (torch, onnx) wait until the verb runs, so `hrtrack --help` stays instant.
    from ..models.export import export_pose_model

    if args.int8 != (args.calibration is not None):
        raise HrtrackError("--int8 and --calibration ROOT go together: int8 ranges are measured on real crops")
    calibration = _calibration_batches(args.calibration, args.config, args.calibration_crops) if args.int8 else None
    done = export_pose_model(args.pose_weights, args.config, args.out, int8_calibration=calibration)
    check = ("" if done.max_abs_diff is None
             else f"; onnxruntime vs torch on a random batch: max abs heatmap difference {done.max_abs_diff:.2g}")
    print(f"wrote {done.path} ({done.kind} weights {args.pose_weights.name}){check}")
    return 0


def _calibration_batches(root: Path, model_config: str, count: int) -> Iterator:
    """Batches of 16 normalised crops, evenly spread over the train split of `root`."""
    import numpy as np

    from ..datasets.topdown import TopDownDataset, open_split
    from ..models import load_model_config

    if count < 1:
        raise HrtrackError(f"--calibration-crops must be at least 1, got {count}")
    cfg = load_model_config(model_config)
    w, h = cfg.input_size
    split = open_split(cfg.layout, root, "train", aspect_ratio=w / h, num_joints=cfg.num_joints)
    data = TopDownDataset(split.samples, cfg.codec, cfg.joint_layout, train=False)
    if len(data) == 0:
        raise HrtrackError(f"--calibration {root}: its train split has no people to calibrate with")
    picks = np.unique(np.linspace(0, len(data) - 1, min(count, len(data))).round().astype(int))
    # Read lazily, one batch at a time: a few hundred large crops would hold hundreds of MB.
    return (np.stack([data[int(i)][0].numpy() for i in picks[start:start + 16]])
            for start in range(0, len(picks), 16))

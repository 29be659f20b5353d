"""`hrtrack export`: pose weights -> a deployable ONNX file."""

from __future__ import annotations

import argparse
from pathlib import Path


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
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # Heavy imports (torch, onnx) wait until the verb runs, so `hrtrack --help` stays instant.
    from ..models.export import export_pose_model

    done = export_pose_model(args.pose_weights, args.config, args.out)
    check = ("" if done.max_abs_diff is None
             else f"; onnxruntime vs torch on a random batch: max abs heatmap difference {done.max_abs_diff:.2g}")
    print(f"wrote {done.path} ({done.kind} weights {args.pose_weights.name}){check}")
    return 0

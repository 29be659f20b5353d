"""`hrtrack synth`: write a synthetic PoseTrack-like dataset (frames, videos, every annotation format)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import HrtrackError


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 640x360, got {text!r}") from None
    return w, h


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "synth",
        help="generate a synthetic PoseTrack-like dataset with exact ground truth",
        description="Render videos of moving human figures (walking, running, waving, turning, occluded, "
                    "entering and leaving, under a moving camera) and write them as the PoseTrack release "
                    "lays them out: images/<split>/<seq>/NNNNNN.jpg, videos/<split>/<seq>.mp4, PoseTrack "
                    "2017, 2018 and 21 annotations, COCO keypoints, MPII JSON, and COCO detection files "
                    "derived from the ground truth. The same --seed gives the same files.",
    )
    parser.add_argument("--out", required=True, type=Path, metavar="DIR", help="dataset root to write")
    parser.add_argument("--videos", type=int, default=3, metavar="N", help="videos per split (default 3)")
    parser.add_argument("--frames", type=int, default=40, metavar="N", help="frames per video (default 40)")
    parser.add_argument("--size", type=_size, default=(640, 360), metavar="WxH",
                        help="frame size (default 640x360)")
    parser.add_argument("--people", type=int, nargs=2, default=(2, 5), metavar=("MIN", "MAX"),
                        help="people per video (default 2 5)")
    parser.add_argument("--splits", nargs="+", default=["train", "val"], choices=("test", "train", "val"),
                        help="splits to write (default train val)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--fps", type=float, default=25.0, help="video frame rate (default 25)")
    parser.add_argument("--det-miss", type=float, default=0.1, metavar="P",
                        help="probability that the simulated detector misses a person (default 0.1)")
    parser.add_argument("--det-jitter", type=float, default=0.05, metavar="S",
                        help="std of detection box sides, as a fraction of the box size (default 0.05)")
    parser.add_argument("--det-fp", type=float, default=0.3, metavar="L",
                        help="mean number of false-positive detections per frame (default 0.3)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # OpenCV and the generator load only when the verb runs, so `hrtrack --help` stays instant.
    from ..synthetic import describe, generate_dataset

    if args.out.exists() and not args.out.is_dir():
        raise HrtrackError(f"--out must be a folder, but {args.out} is a file")
    summary = generate_dataset(args.out, videos=args.videos, frames=args.frames, size=args.size,
                               people=tuple(args.people), splits=args.splits, seed=args.seed,
                               det_miss=args.det_miss, det_jitter=args.det_jitter, det_fp=args.det_fp,
                               fps=args.fps, progress=not args.no_progress)
    print(describe(summary))
    return 0

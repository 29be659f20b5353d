"""`hrtrack synth`: write a synthetic PoseTrack-like dataset (frames, videos, every annotation format)."""

from __future__ import annotations

import argparse
from dataclasses import fields, replace
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
                    "derived from the ground truth. The same --seed gives the same files. --preset hard and the "
                    "difficulty flags make the clips and detections harder along named axes.",
    )
    parser.add_argument("--out", required=True, type=Path, metavar="DIR", help="dataset root to write")
    parser.add_argument("--videos", type=int, default=3, metavar="N", help="videos per split (default 3)")
    parser.add_argument("--frames", type=int, default=40, metavar="N", help="frames per video (default 40)")
    parser.add_argument("--size", type=_size, default=(640, 360), metavar="WxH",
                        help="frame size (default 640x360)")
    parser.add_argument("--people", type=int, nargs=2, metavar=("MIN", "MAX"),
                        help="people per video (default 2 5; a preset's crowd where it sets one)")
    parser.add_argument("--splits", nargs="+", default=["train", "val"], choices=("test", "train", "val"),
                        help="splits to write (default train val)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--fps", type=float, default=25.0, help="video frame rate (default 25)")
    hard = parser.add_argument_group(
        "difficulty", "A named preset of the difficulty axes, and each axis alone, overriding the preset (the "
                      "defaults below are the default preset's). px: pixels per frame of a 1280x720 video at "
                      "25 fps, scaled to --size and --fps. "
                      "docs/synthetic.md gives each axis's real-world meaning and the hard preset's levels.")
    hard.add_argument("--preset", default="default", metavar="NAME",
                      help="difficulty preset: default (the easy clips) or hard (PoseTrack-like: fast motion, "
                           "a moving camera, crowds in team kit, occlusion, re-entry, a weaker detector)")
    hard.add_argument("--speed", type=float, metavar="PX", help="walkers' and runners' speed, px/frame "
                      "(walk 2-5, sprint 15-25; default: each action's own pace)")
    hard.add_argument("--decimation", type=int, metavar="K", help="keep every K-th frame of the motion (default 1)")
    hard.add_argument("--pan", type=float, metavar="PX", help="mean camera pan speed, px/frame (0: none)")
    hard.add_argument("--zoom-rate", type=float, metavar="R",
                      help="mean relative zoom change per frame, zooming 1x-1.5x (0: none)")
    hard.add_argument("--shake", type=float, metavar="PX", help="camera shake, std of the frame-to-frame jitter "
                      "in px per axis (0: none)")
    hard.add_argument("--lookalikes", type=float, metavar="SHARE",
                      help="share of people in team kit: same clothes and build (default 0)")
    hard.add_argument("--occlusion-frames", type=int, metavar="N",
                      help="frames an occluded walker stays hidden (no joint in view) behind a board in its path "
                           "(default 0: none)")
    hard.add_argument("--occluded-share", type=float, metavar="SHARE",
                      help="share of walkers and runners hidden so (default 0.5)")
    hard.add_argument("--reentry-frames", type=int, metavar="N",
                      help="frames a walker spends out of view before coming back (default 0: none)")
    hard.add_argument("--reentry-share", type=float, metavar="SHARE",
                      help="share of walkers and runners who leave and come back (default 0.5)")
    hard.add_argument("--det-miss", type=float, metavar="P",
                      help="probability that the simulated detector misses a person (default 0.1)")
    hard.add_argument("--det-jitter", type=float, metavar="S",
                      help="std of detection box sides, as a fraction of the box size (default 0.05)")
    hard.add_argument("--det-fp", type=float, metavar="L",
                      help="mean number of false-positive detections per frame (default 0.3)")
    hard.add_argument("--det-run-length", type=int, metavar="K",
                      help="missed runs: a person missed K frames in a row (default 0: none)")
    hard.add_argument("--det-run-rate", type=float, metavar="P",
                      help="probability per person and frame that a missed run starts (default 0.02)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # OpenCV and the generator load only when the verb runs, so `hrtrack --help` stays instant.
    from ..synthetic import Difficulty, describe, generate_dataset

    if args.out.exists() and not args.out.is_dir():
        raise HrtrackError(f"--out must be a folder, but {args.out} is a file")
    # Each axis flag given overrides the preset's level (--people is handled below).
    axes = [f.name for f in fields(Difficulty) if f.name != "people"]
    difficulty = Difficulty.preset(args.preset).with_overrides(**{name: getattr(args, name) for name in axes})
    people = (2, 5)
    if args.people is not None:
        # Given people replace the preset's crowd: the clips are drawn with that range, as without a preset.
        people, difficulty = tuple(args.people), replace(difficulty, people=None)
    summary = generate_dataset(args.out, videos=args.videos, frames=args.frames, size=args.size, people=people,
                               splits=args.splits, seed=args.seed, fps=args.fps, progress=not args.no_progress,
                               difficulty=difficulty)
    print(describe(summary))
    return 0

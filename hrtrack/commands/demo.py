"""`hrtrack demo`: synthetic data -> the reference small HRNet (or one trained here) -> FlowTrack -> PoseTrack
scores."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "demo", help="the whole system on synthetic videos, from nothing, in one command",
        description="Generate held-out synthetic PoseTrack-like videos (cached under ~/.cache/hrtrack/demo or "
                    "$HRTRACK_CACHE/demo), track them with FlowTrack and the reference synthetic HRNet that ships "
                    "with the code (or, with --train, a small HRNet trained here on freshly rendered synthetic "
                    "people), render one, draw a contact sheet and the track lifetimes against the ground truth, "
                    "and print the PoseTrack mAP/MOTA tables. Ends with a RESULT line.")
    p.add_argument("--out", type=Path, help="output folder (default: <cache>/demo/output)")
    p.add_argument("--train", action="store_true",
                   help="train the small HRNet from scratch on the CPU (configs/synthetic/tiny.yaml, 1600 steps, "
                        "4-8 minutes on 2 cores; cached) instead of using the reference model")
    p.add_argument("--quick", action="store_true",
                   help="a reduced demo: 2 clips of 30 frames (with --train, 400 training steps)")
    p.add_argument("--seed", type=int, default=0, help="seed of the held-out videos (default: %(default)s)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="with --train: change the training recipe (configs/synthetic/tiny.yaml), e.g. "
                        "--set model.dark=false; the model is cached per recipe")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import os
    from dataclasses import replace

    # Training threads share the cores with a rendering worker (and, on a busy machine, with other jobs):
    # spinning OpenMP threads would burn the CPU time the others need, an order of magnitude slower steps
    # under load. Set before torch loads its OpenMP runtime; a user's own setting wins.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

    from ..demo import DemoSettings, cache_root, run_demo
    from ..errors import HrtrackError

    if args.overrides and not args.train:
        raise HrtrackError("--set changes the training recipe, so it needs --train (the reference model is "
                           "already trained)")
    settings = DemoSettings.quick(args.train) if args.quick else DemoSettings(train=args.train)
    settings = replace(settings, seed=args.seed, overrides=tuple(args.overrides))
    out = args.out or cache_root() / "demo" / "output"
    run_demo(settings, out, progress=not args.no_progress)
    return 0

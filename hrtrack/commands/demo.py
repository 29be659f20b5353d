"""`hrtrack demo`: synthetic data -> small HRNet -> FlowTrack -> PoseTrack scores."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "demo", help="the whole system on synthetic videos, from nothing, in one command",
        description="Generate held-out synthetic PoseTrack-like videos, train a small HRNet on freshly rendered "
                    "synthetic people (both cached under ~/.cache/hrtrack/demo or $HRTRACK_CACHE/demo), track the "
                    "held-out videos with FlowTrack, render one, draw a contact sheet and the track lifetimes "
                    "against the ground truth, and print the PoseTrack mAP/MOTA tables. Ends with a RESULT line.")
    p.add_argument("--out", type=Path, help="output folder (default: <cache>/demo/output)")
    p.add_argument("--quick", action="store_true", help="a reduced demo (fewer clips, shorter training): what CI runs")
    p.add_argument("--seed", type=int, default=0, help="seed of the held-out videos (default: %(default)s)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="change the training recipe (configs/synthetic/tiny.yaml), e.g. --set model.dark=false; "
                        "the model is cached per recipe")
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

    settings = DemoSettings.quick() if args.quick else DemoSettings()
    settings = replace(settings, seed=args.seed, overrides=tuple(args.overrides))
    out = args.out or cache_root() / "demo" / "output"
    run_demo(settings, out, progress=not args.no_progress)
    return 0

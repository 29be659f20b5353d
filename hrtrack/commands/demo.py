"""`hrtrack demo`: synthetic data -> small HRNet -> FlowTrack -> PoseTrack scores."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "demo", help="the whole system on synthetic videos, from nothing, in one command",
        description="Generate synthetic PoseTrack-like videos, train a small HRNet on them (cached under "
                    "~/.cache/hrtrack/demo or $HRTRACK_CACHE/demo), track the held-out videos with FlowTrack, "
                    "render one, and print the PoseTrack mAP/MOTA tables. Ends with a RESULT line.")
    p.add_argument("--out", type=Path, help="output folder (default: <cache>/demo/output)")
    p.add_argument("--quick", action="store_true", help="a reduced demo (fewer frames, shorter training)")
    p.add_argument("--seed", type=int, default=0, help="seed of the synthetic videos (default: %(default)s)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from ..demo import DemoSettings, cache_root, run_demo

    settings = DemoSettings.quick() if args.quick else DemoSettings()
    settings = replace(settings, seed=args.seed)
    out = args.out or cache_root() / "demo" / "output"
    run_demo(settings, out, progress=not args.no_progress)
    return 0

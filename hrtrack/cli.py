"""The `hrtrack` console entry point.

Each verb lives in `hrtrack/commands/<verb>.py` and exposes `register(subparsers)`,
which adds its parser and sets `func(args) -> int`. User errors (`HrtrackError`)
print one line and exit 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from . import __version__
from .errors import HrtrackError

# Explicit list (no registry): module name under hrtrack.commands, in --help order.
COMMAND_MODULES = (
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hrtrack",
        description="HRNet + FlowTrack multi-person pose tracking, scored on PoseTrack.",
    )
    parser.add_argument("--version", action="version", version=f"hrtrack {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="<command>")
    for name in COMMAND_MODULES:
        importlib.import_module(f"hrtrack.commands.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except HrtrackError as exc:
        print(f"hrtrack {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"hrtrack {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

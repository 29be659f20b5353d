"""The `hrtrack` console entry point.

Each verb lives in `hrtrack/commands/<verb>.py` and exposes `register(subparsers)`,
which adds its parser and sets `func(args) -> int`. User errors (`HrtrackError`)
and refusals from the operating system (`OSError`: a full disk, a folder without
write permission) print one line and exit 2; warnings print one line each.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import warnings

from . import __version__
from .errors import HrtrackError

# Explicit list (no registry): module name under hrtrack.commands, in --help order.
COMMAND_MODULES = (
    "demo",
    "track",
    "evaluate",
    "synth",
    "train",
    "export",
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
    prefix = f"hrtrack {args.command}"
    # FFmpeg (inside OpenCV) prints its own lines about broken videos; our error already names the file.
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    with warnings.catch_warnings():
        warnings.showwarning = _one_line_warning(prefix)
        try:
            return int(args.func(args) or 0)
        except HrtrackError as exc:
            print(f"{prefix}: error: {_one_line(str(exc))}", file=sys.stderr)
            return 2
        except OSError as exc:
            print(f"{prefix}: error: {_one_line(_describe_os_error(exc))}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print(f"{prefix}: interrupted", file=sys.stderr)
            return 130


def _one_line(text: str) -> str:
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


def _describe_os_error(exc: OSError) -> str:
    """The reason and the file, e.g. `No space left on device: out/results.json`."""
    if exc.strerror and exc.filename is not None:
        return f"{exc.strerror}: {exc.filename}"
    return exc.strerror or str(exc) or type(exc).__name__


def _one_line_warning(prefix: str):
    """A `warnings.showwarning` that prints "hrtrack <verb>: warning: <message>" without source lines."""
    def show(message, category, filename, lineno, file=None, line=None) -> None:
        print(f"{prefix}: warning: {_one_line(str(message))}", file=file or sys.stderr)
    return show


if __name__ == "__main__":
    sys.exit(main())

"""`hrtrack evaluate`: PoseTrack mAP and MOTA as poseval computes them, keypoint HOTA as the PoseTrack21 kit."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import HrtrackError
from ..fileio import write_json_atomic


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="score PoseTrack predictions (mAP, MOTA) exactly as the official poseval",
        description="Score per-sequence PoseTrack 2017, 2018 or 21 JSON predictions against ground truth: "
                    "per-joint AP (PCKh@0.5 matching) and CLEAR-MOT MOTA/MOTP/precision/recall, as the "
                    "official poseval computes them, and with --hota keypoint HOTA/DetA/AssA as the official "
                    "PoseTrack21 kit computes them. Files pair by name, frames by index.",
    )
    parser.add_argument("--gt", required=True, type=Path, metavar="GT_DIR",
                        help="folder of ground-truth per-sequence .json files")
    parser.add_argument("--pred", required=True, type=Path, metavar="PRED_DIR",
                        help="folder of prediction .json files, one per ground-truth sequence, same names")
    parser.add_argument("--json", type=Path, metavar="OUT.json",
                        help="also write the tables, per-joint values and counts as JSON")
    parser.add_argument("--strict-clear-mot", action="store_true",
                        help="textbook CLEAR-MOT and AP instead of poseval's quirks (keep the last frame of "
                             "each sequence, count empty frames by their real people, NaN AP for joints "
                             "without ground truth)")
    parser.add_argument("--hota", action="store_true",
                        help="also report keypoint HOTA, DetA, AssA as the PoseTrack21 kit (per joint and its "
                             "Total), IDF1 and ID switches")
    parser.add_argument("--strict-hota", action="store_true",
                        help="with --hota: a labelled frame whose prediction has nobody adds its own ground-truth "
                             "joints to FN instead of the whole sequence's (the PoseTrack21 kit's quirk)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def _is_csv(path: Path) -> bool:
    """A CSV file, or a folder holding CSV files and no JSON (what `track-dataset --format csv` writes)."""
    if path.suffix.lower() == ".csv":
        return True
    return path.is_dir() and any(path.glob("*.csv")) and not any(path.glob("*.json"))


def run(args: argparse.Namespace) -> int:
    from ..evaluation.posetrack import evaluate_folders

    if args.json is not None and not args.json.parent.is_dir():
        raise HrtrackError(f"output folder does not exist: {args.json.parent}")
    if args.strict_hota and not args.hota:
        raise HrtrackError("--strict-hota changes keypoint HOTA: give --hota too")
    for flag, path in (("--pred", args.pred), ("--gt", args.gt)):
        if _is_csv(path):
            raise HrtrackError(f"{flag} {path} is CSV: evaluation reads PoseTrack files only (.json, one per "
                               f"sequence); write them with `hrtrack track-dataset --format posetrack17`")
    result = evaluate_folders(args.gt, args.pred, strict=args.strict_clear_mot, progress=not args.no_progress,
                              hota=args.hota, strict_hota=args.strict_hota)
    print(result.tables())
    if args.json is not None:
        write_json_atomic(args.json, result.summary(), indent=2)
    return 0

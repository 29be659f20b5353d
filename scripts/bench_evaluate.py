#!/usr/bin/env python
"""Wall time of `hrtrack evaluate` (PoseTrack mAP + MOTA, as poseval) on a synthetic 50-sequence set,
optionally against the official poseval run beside it on the same files.

Ground truth: clips of the synthetic test bed (`hrtrack.synthetic`), people
on the PoseTrack-like labelled frames only, with their crowd ignore regions.
Predictions: every frame's true people, jittered (Gaussian, --noise head sizes per
axis), with dropped joints and people, false-positive people, random joint scores
and identity switches, so every branch of the evaluation does its real work. Both
are written as per-sequence JSON files (--format 2017 or 2018) to a temporary
folder (or --keep DIR).

Timed, --repeat times each: `evaluate_folders` in this process (reading,
validating and scoring: `seconds`), and `hrtrack evaluate` as a whole process,
interpreter start and imports included (`hrtrack_s`, and its CPU time
`hrtrack_cpu_s`, steadier on a busy machine). With --poseval PATH (a
poseval checkout, its `poseval/` package folder or its older `py/` folder), the
official `evaluate` also runs as a whole process (`-e -t`, run by
--poseval-python), interleaved with hrtrack's runs and alternating which goes
first; its per-joint AP, MOTA, precision and recall are compared with hrtrack's.
MOTP is compared too, but poseval with a motmetrics newer than its 2017 one sums
every matchable pair's distance (docs/evaluation.md), so only a poseval with the
motmetrics of its time gives hrtrack's MOTP.

The last line is `RESULT hrtrack_s=<median> [poseval_s=<median> speedup=<ratio>]
hrtrack_cpu_s=<median> [poseval_cpu_s=<median> cpu_speedup=<ratio>] seconds=<median>
sequences=<n> ...`.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from hrtrack.formats.posetrack import (PoseTrackFrame, PoseTrackSequence, read_sequence, sequence_files,
                                       write_posetrack17, write_posetrack18)
from hrtrack.synthetic import SPLIT_BASE, SyntheticVideo
from hrtrack.evaluation.posetrack import JOINT_NAMES, evaluate_folders, head_sizes


def predict(truth: PoseTrackFrame, rng: np.random.Generator, noise: float, id_map: dict[int, int],
            next_id: list[int]) -> PoseTrackFrame:
    """A tracker-like prediction of one frame from its true people."""
    n = len(truth)
    kept = rng.random(n) > 0.08
    size = np.nan_to_num(head_sizes(truth.head_boxes), nan=20.0)
    kp = truth.keypoints + rng.normal(0, 1, truth.keypoints.shape) * (noise * size)[:, None, None]
    vis = truth.visible & (rng.random(truth.visible.shape) > 0.1)
    for tid in truth.track_ids:
        if int(tid) not in id_map or rng.random() < 0.01:   # a new id now and then: identity switches
            id_map[int(tid)] = next_id[0]
            next_id[0] += 1
    ids = np.array([id_map[int(t)] for t in truth.track_ids], np.int64)
    n_fp = int(rng.integers(0, 3))
    fp_kp = rng.uniform(0, 600, (n_fp, 1, 2)) + rng.normal(0, 30, (n_fp, kp.shape[1], 2))
    fp_ids = np.arange(next_id[0], next_id[0] + n_fp)
    next_id[0] += n_fp
    vis_fp = np.ones((n_fp, kp.shape[1]), bool)
    vis_fp[:, [3, 4]] = False
    keypoints = np.concatenate([kp[kept], fp_kp])
    visible = np.concatenate([vis[kept], vis_fp])
    scores = np.where(visible, rng.random(visible.shape), np.nan)
    m = len(keypoints)
    return PoseTrackFrame(truth.image, truth.is_labeled, keypoints, visible, scores,
                          np.concatenate([ids[kept], fp_ids]), rng.random(m), np.full((m, 4), np.nan),
                          np.full((m, 4), np.nan), [], truth.image_id)


def build(folder: Path, sequences: int, frames: int, people: tuple[int, int], seed: int, noise: float,
          fmt: str) -> int:
    """Write ground truth and predictions; return the number of labelled frames."""
    write = write_posetrack17 if fmt == "2017" else write_posetrack18
    (folder / "gt").mkdir()
    (folder / "pred").mkdir()
    rng = np.random.default_rng(seed)
    labelled = 0
    for i in tqdm(range(sequences), desc="build", unit="seq"):
        video = SyntheticVideo(seed=seed, number=SPLIT_BASE["val"] + i, split="val", frames=frames, people=people)
        truth = video.sequence()
        id_map: dict[int, int] = {}
        next_id = [100]
        pred = [predict(f, rng, noise, id_map, next_id) for f in truth.frames]
        gt = [f if f.is_labeled else PoseTrackFrame.empty(f.image, False, f.image_id, f.ignore_regions)
              for f in truth.frames]
        labelled += sum(f.is_labeled for f in truth.frames)
        write(PoseTrackSequence(truth.name, gt, truth.vid_id), folder / "gt" / f"{truth.name}.json")
        write(PoseTrackSequence(truth.name, pred, truth.vid_id), folder / "pred" / f"{truth.name}.json")
    return labelled


def poseval_command(path: Path, python: str, gt: Path, pred: Path, out: Path) -> tuple[list[str], Path]:
    """The command line and working folder that run poseval's `evaluate` from a checkout, its package or `py/`."""
    # poseval joins the prediction folder and a file name without a separator: folders end with one.
    args = ["-g", f"{gt}/", "-p", f"{pred}/", "-e", "-t", "-o", str(out)]
    if (path / "poseval" / "evaluate.py").is_file():
        return [python, "-m", "poseval.evaluate", *args], path
    if (path / "evaluate.py").is_file() and (path / "__init__.py").is_file():
        return [python, "-m", f"{path.name}.evaluate", *args], path.parent
    if (path / "evaluate.py").is_file():
        return [python, "evaluate.py", *args], path
    sys.exit(f"--poseval: no poseval evaluate.py in {path} (give the checkout, its poseval/ or its py/ folder)")


def run_timed(command: list[str], cwd: Path | None, what: str) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one whole process; its output is dropped unless it fails."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode:
        sys.exit(f"{what} failed (exit {done.returncode}):\n{done.stdout[-3000:]}")
    return seconds, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def compare_with_poseval(summary: dict, out: Path) -> dict[str, float]:
    """Largest |hrtrack - poseval| over the 15 joints and the Total, per metric (NaN on both sides counts as equal)."""
    ap = json.loads((out / "total_AP_metrics.json").read_text())
    mot = json.loads((out / "total_MOT_metrics.json").read_text())
    pairs = {"AP": ("AP", ap["ap"], "mAP"), "MOTA": ("MOTA", mot["mota"], "MOTA"),
             "Precision": ("Precision", mot["pre"], "Precision"), "Recall": ("Recall", mot["rec"], "Recall"),
             "MOTP": ("MOTP", mot["motp"], "MOTP")}
    worst = {}
    for label, (key, theirs, table) in pairs.items():
        ours = [summary["per_joint"][name][key] for name in JOINT_NAMES] + [summary[table]["Total"]]
        gaps = [0.0 if (a is None or math.isnan(a)) and math.isnan(b) else abs((math.nan if a is None else a) - b)
                for a, b in zip(ours, theirs)]
        worst[label] = max(gaps)
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--sequences", type=int, default=50, help="number of sequences (default 50)")
    parser.add_argument("--frames", type=int, default=60, help="frames per sequence (default 60)")
    parser.add_argument("--people", type=int, nargs=2, default=(4, 10), metavar=("MIN", "MAX"),
                        help="people per clip (default 4 10)")
    parser.add_argument("--noise", type=float, default=0.2, help="joint jitter in head sizes per axis (default 0.2)")
    parser.add_argument("--format", choices=("2017", "2018"), default="2017", help="file format (default 2017)")
    parser.add_argument("--strict-clear-mot", action="store_true", help="time the strict variant")
    parser.add_argument("--hota", action="store_true", help="also compute keypoint HOTA and IDF1")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each (default 3)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--poseval", type=Path, metavar="PATH",
                        help="also run the official poseval from this checkout (or its poseval/ or py/ folder)")
    parser.add_argument("--poseval-python", default=sys.executable, metavar="PYTHON",
                        help="the interpreter that runs poseval, with its packages (default: this one)")
    parser.add_argument("--keep", type=Path, metavar="DIR",
                        help="write the files to DIR (a new or empty folder) and keep them")
    parser.add_argument("--data", type=Path, metavar="DIR",
                        help="time the files of DIR/gt and DIR/pred instead of building a set (a --keep folder, "
                             "or PoseTrack ground truth and predictions)")
    args = parser.parse_args()
    if args.poseval is not None and args.strict_clear_mot:
        parser.error("--strict-clear-mot changes the numbers: poseval has no such mode to compare with")
    if args.poseval is not None and args.format != "2017" and args.data is None:
        parser.error("--poseval needs --format 2017: poseval converts 2018 files through the real PoseTrack "
                     "sequence names (mpii, bonn, mpiinew), which synthetic sequences do not have")
    if args.keep is not None and args.keep.exists() and any(args.keep.iterdir()):
        parser.error(f"--keep: {args.keep} is not empty")

    with tempfile.TemporaryDirectory(prefix="bench_evaluate_") as tmp:
        if args.data is not None:
            folder = args.data
            labelled = sum(f.is_labeled for path in sequence_files(folder / "gt").values()
                           for f in read_sequence(path).frames)
        else:
            folder = args.keep or Path(tmp)
            folder.mkdir(parents=True, exist_ok=True)
            labelled = build(folder, args.sequences, args.frames, tuple(args.people), args.seed, args.noise,
                             args.format)
        gt, pred = folder / "gt", folder / "pred"
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            result = evaluate_folders(gt, pred, strict=args.strict_clear_mot, progress=False, hota=args.hota)
            times.append(time.perf_counter() - start)
        ours = [sys.executable, "-m", "hrtrack.cli", "evaluate", "--gt", str(gt), "--pred", str(pred),
                "--no-progress", "--json", str(Path(tmp) / "hrtrack.json")]
        ours += ["--strict-clear-mot"] * args.strict_clear_mot + ["--hota"] * args.hota
        theirs = None
        if args.poseval is not None:
            theirs = poseval_command(args.poseval.resolve(), args.poseval_python, gt, pred, Path(tmp) / "poseval")
        whole: dict[str, list[float]] = {"hrtrack": [], "poseval": []}
        cpu: dict[str, list[float]] = {"hrtrack": [], "poseval": []}
        for r in range(args.repeat):
            runs = [("hrtrack", ours, None)] + ([("poseval", *theirs)] if theirs else [])
            for what, command, cwd in (runs if r % 2 == 0 else runs[::-1]):
                wall, used = run_timed(command, cwd, what)
                whole[what].append(wall)
                cpu[what].append(used)
                print(f"{what} run {len(whole[what])}: {wall:.2f} s, CPU {used:.2f} s", flush=True)
        summary = json.loads((Path(tmp) / "hrtrack.json").read_text())
        worst = compare_with_poseval(summary, Path(tmp) / "poseval") if theirs else None
    print(result.tables())
    counts = result.summary()["counts"]
    print(f"in-process runs: {', '.join(f'{t:.2f}s' for t in times)}; gt joints {counts['num_gt_joints']}, "
          f"predicted joints {counts['num_predicted_joints']}")
    hrtrack_s, hrtrack_cpu = statistics.median(whole["hrtrack"]), statistics.median(cpu["hrtrack"])
    fields = f"RESULT hrtrack_s={hrtrack_s:.3f}"
    extra = f" hrtrack_cpu_s={hrtrack_cpu:.3f}"
    if worst is not None:
        print("largest |hrtrack - poseval| over the joints and Total: "
              + ", ".join(f"{k} {v:.2g}" for k, v in worst.items()))
        poseval_s, poseval_cpu = statistics.median(whole["poseval"]), statistics.median(cpu["poseval"])
        fields += f" poseval_s={poseval_s:.3f} speedup={poseval_s / hrtrack_s:.1f}"
        extra += f" poseval_cpu_s={poseval_cpu:.3f} cpu_speedup={poseval_cpu / hrtrack_cpu:.1f}"
    print(f"{fields}{extra} seconds={statistics.median(times):.3f} sequences={counts['sequences']} "
          f"frames={counts['frames'] // max(counts['sequences'], 1)} scored_frames={counts['scored_frames']} "
          f"labelled_frames={labelled} format={args.format} hota={int(args.hota)}")


if __name__ == "__main__":
    main()

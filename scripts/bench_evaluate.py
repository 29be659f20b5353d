#!/usr/bin/env python
"""Wall time of `hrtrack evaluate` (PoseTrack mAP + MOTA, as poseval) on a synthetic 50-sequence set.

Ground truth: clips of the synthetic test bed (`hrtrack.synthetic`), people
on the PoseTrack-like labelled frames only, with their crowd ignore regions.
Predictions: every frame's true people, jittered (Gaussian, --noise head sizes per
axis), with dropped joints and people, false-positive people, random joint scores
and identity switches, so every branch of the evaluation does its real work. Both
are written as per-sequence JSON files (--format 2017 or 2018) to a temporary
folder; the timed part is what the CLI runs: reading, validating and scoring.

The last line is `RESULT seconds=<median wall time> sequences=<n> ...`.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from hrtrack.formats.posetrack import PoseTrackFrame, PoseTrackSequence, write_posetrack17, write_posetrack18
from hrtrack.synthetic import SPLIT_BASE, SyntheticVideo
from hrtrack.evaluation.posetrack import evaluate_folders, head_sizes


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
    parser.add_argument("--repeat", type=int, default=3, help="timed runs (default 3)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench_evaluate_") as tmp:
        folder = Path(tmp)
        labelled = build(folder, args.sequences, args.frames, tuple(args.people), args.seed, args.noise, args.format)
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            result = evaluate_folders(folder / "gt", folder / "pred", strict=args.strict_clear_mot, progress=False,
                                      hota=args.hota)
            times.append(time.perf_counter() - start)
    print(result.tables())
    counts = result.summary()["counts"]
    print(f"runs: {', '.join(f'{t:.2f}s' for t in times)}; gt joints {counts['num_gt_joints']}, "
          f"predicted joints {counts['num_predicted_joints']}")
    print(f"RESULT seconds={statistics.median(times):.3f} sequences={args.sequences} frames={args.frames} "
          f"scored_frames={counts['scored_frames']} labelled_frames={labelled} format={args.format} "
          f"hota={int(args.hota)}")


if __name__ == "__main__":
    main()

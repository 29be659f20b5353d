#!/usr/bin/env python
"""Accuracy against the keyframe interval K: the detector on every K-th frame, flow propagation between.

On a synthetic test bed (`--difficulty`, default the generator's hard preset;
generated once and cached) with the generator's simulated detector, each K of
`--every` (and, with `--adaptive`, each K with the adaptive rule) runs through
the real runner (`track_source` with its `KeyframeSchedule`), DIS flow and
flow-OKS association of the `synthetic_tiny` preset (`--set` overrides), with
the oracle estimator in HRNet's place: every box gets the true pose of the person
it overlaps most, with Gaussian joint noise of `--noise` px (`hrtrack.pipeline.oracle`).
So the rows measure what keyframe detection costs the detection, propagation and
association stages; a trained network's own errors come on top
(`scripts/benchmark_synthetic.py --variants c --set detector.every=K` measures
them with the reference model).

  python scripts/bench_keyframes.py --every 1 2 4 8 --adaptive

Prints one row per setting (detector calls, mAP, MOTA, ID switches, fps of the
tracking stages) and ends with `RESULT K1_mAP=... K1_MOTA=... ...`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--every", type=int, nargs="+", default=[1, 2, 4, 8], metavar="K")
    parser.add_argument("--adaptive", action="store_true", help="also each K > 1 with the adaptive rule")
    parser.add_argument("--difficulty", default="hard", help="the generator's preset (default: %(default)s)")
    parser.add_argument("--clips", type=int, default=4)
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--size", default="640x360", metavar="WxH")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--noise", type=float, default=2.0, help="oracle joint noise, px (default: %(default)s)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()

    import cv2
    import numpy as np

    from hrtrack.config import load_config
    from hrtrack.evaluation.posetrack import evaluate_folders
    from hrtrack.fileio import cache_root
    from hrtrack.formats.detections import read_coco_detections
    from hrtrack.models.flow import build_flow
    from hrtrack.pipeline.config import PipelineConfig
    from hrtrack.pipeline.keyframes import KeyframeSchedule
    from hrtrack.pipeline.oracle import OracleEstimator
    from hrtrack.pipeline.runner import track_source
    from hrtrack.pipeline.sinks import PoseTrackSink
    from hrtrack.pipeline.sources import Frame, FrameSource
    from hrtrack.pipeline.tracking_pipeline import FlowTrackPipeline
    from hrtrack.skeleton import POSETRACK
    from hrtrack.synthetic import SPLIT_BASE, Difficulty, SyntheticVideo, generate_dataset
    from hrtrack.tracking.tracker import FlowTracker

    size = tuple(int(v) for v in args.size.lower().split("x"))
    difficulty = Difficulty.preset(args.difficulty)
    people = difficulty.people or (2, 5)
    key = json.dumps({"clips": args.clips, "frames": args.frames, "size": size, "seed": args.seed,
                      "difficulty": difficulty.to_dict()}, sort_keys=True)
    root = cache_root() / "keyframes" / hashlib.sha1(key.encode()).hexdigest()[:10]
    if not (root / "synthetic.json").is_file():
        partial = root.with_name(root.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        generate_dataset(partial, videos=args.clips, frames=args.frames, size=size, people=people, splits=("val",),
                         seed=args.seed, difficulty=difficulty, progress=False)
        partial.rename(root)
    gt_dir = root / "annotations" / "posetrack17" / "val"
    dets = read_coco_detections(root / "detections" / "val.json")
    cfg = load_config(PipelineConfig, "synthetic_tiny", "pipeline", args.overrides)
    videos = [SyntheticVideo(seed=args.seed, number=SPLIT_BASE["val"] + i, split="val", size=size, frames=args.frames,
                             people=people, difficulty=difficulty) for i in range(args.clips)]
    print(f"test bed: {args.difficulty}, {args.clips} clips of {args.frames} frames, {size[0]}x{size[1]}, "
          f"{people[0]}-{people[1]} people; oracle joint noise {args.noise} px; flow {cfg.flow.method} "
          f"scale {cfg.flow.scale}", flush=True)

    class TruthFrames(FrameSource):
        """The clip's frames from disk, each handing its true poses to the oracle as it is read."""

        description = "synthetic clip"

        def __init__(self, video: SyntheticVideo, oracle: OracleEstimator) -> None:
            self.video, self.oracle = video, oracle

        def __len__(self) -> int:
            return len(self.video)

        def frames(self):
            for t in range(len(self.video)):
                _, truth = self.video.render(t)
                kp, labelled = truth.keypoints("posetrack")
                self.oracle.set_truth(kp, labelled, truth.boxes)
                image = cv2.imread(str(root / self.video.image_path(t)), cv2.IMREAD_COLOR)
                yield Frame(t, self.video.image_path(t), image)

    settings = [(k, False) for k in args.every] + [(k, True) for k in args.every if args.adaptive and k > 1]
    results = {}
    for every, adaptive in settings:
        out = Path(tempfile.mkdtemp())
        frames = detected = 0
        seconds = 0.0
        for video in videos:
            oracle = OracleEstimator(POSETRACK, noise_sigma=args.noise,
                                     rng=np.random.default_rng([args.seed, video.number]))
            tracker = FlowTracker(similarity=cfg.tracking.similarity, threshold=cfg.tracking.threshold,
                                  q_frames=cfg.tracking.q_frames, max_age=cfg.tracking.max_age,
                                  matcher=cfg.tracking.matcher, sigmas=POSETRACK.sigmas)
            flow = build_flow(cfg.flow.method, scale=cfg.flow.scale, device="cpu",
                              **({"preset": cfg.flow.preset} if cfg.flow.method == "dis" else {}))
            pipeline = FlowTrackPipeline(
                estimator=oracle, tracker=tracker, flow=flow, propagate=True, extension=cfg.propagation.extension,
                propagation_min_joint_score=cfg.propagation.min_joint_score, nms_iou=cfg.propagation.nms_iou,
                oks_nms_threshold=cfg.estimator.oks_nms_threshold, person_threshold=cfg.output.person_threshold,
                use_flow_in_association=cfg.tracking.use_flow)
            sink = PoseTrackSink(out / f"{video.name}.json", "posetrack17", POSETRACK, cfg.output.joint_threshold,
                                 name=video.name, vid_id=video.vid_id)
            ids = {video.image_path(t): video.image_id(t) for t in range(len(video))}

            def detect(chunk):
                return [dets(image_id=ids[f.name]) for f in chunk]

            start = time.perf_counter()
            # One frame a chunk: the oracle holds the truth of the frame read last.
            stats = track_source(TruthFrames(video, oracle), detect, pipeline, [sink], detect_batch=1, progress=False,
                                 keyframes=KeyframeSchedule(every, adaptive=adaptive) if every > 1 else None)
            seconds += time.perf_counter() - start
            frames += stats.frames
            detected += stats.detected
        s = evaluate_folders(gt_dir, out, progress=False).summary()
        name = f"K{every}" + ("a" if adaptive else "")
        results[name] = (s["mAP"]["Total"], s["MOTA"]["Total"])
        print(f"K={every}{' adaptive' if adaptive else '':<9}  detector on {detected}/{frames} frames "
              f"({detected / frames:.0%})  mAP {s['mAP']['Total']:.1f}  MOTA {s['MOTA']['Total']:.1f}  "
              f"ID switches {s['counts']['num_switches']}  {frames / seconds:.1f} fps", flush=True)
        shutil.rmtree(out, ignore_errors=True)
    print("RESULT " + " ".join(f"{n}_mAP={m:.2f} {n}_MOTA={t:.2f}" for n, (m, t) in results.items()))


if __name__ == "__main__":
    main()

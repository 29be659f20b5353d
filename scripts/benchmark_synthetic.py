#!/usr/bin/env python
"""The synthetic PoseTrack benchmark: the paper's tracking ablation on a fixed, seeded set, with oracle rows.

Variants (one table; mAP per joint group, MOTA, ID switches, duplicate tracks, fps):
  (a) detections only + greedy OKS on raw poses (no flow)
  (b) + flow box propagation
  (c) + flow-based pose similarity: the full FlowTrack
  (d) (c) with Hungarian matching instead of greedy
  (e) (c) with box-IoU similarity instead of flow-OKS
  (f) (c) with ground-truth person boxes instead of detections (upper bound of the detector)
Oracle rows (no network; `hrtrack.pipeline.oracle`):
  (g) ground-truth poses through the tracker: the ceiling
  (h2), (h4) ground-truth poses with Gaussian joint noise of sigma 2 and 4 px
  (i) the real detections, propagation and NMS, with an oracle estimator (each kept
      box gets the true pose of the person it overlaps most): what detection and NMS cost

The held-out set is the demo's (`hrtrack demo` settings, seeded val clips with
crossings, occlusions, people entering and leaving) and the model is the demo's
small HRNet (trained once and cached, like the demo). Detections are the
generator's simulated detector; --det-miss, --det-jitter and --det-fp make a
harder one (drawn from the same seeds, so only the setting changes). "dup."
counts duplicate tracks (`hrtrack.evaluation.duplicates`) per clip. Ends with a
`RESULT` line.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

VARIANTS = {
    "a": ("detections + greedy OKS, no flow", ["propagation.enabled=false", "tracking.use_flow=false"]),
    "b": ("+ flow box propagation", ["propagation.enabled=true", "tracking.use_flow=false"]),
    "c": ("+ flow-OKS similarity (FlowTrack)", []),
    "d": ("FlowTrack, Hungarian matching", ["tracking.matcher=hungarian"]),
    "e": ("FlowTrack, box-IoU similarity", ["tracking.similarity=iou"]),
    "f": ("FlowTrack, ground-truth boxes", []),
}
# name -> (label, boxes given to the oracle estimator, joint noise sigma in pixels)
ORACLES = {
    "g": ("oracle: ground-truth poses, hrtrack's tracker", "truth", 0.0),
    "h2": ("oracle: ground truth + joint noise sigma 2 px", "truth", 2.0),
    "h4": ("oracle: ground truth + joint noise sigma 4 px", "truth", 4.0),
    "i": ("oracle estimator on detections + propagation + NMS", "detections", 0.0),
}
GROUPS = ["Head", "Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle", "Total"]


def val_videos(settings):
    from hrtrack.synthetic import SPLIT_BASE, SyntheticVideo

    return [SyntheticVideo(seed=settings.seed, number=SPLIT_BASE["val"] + i, split="val", size=settings.size,
                           frames=settings.frames, people=settings.people) for i in range(settings.val_videos)]


def gt_box_detections(settings, out: Path) -> Path:
    """A COCO detection file with the true person boxes (score 1) of every val frame."""
    items = []
    for video in val_videos(settings):
        for t, (_, truth) in enumerate(video):
            for box in truth.boxes:
                x1, y1, x2, y2 = (float(v) for v in box)
                items.append({"image_id": video.image_id(t), "category_id": 1, "bbox": [x1, y1, x2 - x1, y2 - y1],
                              "score": 1.0, "file_name": video.image_path(t)})
    out.write_text(json.dumps(items))
    return out


def simulated_detections(settings, out: Path, miss: float, jitter: float, false_positives: float) -> Path:
    """The generator's simulated detector on the val clips with other settings, from `hrtrack synth`'s seeds."""
    import numpy as np

    from hrtrack.formats.detections import write_coco_detections
    from hrtrack.synthetic import simulate_detections

    ids, boxes, files = [], [], []
    for video in val_videos(settings):
        rng = np.random.default_rng([int(settings.seed), video.number, 1])
        for _, truth in video:
            ids.append(truth.image_id)
            files.append(truth.image)
            boxes.append(simulate_detections(truth, video.script.frame_size, rng, miss=miss, jitter=jitter,
                                             false_positives=false_positives))
    write_coco_detections(out, ids, boxes, files)
    return out


def oracle_run(cfg, settings, data: Path, detections: Path, out: Path, boxes: str, noise: float) -> float:
    """Track the val clips with `OracleEstimator` into `out` (PoseTrack 2017 files); returns frames/s."""
    import time

    import cv2
    import numpy as np

    from hrtrack.formats.detections import read_coco_detections
    from hrtrack.models.flow import build_flow
    from hrtrack.pipeline.oracle import OracleEstimator
    from hrtrack.pipeline.sinks import PoseTrackSink
    from hrtrack.pipeline.sources import Frame
    from hrtrack.pipeline.tracking_pipeline import FlowTrackPipeline
    from hrtrack.skeleton import POSETRACK
    from hrtrack.structures import Boxes
    from hrtrack.tracking.tracker import FlowTracker

    out.mkdir(parents=True, exist_ok=True)
    dets = read_coco_detections(detections)
    truth_boxes = boxes == "truth"
    frames, seconds = 0, 0.0
    for video in val_videos(settings):
        oracle = OracleEstimator(POSETRACK, noise_sigma=noise, rng=np.random.default_rng([settings.seed, video.number]))
        tracker = FlowTracker(similarity=cfg.tracking.similarity, threshold=cfg.tracking.threshold,
                              q_frames=cfg.tracking.q_frames, max_age=cfg.tracking.max_age,
                              matcher=cfg.tracking.matcher, sigmas=POSETRACK.sigmas)
        flow = build_flow(cfg.flow.method, scale=cfg.flow.scale, device="cpu",
                          **({"preset": cfg.flow.preset} if cfg.flow.method == "dis" else {}))
        # Ground-truth boxes go straight to the tracker: no propagation, no NMS can drop a true person.
        pipeline = FlowTrackPipeline(
            estimator=oracle, tracker=tracker, flow=flow, propagate=cfg.propagation.enabled and not truth_boxes,
            extension=cfg.propagation.extension, propagation_min_joint_score=cfg.propagation.min_joint_score,
            nms_iou=1.0 if truth_boxes else cfg.propagation.nms_iou,
            oks_nms_threshold=None if truth_boxes else cfg.estimator.oks_nms_threshold,
            person_threshold=cfg.output.person_threshold, use_flow_in_association=cfg.tracking.use_flow)
        sink = PoseTrackSink(out / f"{video.name}.json", "posetrack17", POSETRACK, cfg.output.joint_threshold,
                             name=video.name, vid_id=video.vid_id)
        for t in range(len(video)):
            _, truth = video.render(t)
            image = cv2.imread(str(data / video.image_path(t)), cv2.IMREAD_COLOR)
            kp, labelled = truth.keypoints("posetrack")
            start = time.perf_counter()
            oracle.set_truth(kp, labelled, truth.boxes)
            given = Boxes(truth.boxes, np.ones(len(truth), np.float32)) if truth_boxes else \
                dets(image_id=truth.image_id)
            poses = pipeline(image, given)
            seconds += time.perf_counter() - start
            frames += 1
            sink.add(Frame(t, truth.image, image), poses, is_labeled=truth.is_labeled, image_id=truth.image_id)
        sink.close()
    return frames / seconds


def score(gt_dir: Path, pred: Path) -> dict:
    """mAP per group, MOTA, ID switches and duplicate tracks per clip of a results folder."""
    from hrtrack.evaluation.duplicates import duplicate_tracks
    from hrtrack.evaluation.posetrack import evaluate_folders
    from hrtrack.formats.posetrack import read_sequence, sequence_files

    s = evaluate_folders(gt_dir, pred, progress=False).summary()
    dups = [duplicate_tracks(read_sequence(p), read_sequence(pred / f"{name}.json")).tracks
            for name, p in sorted(sequence_files(gt_dir).items())]
    return {**{f"mAP {k}": v for k, v in s["mAP"].items()}, "MOTA": s["MOTA"]["Total"],
            "ID switches": s["counts"]["num_switches"], "duplicate tracks": dups}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="+", default=[*VARIANTS, *ORACLES], choices=[*VARIANTS, *ORACLES],
                        metavar="V", help="which rows to run (default: all): " + " ".join([*VARIANTS, *ORACLES]))
    parser.add_argument("--quick", action="store_true", help="the reduced demo set and model")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the held-out clips (default 0, the demo's; pipeline settings were chosen on 1)")
    parser.add_argument("--det-miss", type=float, help="simulated detector: probability of missing a person")
    parser.add_argument("--det-jitter", type=float, help="simulated detector: box side noise (fraction of size)")
    parser.add_argument("--det-fp", type=float, help="simulated detector: false positives per frame")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="pipeline config override applied to every variant")
    parser.add_argument("--json", type=Path, help="also write the table as JSON")
    args = parser.parse_args()

    from hrtrack.config import load_config
    from hrtrack.demo import DemoSettings, cache_root, prepare_data
    from hrtrack.fileio import read_json
    from hrtrack.pipeline.config import PipelineConfig
    from hrtrack.pipeline.track_dataset import track_dataset

    settings = replace(DemoSettings.quick() if args.quick else DemoSettings(), seed=args.seed)
    root = cache_root() / "demo"
    root.mkdir(parents=True, exist_ok=True)
    data = prepare_data(settings, root)
    needs_model = any(v in VARIANTS for v in args.variants)
    if needs_model:
        from hrtrack.demo import prepare_model

        weights, model_yaml = prepare_model(settings, root)
    gt_dir = data / "annotations" / "posetrack17" / "val"
    work = Path(tempfile.mkdtemp(prefix="hrtrack-bench-"))
    rows = {}
    try:
        made = read_json(data / "synthetic.json")
        det = {"miss": made["det_miss"], "jitter": made["det_jitter"], "false_positives": made["det_fp"]}
        for key, value in (("miss", args.det_miss), ("jitter", args.det_jitter), ("false_positives", args.det_fp)):
            det[key] = det[key] if value is None else value
        if (det["miss"], det["jitter"], det["false_positives"]) == (made["det_miss"], made["det_jitter"],
                                                                    made["det_fp"]):
            detections = data / "detections" / "val.json"
        else:
            detections = simulated_detections(settings, work / "detections.json", **det)
        print(f"detector: {det['miss']:.0%} misses, {det['jitter']:.0%} box jitter, "
              f"{det['false_positives']:g} false positives a frame", flush=True)
        gt_dets = gt_box_detections(settings, work / "gt_boxes.json")
        for key in args.variants:
            pred = work / key
            if key in ORACLES:
                label, boxes, noise = ORACLES[key]
                cfg = load_config(PipelineConfig, "synthetic_tiny", "pipeline", args.overrides)
                fps = oracle_run(cfg, settings, data, detections, pred, boxes, noise)
            else:
                label, overrides = VARIANTS[key]
                cfg = load_config(PipelineConfig, "synthetic_tiny", "pipeline",
                                  [f"estimator.model={model_yaml}", *overrides, *args.overrides])
                run = track_dataset(cfg, images_root=data, annotations=gt_dir, out_dir=pred, pose_weights=weights,
                                    detections=gt_dets if key == "f" else detections, device="cpu", progress=False)
                fps = run.fps
            rows[key] = {"variant": label, **score(gt_dir, pred), "fps": fps}
            r = rows[key]
            print(f"({key}) {label}: mAP {r['mAP Total']:.1f}  MOTA {r['MOTA']:.1f}  IDsw {r['ID switches']}  "
                  f"dup. tracks {'/'.join(map(str, r['duplicate tracks']))}  {fps:.1f} fps", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print()
    print("| variant | " + " | ".join(f"mAP {g}" for g in GROUPS) + " | MOTA | ID sw. | dup. tracks per clip | fps |")
    print("|---|" + "---:|" * (len(GROUPS) + 4))
    for key, r in rows.items():
        cells = [f"{r[f'mAP {g}']:.1f}" for g in GROUPS] + [f"{r['MOTA']:.1f}", str(r["ID switches"]),
                                                             " ".join(map(str, r["duplicate tracks"])),
                                                             f"{r['fps']:.1f}"]
        print(f"| ({key}) {r['variant']} | " + " | ".join(cells) + " |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    print("RESULT " + " ".join(f"{k}_mAP={r['mAP Total']:.1f} {k}_MOTA={r['MOTA']:.1f} {k}_idsw={r['ID switches']} "
                               f"{k}_dups={sum(r['duplicate tracks'])}" for k, r in rows.items()))


if __name__ == "__main__":
    main()

#!/usr/bin/env python
"""The synthetic PoseTrack benchmark: the paper's tracking ablation on a fixed, seeded set.

Variants (one table; mAP per joint group, MOTA, ID switches, fps):
  (a) detections only + greedy OKS on raw poses (no flow)
  (b) + flow box propagation
  (c) + flow-based pose similarity: the full FlowTrack
  (d) (c) with Hungarian matching instead of greedy
  (e) (c) with box-IoU similarity instead of flow-OKS
  (f) (c) with ground-truth person boxes instead of detections (upper bound)

The validation set is the demo's (`hrtrack demo` settings, held-out seeded videos
with crossings, occlusions, people entering and leaving) and the model is the
demo's small HRNet (trained once and cached, like the demo). Detections are the
generator's simulated detector (misses, jitter, false positives); --det-miss etc.
make a harder set. Ends with a `RESULT` line.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

VARIANTS = {
    "a": ("detections + greedy OKS, no flow", ["propagation.enabled=false", "tracking.use_flow=false"]),
    "b": ("+ flow box propagation", ["propagation.enabled=true", "tracking.use_flow=false"]),
    "c": ("+ flow-OKS similarity (FlowTrack)", []),
    "d": ("FlowTrack, Hungarian matching", ["tracking.matcher=hungarian"]),
    "e": ("FlowTrack, box-IoU similarity", ["tracking.similarity=iou"]),
    "f": ("FlowTrack, ground-truth boxes", []),
}


def gt_box_detections(settings, out: Path) -> Path:
    """A COCO detection file with the true person boxes (score 1) of every val frame."""
    from hrtrack.synthetic import SPLIT_BASE, SyntheticVideo

    items = []
    for i in range(settings.val_videos):
        video = SyntheticVideo(seed=settings.seed, number=SPLIT_BASE["val"] + i, split="val", size=settings.size,
                               frames=settings.frames, people=settings.people)
        for t, (_, truth) in enumerate(video):
            for box in truth.boxes:
                x1, y1, x2, y2 = (float(v) for v in box)
                items.append({"image_id": video.image_id(t), "category_id": 1, "bbox": [x1, y1, x2 - x1, y2 - y1],
                              "score": 1.0, "file_name": video.image_path(t)})
    out.write_text(json.dumps(items))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", default="abcdef", help="which variants to run (default: %(default)s)")
    parser.add_argument("--quick", action="store_true", help="the reduced demo set and model")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="pipeline config override applied to every variant")
    parser.add_argument("--json", type=Path, help="also write the table as JSON")
    args = parser.parse_args()

    from hrtrack.config import load_config
    from hrtrack.demo import DemoSettings, cache_root, prepare_data, prepare_model
    from hrtrack.evaluation.posetrack import evaluate_folders
    from hrtrack.pipeline.config import PipelineConfig
    from hrtrack.pipeline.track_dataset import track_dataset

    settings = DemoSettings.quick() if args.quick else DemoSettings()
    root = cache_root() / "demo"
    root.mkdir(parents=True, exist_ok=True)
    data = prepare_data(settings, root)
    weights, model_yaml = prepare_model(settings, data, root)
    gt_dir = data / "annotations" / "posetrack17" / "val"
    work = Path(tempfile.mkdtemp(prefix="hrtrack-bench-"))
    rows = {}
    try:
        gt_dets = gt_box_detections(settings, work / "gt_boxes.json")
        for key in args.variants:
            label, overrides = VARIANTS[key]
            cfg = load_config(PipelineConfig, "synthetic_tiny", "pipeline",
                              [f"estimator.model={model_yaml}", *overrides, *args.overrides])
            dets = gt_dets if key == "f" else data / "detections" / "val.json"
            pred = work / key
            run = track_dataset(cfg, images_root=data, annotations=gt_dir, out_dir=pred, pose_weights=weights,
                                detections=dets, device="cpu", progress=False)
            s = evaluate_folders(gt_dir, pred, progress=False).summary()
            rows[key] = {"variant": label, **{f"mAP {k}": v for k, v in s["mAP"].items()},
                         "MOTA": s["MOTA"]["Total"], "ID switches": s["counts"]["num_switches"], "fps": run.fps}
            print(f"({key}) {label}: mAP {s['mAP']['Total']:.1f}  MOTA {s['MOTA']['Total']:.1f}  "
                  f"IDsw {s['counts']['num_switches']}  {run.fps:.1f} fps", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    groups = ["Head", "Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle", "Total"]
    print()
    print("| variant | " + " | ".join(f"mAP {g}" for g in groups) + " | MOTA | ID sw. | fps |")
    print("|---|" + "---:|" * (len(groups) + 3))
    for key, r in rows.items():
        cells = [f"{r[f'mAP {g}']:.1f}" for g in groups] + [f"{r['MOTA']:.1f}", str(r["ID switches"]), f"{r['fps']:.1f}"]
        print(f"| ({key}) {r['variant']} | " + " | ".join(cells) + " |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    print("RESULT " + " ".join(f"{k}_mAP={r['mAP Total']:.1f} {k}_MOTA={r['MOTA']:.1f} {k}_idsw={r['ID switches']}"
                               for k, r in rows.items()))


if __name__ == "__main__":
    main()
